"""`attnviewer train video --data ANNOTATIONS --clips ROOT`: a video captioner trained on captioned
clips through the shared loop writes an ordinary video model that `attnviewer video` runs; the
frame features it trains on are the ones `attnviewer video` computes for the same clip, kept on
disk and reused; a missing or corrupt clip is counted, not fatal; validation scores BLEU-4 against
every reference; --resume continues exactly."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from attnviewer import cli
from attnviewer.catalog import read_metadata
from attnviewer.kinds.video import VIDEO
from attnviewer.models.checkpoint import load_checkpoint
from attnviewer.training.loop import LoopSettings, fit, state_path
from attnviewer.training.video_corpus import VideoCorpusSettings, VideoCorpusTask

from .corpora import clip_id, video_corpus

SMALL = ["--hidden-dim", "32", "--frame-size", "64", "--min-count", "1", "--batch-size", "4", "--epochs", "1"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(annotations, root, features, **extra) -> VideoCorpusSettings:
    base = dict(features_dir=str(features), min_count=1, hidden_dim=24, feature_dim=24, embed_dim=16,
                frame_size=64, max_len=16)
    return VideoCorpusSettings(str(annotations), str(root), **dict(base, **extra))


def corrupt(root, layout: str, i: int) -> None:
    (root / f"{clip_id(layout, i)}.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))


def test_a_corpus_trains_a_model_that_video_runs(tmp_path, capsys):
    annotations, root = video_corpus(tmp_path, layout="msvd", n_clips=6, missing=1)
    corrupt(root, "msvd", 1)
    out = tmp_path / "v.safetensors"
    code = cli.main(["train", "video", "--data", str(annotations), "--clips", str(root), "--out", str(out),
                     "--features-dir", str(tmp_path / "features"), *SMALL, "--max-steps", "2"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "skipped: 1 missing clip" in printed and "skipped: 1 unreadable clip" in printed
    assert printed.count("unreadable clip") == 1  # said once
    assert "validation CIDEr-D " in printed
    meta = read_metadata(out)
    assert meta["kind"] == "video" and json.loads(meta["config"])["appearance"] == "efficientnet-lite0"
    record = json.loads(meta["training"])
    assert record["task"] == "video" and record["clips used"]["train"] + record["clips used"]["val"] <= 4
    clip = root / f"{clip_id('msvd', 0)}.mp4"
    assert cli.main(["video", str(clip), "--model", str(out), "--greedy"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"{clip}:") and "looked at:" in shown


def test_training_features_are_what_the_video_command_computes_and_are_reused(tmp_path):
    annotations, root = video_corpus(tmp_path, layout="msrvtt", n_clips=4)
    first, second = [], []
    task = VideoCorpusTask(tiny(annotations, root, tmp_path / "features"), log=first.append)
    again = VideoCorpusTask(tiny(annotations, root, tmp_path / "features"), log=second.append)
    n = len({item.source for item in task.train + task.val})
    assert n == 3  # msrvtt's fourth clip is in the test split: no features
    assert any(f"computing {n} of {n} rows" in line for line in first)
    assert any(f"all {n} rows on disk" in line for line in second) and not any("computing" in line for line in second)
    model = task.model.eval()
    for item in task.train[:2]:  # the clip read and fed as `attnviewer video` does
        media = VIDEO.fit(VIDEO.read(item.source, model.config.to_dict()), model)
        with torch.inference_mode():
            frames = VIDEO.inputs(model, [media], "cpu")
            live = model.frames.pooled(frames.flatten(0, 1))
        cached = torch.from_numpy(again.store.rows([again.rows[item.source]])[0])
        assert torch.allclose(cached, live, rtol=1e-2, atol=1e-2)  # float16 on disk
        with torch.inference_mode():
            assert torch.allclose(model.memory(cached[None]), model.memory(frames), atol=1e-2)


def test_validation_scores_greedy_captions_against_every_reference(tmp_path):
    annotations, root = video_corpus(tmp_path, layout="msrvtt", n_clips=4)
    task = VideoCorpusTask(tiny(annotations, root, tmp_path / "features"), log=lambda line: None)
    model = task.model.eval()
    with torch.no_grad():
        model.fc.bias[model.end_id] = -1e4  # it never ends: every caption has max_len words
    items = task.train + task.val
    captions = task.captions(model, items)
    own = [replace(item, references=(("nothing", "like", "it", "at", "all"), tuple(c.split())))
           for item, c in zip(items, captions) if len(c.split()) >= 4]
    assert len(own) == len(items)
    task.val = own  # one of the references is what the model writes: a perfect score
    assert task.validate(model)["BLEU-4"] == pytest.approx(1.0, abs=1e-6)
    task.val = [replace(item, references=(("nothing", "like", "it", "at", "all"),)) for item in own]
    assert task.validate(model)["BLEU-4"] < 1e-6


def test_resume_continues_exactly(tmp_path):
    annotations, root = video_corpus(tmp_path, layout="msrvtt", n_clips=4)

    def run(out, **loop):
        task = VideoCorpusTask(tiny(annotations, root, tmp_path / "features", val_size=1),
                               log=lambda line: None)
        base = dict(out=str(out), epochs=2, batch_size=2, lr=3e-3, save_every=1, patience=0,
                    scheduled_sampling=0.5)
        fit(task, LoopSettings(**dict(base, **loop)), log=lambda line: None)
        return torch.load(state_path(out), weights_only=True)["model"]

    straight = run(tmp_path / "a.safetensors")
    run(tmp_path / "b.safetensors", max_steps=1)
    resumed = run(tmp_path / "b.safetensors", resume=True)
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    model = load_checkpoint(tmp_path / "b.safetensors")  # the best model is an ordinary video model
    assert model.config.appearance == "efficientnet-lite0" and model.config.steps == 12
    from attnviewer.models import header, video_captioner

    assert header.VIDEO_APPEARANCES == tuple(video_captioner.APPEARANCES)  # the schema knows every appearance


def test_clips_without_a_folder_are_one_line(tmp_path, capsys):
    annotations, _ = video_corpus(tmp_path, layout="msvd", n_clips=2)
    code = cli.main(["train", "video", "--data", str(annotations), "--clips", str(tmp_path / "elsewhere"),
                     "--out", str(tmp_path / "v.safetensors"), "--features-dir", str(tmp_path / "f")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "v.safetensors").exists()


def test_two_ranks_under_torchrun_share_one_feature_file_and_agree(tmp_path):
    """The first process makes the features while the other waits at a barrier, then both train
    from them: the ranks end with the same weights (compared by digest at the end of training)."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    annotations, root = video_corpus(tmp_path, layout="msvd", n_clips=6)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
         "--master_addr", "127.0.0.1", "--master_port", str(port), "-m", "attnviewer", "train", "video",
         "--data", str(annotations), "--clips", str(root), "--features-dir", str(tmp_path / "features"),
         "--out", str(tmp_path / "two.safetensors"), *SMALL, "--max-steps", "2", "--lr", "3e-3"],
        env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "over 2 ranks" in done.stdout and "ranks agree: 2 ranks" in done.stdout
    assert len(list((tmp_path / "features").glob("*.npy"))) == 1
    assert read_metadata(tmp_path / "two.safetensors")["kind"] == "video"
