"""What the corpus tasks share about a read corpus: the training and validation items, the
training examples (one per reference sentence), and their word ids held compactly.

A task keeps its training examples' ids in flat int32 arrays with offsets (IdArrays, ReferenceIds):
4 bytes a word instead of a Python list of ints (an 8-byte pointer a word plus the list's own 56
bytes), so the ids of 4.5 M pairs of 25 words a side take about 1 GB.
"""
from __future__ import annotations

from array import array
from typing import Callable, Iterable, Sequence

import numpy as np

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


class IdArrays:
    """Id sequences (a sentence's word ids each) in one flat int32 array with offsets:
    `arrays[k]` is sequence k (a view), `lengths` every sequence's length."""

    def __init__(self, sequences: Iterable[Sequence[int]]):
        flat, ends = array("i"), array("q", [0])  # grown compactly: no list of ints, even while building
        for seq in sequences:
            flat.extend(seq)
            ends.append(len(flat))
        self.ids = np.frombuffer(flat, dtype=np.int32) if flat else np.zeros(0, np.int32)
        self.offsets = np.frombuffer(ends, dtype=np.int64)
        self.lengths = np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, k: int) -> np.ndarray:
        return self.ids[self.offsets[k] : self.offsets[k + 1]]

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    @property
    def nbytes(self) -> int:
        return self.ids.nbytes + self.offsets.nbytes + self.lengths.nbytes


class ReferenceIds:
    """The ids of every reference of every item: `refs[i]` item i's (a list of arrays), `refs[i, r]`
    its reference r; one IdArrays over all references in reference_examples' order."""

    def __init__(self, references: Iterable[Sequence[Sequence[int]]]):
        counts = array("q", [0])

        def each():
            for refs in references:
                counts.append(len(refs))
                yield from refs

        self.all = IdArrays(each())
        self.first = np.cumsum(np.frombuffer(counts, dtype=np.int64))  # item i's references: first[i] ...

    def __len__(self) -> int:
        return len(self.first) - 1

    def __getitem__(self, key: int | tuple[int, int]):
        if isinstance(key, tuple):
            i, r = key
            return self.all[self.first[i] + r]
        return [self.all[k] for k in range(self.first[key], self.first[key + 1])]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def lengths(self, examples: Sequence[tuple[int, int]]) -> np.ndarray:
        """The lengths of the (item, reference) examples' id sequences."""
        at = np.array([self.first[i] + r for i, r in examples], dtype=np.int64)
        return self.all.lengths[at]
