"""Training the image captioner on a real corpus (Karpathy-split JSON or an image,caption CSV, read
by data/corpus.py), as Show-Attend-Tell did on Flickr and COCO, through the shared loop (loop.py).

The encoder is the ImageNet EfficientNet-Lite0 of the bundled models (images squashed to a square,
224 px by default: a 14x14 grid, Show-Attend-Tell's size). Two ways to train:
- frozen encoder (the default): every image is encoded once into a memory-mapped feature file
  (features.py; resumable, shared by later runs with the same encoder, size and images) and the
  decoder trains from those rows, streamed batch by batch;
- --fine-tune-encoder: images are read and encoded at every step and the backbone trains too, at a
  tenth of the decoder's rate (its batch norms keep their ImageNet statistics: batches are small).
Every reference caption is one training example; the vocabulary is the training captions' words
seen at least min_count times. The loss is each caption's mean word cross-entropy averaged over the
batch (losses.py), plus lambda times the doubly stochastic penalty (lambda = 1 as in the paper).
Validation decodes up to val_size validation images greedily and scores BLEU-4 (and CIDEr-D)
against all their references, without Java (metrics.py).

An image that cannot be read (missing since the corpus was listed, truncated, not an image) is
counted and its captions are skipped: in the feature file its row is marked bad; when fine-tuning
it is dropped from its batch and never read again.

The checkpoint is an ordinary caption model: `attnviewer caption --model FILE` and the window open
it. Its training record names the data; it carries no domain record (domain.py's records describe
generated scenes, so a real-data model gets no out-of-domain note rather than a false one).
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..errors import DataError, SettingsError
from ..models.attention import doubly_stochastic_penalty
from ..models.captioner import Captioner, CaptionerConfig
from ..models.words import padded
from .corpus_splits import ReferenceIds, reference_examples, train_and_val
from .features import (DEFAULT_FOLDER, READ_ERRORS, FeatureStore, default_workers, extract, file_key, load_all,
                       module_digest)
from .losses import sentence_mean_loss


@dataclass
class CaptionCorpusSettings:
    data: str  # Karpathy JSON or image,caption CSV
    images: str | None = None  # image root (default: the annotations' folder)
    min_count: int = 5
    image_size: int = 224
    encoder: str = "efficientnet-lite0"  # small-cnn: a from-scratch encoder, only with fine_tune_encoder
    fine_tune_encoder: bool = False
    encoder_lr_scale: float = 0.1  # the fine-tuned encoder's rate, relative to the decoder's
    ds_lambda: float = 1.0
    score: str = "additive"
    hidden_dim: int = 512
    embed_dim: int = 256
    dropout: float = 0.5
    max_len: int = 50  # longer captions are cut (and counted); also the decoder's longest output
    val_size: int = 1000  # validation images decoded at each validation
    features_dir: str | None = None
    seed: int = 0  # of the initial weights
    workers: int | None = None  # threads reading images

    def validate(self) -> "CaptionCorpusSettings":
        from ..catalog import SCORES

        if self.score not in SCORES:
            raise SettingsError(f"unknown score function {self.score!r}; choose one of {', '.join(SCORES)}")
        for name, low in (("min_count", 1), ("image_size", 32), ("hidden_dim", 1), ("embed_dim", 1),
                          ("max_len", 1), ("val_size", 1)):
            if getattr(self, name) < low:
                raise SettingsError(f"--{name.replace('_', '-')} must be at least {low}, got {getattr(self, name)}")
        for name, high in (("image_size", 1024), ("hidden_dim", 4096), ("embed_dim", 4096)):  # what a checkpoint may hold
            if getattr(self, name) > high:
                raise SettingsError(f"--{name.replace('_', '-')} must be at most {high}, got {getattr(self, name)}")
        if self.workers is not None and self.workers < 1:
            raise SettingsError(f"--workers must be at least 1, got {self.workers}")
        if not (0 <= self.ds_lambda <= 1000):
            raise SettingsError(f"--lambda must be from 0 to 1000, got {self.ds_lambda}")
        if not 0 <= self.dropout < 1:
            raise SettingsError(f"--dropout must be from 0 to below 1, got {self.dropout}")
        if self.encoder == "small-cnn" and not self.fine_tune_encoder:
            raise SettingsError("the small-cnn encoder has no pretrained weights: train it with --fine-tune-encoder")
        return self


class ImageCaptionTask:
    """The loop's Task (loop.py) for the image captioner on a real corpus."""

    figures = ("CIDEr-D", "BLEU-4")  # what validation reports, besides its loss
    select = "CIDEr-D"  # the captioning literature selects by CIDEr-D

    def __init__(self, settings: CaptionCorpusSettings, device: str = "cpu", log: Callable[[str], None] = print,
                 corpus=None):
        from ..data.corpus import Vocabulary, read_image_captions

        s = self.settings = settings.validate()
        self.device, self.log = device, log
        if corpus is None:
            corpus = read_image_captions(Path(s.data), Path(s.images) if s.images else None)
        self.problems = corpus.problems
        train, val = train_and_val(corpus, s.data, log)
        self.train, self.val = train, val[: s.val_size]
        vocab = Vocabulary.build((r for item in train for r in item.references), s.min_count, problems=self.problems)
        self.vocab = vocab
        longest = max(len(r) for item in train for r in item.references)
        torch.manual_seed(s.seed)  # every rank builds the same model
        config = CaptionerConfig(vocab_size=len(vocab), encoder=s.encoder, image_size=s.image_size, score=s.score,
                                 embed_dim=s.embed_dim, hidden_dim=s.hidden_dim, attn_dim=s.hidden_dim,
                                 dropout=s.dropout, max_len=min(s.max_len, longest + 1), ds_lambda=s.ds_lambda)
        self.model = Captioner(config, vocab.words)
        if s.encoder == "efficientnet-lite0":
            self.model.encoder.backbone.load_pretrained()
        self.frozen = not s.fine_tune_encoder
        if self.frozen:
            self.model.encoder.requires_grad_(False)
        self.model.encoder.eval()
        self.captions = ReferenceIds([self._ids(ref) for ref in item.references] for item in train)
        self.unreadable: dict[str, str] = {}  # image path -> why (fine-tuning finds them as it goes)
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(s.workers or default_workers())
        self.train_rows = self.val_rows = None
        if self.frozen:
            self.train_rows = self._features(train, "train")
            self.val_rows = self._features(self.val, "val")
            bad = set(self.train_rows.bad)
            train_ok = [i for i in range(len(train)) if i not in bad]
            self.val_ok = [i for i in range(len(self.val)) if i not in self.val_rows.bad]
        else:
            train_ok, self.val_ok = list(range(len(train))), list(range(len(self.val)))
        keep = set(train_ok)
        self.examples = [(i, r) for i, r in reference_examples(train) if i in keep]
        if not self.examples:
            raise DataError(f"{s.data}: no training image could be read")
        log(f"{len(train)} training images ({len(self.examples)} captions), {len(self.val)} for validation; "
            f"{len(vocab)} words (min count {s.min_count}); "
            + ("frozen encoder, features from disk" if self.frozen else "fine-tuning the encoder"))
        for line in self.problems.lines() + self._unreadable_lines():
            log(f"  skipped: {line}")

    # -- data ------------------------------------------------------------------------------------

    def _ids(self, tokens: Sequence[str]) -> list[int]:
        if len(tokens) > self.settings.max_len:
            self.problems.add("over-long caption", f"{' '.join(tokens[:4])} ... ({len(tokens)} words, "
                                                   f"cut to {self.settings.max_len})")
            tokens = tokens[: self.settings.max_len]
        return self.vocab.encode(tokens)

    def _pixels(self, path: str) -> np.ndarray:
        from ..media.images import load_image, model_input

        return model_input(load_image(path).rgb, self.settings.image_size)

    @torch.inference_mode()
    def _encode(self, pixels: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().to(self.device)
        return self.model.to(self.device).regions(x).float().cpu().numpy()

    def _features(self, items: list, split: str) -> FeatureStore:
        """The split's region features on disk (made by one rank a machine, see features.py)."""
        s = self.settings
        folder = Path(s.features_dir) if s.features_dir else DEFAULT_FOLDER
        grid = self.model.config.grid
        key = {"what": "image regions", "encoder": s.encoder, "weights": module_digest(self.model.encoder),
               "image_size": s.image_size, "reader": "media.images.load_image + model_input"}
        paths = [item.source for item in items]
        ids = [file_key(p) for p in paths]  # a changed image makes new features, never stale ones
        return extract(ids, lambda i: self._pixels(paths[i]), self._encode, folder, key,
                       (grid[0] * grid[1], self.model.encoder.channels), name=f"{Path(s.data).stem}-{split}",
                       workers=s.workers, log=self.log)

    def _read_images(self, items: list, rows: Sequence[int]) -> tuple[list[int], np.ndarray | None]:
        """The pixels of the readable images among items[rows] (and which rows they are); an
        unreadable image is remembered and counted, and never read again."""
        with self.lock:
            rows = [r for r in rows if items[r].source not in self.unreadable]
        loaded = load_all(self.pool, lambda r: self._pixels(items[r].source), rows)
        good = []
        for r, x in zip(rows, loaded):
            if isinstance(x, READ_ERRORS):
                with self.lock:
                    if items[r].source not in self.unreadable:
                        self.unreadable[items[r].source] = str(x)
                        self.log(f"skipping an unreadable image: {x}")
            else:
                good.append(r)
        pixels = np.stack([x for x in loaded if not isinstance(x, READ_ERRORS)]) if good else None
        return good, pixels

    def _unreadable_lines(self) -> list[str]:
        bad = list(self.train_rows.bad.values()) + list(self.val_rows.bad.values()) if self.frozen \
            else list(self.unreadable.values())
        if not bad:
            return []
        return [f"{len(bad)} unreadable image{'s' if len(bad) != 1 else ''} (e.g. {'; '.join(bad[:3])})"]

    # -- the Task interface ---------------------------------------------------------------------

    def size(self) -> int:
        return len(self.examples)

    def lengths(self) -> np.ndarray:
        """Each example's caption length: the loop batches similar lengths together (less padding),
        as Show-Attend-Tell drew its batches from captions of one length."""
        return self.captions.lengths(self.examples)

    def batch(self, indices: Sequence[int], device) -> dict[str, torch.Tensor]:
        chosen = [self.examples[int(i)] for i in indices]
        if self.frozen:
            inputs = {"regions": torch.from_numpy(self.train_rows.rows([i for i, _ in chosen])).to(device)}
        else:
            rows, pixels = self._read_images(self.train, sorted({i for i, _ in chosen}))
            at = {r: k for k, r in enumerate(rows)}
            chosen = [(i, r) for i, r in chosen if i in at]
            if not chosen:
                return {"empty": torch.zeros(0)}
            pick = torch.tensor([at[i] for i, _ in chosen])
            inputs = {"pixels": torch.from_numpy(pixels).permute(0, 3, 1, 2).float()[pick].to(device)}
        return dict(inputs, captions=self.caption_batch(chosen, device))

    def caption_batch(self, chosen: Sequence[tuple[int, int]], device) -> torch.Tensor:
        """(B, L) ids of the chosen (image, reference) captions, <start> ... <end>, padded."""
        return padded([self.captions[i, r] for i, r in chosen], self.model.pad_id).to(device)

    def loss(self, model, batch: dict, sampling: float = 0.0) -> torch.Tensor:
        if "empty" in batch:  # every image of this rank's slice was unreadable: no gradient
            return sum(p.sum() for p in model.parameters() if p.requires_grad) * 0.0
        model.encoder.eval()  # frozen, or fine-tuned with ImageNet's batch statistics
        regions = batch["regions"] if "regions" in batch else model.regions(batch["pixels"])
        captions = batch["captions"]
        logits, weights, _ = model(regions, captions, sampling)
        gold = captions[:, 1:]
        loss = sentence_mean_loss(logits, gold, model.pad_id)
        if self.settings.ds_lambda:
            loss = loss + self.settings.ds_lambda * doubly_stochastic_penalty(weights.float(), gold != model.pad_id)
        return loss

    def parameter_groups(self, lr: float) -> list[dict]:
        encoder = [p for p in self.model.encoder.parameters() if p.requires_grad]
        rest = [p for n, p in self.model.named_parameters() if p.requires_grad and not n.startswith("encoder.")]
        groups = [{"params": rest, "lr": lr}]
        if encoder:
            groups.append({"params": encoder, "lr": lr * self.settings.encoder_lr_scale})
        return groups

    def validate(self, model) -> dict[str, float]:
        """Greedy captions of the validation images: CIDEr-D and BLEU-4 against all references;
        and the loss of every reference caption of those images (teacher-forced)."""
        from ..decoding.search import DecodeSettings, best_hypotheses
        from ..evaluation.metrics import caption_metrics

        device = next(model.parameters()).device
        if self.frozen:
            rows = self.val_ok
            inputs = torch.from_numpy(self.val_rows.rows(rows)) if rows else None
        else:
            rows, pixels = self._read_images(self.val, self.val_ok)
            inputs = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() if rows else None
        if inputs is None:
            return dict.fromkeys(self.figures, 0.0)
        hyps = best_hypotheses(model, inputs.to(device), DecodeSettings("greedy"), batch=100)
        scores = caption_metrics([self.val[r].references for r in rows], {"greedy": [h.tokens for h in hyps]},
                                 java=False).scores["greedy"]
        return {"CIDEr-D": scores["CIDEr-D"], "BLEU-4": scores["BLEU-4"], "loss": self._val_loss(model, inputs, rows)}

    @torch.inference_mode()
    def _val_loss(self, model, inputs: torch.Tensor, rows: Sequence[int], batch: int = 64) -> float:
        """The training loss (without scheduled sampling) of every reference of the validated
        images: it breaks a tie of the selected figure."""
        device = next(model.parameters()).device
        pairs = [(k, self.vocab.encode(ref[: self.settings.max_len])) for k, r in enumerate(rows)
                 for ref in self.val[r].references]
        total = 0.0  # through the class's loss: one set on the task (to watch training steps) sees only those
        for i in range(0, len(pairs), batch):
            chunk = pairs[i : i + batch]
            x = inputs[torch.tensor([k for k, _ in chunk])].to(device)
            captions = padded([ids for _, ids in chunk], self.model.pad_id).to(device)
            inputs_k = "regions" if self.frozen else "pixels"
            total += float(type(self).loss(self, model, {inputs_k: x, "captions": captions}, 0.0)) * len(chunk)
        return total / max(1, len(pairs))

    def record(self) -> dict:
        s = self.settings
        return {
            "task": "caption", "data": str(Path(s.data).resolve()),
            "images": str(Path(s.images).resolve()) if s.images else str(Path(s.data).resolve().parent),
            "settings": {k: v for k, v in asdict(s).items() if k not in ("data", "images", "features_dir", "workers")},
            "counts": {"train images": len({i for i, _ in self.examples}), "val images": len(self.val_ok),
                       "captions": len(self.examples)},
            "vocab": len(self.vocab), "skipped": self.problems.lines() + self._unreadable_lines(),
        }
