"""Generated clips of shapes that appear, disappear, move or change size, with each event's frames.

The event times are the ground truth that lets us check a video captioner's temporal attention:
the word "left" of "a red circle moves left" should come from a step inside that movement.
Played backwards, a clip shows the reverse events in the reverse order ("moves right", "appears"
<-> "disappears", "grows" <-> "shrinks"): the arrow of time. Event spans are drawn uniformly and
independently of their order, so a reversed clip is a clip the generator could have made.
Clip i of a seed is the same whatever else is generated: it draws from its own random stream.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .synthetic import COLOURS, _draw

FRAMES = 24  # frames of a clip
SIZE = 48  # pixels, square
STRIDE = 2  # the model sees every 2nd frame: 12 steps
CLIP_COLOURS = ("red", "green", "blue", "yellow")
CLIP_SHAPES = ("circle", "square", "triangle")
VERBS = ("appears", "disappears", "moves left", "moves right", "moves up", "moves down", "grows", "shrinks")
REVERSE = {"appears": "disappears", "disappears": "appears", "moves left": "moves right",
           "moves right": "moves left", "moves up": "moves down", "moves down": "moves up",
           "grows": "shrinks", "shrinks": "grows"}
EVENT_LENGTHS = (7, 10)  # frames, inclusive range
DATA_VERSION = 1


@dataclass(frozen=True)
class Event:
    colour: str
    shape: str
    verb: str  # one of VERBS
    start: int  # first frame of the change
    end: int  # last frame of the change

    @property
    def words(self) -> list[str]:
        return ["a", self.colour, self.shape, *self.verb.split()]


@dataclass
class Clip:
    frames: np.ndarray  # (FRAMES, SIZE, SIZE, 3) uint8 RGB
    events: list[Event]  # in time order

    @property
    def caption(self) -> str:
        return " then ".join(" ".join(e.words) for e in self.events)

    def reversed(self) -> "Clip":
        last = len(self.frames) - 1
        events = [replace(e, verb=REVERSE[e.verb], start=last - e.end, end=last - e.start) for e in self.events[::-1]]
        return Clip(self.frames[::-1].copy(), events)

    def steps(self, offset: int = 0, stride: int = STRIDE) -> np.ndarray:
        """The frames the model sees: every stride-th from offset."""
        return self.frames[offset::stride]

    def event_steps(self, offset: int = 0, stride: int = STRIDE) -> list[set[int]]:
        """For each event, the model steps whose frame lies in it."""
        frames = np.arange(offset, len(self.frames), stride)
        return [set(np.flatnonzero((frames >= e.start) & (frames <= e.end)).tolist()) for e in self.events]


def _spans(rng: np.random.Generator, count: int) -> list[tuple[int, int]]:
    """count non-overlapping (start, end) spans with a gap, uniformly placed, in time order."""
    while True:
        spans = []
        for _ in range(count):
            length = int(rng.integers(EVENT_LENGTHS[0], EVENT_LENGTHS[1] + 1))
            start = int(rng.integers(0, FRAMES - length + 1))
            spans.append((start, start + length - 1))
        spans.sort()
        if all(b[0] > a[1] + 1 for a, b in zip(spans, spans[1:])):
            return spans


def _state(verb: str, t: float, base: tuple[float, float, float]) -> tuple[float, float, float] | None:
    """(x, y, radius) of an object at progress t (0 before its event, 1 after); None if absent."""
    x, y, r = base
    shift = 14.0
    if verb in ("appears", "disappears"):
        scale = t if verb == "appears" else 1 - t
        return None if scale < 0.08 else (x, y, r * scale)
    if verb in ("grows", "shrinks"):
        small, big = 0.55, 1.15
        a, b = (small, big) if verb == "grows" else (big, small)
        return x, y, r * (a + (b - a) * t)
    dx = {"moves left": -shift, "moves right": shift}.get(verb, 0.0)
    dy = {"moves up": -shift, "moves down": shift}.get(verb, 0.0)
    return x + dx * (t - 0.5), y + dy * (t - 0.5), r


def generate_clip(seed: int, index: int) -> Clip:
    rng = np.random.default_rng([seed, index, DATA_VERSION])
    n_objects = 1 if rng.random() < 0.4 else 2
    n_events = 1 if n_objects == 1 or rng.random() < 0.3 else 2
    colours = [str(c) for c in rng.choice(CLIP_COLOURS, size=n_objects, replace=False)]
    shapes = [str(s) for s in rng.choice(CLIP_SHAPES, size=n_objects)]
    # places: the two objects on different halves (left/right or top/bottom) so they never overlap
    vertical = rng.random() < 0.5
    bases = []
    for k in range(n_objects):
        r = float(rng.uniform(6.5, 8.5))
        lo, hi = (SIZE * 0.5 * k, SIZE * 0.5 * (k + 1)) if n_objects == 2 else (0.0, SIZE)
        a = float(rng.uniform(lo + 9, hi - 9)) if n_objects == 2 else float(rng.uniform(18, SIZE - 18))
        b = float(rng.uniform(18, SIZE - 18))
        bases.append((b, a, r) if vertical else (a, b, r))
    verbs = [str(v) for v in rng.choice(VERBS, size=n_events)]
    spans = _spans(rng, n_events)
    order = rng.permutation(n_objects)[:n_events]  # which object does each event
    events = [Event(colours[o], shapes[o], v, s, e) for o, v, (s, e) in zip(order, verbs, spans)]
    by_object = {int(o): ev for o, ev in zip(order, events)}
    background = np.clip(rng.uniform(60, 120) + rng.normal(0, 4, (SIZE, SIZE, 3)), 0, 255)
    tint = [np.clip(np.array(COLOURS[c]) + rng.normal(0, 10, 3), 0, 255) for c in colours]
    angles = rng.uniform(-0.3, 0.3, n_objects)
    frames = np.empty((FRAMES, SIZE, SIZE, 3), np.uint8)
    for f in range(FRAMES):
        canvas = background.copy()
        for k in range(n_objects):
            ev = by_object.get(k)
            if ev is None:
                where = bases[k]
            else:
                t = float(np.clip((f - ev.start + 0.5) / (ev.end - ev.start + 1), 0, 1))
                where = _state(ev.verb, t, bases[k])
            if where is not None:
                _draw(canvas, shapes[k], where[0], where[1], where[2], angles[k], tint[k])
        frames[f] = np.clip(canvas, 0, 255).astype(np.uint8)
    return Clip(frames, events)


def generate_clips(n: int, seed: int, start: int = 0) -> list[Clip]:
    return [generate_clip(seed, i) for i in range(start, start + n)]


def clip_vocabulary() -> list[str]:
    words = {"a", "then", *CLIP_COLOURS, *CLIP_SHAPES}
    for v in VERBS:
        words |= set(v.split())
    return sorted(words)
