"""Training the video captioner on a real video-caption corpus (MSVD or MSR-VTT layouts, read by
data/corpus.py): a folder of clips and their captions.

Each clip is read as `attnviewer video` reads it (media/frames.py: `steps` frames spread evenly
over the whole clip, streamed) and squeezed to the model's square as kinds/video.py does, so the
model trains on exactly the frames it will see. The frames go through the image captioner's
frozen ImageNet encoder (the video captioner's "efficientnet-lite0" appearance), pooled to one
vector per frame, once: features.py keeps them in a memory-mapped array with progress and
resumption, and training reads only the rows of each batch. A clip that cannot be decoded is
counted, reported and left out with its captions; it never stops the run.

Every caption of a clip is one training example; the vocabulary is the training captions' words
seen at least `min_count` times; captions longer than `max_len` words are dropped and counted.
Validation captions the validation clips greedily and reports BLEU-4 and CIDEr-D (pycocoevalcap,
every reference of a clip). The checkpoint is an ordinary video model: `attnviewer video CLIP
--model FILE` and the window open it and run the encoder on the clip's frames themselves.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..models.video_captioner import VideoCaptioner, VideoConfig
from ..models.words import padded
from .corpus_splits import ReferenceIds, reference_examples, train_and_val
from .losses import sentence_mean_loss

APPEARANCE = "efficientnet-lite0"


@dataclass
class VideoCorpusSettings:
    data: str  # the captions: MSVD CSV or MSR-VTT JSON
    clips: str  # the folder of the clips
    features_dir: str | None = None  # where the frame features are kept (default features.DEFAULT_FOLDER)
    min_count: int = 2  # a word seen fewer times in the training captions reads as <unk>
    max_len: int = 20  # longest caption in words (longer ones are dropped); also the longest written
    steps: int = 12  # frames sampled from a clip
    frame_size: int = 160  # side of the square a frame is squeezed to (160 px: a 10x10 grid pooled)
    val_size: int = 500  # validation clips captioned at each validation
    score: str = "additive"
    hidden_dim: int = 256
    feature_dim: int = 256
    embed_dim: int = 128
    summary_start: bool = False
    change_features: bool = True
    seed: int = 0  # of the initial weights

    def validate(self) -> "VideoCorpusSettings":
        from ..catalog import SCORES
        from ..errors import SettingsError

        if self.score not in SCORES:
            raise SettingsError(f"unknown score function {self.score!r}; choose one of {', '.join(SCORES)}")
        for name in ("min_count", "max_len", "steps", "val_size", "hidden_dim", "feature_dim", "embed_dim"):
            if getattr(self, name) < 1:
                raise SettingsError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not 32 <= self.frame_size <= 512:
            raise SettingsError(f"--frame-size must be from 32 to 512 pixels, got {self.frame_size}")
        return self


def model_inputs(frames: np.ndarray) -> torch.Tensor:
    """(B, T, S, S, 3) uint8 -> (B, T, 3, S, S) float 0..255, as kinds/video.py gives the model."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 1, 4, 2, 3).float()


