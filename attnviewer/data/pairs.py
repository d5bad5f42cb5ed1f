"""A generated language pair with known word alignments, for checking a translator's attention.

The source is English-like: subject, verb, object, then 0-2 prepositional phrases, adjectives
before their noun. The target reorders and inflects it the way real pairs do:
- subject, object and phrases first, the verb last (SOV); postpositions instead of prepositions;
- adjectives after the noun, each followed by an agreement-suffix token (=o =a =os =as);
- determiners agree with their noun's gender and number;
- one-to-many: a past verb becomes an auxiliary and a participle ("saw" -> "ha vidato");
- many-to-one: "will" + verb becomes one future form ("will see" -> "vidra").

Every target word carries its gold links: sure links (the source word it translates) and
possible links (an agreement suffix to the noun it agrees with). Alignment error rate is scored
against them. Pair i of a seed is the same whatever else is generated: it draws from its own stream.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# source noun -> (target stem, gender); the plural adds -s in the source and -i in the target
NOUNS = {
    "dog": ("hund", "m"), "cat": ("gata", "f"), "bird": ("vogel", "m"), "horse": ("kaval", "m"),
    "house": ("kasa", "f"), "garden": ("jardin", "m"), "river": ("riva", "f"), "tree": ("arbor", "m"),
    "car": ("karo", "m"), "table": ("mesa", "f"), "child": ("nino", "m"), "woman": ("dama", "f"),
    "man": ("homo", "m"), "book": ("libro", "m"), "city": ("urba", "f"), "boat": ("barka", "f"),
    "field": ("kampo", "m"), "window": ("fenestra", "f"), "teacher": ("magistro", "m"), "girl": ("pika", "f"),
}
SOURCE_PLURALS = {"child": "children", "woman": "women", "man": "men", "city": "cities"}
ADJECTIVES = {
    "big": "grand", "small": "pikol", "red": "roj", "old": "vek", "young": "jun", "green": "verd",
    "happy": "felik", "dark": "skur", "quiet": "kalm", "tall": "alt", "blue": "azur", "strange": "strani",
}
# source verb: (3rd person singular present, past), target stem
VERBS = {
    "see": ("sees", "saw", "vid"), "find": ("finds", "found", "trov"), "follow": ("follows", "followed", "segu"),
    "like": ("likes", "liked", "am"), "paint": ("paints", "painted", "pint"), "watch": ("watches", "watched", "mir"),
    "carry": ("carries", "carried", "port"), "visit": ("visits", "visited", "vizit"),
    "call": ("calls", "called", "klam"), "help": ("helps", "helped", "ayud"),
}
PREPOSITIONS = {"in": "ni", "on": "ue", "near": "bei", "with": "kon", "under": "sota", "behind": "tras"}
DETERMINERS = {  # (definite, gender, plural) -> target
    (True, "m", False): "lo", (True, "f", False): "la", (True, "m", True): "los", (True, "f", True): "las",
    (False, "m", False): "un", (False, "f", False): "una", (False, "m", True): "unos", (False, "f", True): "unas",
}
SUFFIXES = {("m", False): "=o", ("f", False): "=a", ("m", True): "=os", ("f", True): "=as"}
TENSES = ("present", "past", "future")
ROLES = ("determiner", "noun", "adjective", "suffix", "postposition", "verb")
DATA_VERSION = 1


@dataclass
class Pair:
    source: list[str]
    target: list[str]
    sure: list[list[int]]  # per target word: the source positions it translates
    possible: list[list[int]] = field(default_factory=list)  # per target word: extra acceptable links
    roles: list[str] = field(default_factory=list)  # per target word: one of ROLES

    @property
    def source_text(self) -> str:
        return " ".join(self.source)

    @property
    def target_text(self) -> str:
        return " ".join(self.target)


class _Builder:
    """Grows a pair left to right in the source, recording the target pieces with their links."""

    def __init__(self):
        self.source: list[str] = []

    def word(self, w: str) -> int:
        self.source.append(w)
        return len(self.source) - 1


def _noun_phrase(b: _Builder, rng: np.random.Generator, max_adjectives: int = 2) -> tuple[list, bool]:
    """Source words of a determiner, adjectives and a noun; returns the target words with links."""
    noun = str(rng.choice(list(NOUNS)))
    stem, gender = NOUNS[noun]
    plural = bool(rng.random() < 0.3)
    definite = bool(rng.random() < 0.6)
    det = b.word("the" if definite else ("some" if plural else "a"))
    adjectives = [str(a) for a in rng.choice(list(ADJECTIVES), size=rng.integers(0, max_adjectives + 1), replace=False)]
    adj_pos = [b.word(a) for a in adjectives]
    n = b.word(SOURCE_PLURALS.get(noun, noun + "s") if plural else noun)
    out = [(DETERMINERS[definite, gender, plural], [det], [], "determiner"),
           (stem + ("i" if plural else ""), [n], [], "noun")]
    for a, p in zip(adjectives, adj_pos):
        out += [(ADJECTIVES[a], [p], [], "adjective"), (SUFFIXES[gender, plural], [p], [n], "suffix")]
    return out, plural


def make_pair(rng: np.random.Generator) -> Pair:
    b = _Builder()
    subject, subject_plural = _noun_phrase(b, rng)
    verb = str(rng.choice(list(VERBS)))
    present, past, stem = VERBS[verb]
    tense = TENSES[int(rng.integers(len(TENSES)))]
    ending = "n" if subject_plural else ""
    if tense == "present":
        v = b.word(verb if subject_plural else present)
        verb_words = [(stem + "e" + ending, [v], [], "verb")]
    elif tense == "past":  # one source word, two target words
        v = b.word(past)
        verb_words = [("ha" + ending, [v], [], "verb"), (stem + "ato", [v], [], "verb")]
    else:  # two source words, one target word
        will, v = b.word("will"), b.word(verb)
        verb_words = [(stem + "ra" + ending, [will, v], [], "verb")]
    obj, _ = _noun_phrase(b, rng)
    phrases = []
    for _ in range(int(rng.choice(3, p=(0.4, 0.35, 0.25)))):
        prep = str(rng.choice(list(PREPOSITIONS)))
        p = b.word(prep)
        np_words, _ = _noun_phrase(b, rng, max_adjectives=1)
        phrases += np_words + [(PREPOSITIONS[prep], [p], [], "postposition")]
    target = subject + obj + phrases + verb_words
    words, sure, possible, roles = (list(column) for column in zip(*target))
    return Pair(b.source, words, sure, possible, roles)


def generate_pairs(n: int, seed: int = 0) -> list[Pair]:
    """n pairs; pair i depends only on (seed, i)."""
    return [make_pair(np.random.default_rng([seed, i, DATA_VERSION])) for i in range(n)]


def vocabularies() -> tuple[list[str], list[str]]:
    """Every source and target word the generator can produce (not only those drawn), sorted."""
    src = set(PREPOSITIONS) | set(ADJECTIVES) | {"the", "a", "some", "will"}
    tgt = set(PREPOSITIONS.values()) | set(ADJECTIVES.values()) | set(DETERMINERS.values()) | set(SUFFIXES.values())
    for noun, (stem, _) in NOUNS.items():
        src |= {noun, SOURCE_PLURALS.get(noun, noun + "s")}
        tgt |= {stem, stem + "i"}
    for verb, (present, past, stem) in VERBS.items():
        src |= {verb, present, past}
        tgt |= {stem + "e", stem + "en", stem + "ato", stem + "ra", stem + "ran"}
    tgt |= {"ha", "han"}
    return sorted(src), sorted(tgt)
