"""Training the video captioner on generated clips, keeping the epoch that points best in time.

Clips are played forwards or backwards at random (a reversed clip is a clip the generator could
have made, with the reverse caption) and sampled from a random first frame, so the model cannot
learn events from fixed frame positions.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..data.clip_events import DATA_VERSION, FRAMES, SIZE, STRIDE, clip_vocabulary, generate_clips
from ..models.checkpoint import save_checkpoint
from ..models.video_captioner import SPECIALS, VideoCaptioner, VideoConfig
from ..evaluation.video_captioner import clip_tensor, score_video_captioner
from .image import pad_captions

VALIDATION_SEED_OFFSET = 10_000


@dataclass
class VideoTrainSettings:
    out: str
    train_size: int = 6000
    val_size: int = 300
    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    score: str = "additive"
    seed: int = 0
    init_seed: int | None = None
    device: str = "cpu"
    minutes: float | None = None
    summary_start: bool = False  # plain S2VT: the decoder starts from the clip's summary
    change_features: bool = True  # the memory carries frame-to-frame change

    def validate(self) -> "VideoTrainSettings":
        from .image import check_training

        check_training(self)
        return self


def new_video_captioner(s: VideoTrainSettings) -> VideoCaptioner:
    vocab = list(SPECIALS) + clip_vocabulary()
    return VideoCaptioner(VideoConfig(vocab_size=len(vocab), frame_size=SIZE, steps=FRAMES // STRIDE,
                                      score=s.score, summary_start=s.summary_start,
                                      change_features=s.change_features), vocab)


def train_video_captioner(s: VideoTrainSettings, log: Callable[[str], None] = print) -> dict:
    s.validate()
    seed = s.seed if s.init_seed is None else s.init_seed
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = torch.device(s.device)
    t0 = time.perf_counter()
    train = generate_clips(s.train_size, s.seed)
    val = generate_clips(s.val_size, s.seed + VALIDATION_SEED_OFFSET)
    model = new_video_captioner(s).to(device)
    log(f"{len(train)} training clips, {len(val)} held out ({time.perf_counter() - t0:.0f} s); "
        f"{sum(p.numel() for p in model.parameters()):,} weights")
    optimiser = torch.optim.Adam(model.parameters(), lr=s.lr)
    batches = -(-len(train) // s.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, s.lr, total_steps=s.epochs * batches, pct_start=0.1)
    best, history = None, []
    for epoch in range(1, s.epochs + 1):
        model.train()
        order = rng.permutation(len(train))
        for b in range(batches):
            chunk = [train[i] for i in order[b * s.batch_size : (b + 1) * s.batch_size]]
            chunk = [c.reversed() if rng.random() < 0.5 else c for c in chunk]
            offset = int(rng.integers(STRIDE))
            frames = clip_tensor(np.stack([c.steps(offset) for c in chunk])).to(device)
            captions = pad_captions(model, [c.caption for c in chunk]).to(device)
            logits, _ = model(frames, captions)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), captions[:, 1:].reshape(-1),
                                   ignore_index=model.pad_id)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimiser.step()
            schedule.step()
        model.eval()
        scores = dict(score_video_captioner(model, val), epoch=epoch, loss=loss.item())
        history.append(scores)
        log(f"epoch {epoch}: loss {scores['loss']:.3f}  exact {scores['exact match']:.1%}  events "
            f"{scores['events right']:.1%}  verb pointing {scores['verb pointing']:.1%} "
            f"(±1 {scores['verb pointing ±1']:.1%})  object {scores['object pointing']:.1%}  reversed events "
            f"{scores['reversed: events right']:.1%}  {time.perf_counter() - t0:.0f} s")
        quality = scores["events right"] + scores["verb pointing"]
        if best is None or quality > best[0]:
            best = (quality, scores, copy.deepcopy(model.state_dict()))
        if s.minutes is not None and time.perf_counter() - t0 > 60 * s.minutes:
            log(f"stopped after {s.minutes:g} minutes")
            break
    model.load_state_dict(best[2])
    record = {"settings": asdict(s), "data_version": DATA_VERSION, "kept": best[1], "history": history,
              "seconds": round(time.perf_counter() - t0, 1)}
    save_checkpoint(model.eval(), s.out, record)
    log(f"kept epoch {best[1]['epoch']}: events right {best[1]['events right']:.1%}, verb pointing "
        f"{best[1]['verb pointing']:.1%}; wrote {s.out}")
    return record
