"""The training pairs of a translation corpus read as they stream past and kept on disk as word
ids, so a corpus larger than memory trains: what stays in memory is the validation pairs (at most
val_size), one string per distinct word, and 4 bytes a pair (each source's length, to batch
similar lengths together).

One pass over the file(s) tokenises each pair, gives every training word a provisional id (in
order of first appearance) and appends the ids to flat int32 files; the words' counts are then
taken from those files, the vocabularies built from them (Vocabulary.from_counts), and the
provisional ids turned into the model's ids in place, a chunk at a time. The result equals what
reading the whole corpus into memory gives (read_pairs, train_and_val, too_long, IdArrays): the
same pairs, ids, vocabularies, validation pairs and counted problems; a test holds them equal.

Where: a temporary folder `.NAME.ids-XXXXXXXX` beside the model (--out's folder: the same disk
the model goes to, not /tmp, which is often small or held in memory), made anew from the data at
every start and removed when the run ends, however it ends (an error, Ctrl-C, SIGTERM; only a
SIGKILL leaves it, to be deleted by hand); so it is never stale when the data change and never
read again half-written. A full disk while writing it is one line (OutputError)
and the folder is removed. Each rank under torchrun writes its own.

The files are read with seek and read, not mapped: the pages of a mapped file count as the
process's resident memory as they are touched, and an epoch touches them all.
"""
from __future__ import annotations

import shutil
import signal
import tempfile
import threading
import weakref
from array import array
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Callable

import numpy as np

from ..data.corpus import END, SPLITS, START, UNK, Item, Problems, Vocabulary
from ..errors import DataError, OutputError, printable
from ..files import write_problem
from .corpus_splits import HELD_OUT_EVERY

BUFFER_IDS = 1 << 18  # ids gathered before a write (1 MB)
CHUNK_IDS = 1 << 20  # ids counted or renumbered at a time (4 MB)


class IdWriter:
    """Appends id sequences to NAME.ids (int32, flat), NAME.ends (int64: where each sequence ends)
    and NAME.lengths (int32) in `folder`, through small buffers."""

    def __init__(self, folder: Path, name: str):
        self.paths = [folder / f"{name}.{part}" for part in ("ids", "ends", "lengths")]
        self.files = [open(p, "wb") for p in self.paths]
        self.bufs = [array("i"), array("q"), array("i")]
        self.total = self.count = 0

    def add(self, seq: list[int]) -> None:
        ids, ends, lengths = self.bufs
        ids.extend(seq)
        self.total += len(seq)
        self.count += 1
        ends.append(self.total)
        lengths.append(len(seq))
        if len(ids) >= BUFFER_IDS or len(ends) >= BUFFER_IDS:
            self.flush()

    def flush(self) -> None:
        for f, buf in zip(self.files, self.bufs):
            buf.tofile(f)
            del buf[:]

    def close(self) -> None:
        try:
            self.flush()
        finally:
            for f in self.files:
                f.close()


def _chunks(path: Path, mode: str = "rb"):
    """(file, offset in ids, chunk) over an int32 file, CHUNK_IDS at a time."""
    with open(path, mode) as f:
        at = 0
        while True:
            chunk = np.fromfile(f, dtype=np.int32, count=CHUNK_IDS)
            if not chunk.size:
                return
            yield f, at, chunk
            at += chunk.size


def count_ids(path: Path, n: int) -> np.ndarray:
    """How often each id 0..n-1 occurs in an int32 file."""
    counts = np.zeros(n, dtype=np.int64)
    for _, _, chunk in _chunks(path):
        counts += np.bincount(chunk, minlength=n)
    return counts


def renumber(path: Path, table: np.ndarray) -> None:
    """Every id k of an int32 file becomes table[k], in place."""
    for f, at, chunk in _chunks(path, "r+b"):
        f.seek(4 * at)
        table[chunk].astype(np.int32).tofile(f)


