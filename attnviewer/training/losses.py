"""Losses the corpus tasks share."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def sentence_mean_loss(logits: Tensor, gold: Tensor, pad_id: int) -> Tensor:
    """Each sentence's mean word cross-entropy, averaged over the batch's sentences: a mean over
    examples, so that data-parallel ranks averaging their gradients get what one process gets on
    the whole batch. logits (B, L, V), gold (B, L) padded with pad_id."""
    words = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), gold.reshape(-1), ignore_index=pad_id,
                            reduction="none").view(gold.shape)
    real = (gold != pad_id).to(words.dtype)
    return ((words * real).sum(1) / real.sum(1).clamp_min(1)).mean()
