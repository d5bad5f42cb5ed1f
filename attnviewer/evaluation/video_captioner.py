"""Scoring a video captioner on generated clips (`attnviewer eval video`, and the held-out checks
of training on them, training/video.py): exact match, events named right and temporal pointing
(video.py) with its baselines, forwards and with the clips reversed. video_report is the eval
command's entry: it loads and scores the models, the command prints.
"""
from __future__ import annotations

import numpy as np
import torch

from ..data.clip_events import Clip
from ..models.video_captioner import VideoCaptioner
from .video import events_right, forward_verbs_given, temporal_pointing


def clip_tensor(frames: np.ndarray) -> torch.Tensor:
    """(B, T, S, S, 3) uint8 -> (B, T, 3, S, S) float 0..255."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 1, 4, 2, 3).float()


def caption_clips(model: VideoCaptioner, clips: list[Clip], settings=None, offset: int = 0, batch: int = 100):
    """The best hypothesis for each clip, sampled from frame `offset` (greedy unless settings say)."""
    from ..decoding.search import DecodeSettings, decode, run

    settings = settings or DecodeSettings("greedy")
    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for i in range(0, len(clips), batch):
            frames = clip_tensor(np.stack([c.steps(offset) for c in clips[i : i + batch]])).to(device)
            out += [h[0] for h in run(decode(model, model.init_state(frames), settings, stream=False))]
    return out


def score_video_captioner(model: VideoCaptioner, clips: list[Clip], settings=None) -> dict:
    """Exact match, events named right, temporal pointing (and its baselines), forwards and backwards."""
    hyps = caption_clips(model, clips, settings)
    tally = temporal_pointing(clips, hyps)
    backwards = [c.reversed() for c in clips]
    back = [h.text for h in caption_clips(model, backwards, settings)]
    return {
        "exact match": float(np.mean([h.text == c.caption for h, c in zip(hyps, clips)])),
        "events right": events_right(clips, [h.text for h in hyps]),
        "verb pointing": tally.rate("verb"), "verb pointing ±1": tally.rate("verb", " ±1"),
        "object pointing": tally.rate("object"), "object pointing ±1": tally.rate("object", " ±1"),
        "verb pointing, event named right": tally.rate("verb named"),
        "verb pointing ±1, event named right": tally.rate("verb named", " ±1"),
        "uniform": tally.rate("verb", " uniform"), "uniform ±1": tally.rate("verb", " ±1 uniform"),
        "middle step": tally.rate("verb", " middle"),
        "reversed: events right": events_right(backwards, back),
        "reversed: forward verb given": forward_verbs_given(backwards, back),
    }


def video_report(names: list[str], n: int, seed: int, settings, device) -> dict:
    """Each named model's scores on n generated held-out clips of the seed."""
    from ..data.clip_events import generate_clips
    from ..models import registry

    clips = generate_clips(n, seed)
    return {name: score_video_captioner(registry.load(name, device, kind="video"), clips, settings) for name in names}
