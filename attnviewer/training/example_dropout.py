"""Dropout masks that are a function of the example and the step, not of the process drawing them.

Under torchrun each rank trains a slice of the global batch. With torch's own dropout every rank
draws its masks from its own generator, so 2 ranks drop other units than 1 process does and the
models part ways (6e-3 after 12 steps at dropout 0.5). Here each example's mask is a counter-based
hash (splitmix64) of (seed, step, example index, which dropout layer, which call of it in the
forward pass, which unit): the same numbers whichever rank, how many ranks, or which device draws
them, and nothing to save for --resume. With the masks equal, 1, 2 or N processes give the same
model up to float rounding.

The loop swaps each nn.Dropout of the model for an ExampleDropout while it trains (use()) and sets
which examples a forward pass holds (examples()). Outside a training step (or when a batch lost
rows, e.g. an unreadable image dropped while fine-tuning) it is torch's dropout.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
from torch import Tensor, nn

_MASK = (1 << 64) - 1


def _signed(c: int) -> int:
    return c - (1 << 64) if c >= 1 << 63 else c


_GOLDEN, _M1, _M2 = (_signed(c) for c in (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB))


def mix(x: int) -> int:
    """splitmix64's finaliser on a Python int (64-bit unsigned)."""
    z = (x + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _shift(z: Tensor, k: int) -> Tensor:
    return (z >> k) & ((1 << (64 - k)) - 1)  # a logical shift of int64 bits


def mix_tensor(z: Tensor) -> Tensor:
    """mix() on every element of an int64 tensor (its bits as unsigned; products wrap)."""
    z = z + _GOLDEN
    z = (z ^ _shift(z, 30)) * _M1
    z = (z ^ _shift(z, 27)) * _M2
    return z ^ _shift(z, 31)


def uniforms(key: int, rows: Sequence[int], units: int, device=None) -> Tensor:
    """(len(rows), units) floats in [0, 1), a function of (key, row, unit) alone."""
    ids = torch.as_tensor([_signed(mix(key ^ int(r))) for r in rows], dtype=torch.int64, device=device)
    z = mix_tensor(ids[:, None] ^ torch.arange(units, dtype=torch.int64, device=device)[None, :])
    return _shift(z, 11).to(torch.float64) * 2.0**-53


class _Batch:
    def __init__(self, seed: int, step: int, rows: list[int]):
        self.key, self.rows, self.calls = mix(mix(seed & _MASK) ^ step), rows, {}

    def next_key(self, layer: int) -> int:
        call = self.calls.get(layer, 0)
        self.calls[layer] = call + 1
        return mix(self.key ^ ((layer << 32) | call))


_current: _Batch | None = None


@contextmanager
def examples(seed: int, step: int, rows: Sequence[int]) -> Iterator[None]:
    """The forward passes inside hold these examples (global indices), in this order, at this step."""
    global _current
    previous, _current = _current, _Batch(seed, step, [int(r) for r in rows])
    try:
        yield
    finally:
        _current = previous


class ExampleDropout(nn.Module):
    def __init__(self, p: float, layer: int):
        super().__init__()
        self.p, self.layer = p, layer

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        batch = _current
        if batch is None or x.dim() == 0 or x.shape[0] != len(batch.rows):
            return nn.functional.dropout(x, self.p, True)
        draw = uniforms(batch.next_key(self.layer), batch.rows, x[0].numel(), x.device)
        keep = (draw >= self.p).view(x.shape)
        return x * keep.to(x.dtype) / (1 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}, per example"


@contextmanager
def use(model: nn.Module) -> Iterator[int]:
    """Each nn.Dropout of the model an ExampleDropout while inside; put back after. Yields how many."""
    swapped = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                setattr(parent, name, ExampleDropout(child.p, len(swapped)))
                swapped.append((parent, name, child))
    try:
        yield len(swapped)
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)
