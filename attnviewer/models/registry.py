"""Loading models by name: a bundled name or a checkpoint path (see catalog.py), onto a device."""
from __future__ import annotations

from ..catalog import resolve
from ..errors import CheckpointError, SettingsError


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
    from ..model_folders import is_model_folder
    from .checkpoint import load_checkpoint

    path = resolve(name_or_path)
    if is_model_folder(path):  # a transformers folder (save_pretrained)
        from .hf.loading import load_folder

        model = load_folder(path, pick_device(device))
        model.domain = folder_domain(path)
    else:
        model = load_checkpoint(path, pick_device(device), trust_pickle)
    if model.kind != kind:
        raise CheckpointError(f"{name_or_path}: a model that {USES.get(model.kind, model.kind)}, but this needs one "
                              f"that {USES[kind]}; use it with {COMMANDS.get(model.kind, 'its own command')}")
    model.name = name_or_path
    return model


DOMAIN_FILE = "domain.json"  # a transformers folder's domain record (see domain.py): a file of ours


def folder_domain(folder) -> dict | None:
    """The domain record beside a folder's config, if it has one that reads as a JSON object of a sane
    size; anything else (absent, a link or FIFO, too large, not JSON) means no out-of-domain note."""
    import json
    from pathlib import Path

    from ..files import open_regular
    from .header import DOMAIN_MAX_CHARS

    path = Path(folder) / DOMAIN_FILE
    try:  # no link followed, no FIFO waited on (open_regular checks the open file)
        if path.is_symlink():
            return None
        with open_regular(path) as f:
            text = f.read(DOMAIN_MAX_CHARS + 1)
        if len(text) > DOMAIN_MAX_CHARS:
            return None
        rec = json.loads(text.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return rec if isinstance(rec, dict) else None
