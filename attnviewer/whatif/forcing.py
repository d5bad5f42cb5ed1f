"""Forced words: make the model write given words at given steps and see what it says then, and
score a whole given sentence (a reference caption, a gold translation) word by word.

Forcing is a constraint on the one decoding of decoding/search.py (its `constrain` hook), so it
works for every model family and kind, with greedy, beam or sampling: at a forced step only the
forced word may be chosen, while the probabilities, alternatives and entropies recorded are the
model's own. (Teacher forcing in training, models/forcing.py, runs the model's private `_step`
along whole references to compute a loss; here the public step and the search are kept, so that
the beams, the streaming and the Results are those of any other run.)
"""
from __future__ import annotations

import torch
from torch import Tensor

from .. import pipeline
from ..errors import SettingsError
from ..lens import DEFAULT as DEFAULT_LENS
from ..settings import DecodeSettings
from ..types import Result

RULED_OUT = -1e30  # a forced word the model gives no chance still goes on (finite score)


class Forced:
    """The `constrain` of decoding.search.decode: step (from 0) -> the word id it must write."""

    def __init__(self, words: dict[int, int]):
        self.words = dict(words)

    def __call__(self, t: int, log_probs: Tensor) -> Tensor:
        word = self.words.get(t)
        if word is None:
            return log_probs
        only = torch.full_like(log_probs, float("-inf"))
        only[:, word] = log_probs[:, word].clamp(min=RULED_OUT)
        return only

    @property
    def last(self) -> int:
        return max(self.words, default=-1)


def text_ids(model, text: str, where: str = "--target") -> list[int]:
    """A sentence as the ids of the model's own output vocabulary: its words (word models) or its
    tokenizer's pieces (transformers). SettingsError naming the words it does not know."""
    words = text.split()
    if not words:
        raise SettingsError(f"{where}: no words given")
    index = getattr(model, "index", None)
    if index is not None:  # a word vocabulary (models/words.py)
        never = {model.vocab[model.pad_id], model.vocab[model.start_id], model.vocab[model.end_id]}
        unknown = [w for w in words if w not in index or w in never]
        if unknown:
            raise SettingsError(f"{where}: words this model cannot write: {', '.join(dict.fromkeys(unknown))}")
        return [index[w] for w in words]
    ids = model.encode_text(" ".join(words))
    unk = getattr(getattr(model, "tokenizer", None), "unk_token_id", None)
    if unk is not None and unk in ids:
        unknown = [w for w in words if unk in model.encode_text(w)]
        raise SettingsError(f"{where}: words this model's pieces cannot spell: {', '.join(unknown or words)}")
    if not ids:
        raise SettingsError(f"{where}: no pieces in {text!r}")
    return ids


def parse_forces(specs: list[str]) -> dict[int, str]:
    """['3=blue', '5=red'] -> {3: 'blue', 5: 'red'} (steps from 1); SettingsError of one line."""
    out: dict[int, str] = {}
    for spec in specs:
        step, sep, word = spec.partition("=")
        if not sep or not step.strip().isdigit() or not word.strip():
            raise SettingsError(f"--force {spec!r}: give STEP=WORD, e.g. 3=blue (steps from 1)")
        n = int(step)
        if n < 1:
            raise SettingsError(f"--force {spec!r}: steps count from 1")
        if n in out:
            raise SettingsError(f"--force: step {n} forced twice")
        out[n] = word.strip()
    return out


def forced_ids(model, forces: dict[int, str]) -> dict[int, int]:
    """Steps from 1 with words -> steps from 0 with ids; a word of several pieces (transformers)
    takes that many steps; SettingsError if forced words would overlap."""
    out: dict[int, int] = {}
    for step, word in sorted(forces.items()):
        for i, tid in enumerate(text_ids(model, word, f"--force {step}={word}")):
            if step - 1 + i in out:
                raise SettingsError(f"--force {step}={word}: its pieces run into the next forced step")
            out[step - 1 + i] = tid
    return out


def _longer(settings: DecodeSettings, model, steps: int) -> DecodeSettings:
    """The settings with room for `steps` steps (a forced word past the usual length still counts)."""
    s = DecodeSettings.from_dict(settings.to_dict())
    s.max_len = max(s.max_len or model.config.max_len, steps)
    return s.validate()


def planned(model, settings: DecodeSettings, words: dict[int, int], prefix: list[int]) -> tuple[Forced, DecodeSettings]:
    """The constraint and settings of a forced decoding: `prefix` (the words before the first
    forced step, as written) then `words` (step from 0 -> id). What `force` runs, and what the
    window's engine streams."""
    if not words:
        raise SettingsError("nothing forced")
    first = min(words)
    prefix = list(prefix or [])[:first]
    if len(prefix) < first:
        raise SettingsError(f"step {first + 1} cannot be forced: the model's output has only {len(prefix)} words "
                            f"(force step {len(prefix) + 1} at the latest)")
    constraint = Forced({**dict(enumerate(prefix)), **words})
    return constraint, _longer(settings, model, constraint.last + 1)


def forced_label(model, words: dict[int, int]) -> str:
    """'3=blue 4=sky': what a Result's settings record as forced (steps from 1)."""
    return " ".join(f"{t + 1}={model.vocab[w]}" for t, w in sorted(words.items()))


def force(kind, model, media, settings: DecodeSettings, words: dict[int, int], prefix: list[int] | None = None,
          lens=DEFAULT_LENS, tree=None) -> Result:
    """Decode `media` with `words` (step from 0 -> id) forced: the steps before the first forced
    one write `prefix` (default: the model's own best output with these settings), the rest are
    decoded as `settings` say. The Result's settings say what was forced."""
    if not words:
        raise SettingsError("nothing forced")
    if prefix is None and min(words) > 0:
        prefix = pipeline.run_all(kind, model, [media], settings, lens=lens)[0].best.token_ids
    constraint, longer = planned(model, settings, words, prefix or [])
    result = pipeline.run_all(kind, model, [media], longer, lens=lens, constrain=constraint, tree=tree)[0]
    result.settings["forced"] = forced_label(model, words)
    return result


def target_plan(model, ids: list[int]) -> tuple[Forced, DecodeSettings]:
    """Greedy through exactly `ids` then the end: the constraint and settings of scoring a sentence."""
    return Forced({**dict(enumerate(ids)), len(ids): model.end_id}), DecodeSettings("greedy", max_len=len(ids) + 1)


def score_target(kind, model, media, text: str, lens=DEFAULT_LENS) -> Result:
    """The model made to write `text` (then its end): each word's probability, alternatives,
    entropy and attention as the model gives them; the log probability includes the end."""
    constraint, settings = target_plan(model, text_ids(model, text))
    result = pipeline.run_all(kind, model, [media], settings, lens=lens, constrain=constraint)[0]
    result.settings["target"] = text
    return result
