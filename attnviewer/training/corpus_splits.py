"""What the corpus tasks share about a read corpus: the training and validation items, the
training examples (one per reference sentence), and a batch of their word ids padded."""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ..errors import DataError

HELD_OUT_EVERY = 20  # without a validation split, every 20th training item is held out


def train_and_val(corpus, data: str, log: Callable[[str], None] = print) -> tuple[list, list]:
    """The corpus's train and val items. Without a val split (one TSV file, a CSV without splits)
    every 20th training item is held out for validation, so the training never scores on what it
    learnt from. DataError when nothing is left to train on."""
    train = list(corpus.splits.get("train", []))
    val = list(corpus.splits.get("val", []))
    if not train:
        raise DataError(f"{data}: no training items (splits present: {', '.join(corpus.splits) or 'none'})")
    if not val and len(train) > 1:
        val = train[HELD_OUT_EVERY - 1 :: HELD_OUT_EVERY] or train[-1:]
        held = {id(item) for item in val}
        train = [item for item in train if id(item) not in held]
        log(f"{data}: no validation split; {len(val)} of the training items held out for validation")
    if not val:  # a single item: no score to stop on or choose the best model by
        raise DataError(f"{data}: nothing to validate on; give a val split or at least 2 training items")
    return train, val


def reference_examples(items: list) -> list[tuple[int, int]]:
    """(item, reference) index pairs: every reference sentence is one training example."""
    return [(i, r) for i, item in enumerate(items) for r in range(len(item.references))]


def padded(ids: Sequence[Sequence[int]], pad_id: int) -> torch.Tensor:
    """(B, L) long tensor of the id sequences, each padded at its end with pad_id."""
    out = torch.full((len(ids), max(map(len, ids))), pad_id, dtype=torch.long)
    for k, seq in enumerate(ids):
        out[k, : len(seq)] = torch.tensor(seq)
    return out
