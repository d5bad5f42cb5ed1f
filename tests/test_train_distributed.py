"""Data-parallel training under torchrun: two CPU processes (gloo) train a tiny corpus with the same
command a user runs, end with identical weights on both ranks (each rank's digest is compared at
the end of training), and those weights equal what one process gets with the same global batch,
dropout on (each example's mask comes from the example and the step, not from the rank)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import torch

from attnviewer import cli
from attnviewer.models.captioner import Captioner
from attnviewer.models.checkpoint import load_checkpoint
from attnviewer.training.loop import state_path

from . import corpora


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_train_like_one_process_with_the_same_global_batch_and_dropout(tmp_path):
    data, root = corpora.karpathy_json(tmp_path, n_images=12, splits=("train", "train", "val"))
    common = ["train", "caption", "--data", str(data), "--images", str(root), "--image-size", "64",
              "--hidden-dim", "32", "--min-count", "1", "--batch-size", "8", "--epochs", "2", "--dropout", "0.5",
              "--lr", "3e-3", "--features-dir", str(tmp_path / "features")]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    two = tmp_path / "two.safetensors"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
         "--master_addr", "127.0.0.1", "--master_port", str(free_port()), "-m", "attnviewer", *common,
         "--out", str(two)],
        env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "over 2 ranks" in done.stdout
    assert "ranks agree: 2 ranks, weights sha1" in done.stdout  # both ranks' weights, bitwise the same
    one = tmp_path / "one.safetensors"
    assert cli.main([*common, "--out", str(one)]) == 0
    a = torch.load(state_path(two), weights_only=True)
    b = torch.load(state_path(one), weights_only=True)
    assert a["position"]["step"] == b["position"]["step"] == 4  # 16 captions, 8 a step, 2 epochs
    assert a["model"].keys() == b["model"].keys()
    # Adam divides by the gradients' size, so float rounding in the ranks' summing shows up to
    # ~1e-5 in a few weights; one step of training moves them by ~1e-3 (lr 3e-3)
    tolerance = 1e-4
    for name in a["model"]:
        assert torch.allclose(a["model"][name], b["model"][name], rtol=0, atol=tolerance), name
    trained = load_checkpoint(one)
    torch.manual_seed(0)  # the weights before training: the task builds them under --seed 0
    start = Captioner(trained.config, trained.vocab).state_dict()
    assert all((start[name] - b["model"][name]).abs().max() > 10 * tolerance for name in ("lstm.weight_ih", "fc.weight"))
