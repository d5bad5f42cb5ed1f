"""Training the translator on a real parallel corpus: tab-separated sentence pairs, one file or a
folder with one file per split (read by data/corpus.py, which counts malformed lines).

Both vocabularies come from the training split: words seen at least `min_count` times, the rest
read as <unk>. Pairs longer than the limits are dropped and counted, not truncated: the location
score needs a fixed longest source, and a few very long pairs would set the padding of every
batch they fall in. Validation translates the validation split greedily (the first `val_size`
pairs) and reports corpus BLEU-4 and chrF through sacrebleu. The checkpoint is an ordinary
translate model: `attnviewer translate` and the window open it, and a word it never saw is read
as <unk> and named, as for the bundled translators.

Memory: the training pairs are read as they stream past and kept on the disk as their word ids
alone (pair_arrays: example k is pair k, a pair has one target), so a corpus larger than memory
trains; the validation pairs keep their words (BLEU scores words).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..models.translator import ATTENTIONS, ENCODERS, SOURCE_SPECIALS, Translator, TranslatorConfig
from ..models.words import PAD, padded
from .corpus_splits import IdArrays
from .losses import sentence_mean_loss


@dataclass
class TranslateCorpusSettings:
    data: str  # a TSV file of pairs, or a folder of train/val/test TSVs
    min_count: int = 2  # a word seen fewer times in training reads as <unk>
    max_source_len: int = 50  # longer pairs are dropped and counted
    max_target_len: int = 50
    val_size: int = 1000  # validation pairs translated at each validation
    score: str = "additive"
    attention: str = "global"  # global | local (Luong's local-p)
    encoder: str = "bigru"
    reverse_source: bool = False
    hidden_dim: int = 256
    embed_dim: int = 128
    seed: int = 0  # of the initial weights

    def validate(self) -> "TranslateCorpusSettings":
        from ..catalog import SCORES
        from ..errors import SettingsError

        if self.score not in SCORES:
            raise SettingsError(f"unknown score function {self.score!r}; choose one of {', '.join(SCORES)}")
        if self.attention not in ATTENTIONS:
            raise SettingsError(f"unknown attention {self.attention!r}; choose global or local")
        if self.encoder not in ENCODERS:
            raise SettingsError(f"unknown encoder {self.encoder!r}; choose one of {', '.join(ENCODERS)}")
        for name in ("min_count", "max_source_len", "max_target_len", "val_size", "hidden_dim", "embed_dim"):
            if getattr(self, name) < 1:
                raise SettingsError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        return self


class TranslationCorpusTask:
    """The training loop's Task (training/loop.py) for a translator on sentence pairs."""

    figures = ("BLEU", "chrF")  # sacreBLEU's, 0..100; what validation reports besides its loss
    select = "BLEU"

    def __init__(self, settings: TranslateCorpusSettings, log: Callable[[str], None] = print,
                 ids_dir: str | Path | None = None):
        """ids_dir: the folder in which the training pairs' ids are kept while the task lives (the
        CLI gives --out's folder; None: the system's temporary folder); see pair_arrays."""
        from .pair_arrays import read_training_pairs

        s = self.settings = settings.validate()
        pairs = self.pairs = read_training_pairs(s, ids_dir, log, SOURCE_SPECIALS)
        self.problems, self.val = pairs.problems, pairs.val
        vocab = {"source": pairs.source_vocab.words, "target": pairs.target_vocab.words}
        config = TranslatorConfig(
            source_vocab_size=len(vocab["source"]), target_vocab_size=len(vocab["target"]), embed_dim=s.embed_dim,
            hidden_dim=s.hidden_dim, encoder=s.encoder, score=s.score, attention=s.attention,
            reverse_source=s.reverse_source, max_len=s.max_target_len, max_source_len=s.max_source_len,
            tokenizer="corpus",  # `attnviewer translate` splits a sentence as the reader split the pairs
        )
        torch.manual_seed(s.seed)
        self.model = Translator(config, vocab)
        self.sources, self.targets = pairs.sources, pairs.targets  # on the disk, read as batches ask
        log(f"{len(self.sources)} training pairs, {len(self.val)} for validation; vocabularies of "
            f"{len(vocab['source'])} source and {len(vocab['target'])} target words (min count {s.min_count})")
        for line in self.problems.lines():
            log(f"  skipped: {line}")

    def close(self) -> None:
        """Let the training pairs' id files go (they also go when the task is collected or the process ends)."""
        self.pairs.close()

    def encode(self, train: list) -> tuple[IdArrays, IdArrays]:
        """The pairs' source ids and target ids (<start> ... <end>), as the model reads them (the
        validation pairs, in memory)."""
        return (IdArrays(self.model.encode_source(item.source.split()) for item in train),
                IdArrays(self.model.encode_text(" ".join(item.references[0])) for item in train))

    def size(self) -> int:
        return len(self.sources)

    def lengths(self) -> np.ndarray:
        """Each example's source length: the loop batches similar lengths together (less padding)."""
        return self.sources.lengths

    def batch(self, indices: Sequence[int], device) -> dict[str, torch.Tensor]:
        """As model.source_batch pads the pairs' words, from their ids."""
        chosen = [int(i) for i in indices]
        ids = padded([self.sources[i] for i in chosen], self.model.source_index[PAD])
        lengths = torch.from_numpy(self.sources.lengths[chosen].astype(np.int64))
        targets = padded([self.targets[i] for i in chosen], self.model.pad_id)
        return {"source": ids.to(device), "lengths": lengths.to(device), "targets": targets.to(device)}

    def loss(self, model, batch: dict, sampling: float = 0.0) -> torch.Tensor:
        logits, _ = model((batch["source"], batch["lengths"]), batch["targets"], sampling)
        return sentence_mean_loss(logits, batch["targets"][:, 1:], self.model.pad_id)

    def validate(self, model) -> dict[str, float]:
        """Greedy translations of the validation pairs: sacrebleu's BLEU and chrF (0..100), and
        the loss of their references (teacher-forced)."""
        from ..evaluation.metrics import translation_metrics
        from ..evaluation.translator import translate_pairs

        if not self.val:
            return dict.fromkeys(self.figures, 0.0)
        hyps = translate_pairs(model, [item.source.split() for item in self.val])
        scores = translation_metrics([item.references for item in self.val], [h.text for h in hyps])
        return {"BLEU": scores["BLEU"], "chrF": scores["chrF"], "loss": self._val_loss(model)}

    @torch.inference_mode()
    def _val_loss(self, model, batch: int = 64) -> float:
        """The training loss (without scheduled sampling) of the validation pairs' first
        references: it breaks a tie of the selected figure."""
        device = next(model.parameters()).device
        sources, targets = self.encode(self.val)
        total = 0.0  # through the class's loss: one set on the task (to watch training steps) sees only those
        for i in range(0, len(self.val), batch):
            chosen = list(range(i, min(i + batch, len(self.val))))
            pairs = {"source": padded([sources[k] for k in chosen], self.model.source_index[PAD]).to(device),
                     "lengths": torch.from_numpy(sources.lengths[chosen]).to(device),
                     "targets": padded([targets[k] for k in chosen], self.model.pad_id).to(device)}
            total += float(type(self).loss(self, model, pairs, 0.0)) * len(chosen)
        return total / len(self.val)

    def record(self) -> dict:
        return {
            "task": "translate", "data": str(Path(self.settings.data).resolve()),
            "settings": asdict(self.settings),
            "pairs": {"train": len(self.sources), "val": len(self.val), "examples": len(self.sources)},
            "vocab": {"source": len(self.model.source_vocab), "target": len(self.model.vocab)},
            "skipped": self.problems.lines(),
        }
