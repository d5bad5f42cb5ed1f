"""A transformer's generated pieces grouped into the words a user reads.

A subword model writes "hous" "##es" (WordPiece), "▁hous" "es" (SentencePiece) or "Ġhous" "es"
(byte-BPE) — one step, one map per piece. Where a user reads words (the printed line, the alignment
matrix's rows) the pieces of a word become one row: its map the mean of the pieces' maps
(renormalised), its heads the mean of theirs, its probability the product of theirs (the chance of
writing the whole word), its alternatives those of its first piece (the choice that began it).

Plain numpy over the records of types.py: no torch, no Qt, so the window may use it too. Which piece
starts a word comes from the model (Hypothesis.starts, set from the stepper's `word_starts`); a
hypothesis without it is already in words and comes back as it is.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .types import Hypothesis, Result

WORD_MARKS = ("▁", "Ġ")  # SentencePiece's and byte-BPE's word-start marks (readable_vocab drops them)
CONTINUES = "##"  # WordPiece's continuation mark (readable_vocab keeps it)


def groups(starts: list[bool]) -> list[list[int]]:
    """The pieces' indices grouped into words: a word begins at a piece that starts one (and at the
    first piece, whatever it says)."""
    out: list[list[int]] = []
    for i, start in enumerate(starts):
        if start or not out:
            out.append([i])
        else:
            out[-1].append(i)
    return out


def spell(pieces: list[str]) -> str:
    """A word from its pieces: WordPiece's ## dropped from continuations, a bare start mark dropped."""
    parts = [p[len(CONTINUES):] if i and p.startswith(CONTINUES) and len(p) > len(CONTINUES) else p
             for i, p in enumerate(pieces)]
    if len(parts) > 1 and parts[0] in WORD_MARKS:  # SentencePiece's lone "▁" before a piece it has no ▁ form of
        parts = parts[1:]
    return "".join(parts)


def _mean_map(maps: np.ndarray) -> np.ndarray:
    """The mean of the pieces' maps, renormalised to sum to 1 (a map of zeros stays zeros)."""
    mean = maps.astype(np.float32).mean(axis=0)
    total = float(mean.sum())
    return mean / total if total > 0 else mean


def has_pieces(hyp: Hypothesis) -> bool:
    """Whether some word of `hyp` is written in more than one piece."""
    starts = hyp.starts
    return starts is not None and len(starts) == len(hyp.tokens) and not all(starts[1:])


def word_hypothesis(hyp: Hypothesis) -> Hypothesis:
    """`hyp` with one entry per word instead of per piece (see the module's docstring). Its token_ids
    are each word's first piece's; its score, log probability and joined text are the pieces'. A
    hypothesis without start flags (models that write whole words), or whose every piece starts a
    word, comes back unchanged."""
    if not has_pieces(hyp):
        return hyp
    words = groups(list(hyp.starts))
    first = [g[0] for g in words]
    attention = np.asarray(hyp.attention)
    heads = None
    if hyp.heads is not None and len(hyp.heads) == len(hyp.tokens):
        heads = np.stack([np.asarray(hyp.heads[g], dtype=np.float32).mean(axis=0) for g in words])
    return replace(
        hyp,
        tokens=[spell([hyp.tokens[i] for i in g]) for g in words],
        token_ids=[hyp.token_ids[i] for i in first],
        probs=[float(np.prod([hyp.probs[i] for i in g])) for g in words],
        alternatives=[hyp.alternatives[i] for i in first],
        entropies=[hyp.entropies[i] for i in first] if hyp.entropies else hyp.entropies,  # the first piece's, as its alternatives
        attention=np.stack([_mean_map(attention[g]) for g in words]) if len(words) else attention,
        locations=[hyp.locations[i] for i in first] if hyp.locations else hyp.locations,
        heads=heads if heads is not None else hyp.heads,
        sinks=[float(np.mean([hyp.sinks[i] for i in g])) for g in words] if hyp.sinks else hyp.sinks,
        starts=[True] * len(words),
        written=len(hyp.tokens),
    )


def word_result(result: Result) -> Result:
    """`result` with every hypothesis in words, for display: it keeps the pieces' result as
    `written`, which is what a saved file holds (export/data.py)."""
    hyps = [word_hypothesis(h) for h in result.hypotheses]
    if all(a is b for a, b in zip(hyps, result.hypotheses)):
        return result
    return replace(result, hypotheses=hyps, written=result.written if result.written is not None else result)


def word_of(starts: list[bool] | None, piece: int) -> int:
    """The word piece `piece` belongs to (the index itself where there are no pieces to merge)."""
    if not starts or not 0 <= piece < len(starts):
        return piece
    return sum(1 for i in range(1, piece + 1) if starts[i])  # the words begun after the first, up to it


def first_piece(starts: list[bool] | None, word: int) -> int:
    """The piece word `word` begins at (the index itself where there are no pieces to merge)."""
    if not starts or word < 0:
        return word
    words = groups(list(starts))
    return words[min(word, len(words) - 1)][0]
