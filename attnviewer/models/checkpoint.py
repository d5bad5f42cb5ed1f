"""Model files: one safetensors file holding the weights, with config, vocab, training record and
domain record (what its training data looks like to it, see domain.py) as JSON in its metadata.
Pickle files (.pt/.pth) can run code when loaded, so they are refused unless the user says the
file is trusted.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import CheckpointError, first_line
from ..catalog import read_metadata, sniff  # noqa: F401  (header reading needs no torch)
from ..files import atomic_path

FORMAT = "attnviewer-1"


def save_checkpoint(model, path: str | Path, training: dict | None = None, domain: dict | None = None) -> None:
    """Write atomically: a temporary file in the same folder, renamed into place."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {
        "format": FORMAT,
        "kind": model.kind,
        "config": json.dumps(model.config.to_dict()),
        "vocab": json.dumps(getattr(model, "vocab_record", model.vocab)),  # a translator has two
        "training": json.dumps(training or {}),
    }
    if domain is not None:
        meta["domain"] = json.dumps(domain)
    with atomic_path(path) as tmp:
        save_file(state, tmp, metadata=meta)


def load_checkpoint(path: str | Path, device="cpu", trust_pickle: bool = False):
    """Build the model a checkpoint describes and load its weights, or raise CheckpointError."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a model file")
    if not path.exists():
        raise CheckpointError(f"{path}: no such model file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: model file is empty")
    kind = sniff(path)
    if kind == "pickle":
        if not trust_pickle:
            raise CheckpointError(
                f"{path}: is a pickle checkpoint, which can run code when loaded; refused. "
                "Convert it to safetensors, or pass --trust-pickle if you trust its source"
            )
        return _from_pickle(path, device)
    if kind != "safetensors":
        raise CheckpointError(f"{path}: not a safetensors model file")
    try:
        from safetensors.torch import load_file

        meta = read_metadata(path)
        state = load_file(str(path))
    except Exception as e:  # a truncated or corrupt file
        raise CheckpointError(f"{path}: cannot read model file ({first_line(e)})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an attnviewer model (no '{FORMAT}' metadata)")
    try:
        config, vocab = json.loads(meta["config"]), json.loads(meta["vocab"])
    except (KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: damaged config or vocab in the metadata ({e})") from None
    model = build_model(path, meta.get("kind", "caption"), config, vocab, state)
    model.training_record = json.loads(meta.get("training", "{}"))
    model.domain = _domain_record(meta.get("domain"))
    return model.to(device).eval()


def _domain_record(text: str | None) -> dict | None:
    """The parsed "domain" metadata; None when absent or unreadable (the model then gets no notes)."""
    try:
        record = json.loads(text) if text else None
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


# kind -> (module, model class, config class); imported only when a file of that kind loads
KINDS = {
    "caption": ("captioner", "Captioner", "CaptionerConfig"),
    "translate": ("translator", "Translator", "TranslatorConfig"),
    "video": ("video_captioner", "VideoCaptioner", "VideoConfig"),
}


def build_model(path: Path, kind: str, config: dict, vocab: list[str], state: dict):
    import importlib

    if kind not in KINDS:
        raise CheckpointError(f"{path}: unknown model kind {kind!r}")
    module, model_name, config_name = KINDS[kind]
    module = importlib.import_module(f"{__package__}.{module}")
    model_cls, config_cls = getattr(module, model_name), getattr(module, config_name)
    try:
        model = model_cls(config_cls.from_dict(config), vocab)
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"{path}: bad config ({e})") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise CheckpointError(f"{path}: weights do not match its config ({what})")
    for name, tensor in expected.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{path}: weights do not match its config: {name} is {list(state[name].shape)}, "
                f"the config needs {list(tensor.shape)}"
            )
    model.load_state_dict(state)
    return model


def _from_pickle(path: Path, device):
    """A trusted pickle holding {'kind', 'config', 'vocab', 'state_dict'}."""
    import torch

    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read pickle checkpoint ({first_line(e)})") from None
    if not isinstance(blob, dict) or not {"config", "vocab", "state_dict"} <= set(blob):
        raise CheckpointError(f"{path}: pickle checkpoint lacks config, vocab or state_dict")
    model = build_model(path, blob.get("kind", "caption"), blob["config"], blob["vocab"], blob["state_dict"])
    model.training_record = blob.get("training", {})
    model.domain = blob.get("domain") if isinstance(blob.get("domain"), dict) else None
    return model.to(device).eval()
