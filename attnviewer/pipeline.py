"""The one decode path for every kind, used by the CLI, folder captioning and the engine.

    media = kind.read(source, config)        # what the user sees, checked before the model loads
    model = load_model(kind, name, device)   # refuses a model made for another kind
    result = yield from run(kind, model, media, settings)   # one Step per word, then the Result

`run` streams one input word by word (the window, the engine); `run_all` decodes a batch of inputs
at once without streaming (the CLI, folders). Both build their Results through the kind.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Generator

import numpy as np

from .domain import note
from .kinds import Kind
from .lens import DEFAULT as DEFAULT_LENS, Lens
from .settings import DecodeSettings
from .types import Result, Step


def model_config(model_name: str) -> dict:
    """A model's config from its file's header, validated against its kind's schema (no torch):
    CheckpointError with one line for a damaged or hostile header; {} for a pickle (no header)."""
    from .catalog import resolve, sniff
    from .model_folders import folder_config, is_model_folder
    from .models.header import validate_header

    path = resolve(model_name)
    if is_model_folder(path):
        return folder_config(path)
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


def _result(kind: Kind, model, media, settings: DecodeSettings, hyps: list, seconds: float, remark,
            places=None, lens: Lens = DEFAULT_LENS) -> Result:
    """The kind's Result of one input, with the settings it was decoded with and the domain note
    (a transformer's: how its tokens map to places, and the lens its maps were drawn with)."""
    record = dict(settings.to_dict(), device=str(next(model.parameters()).device))
    result = kind.result(media, model.name, record, hyps, seconds)
    result.note = remark
    if places is not None:
        result.places, result.lens = places, lens.to_dict()
    return result


def _places(model) -> list:
    """A transformer's Places of each input of its last init_state (others have none)."""
    return list(getattr(model, "input_places", None) or [])


def _lensed(decoding, model, places: list, lens: Lens):
    """A transformer's decoding with each step's [layers, heads, tokens] turned into the kind's map
    through the lens (the raw attention kept beside it: a new lens needs no new decoding), and its
    hypotheses' text as its tokenizer joins the pieces (model.joined: ids -> text), and which of
    their pieces start a word (model.word_starts: per vocabulary id; see target_words.py)."""
    if not places:
        return (yield from decoding)
    joined, starts = model.joined, model.word_starts
    try:
        while True:
            try:
                step = next(decoding)
            except StopIteration as stop:
                hyps = [[lensed_hypothesis(h, places[i], lens) for h in item] for i, item in enumerate(stop.value)]
                for h in (h for item in hyps for h in item):
                    h.joined = joined(h.token_ids)
                    h.starts = [bool(starts[t]) if 0 <= t < len(starts) else True for t in h.token_ids]
                return hyps
            heads = step.attention
            attention, sink = places[step.item].maps(heads, lens)
            step.heads, step.attention, step.sink = heads, attention, float(sink)
            yield step
    finally:
        decoding.close()


def lensed_hypothesis(hyp, places, lens: Lens):
    """A hypothesis' attention drawn through a lens from its raw heads (kept as they were)."""
    raw = hyp.heads if hyp.heads is not None else hyp.attention
    if len(raw) == 0:
        hyp.heads, hyp.attention, hyp.sinks = raw, np.zeros((0, *places.shape), dtype=np.float32), []
        return hyp
    hyp.heads = raw
    hyp.attention, sinks = places.maps(raw, lens)
    hyp.sinks = [float(x) for x in sinks]
    return hyp


@dataclass
class Encoded:
    """The encoder's work on one input: the decoder's first state, the places a transformer's
    tokens map to, the domain note. `reusable`: decoding leaves the state as it was (plain tensors,
    and a transformer's key/value cache not started yet: decoding makes its own and grows that in
    place), so a what-if edit can start from it again."""

    state: dict
    places: list
    remark: str | None
    attributes: dict = field(default_factory=dict)  # the model's own per-input values (its input_attributes)

    @property
    def reusable(self) -> bool:
        import torch

        return all(isinstance(v, torch.Tensor) or getattr(v, "unstarted", False) for v in self.state.values())


def encode(kind: Kind, model, media) -> Encoded:
    """Run the encoder on one input (as the model reads it)."""
    import torch

    media = kind.fit(media, model)
    with torch.inference_mode():
        state = model.init_state(kind.inputs(model, [media], next(model.parameters()).device))
        attributes = {name: getattr(model, name) for name in getattr(model, "input_attributes", ())}
        return Encoded(state, _places(model), note(kind, model, media, state), attributes)


def run(kind: Kind, model, media, settings: DecodeSettings, lens: Lens = DEFAULT_LENS, constrain=None,
        tree=None, encoded: Encoded | None = None) -> Generator[Step, None, Result]:
    """Decode one input, yielding each word as it is chosen; returns the Result. Close the
    generator to cancel between words. `lens`: how a transformer's layers and heads make a map.
    `constrain`, `tree`: forced words and the beam tree's recorder (whatif/; see decoding.search.decode).
    `encoded`: the input's encoding made before (encode(); a what-if edit skips the encoder)."""
    import torch

    from .decoding.search import decode

    media = kind.fit(media, model)
    t0 = time.perf_counter()
    with torch.inference_mode():
        if encoded is None:
            encoded = encode(kind, model, media)
        else:  # what encoding this input set on the model, again: another input may have been encoded since
            for name, value in encoded.attributes.items():
                setattr(model, name, value)
        state, places, remark = encoded.state, encoded.places, encoded.remark
        decoding = decode(model, state, settings, stream=True, constrain=constrain, tree=tree)
        hyps = (yield from _lensed(decoding, model, places, lens))[0]
    return _result(kind, model, media, settings, hyps, time.perf_counter() - t0, remark,
                   places[0] if places else None, lens)


def run_all(kind: Kind, model, medias: list, settings: DecodeSettings, batch: int = 16,
            lens: Lens = DEFAULT_LENS, constrain=None, tree=None) -> list[Result]:
    """Decode many inputs in batches (no streaming); one Result each, in order. `constrain`,
    `tree`: as run's (a constraint holds for every input of the batch; the tree numbers them)."""
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
            places = _places(model)
            if tree is not None:
                tree.first_item = start
            decoding = decode(model, state, settings, stream=False, constrain=constrain, tree=tree)
            all_hyps = finish(_lensed(decoding, model, places, lens))
        seconds = (time.perf_counter() - t0) / len(part)
        results += [_result(kind, model, m, settings, hyps, seconds, remark, places[i] if places else None, lens)
                    for i, (m, hyps, remark) in enumerate(zip(part, all_hyps, remarks))]
    return results


def _item(state: dict, i: int) -> dict:
    """Input i of a batched decoder state, as a batch of one."""
    return {k: v[i:i + 1] if hasattr(v, "shape") and v.dim() > 0 else v for k, v in state.items()}
