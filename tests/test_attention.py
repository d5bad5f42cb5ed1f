"""The score functions behind `Attention`, hard attention, the gate and the doubly stochastic penalty."""
from __future__ import annotations

import math

import pytest
import torch

from attnviewer.models import attention
from attnviewer.models.attention import SCORES, Attention, AttentionOutput, Gate, doubly_stochastic_penalty

B, N, Q, K, V = 3, 7, 8, 6, 5
MAX_POS = 12


def make(score: str, query_dim: int = Q, key_dim: int = K, hard: bool = False, seed: int = 0) -> Attention:
    torch.manual_seed(seed)
    if score in ("dot", "scaled_dot"):
        key_dim = query_dim
    return Attention(query_dim, key_dim, score, attn_dim=10, n_positions=MAX_POS, hard=hard)


def inputs(att: Attention, batch: int = B, n: int = N, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    query = torch.randn(batch, att.query_dim, generator=gen)
    keys = torch.randn(batch, n, att.key_dim, generator=gen)
    values = torch.randn(batch, n, V, generator=gen)
    return query, keys, values


@pytest.mark.parametrize("score", SCORES)
def test_shapes_and_weights_are_distributions(score):
    att = make(score)
    query, keys, values = inputs(att)
    out = att(query, att.prepare(keys), values)
    assert isinstance(out, AttentionOutput)
    assert out.weights.shape == (B, N)
    assert out.context.shape == (B, V)
    assert out.sample is None and out.log_prob is None
    assert torch.all(out.weights >= 0)
    torch.testing.assert_close(out.weights.sum(-1), torch.ones(B))
    # soft attention: the context is the expected value row under the weights
    torch.testing.assert_close(out.context, torch.einsum("bn,bnv->bv", out.weights, values))
    assert att.scores(query, att.prepare(keys)).shape == (B, N)


@pytest.mark.parametrize("score", SCORES)
def test_several_queries_per_input_equal_repeating_the_input(score, monkeypatch):
    # Beam search keeps one copy of an image's regions for its k hypotheses: g query rows per
    # input must attend exactly as if each row had its own copy (also when the additive score
    # works a block of inputs at a time).
    monkeypatch.setattr(attention, "CACHE_BLOCK_BYTES", 1)
    att, g = make(score), 4
    query, keys, values = inputs(att, batch=B * g)
    keys, values = keys[:B], values[:B]
    mask = torch.tensor([[True] * N, [True] * 3 + [False] * (N - 3), [True] + [False] * (N - 1)])
    shared = att(query, att.prepare(keys), values, mask=mask)
    rep = lambda x: x.repeat_interleave(g, dim=0)  # noqa: E731
    copied = att(query, att.prepare(rep(keys)), rep(values), mask=rep(mask))
    torch.testing.assert_close(shared.weights, copied.weights)
    torch.testing.assert_close(shared.context, copied.context)
    assert shared.weights.shape == (B * g, N) and shared.context.shape == (B * g, V)


@pytest.mark.parametrize("score", SCORES)
def test_unequal_groups_named_by_owner_equal_repeating_the_input(score):
    # Beam search keeps each parent hypothesis once: inputs then have different numbers of rows.
    att, owner = make(score), torch.tensor([0, 0, 0, 1, 2, 2])
    query, keys, values = inputs(att, batch=len(owner))
    keys, values = keys[:B], values[:B]
    mask = torch.tensor([[True] * N, [True] * 3 + [False] * (N - 3), [True] + [False] * (N - 1)])
    copied = att(query, att.prepare(keys[owner]), values[owner], mask=mask[owner])
    for grad in (True, False):  # (decoding, without gradients, reuses one buffer for the blocks)
        with torch.set_grad_enabled(grad):
            shared = att(query, att.prepare(keys), values, mask=mask, owner=owner)
        torch.testing.assert_close(shared.weights, copied.weights)
        torch.testing.assert_close(shared.context, copied.context)


@pytest.mark.parametrize("score", SCORES)
def test_weights_depend_on_the_query(score):
    # a score function whose weights ignore the decoder state would attend the same way at every step
    att = make(score)
    query, keys, values = inputs(att)
    prepared = att.prepare(keys)
    w1 = att(query, prepared, values).weights
    w2 = att(-3 * query + 1, prepared, values).weights
    assert not torch.allclose(w1, w2, atol=1e-4)


@pytest.mark.parametrize("score", SCORES)
def test_padding_gets_zero_weight_and_does_not_change_the_context(score):
    att = make(score)
    lengths = [N, 4, 1]
    pad = 3
    gen = torch.Generator().manual_seed(5)
    query = torch.randn(B, att.query_dim, generator=gen)
    keys = torch.randn(B, N + pad, att.key_dim, generator=gen) * 2
    values = torch.randn(B, N + pad, V, generator=gen) * 2
    mask = torch.zeros(B, N + pad, dtype=torch.bool)
    for b, n in enumerate(lengths):
        mask[b, :n] = True
    padded = att(query, att.prepare(keys), values, mask=mask)
    assert torch.all(padded.weights[~mask] == 0)  # exactly zero, not just small
    torch.testing.assert_close(padded.weights.sum(-1), torch.ones(B))
    for b, n in enumerate(lengths):
        alone = att(query[b : b + 1], att.prepare(keys[b : b + 1, :n]), values[b : b + 1, :n])
        torch.testing.assert_close(padded.weights[b, :n], alone.weights[0])
        torch.testing.assert_close(padded.context[b], alone.context[0])
    if lengths[-1] == 1:
        assert padded.weights[-1, 0] == 1.0


@pytest.mark.parametrize("score", ["dot", "scaled_dot"])
def test_dot_scores_refuse_mismatched_sizes(score):
    with pytest.raises(ValueError, match="one size"):
        Attention(8, 6, score)
    Attention(8, 8, score)  # same sizes are fine


@pytest.mark.parametrize("score", ["content", "additive", "general"])
def test_learned_scores_accept_different_query_and_key_sizes(score):
    att = Attention(9, 4, score)
    gen = torch.Generator().manual_seed(0)
    query, keys, values = torch.randn(2, 9, generator=gen), torch.randn(2, 5, 4, generator=gen), torch.randn(2, 5, 3)
    out = att(query, att.prepare(keys), values)
    assert out.weights.shape == (2, 5) and out.context.shape == (2, 3)


def test_scaled_dot_is_dot_divided_by_sqrt_of_size():
    n = 16
    dot, scaled = Attention(n, n, "dot"), Attention(n, n, "scaled_dot")
    gen = torch.Generator().manual_seed(3)
    query, keys, values = torch.randn(B, n, generator=gen), torch.randn(B, N, n, generator=gen), torch.randn(B, N, V)
    e_dot = dot.scores(query, dot.prepare(keys))
    e_scaled = scaled.scores(query, scaled.prepare(keys))
    torch.testing.assert_close(e_dot, torch.einsum("bq,bnq->bn", query, keys))
    torch.testing.assert_close(e_scaled, e_dot / math.sqrt(n))
    torch.testing.assert_close(scaled(query, scaled.prepare(keys), values).weights, torch.softmax(e_dot / 4.0, -1))
    # the scaling makes the weights less peaked than plain dot attention's
    ent = lambda w: -(w * w.clamp_min(1e-30).log()).sum(-1)  # noqa: E731
    assert torch.all(ent(scaled(query, keys, values).weights) >= ent(dot(query, keys, values).weights) - 1e-6)


def test_content_scores_are_cosine_similarity_times_sharpness():
    att = make("content")
    query, keys, values = inputs(att)
    e = att.scores(query, att.prepare(keys))
    q = att.query_proj(query)
    cos = torch.nn.functional.cosine_similarity(q[:, None, :], keys, dim=-1)
    torch.testing.assert_close(e, cos * 10.0)
    # scaling keys does not change content-based attention
    torch.testing.assert_close(att(query, att.prepare(keys * 7), values).weights, att(query, att.prepare(keys), values).weights)


def test_location_needs_n_positions():
    with pytest.raises(ValueError, match="positions"):
        Attention(8, 6, "location")
    with pytest.raises(ValueError, match="positions"):
        Attention(8, 6, "location", n_positions=0)


def test_location_ignores_the_keys():
    att = make("location")
    query, keys, values = inputs(att)
    w1 = att(query, att.prepare(keys), values).weights
    w2 = att(query, att.prepare(torch.randn_like(keys)), values).weights
    torch.testing.assert_close(w1, w2)


def test_unknown_score_names_the_choices():
    with pytest.raises(ValueError) as err:
        Attention(8, 8, "multiplicative")
    message = str(err.value)
    assert "multiplicative" in message
    for name in SCORES:
        assert name in message


@pytest.mark.parametrize("score", SCORES)
def test_hard_attention_samples_a_row_while_training(score):
    att = make(score, hard=True).train()
    query, keys, values = inputs(att)
    out = att(query, att.prepare(keys), values)
    assert out.sample is not None and out.log_prob is not None
    assert out.sample.shape == (B,) and out.log_prob.shape == (B,)
    assert out.sample.dtype == torch.long
    rows = torch.arange(B)
    torch.testing.assert_close(out.context, values[rows, out.sample])
    assert torch.all(torch.isfinite(out.log_prob))
    assert torch.all(out.log_prob <= 0)
    torch.testing.assert_close(out.log_prob, out.weights[rows, out.sample].log())
    torch.testing.assert_close(out.weights.sum(-1), torch.ones(B))


@pytest.mark.parametrize("score", SCORES)
def test_hard_attention_uses_the_expectation_in_eval_mode(score):
    att = make(score, hard=True).eval()
    query, keys, values = inputs(att)
    out = att(query, att.prepare(keys), values)
    assert out.sample is None and out.log_prob is None
    torch.testing.assert_close(out.context, torch.einsum("bn,bnv->bv", out.weights, values))
    # sampling can still be asked for explicitly (the viewer's "sample attention" setting)
    forced = att(query, att.prepare(keys), values, sample=True)
    assert forced.sample is not None
    # and a soft model can be asked not to sample even while training
    soft = make(score, hard=False).train()
    assert soft(query, soft.prepare(keys), values).sample is None


def test_hard_attention_never_samples_padding():
    att = make("additive", hard=True).train()
    torch.manual_seed(0)
    query, keys, values = inputs(att, batch=400)
    mask = torch.zeros(400, N, dtype=torch.bool)
    mask[:, :3] = True
    out = att(query, att.prepare(keys), values, mask=mask)
    assert torch.all(out.sample < 3)
    assert torch.all(torch.isfinite(out.log_prob))


def test_hard_attention_samples_follow_the_weights():
    att = make("general", hard=True).train()
    query, keys, values = inputs(att, batch=1)
    n_samples = 20000
    prepared = att.prepare(keys)
    torch.manual_seed(1234)
    out = att(query.expand(n_samples, -1), prepared.expand(n_samples, -1, -1), values.expand(n_samples, -1, -1))
    weights = out.weights[0]
    freq = torch.bincount(out.sample, minlength=N).float() / n_samples
    # a standard error of at most sqrt(0.25 / 20000) = 0.0035 per location
    torch.testing.assert_close(freq, weights, atol=0.015, rtol=0)
    # reproducible under the same torch seed
    torch.manual_seed(1234)
    again = att(query.expand(n_samples, -1), prepared.expand(n_samples, -1, -1), values.expand(n_samples, -1, -1))
    assert torch.equal(out.sample, again.sample)


def test_gate_scales_the_context_by_a_value_in_0_1():
    torch.manual_seed(0)
    gate = Gate(12)
    hidden = torch.randn(5, 12) * 3
    context = torch.randn(5, 9) + 0.5
    out = gate(hidden, context)
    assert out.shape == context.shape
    ratio = out / context
    beta = ratio[:, :1]
    torch.testing.assert_close(ratio, beta.expand_as(ratio))  # one scalar per row
    assert torch.all(beta > 0) and torch.all(beta < 1)
    torch.testing.assert_close(beta[:, 0], torch.sigmoid(gate.f_beta(hidden))[:, 0])
    # different hidden states let in different amounts
    assert beta.std() > 0


def test_doubly_stochastic_penalty_is_zero_when_each_region_sums_to_one():
    n = 4
    uniform = torch.full((2, n, n), 1.0 / n)  # T = N steps, each uniform: every region sums to 1
    assert doubly_stochastic_penalty(uniform).item() == pytest.approx(0.0, abs=1e-12)
    perm = torch.eye(n)[torch.tensor([2, 0, 3, 1])][None]  # one region per step, each once
    assert doubly_stochastic_penalty(perm).item() == pytest.approx(0.0, abs=1e-12)


def test_doubly_stochastic_penalty_is_positive_otherwise():
    n = 4
    stuck = torch.zeros(1, n, n)
    stuck[0, :, 0] = 1.0  # always the same region: it sums to 4, the others to 0
    expected = ((1 - 4) ** 2 + 3 * 1) / 4
    assert doubly_stochastic_penalty(stuck).item() == pytest.approx(expected)
    gen = torch.Generator().manual_seed(0)
    weights = torch.softmax(torch.randn(3, 5, 6, generator=gen) * 3, dim=-1)
    manual = ((1 - weights.sum(1)) ** 2).mean()
    assert doubly_stochastic_penalty(weights).item() == pytest.approx(manual.item())
    assert doubly_stochastic_penalty(weights).item() > 0


def test_doubly_stochastic_penalty_ignores_masked_steps():
    n = 4
    real = torch.full((2, n, n), 1.0 / n)
    gen = torch.Generator().manual_seed(0)
    junk = torch.softmax(torch.randn(2, 3, n, generator=gen), -1)
    weights = torch.cat([real, junk], dim=1)
    step_mask = torch.tensor([[True] * n + [False] * 3] * 2)
    assert doubly_stochastic_penalty(weights, step_mask).item() == pytest.approx(0.0, abs=1e-12)
    assert doubly_stochastic_penalty(weights).item() > 0  # without the mask the junk steps count
    # different numbers of real steps per sequence
    weights2 = torch.softmax(torch.randn(2, 6, n, generator=gen), -1)
    mask2 = torch.tensor([[True] * 6, [True] * 2 + [False] * 4])
    expected = torch.stack([
        (1 - weights2[0].sum(0)) ** 2,
        (1 - weights2[1, :2].sum(0)) ** 2,
    ]).mean()
    assert doubly_stochastic_penalty(weights2, mask2).item() == pytest.approx(expected.item())


def test_doubly_stochastic_penalty_has_a_gradient():
    weights = torch.softmax(torch.randn(2, 3, 4), -1).requires_grad_(True)
    doubly_stochastic_penalty(weights).backward()
    assert weights.grad is not None and torch.isfinite(weights.grad).all()
