"""Real datasets for training and evaluation: their items, what was skipped, and the vocabulary.

Formats (read by readers.py; the functions are re-exported here):
- Image captions, `read_image_captions(annotations, image_root)`:
  * Karpathy's split JSON (dataset_coco.json, dataset_flickr8k.json, dataset_flickr30k.json):
    {"images": [{"filepath", "filename", "split", "sentences": [{"tokens", "raw"}]}]}. The image
    is image_root / filepath / filename ("filepath" only in COCO's); its `tokens` are used as
    given (lower-cased), tokenize(raw) where they are absent; "restval" counts as train, as in
    the literature.
  * A CSV with a header naming the columns `image,caption` and optionally `split`; several rows
    per image give it several captions. The image is image_root / image.
  image_root defaults to the annotation file's folder.
- Video captions, `read_video_captions(annotations, clip_root)`: the clip of a video id is the
  file named id + one of VIDEO_SUFFIXES anywhere under clip_root (MSR-VTT ships its clips in two
  folders).
  * MSVD: a CSV `video_id,caption` (optionally `split`), or MSVD's own CSV
    (VideoID,Start,End,...,Language,Description): the id is f"{VideoID}_{Start}_{End}" and only
    English rows are kept (the other languages are skipped silently, they are no fault).
  * MSR-VTT: JSON with "videos": [{"video_id", "split": "train"|"validate"|"test"}] and
    "sentences": [{"video_id", "caption"}] ("videos" may be left out: then splits are hashed).
- Translation, `read_pairs(path)`: lines `source<TAB>target`, in one file, or in a folder holding
  train.tsv, val.tsv (or valid.tsv, dev.tsv, validation.tsv) and test.tsv. Quotation marks are
  text there, not CSV quoting (parallel corpora are written so: a sentence may open with a quote).

Splits are "train", "val" and "test". Where a file names none, an item's split follows from a hash
of its id (image name, video id) or of its tokenised source sentence: the first four bytes of
SHA-1 modulo 100, below 90 train, below 95 val, else test. The same on every machine and run, an
item keeps its split when others are added, and a repeated sentence never lands in two splits.

Tokenisation (`tokenize`): Unicode NFKC, lower-case, split on white space; each piece gives up
its leading and trailing punctuation (Unicode category P: . , ; : ! ? " ' ( ) - and the like) as
one token per mark, while marks inside a word stay ("don't", "well-known"); symbols that are not
punctuation (= + $) stay in their word. Captions drop the tokens that are only punctuation, as
Karpathy's tokens do; translation keeps them (a translator must write its commas). Tokens are
interned (sys.intern): a corpus holds one string per distinct word and its sentences point to them
(8 bytes a word instead of a ~55-byte string object; a WMT-sized corpus has 100 M target words).

Nothing in a dataset crashes a reader half-way: a missing image or clip, an empty caption, a line
with the wrong number of columns or bytes that are not UTF-8, a bad JSON entry, a duplicate id is
skipped and counted in the corpus's Problems with its first few examples. What cannot be read at
all (not JSON/CSV/TSV, over MAX_ANNOTATION_BYTES, no usable item in any split) raises a one-line
DataError. A corpus of only val or test items reads (to evaluate on); the trainers require a train split.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from sys import intern
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ..errors import DataError, SettingsError, printable

# the output vocabulary's special tokens, as models/words.py has them (data sits below models and
# may not import them; a test holds the two equal)
PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)
TASKS = ("caption", "video", "translate")
SPLITS = ("train", "val", "test")
SPLIT_NAMES = {"train": "train", "restval": "train", "val": "val", "valid": "val", "validate": "val",
               "validation": "val", "dev": "val", "test": "test"}
TRAIN_PERCENT, VAL_PERCENT = 90, 5  # hashed splits: 90 / 5 / 5
MAX_EXAMPLES = 3  # examples kept per kind of problem


@dataclass(frozen=True, slots=True)  # slots: 40 bytes less an item, 180 MB for 4.5 M pairs
class Item:
    id: str  # image file name, video id, or "line N"
    source: str  # absolute path of the image / clip, or the tokenised source sentence (translation)
    references: tuple[tuple[str, ...], ...]  # tokenised captions / target sentences (at least one, none empty)


_QUALIFIER = re.compile(r",| (?:longer|shorter|than|with|without|of|for|in|from|over|under) ")


def _plural(kind: str) -> str:
    """'missing image' -> 'missing images', 'bad JSON entry' -> 'bad JSON entries', 'caption longer
    than 50 words, cut' -> 'captions longer than 50 words, cut' (the noun before a qualifier)."""
    m = _QUALIFIER.search(kind)
    head, rest = (kind[:m.start()], kind[m.start():]) if m else (kind, "")
    if head.endswith("y") and not head.endswith(("ay", "ey", "oy")):
        return head[:-1] + "ies" + rest
    return head + ("" if head.endswith("s") else "s") + rest


