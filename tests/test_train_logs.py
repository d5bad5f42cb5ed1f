"""What `attnviewer train ... --data` tells as it runs: progress lines on stderr with the step count
the run will stop at (--max-steps, not the end of the epochs), the CSV log beside the checkpoint
with every step's loss and every validation's figures, TensorBoard event files (--tensorboard),
and the curves figure (--plot)."""
from __future__ import annotations

import errno
import io
import os
import sys

import numpy as np
import pytest
from PIL import Image

from attnviewer import cli
from attnviewer.training import progress
from attnviewer.training.run_log import curves_path, log_path, read_log

from .corpora import pairs_tsv

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = ["--hidden-dim", "16", "--min-count", "1", "--batch-size", "4", "--epochs", "5", "--val-every", "2",
         "--max-target-len", "16"]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return pairs_tsv(tmp_path_factory.mktemp("pairs"), n_pairs=16)


def test_progress_lines_go_to_stderr_and_count_to_max_steps(pairs, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(progress, "LINE_SECONDS", 0.0)  # a line every step
    out = tmp_path / "m.safetensors"
    assert cli.main(["train", "translate", "--data", str(pairs), "--out", str(out), *SMALL, "--max-steps", "4"]) == 0
    said = capsys.readouterr()
    lines = [line for line in said.err.splitlines() if line.startswith("step ")]
    assert [line.split(":")[0] for line in lines] == ["step 1/4", "step 2/4", "step 3/4", "step 4/4"]
    assert "step 1/" not in said.out and "validation BLEU" in said.out  # stdout: what the run reports


def test_the_csv_log_holds_every_step_and_every_validation(pairs, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    assert cli.main(["train", "translate", "--data", str(pairs), "--out", str(out), *SMALL, "--max-steps", "5"]) == 0
    rows = read_log(log_path(out))
    assert log_path(out) == tmp_path / "m.log.csv"
    assert [r["step"] for r in rows if r["name"] == "loss" and r["split"] == "train"] == [1, 2, 3, 4, 5]
    assert all(r["value"] > 0 for r in rows if r["split"] == "train")
    assert [r["step"] for r in rows if r["split"] == "val" and r["name"] == "BLEU"] == [2, 4]
    assert {r["name"] for r in rows if r["split"] == "val"} == {"BLEU", "chrF", "loss"}
    assert [r["step"] for r in rows if r["split"] == "val at stop" and r["name"] == "BLEU"] == [5]


def test_tensorboard_event_files_hold_every_step(pairs, tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, board = tmp_path / "m.safetensors", tmp_path / "board"
    assert cli.main(["train", "translate", "--data", str(pairs), "--out", str(out), *SMALL, "--max-steps", "4",
                     "--tensorboard", str(board)]) == 0
    events = EventAccumulator(str(board))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3, 4]
    assert [e.step for e in events.Scalars("val/BLEU")] == [2, 4]
    csv_losses = [r["value"] for r in read_log(log_path(out)) if r["split"] == "train" and r["name"] == "loss"]
    assert np.allclose([e.value for e in events.Scalars("train/loss")], csv_losses)


def test_tensorboard_without_its_package_is_one_line(pairs, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    code = cli.main(["train", "translate", "--data", str(pairs), "--out", str(tmp_path / "m.safetensors"), *SMALL,
                     "--tensorboard", str(tmp_path / "board")])
    err = capsys.readouterr().err
    assert code == 2 and "needs the tensorboard package" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.safetensors").exists()


def test_plot_draws_the_loss_and_validation_curves(pairs, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    assert cli.main(["train", "translate", "--data", str(pairs), "--out", str(out), *SMALL, "--max-steps", "6",
                     "--plot"]) == 0
    assert f"curves in {curves_path(out)}" in capsys.readouterr().out
    with Image.open(curves_path(out)) as im:
        pixels = np.asarray(im.convert("RGB"))
    assert pixels.shape[1] > pixels.shape[0] > 300  # two panels side by side
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20  # curves, axes and text drawn, not a blank page


class _FullDisk(io.FileIO):
    """A file on a disk that fills after its first few kilobytes."""

    def write(self, data) -> int:
        if self.tell() + len(data) > 4096:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


def test_a_full_disk_while_the_loop_saves_its_state_is_one_line(pairs, tmp_path, capsys, monkeypatch):
    from attnviewer.training import resume_state

    monkeypatch.setattr(resume_state, "open", lambda path, mode: _FullDisk(path, mode.replace("b", "")),
                        raising=False)
    out = tmp_path / "m.safetensors"
    code = cli.main(["train", "translate", "--data", str(pairs), "--out", str(out), *SMALL, "--max-steps", "2",
                     "--save-every", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].endswith("state.pt: cannot write, the disk is full")
    assert [p.name for p in (tmp_path / "m.safetensors.state").iterdir()] == []  # no part left


def test_a_run_that_fails_before_writing_a_model_leaves_no_log(pairs, tmp_path, capsys, monkeypatch):
    from attnviewer.training.text_corpus import TranslationCorpusTask

    real, calls = TranslationCorpusTask.loss, []

    def loss(self, model, batch, sampling=0.0):
        calls.append(1)
        if len(calls) == 3:  # the third step: the log has rows by now
            assert log_path(out).exists()
            raise MemoryError
        return real(self, model, batch, sampling)

    monkeypatch.setattr(TranslationCorpusTask, "loss", loss)
    out = tmp_path / "m.safetensors"
    code = cli.main(["train", "translate", "--data", str(pairs), "--out", str(out), *SMALL, "--max-steps", "6"])
    assert code == 2 and "memory" in capsys.readouterr().err.strip().splitlines()[-1]
    assert len(calls) == 3 and sorted(p.name for p in tmp_path.iterdir()) == []  # no model, no state, no log
