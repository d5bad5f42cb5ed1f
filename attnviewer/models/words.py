"""What every decoder here shares about its output words: the vocabulary with its special tokens,
and turning a step's scores into log probabilities of words it may write."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)


def set_vocabulary(model: nn.Module, vocab: list[str]) -> None:
    """model.vocab, .index (word -> id) and the ids of <pad>, <start> and <end>."""
    model.vocab = vocab
    model.index = {w: i for i, w in enumerate(vocab)}
    model.pad_id, model.start_id, model.end_id = model.index[PAD], model.index[START], model.index[END]
    # <pad> and <start> are never generated (not a weight: kept out of the checkpoint)
    model.register_buffer("never", torch.tensor([model.pad_id, model.start_id]), persistent=False)


def word_log_probs(model: nn.Module, logits: Tensor) -> Tensor:
    """Log probabilities of the next word, with <pad> and <start> ruled out."""
    logits.index_fill_(1, model.never, float("-inf"))
    return torch.log_softmax(logits, dim=-1)


def padded(ids: Sequence[Sequence[int]], pad_id: int) -> Tensor:
    """(B, L) long tensor of the id sequences, each padded at its end with pad_id."""
    out = np.full((len(ids), max(map(len, ids))), pad_id, dtype=np.int64)
    for k, seq in enumerate(ids):
        out[k, : len(seq)] = seq
    return torch.from_numpy(out)


def encode_words(model: nn.Module, text: str) -> list[int]:
    """A sentence of the model's output language as ids, between <start> and <end>."""
    unk = model.index[UNK]
    return [model.start_id] + [model.index.get(w, unk) for w in text.split()] + [model.end_id]
