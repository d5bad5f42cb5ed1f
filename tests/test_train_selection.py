"""Choosing and keeping the best model (training/loop.py): --select names the validation figure
(CIDEr-D for captions, BLEU for translation by default), a tie goes to the lower validation loss,
figures are printed with enough digits to see a change, and the checkpoint's record keeps every
validation unrounded. A run stopped at --max-steps and resumed makes the same early-stopping
decision, and keeps the same checkpoint, as one that never stopped."""
from __future__ import annotations

import json
import os
import signal

import pytest
import torch
from safetensors.torch import load_file

from attnviewer import cli
from attnviewer.catalog import read_metadata
from attnviewer.training.image_corpus import ImageCaptionTask
from attnviewer.training.loop import LoopSettings, fit, selection, state_path
from attnviewer.training.run_log import log_path, read_log
from attnviewer.training.text_corpus import TranslateCorpusSettings, TranslationCorpusTask

from .corpora import pairs_tsv

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return pairs_tsv(tmp_path_factory.mktemp("pairs"), n_pairs=16)


def translation(data, **extra) -> TranslationCorpusTask:
    s = dict(min_count=1, hidden_dim=24, embed_dim=16, max_target_len=16, val_size=3)
    return TranslationCorpusTask(TranslateCorpusSettings(str(data), **dict(s, **extra)), log=lambda line: None)


def test_the_default_figure_is_cider_d_for_captions_and_bleu_for_translation(pairs):
    assert selection(ImageCaptionTask, None) == "CIDEr-D"
    assert selection(translation(pairs), None) == "BLEU"
    assert selection(ImageCaptionTask, "bleu-4") == "BLEU-4"  # case and '-' aside
    with pytest.raises(Exception, match="validated by BLEU, chrF"):
        selection(translation(pairs), "CIDEr-D")


SCRIPTED = [  # a captioner's early validations: BLEU-4 at pycocoevalcap's floor while CIDEr-D climbs
    {"BLEU": 2e-6, "chrF": 10.0, "loss": 3.0},
    {"BLEU": 1e-6, "chrF": 12.0, "loss": 2.9},  # a better chrF
    {"BLEU": 1e-6, "chrF": 12.0, "loss": 2.5},  # the same chrF, a lower loss: better
    {"BLEU": 1e-6, "chrF": 12.0, "loss": 2.7},  # the same chrF, a higher loss: not
]


@pytest.mark.parametrize("select, best_step", [("chrF", 3), ("BLEU", 1)])
def test_the_selected_figure_picks_the_model_and_a_tie_goes_to_the_lower_loss(pairs, tmp_path, select, best_step):
    task = translation(pairs)
    real = task.validate(task.model.eval())
    assert set(real) == {"BLEU", "chrF", "loss"} and real["loss"] > 0
    figures = iter(SCRIPTED)
    task.validate = lambda model: dict(next(figures))
    out, lines = tmp_path / "m.safetensors", []
    summary = fit(task, LoopSettings(out=str(out), epochs=2, batch_size=4, val_every=1, max_steps=4, patience=0,
                                     select=select), log=lines.append)
    assert summary["select"] == select and summary["best_step"] == best_step
    said = "\n".join(lines)
    assert "BLEU 2e-06" in said and "BLEU 1e-06" in said  # a change at the floor shows
    record = json.loads(read_metadata(out)["training"])
    assert record["step"] == best_step and record["select"] == select
    assert record["validation"] == SCRIPTED[best_step - 1]  # unrounded
    assert [v["figures"] for v in record["validations"]] == SCRIPTED  # every one, those after the best too
    assert [v["step"] for v in record["validations"]] == [1, 2, 3, 4]


def test_a_figure_the_task_does_not_report_is_one_line(pairs, tmp_path, capsys):
    code = cli.main(["train", "translate", "--data", str(pairs), "--out", str(tmp_path / "m.safetensors"),
                     "--hidden-dim", "16", "--min-count", "1", "--select", "CIDEr-D"])
    err = capsys.readouterr().err
    assert code == 2 and "validated by BLEU, chrF" in err and len(err.strip().splitlines()) == 1


