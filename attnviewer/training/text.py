"""Training the translator on the generated language pair, keeping the epoch that aligns best.

BLEU saturates within minutes on a pair this regular while the alignment keeps improving, so the
checkpoint kept is the one with the lowest alignment error rate on held-out sentences, not the
one that translates best.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..data.pairs import DATA_VERSION, Pair, generate_pairs, vocabularies
from ..evaluation.translator import held_out_pairs, score_translator
from ..models.checkpoint import save_checkpoint
from ..models.translator import ATTENTIONS, ENCODERS, SOURCE_SPECIALS, TARGET_SPECIALS, Translator, TranslatorConfig
from .image import pad_captions

@dataclass
class TranslateTrainSettings:
    out: str
    train_size: int = 60_000
    val_size: int = 500
    epochs: int = 4
    batch_size: int = 64
    lr: float = 2e-3
    score: str = "additive"
    attention: str = "global"  # global | local
    encoder: str = "bigru"
    reverse_source: bool = False
    hidden_dim: int = 128
    seed: int = 0  # of the generated pairs, and of the weights unless init_seed is given
    init_seed: int | None = None
    device: str = "cpu"
    minutes: float | None = None  # stop after this long, whatever the epoch count
    checks_per_epoch: int = 2  # held-out scoring this often; the best-aligning check is kept

    def validate(self) -> "TranslateTrainSettings":
        from ..errors import SettingsError
        from .image import check_training

        check_training(self, hidden_dim=1, checks_per_epoch=1)
        if self.attention not in ATTENTIONS:
            raise SettingsError(f"unknown attention {self.attention!r}; choose global or local")
        if self.encoder not in ENCODERS:
            raise SettingsError(f"unknown encoder {self.encoder!r}; choose one of {', '.join(ENCODERS)}")
        return self


def new_translator(settings: TranslateTrainSettings) -> Translator:
    source, target = vocabularies()
    vocab = {"source": list(SOURCE_SPECIALS) + source, "target": list(TARGET_SPECIALS) + target}
    config = TranslatorConfig(
        source_vocab_size=len(vocab["source"]), target_vocab_size=len(vocab["target"]),
        hidden_dim=settings.hidden_dim, encoder=settings.encoder, score=settings.score,
        attention=settings.attention, reverse_source=settings.reverse_source,
    )
    return Translator(config, vocab)


def target_batch(model: Translator, pairs: list[Pair], device) -> torch.Tensor:
    return pad_captions(model, [p.target_text for p in pairs]).to(device)


def train_translator(s: TranslateTrainSettings, log: Callable[[str], None] = print) -> dict:
    s.validate()
    torch.manual_seed(s.seed if s.init_seed is None else s.init_seed)
    rng = np.random.default_rng(s.seed if s.init_seed is None else s.init_seed)
    device = torch.device(s.device)
    t0 = time.perf_counter()
    train = generate_pairs(s.train_size, s.seed)
    val = held_out_pairs(s.val_size, s.seed, {p.source_text for p in train})
    model = new_translator(s).to(device)
    log(f"{len(train)} training pairs, {len(val)} held out; {sum(p.numel() for p in model.parameters()):,} weights")
    optimiser = torch.optim.Adam(model.parameters(), lr=s.lr)
    batches = _length_buckets([len(p.source) for p in train], s.batch_size, rng)
    steps, check_every = s.epochs * len(batches), math.ceil(len(batches) / s.checks_per_epoch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, s.lr, total_steps=steps, pct_start=0.05)
    best, history, step = None, [], 0
    for epoch in range(1, s.epochs + 1):
        for b, rows in enumerate(rng.permutation(len(batches))):
            chunk = [train[i] for i in batches[rows]]
            model.train()
            source = model.source_batch([p.source for p in chunk], device)
            targets = target_batch(model, chunk, device)
            logits, _ = model(source, targets)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets[:, 1:].reshape(-1),
                                   ignore_index=model.pad_id)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimiser.step()
            schedule.step()
            step += 1
            out_of_time = s.minutes is not None and time.perf_counter() - t0 > 60 * s.minutes
            if (b + 1) % check_every and b + 1 < len(batches) and not out_of_time:
                continue
            model.eval()
            scores = dict(score_translator(model, val), epoch=round(step / len(batches), 2), loss=loss.item())
            history.append(scores)
            log(f"epoch {scores['epoch']:.2f}: loss {scores['loss']:.3f}  BLEU {scores['BLEU']:.2f}  exact "
                f"{scores['exact match']:.1%}  AER {scores['AER']:.3f} (diagonal {scores['diagonal AER']:.3f})"
                f"  {time.perf_counter() - t0:.0f} s")
            if best is None or scores["AER"] < best[0]["AER"]:
                best = (scores, copy.deepcopy(model.state_dict()))
            if out_of_time:
                break
        if out_of_time:
            log(f"stopped after {s.minutes:g} minutes")
            break
    model.load_state_dict(best[1])
    record = {"settings": asdict(s), "data_version": DATA_VERSION, "kept": best[0], "history": history,
              "seconds": round(time.perf_counter() - t0, 1)}
    save_checkpoint(model.eval(), s.out, record)
    log(f"kept epoch {best[0]['epoch']}: AER {best[0]['AER']:.3f}, BLEU {best[0]['BLEU']:.2f}; wrote {s.out}")
    return record


def _length_buckets(lengths: list[int], batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Batches of sentences of similar length (little padding), from a shuffled order."""
    order = rng.permutation(len(lengths))
    order = order[np.argsort(np.asarray(lengths)[order], kind="stable")]
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