class DiskIdArrays:
    """Id sequences written by IdWriter: `arrays[k]` is sequence k (read from the disk), `lengths`
    every sequence's length (in memory, int32)."""

    def __init__(self, folder: Path, name: str):
        self.ids_path, self.ends_path = folder / f"{name}.ids", folder / f"{name}.ends"
        self.lengths = np.fromfile(folder / f"{name}.lengths", dtype=np.int32)
        self._ids = open(self.ids_path, "rb", buffering=0)
        self._ends = open(self.ends_path, "rb", buffering=0)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, k: int) -> np.ndarray:
        k = int(k)
        if not 0 <= k < len(self):
            raise IndexError(k)
        if k:
            self._ends.seek(8 * (k - 1))
            start = int(np.frombuffer(self._ends.read(8), dtype=np.int64)[0])
        else:
            start = 0
        n = int(self.lengths[k])
        self._ids.seek(4 * start)
        return np.frombuffer(self._ids.read(4 * n), dtype=np.int32)

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    @property
    def nbytes(self) -> int:
        """What the sequences take in memory (their lengths; the ids stay on the disk)."""
        return self.lengths.nbytes

    def flat_chunks(self):
        """The ids of every sequence, end to end, a chunk at a time (to compare or digest them)."""
        return (chunk for _, _, chunk in _chunks(self.ids_path))

    def close(self) -> None:
        self._ids.close()
        self._ends.close()


@dataclass
class TrainingPairs:
    """What streaming a corpus gives the translation task."""
    sources: DiskIdArrays
    targets: DiskIdArrays  # <start> ... <end>
    val: list[Item]  # the first val_size validation pairs within the limits, with their words
    problems: Problems
    source_vocab: Vocabulary
    target_vocab: Vocabulary
    folder: Path

    def __post_init__(self) -> None:  # the files go with these pairs, at the latest when the process ends
        self._gone = weakref.finalize(self, _remove, self.folder, (self.sources, self.targets))

    def close(self) -> None:
        self._gone()


def _remove(folder: Path, arrays=()) -> None:
    for a in arrays:
        a.close()
    shutil.rmtree(folder, ignore_errors=True)


def has_val_split(path: Path) -> bool:
    """Whether the corpus has a validation pair: its folder's val file holds one, or one of its
    file's pairs hashes to val (the first found ends the look, a few dozen pairs in)."""
    from ..data.readers import _pair_items, pair_files

    return any(split in (None, "val") and any(sp == "val" for sp, _ in _pair_items(f, Problems(), split, label))
               for split, f, label in pair_files(path))


def merged(*parts: Problems) -> Problems:
    out = Problems()
    for p in parts:
        for kind, n in p.counts.items():
            out.counts[kind] = out.counts.get(kind, 0) + n
            out.examples.setdefault(kind, []).extend(p.examples[kind])
    return out


def read_training_pairs(s, folder: str | Path | None, log: Callable[[str], None],
                        source_specials) -> TrainingPairs:
    """Stream the corpus of settings `s` (TranslateCorpusSettings) into id files in a temporary
    folder made in `folder` (None: the system's temporary folder); see the module docstring."""
    if folder is not None:  # --out's folder may be made only when the model is written: its nearest existing one
        folder = next((f for f in (Path(folder), *Path(folder).absolute().parents) if f.is_dir()), Path(folder))
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{Path(s.data).name}.ids-", dir=folder))
    except OSError as e:
        raise OutputError(write_problem(Path(folder or tempfile.gettempdir()), e)) from None
    try:
        with _terminated_as_exit():
            return _read(s, tmp, log, source_specials)
    except OSError as e:
        _remove(tmp)
        raise OutputError(write_problem(tmp, e).replace("cannot write", "cannot write the training pairs' word ids",
                                                        1)) from None
    except BaseException:
        _remove(tmp)
        raise


