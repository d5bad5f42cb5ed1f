"""The plain S2VT contrast model (video-s2vt): the decoder starts from the clip's summary and attends
over appearance alone. It captions, but its attention does not point at the events."""
from __future__ import annotations

import json

import numpy as np
import torch

from attnviewer import catalog
from attnviewer.data.clip_events import clip_vocabulary, generate_clip, generate_clips
from attnviewer.decoding.search import DecodeSettings
from attnviewer.kinds import VIDEO
from attnviewer.media.frames import write_clip
from attnviewer.models import registry
from attnviewer.models.checkpoint import FORMAT, load_checkpoint, save_checkpoint
from attnviewer.models.video_captioner import SPECIALS, VideoCaptioner, VideoConfig
from attnviewer.pipeline import run_all
from attnviewer.evaluation.video_captioner import caption_clips, clip_tensor, score_video_captioner


def _tiny(**switches) -> VideoCaptioner:
    vocab = list(SPECIALS) + clip_vocabulary()
    torch.manual_seed(0)
    config = VideoConfig(vocab_size=len(vocab), feature_dim=16, hidden_dim=24, embed_dim=8, dropout=0.0,
                         max_len=8, **switches)
    return VideoCaptioner(config, vocab).eval()


def test_the_bundled_s2vt_model_is_a_video_captioner_started_from_the_summary_without_change():
    assert catalog.kind_of("video-s2vt") == "video"
    config = catalog.config_of("video-s2vt")
    assert config["summary_start"] is True and config["change_features"] is False
    model = registry.load("video-s2vt", "cpu", kind="video")
    assert model.kind == "video" and model.config.summary_start and not model.config.change_features
    assert not hasattr(model, "start_h") and model.temporal.in_channels == model.config.feature_dim


def test_a_summary_start_model_without_change_features_runs_forward_and_decodes(tmp_path):
    model = _tiny(summary_start=True, change_features=False)
    assert {"init_h.weight", "init_c.weight"} <= set(model.state_dict()) and "start_h" not in model.state_dict()
    clips = generate_clips(2, seed=4)
    frames = clip_tensor(np.stack([c.steps() for c in clips]))
    captions = torch.full((2, 5), model.pad_id)
    with torch.inference_mode():
        logits, weights = model(frames, captions)
        state = model.init_state(frames)
    assert logits.shape == (2, 4, model.config.vocab_size) and weights.shape == (2, 4, 12)
    assert not torch.allclose(state["h"][0], state["h"][1])  # each clip starts from its own summary

    model.name = "tiny-s2vt"
    path = write_clip(generate_clip(5, 0).frames, tmp_path / "c.mp4", scale=2)
    clip = VIDEO.read(str(path), model.config.to_dict())
    (result,) = run_all(VIDEO, model, [clip], DecodeSettings("greedy"))
    att = result.best.attention
    assert att.shape == (len(result.best.tokens), 12) and np.allclose(att.sum(1), 1, atol=1e-5)
    save_checkpoint(model, tmp_path / "s.safetensors")
    again = load_checkpoint(tmp_path / "s.safetensors")
    assert again.config == model.config


def test_a_file_written_before_the_switches_loads_with_the_old_design(tmp_path):
    from safetensors.torch import save_file

    model = _tiny()
    assert "start_h" in model.state_dict() and model.temporal.in_channels == 2 * model.config.feature_dim
    old = {k: v for k, v in model.config.to_dict().items() if k not in ("summary_start", "change_features")}
    meta = {"format": FORMAT, "kind": "video", "config": json.dumps(old), "vocab": json.dumps(model.vocab),
            "training": "{}"}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "old.safetensors", metadata=meta)
    loaded = load_checkpoint(tmp_path / "old.safetensors")
    assert loaded.config.summary_start is False and loaded.config.change_features is True
    frames = clip_tensor(np.stack([generate_clip(6, 0).steps()]))
    with torch.inference_mode():
        assert torch.allclose(loaded.memory(frames), model.memory(frames))


def _end_mass(model, clips) -> float:
    """The share of attention on the first and last sampled frames (a uniform spread: 2/12)."""
    att = np.concatenate([h.attention for h in caption_clips(model, clips)])
    return float(att[:, [0, -1]].sum(1).mean())


def test_video_shapes_points_at_events_and_plain_s2vt_sinks_to_the_ends():
    clips = generate_clips(100, seed=4242)
    shapes_model = registry.load("video-shapes", "cpu", kind="video")
    s2vt_model = registry.load("video-s2vt", "cpu", kind="video")
    shapes, s2vt = score_video_captioner(shapes_model, clips), score_video_captioner(s2vt_model, clips)
    assert s2vt["events right"] > 0.6 and s2vt["reversed: events right"] > 0.6  # it captions plausibly ...
    assert s2vt["verb pointing"] < s2vt["uniform"] + 0.1  # ... but does not look at the event
    assert shapes["verb pointing"] > s2vt["verb pointing"] + 0.5
    sink, spread = _end_mass(s2vt_model, clips), _end_mass(shapes_model, clips)
    assert sink > 0.25 and spread < 0.2
