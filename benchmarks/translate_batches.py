"""Batches grouped by length against random batches, training the translator on sentence pairs of
mixed lengths (training/loop.epoch_order; the text task gives its examples' source lengths).

    python benchmarks/translate_batches.py [--pairs N] [--steps S] [--repeats R] [--batch B]
        [--hidden H] [--device cpu|cuda]

A TSV of N pairs is written to a temporary folder: each line joins 1 to 4 pairs of the project's
generated language pair (data/pairs.py) with "and", so sources run from about 5 to 60 words, as in
real corpora. Both pipelines build the same translator (same seed, same weights) and train it
through the same loop on the same corpus and the same (seed, epoch) draw; one gets its batches
grouped by source length, the other random batches (its task gives no lengths). Reported: the
loop's examples per second over its training steps (validation excluded; the best of alternated
runs of one whole epoch, so that both train on the very same examples, or of --steps steps), and
the share of padding in the sources and in the targets (the decoder's steps after <end>) of the
batches trained on. Only the ratios compare across machines.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from attnviewer.data.pairs import generate_pairs  # noqa: E402
from attnviewer.training.loop import LoopSettings, fit  # noqa: E402
from attnviewer.training.text_corpus import TranslateCorpusSettings, TranslationCorpusTask  # noqa: E402

SEED = 5
MAX_JOINED = 4  # pairs joined into one line at most


def write_pairs(folder: Path, n: int) -> Path:
    """pairs.tsv: n lines, line i joining 1 to MAX_JOINED generated pairs (drawn from (SEED, i))."""
    pairs = iter(generate_pairs(n * MAX_JOINED, SEED))
    rng = np.random.default_rng(SEED)
    lines = []
    for _ in range(n):
        parts = [next(pairs) for _ in range(int(rng.integers(1, MAX_JOINED + 1)))]
        sides = [" and ".join(" ".join(getattr(p, side)) for p in parts) for side in ("source", "target")]
        lines.append("\t".join(sides))
    path = folder / "pairs.tsv"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


class Counted(TranslationCorpusTask):
    """The text task, counting the padding of the batches it hands the loop; grouped=False hides
    its lengths, so the loop draws random batches."""

    grouped = True

    def lengths(self):
        return super().lengths() if self.grouped else None

    def batch(self, indices, device):
        b = super().batch(indices, device)
        targets = b["targets"][:, 1:]  # what the decoder predicts: every <pad> there is a wasted step
        for side, cells, pads in (("source", b["source"].numel(), b["source"].numel() - int(b["lengths"].sum())),
                                  ("target", targets.numel(), int((targets == self.model.pad_id).sum()))):
            self.cells[side] = self.cells.get(side, 0) + cells
            self.pads[side] = self.pads.get(side, 0) + pads
        return b


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=2000)
    p.add_argument("--steps", type=int, default=0, help="training steps timed per run (default 0: one whole epoch)")
    p.add_argument("--repeats", type=int, default=2, help="runs of each pipeline, alternated (default 2)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--hidden", type=int, default=256, help="translator size (default 256, train translate --data's)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    names = {True: "grouped by source length", False: "random"}
    rates: dict[bool, list[float]] = {True: [], False: []}
    padding: dict[bool, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = write_pairs(tmp, args.pairs)
        settings = TranslateCorpusSettings(str(data), min_count=1, max_source_len=60, max_target_len=80,
                                           val_size=16, hidden_dim=args.hidden)
        quiet = lambda line: None  # noqa: E731
        loop = dict(epochs=1, batch_size=args.batch, device=args.device, patience=0, val_every=10**9,
                    save_every=10**9, max_steps=args.steps or None)
        for r in range(args.repeats):  # alternated, the best of each kept: the least disturbed by other work
            for grouped in (False, True):
                task = Counted(settings, log=quiet)  # fresh: the same initial weights every run
                task.grouped, task.cells, task.pads = grouped, {}, {}
                out = tmp / f"{grouped}-{r}.safetensors"
                rates[grouped].append(fit(task, LoopSettings(out=str(out), **loop), log=quiet)["examples_per_second"])
                padding[grouped] = {side: task.pads[side] / task.cells[side] for side in task.cells}
        lengths = task.lengths()
    best = {grouped: max(r) for grouped, r in rates.items()}
    print(f"{len(lengths)} training pairs, sources of {min(lengths)} to {max(lengths)} words (mean "
          f"{np.mean(lengths):.1f}); translator {args.hidden}, batch {args.batch}, "
          f"{f'{args.steps} steps' if args.steps else 'one epoch'}, best of "
          f"{args.repeats}, {args.device}, {torch.get_num_threads()} threads")
    print("| batches | examples/s | source padding | target padding | ratio |\n|---|---|---|---|---|")
    for grouped in (False, True):
        print(f"| {names[grouped]} | {best[grouped]:,.1f} | {padding[grouped]['source']:.1%} | "
              f"{padding[grouped]['target']:.1%} | {best[grouped] / best[False]:.2f}x |")
    less = all(padding[True][side] < padding[False][side] for side in ("source", "target"))
    print(f"\ngrouped batches train {best[True] / best[False]:.2f}x as fast; they pad less: {'yes' if less else 'NO'}")
    return 0 if less else 1


if __name__ == "__main__":
    sys.exit(main())
