"""Models by name: the bundled ones in resources/models, or a checkpoint file the user names."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import CheckpointError, SettingsError
from ..resources import resource_dir

# The score-function names (kept here too so that listing models never imports torch).
SCORES = ("content", "additive", "location", "general", "dot", "scaled_dot")


def models_dir() -> Path:
    return resource_dir() / "models"


def bundled(kind: str | None = None) -> dict[str, Path]:
    """Bundled model names -> files, e.g. 'caption-shapes'; only those of one kind (caption,
    translate, video) if a kind is given."""
    models = {p.stem: p for p in sorted(models_dir().glob("*.safetensors"))}
    return models if kind is None else {n: p for n, p in models.items() if kind_of(n) == kind}


def kind_of(name_or_path: str) -> str | None:
    """What a model does (caption, translate, video), from its file's header; None if unreadable."""
    from .checkpoint import read_metadata, sniff

    try:
        path = resolve(name_or_path)
        return read_metadata(path).get("kind", "caption") if sniff(path) == "safetensors" else None
    except (OSError, ValueError, CheckpointError):
        return None


def resolve(name_or_path: str) -> Path:
    """A bundled name or a path to a checkpoint file."""
    models = bundled()
    if name_or_path in models:
        return models[name_or_path]
    path = Path(name_or_path).expanduser()
    looks_like_path = path.suffix or "/" in name_or_path or path.exists()
    if not looks_like_path:
        names = ", ".join(models) or "none installed"
        raise CheckpointError(f"unknown model {name_or_path!r}; bundled models: {names}")
    return path


def family(name: str) -> str:
    """'caption-shapes-dot' -> 'caption-shapes': bundled variants differ by a score suffix."""
    for score in SCORES:
        name = name.removesuffix(f"-{score}")
    return name


def config_of(name_or_path: str) -> dict:
    """A model's config from its file's header, without loading it (or torch); {} if unreadable."""
    from .checkpoint import read_metadata, sniff

    try:
        path = resolve(name_or_path)
        if sniff(path) != "safetensors":
            return {}
        return json.loads(read_metadata(path).get("config", "{}"))
    except (OSError, ValueError, CheckpointError):
        return {}


def variants(name_or_path: str) -> dict[str, str]:
    """Score function -> bundled model name, for the bundled family of a model (no torch needed)."""
    models, base = bundled(kind_of(name_or_path)), family(name_or_path)
    out = {}
    for name in [base] + [f"{base}-{s}" for s in SCORES]:
        if name in models:
            out[config_of(name).get("score", "?")] = name
    return out


def comparison(name: str) -> str | None:
    """The bundled model to show beside this one when Compare first opens: its sibling trained
    with Show-Attend-Tell's lambda = 1 (the effect the bundled family is there to show), else one
    trained with another score function (for the lambda = 1 model: the main one); None if the
    model has no bundled sibling."""
    models, base = bundled(), family(name).removesuffix("-lambda1")
    candidates = [f"{base}-lambda1", base] + list(variants(base).values())
    return next((c for c in candidates if c in models and c != name), None)


def variant_with_score(name_or_path: str, score: str) -> str:
    """The bundled sibling of a model trained with another score function."""
    if score not in SCORES:
        raise SettingsError(f"unknown score function {score!r}; choose one of {', '.join(SCORES)}")
    available = variants(name_or_path)
    if score in available:
        return available[score]
    have = ", ".join(sorted(available)) or "none"
    raise CheckpointError(f"model {name_or_path!r} has no variant with {score} attention (available: {have})")


def pick_device(name: str = "auto"):
    """'auto' -> CUDA when present, else CPU; 'cuda' without a GPU is an error, not a fallback."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SettingsError("--device cuda was asked for, but no CUDA GPU is available; use --device cpu")
    if name not in ("cpu", "cuda"):
        raise SettingsError(f"unknown device {name!r}; choose auto, cpu or cuda")
    return torch.device(name)


USES = {"caption": "captions images", "translate": "translates sentences", "video": "captions videos"}
COMMANDS = {"caption": "attnviewer caption", "translate": "attnviewer translate", "video": "attnviewer video"}


def load(name_or_path: str, device: str = "auto", trust_pickle: bool = False, kind: str = "caption"):
    """The model, on the device; CheckpointError if it cannot load or does another job than `kind`."""
    from .checkpoint import load_checkpoint

    model = load_checkpoint(resolve(name_or_path), pick_device(device), trust_pickle)
    if model.kind != kind:
        raise CheckpointError(f"{name_or_path}: a model that {USES.get(model.kind, model.kind)}, but this needs one "
                              f"that {USES[kind]}; use it with {COMMANDS.get(model.kind, 'its own command')}")
    model.name = name_or_path
    return model
