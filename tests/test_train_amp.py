"""Mixed precision in the training loop (float16 autocast + GradScaler), run for real on the CPU.

The loop uses it on CUDA only (loop.AMP_DEVICES); no GPU is lent to the tests, so they widen that
set to the CPU, where torch runs the same autocast and GradScaler code. On a tiny corpus of each
kind (image captions, video captions, sentence pairs): the layers compute in float16, the loss
stays finite and falls, the weights change; a step with an inf gradient is skipped (weights,
optimizer and rate schedule unchanged, the scale halved) and training goes on; the scaler's state
is saved and --resume continues bitwise exactly; a state saved on a GPU (its tensors marked
cuda:0) resumes on the CPU, and one saved with mixed precision resumes without it (one line)."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from attnviewer.training import loop
from attnviewer.training.loop import LoopSettings, fit, state_path

from . import corpora

pytestmark = pytest.mark.usefixtures("one_torch_thread")
START_SCALE = 65536.0  # GradScaler's first scale


@pytest.fixture(params=["image", "video", "text"], scope="module")
def make_task(request, tmp_path_factory):
    """kind -> a function building a fresh task (untrained weights) on one tiny corpus of it."""
    tmp = tmp_path_factory.mktemp(request.param)
    quiet = {"log": lambda line: None}
    if request.param == "image":
        from attnviewer.training.image_corpus import CaptionCorpusSettings, ImageCaptionTask

        data, root = corpora.karpathy_json(tmp, n_images=12, splits=("train", "train", "val"))
        s = CaptionCorpusSettings(data=str(data), images=str(root), min_count=1, image_size=64, hidden_dim=32,
                                  embed_dim=16, features_dir=str(tmp / "features"))
        return lambda: ImageCaptionTask(s, **quiet)
    if request.param == "video":
        from attnviewer.training.video_corpus import VideoCorpusSettings, VideoCorpusTask

        annotations, root = corpora.video_corpus(tmp, layout="msrvtt", n_clips=6)
        s = VideoCorpusSettings(str(annotations), str(root), features_dir=str(tmp / "features"), min_count=1,
                                hidden_dim=24, feature_dim=24, embed_dim=16, frame_size=64, max_len=16, val_size=1)
        return lambda: VideoCorpusTask(s, **quiet)
    from attnviewer.training.text_corpus import TranslateCorpusSettings, TranslationCorpusTask

    data = corpora.pairs_tsv(tmp, n_pairs=16)
    s = TranslateCorpusSettings(str(data), min_count=1, hidden_dim=24, embed_dim=16, max_target_len=16, val_size=2)
    return lambda: TranslationCorpusTask(s, **quiet)


@pytest.fixture
def amp_on_cpu(monkeypatch):
    monkeypatch.setattr(loop, "AMP_DEVICES", loop.AMP_DEVICES | {"cpu"})


def settings(out, **extra) -> LoopSettings:
    base = dict(out=str(out), epochs=4, batch_size=4, lr=3e-3, patience=0, val_every=1000)
    return LoopSettings(**dict(base, **extra))


class Watched:
    """A task's loss seen from outside: each step's value and weights before it; on the steps
    named in `inf_at` (1-based) the loss, hence every gradient, is made inf."""

    def __init__(self, task, inf_at=()):
        self.task, self.inf_at = task, set(inf_at)
        self.losses, self.before = [], []
        self.loss = task.loss
        task.loss = self

    def __call__(self, model, batch, sampling):
        self.before.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        loss = self.loss(model, batch, sampling)
        if len(self.before) in self.inf_at:
            loss = loss * math.inf
        self.losses.append(float(loss.detach()))
        return loss


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def saved(out) -> dict:
    return torch.load(state_path(out), weights_only=True)


def test_mixed_precision_trains_in_float16(make_task, tmp_path, amp_on_cpu):
    task = make_task()
    dtypes = set()
    for m in task.model.modules():
        if isinstance(m, nn.Linear):
            m.register_forward_hook(lambda mod, args, out: dtypes.add(out.dtype))
    start = {k: v.clone() for k, v in task.model.state_dict().items()}
    watched, lines = Watched(task), []
    summary = fit(task, settings(tmp_path / "m.safetensors"), log=lines.append)
    assert "mixed precision" in lines[0]
    assert torch.float16 in dtypes  # autocast ran the layers in half precision
    losses = watched.losses
    assert summary["steps"] == len(losses) >= 8 and all(math.isfinite(v) for v in losses)
    assert sum(losses[-3:]) < sum(losses[:3])  # it learns
    state = saved(tmp_path / "m.safetensors")
    assert not same(start, state["model"])
    assert state["scaler"]["scale"] == START_SCALE and state["scaler"]["_growth_tracker"] == len(losses)  # none skipped


def test_an_inf_gradient_step_is_skipped_and_training_goes_on(make_task, tmp_path, amp_on_cpu):
    task = make_task()
    watched = Watched(task, inf_at=[1])  # the very first step: the rate schedule must not warn nor move
    fit(task, settings(tmp_path / "m.safetensors", max_steps=3), log=lambda line: None)
    assert math.isinf(watched.losses[0]) and all(math.isfinite(v) for v in watched.losses[1:])
    first, second, third = watched.before
    assert same(first, second)  # step 1 changed nothing
    assert not same(second, third)  # step 2 trained
    state = saved(tmp_path / "m.safetensors")
    assert state["scaler"]["scale"] == START_SCALE / 2
    assert state["scheduler"]["last_epoch"] == 2  # two of the three steps moved the rate
    assert {int(s["step"]) for s in state["optimizer"]["state"].values()} == {2}  # and Adam


def test_resume_restores_the_scaler_and_continues_exactly(make_task, tmp_path, amp_on_cpu):
    def run(out, inf_at=(), **extra):
        task = make_task()
        Watched(task, inf_at)
        fit(task, settings(out, save_every=2, **extra), log=lambda line: None)
        return saved(out)

    straight = run(tmp_path / "a.safetensors", inf_at=[2], max_steps=7)
    stopped = run(tmp_path / "b.safetensors", inf_at=[2], max_steps=3)
    assert stopped["scaler"]["scale"] == START_SCALE / 2 and stopped["scaler"]["_growth_tracker"] == 1
    resumed = run(tmp_path / "b.safetensors", max_steps=7, resume=True)
    assert resumed["position"]["step"] == straight["position"]["step"] == 7
    assert same(straight["model"], resumed["model"])
    assert straight["scaler"] == resumed["scaler"] == dict(stopped["scaler"], _growth_tracker=5)


def forge_gpu_state(out, monkeypatch) -> None:
    """Rewrite a training state as a CUDA run writes it: its tensors stored as cuda:0's, the
    GPU's RNG state beside the CPU's."""
    state = saved(out)
    for rng in state["rng"]:
        rng["cuda"] = torch.zeros(16, dtype=torch.uint8)
    with monkeypatch.context() as m:
        m.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save(state, state_path(out))
    if not torch.cuda.is_available():  # the forgery holds: only a load to the CPU can read it
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(state_path(out), weights_only=True)


@pytest.mark.parametrize("make_task", ["text"], indirect=True)
def test_a_state_saved_on_a_gpu_resumes_on_the_cpu(make_task, tmp_path, monkeypatch, amp_on_cpu):
    def run(out, **extra):
        lines = []
        fit(make_task(), settings(out, **extra), log=lines.append)
        return saved(out), lines

    straight, _ = run(tmp_path / "a.safetensors", max_steps=5)
    run(tmp_path / "b.safetensors", max_steps=2)
    forge_gpu_state(tmp_path / "b.safetensors", monkeypatch)
    resumed, lines = run(tmp_path / "b.safetensors", max_steps=5, resume=True)
    assert same(straight["model"], resumed["model"]) and straight["scaler"] == resumed["scaler"]
    assert not any("mixed precision and this run" in line for line in lines)


@pytest.mark.parametrize("make_task", ["text"], indirect=True)
def test_mixed_precision_switched_on_or_off_at_resume_says_so(make_task, tmp_path, monkeypatch):
    out = tmp_path / "m.safetensors"
    with monkeypatch.context() as m:  # a GPU run with mixed precision ...
        m.setattr(loop, "AMP_DEVICES", {"cuda", "cpu"})
        fit(make_task(), settings(out, max_steps=2), log=lambda line: None)
    forge_gpu_state(out, monkeypatch)
    lines = []  # ... resumed on the CPU, where it is off
    summary = fit(make_task(), settings(out, max_steps=4, resume=True), log=lines.append)
    assert summary["steps"] == 4 and "mixed precision" not in next(line for line in lines if line.startswith("training"))
    assert [line for line in lines if "saved with mixed precision and this run is without it" in line]
    assert saved(out)["scaler"] == {}  # off on the CPU, as the user-facing rule says
    lines.clear()
    with monkeypatch.context() as m:  # and the reverse
        m.setattr(loop, "AMP_DEVICES", {"cuda", "cpu"})
        fit(make_task(), settings(out, max_steps=6, resume=True), log=lines.append)
    assert [line for line in lines if "saved without mixed precision and this run is with it" in line]
    assert saved(out)["scaler"]["scale"] == START_SCALE
