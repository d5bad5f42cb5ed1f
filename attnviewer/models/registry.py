"""Models by name: the bundled ones in resources/models, or a checkpoint file the user names."""
from __future__ import annotations

from pathlib import Path

from ..errors import CheckpointError, SettingsError
from ..resources import resource_dir


def models_dir() -> Path:
    return resource_dir() / "models"


def bundled() -> dict[str, Path]:
    """Bundled model names -> files, e.g. 'caption-shapes'."""
    return {p.stem: p for p in sorted(models_dir().glob("*.safetensors"))}


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


def variant_with_score(name_or_path: str, score: str) -> str:
    """The bundled sibling of a model trained with another score function ('<name>-<score>')."""
    from .attention import SCORES

    if score not in SCORES:
        raise SettingsError(f"unknown score function {score!r}; choose one of {', '.join(SCORES)}")
    models = bundled()
    family = name_or_path
    for s in SCORES:
        family = family.removesuffix(f"-{s}")
    candidates = [family] + [f"{family}-{s}" for s in SCORES]
    from .checkpoint import read_metadata
    import json

    available = {}
    for name in candidates:
        if name in models:
            available[json.loads(read_metadata(models[name])["config"])["score"]] = name
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


def load(name_or_path: str, device: str = "auto", trust_pickle: bool = False):
    from .checkpoint import load_checkpoint

    model = load_checkpoint(resolve(name_or_path), pick_device(device), trust_pickle)
    model.name = name_or_path
    return model
