"""The pointing game on generated scenes (caption metrics are in metrics.py).

Pointing game: for every generated word that names an object (a colour or shape word), does the
attention of the step that emitted it point into that object's mask? Two hit tests:
  cell  - the top-attention cell overlaps the mask;
  pixel - the peak of the attention upsampled to image size lies inside the mask.
Baselines on the same words: a uniformly random cell / pixel (expected hit rate, computed
exactly) and the centre cell / pixel. A word naming no object in the scene counts as a miss.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..data.synthetic import COLOURS, SHAPES, Scene
from ..maps import peak, upsample
from ..types import Hypothesis


def cell_bounds(n: int, size: int) -> np.ndarray:
    """Pixel edges of n cells over size pixels."""
    return np.round(np.arange(n + 1) * size / n).astype(int)


@dataclass
class PointingTally:
    words: int = 0
    no_object: int = 0  # words naming an object the scene does not have
    hits: dict[str, float] = field(default_factory=dict)  # test name -> hits (expected, for uniform)
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # 'colour'/'shape' -> [cell, pixel, n]

    def add(self, name: str, value: float) -> None:
        self.hits[name] = self.hits.get(name, 0.0) + value

    def rate(self, name: str) -> float:
        return self.hits.get(name, 0.0) / self.words if self.words else float("nan")

    def kind_rate(self, kind: str, which: int) -> float:
        c = self.by_kind.get(kind, [0, 0, 0])
        return c[which] / c[2] if c[2] else float("nan")


def point(scene: Scene, hyp: Hypothesis, tally: PointingTally, smoothing: str = "gaussian") -> None:
    """Score every colour and shape word of one caption into the tally."""
    for tok, target, att in zip(hyp.tokens, scene.targets(hyp.tokens), hyp.attention):
        if tok not in COLOURS and tok not in SHAPES:
            continue
        kind = "colour" if tok in COLOURS else "shape"
        tally.words += 1
        counts = tally.by_kind.setdefault(kind, [0, 0, 0])
        counts[2] += 1
        if target is None:
            tally.no_object += 1
            continue
        cell, pixel = point_word(att, scene.objects[target].mask, tally, smoothing)
        counts[0] += cell
        counts[1] += pixel


def point_word(att: np.ndarray, mask: np.ndarray, tally: PointingTally,
               smoothing: str = "gaussian") -> tuple[bool, bool]:
    """The cell and pixel tests of one word's attention grid against its object's mask (image
    size), with both baselines, added to the tally (whose `words` the caller counts); returns
    (cell hit, pixel hit). Real-data grounding (grounding.py) scores its words with this too."""
    h, w = mask.shape
    gh, gw = att.shape
    rows, cols = cell_bounds(gh, h), cell_bounds(gw, w)
    cell_hit = _cell_overlaps(mask, rows, cols)  # (gh, gw) bool
    r, c = peak(att)
    pr, pc = peak(upsample(att, (h, w), smoothing))
    cell, pixel = bool(cell_hit[r, c]), bool(mask[pr, pc])
    tally.add("cell", cell)
    tally.add("pixel", pixel)
    tally.add("uniform cell", float(cell_hit.mean()))
    tally.add("uniform pixel", float(mask.mean()))
    tally.add("centre cell", bool(cell_hit[np.searchsorted(rows, h // 2, "right") - 1,
                                           np.searchsorted(cols, w // 2, "right") - 1]))
    tally.add("centre pixel", bool(mask[h // 2, w // 2]))
    return cell, pixel


def pointing(scenes: list[Scene], hyps: list[Hypothesis], smoothing: str = "gaussian") -> PointingTally:
    """The pointing game over captions of these scenes (one hypothesis each)."""
    tally = PointingTally()
    for scene, hyp in zip(scenes, hyps):
        point(scene, hyp, tally, smoothing)
    return tally


def _cell_overlaps(mask: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    out = np.zeros((len(rows) - 1, len(cols) - 1), bool)
    for i in range(len(rows) - 1):
        for j in range(len(cols) - 1):
            out[i, j] = mask[rows[i]:rows[i + 1], cols[j]:cols[j + 1]].any()
    return out
