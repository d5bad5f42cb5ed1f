"""`attnviewer train caption`: a short run on a few generated scenes writes a checkpoint that
loads and captions, keeps the epoch that points best on held-out scenes, caches the frozen
encoder's features by data version, and refuses settings that cannot train in one line."""
from __future__ import annotations

import pytest
import torch

from attnviewer import cli
from attnviewer.data import synthetic
from attnviewer.decoding.search import DecodeSettings, decode, run
from attnviewer.models.checkpoint import load_checkpoint
from attnviewer.training.image import TrainSettings, scene_pixels, train_captioner


def settings(tmp_path, **extra) -> TrainSettings:
    base = dict(out=str(tmp_path / "m.safetensors"), train_size=64, val_size=16, epochs=2, batch_size=32,
                hidden_dim=32, cache_dir=str(tmp_path / "cache"))
    return TrainSettings(**dict(base, **extra))


def test_a_short_run_writes_a_checkpoint_that_captions(tmp_path):
    lines = []
    train_captioner(settings(tmp_path), log=lines.append)
    model = load_checkpoint(tmp_path / "m.safetensors")
    record = model.training_record
    assert record["epochs_run"] == 2 and record["selected_epoch"] in (1, 2)
    assert {"validation exact", "validation cell", "validation pixel"} <= set(record)
    assert sum(line.startswith("epoch ") and "pointing cell" in line for line in lines) == 2  # every epoch
    scenes = synthetic.generate_scenes(2, seed=99)
    with torch.inference_mode():
        hyps = run(decode(model, model.init_state(scene_pixels(scenes)), DecodeSettings("greedy"), stream=False))
    assert all(set(h[0].tokens) <= set(model.vocab) for h in hyps)


def test_the_feature_cache_is_reused_and_keyed_by_the_data_version(tmp_path, monkeypatch):
    first, second, third = [], [], []
    train_captioner(settings(tmp_path, epochs=1), log=first.append)
    train_captioner(settings(tmp_path, epochs=1), log=second.append)
    assert any(line.startswith("encoded 64 scenes") for line in first)
    assert sum(line.startswith("features from cache") for line in second) == 2  # training and held-out
    monkeypatch.setattr("attnviewer.training.image.DATA_VERSION", synthetic.DATA_VERSION + 1)  # scenes changed
    train_captioner(settings(tmp_path, epochs=1), log=third.append)
    assert not any(line.startswith("features from cache") for line in third)


def test_an_encoder_trained_from_scratch_is_scored_too(tmp_path):
    lines = []
    train_captioner(settings(tmp_path, encoder="small-cnn", image_size=64, epochs=1), log=lines.append)
    assert load_checkpoint(tmp_path / "m.safetensors").config.encoder == "small-cnn"
    assert any("pointing cell" in line for line in lines)


@pytest.mark.parametrize("args, says", [
    (["--score", "cosine-ish"], "unknown score function 'cosine-ish'"),
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--train-size", "0"], "--train-size must be at least 1"),
    (["--lr", "-1"], "--lr must be a positive number"),
    (["--lambda", "nan"], "--lambda must be zero or positive"),
    (["--image-size", "8"], "--image-size must be at least 32"),
])
def test_settings_that_cannot_train_get_one_line(tmp_path, capsys, args, says):
    code = cli.main(["train", "caption", "--out", str(tmp_path / "m.safetensors"), *args])
    err = capsys.readouterr().err
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.safetensors").exists()


def test_a_checkpoint_name_that_is_not_safetensors_is_refused(tmp_path, capsys):
    assert cli.main(["train", "caption", "--out", str(tmp_path / "m.pt")]) == 2
    assert ".safetensors" in capsys.readouterr().err


def test_an_out_in_a_missing_folder_is_refused_as_other_outputs_are(tmp_path, capsys):
    out = tmp_path / "nonexistent" / "deeper" / "m.safetensors"
    for task in ("translate", "caption"):
        assert cli.main(["train", task, "--out", str(out), "--train-size", "100", "--epochs", "1"]) == 2
        err = capsys.readouterr().err
        assert err.strip() == f"attnviewer: error: {out}: folder {out.parent} does not exist"
        assert not (tmp_path / "nonexistent").exists()


@pytest.mark.parametrize("task", ["translate", "caption"])
def test_train_help_gives_every_option_its_meaning_and_default(capsys, task):
    with pytest.raises(SystemExit):
        cli.main(["train", task, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--train-size", "--epochs", "--batch-size", "--lr", "--init-seed", "--encoder"):
        said = text.split("options:", 1)[1].split(f" {option} ", 1)[1].split(" --", 1)[0]
        assert "default" in said, (option, said)
    assert "--hidden HIDDEN --arch transformer only: the width" in text
    assert "--hidden-dim HIDDEN_DIM --arch lstm with --data only:" in text
