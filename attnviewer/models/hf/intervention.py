"""Attention intervention for the transformers users bring (issue 22): at one decoding step every
cross-attention layer and head attends where it is told, and the step's output is computed from
that attention, as whatif/intervention.py does for our LSTMs' one attention.

The places map (an image's patch grid, a sentence's words) is spread over the encoder's tokens
(a place's weight shared equally by its tokens; special tokens get none). transformers computes
eager attention in one function per model family (its modeling module's `eager_attention_forward`,
looked up when each layer runs): for the step told, that function's weights are replaced and its
output recomputed from them and the layer's values. A family without that function (T5's own
attention), or a video whose tokens are tubelets, is refused in one line.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager

import numpy as np
import torch

from ...errors import SettingsError

CROSS_NAMES = ("encoder_attn", "crossattention", "EncDecAttention")


def _cross_modules(hf) -> list:
    return [m for name, m in hf.named_modules() if name.rsplit(".", 1)[-1] in CROSS_NAMES]


def _token_weights(places, weights: np.ndarray, n_tokens: int) -> torch.Tensor:
    """A map over places as weights over the encoder's tokens."""
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.size != places.n_places:
        raise SettingsError(f"attention intervention: give {places.n_places} weights (one per place), got {w.size}")
    where = np.asarray(places.token_place)
    if len(where) != n_tokens:
        raise SettingsError("attention intervention: this model's tokens are not one place each (a video's "
                            "tubelets); it works for image and sentence transformers")
    out = np.zeros(n_tokens)
    for p in range(w.size):
        mine = where == p
        if mine.any():
            out[mine] = w[p] / mine.sum()
    if out.sum() <= 0:
        raise SettingsError("attention intervention: all the weight is on places no token shows")
    return torch.from_numpy(out / out.sum()).float()


@contextmanager
def swapped(stepper, step: int, weights):
    """While open, the `step`-th call (from 0) of stepper.step attends with `weights` (the places'
    shape, or flat) in every cross-attention layer and head."""
    cross = _cross_modules(stepper.hf)
    families = {sys.modules[type(m).__module__] for m in cross}
    if not cross or not all(hasattr(f, "eager_attention_forward") for f in families):
        raise SettingsError(f"{stepper.name}: attention intervention needs transformers' eager attention function "
                            "for this model family; it has none here")
    ids = {id(m) for m in cross}
    calls, active = [0], [False]
    spread: dict[int, torch.Tensor] = {}  # n tokens -> the weights over them, made once for every layer
    own_step = stepper.step

    def step_told(*args, **kwargs):
        active[0] = calls[0] == step
        calls[0] += 1
        try:
            return own_step(*args, **kwargs)
        finally:
            active[0] = False

    def told(original):
        def attend(module, query, key, value, attention_mask, *args, **kwargs):
            out, w = original(module, query, key, value, attention_mask, *args, **kwargs)
            if not active[0] or id(module) not in ids:
                return out, w
            n = value.shape[-2]
            if n not in spread:
                spread[n] = _token_weights(stepper.input_places[0], weights, n)
            tokens = spread[n].to(value)
            new_w = tokens.expand(*w.shape[:-1], -1).contiguous()
            new_out = torch.matmul(new_w, value).transpose(1, 2).contiguous()
            if new_out.shape != out.shape:
                raise SettingsError(f"{stepper.name}: this model family's attention cannot be swapped")
            return new_out, new_w
        return attend

    originals = {f: f.eager_attention_forward for f in families}
    try:
        for f, original in originals.items():
            f.eager_attention_forward = told(original)
        stepper.step = step_told
        yield
    finally:
        for f, original in originals.items():
            f.eager_attention_forward = original
        del stepper.step  # the class's method again
