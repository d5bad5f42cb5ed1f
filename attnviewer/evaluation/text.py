"""How well a translator's attention aligns words: alignment error rate (Och and Ney 2003) against
the generated pair's gold links (BLEU and chrF are in metrics.py).

The alignment read from attention links each target word to the source word its step attended
most (the step that emitted the word: its input was the previous word); the <end> step is not a
word and is left out. Possible links here are an agreement suffix's link to the noun it agrees
with (documented because counting them moves AER by about 0.01).

    AER = 1 - (|A & S| + |A & P|) / (|A| + |S|),  with the sure links S inside the possible P.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.pairs import Pair


def argmax_links(attention: np.ndarray) -> set[tuple[int, int]]:
    """(target, source) links of an attention matrix (T, S): each target word to its peak."""
    return {(j, int(i)) for j, i in enumerate(np.asarray(attention).argmax(axis=1))}


def diagonal_links(target_len: int, source_len: int) -> set[tuple[int, int]]:
    """The baseline that assumes no reordering: target word j to source word round(j S / T)."""
    return {(j, min(source_len - 1, round(j * source_len / target_len))) for j in range(target_len)}


def gold_links(pair: Pair) -> tuple[set, set]:
    sure = {(j, i) for j, links in enumerate(pair.sure) for i in links}
    possible = sure | {(j, i) for j, links in enumerate(pair.possible) for i in links}
    return sure, possible


@dataclass
class AlignmentTally:
    """Counts summed over a corpus (AER is a corpus-level ratio, not a mean of sentences)."""

    a: int = 0
    s: int = 0
    a_and_s: int = 0
    a_and_p: int = 0

    def add(self, links: set, pair: Pair) -> None:
        sure, possible = gold_links(pair)
        self.a += len(links)
        self.s += len(sure)
        self.a_and_s += len(links & sure)
        self.a_and_p += len(links & possible)

    @property
    def aer(self) -> float:
        return 1.0 - (self.a_and_s + self.a_and_p) / (self.a + self.s) if self.a + self.s else float("nan")


def alignment_error(pairs: list[Pair], attentions: list[np.ndarray]) -> tuple[float, float]:
    """(AER of the attention, AER of the diagonal baseline) over a corpus. attentions[k] is the
    (target words, source words) attention of pair k, forced along its reference translation."""
    model, diagonal = AlignmentTally(), AlignmentTally()
    for pair, att in zip(pairs, attentions):
        model.add(argmax_links(att[: len(pair.target), : len(pair.source)]), pair)
        diagonal.add(diagonal_links(len(pair.target), len(pair.source)), pair)
    return model.aer, diagonal.aer


def right_by_role(pairs: list[Pair], attentions: list[np.ndarray]) -> dict[str, float]:
    """For each kind of target word (determiner, noun, ..., verb): how often its attention peak
    is on one of its gold (sure or possible) links."""
    hits: dict[str, list[int]] = {}
    for pair, att in zip(pairs, attentions):
        _, possible = gold_links(pair)
        for link, role in zip(sorted(argmax_links(att[: len(pair.target), : len(pair.source)])), pair.roles):
            hits.setdefault(role, []).append(link in possible)
    return {role: float(np.mean(h)) for role, h in sorted(hits.items())}
