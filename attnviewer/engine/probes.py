"""The what-if probes the window asks for (issue 22), run by the engine like a decoding:
force a word, walk to a beam tree's node, score a given sentence, replace a step's attention,
mask a word's top places, attribute a word to its input. Plain Python (no Qt): the worker routes
a job with a probe here and emits what comes back.

A probe that re-decodes (force, node, target, intervene) streams through pipeline.run with the
what-if constraint, checking `cancelled()` between words, and returns a Branch: the new words
beside the original. Masking and attribution return their plain-data records (whatif/).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import SettingsError
from ..settings import DecodeSettings
from ..types import intervened_at

FORCE, NODE, TARGET, INTERVENE, MASK, ATTRIBUTE = "force", "node", "target", "intervene", "mask", "attribute"


@dataclass
class Probe:
    """What to ask the model, as plain data. Steps count the pieces the model wrote, from 0."""

    what: str  # FORCE, NODE, TARGET, INTERVENE, MASK or ATTRIBUTE
    step: int = 0
    word: str = ""  # FORCE: the word to write at `step`; TARGET: the sentence
    exact: bool = False  # FORCE: `word` is a vocabulary entry as listed (a top word), not typed text
    prefix: list[int] = field(default_factory=list)  # the ids written before `step` (NODE: the whole path)
    weights: np.ndarray | None = None  # INTERVENE: the map to attend with (the model's attention shape)
    result: object = None  # MASK, ATTRIBUTE: the Result holding the word (its first hypothesis)
    method: str = "ig"  # ATTRIBUTE: saliency or ig
    label: str = ""  # how the window names the branch or the probe


@dataclass
class Branch:
    """A re-decoding of the same input: its Result and how it left the original."""

    label: str
    result: object  # Result
    step: int  # the first step that differs by construction (forced, or attended otherwise)


def vocabulary_id(model, word: str) -> int:
    """The id of a vocabulary entry as the window lists it (a top word); SettingsError if none."""
    try:
        return list(model.vocab).index(word)
    except ValueError:
        raise SettingsError(f"{word!r} is not in this model's vocabulary") from None


def run_probe(kind, model, media, settings, probe: Probe, cancelled: Callable[[], bool], lens=None, encoded=None):
    """Run `probe` for `media` (as the model reads it). Returns a Branch, a whatif Masking or an
    Attribution; None when cancelled. `encoded`: the input's encoding (pipeline.encode), reused
    by the probes that decode again."""
    from ..lens import DEFAULT
    from ..whatif import forcing, intervention

    lens = lens or DEFAULT
    if probe.what == MASK:
        from ..whatif.masking import mask_top

        return mask_top(kind, model, media, probe.result, probe.step)
    if probe.what == ATTRIBUTE:
        from ..whatif.attribution import attribute

        return attribute(kind, model, media, probe.result, probe.step, probe.method)
    if probe.what == FORCE:
        ids = [vocabulary_id(model, probe.word)] if probe.exact else forcing.text_ids(model, probe.word, "forced word")
        words = {probe.step + i: tid for i, tid in enumerate(ids)}
        constraint, s = forcing.planned(model, settings, words, probe.prefix)
        forced = forcing.forced_label(model, words)
        return _branch(kind, model, media, s, constraint, cancelled, lens, probe.label or f"forced {forced}",
                       probe.step, encoded, {"forced": forced})
    if probe.what == NODE:
        constraint = forcing.Forced(dict(enumerate(probe.prefix)))
        s = DecodeSettings("greedy", max_len=max(1, len(probe.prefix)))
        return _branch(kind, model, media, s, constraint, cancelled, lens, probe.label or "beam tree node",
                       len(probe.prefix) - 1, encoded)
    if probe.what == TARGET:
        constraint, s = forcing.target_plan(model, forcing.text_ids(model, probe.word, "the sentence to score"))
        return _branch(kind, model, media, s, constraint, cancelled, lens, probe.label or "scored", 0,
                       encoded, {"target": probe.word})
    if probe.what == INTERVENE:
        constraint, s, w = intervention.planned(model, settings, probe.step, probe.weights, probe.prefix)
        with intervention.swapped(model, probe.step, w):
            return _branch(kind, model, media, s, constraint, cancelled, lens,
                           probe.label or f"attention edited at word {probe.step + 1}", probe.step, encoded,
                           {"intervened": intervened_at(probe.step)})
    raise SettingsError(f"unknown probe {probe.what!r}")


def _branch(kind, model, media, settings, constraint, cancelled, lens, label: str, step: int,
            encoded=None, marks: dict | None = None) -> Branch | None:
    """The decoding a question asks for, as a Branch; `marks`: what its Result's settings record it
    changed (as the CLI's what-if results do: figures, pages and titles say so)."""
    from .. import pipeline

    gen = pipeline.run(kind, model, media, settings, lens=lens, constrain=constraint, encoded=encoded)
    while True:
        if cancelled():
            gen.close()
            return None
        try:
            next(gen)
        except StopIteration as stop:
            stop.value.settings.update(marks or {})
            return Branch(label, stop.value, step)
