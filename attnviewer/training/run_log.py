"""The record of a training run as it goes: every step's loss and rate, every validation's figures.

- a CSV next to the checkpoint (log_path: m.safetensors -> m.log.csv), one row a figure:
  step, epoch, split (train or val), name, value (tidy: any plotting tool reads it, and a task's
  figures need no fixed columns). A resumed run keeps the rows up to the step it resumes from
  and drops the rest (they are trained again), so the file tells the run as if it never stopped;
- TensorBoard event files with --tensorboard DIR (torch.utils.tensorboard, which needs the
  tensorboard package: a missing one is one line); a resumed run purges the events after its step;
- with --plot, a figure written at the end (curves_path: m.curves.png) from the CSV: the training
  loss and the validation figures against the step (curves.py).
Only rank 0 writes. A run that fails (an exception, not a stop) before it wrote a model or a
training state removes its CSV: a failed run leaves nothing beside --out.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from ..errors import SettingsError
from ..files import atomic_path

FIELDS = ("step", "epoch", "split", "name", "value")


def log_path(out: str | Path) -> Path:
    return Path(str(out).removesuffix(".safetensors") + ".log.csv")


def curves_path(out: str | Path) -> Path:
    return Path(str(out).removesuffix(".safetensors") + ".curves.png")


def summary_writer(folder: str | None, purge_step: int | None, check_only: bool = False):
    """A TensorBoard writer (None with check_only), or SettingsError when the tensorboard package
    is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise SettingsError("--tensorboard needs the tensorboard package: pip install 'attnviewer[training]'") from None
    return None if check_only else SummaryWriter(folder, purge_step=purge_step)


class RunLog:
    def __init__(self, out: str | Path, start_step: int, resume: bool, tensorboard: str | None = None,
                 enabled: bool = True):
        self.path, self.enabled = log_path(out), enabled
        self.file = self.writer = None
        if not enabled:
            return
        kept = _rows_up_to(self.path, start_step) if resume else []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp:  # the rows of the steps trained again are dropped
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(FIELDS)
                w.writerows(kept)
        self.file = open(self.path, "a", newline="", encoding="utf-8")
        self.csv = csv.writer(self.file)
        if tensorboard:
            self.writer = summary_writer(tensorboard, start_step + 1 if resume else None)

    def step(self, step: int, epoch: int, loss: float, lr: float) -> None:
        if not self.enabled:
            return
        self._row(step, epoch, "train", "loss", loss)
        self._row(step, epoch, "train", "lr", lr)
        if step % 50 == 0:
            self.file.flush()

    def validation(self, step: int, epoch: int, figures: dict[str, float | None], split: str = "val") -> None:
        """split "val", or "val at stop" for the validation at a stop, which selects nothing."""
        if not self.enabled:
            return
        for name, value in figures.items():
            self._row(step, epoch, split, name, value)
        self.file.flush()
        if self.writer is not None:
            self.writer.flush()

    def _row(self, step: int, epoch: int, split: str, name: str, value: float | None) -> None:
        self.csv.writerow((step, epoch, split, name, "" if value is None else repr(float(value))))
        if self.writer is not None and value is not None and math.isfinite(value):
            self.writer.add_scalar(f"{split}/{name}", value, step)

    def close(self, discard: bool = False) -> None:
        """discard: remove the CSV too (a failed run that leaves nothing else)."""
        if self.file is not None:
            self.file.close()
            self.file = None
            if discard:
                self.path.unlink(missing_ok=True)
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def read_log(path: str | Path) -> list[dict]:
    """The CSV's rows as dicts, step and epoch as int and value as float (None where empty)."""
    with open(path, newline="", encoding="utf-8") as f:
        return [dict(row, step=int(row["step"]), epoch=int(row["epoch"]),
                     value=float(row["value"]) if row["value"] else None) for row in csv.DictReader(f)]


def _rows_up_to(path: Path, step: int) -> list[tuple]:
    if not path.is_file():
        return []
    try:
        return [tuple(row[k] if k not in ("value",) else ("" if row[k] is None else repr(row[k])) for k in FIELDS)
                for row in read_log(path) if row["step"] <= step]
    except (OSError, ValueError, KeyError, TypeError, csv.Error):  # a damaged log: started afresh, not fatal
        return []
