"""Decoding settings: a plain dataclass (no torch) so the window can build and check them."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import SettingsError

METHODS = ("greedy", "beam", "sample")


@dataclass
class DecodeSettings:
    method: str = "beam"
    beam: int = 3
    temperature: float = 1.0
    top_k: int = 0  # sampling: keep only the k most likely words (0 keeps all)
    max_len: int | None = None  # None: the model's own limit
    length_penalty: float | None = None  # beam: rank by log_prob / length ** this; None: the model's own (1)
    alternatives: int = 5  # how many top words to record per step
    seed: int | None = None  # sampling seed, for reproducible samples
    sample_attention: bool = False  # hard-attention models: sample the attended location
    shrink_beam: bool = False  # beam: an ended hypothesis narrows the beam (the SAT tutorial's search)
    min_len: int = 0  # the end is not chosen before this many words
    no_repeat_ngram: int = 0  # no run of this many words twice in one output (0: off)

    def validate(self) -> "DecodeSettings":
        if self.method not in METHODS:
            raise SettingsError(f"unknown decoding method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.method == "beam" and self.beam < 1:
            raise SettingsError(f"beam width must be at least 1, got {self.beam}")
        if self.method == "sample" and not self.temperature > 0:
            raise SettingsError(f"sampling temperature must be above 0, got {self.temperature}")
        if self.top_k < 0:
            raise SettingsError(f"top-k must be 0 (off) or more, got {self.top_k}")
        if self.length_penalty is not None and not abs(self.length_penalty) <= 1000:  # (NaN fails this too)
            raise SettingsError(f"length penalty must be a number from -1000 to 1000, got {self.length_penalty}")
        if self.max_len is not None and self.max_len < 1:
            raise SettingsError(f"maximum length must be at least 1, got {self.max_len}")
        if not 0 <= self.min_len <= 10_000:
            raise SettingsError(f"minimum length must be 0 (off) to 10000 words, got {self.min_len}")
        if not 0 <= self.no_repeat_ngram <= 100:
            raise SettingsError(f"no-repeat n-gram size must be 0 (off) to 100 words, got {self.no_repeat_ngram}")
        return self

    def describe(self) -> str:
        if self.method == "beam":
            return f"beam {self.beam}"
        if self.method == "sample":
            return f"sample T={self.temperature:g}" + (f" top-{self.top_k}" if self.top_k else "")
        return "greedy"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DecodeSettings":
        """From a saved result's settings, which also hold keys of their own (the device)."""
        known = set(cls.__dataclass_fields__)
        try:
            return cls(**{k: v for k, v in d.items() if k in known})
        except TypeError:
            return cls(method=str(d.get("method", "greedy")))
