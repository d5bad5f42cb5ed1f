"""Counterfactual masking: blank out the places a word attended most and ask the model again.

For word t of a result, the fewest places holding half the word's attention (an image's cells, a
video's frames; a sentence's one top source word) are blanked out (mean colour or blur; the
unknown token or dropped) and the model reads the masked input with the same words before t
forced: does it still write the word at t, and what does it write instead? Works for every model
with the decoding interface (init_state, step), ours and transformers alike.

    outcome = mask_top(kind, model, media, result, step)   # plain data: the engine can call it
    print(outcome.line())
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import SettingsError
from .edits import check_fill, edits


def top_places(weights: np.ndarray, mass: float) -> np.ndarray:
    """The fewest places (bool, the map's shape) whose weights sum to at least `mass` of the map's
    total; at least the top place (mass 0: the top place alone)."""
    w = np.nan_to_num(np.asarray(weights, dtype=np.float64)).ravel()
    order = np.argsort(-w, kind="stable")
    total = w.sum()
    if total > 0:
        count = int(np.searchsorted(np.cumsum(w[order]), mass * total - 1e-12) + 1)
    else:
        count = 1
    where = np.zeros(w.size, bool)
    where[order[:max(1, min(count, w.size))]] = True
    return where.reshape(np.shape(weights))


def random_places(shape: tuple, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` places drawn uniformly without replacement (a deletion test's baseline)."""
    size = int(np.prod(shape))
    where = np.zeros(size, bool)
    where[rng.choice(size, size=min(count, size), replace=False)] = True
    return where.reshape(shape)


def prefix_log_probs(model, state: dict, prefixes: list[list[int]]):
    """Log probabilities (B, V) of the word after each row's forced prefix (token ids, without the
    start token): row r reads <start> and prefixes[r] and is scored at step len(prefixes[r])."""
    import torch

    device = next(model.parameters()).device
    longest = max(len(p) for p in prefixes)
    table = torch.full((len(prefixes), longest + 1), model.end_id, dtype=torch.long, device=device)
    table[:, 0] = model.start_id
    for r, p in enumerate(prefixes):
        table[r, 1:len(p) + 1] = torch.tensor(p, dtype=torch.long)
    out = [None] * len(prefixes)
    for i in range(longest + 1):
        log_probs, _, state = model.step(state, table[:, i])
        for r, p in enumerate(prefixes):
            if len(p) == i:
                out[r] = log_probs[r]
    return torch.stack(out)


def step_of_word(hyp, word: int) -> int:
    """Word `word` (from 0) of a hypothesis as the step that wrote it: a subword model's words
    start at the pieces marked as starts (the first piece's step: target_words.py shows it too)."""
    starts = [i for i, s in enumerate(hyp.starts) if s] if hyp.starts else list(range(len(hyp.tokens)))
    if not 0 <= word < len(starts):
        raise SettingsError(f"--word {word + 1}: the output has {len(starts)} words")
    return starts[word]


@dataclass
class Masking:
    """What masking the top places of word `step` did (plain data)."""

    step: int
    word: str
    word_id: int
    before: float  # the word's probability with nothing masked (its prefix forced)
    after: float  # with the places masked
    top: list[tuple[str, float]]  # the masked model's most likely words at the step
    where: np.ndarray  # the places masked (bool, the map's shape)
    region: str  # "12% of the image", "2 of 12 frames: 1.00s, 1.50s", "source word 'cat'"
    fill: str
    original_top: list[tuple[str, float]] = field(default_factory=list)  # unmasked, for comparison

    @property
    def survives(self) -> bool:
        """The masked model still writes the word (its most likely word at the step)."""
        return bool(self.top) and self.top[0][0] == self.word

    def line(self, printable=str, number: int | None = None) -> str:
        """word 3 'blue': masked its top region (12% of the image) → 'red' 0.41 (was 'blue' 0.87): changed"""
        n = self.step + 1 if number is None else number
        best, p = self.top[0]
        then = ", ".join(f"{printable(w)!r} {q:.2f}" for w, q in self.top[1:3])
        return (f"word {n} {printable(self.word)!r}: masked its top region ({printable(self.region)}) "
                f"\N{RIGHTWARDS ARROW} {printable(best)!r} {p:.2f} (was {printable(self.word)!r} {self.before:.2f}): "
                + ("kept" if self.survives else f"changed; {printable(self.word)!r} now {self.after:.2f}")
                + (f"; then {then}" if then else ""))


def masked_rows(kind, model, media, hyp, rows: list[tuple[int, np.ndarray]], fill: str):
    """Log probabilities (len(rows), V) of word t of hyp for each (t, places to mask) row: the
    masked inputs read in one batch, each with its own prefix forced. A row masking nothing (an
    all-False array) reads the input as it is."""
    import torch

    e = edits(kind)
    medias = [e.mask(media, model, where, fill) if where.any() else media for _, where in rows]
    device = next(model.parameters()).device
    with torch.inference_mode():
        state = model.init_state(kind.inputs(model, medias, device))
        return prefix_log_probs(model, state, [list(hyp.token_ids[:t]) for t, _ in rows])


def mask_top(kind, model, media, result, step: int, hypothesis: int = 0, fill: str | None = None,
             mass: float | None = None, top: int = 5) -> Masking:
    """Mask word `step`'s (from 0) top-attended places of `media` (as the kind read it) and
    re-run `model` with the words before it forced. `mass`: the share of the word's attention the
    masked places hold (default: the kind's, half; a sentence: its one top word)."""
    fill = check_fill(kind, fill)
    if not 0 <= hypothesis < len(result.hypotheses):
        raise SettingsError(f"hypothesis {hypothesis + 1}: the result has {len(result.hypotheses)}")
    hyp = result.hypotheses[hypothesis]
    if not 0 <= step < len(hyp.tokens):
        raise SettingsError(f"word {step + 1}: the output has {len(hyp.tokens)} words")
    e = edits(kind)
    media = kind.fit(media, model)
    att = np.asarray(hyp.attention[step])
    where = top_places(att, e.mass if mass is None else mass)
    lp = masked_rows(kind, model, media, hyp, [(step, np.zeros_like(where)), (step, where)], fill).float().cpu()
    word_id = int(hyp.token_ids[step])

    def best(row):
        p, i = row.exp().topk(min(top, row.shape[0]))
        return [(model.vocab[int(j)], float(q)) for j, q in zip(i, p)]

    return Masking(step, hyp.tokens[step], word_id, float(lp[0, word_id].exp()), float(lp[1, word_id].exp()),
                   best(lp[1]), where, e.region(media, where), fill, best(lp[0]))
