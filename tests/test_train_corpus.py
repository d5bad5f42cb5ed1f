"""`attnviewer train caption --data`: a tiny Karpathy-split corpus (generated scenes saved as JPEGs)
trains through the shared loop into a checkpoint the caption command opens; a missing and a corrupt
image are counted and skipped; --resume continues bitwise exactly; early stopping fires when
validation cannot improve; SIGTERM saves the state; features resume after an interrupted
extraction; bad settings and a half-set torchrun environment get one line."""
from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import torch

from attnviewer import cli
from attnviewer.models.checkpoint import load_checkpoint
from attnviewer.training import features
from attnviewer.training.image_corpus import CaptionCorpusSettings, ImageCaptionTask
from attnviewer.training.loop import LoopSettings, fit, state_path

from . import corpora

TINY = ["--image-size", "64", "--hidden-dim", "32", "--min-count", "1", "--batch-size", "8"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """12 images (8 train, 4 val), the last one listed but missing."""
    tmp = tmp_path_factory.mktemp("corpus")
    data, root = corpora.karpathy_json(tmp, n_images=12, splits=("train", "train", "val"), missing=1)
    return data, root, tmp / "features"


def task(corpus, **extra) -> ImageCaptionTask:
    data, root, feats = corpus
    s = dict(data=str(data), images=str(root), min_count=1, image_size=64, hidden_dim=32, embed_dim=16,
             features_dir=str(feats))
    return ImageCaptionTask(CaptionCorpusSettings(**dict(s, **extra)), log=lambda line: None)


def test_a_tiny_corpus_trains_into_a_checkpoint_that_captions(corpus, tmp_path, capsys):
    data, root, _ = corpus
    images = sorted(root.rglob("*.jpg"))
    broken = tmp_path / "images"  # the same corpus with one image corrupt (a JPEG cut short)
    for img in images:
        (broken / img.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
        (broken / img.relative_to(root)).write_bytes(img.read_bytes())
    bad = broken / images[0].relative_to(root)
    bad.write_bytes(bad.read_bytes()[:200])
    out = tmp_path / "m.safetensors"
    code = cli.main(["train", "caption", "--data", str(data), "--images", str(broken), "--out", str(out),
                     "--epochs", "2", "--features-dir", str(tmp_path / "f"), *TINY])
    said = capsys.readouterr().out
    assert code == 0
    assert "1 missing image" in said and "1 unreadable image" in said and bad.name in said
    model = load_checkpoint(out)
    record = model.training_record
    assert record["data"] == str(data.resolve()) and record["task"] == "caption"
    assert record["counts"] == {"train images": 7, "val images": 3, "captions": 14}  # 8 and 4, less the bad and the missing
    assert model.config.image_size == 64 and model.config.ds_lambda == 1.0  # Show-Attend-Tell's lambda with --data
    assert model.domain is None  # no record of generated scenes: no false out-of-domain note
    assert cli.main(["caption", str(images[1]), "--model", str(out), "--greedy", "--max-len", "5"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    words = line.split(": ", 1)[1].split()
    assert words and set(words) <= set(model.vocab)
    assert (tmp_path / "m.safetensors.state" / "state.pt").exists()


def test_fine_tuning_trains_the_encoder_and_skips_an_unreadable_image(corpus, tmp_path):
    data, root, _ = corpus
    bad = sorted(root.rglob("*.jpg"))[0]
    copy = tmp_path / "images"
    for img in root.rglob("*.jpg"):
        (copy / img.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
        (copy / img.relative_to(root)).write_bytes(b"not an image" if img == bad else img.read_bytes())
    lines = []
    t = ImageCaptionTask(CaptionCorpusSettings(str(data), str(copy), min_count=1, image_size=64, hidden_dim=32,
                                               embed_dim=16, encoder="small-cnn", fine_tune_encoder=True),
                         log=lines.append)
    before = {k: v.clone() for k, v in t.model.encoder.state_dict().items()}
    summary = fit(t, LoopSettings(out=str(tmp_path / "m.safetensors"), epochs=1, batch_size=8, lr=3e-3),
                  log=lines.append)
    assert summary["stopped"] == "done" and summary["steps"] == 2
    assert sum("skipping an unreadable image" in line for line in lines) == 1  # read once, never again
    assert t.record()["skipped"][-1].startswith("1 unreadable image")
    after = load_checkpoint(tmp_path / "m.safetensors").encoder.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if k.endswith("weight"))  # it trained


def test_over_long_captions_are_cut_and_counted(corpus):
    t = task(corpus, max_len=4)
    assert t.model.config.max_len == 4
    assert max(len(ids) for caps in t.captions for ids in caps) == 4 + 2  # <start>, 4 words, <end>
    cut = [line for line in t.record()["skipped"] if "over-long caption" in line]
    assert cut and "cut to 4" in cut[0]


def trained_weights(corpus, out, **loop) -> dict:
    t = task(corpus, dropout=0.3)  # dropout and scheduled sampling draw random numbers: resume must restore them
    fit(t, LoopSettings(out=str(out), epochs=3, batch_size=4, lr=3e-3, scheduled_sampling=0.5, val_every=100,
                        **loop), log=lambda line: None)
    return torch.load(state_path(out), weights_only=True)["model"]


def test_resume_continues_bitwise_exactly(corpus, tmp_path):
    straight = trained_weights(corpus, tmp_path / "a.safetensors", max_steps=6)
    trained_weights(corpus, tmp_path / "b.safetensors", max_steps=2)  # mid-epoch (16 captions: 4 steps an epoch)
    state = torch.load(state_path(tmp_path / "b.safetensors"), weights_only=True)
    assert state["position"]["step"] == 2
    resumed = trained_weights(corpus, tmp_path / "b.safetensors", max_steps=6, resume=True)
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    assert not all(torch.equal(straight[k], state["model"][k]) for k in straight)  # it did train on


def test_early_stopping_fires_when_validation_cannot_improve(corpus, tmp_path):
    lines = []
    summary = fit(task(corpus), LoopSettings(out=str(tmp_path / "m.safetensors"), epochs=20, batch_size=4, lr=0.0,
                                             val_every=1, patience=2), log=lines.append)
    assert summary["stopped"] == "early" and summary["steps"] == 3  # the best at step 1, then two no better
    assert any("stopped early" in line for line in lines)
    assert load_checkpoint(tmp_path / "m.safetensors").training_record["step"] == 1


def test_sigterm_saves_the_state_and_resume_finishes(corpus, tmp_path):
    t = task(corpus)
    batch = t.batch
    calls = []

    def batch_then_terminated(indices, device):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # as `kill` or a cluster's scheduler would
        return batch(indices, device)

    t.batch = batch_then_terminated
    out = tmp_path / "m.safetensors"
    summary = fit(t, LoopSettings(out=str(out), epochs=2, batch_size=4), log=lambda line: None)
    assert summary["stopped"] == "interrupted" and summary["signal"] == signal.SIGTERM and summary["steps"] == 2
    assert torch.load(state_path(out), weights_only=True)["position"]["step"] == 2
    again = fit(task(corpus), LoopSettings(out=str(out), epochs=2, batch_size=4, resume=True), log=lambda line: None)
    assert again["stopped"] == "done" and again["steps"] == 8  # 16 captions, 4 a step, 2 epochs


def test_features_resume_after_an_interrupted_extraction(tmp_path):
    rng = np.random.default_rng(0)
    items = [rng.random((4, 3)).astype(np.float32) for _ in range(10)]
    ids = [f"item{i}" for i in range(10)]
    loaded = []

    def load(i):
        if i == 7 and not loaded_again:
            raise KeyboardInterrupt  # Ctrl-C while reading item 7
        if i == 3:
            raise OSError("item3: cannot read")  # a bad item: counted, a row of zeros
        loaded.append(i)
        return items[i]

    def encode(batch):
        return batch.sum(axis=2)

    args = dict(folder=tmp_path / "f", key={"encoder": "sum"}, row_shape=(4,), batch=2, log=lambda line: None)
    loaded_again = False
    with pytest.raises(KeyboardInterrupt):
        features.extract(ids, load, encode, **args)
    sidecar = json.loads(next((tmp_path / "f").glob("*.json")).read_text())
    assert sidecar["done"] == 6 and sidecar["bad"] == {"3": "item3: cannot read"}
    loaded.clear()
    loaded_again = True
    store = features.extract(ids, load, encode, **args)
    assert loaded == [6, 7, 8, 9]  # only the rows not done
    expected = np.stack([np.zeros(4) if i == 3 else items[i].sum(axis=1) for i in range(10)])
    assert np.allclose(store.rows(range(10)), expected, atol=1e-3)
    assert store.problems() == ["1 unreadable item skipped (e.g. item3: cannot read)"]
    other = features.extract(ids, load, encode, **dict(args, key={"encoder": "another"}))
    assert other.path != store.path  # other weights: other features, never mixed


@pytest.mark.parametrize("args, env, says", [
    (["--resume"], {}, "no training state to resume from"),
    (["--patience", "-1"], {}, "--patience must be at least 0"),
    (["--scheduled-sampling", "2"], {}, "--scheduled-sampling must be a probability"),
    (["--encoder", "small-cnn"], {}, "train it with --fine-tune-encoder"),
    (["--workers", "0"], {}, "--workers must be at least 1"),
    (["--hidden-dim", "5000"], {}, "--hidden-dim must be at most 4096"),
    ([], {"RANK": "0", "WORLD_SIZE": "2"}, "RANK, WORLD_SIZE set in the environment but not LOCAL_RANK"),
])
def test_bad_settings_get_one_line(corpus, tmp_path, capsys, monkeypatch, args, env, says):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    data, root, feats = corpus
    code = cli.main(["train", "caption", "--data", str(data), "--images", str(root), "--out",
                     str(tmp_path / "m.safetensors"), "--features-dir", str(feats), *TINY, *args])
    err = capsys.readouterr().err
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1
