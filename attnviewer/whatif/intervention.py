"""Attention intervention: at step t the model attends where it is told instead of where it would,
and decodes on from there ("is the attended region what the word depends on?").

The words before step t are the model's own (forced, as in forcing.py), so the state at step t is
the one it had; at step t the attention weights are replaced by the given map (the context is
recomputed from them), and from step t on the model chooses freely with the chosen settings.
Works for the models whose attention is a separate piece that can be swapped: the LSTM image and
video captioners (their Attention module) and the LSTM translator (its alignment function); and
transformers (models/hf/intervention.py: every cross-attention layer and head of the step, the map
over places spread over the encoder's tokens).
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

from .. import pipeline
from ..errors import SettingsError
from ..lens import DEFAULT as DEFAULT_LENS
from ..settings import DecodeSettings
from ..types import Result, intervened_at
from .forcing import Forced, _longer


def one_place(model, place: int) -> np.ndarray:
    """A map with all the weight on one place (a flat index into the model's attention shape)."""
    n = _places(model)
    if not 0 <= place < n:
        raise SettingsError(f"place {place + 1} is outside the model's {n} places")
    w = np.zeros(n, dtype=np.float32)
    w[place] = 1.0
    return w


@contextmanager
def swapped(model, step: int, weights: torch.Tensor):
    """While open, the model's `step`-th attention of a decoding (counted from 0) is `weights`."""
    if hasattr(model, "swap_attention"):  # a transformer: its own way (models/hf/intervention.py)
        with model.swap_attention(step, weights.reshape(-1).numpy()):
            yield
        return
    calls = [0]

    def now() -> bool:
        calls[0] += 1
        return calls[0] - 1 == step

    if hasattr(model, "_align"):  # the translator: weights from its alignment function
        own = model._align

        def align(h, state):
            w = own(h, state)
            if not now():
                return w
            return (weights.to(w) * state["mask"].repeat_interleave(len(w) // len(state["mask"]), 0)).expand_as(w)

        model._align = align
        try:
            yield
        finally:
            del model._align  # the class's method again
        return
    from ..models.attention import AttentionOutput

    def hook(module, args, kwargs, out):
        if not now():
            return out
        if out.sample is not None:
            raise SettingsError("attention intervention: this model samples hard attention; decode without sampling")
        values, owner = args[2], kwargs.get("owner")
        w = weights.to(out.weights).expand_as(out.weights).contiguous()
        rows, inputs = w.shape[0], values.shape[0]
        context = ((w.view(inputs, -1, w.shape[1]) @ values).reshape(rows, -1) if owner is None
                   else (w[:, None, :] @ values.index_select(0, owner)).squeeze(1))
        return AttentionOutput(w, context)

    handle = model.attention.register_forward_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


def parse_place(model, spec: str) -> tuple[int, np.ndarray]:
    """'3=2,5' -> (step 2 from 0, all weight on row 2, column 5 of an image's grid); '3=4': frame
    or source word 4. Numbers from 1, one per dimension of the model's attention shape."""
    refuse_unless_swappable(model)
    step, sep, place = spec.partition("=")
    shape = place_shape(model)
    try:
        at = tuple(int(x) - 1 for x in place.split(","))
        n = int(step) - 1
    except ValueError:
        at, n = (), -1
    if not sep or n < 0 or len(at) != len(shape) or any(not 0 <= i < d for i, d in zip(at, shape)):
        what = "ROW,COL of its " + "x".join(map(str, shape)) + " grid" if len(shape) == 2 else f"1 to {shape[0]}"
        raise SettingsError(f"--attend {spec!r}: give STEP=PLACE, STEP from 1 and PLACE {what}")
    return n, one_place(model, int(np.ravel_multi_index(at, shape)))


def place_shape(model) -> tuple[int, ...]:
    """The shape of a map of the model (a transformer's: its places, as its last input set them)."""
    places = getattr(model, "input_places", None)
    if hasattr(model, "swap_attention") and places:
        return tuple(int(n) for n in places[0].shape)
    return tuple(int(n) for n in model.attention_shape)


def _places(model) -> int:
    return int(np.prod(place_shape(model)))


def refuse_unless_swappable(model) -> None:
    """SettingsError of one line for a model whose attention cannot be swapped."""
    from ..models.attention import Attention

    if not (hasattr(model, "_align") or hasattr(model, "swap_attention")
            or isinstance(getattr(model, "attention", None), Attention)):
        raise SettingsError(f"{model.name}: attention intervention works for the LSTM captioners and translator "
                            "and for transformers (their attention can be swapped); not for this model")


def planned(model, settings: DecodeSettings, step: int, weights, prefix: list[int]):
    """(constraint, settings, weights as a tensor) of an intervention at `step` (from 0): the
    model's own words before it, the given map (normalised) there. Run inside swapped()."""
    refuse_unless_swappable(model)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    n = _places(model)
    if w.size != n or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise SettingsError(f"attention intervention: give {n} weights, none negative, not all 0")
    if len(prefix) < step:
        raise SettingsError(f"step {step + 1} cannot be changed: the model's output has only {len(prefix)} words")
    return Forced(dict(enumerate(prefix[:step]))), _longer(settings, model, step + 1), \
        torch.from_numpy(w / w.sum()).float()[None]


def intervene(kind, model, media, settings: DecodeSettings, step: int, weights, prefix: list[int] | None = None,
              lens=DEFAULT_LENS) -> Result:
    """Decode `media` with the attention of `step` (from 0) replaced by `weights` (the model's
    attention shape, or flat; normalised here), after the model's own words before it (`prefix`,
    default its best output with these settings)."""
    refuse_unless_swappable(model)
    if prefix is None:
        prefix = pipeline.run_all(kind, model, [media], settings, lens=lens)[0].best.token_ids
    constraint, s, w = planned(model, settings, step, weights, prefix)
    with swapped(model, step, w):
        result = pipeline.run_all(kind, model, [media], s, lens=lens, constrain=constraint)[0]
    result.settings["intervened"] = intervened_at(step)
    return result
