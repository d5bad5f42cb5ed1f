"""The records that flow from a decoder to everything downstream.

Plain dataclasses holding numpy arrays: no Qt, no torch, so the panes, the figures, the JSON files
and the tests all read the same thing whichever model produced it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Beam:
    """One live (or finished) beam hypothesis as shown while decoding."""

    tokens: list[str]
    score: float  # the (length-normalised) log probability used to rank hypotheses


@dataclass
class Step:
    """One generated word with the attention that produced it."""

    index: int  # position of the word in the caption, from 0
    token: str
    token_id: int
    prob: float  # probability the model gave this word
    alternatives: list[tuple[str, float]]  # the top-k words at this step, best first
    attention: np.ndarray  # weights over the input, summing to 1: (H, W) grid for an image
    beams: list[Beam] = field(default_factory=list)  # live hypotheses after this step
    item: int = 0  # which input of a batch this step belongs to
    job: int = 0  # engine job id; the window drops steps of superseded jobs
    location: int | None = None  # hard attention: the flat index of the sampled region
    heads: np.ndarray | None = None  # transformers: [layers, heads, tokens] the map came from (see lens.py)
    sink: float | None = None  # transformers: the share of the attention on tokens that are no place
    entropy: float | None = None  # of the model's output distribution at this step (nats; whatif/scores.py)

    @property
    def attention_entropy(self) -> float:
        """How spread the shown map is (nats; 0: all on one place)."""
        return map_entropy(self.attention)


def map_entropy(weights) -> float:
    """Entropy in nats of an attention map, taken as a distribution (renormalised; 0 for an empty map).
    Here, beside the Step it scores, so that types imports nothing above it (whatif/scores.py uses it)."""
    w = np.asarray(weights, dtype=np.float64).ravel()
    w = np.clip(np.nan_to_num(w), 0.0, None)
    total = w.sum()
    if total <= 0:
        return 0.0
    p = w[w > 0] / total
    return float(-(p * np.log(p)).sum())


NO_WORDS = "(no words)"  # a hypothesis whose first word was <end>


@dataclass
class Hypothesis:
    """A finished caption with everything needed to redraw every word."""

    tokens: list[str]
    token_ids: list[int]
    log_prob: float
    score: float  # log_prob after length normalisation; hypotheses are sorted by it
    probs: list[float]
    alternatives: list[list[tuple[str, float]]]
    attention: np.ndarray  # (len(tokens), *attention_shape)
    locations: list[int] | None = None  # hard attention: the sampled region of each word
    heads: np.ndarray | None = None  # transformers: (len(tokens), layers, heads, tokens of the input)
    sinks: list[float] | None = None  # transformers: each word's share of attention on no place
    joined: str | None = None  # subword models: the text as their tokenizer writes the pieces out
    ended: bool = True  # False: cut at the maximum length before the model wrote its end
    starts: list[bool] | None = None  # subword models: whether each piece starts a word (target_words.py)
    written: int | None = None  # pieces merged into words (target_words.py): how many the model wrote
    entropies: list[float] | None = None  # each step's output distribution entropy (nats; older results: none)

    @property
    def attention_entropies(self) -> list[float]:
        """Each word's map entropy (nats), from the maps as drawn (a new lens, a new value)."""
        return [map_entropy(a) for a in self.attention]

    def steps(self, item: int = 0, job: int = 0) -> list[Step]:
        n = len(self.tokens)
        locations = self.locations or [None] * n
        heads = self.heads if self.heads is not None else [None] * n
        sinks = self.sinks or [None] * n
        entropies = self.entropies or [None] * n
        return [
            Step(i, t, tid, p, alts, att, item=item, job=job, location=loc, heads=h, sink=s, entropy=e)
            for i, (t, tid, p, alts, att, loc, h, s, e) in enumerate(
                zip(self.tokens, self.token_ids, self.probs, self.alternatives, self.attention, locations, heads, sinks,
                    entropies)
            )
        ]

    @property
    def text(self) -> str:
        return self.joined if self.joined is not None else " ".join(self.tokens)

    @property
    def shown(self) -> str:
        """The text as a user reads it: a hypothesis that ended at once says so instead of nothing."""
        return self.text or NO_WORDS

    @property
    def listed(self) -> str:
        """As the window lists it: one cut at the maximum length ends in an ellipsis."""
        return self.shown + ("" if self.ended else " …")

    @property
    def cut(self) -> str | None:
        """'cut at the maximum length (20 words)' for a hypothesis that never wrote its end, else None."""
        if self.ended:
            return None
        n, unit = (self.written, "pieces") if self.written is not None else (len(self.tokens), "words")
        return f"cut at the maximum length ({n} {unit})"  # what --max-len counts


