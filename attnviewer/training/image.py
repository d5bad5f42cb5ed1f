"""Training the captioner on generated scenes.

The pretrained encoder is frozen, so its region features are computed once and cached on disk;
the decoder then trains in about a minute an epoch on two CPU cores. The doubly stochastic
penalty's weight lambda is a setting: with lambda = 1 (the Show-Attend-Tell default) attention
spreads onto the background; with lambda = 0 it stays on the objects.
"""
from __future__ import annotations

import copy
import hashlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..data.synthetic import DATA_VERSION, Scene, generate_scenes
from ..models.attention import doubly_stochastic_penalty
from ..models.captioner import SPECIALS, Captioner, CaptionerConfig
from ..models.checkpoint import save_checkpoint
from ..models.words import padded
from ..evaluation.captioner import scene_pixels

VALIDATION_SEED_OFFSET = 10_000  # held-out scenes use seed + this: never seen in training


@dataclass
class TrainSettings:
    out: str
    train_size: int = 20_000
    val_size: int = 500
    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    ds_lambda: float = 0.0
    score: str = "additive"
    hard: bool = False
    encoder: str = "efficientnet-lite0"
    image_size: int = 160
    hidden_dim: int = 256
    deep_output: bool = False  # measured here: worse pointing (cell 89.9% vs 92.7%)
    seed: int = 0  # of the generated scenes, and of the weights unless init_seed is given
    init_seed: int | None = None  # of the initial weights, dropout and batch order
    device: str = "cpu"
    cache_dir: str | None = None
    minutes: float | None = None  # stop after this long, whatever the epoch count


    def validate(self) -> "TrainSettings":
        """SettingsError for settings that cannot train, before anything is generated."""
        from ..errors import SettingsError

        check_training(self, hidden_dim=1, image_size=32)
        if not (self.ds_lambda >= 0 and math.isfinite(self.ds_lambda)):
            raise SettingsError(f"--lambda must be zero or positive, got {self.ds_lambda}")
        return self


def check_training(s, **minimums: int) -> None:
    """SettingsError for what every model's training settings share: the score function, sizes
    and counts of at least 1 (or the given minimum), a positive learning rate, a .safetensors out."""
    from ..errors import SettingsError
    from ..catalog import SCORES

    if s.score not in SCORES:
        raise SettingsError(f"unknown score function {s.score!r}; choose one of {', '.join(SCORES)}")
    for name, low in dict(dict.fromkeys(("train_size", "val_size", "epochs", "batch_size"), 1), **minimums).items():
        if getattr(s, name) < low:
            raise SettingsError(f"--{name.replace('_', '-')} must be at least {low}, got {getattr(s, name)}")
    if not (s.lr > 0 and math.isfinite(s.lr)):
        raise SettingsError(f"--lr must be a positive number, got {s.lr}")
    if not str(s.out).endswith(".safetensors"):
        raise SettingsError(f"{s.out}: the checkpoint is written as .safetensors; name it so")


def build_vocab(captions: list[str]) -> list[str]:
    words = sorted({w for c in captions for w in c.split()})
    return list(SPECIALS) + words


def pad_captions(model, captions: list[str]) -> torch.Tensor:
    """(B, L) ids of sentences in the model's output words, <start> ... <end>, padded with <pad>."""
    return padded([model.encode_text(c) for c in captions], model.pad_id)


