"""Memory of a translation corpus made ready for training, against its size: the training pairs
streamed to word ids on the disk (training/pair_arrays.py, what `train translate --data` does)
against the whole corpus read into memory (read_pairs and int32 id arrays, the path before it).

    python benchmarks/corpus_memory.py [--sizes N,N,...] [--words W] [--vocab V] [--memory-up-to N]

One TSV of the largest size (default sizes 50,000, 500,000 and 5,000,000 pairs) is written to a
temporary folder, and the smaller corpora are its first lines: each side about W words (default
25, as WMT's English-German has), drawn from its own V-word vocabulary (default 50,000) with
Zipf's law, and a full stop. Each measurement runs in a fresh process, which reports the growth
of its peak resident memory (ru_maxrss: the pages of files it maps would count, it maps none)
over what its imports took, and the seconds: (disk) building the translation task
(TranslationCorpusTask, a tiny model: the corpus is what is measured) and drawing its first
epoch's order and (up to) 20 batches of 64; (memory) the reference reading of the same corpus
(pair_arrays.in_memory_pairs), for the sizes up to --memory-up-to (default: all). Both must give
the very same training ids, pair by pair (a SHA-1 of every id and length), at every size both ran.
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
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

SEED = 14
CHUNK_PAIRS = 100_000  # pairs generated at a time
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]  # 70: word i spells i in base 70


def word(i: int) -> str:
    out = SYLLABLES[i % 70]
    while i >= 70:
        i = i // 70 - 1
        out = SYLLABLES[i % 70] + out
    return out


def write_pairs(path: Path, n: int, words: int, vocab: int) -> None:
    """n lines of two sentences of about `words` Zipf-drawn words and a full stop, a chunk at a time."""
    rng = np.random.default_rng(SEED)
    cumulative = np.cumsum(1.0 / np.arange(1, vocab + 1))
    cumulative /= cumulative[-1]
    names = [np.array([prefix + word(i) for i in range(vocab)], dtype=object) for prefix in ("", "o")]
    with open(path, "w", encoding="utf-8") as f:
        for start in range(0, n, CHUNK_PAIRS):
            k = min(CHUNK_PAIRS, n - start)
            sides = []
            for side in names:  # two languages: the target's words all start with "o"
                lengths = rng.integers(words // 2, words * 3 // 2 + 1, k)
                drawn = side[np.minimum(np.searchsorted(cumulative, rng.random(int(lengths.sum()))), vocab - 1)]
                ends = np.cumsum(lengths)
                sides.append([" ".join(drawn[e - m : e]) + " ." for e, m in zip(ends, lengths)])
            f.writelines(f"{s}\t{t}\n" for s, t in zip(*sides))


def first_lines(big: Path, path: Path, n: int) -> None:
    with open(big, encoding="utf-8") as src, open(path, "w", encoding="utf-8") as dst:
        for _, line in zip(range(n), src):
            dst.write(line)


# --- one measurement (a child process) ---------------------------------------------------------

def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux gives KB


def digest(chunks, lengths) -> str:
    """The same for both paths when they hold the same ids in the same sequences."""
    h = hashlib.sha1()
    for chunk in chunks:
        h.update(np.ascontiguousarray(chunk, dtype=np.int32).tobytes())
    h.update(np.asarray(lengths, dtype=np.int64).tobytes())
    return h.hexdigest()


def child(design: str, path: str, folder: str) -> dict:
    import torch

    from attnviewer.models.translator import SOURCE_SPECIALS
    from attnviewer.training.loop import epoch_order
    from attnviewer.training.pair_arrays import in_memory_pairs
    from attnviewer.training.text_corpus import TranslateCorpusSettings, TranslationCorpusTask

    torch.set_num_threads(1)
    settings = TranslateCorpusSettings(path, hidden_dim=8, embed_dim=8)
    quiet = lambda line: None  # noqa: E731
    gc.collect()
    start_peak, t0 = peak_mb(), time.perf_counter()
    if design == "disk":
        task = TranslationCorpusTask(settings, quiet, ids_dir=folder)
        order = epoch_order(task.size(), 0, 0, 64, task.lengths())
        for b in range(min(20, len(order) // 64)):
            task.batch(order[b * 64 : (b + 1) * 64].tolist(), "cpu")
        sources, targets = task.sources, task.targets
        chunks = lambda arrays: arrays.flat_chunks()  # noqa: E731
    else:
        sources, targets, *_ = in_memory_pairs(settings, quiet, SOURCE_SPECIALS)
        chunks = lambda arrays: [arrays.ids]  # noqa: E731
    seconds = time.perf_counter() - t0
    out = {"peak": peak_mb() - start_peak, "seconds": seconds, "pairs": len(sources),
           "ids": digest([*chunks(sources), *chunks(targets)], [*sources.lengths, *targets.lengths]),
           "on_disk": sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) / 2 ** 20}
    return out


# --- the parent ----------------------------------------------------------------------------------

def measure(design: str, path: Path, folder: Path) -> dict:
    run = subprocess.run([sys.executable, __file__, "--child", design, str(path), str(folder)], capture_output=True,
                         text=True)
    if run.returncode != 0:
        raise SystemExit(f"{design} ({path.name}) failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="50000,500000,5000000", help="corpus sizes in pairs, comma-separated")
    p.add_argument("--words", type=int, default=25, help="mean words a side (default 25)")
    p.add_argument("--vocab", type=int, default=50_000, help="distinct words a side (default 50,000)")
    p.add_argument("--memory-up-to", type=int, help="read into memory only corpora up to this size (default: all)")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    try:
        sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",")})
    except ValueError:
        p.error(f"--sizes: whole numbers separated by commas, got {args.sizes!r}")
    if sizes[0] < 100 or args.words < 2 or args.vocab < 10:
        p.error("at least 100 pairs, 2 words a side and 10 distinct words")
    memory_up_to = sizes[-1] if args.memory_up_to is None else args.memory_up_to
    print(f"pairs of about {args.words} words and a full stop a side, {args.vocab:,} distinct words a side (Zipf)",
          flush=True)
    print("\n| pairs | file MB | on disk MB | peak MB, on disk | peak MB, in memory | s, on disk | s, in memory "
          "| same ids |\n|---|---|---|---|---|---|---|---|", flush=True)
    rows, same = [], True
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / f"pairs-{sizes[-1]}.tsv"
        write_pairs(big, sizes[-1], args.words, args.vocab)
        for n in sizes:
            path = big if n == sizes[-1] else Path(tmp) / f"pairs-{n}.tsv"
            if path != big:
                first_lines(big, path, n)
            folder = Path(tmp) / f"ids-{n}"
            folder.mkdir()
            disk = measure("disk", path, folder)
            memory = measure("memory", path, Path(tmp)) if n <= memory_up_to else None
            equal = memory is None or (memory["ids"] == disk["ids"] and memory["pairs"] == disk["pairs"])
            same &= equal
            rows.append((n, disk, memory))
            print(f"| {n:,} | {path.stat().st_size / 2 ** 20:.0f} | {disk['on_disk']:.0f} | {disk['peak']:.0f} | "
                  + (f"{memory['peak']:.0f} | " if memory else "not run | ")
                  + f"{disk['seconds']:.1f} | " + (f"{memory['seconds']:.1f} | " if memory else "not run | ")
                  + ("yes" if memory and equal else "NO" if memory else "not compared") + " |", flush=True)
            if path != big:
                path.unlink()
    (n0, d0, _), (n1, d1, _) = rows[0], rows[-1]
    slope = (d1["peak"] - d0["peak"]) * 2 ** 20 / max(1, n1 - n0)
    print(f"\non disk, the peak grew {d1['peak'] - d0['peak']:.0f} MB from {n0:,} to {n1:,} pairs "
          f"({slope:.1f} bytes a pair: each source's length and the epoch's order)")
    compared = [n for n, _, m in rows if m is not None]
    print(f"same training ids on disk as in memory: {'yes' if same else 'NO'} "
          f"(compared at {', '.join(f'{n:,}' for n in compared) or 'no size'} pairs)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