@dataclass
class Problems:
    """Counted skips: per kind (a noun phrase, "missing image"), the count and the first examples."""
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, example: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        shown = self.examples.setdefault(kind, [])
        if len(shown) < MAX_EXAMPLES:
            example = printable(example)  # names come from the file: no escape codes reach a terminal
            shown.append(example if len(example) <= 60 else example[:57] + "...")

    def total(self) -> int:
        return sum(self.counts.values())

    def lines(self) -> list[str]:
        """One line per kind: '3 missing images (e.g. a.jpg, b.jpg, c.jpg)', '1 empty caption (line 7)'."""
        out = []
        for kind, n in self.counts.items():
            shown = ", ".join(self.examples[kind])
            out.append(f"1 {kind} ({shown})" if n == 1 else f"{n} {_plural(kind)} (e.g. {shown})")
        return out


@dataclass
class Corpus:
    task: str  # "caption" | "video" | "translate"
    splits: dict[str, list[Item]]  # "train", "val", "test" (those present)
    problems: Problems

    def sentences(self, split: str = "train") -> Iterator[tuple[str, ...]]:
        """Every reference of a split (what a vocabulary is built from)."""
        for item in self.splits.get(split, ()):
            yield from item.references

    def summary(self) -> str:
        """'120 items: 100 train, 10 val, 10 test; 3 problems'."""
        n = sum(len(v) for v in self.splits.values())
        parts = ", ".join(f"{len(self.splits[s])} {s}" for s in SPLITS if s in self.splits)
        skipped = self.problems.total()
        return f"{n} items: {parts}" + (f"; {skipped} problem{'s' * (skipped != 1)}" if skipped else "")


def _is_punctuation(c: str) -> bool:
    return unicodedata.category(c).startswith("P")


def tokenize(text: str, keep_punctuation: bool = False, interned: bool = True) -> list[str]:
    """Lower-case tokens with punctuation split off a word's ends; punctuation dropped unless kept
    (see the module docstring). interned=False where the words are joined again at once: interning
    costs a hash a word (a third of the reading time) and saves only what is kept."""
    word = intern if interned else str  # str() of a str is that same str
    out: list[str] = []
    for piece in unicodedata.normalize("NFKC", text).lower().split():
        if piece.isalnum():  # most words: nothing to split off
            out.append(word(piece))
            continue
        start, end = 0, len(piece)
        while start < end and _is_punctuation(piece[start]):
            start += 1
        while end > start and _is_punctuation(piece[end - 1]):
            end -= 1
        if keep_punctuation:
            out.extend(map(word, piece[:start]))
        if start < end:
            out.append(word(piece[start:end]))
        if keep_punctuation:
            out.extend(map(word, piece[end:]))
    return out


def hashed_split(key: str) -> str:
    """The split of an item whose file names none (see the module docstring)."""
    bucket = int.from_bytes(hashlib.sha1(key.encode("utf-8", "surrogateescape")).digest()[:4], "big") % 100
    return "train" if bucket < TRAIN_PERCENT else "val" if bucket < TRAIN_PERCENT + VAL_PERCENT else "test"


def make_corpus(task: str, items: Iterable[tuple[str, Item]], problems: Problems, name: str) -> Corpus:
    """A Corpus of (split, item) pairs; a DataError when no split has a usable item. A file of
    only test items is fine to evaluate on; the trainers ask for a train split themselves."""
    splits: dict[str, list[Item]] = {}
    for split, item in items:
        splits.setdefault(split, []).append(item)
    if not splits:
        why = f" ({'; '.join(problems.lines()[:2])})" if problems.total() else ""
        raise DataError(f"{printable(name)}: no usable item{why}")
    return Corpus(task, {s: splits[s] for s in SPLITS if s in splits}, problems)


WORD_MAX_CHARS = 100  # what a model file may hold (models/header.WORD_CHARS; a test holds them equal)