@torch.inference_mode()
def encode_scenes(model: Captioner, scenes: list[Scene], device, batch: int = 64, log=None) -> torch.Tensor:
    """Frozen encoder features (N, regions, C) as float16 to halve the memory."""
    out = []
    for i in range(0, len(scenes), batch):
        out.append(model.regions(scene_pixels(scenes[i : i + batch]).to(device)).half().cpu())
        if log and (i // batch) % 50 == 0:
            log(f"  features {i + len(out[-1])}/{len(scenes)}")
    return torch.cat(out)


def cached_features(model, scenes, s: TrainSettings, seed: int, device, log) -> torch.Tensor:
    """Features depend only on the encoder weights and the scenes: cache them by both."""
    digest = hashlib.sha1()
    for v in model.encoder.state_dict().values():
        digest.update(v.cpu().numpy().tobytes()[:4096])
    key = f"{s.encoder}-{s.image_size}-v{DATA_VERSION}-{seed}-{len(scenes)}-{digest.hexdigest()[:10]}"
    cache = Path(s.cache_dir or Path.home() / ".cache" / "attnviewer") / f"features-{key}.pt"
    if cache.exists():
        log(f"features from cache {cache}")
        return torch.load(cache, weights_only=True)
    t0 = time.time()
    feats = encode_scenes(model, scenes, device, log=log)
    log(f"encoded {len(scenes)} scenes in {time.time() - t0:.0f} s")
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(feats, cache)
    return feats


def validate(model: Captioner, inputs: torch.Tensor, scenes: list[Scene]) -> dict[str, float]:
    """Greedy captions of the held-out scenes (cached regions, or pixels for an encoder that
    trains): exact match and the pointing game's two tests."""
    from ..decoding.search import DecodeSettings, best_hypotheses
    from ..evaluation.image import pointing

    model.eval()
    hyps = best_hypotheses(model, inputs, DecodeSettings("greedy"), batch=250)
    model.train()
    tally = pointing(scenes, hyps)
    exact = float(np.mean([h.text == sc.caption for h, sc in zip(hyps, scenes)]))
    return {"exact": exact, "cell": tally.rate("cell"), "pixel": tally.rate("pixel")}


def train_captioner(s: TrainSettings, log: Callable[[str], None] = print) -> Captioner:
    s.validate()
    init_seed = s.seed if s.init_seed is None else s.init_seed
    torch.manual_seed(init_seed)
    device = torch.device(s.device)
    t_start = time.time()
    log(f"generating {s.train_size} training and {s.val_size} held-out scenes (seed {s.seed})")
    train = generate_scenes(s.train_size, s.seed, s.image_size)
    val = generate_scenes(s.val_size, s.seed + VALIDATION_SEED_OFFSET, s.image_size)
    vocab = build_vocab([sc.caption for sc in train])
    config = CaptionerConfig(
        vocab_size=len(vocab), encoder=s.encoder, image_size=s.image_size, score=s.score,
        hard=s.hard, hidden_dim=s.hidden_dim, attn_dim=s.hidden_dim, ds_lambda=s.ds_lambda,
        deep_output=s.deep_output,
    )
    model = Captioner(config, vocab).to(device)
    frozen = s.encoder == "efficientnet-lite0"
    if frozen:
        model.encoder.backbone.load_pretrained()
        model.encoder.requires_grad_(False)
        model.encoder.eval()
        train_x = cached_features(model, train, s, s.seed, device, log)
        val_x = cached_features(model, val, s, s.seed + VALIDATION_SEED_OFFSET, device, log)
    else:  # a from-scratch encoder trains end to end on pixels
        train_x, val_x = scene_pixels(train), scene_pixels(val)
    captions = pad_captions(model, [sc.caption for sc in train])
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=s.lr)
    steps_per_epoch = math.ceil(len(train) / s.batch_size)
    total = steps_per_epoch * s.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i / total, 1))))
    baseline = None  # running reward baseline for hard attention's REINFORCE term
    gen = torch.Generator().manual_seed(init_seed)
    log(f"training {sum(p.numel() for p in params) / 1e6:.2f} M parameters, {s.epochs} epochs, lambda={s.ds_lambda}")
    model.train()
    if frozen:
        model.encoder.eval()
    epoch, best = 0, None
    for epoch in range(1, s.epochs + 1):
        t0, losses = time.time(), []
        for idx in torch.randperm(len(train), generator=gen).split(s.batch_size):
            x = train_x[idx].to(device).float() if frozen else model.regions(train_x[idx].to(device))
            y = captions[idx].to(device)
            y = y[:, : int((y != model.pad_id).sum(1).max())]
            logits, weights, log_probs = model(x, y)
            target, mask = y[:, 1:], y[:, 1:] != model.pad_id
            nll = F.cross_entropy(logits.transpose(1, 2), target, ignore_index=model.pad_id, reduction="none")
            loss = nll.sum() / mask.sum()
            if s.ds_lambda:
                loss = loss + s.ds_lambda * doubly_stochastic_penalty(weights, mask)
            if log_probs is not None:  # REINFORCE: reward = the caption's log likelihood
                reward = -(nll.sum(1)).detach()
                baseline = float(reward.mean()) if baseline is None else baseline
                loss = loss - ((reward - baseline) * (log_probs * mask).sum(1)).mean() / mask.sum(1).float().mean()
                baseline = 0.9 * baseline + 0.1 * float(reward.mean())
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
        v = validate(model, val_x, val)
        if frozen:
            model.encoder.eval()
        log(f"epoch {epoch}: loss {np.mean(losses):.4f}, held-out exact match {v['exact']:.1%}, "
            f"pointing cell {v['cell']:.1%} pixel {v['pixel']:.1%}, {time.time() - t0:.0f} s")
        # Keep the epoch that points best on the held-out scenes (early stopping on the
        # validation metric this model exists for); checkpoints swing by a few points.
        if best is None or v["cell"] + v["pixel"] > best[1]["cell"] + best[1]["pixel"]:
            best = (epoch, v, copy.deepcopy(model.state_dict()))
        if s.minutes and time.time() - t_start > s.minutes * 60:
            log(f"stopping after {s.minutes} minutes")
            break
    model.eval()
    record = {k: v for k, v in vars(s).items() if k not in ("out", "cache_dir", "device")}
    record.update(epochs_run=epoch, minutes=round((time.time() - t_start) / 60, 1))
    if best is not None:
        if best[0] != epoch:
            model.load_state_dict(best[2])
        record.update(selected_epoch=best[0], **{f"validation {k}": round(x, 4) for k, x in best[1].items()})
        log(f"kept epoch {best[0]}: held-out exact match {best[1]['exact']:.1%}, "
            f"pointing cell {best[1]['cell']:.1%} pixel {best[1]['pixel']:.1%}")
    save_checkpoint(model, s.out, record)
    log(f"saved {s.out}")
    return model
