"""Training the translator on a real parallel corpus: tab-separated sentence pairs, one file or a
folder with one file per split (read by data/corpus.py, which counts malformed lines).

Both vocabularies come from the training split: words seen at least `min_count` times, the rest
read as <unk>. Pairs longer than the limits are dropped and counted, not truncated: the location
score needs a fixed longest source, and a few very long pairs would set the padding of every
batch they fall in. Validation translates the validation split greedily (the first `val_size`
pairs) and reports corpus BLEU-4 and chrF through sacrebleu. The checkpoint is an ordinary
translate model: `attnviewer translate` and the window open it, and a word it never saw is read
as <unk> and named, as for the bundled translators.

Memory: once the vocabularies are built, the training pairs are kept as their word ids alone, in
int32 arrays (corpus_splits.IdArrays; example k is pair k, a pair has one target) and their words
are let go; the validation pairs keep their words (BLEU scores words).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..models.translator import ATTENTIONS, ENCODERS, SOURCE_SPECIALS, Translator, TranslatorConfig
from ..models.words import PAD, padded
from .corpus_splits import IdArrays, train_and_val
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


def too_long(items: list, s: TranslateCorpusSettings, problems, split: str) -> list:
    """The items within the length limits; the others are counted in `problems` by split."""
    kept = []
    for item in items:
        n_source, n_target = len(item.source.split()), max(map(len, item.references))
        if n_source > s.max_source_len or n_target > s.max_target_len:
            problems.add(f"over-long {split} pair", f"{item.id}: {n_source}/{n_target} words")
        else:
            kept.append(item)
    return kept


class TranslationCorpusTask:
    """The training loop's Task (training/loop.py) for a translator on sentence pairs."""

    figures = ("BLEU", "chrF")  # sacreBLEU's, 0..100; what validation reports besides its loss
    select = "BLEU"

    def __init__(self, settings: TranslateCorpusSettings, log: Callable[[str], None] = print):
        from ..data.corpus import Vocabulary, read_pairs

        s = self.settings = settings.validate()
        corpus = read_pairs(Path(s.data))
        self.problems = corpus.problems
        train, val = train_and_val(corpus, s.data, log)
        train = too_long(train, s, self.problems, "training")
        self.val = too_long(val, s, self.problems, "validation")[: s.val_size]
        if not train:
            from ..errors import DataError

            raise DataError(f"{s.data}: no training pair within {s.max_source_len} source and "
                            f"{s.max_target_len} target words")
        source = Vocabulary.build((item.source.split() for item in train), s.min_count, specials=SOURCE_SPECIALS,
                                  problems=self.problems)
        target = Vocabulary.build((r for item in train for r in item.references), s.min_count, problems=self.problems)
        vocab = {"source": source.words, "target": target.words}
        config = TranslatorConfig(
            source_vocab_size=len(vocab["source"]), target_vocab_size=len(vocab["target"]), embed_dim=s.embed_dim,
            hidden_dim=s.hidden_dim, encoder=s.encoder, score=s.score, attention=s.attention,
            reverse_source=s.reverse_source, max_len=s.max_target_len, max_source_len=s.max_source_len,
            tokenizer="corpus",  # `attnviewer translate` splits a sentence as the reader split the pairs
        )
        torch.manual_seed(s.seed)
        self.model = Translator(config, vocab)
        self.sources, self.targets = self.encode(train)  # the training pairs' words go with this call
        log(f"{len(self.sources)} training pairs, {len(self.val)} for validation; vocabularies of "
            f"{len(vocab['source'])} source and {len(vocab['target'])} target words (min count {s.min_count})")
        for line in self.problems.lines():
            log(f"  skipped: {line}")

    def encode(self, train: list) -> tuple[IdArrays, IdArrays]:
        """The pairs' source ids and target ids (<start> ... <end>), as the model reads them."""
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
        lengths = torch.from_numpy(self.sources.lengths[chosen])
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