class VideoCorpusTask:
    """The training loop's Task (training/loop.py) for a video captioner on captioned clips."""

    figures = ("CIDEr-D", "BLEU-4")  # what validation reports, besides its loss
    select = "CIDEr-D"  # the captioning literature selects by CIDEr-D

    def __init__(self, settings: VideoCorpusSettings, log: Callable[[str], None] = print, device: str = "cpu"):
        from ..data.corpus import Vocabulary, read_video_captions
        from ..errors import DataError
        from ..models.video_captioner import PooledImageFeatures

        s = self.settings = settings.validate()
        corpus = read_video_captions(Path(s.data), Path(s.clips))
        self.problems = corpus.problems
        train, val = train_and_val(corpus, s.data, log)
        # a --min-count that leaves no word is refused before hours of feature extraction (the
        # vocabulary is built again below, from the clips that could be read)
        Vocabulary.build(self._short(train, "training", counted=False), s.min_count)
        appearance = PooledImageFeatures(s.feature_dim)
        appearance.encoder.backbone.load_pretrained()
        appearance.to(device)
        self.store, self.rows = self._features(appearance, [item.source for item in train + val], log)
        bad = {clip for clip, row in self.rows.items() if row in self.store.bad}
        for clip in sorted(bad):
            self.problems.add("unreadable clip", Path(clip).name)
        self.train = [item for item in train if item.source not in bad]
        self.val = [item for item in val if item.source not in bad][: s.val_size]
        if not self.train:
            raise DataError(f"{s.data}: none of the training clips could be read ({'; '.join(self.store.problems())})")
        torch.manual_seed(s.seed)
        vocab = Vocabulary.build(self._short(self.train, "training"), s.min_count, problems=self.problems).words
        config = VideoConfig(vocab_size=len(vocab), frame_size=s.frame_size, steps=s.steps, feature_dim=s.feature_dim,
                             hidden_dim=s.hidden_dim, embed_dim=s.embed_dim, score=s.score, max_len=s.max_len,
                             summary_start=s.summary_start, change_features=s.change_features, appearance=APPEARANCE)
        self.model = VideoCaptioner(config, vocab)
        self.model.frames.encoder.load_state_dict(appearance.encoder.cpu().state_dict())  # the features' encoder
        self.reference_ids = ReferenceIds([self.model.encode_text(" ".join(ref)) for ref in item.references]
                                          for item in self.train)
        self.examples = [(i, r) for i, r in reference_examples(self.train)
                         if len(self.train[i].references[r]) <= s.max_len]
        if not self.examples:
            raise DataError(f"{s.data}: no training caption within {s.max_len} words (--max-len)")
        log(f"{len(self.train)} training clips ({len(self.examples)} captions), {len(self.val)} for validation; "
            f"{len(vocab)} words (min count {s.min_count})")
        for line in self.problems.lines():
            log(f"  skipped: {line}")

    def _short(self, items: list, split: str, counted: bool = True):
        """The captions within max_len words (for the vocabulary); the others are counted (once)."""
        for item in items:
            for ref in item.references:
                if len(ref) > self.settings.max_len:
                    if counted:
                        self.problems.add(f"over-long {split} caption", f"{item.id}: {len(ref)} words")
                else:
                    yield ref

    def _features(self, appearance, sources: list[str], log):
        """The pooled frame features of every distinct clip (computed where not on disk yet, by one
        rank a machine: see features.py) and each clip's row."""
        from ..kinds.video import VIDEO
        from ..media.frames import model_frames
        from .features import DEFAULT_FOLDER, extract, file_key, module_digest

        s = self.settings
        clips = list(dict.fromkeys(sources))
        device = next(appearance.parameters()).device

        def load(i: int) -> np.ndarray:
            clip = VIDEO.read(clips[i], {"steps": s.steps})
            return model_frames(clip.frames, s.frame_size)

        def encode(frames: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                x = model_inputs(frames).to(device)
                return appearance.pooled(x.flatten(0, 1)).view(*x.shape[:2], -1).float().cpu().numpy()

        appearance.eval()
        key = {"appearance": APPEARANCE, "weights": module_digest(appearance.encoder)[:16], "frame_size": s.frame_size,
               "steps": s.steps, "frames": "middle of each of steps equal parts (media/frames.py)"}
        store = extract([file_key(c, "|") for c in clips], load, encode, s.features_dir or DEFAULT_FOLDER, key,
                        (s.steps, appearance.encoder.channels), name="frame-features", batch=8, log=log)
        return store, {c: i for i, c in enumerate(clips)}

    def size(self) -> int:
        return len(self.examples)

    def lengths(self) -> np.ndarray:
        """Each example's caption length: the loop batches similar lengths together (less padding)."""
        return self.reference_ids.lengths(self.examples)

    def batch(self, indices: Sequence[int], device) -> dict[str, torch.Tensor]:
        chosen = [self.examples[int(i)] for i in indices]
        features = self.store.rows([self.rows[self.train[i].source] for i, _ in chosen])
        captions = padded([self.reference_ids[i, r] for i, r in chosen], self.model.pad_id)
        return {"features": torch.from_numpy(features).to(device), "captions": captions.to(device)}

    def loss(self, model, batch: dict, sampling: float = 0.0) -> torch.Tensor:
        logits, _ = model(batch["features"], batch["captions"], sampling)
        return sentence_mean_loss(logits, batch["captions"][:, 1:], self.model.pad_id)

    def captions(self, model, items: list, batch: int = 64) -> list[str]:
        """Greedy captions of clips of the corpus, from their cached features."""
        from ..decoding.search import DecodeSettings, best_hypotheses

        features = torch.from_numpy(self.store.rows([self.rows[item.source] for item in items]))
        return [h.text for h in best_hypotheses(model, features, DecodeSettings("greedy"), batch)]

    def validate(self, model) -> dict[str, float]:
        """CIDEr-D and BLEU-4 (0..10 and 0..1, pycocoevalcap, without Java) of greedy captions of
        the validation clips against all their references; the loss of those references."""
        from ..evaluation.metrics import caption_metrics

        if not self.val:
            return dict.fromkeys(self.figures, 0.0)
        captions = self.captions(model, self.val)
        scores = caption_metrics([item.references for item in self.val], {"greedy": captions}, java=False)
        greedy = scores.scores["greedy"]
        return {"CIDEr-D": greedy["CIDEr-D"], "BLEU-4": greedy["BLEU-4"], "loss": self._val_loss(model)}

    @torch.inference_mode()
    def _val_loss(self, model, batch: int = 64) -> float:
        """The training loss (without scheduled sampling) of the validation clips' references
        within --max-len words: it breaks a tie of the selected figure."""
        device = next(model.parameters()).device
        pairs = [(self.rows[item.source], self.model.encode_text(" ".join(ref))) for item in self.val
                 for ref in item.references if len(ref) <= self.settings.max_len]
        total = 0.0  # through the class's loss: one set on the task (to watch training steps) sees only those
        for i in range(0, len(pairs), batch):
            chunk = pairs[i : i + batch]
            features = torch.from_numpy(self.store.rows([row for row, _ in chunk])).to(device)
            captions = padded([ids for _, ids in chunk], self.model.pad_id).to(device)
            total += float(type(self).loss(self, model, {"features": features, "captions": captions}, 0.0)) * len(chunk)
        return total / len(pairs) if pairs else float("nan")

    def record(self) -> dict:
        return {
            "task": "video", "data": str(Path(self.settings.data).resolve()),
            "clips": str(Path(self.settings.clips).resolve()), "settings": asdict(self.settings),
            "clips used": {"train": len(self.train), "val": len(self.val), "examples": len(self.examples)},
            "vocab": len(self.model.vocab), "skipped": self.problems.lines(),
        }