@contextmanager
def _terminated_as_exit():
    """SIGTERM while the corpus is read exits through Python (status 143), so the folder is removed
    (the loop's own handler takes over once training starts)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _read(s, folder: Path, log, source_specials) -> TrainingPairs:
    from ..data.readers import pair_stream

    data = Path(s.data)
    holdout = not has_val_split(data)
    reader, long_train, long_val = Problems(), Problems(), Problems()
    # provisional ids in order of first appearance; a missing word gets the next (a C-level call)
    source_ids: dict[str, int] = defaultdict(count().__next__)
    target_ids: dict[str, int] = defaultdict(count(2).__next__, {START: 0, END: 1})
    sources, targets = IdWriter(folder, "source"), IdWriter(folder, "target")
    val: list[Item] = []
    seen_splits: set[str] = set()
    n_train = n_held = 0
    pending: Item | None = None  # with hold-out, the last training pair waits: it is held out if it is the only one

    def fits(item: Item, problems: Problems, split: str) -> bool:
        n_source, n_target = len(item.source.split()), max(map(len, item.references))
        if n_source > s.max_source_len or n_target > s.max_target_len:
            problems.add(f"over-long {split} pair", f"{item.id}: {n_source}/{n_target} words")
            return False
        return True

    def validation(item: Item) -> None:
        if fits(item, long_val, "validation") and len(val) < s.val_size:
            val.append(item)

    def train(item: Item) -> None:
        if fits(item, long_train, "training"):
            sources.add([source_ids[w] for w in item.source.split()])
            targets.add([0, *[target_ids[w] for w in item.references[0]], 1])

    try:
        for split, item in pair_stream(data, reader, interned=False):  # the id tables keep one string a word
            seen_splits.add(split)
            if split == "val":
                validation(item)
            elif split == "train":
                n_train += 1
                if not holdout:
                    train(item)
                elif n_train % HELD_OUT_EVERY == 0:  # every 20th, as train_and_val holds them out
                    n_held += 1
                    validation(item)
                else:
                    if pending is not None:
                        train(pending)
                    pending = item
        if holdout and pending is not None:
            if n_train < HELD_OUT_EVERY and n_train > 1:  # none held out yet: the last one is
                n_held += 1
                validation(pending)
            else:
                train(pending)
    finally:
        try:
            sources.close()
        finally:
            targets.close()

    if not seen_splits:
        why = f" ({'; '.join(reader.lines()[:2])})" if reader.total() else ""
        raise DataError(f"{printable(str(data))}: no usable item{why}")
    if not n_train:
        present = [sp for sp in SPLITS if sp in seen_splits]
        raise DataError(f"{s.data}: no training items (splits present: {', '.join(present) or 'none'})")
    if holdout:
        if n_train < 2:
            raise DataError(f"{s.data}: nothing to validate on; give a val split or at least 2 training items")
        log(f"{s.data}: no validation split; {n_held} of the training items held out for validation")
    if not sources.count:
        raise DataError(f"{s.data}: no training pair within {s.max_source_len} source and "
                        f"{s.max_target_len} target words")
    problems = merged(reader, long_train, long_val)
    vocabs = []
    for name, words, specials in (("source", source_ids, source_specials), ("target", target_ids, None)):
        counts = count_ids(folder / f"{name}.ids", len(words))
        if name == "target":
            counts[:2] -= sources.count  # the <start> and <end> every target was given
        vocab = Vocabulary.from_counts(Counter({w: int(counts[i]) for w, i in words.items() if counts[i]}),
                                       s.min_count, problems=problems,
                                       **({"specials": specials} if specials is not None else {}))
        unk = vocab.index[UNK]
        renumber(folder / f"{name}.ids", np.array([vocab.index.get(w, unk) for w in words], dtype=np.int32))
        vocabs.append(vocab)
    return TrainingPairs(DiskIdArrays(folder, "source"), DiskIdArrays(folder, "target"), val, problems,
                         vocabs[0], vocabs[1], folder)


# --- the reference: the whole corpus read into memory -----------------------------------------------

def too_long(items: list, s, problems: Problems, split: str) -> list:
    """The items within the length limits; the others are counted in `problems` by split."""
    kept = []
    for item in items:
        n_source, n_target = len(item.source.split()), max(map(len, item.references))
        if n_source > s.max_source_len or n_target > s.max_target_len:
            problems.add(f"over-long {split} pair", f"{item.id}: {n_source}/{n_target} words")
        else:
            kept.append(item)
    return kept


def in_memory_pairs(s, log: Callable[[str], None], source_specials) -> tuple:
    """What read_training_pairs gives, from the whole corpus read into memory (read_pairs,
    train_and_val, too_long, IdArrays), as the task read it before: (sources, targets, val,
    problems, source vocabulary, target vocabulary). The tests and benchmarks/corpus_memory.py
    hold the two equal."""
    from ..data.corpus import read_pairs
    from .corpus_splits import IdArrays, train_and_val

    corpus = read_pairs(Path(s.data))
    problems = corpus.problems
    train, val = train_and_val(corpus, s.data, log)
    train = too_long(train, s, problems, "training")
    val = too_long(val, s, problems, "validation")[: s.val_size]
    if not train:
        raise DataError(f"{s.data}: no training pair within {s.max_source_len} source and "
                        f"{s.max_target_len} target words")
    source = Vocabulary.build((item.source.split() for item in train), s.min_count, specials=source_specials,
                              problems=problems)
    target = Vocabulary.build((r for item in train for r in item.references), s.min_count, problems=problems)
    return (IdArrays(source.ids(item.source.split()) for item in train),
            IdArrays(target.encode(item.references[0]) for item in train), val, problems, source, target)
