"""Running a sequence model along reference sentences (training): teacher forcing, optionally
with scheduled sampling (Bengio et al. 2015).

With teacher forcing every step reads the reference's previous word; at decoding time it reads its
own, and an early mistake puts it where training never went. Scheduled sampling feeds, with
probability `sampling` per word, the model's own most likely previous word instead (the training
loop ramps that probability up). Used by the forward of every model whose `_step(state, prev)`
returns (logits, attention, state): the image and video captioners and the translator.
"""
from __future__ import annotations

import torch
from torch import Tensor


def forced(model, state: dict[str, Tensor], targets: Tensor, sampling: float = 0.0,
           states: list | None = None) -> tuple[Tensor, Tensor]:
    """targets (B, L) start with <start>: logits (B, L-1, V) predicting targets[:, 1:], and the
    attention (B, L-1, N) of each step. Each step's new state is appended to `states` if given
    (the image captioner's hard attention reads its samples' log probabilities there)."""
    prev, logits, weights = targets[:, 0], [], []
    never = getattr(model, "never", None)  # <pad>, <start>: words it never writes (models/words.py)
    for t in range(targets.shape[1] - 1):
        out, w, state = model._step(state, prev)
        if states is not None:
            states.append(state)
        logits.append(out)
        weights.append(w)
        prev = targets[:, t + 1]
        if sampling > 0:
            own = out.detach()
            if never is not None:
                own = own.index_fill(1, never, float("-inf"))
            own = own.argmax(-1)
            use = torch.rand(prev.shape, device=prev.device) < sampling
            prev = torch.where(use & (prev != model.pad_id), own, prev)
    return torch.stack(logits, 1), torch.stack(weights, 1)