def run(data, out, **loop) -> dict:
    settings = dict(out=str(out), epochs=6, batch_size=4, lr=3e-3, val_every=3, save_every=1)
    return fit(translation(data), LoopSettings(**dict(settings, **loop)), log=lambda line: None)


def test_a_stop_at_max_steps_counts_nothing_toward_patience(pairs, tmp_path):
    # lr 0: every validation ties, so the first is the best and each later one a bad check
    straight = run(pairs, tmp_path / "a.safetensors", lr=0.0, patience=2)
    assert straight["stopped"] == "early" and straight["steps"] == 9 and straight["best_step"] == 3
    stopped = run(pairs, tmp_path / "b.safetensors", lr=0.0, patience=2, max_steps=4)  # validates at 3 and at the stop
    assert stopped["stopped"] == "max_steps"
    assert [v["counted"] for v in stopped["validations"]] == [True, False]
    resumed = run(pairs, tmp_path / "b.safetensors", lr=0.0, patience=2, resume=True)
    assert (resumed["stopped"], resumed["steps"], resumed["best_step"]) == ("early", 9, 3)


def test_early_stopping_across_a_resume_decides_and_keeps_as_an_unbroken_run(pairs, tmp_path):
    straight = run(pairs, tmp_path / "a.safetensors", patience=1, epochs=8)
    run(pairs, tmp_path / "b.safetensors", patience=1, epochs=8, max_steps=5)
    run(pairs, tmp_path / "b.safetensors", patience=1, epochs=8, max_steps=10, resume=True)
    resumed = run(pairs, tmp_path / "b.safetensors", patience=1, epochs=8, resume=True)
    assert (resumed["stopped"], resumed["steps"], resumed["best_step"], resumed["best"]) == \
        (straight["stopped"], straight["steps"], straight["best_step"], straight["best"])
    counted = [v for v in resumed["validations"] if v["counted"]]
    assert counted == straight["validations"]  # the same figures at the same steps
    a, b = (torch.load(state_path(tmp_path / n), weights_only=True)["model"] for n in ("a.safetensors", "b.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    kept_a, kept_b = load_file(tmp_path / "a.safetensors"), load_file(tmp_path / "b.safetensors")
    assert all(torch.equal(kept_a[k], kept_b[k]) for k in kept_a)  # the same checkpoint kept
    # the log tells every step once, each loss as the unbroken run had it
    train = lambda name: [(r["step"], r["value"]) for r in read_log(log_path(tmp_path / name))  # noqa: E731
                          if r["split"] == "train" and r["name"] == "loss"]
    assert train("b.safetensors") == train("a.safetensors")
    assert [s for s, _ in train("a.safetensors")] == list(range(1, straight["steps"] + 1))


def test_an_epochs_validation_interrupted_by_a_signal_is_made_by_the_resumed_run(pairs, tmp_path):
    straight = run(pairs, tmp_path / "a.safetensors", val_every=0, epochs=3, patience=1)
    task = translation(pairs)
    batch, calls = task.batch, []

    def batch_then_terminated(indices, device):
        calls.append(1)
        if len(calls) == 3:  # the epoch's last step (12 pairs, 4 a step)
            os.kill(os.getpid(), signal.SIGTERM)
        return batch(indices, device)

    task.batch = batch_then_terminated
    settings = dict(out=str(tmp_path / "b.safetensors"), epochs=3, batch_size=4, lr=3e-3, val_every=0, save_every=1,
                    patience=1)
    stopped = fit(task, LoopSettings(**settings), log=lambda line: None)
    assert stopped["stopped"] == "interrupted" and stopped["steps"] == 3 and stopped["validations"] == []
    resumed = run(pairs, tmp_path / "b.safetensors", val_every=0, epochs=3, patience=1, resume=True)
    assert resumed["validations"] == straight["validations"] and resumed["validations"][0]["step"] == 3
    assert (resumed["stopped"], resumed["steps"], resumed["best_step"]) == \
        (straight["stopped"], straight["steps"], straight["best_step"])