def model_can_hold(word: str) -> bool:
    """A word a model file's vocabulary may hold (models/header's rules): at most WORD_MAX_CHARS
    characters, no control character (C0, DEL, C1: an escape code would reach a terminal)."""
    return len(word) <= WORD_MAX_CHARS and not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in word)


@dataclass
class Vocabulary:
    """Words with their ids: the specials first, then by count (most frequent first), ties alphabetical."""
    words: list[str]
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int = 5, max_size: int | None = None,
              specials: Sequence[str] = SPECIALS, problems: "Problems | None" = None) -> "Vocabulary":
        """The words seen at least min_count times (COCO's convention is 5); max_size caps the
        whole vocabulary, specials included, keeping the most frequent words. Words a model file
        may not hold (model_can_hold) are left out, read as <unk>, and counted in `problems`;
        DataError when no word is left: such a model could only ever write <unk>."""
        return cls.from_counts(Counter(w for s in sentences for w in s), min_count, max_size, specials, problems)

    @classmethod
    def from_counts(cls, counts: dict[str, int], min_count: int = 5, max_size: int | None = None,
                    specials: Sequence[str] = SPECIALS, problems: "Problems | None" = None) -> "Vocabulary":
        """As build, from each word's count (in order of first appearance: unfit words are
        counted in that order); a corpus read as ids counts them so."""
        if min_count < 1:
            raise SettingsError(f"the minimum word count must be at least 1, got {min_count}")
        if max_size is not None and max_size < len(specials):
            raise SettingsError(f"a vocabulary needs room for its {len(specials)} special tokens, got a maximum size of {max_size}")
        counts = Counter(counts)
        for w in specials:  # a "<unk>" in the text is the special token, not a word
            counts.pop(w, None)
        for w in [w for w in counts if not model_can_hold(w)]:  # else training writes a model it cannot open
            counts.pop(w)
            if problems is not None:
                problems.add("unfit word", w)
        words = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        if max_size is not None:
            words = words[:max_size - len(specials)]
        if not words:
            raise DataError(f"no word is seen at least {min_count} times in the training text, so a model could "
                            f"only write <unk>: lower --min-count or give more data")
        return cls(list(specials) + words)

    def __len__(self) -> int:
        return len(self.words)

    def ids(self, tokens: Sequence[str]) -> list[int]:
        """Ids of the tokens; unknown words -> <unk>."""
        unk = self.index[UNK]
        return [self.index.get(t, unk) for t in tokens]

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """<start>, the tokens' ids (unknown words -> <unk>), <end>."""
        return [self.index[START]] + self.ids(tokens) + [self.index[END]]

    def coverage(self, sentences: Iterable[Sequence[str]]) -> float:
        """The share of the sentences' tokens the vocabulary knows (1.0 for no tokens)."""
        known = total = 0
        for s in sentences:
            total += len(s)
            known += sum(t in self.index and t not in SPECIALS for t in s)
        return known / total if total else 1.0


def read_image_captions(annotations: Path, image_root: Path | None = None, *, check_files: bool = True) -> Corpus:
    """Karpathy's split JSON or a CSV image,caption; check_files=False skips the one stat per image."""
    from .readers import image_captions
    return image_captions(Path(annotations), image_root, check_files=check_files)


def read_video_captions(annotations: Path, clip_root: Path, *, check_files: bool = True) -> Corpus:
    """MSVD's CSVs or MSR-VTT's JSON, with the clips under clip_root."""
    from .readers import video_captions
    return video_captions(Path(annotations), Path(clip_root), check_files=check_files)


def read_pairs(path: Path, *, check_files: bool = True) -> Corpus:
    """Tab-separated sentence pairs: one file, or a folder of train/val/test TSVs (check_files is
    accepted as by the other readers; pairs name no files)."""
    from .readers import pairs
    return pairs(Path(path))


def read_corpus(task: str, data: Path, root: Path | None = None, **opts) -> Corpus:
    """The corpus of a task: data is the annotations (the pairs for "translate"), root the images'
    or clips' folder (default: the annotations' folder)."""
    if task == "caption":
        return read_image_captions(data, root, **opts)
    if task == "video":
        return read_video_captions(data, root if root is not None else Path(data).parent, **opts)
    if task == "translate":
        return read_pairs(data, **opts)
    raise DataError(f"unknown task {printable(task)!r}: one of {', '.join(TASKS)}")
