"""Attention: the alignment score functions of the lecture table behind one interface.

    e_ti = score(s_t, h_i)     alpha_t = softmax(e_t)     c_t = sum_i alpha_ti h_i

| name       | score(s, h_i)                         | learned                         |
|------------|---------------------------------------|---------------------------------|
| content    | cosine(W_q s, h_i) * sharpness         | W_q, sharpness (as in the NTM)  |
| additive   | v^T tanh(W_q s + W_k h_i)  (Bahdanau)  | W_q, W_k, v                     |
| location   | alpha_t = softmax(W_a s)  (no h_i)     | W_a; needs a fixed input length |
| general    | s^T W_a h_i  (Luong)                   | W_a                             |
| dot        | s^T h_i                               | nothing; s and h the same size  |
| scaled_dot | s^T h_i / sqrt(n)                      | nothing; s and h the same size  |

Soft attention returns the expected context. Hard (stochastic) attention samples one location
from the weights while training (so a REINFORCE term can use its log probability) and uses the
expectation at evaluation, as in Show, Attend and Tell.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..catalog import ATTN_ACTIVATIONS as ACTIVATIONS, SCORES  # noqa: E402  (one list of names, importable without torch)

CACHE_BLOCK_BYTES = 1 << 19  # additive scores: the largest intermediate block worked on at once
# Rows of unequal groups per input: an input's keys or values up to this many elements are copied
# to each of its rows and worked on in one batch (a per-input loop of small operations cost twice
# as much at 12-13 positions x 128-192, as the video and text models have); larger ones are not.
GATHER_ELEMENTS = 8192


class AttentionOutput(NamedTuple):
    weights: Tensor  # (B, N), each row sums to 1
    context: Tensor  # (B, value_dim)
    sample: Tensor | None = None  # (B,) sampled location, hard attention only
    log_prob: Tensor | None = None  # (B,) log probability of that sample


class Attention(nn.Module):
    """One alignment score function; `prepare` does the per-input work once, `forward` per step."""

    def __init__(
        self,
        query_dim: int,
        key_dim: int,
        score: str = "additive",
        attn_dim: int | None = None,
        n_positions: int | None = None,
        hard: bool = False,
        activation: str = "tanh",
    ):
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"unknown score function {score!r}; choose one of {', '.join(SCORES)}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown attention activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        self.score_name = score
        self.activation = activation  # of the additive score: tanh (Bahdanau), relu (the SAT tutorial)
        self.hard = hard
        self.query_dim, self.key_dim = query_dim, key_dim
        attn_dim = attn_dim or query_dim
        if score == "content":
            self.query_proj = nn.Linear(query_dim, key_dim)
            self.log_sharpness = nn.Parameter(torch.tensor(math.log(10.0)))
        elif score == "additive":
            self.query_proj = nn.Linear(query_dim, attn_dim)
            self.key_proj = nn.Linear(key_dim, attn_dim, bias=False)
            self.v = nn.Linear(attn_dim, 1, bias=False)
        elif score == "location":
            if not n_positions:
                raise ValueError("location-based attention needs a fixed number of positions")
            self.position_proj = nn.Linear(query_dim, n_positions)
        elif score == "general":
            self.key_proj = nn.Linear(key_dim, query_dim, bias=False)
        elif query_dim != key_dim:  # dot, scaled_dot have nothing to learn: sizes must agree
            raise ValueError(f"{score} attention needs queries and keys of one size, got {query_dim} and {key_dim}")

    def prepare(self, keys: Tensor) -> Tensor:
        """Per-key work that does not depend on the decoder state, done once per input."""
        if self.score_name == "content":
            return F.normalize(keys, dim=-1)
        if self.score_name in ("additive", "general"):
            return self.key_proj(keys)
        return keys

    def scores(self, query: Tensor, prepared: Tensor, owner: Tensor | None = None) -> Tensor:
        """Unnormalised alignment scores e_ti, shape (B, N).

        The query may have g rows per input (B = g * inputs): consecutive groups of g rows share
        one input's keys, as the k hypotheses of a beam do, so the keys are never copied k times.
        Groups of unequal size name each row's input in `owner` (B,) instead.
        """
        name = self.score_name
        if name == "location":
            return self.position_proj(query)[:, : prepared.shape[1]]
        if name == "content":
            query = F.normalize(self.query_proj(query), dim=-1)
        elif name == "additive":
            query = self.query_proj(query)
        e = self._grouped(query, prepared) if owner is None else self._by_owner(query, prepared, owner)
        if name == "content":
            e = e * self.log_sharpness.exp()
        elif name == "scaled_dot":
            e = e / math.sqrt(self.key_dim)
        return e

    def _grouped(self, q: Tensor, prepared: Tensor) -> Tensor:
        """Scores of (projected) queries in equal groups of consecutive rows per input."""
        q = q.view(prepared.shape[0], -1, q.shape[-1])  # (inputs, g, Q)
        if self.score_name == "additive":
            # tanh(W_k h_i + W_q s) is a (g, N, A) block per input: done in place and a few inputs
            # at a time, so that tanh and the dot with v read it from cache, not from memory.
            q = q[:, :, None]
            per_input = q.shape[1] * prepared[0].numel() * prepared.element_size()
            n = max(1, CACHE_BLOCK_BYTES // per_input)
            e = torch.cat([self._squash_(k[:, None] + qk) @ self.v.weight[0]
                           for k, qk in zip(prepared.split(n), q.split(n))])
        else:  # content, general, dot, scaled_dot
            e = q @ prepared.transpose(1, 2)
        return e.reshape(-1, prepared.shape[1])

    def _by_owner(self, q: Tensor, prepared: Tensor, owner: Tensor) -> Tensor:
        """Scores of (projected) queries sorted by their owner: small keys copied to each row's,
        larger ones one input's rows at a time."""
        if prepared[0].numel() <= GATHER_ELEMENTS:
            keys = prepared.index_select(0, owner)
            if self.score_name == "additive":
                return self._squash_(keys.add_(q[:, None])) @ self.v.weight[0]
            return torch.bmm(keys, q[:, :, None]).squeeze(2)
        runs = list(_runs(owner, q))
        if self.score_name != "additive":
            return torch.cat([qi @ prepared[i].T for i, qi in runs])
        buffer = None
        if not torch.is_grad_enabled():  # one buffer for every input's tanh block: fresh memory was 2x slower
            buffer = prepared.new_empty((max(len(qi) for _, qi in runs),) + prepared.shape[1:])
        blocks = []
        for i, qi in runs:
            block = prepared[i] + qi[:, None] if buffer is None else torch.add(
                prepared[i], qi[:, None], out=buffer[: len(qi)])
            blocks.append(self._squash_(block) @ self.v.weight[0])
        return torch.cat(blocks)

    def _squash_(self, x: Tensor) -> Tensor:
        """The additive score's nonlinearity, in place."""
        return x.relu_() if self.activation == "relu" else x.tanh_()

    def forward(
        self,
        query: Tensor,
        prepared: Tensor,
        values: Tensor,
        mask: Tensor | None = None,
        sample: bool | None = None,
        owner: Tensor | None = None,
    ) -> AttentionOutput:
        """Weights over the N positions and the context vector.

        query (g * inputs, Q); prepared, values and mask have one row per input (see `scores`);
        owner (B,): each query row's input, where inputs have unequal numbers of rows.
        mask: (inputs, N) bool, True where a position is real (padding gets weight 0).
        sample: draw one location (hard attention); defaults to hard and training.
        """
        inputs, rows = values.shape[0], query.shape[0]
        e = self.scores(query, prepared, owner)
        if mask is not None:
            mask = mask.repeat_interleave(rows // inputs, dim=0) if owner is None else mask.index_select(0, owner)
            e = e.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(e, dim=-1)
        if sample is None:
            sample = self.hard and self.training
        if not sample:
            if owner is None:
                context = (weights.view(inputs, -1, weights.shape[1]) @ values).reshape(rows, -1)
            else:
                context = context_by_owner(weights, values, owner)
            return AttentionOutput(weights, context)
        dist = torch.distributions.Categorical(probs=weights)
        where = dist.sample()
        if owner is None:
            owner = torch.arange(rows, device=values.device) // (rows // inputs)
        return AttentionOutput(weights, values[owner, where], where, dist.log_prob(where))


def context_by_owner(weights: Tensor, values: Tensor, owner: Tensor) -> Tensor:
    """The context of weight rows (B, N) sorted by their input, `owner` (B,): small values copied
    to each row's (GATHER_ELEMENTS), larger ones one input's rows at a time."""
    if values[0].numel() <= GATHER_ELEMENTS:
        return torch.bmm(weights[:, None], values.index_select(0, owner)).squeeze(1)
    return torch.cat([w @ values[i] for i, w in _runs(owner, weights)])


def _runs(owner: Tensor, rows: Tensor):
    """(input, its rows) for rows sorted by their input, as `owner` names it."""
    inputs, counts = torch.unique_consecutive(owner, return_counts=True)
    return zip(inputs.tolist(), rows.split(counts.tolist()))


class Gate(nn.Module):
    """Show-Attend-Tell's gating scalar beta = sigmoid(f_beta(h)): how much context to let in."""

    def __init__(self, hidden_dim: int, width: int = 1):
        super().__init__()
        self.f_beta = nn.Linear(hidden_dim, width)  # width 1: a scalar; the SAT tutorial's: one per channel

    def forward(self, hidden: Tensor, context: Tensor) -> Tensor:
        return torch.sigmoid(self.f_beta(hidden)) * context


def doubly_stochastic_penalty(weights: Tensor, step_mask: Tensor | None = None) -> Tensor:
    """Show-Attend-Tell's regulariser: push every region's attention summed over time towards 1.

    weights: (B, T, N); step_mask: (B, T) True for real (non-padding) steps.
    Returns the mean over regions and batch of (1 - sum_t alpha_ti)^2; multiply by lambda.
    """
    if step_mask is not None:
        weights = weights * step_mask[..., None].to(weights.dtype)
    return ((1.0 - weights.sum(dim=1)) ** 2).mean()
