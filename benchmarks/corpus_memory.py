"""Memory of a translation corpus read for training: interned tokens and int32 id arrays against
the representation before them (every word its own string, lists of words and of Python ints).

    python benchmarks/corpus_memory.py [--pairs N] [--words W] [--vocab V] [--repeats R]

A TSV of N generated pairs (default 200,000) is written to a temporary folder: each side about W
words (default 25, as WMT's English-German has), drawn from its own V-word vocabulary (default
50,000) with Zipf's law, and a full stop. Each measurement runs in a fresh process, which reports
the growth of its peak resident memory (ru_maxrss) over what its imports took, the memory it still
holds at the end, and the seconds: (a) reading the file (data/corpus.read_pairs), (b) building the
translation task (training/text_corpus.TranslationCorpusTask, a tiny model: the corpus is what is
measured). "before" runs the same code with interning off, the old Item (no slots) and a task that
keeps its training items, each pair's words as a list of strings and its ids as a list of ints;
"after" is the code as it is. Both must give the task the very same ids. The figures per 100k pairs
are extrapolated linearly to 4.5 M pairs (WMT'14 English-German).
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

SEED = 14
WMT_PAIRS = 4_500_000
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]  # 70: word i spells i in base 70


def word(i: int) -> str:
    out = SYLLABLES[i % 70]
    while i >= 70:
        i = i // 70 - 1
        out = SYLLABLES[i % 70] + out
    return out


def write_pairs(folder: Path, n: int, words: int, vocab: int) -> Path:
    """pairs.tsv: n lines of two sentences of about `words` Zipf-drawn words and a full stop."""
    rng = np.random.default_rng(SEED)
    cumulative = np.cumsum(1.0 / np.arange(1, vocab + 1))
    cumulative /= cumulative[-1]
    sides = []
    for prefix in ("", "o"):  # two languages: the target's words all start with "o"
        names = np.array([prefix + word(i) for i in range(vocab)], dtype=object)
        lengths = rng.integers(words // 2, words * 3 // 2 + 1, n)
        drawn = names[np.minimum(np.searchsorted(cumulative, rng.random(int(lengths.sum()))), vocab - 1)]
        ends = np.cumsum(lengths)
        sides.append([" ".join(drawn[e - k : e]) + " ." for e, k in zip(ends, lengths)])
    path = folder / "pairs.tsv"
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(f"{s}\t{t}\n" for s, t in zip(*sides))
    return path


# --- one measurement (a child process) ---------------------------------------------------------

def rss_mb() -> float:
    """The resident memory now (Linux: /proc/self/statm), in MB."""
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux gives KB


def old_representation() -> type:
    """Switch the reader back to what it was (no interning, items with a __dict__) and give the task
    that kept its training items and their words and ids as lists."""
    from attnviewer.data import corpus, readers
    from attnviewer.training.corpus_splits import reference_examples
    from attnviewer.training.text_corpus import TranslationCorpusTask

    @dataclass(frozen=True)
    class Item:  # corpus.Item before slots
        id: str
        source: str
        references: tuple

    corpus.intern = lambda s: s
    readers.Item = Item

    class ListsTask(TranslationCorpusTask):  # its sources and targets: its sources and reference_ids then
        def encode(self, train):
            self.train, self.examples = train, reference_examples(train)
            return ([item.source.split() for item in train],
                    [[self.model.encode_text(" ".join(ref)) for ref in item.references] for item in train])

    return ListsTask


def ids_digest(sources, targets) -> str:
    """The same for both designs when they hold the same ids."""
    h = hashlib.sha1()
    for seqs in (sources, targets):
        for seq in seqs:
            h.update(np.asarray(seq, dtype=np.int32).tobytes() + b"|")
    return h.hexdigest()


def child(what: str, design: str, path: str) -> dict:
    from attnviewer.data.corpus import read_pairs
    from attnviewer.training.text_corpus import TranslateCorpusSettings, TranslationCorpusTask

    task_type = old_representation() if design == "before" else TranslationCorpusTask
    gc.collect()
    start_peak, start_rss, t0 = peak_mb(), rss_mb(), time.perf_counter()
    if what == "reader":
        held = read_pairs(Path(path))
    else:
        held = task_type(TranslateCorpusSettings(path, hidden_dim=8, embed_dim=8), log=lambda line: None)
    seconds = time.perf_counter() - t0
    gc.collect()
    out = {"peak": peak_mb() - start_peak, "held": rss_mb() - start_rss, "seconds": seconds}
    if what == "task":
        sources, targets = held.sources, held.targets
        if design == "before":  # words, and ids by reference
            sources, targets = map(held.model.encode_source, sources), [refs[0] for refs in targets]
        out["ids"] = ids_digest(sources, targets)
    return out


# --- the parent ----------------------------------------------------------------------------------

def measure(what: str, design: str, path: Path) -> dict:
    run = subprocess.run([sys.executable, __file__, "--child", what, design, str(path)], capture_output=True,
                         text=True)
    if run.returncode != 0:
        raise SystemExit(f"{what} ({design}) failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=200_000)
    p.add_argument("--words", type=int, default=25, help="mean words a side (default 25)")
    p.add_argument("--vocab", type=int, default=50_000, help="distinct words a side (default 50,000)")
    p.add_argument("--repeats", type=int, default=1, help="runs of each measurement, alternated; the least kept")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    if args.pairs < 100 or args.words < 2 or args.vocab < 10:
        p.error("at least 100 pairs, 2 words a side and 10 distinct words")
    with tempfile.TemporaryDirectory() as tmp:
        path = write_pairs(Path(tmp), args.pairs, args.words, args.vocab)
        mb = path.stat().st_size / 2 ** 20
        print(f"{args.pairs:,} pairs, about {args.words} words and a full stop a side, {args.vocab:,} distinct "
              f"words a side (Zipf); the file: {mb:.1f} MB", flush=True)
        results: dict[tuple[str, str], dict] = {}
        for _ in range(args.repeats):
            for what in ("reader", "task"):
                for design in ("before", "after"):
                    r = measure(what, design, path)
                    best = results.setdefault((what, design), r)
                    for key in ("peak", "held", "seconds"):
                        best[key] = min(best[key], r[key])
    per = 100_000 / args.pairs
    print(f"\n{'':34}{'before':>12}{'after':>12}{'before/after':>14}")
    for what, label in (("reader", "(a) read_pairs"), ("task", "(b) TranslationCorpusTask")):
        before, after = results[what, "before"], results[what, "after"]
        print(label)
        for key, name, unit in (("peak", "peak MB per 100k pairs", per), ("held", "held MB per 100k pairs", per),
                                ("seconds", "seconds per 100k pairs", per)):
            b, a = before[key] * unit, after[key] * unit
            print(f"  {name:32}{b:12.1f}{a:12.1f}{b / a if a > 0 else float('nan'):13.1f}x")
    scale = WMT_PAIRS / args.pairs / 1024
    before, after = results["task", "before"], results["task", "after"]
    print(f"\nextrapolated to {WMT_PAIRS / 1e6:.1f} M pairs (building the task): peak "
          f"{before['peak'] * scale:.1f} GB before, {after['peak'] * scale:.1f} GB after; held "
          f"{before['held'] * scale:.1f} GB before, {after['held'] * scale:.1f} GB after")
    print(f"same training ids in both designs: {'yes' if before['ids'] == after['ids'] else 'NO'}")
    print(f"the arrays take less at their peak: {'yes' if after['peak'] < before['peak'] else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
