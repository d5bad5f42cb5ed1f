"""The window's lens, as plain data (no Qt): a transformer's words drawn again through another
lens (which layer, how heads combine) from the raw cross-attention each Step keeps, without a new
job. Also the per-layer x head maps of one word (the heads grid) and a result re-drawn for export.

Steps without heads (the bundled models) pass through unchanged; so do all words under the
default lens, which is what the pipeline drew them with. A transformer's words come back as
`Drawn`, a list that also names the places and lens they were drawn through, from which a video's
panes draw where in each frame a word looked (`frame_details`). `raw` (sentences): one column per token
the model read (its subword pieces and special tokens) instead of the merged words.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np

from ..lens import DEFAULT, Lens, Places
from ..target_words import word_result
from ..types import Result, Step


def has_heads(words: list[Step]) -> bool:
    return bool(words) and words[-1].heads is not None


def shape_of(words: list[Step]) -> tuple[int, int] | None:
    """(layers, heads) of a transformer's words; None for a model without heads."""
    if not has_heads(words):
        return None
    h = words[-1].heads
    return int(h.shape[-3]), int(h.shape[-2])


class Drawn(list):
    """The words as drawn, with the places and the lens they were drawn through."""

    def __init__(self, words, places: Places, lens: Lens):
        super().__init__(words)
        self.places, self.lens = places, lens


def frame_details(words: list[Step], index: int) -> np.ndarray | None:
    """Word `index`'s where-in-each-frame maps (frames, rows, cols) through the words' lens, each
    frame's map summing to that frame's share of the word's attention (lens.Places.details); None
    for words without heads or places without detail (the bundled models, images, sentences)."""
    places = getattr(words, "places", None)
    step = words[index] if 0 <= index < len(words) else None
    if places is None or places.detail is None or step is None or step.heads is None:
        return None
    return places.details(places.tokens(step.heads, words.lens))


@dataclass
class LensView:
    """One column's lens and the words it has drawn (each word once per lens)."""

    lens: Lens = DEFAULT
    raw: bool = False  # sentences: the raw subword pieces, not words
    _cache: dict = None  # id(step) -> (step, places, lensed step)

    def __post_init__(self):
        self._cache = {}

    def set(self, lens: Lens, raw: bool = False) -> bool:
        """True if the lens changed (the cache is dropped then)."""
        if (lens, raw) == (self.lens, self.raw):
            return False
        self.lens, self.raw, self._cache = lens, raw, {}
        return True

    def words(self, words: list[Step], places: Places | None, drawn_with: Lens = DEFAULT) -> list[Step]:
        """The words with their maps drawn through the lens (the same words when they were drawn
        with it already: `drawn_with`, the pipeline's lens, or a reopened result's), as `Drawn`
        when they have heads and places."""
        if places is None or not has_heads(words):
            return words
        if self.lens == drawn_with and not self.raw:
            return Drawn(words, places, self.lens)
        out, cache = [], {}
        todo = [w for w in words if w.heads is not None and
                (id(w) not in self._cache or self._cache[id(w)][0] is not w or self._cache[id(w)][1] is not places)]
        if todo:
            drawn = draw(np.stack([w.heads for w in todo]), places, self.lens, self.raw)
            for w, (att, sink) in zip(todo, zip(*drawn)):
                self._cache[id(w)] = (w, places, replace(w, attention=att, sink=float(sink)))
        for w in words:
            if w.heads is None:
                out.append(w)
                continue
            entry = self._cache[id(w)]
            cache[id(w)] = entry
            out.append(entry[2])
        self._cache = cache  # only the words on screen are kept
        return Drawn(out, places, self.lens)

    def labels(self, places: Places | None) -> list[str] | None:
        """The raw pieces' labels when the raw view is on (None: the words as merged)."""
        return list(places.labels) if self.raw and places is not None and places.labels else None


def draw(heads: np.ndarray, places: Places, lens: Lens, raw: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """[T, layers, heads, tokens] -> (maps [T, ...], sinks [T]); raw: one weight per token."""
    if raw:
        weights = places.tokens(heads, lens)
        _, sinks = places.place(weights)
        return weights / np.maximum(weights.sum(axis=-1, keepdims=True), 1e-12), sinks
    return places.maps(heads, lens)


def head_maps(step: Step, places: Places) -> tuple[np.ndarray, np.ndarray] | None:
    """Every layer x head map of one word: ([layers, heads, *shape], sinks [layers, heads])."""
    if step is None or step.heads is None or places is None:
        return None
    return places.place(np.asarray(step.heads, dtype=np.float32))


def lensed_result(result: Result, lens: Lens, pieces: bool = True) -> Result:
    """A copy of a transformer's result with every hypothesis drawn through `lens` (for export);
    the result itself is unchanged. A result without heads comes back as it is. pieces=False: a
    subword decoder's pieces merged into words, as the window shows them (target_words.py; a
    result saved from it keeps the pieces)."""
    return lensed(result, lens) if pieces else word_result(lensed(result, lens))


def lensed(result: Result, lens: Lens) -> Result:
    places = result.places
    if places is None or lens == Lens.from_dict(result.lens) or not any(h.heads is not None for h in result.hypotheses):
        return result
    out = copy.copy(result)
    out.hypotheses = []
    for hyp in result.hypotheses:
        h = copy.copy(hyp)
        if hyp.heads is not None and len(hyp.heads):
            h.attention, sinks = places.maps(hyp.heads, lens)
            h.sinks = [float(x) for x in sinks]
        out.hypotheses.append(h)
    out.lens = lens.to_dict()
    return out


def lens_choices(layers: int, heads: int) -> tuple[list[tuple[str, object]], list[tuple[str, object]]]:
    """The layer and head choices a control offers: (label, value) pairs."""
    layer = [("last", -1)] + [(str(i + 1), i) for i in range(layers)] + [("mean", "mean"), ("rollout", "rollout")]
    head = [("mean", "mean"), ("max", "max")] + [(str(i + 1), i) for i in range(heads)]
    return layer, head
