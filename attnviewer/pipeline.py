"""The one decode path for every kind, used by the CLI, folder captioning and the engine.

    media = kind.read(source, config)        # what the user sees, checked before the model loads
    model = load_model(kind, name, device)   # refuses a model made for another kind
    result = yield from run(kind, model, media, settings)   # one Step per word, then the Result

`run` streams one input word by word (the window, the engine); `run_all` decodes a batch of inputs
at once without streaming (the CLI, folders). Both build their Results through the kind.
"""
from __future__ import annotations

import time
from typing import Generator

from .domain import note
from .kinds import Kind
from .settings import DecodeSettings
from .types import Result, Step


def model_config(model_name: str) -> dict:
    """A model's config from its file's header, validated against its kind's schema (no torch):
    CheckpointError with one line for a damaged or hostile header; {} for a pickle (no header)."""
    from .catalog import resolve, sniff
    from .models.header import validate_header

    path = resolve(model_name)
    try:
        if sniff(path) != "safetensors":
            return {}
    except OSError:
        return {}  # loading it says what is wrong
    return validate_header(path).config


def read(kind: Kind, source: str, model_name: str, **options):
    """The input, read and checked against the model's validated header (no model loaded)."""
    return kind.read(source, model_config(model_name), **options)


def load_model(kind: Kind, name: str, device: str = "auto", trust_pickle: bool = False):
    from .models import registry

    return registry.load(name, device, trust_pickle, kind=kind.name)


def _result(kind: Kind, model, media, settings: DecodeSettings, hyps: list, seconds: float, remark) -> Result:
    """The kind's Result of one input, with the settings it was decoded with and the domain note."""
    record = dict(settings.to_dict(), device=str(next(model.parameters()).device))
    result = kind.result(media, model.name, record, hyps, seconds)
    result.note = remark
    return result


def run(kind: Kind, model, media, settings: DecodeSettings) -> Generator[Step, None, Result]:
    """Decode one input, yielding each word as it is chosen; returns the Result. Close the
    generator to cancel between words."""
    import torch

    from .decoding.search import decode

    media = kind.fit(media, model)
    device = next(model.parameters()).device
    t0 = time.perf_counter()
    with torch.inference_mode():
        state = model.init_state(kind.inputs(model, [media], device))
        remark = note(kind, model, media, state)
        hyps = (yield from decode(model, state, settings, stream=True))[0]
    return _result(kind, model, media, settings, hyps, time.perf_counter() - t0, remark)


def run_all(kind: Kind, model, medias: list, settings: DecodeSettings, batch: int = 16) -> list[Result]:
    """Decode many inputs in batches (no streaming); one Result each, in order."""
    import torch

    from .decoding.search import decode, run as finish

    medias = [kind.fit(m, model) for m in medias]
    device = next(model.parameters()).device
    results = []
    for start in range(0, len(medias), batch):
        part = medias[start:start + batch]
        t0 = time.perf_counter()
        with torch.inference_mode():
            state = model.init_state(kind.inputs(model, part, device))
            remarks = [note(kind, model, m, _item(state, i)) for i, m in enumerate(part)]
            all_hyps = finish(decode(model, state, settings, stream=False))
        seconds = (time.perf_counter() - t0) / len(part)
        results += [_result(kind, model, m, settings, hyps, seconds, remark)
                    for m, hyps, remark in zip(part, all_hyps, remarks)]
    return results


def _item(state: dict, i: int) -> dict:
    """Input i of a batched decoder state, as a batch of one."""
    return {k: v[i:i + 1] if hasattr(v, "shape") and v.dim() > 0 else v for k, v in state.items()}