@dataclass
class Result:
    """A finished run on one input: the best caption's steps plus every final hypothesis."""

    source: str  # the input file (or text)
    model: str  # model name or checkpoint path
    settings: dict[str, Any]  # decoding settings: method, beam width, temperature, ...
    hypotheses: list[Hypothesis]  # best first
    seconds: float = 0.0
    image_size: tuple[int, int] | None = None  # (height, width) of the input as displayed
    kind: str = "caption"  # what made it: caption (an image), video or translate (a sentence)
    source_tokens: list[str] | None = None  # translate: the source words, one per attention position
    frame_times: list[float] | None = None  # video: the time (s) of each attended frame
    note: str | None = None  # the input is far from what the model was trained on (see domain.py)
    places: Any = None  # transformers: lens.Places, how the input's tokens map to the attention's places
    lens: dict | None = None  # transformers: the lens the attention was drawn with (lens.Lens.to_dict())
    heads_shape: list[int] | None = None  # transformers: (layers, heads, tokens) as recorded where no heads are kept
    written: "Result | None" = None  # pieces merged into words for display: the result as written (files keep it)

    @property
    def best(self) -> Hypothesis:
        return self.hypotheses[0]

    @property
    def text(self) -> str:
        return self.best.text

    @property
    def title(self) -> str:
        """"caption-shapes, beam 3": the model and decoding, as figures are titled."""
        from .settings import DecodeSettings

        return f"{model_label(self.model)}, {DecodeSettings.from_dict(self.settings).describe()}"


def model_label(name: str) -> str:
    """A bundled name as it is; a checkpoint path as its file name without the suffix."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in (".safetensors", ".pth", ".pt", ".ckpt", ".bin"):
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return base


def heads_layout(result: Result) -> tuple[int, int, int] | None:
    """(layers, heads, tokens) of a transformer's result: of its stored heads, else as its file
    recorded (a result reopened without its NPZ); None for other models."""
    for h in result.hypotheses:
        if h.heads is not None and getattr(h.heads, "ndim", 0) == 4:
            return tuple(int(n) for n in h.heads.shape[1:])
    shape = result.heads_shape
    return tuple(int(n) for n in shape) if shape else None


def lens_label(result: Result) -> str | None:
    """'layer 2 of 2, mean of heads': the lens a transformer's result was drawn with (None for
    models without layers and heads)."""
    if result.lens is None and result.places is None:
        return None
    from .lens import Lens

    layout = heads_layout(result)
    try:
        return Lens.from_dict(result.lens).describe(layout[0] if layout else None)
    except ValueError:
        return None


BACKWARDS = "clip played backwards"  # the mark of a result read from a reversed clip


def intervened_at(step: int) -> str:
    """What a result's settings record ("intervened") for an attention set by hand at `step` (from 0)."""
    return f"step {step + 1}"


def intervened_word(result: Result) -> int | None:
    """The word (from 1) whose attention a what-if run set by hand (intervened_at), or None."""
    at = (result.settings or {}).get("intervened")
    if isinstance(at, str) and at.startswith("step ") and at[5:].isdigit():
        return int(at[5:])
    return None


def whatif_marks(result: Result) -> list[str]:
    """What makes a result other than the model's own reading of its input, as its settings record
    it (whatif/forcing.py, intervention.py; a clip read backwards): 'word 3 forced to “triangle”',
    'attention at word 3 set by hand', 'a given sentence scored', 'clip played backwards'."""
    settings = result.settings or {}
    marks = []
    forced = settings.get("forced")
    if isinstance(forced, str) and forced:
        pairs = [item.split("=", 1) for item in forced.split(" ") if "=" in item]
        marks += [f"word {n} forced to \u201c{w}\u201d" for n, w in pairs] or [f"forced {forced}"]
    at = settings.get("intervened")
    if isinstance(at, str) and at:
        word = intervened_word(result)
        marks.append(f"attention at word {word} set by hand" if word is not None else f"attention set by hand at {at}")
    if settings.get("target"):
        marks.append("a given sentence scored, not the model's own")
    if settings.get("reversed"):
        marks.append(BACKWARDS)
    return marks


def whatif_note(result: Result) -> str | None:
    """The marks as one line ('word 3 forced to “triangle”; ...'); None for a plain result."""
    return "; ".join(whatif_marks(result)) or None


def marked(text: str, result: Result, leave_out: str | None = None) -> str:
    """`text` with each of the result's what-if marks it does not say yet added (but `leave_out`)."""
    for mark in whatif_marks(result):
        text = text if mark in text or mark == leave_out else f"{text}, {mark}"
    return text


def titled(result: Result, title: str | None = None) -> str:
    """A figure's default title: the model and decoding (or `title`), a transformer's lens, and what
    a what-if or reversed run changed (such a result never passes for the model's own reading)."""
    text = title or result.title
    lens = lens_label(result)
    text = f"{text}, {lens}" if lens and lens not in text else text
    text = marked(text, result)
    cut = result.best.cut if result.hypotheses else None
    return f"{text}; {cut}" if cut and cut not in text else text
