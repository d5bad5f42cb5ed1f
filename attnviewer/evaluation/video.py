"""Does a video captioner look at the right moment? Temporal pointing on generated clips.

For every generated word that belongs to an event ("a red circle moves left"), the step where the
attention of that word's step peaks should lie inside the event's frames: event words (the verb
and its direction) and object words (the colour and shape) are scored apart, exactly and within
one step. Baselines on the same words: a uniformly random step (expected hit rate, exact) and the
middle step. A phrase naming an object that has no event in the clip counts as a miss; the
"named" groups score only the words of events the caption got entirely right (where the model
knew what happened, did it look when it happened?).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..data.clip_events import CLIP_COLOURS, CLIP_SHAPES, REVERSE, STRIDE, Clip
from ..types import Hypothesis


@dataclass
class TemporalTally:
    hits: dict[str, float] = field(default_factory=dict)  # "verb", "verb ±1", "object", ... -> hits
    words: dict[str, int] = field(default_factory=dict)  # "verb" / "object" -> words scored

    def add(self, name: str, value: float) -> None:
        self.hits[name] = self.hits.get(name, 0.0) + value

    def rate(self, kind: str, test: str = "") -> float:
        n = self.words.get(kind, 0)
        return self.hits.get(f"{kind}{test}", 0.0) / n if n else float("nan")


def phrases(tokens: list[str]) -> list[tuple[int, list[str]]]:
    """(index of its first word, words) of each "then"-separated phrase of a caption."""
    out, start = [], 0
    for i, w in enumerate(tokens + ["then"]):
        if w == "then":
            if i > start:
                out.append((start, tokens[start:i]))
            start = i + 1
    return out


def _event_of(clip: Clip, words: list[str]):
    colour = next((w for w in words if w in CLIP_COLOURS), None)
    shape = next((w for w in words if w in CLIP_SHAPES), None)
    return next((k for k, e in enumerate(clip.events) if (e.colour, e.shape) == (colour, shape)), None)


def temporal_pointing(clips: list[Clip], hyps: list[Hypothesis], offset: int = 0,
                      stride: int = STRIDE) -> TemporalTally:
    tally = TemporalTally()
    for clip, hyp in zip(clips, hyps):
        spans = clip.event_steps(offset, stride)
        n_steps = hyp.attention.shape[1]
        for start, words in phrases(hyp.tokens):
            k = _event_of(clip, words)
            named = k is not None and words == clip.events[k].words  # the whole event said right
            for i, w in enumerate(words, start):
                kind = "object" if w in CLIP_COLOURS or w in CLIP_SHAPES else ("verb" if w != "a" else None)
                if kind is None:
                    continue
                span = spans[k] if k is not None else set()
                near = {s + d for s in span for d in (-1, 0, 1)} & set(range(n_steps))
                peak = int(np.argmax(hyp.attention[i]))
                for group in (kind, f"{kind} named") if named else (kind,):
                    tally.words[group] = tally.words.get(group, 0) + 1
                    tally.add(group, peak in span)
                    tally.add(f"{group} ±1", peak in near)
                    tally.add(f"{group} uniform", len(span) / n_steps)
                    tally.add(f"{group} ±1 uniform", len(near) / n_steps)
                    tally.add(f"{group} middle", n_steps // 2 in span)
    return tally


def event_phrases(clip: Clip) -> set[str]:
    return {" ".join(e.words[1:]) for e in clip.events}


def events_right(clips: list[Clip], captions: list[str]) -> float:
    """The share of events whose object and verb phrase ("red circle moves left") the caption has."""
    right = total = 0
    for clip, caption in zip(clips, captions):
        said = {" ".join(w[1:]) for _, w in phrases(caption.split())}
        for p in event_phrases(clip):
            total += 1
            right += p in said
    return right / total if total else float("nan")


def forward_verbs_given(reversed_clips: list[Clip], captions: list[str]) -> float:
    """For clips played backwards: the share of events described with the verb of the clip as it
    was made (a model that ignores the order of frames would say it half the time)."""
    given = total = 0
    for clip, caption in zip(reversed_clips, captions):
        said = {" ".join(w[1:]) for _, w in phrases(caption.split())}
        for e in clip.events:
            total += 1
            given += f"{e.colour} {e.shape} {REVERSE[e.verb]}" in said
    return given / total if total else float("nan")
