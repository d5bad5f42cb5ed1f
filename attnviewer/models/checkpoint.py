"""Model files: one safetensors file holding the weights, with config, vocab, training record and
domain record (what its training data looks like to it, see domain.py) as JSON in its metadata.
Pickle files (.pt/.pth) can run code when loaded, so they are refused unless the user says the
file is trusted.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

from ..errors import CheckpointError, first_line
from ..catalog import read_metadata, sniff  # noqa: F401  (header reading needs no torch)
from ..files import atomic_path
from .header import FORMAT, WEIGHTS_MAX_BYTES, validate_header, validate_record


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
        try:
            save_file(state, tmp, metadata=meta)
        except OSError:
            raise
        except Exception as e:  # safetensors' own error type: its I/O failures as the OSError they are
            code = re.search(r"\(os error (\d+)\)", str(e))
            if code is None:
                raise
            raise OSError(int(code.group(1)), os.strerror(int(code.group(1)))) from None


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
    header = validate_header(path)  # the metadata and tensor table, against its kind's schema
    _check_plan(path, header.kind, header.config, header.vocab, header.tensors)  # before a weight is read
    try:
        from safetensors.torch import load_file

        state = load_file(str(path))
    except Exception as e:  # a truncated or corrupt file
        raise CheckpointError(f"{path}: cannot read model file ({first_line(e)})") from None
    model = _filled(path, header.kind, header.config, header.vocab, state)
    model.training_record = header.training
    model.domain = header.domain
    return model.to(device).eval()


def build_model(path: Path, kind: str, config: dict, vocab: list[str], state: dict):
    """The model a config describes with the weights `state` loaded, or CheckpointError (one line)."""
    _check_plan(path, kind, config, vocab, state)
    return _filled(path, kind, config, vocab, state)


def _check_plan(path: Path, kind: str, config: dict, vocab, tensors: dict) -> None:
    """Refuse the model a config describes (built on torch's meta device: shapes, no memory) if its
    weights would pass the size limit, or if `tensors` (anything with a .shape, by name) are not
    exactly its weights, each of the shape it needs."""
    planned = _construct(path, kind, config, vocab, meta=True).state_dict()
    need = sum(t.numel() * t.element_size() for t in planned.values())
    if need > WEIGHTS_MAX_BYTES:
        raise CheckpointError(f"{path}: its config implies {need / 1024**3:.1f} GB of weights, more than the "
                              f"limit of {WEIGHTS_MAX_BYTES / 1024**3:g} GB")
    missing = sorted(set(planned) - set(tensors))
    extra = sorted(set(tensors) - set(planned))
    if missing or extra:
        what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise CheckpointError(f"{path}: weights do not match its config ({what})")
    for name, tensor in planned.items():
        if list(tensors[name].shape) != list(tensor.shape):
            raise CheckpointError(
                f"{path}: weights do not match its config: {name} is {list(tensors[name].shape)}, "
                f"the config needs {list(tensor.shape)}"
            )


def _filled(path: Path, kind: str, config: dict, vocab, state: dict):
    """The model built for real, its weights loaded from `state` (_check_plan has matched them)."""
    _check_finite(path, state)
    model = _construct(path, kind, config, vocab)
    model.load_state_dict(state)
    return model


# kind -> (module, model class, config class); imported only when a file of that kind loads
KINDS = {
    "caption": ("captioner", "Captioner", "CaptionerConfig"),
    "translate": ("translator", "Translator", "TranslatorConfig"),
    "video": ("video_captioner", "VideoCaptioner", "VideoConfig"),
}


def _construct(path: Path, kind: str, config: dict, vocab, meta: bool = False):
    """The model of this kind and config, its weights not drawn: every one is loaded after (checked),
    or it is on the meta device, where there is nothing to fill."""
    import importlib

    import torch

    if kind not in KINDS:
        raise CheckpointError(f"{path}: unknown model kind {kind!r}")
    module, model_name, config_name = KINDS[kind]
    module = importlib.import_module(f"{__package__}.{module}")
    model_cls, config_cls = getattr(module, model_name), getattr(module, config_name)
    try:
        with torch.device("meta") if meta else contextlib.nullcontext(), _NoRandomInit():
            return model_cls(config_cls.from_dict(config), vocab)
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"{path}: bad config ({first_line(e)})") from None


def _NoRandomInit():
    """Skips random initialisation while a model is built: its weights are loaded after, or it is on
    the meta device, where torch's normal_ imports its compiler (2 s) the first time."""
    from torch.overrides import TorchFunctionMode

    class NoRandomInit(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if getattr(func, "__name__", None) in ("normal_", "uniform_", "trunc_normal_"):
                return args[0] if args else kwargs.get("tensor")
            return func(*args, **kwargs)

    return NoRandomInit()


def _check_finite(path: Path, state: dict) -> None:
    """Refuse NaN or infinite weights, naming the first such tensor."""
    import torch

    for name in sorted(state):
        t = state[name]
        # the sum is finite when every weight is (checked exactly only if not: ~20x faster)
        if t.is_floating_point() and not bool(torch.isfinite(t.sum())) and not bool(torch.isfinite(t).all()):
            bad = "NaN" if bool(torch.isnan(t).any()) else "infinite"
            raise CheckpointError(f"{path}: tensor {name} holds {bad} values; the weights are damaged")


def _from_pickle(path: Path, device):
    """A trusted pickle holding {'kind', 'config', 'vocab', 'state_dict'}."""
    import torch

    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read pickle checkpoint ({first_line(e)})") from None
    if not isinstance(blob, dict) or not {"config", "vocab", "state_dict"} <= set(blob):
        raise CheckpointError(f"{path}: pickle checkpoint lacks config, vocab or state_dict")
    state = blob["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise CheckpointError(f"{path}: pickle checkpoint's state_dict must map names to tensors")
    kind, config, vocab = validate_record(path, blob.get("kind", "caption"), blob["config"], blob["vocab"])
    model = build_model(path, kind, config, vocab, state)
    model.training_record = blob.get("training", {})
    model.domain = blob.get("domain") if isinstance(blob.get("domain"), dict) else None
    return model.to(device).eval()
