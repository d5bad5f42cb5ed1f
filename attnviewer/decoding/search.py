"""Decoding: greedy, batched beam search and sampling, as generators of `Step`s.

Each generator yields one Step per generated word per input (so a window can draw while the
model writes) and returns, when exhausted, the final hypotheses of every input, best first.
They work for any model exposing

    model.step(state, prev_tokens) -> (log_probs (B, V), attention (B, N), state)
    model.vocab, model.start_id, model.end_id, model.attention_shape, model.config.max_len

where every tensor of `state` has the batch first (so beam search can reorder it).
"""
from __future__ import annotations

from typing import Generator

import numpy as np
import torch
from torch import Tensor

from ..types import Beam, Hypothesis, Step
from .settings import METHODS, DecodeSettings  # noqa: F401  (re-exported)

Decoding = Generator[Step, None, list[list[Hypothesis]]]


def decode(model, state: dict[str, Tensor], settings: DecodeSettings, stream: bool = True) -> Decoding:
    """The generator for the chosen method."""
    s = settings.validate()
    max_len = s.max_len or model.config.max_len
    if s.method == "beam":
        return beam_search(model, state, s.beam, max_len, s.length_penalty, s.alternatives, stream)
    pick = _argmax if s.method == "greedy" else _sampler(s.temperature, s.top_k, s.seed)
    return _single_path(model, state, pick, max_len, s.alternatives, stream, s.sample_attention)


def run(generator: Decoding) -> list[list[Hypothesis]]:
    """Exhaust a decoding generator and return its final hypotheses."""
    while True:
        try:
            next(generator)
        except StopIteration as stop:
            return stop.value


def decode_tokens(model, state: dict[str, Tensor], max_len: int | None = None) -> list[str]:
    """Greedy captions as strings, for quick checks while training."""
    gen = _single_path(model, state, _argmax, max_len or model.config.max_len, 1, stream=False)
    return [hyps[0].text for hyps in run(gen)]


# -- greedy and sampling: one path per input ------------------------------------------------------


def _argmax(log_probs: Tensor) -> Tensor:
    return log_probs.argmax(dim=-1)


def _sampler(temperature: float, top_k: int, seed: int | None):
    gen = torch.Generator()
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)

    def pick(log_probs: Tensor) -> Tensor:
        logits = log_probs / temperature
        if top_k:
            kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = torch.softmax(logits, dim=-1).cpu()
        return torch.multinomial(probs, 1, generator=gen).squeeze(1).to(log_probs.device)

    return pick


def _single_path(model, state, pick, max_len, n_alt, stream=True, sample_attention=False) -> Decoding:
    batch = next(iter(state.values())).shape[0]
    device = next(iter(state.values())).device
    shape = model.attention_shape
    prev = torch.full((batch,), model.start_id, dtype=torch.long, device=device)
    paths = [_Path() for _ in range(batch)]
    alive = list(range(batch))
    for t in range(max_len):
        if sample_attention:
            log_probs, att, state = model.step(state, prev, sample_attention=True)
        else:
            log_probs, att, state = model.step(state, prev)
        tokens = pick(log_probs)
        alt_p, alt_i = log_probs.topk(min(n_alt, log_probs.shape[1]), dim=1)
        chosen = log_probs.gather(1, tokens[:, None]).squeeze(1)
        tok_np, chosen_np = tokens.cpu().numpy(), chosen.cpu().numpy()
        att_np, alt_p_np, alt_i_np = att.cpu().numpy(), alt_p.exp().cpu().numpy(), alt_i.cpu().numpy()
        loc = state.get("location")
        loc_np = loc.cpu().numpy() if loc is not None else None
        for b in list(alive):
            path = paths[b]
            path.log_prob += float(chosen_np[b])
            if tok_np[b] == model.end_id:
                alive.remove(b)
                continue
            alts = [(model.vocab[i], float(p)) for i, p in zip(alt_i_np[b], alt_p_np[b])]
            path.add(int(tok_np[b]), float(np.exp(chosen_np[b])), alts, att_np[b],
                     None if loc_np is None else int(loc_np[b]))
            if stream:
                words = [model.vocab[i] for i in path.ids]
                yield Step(
                    t, words[-1], path.ids[-1], path.probs[-1], alts, att_np[b].reshape(shape),
                    beams=[Beam(words, path.log_prob)], item=b, location=path.locations[-1],
                )
        if not alive:
            break
        prev = tokens
    return [[p.hypothesis(model.vocab, shape, 1.0)] for p in paths]


class _Path:
    """The growing history of one hypothesis (single-path decoding)."""

    def __init__(self):
        self.ids, self.probs, self.alts, self.att, self.locations = [], [], [], [], []
        self.log_prob = 0.0

    def add(self, token_id, prob, alts, att, location=None):
        self.ids.append(token_id)
        self.probs.append(prob)
        self.alts.append(alts)
        self.att.append(att)
        self.locations.append(location)

    def hypothesis(self, vocab, shape, length_penalty) -> Hypothesis:
        hyp = _hypothesis(vocab, shape, self.ids, self.log_prob, self.probs, self.alts,
                          np.array(self.att, dtype=np.float32), length_penalty)
        if any(loc is not None for loc in self.locations):
            hyp.locations = list(self.locations)
        return hyp


def _hypothesis(vocab, shape, ids, log_prob, probs, alts, att, length_penalty) -> Hypothesis:
    length = len(ids) + 1  # the words and <end>
    return Hypothesis(
        tokens=[vocab[i] for i in ids], token_ids=list(ids), log_prob=float(log_prob),
        score=float(log_prob) / length**length_penalty, probs=list(probs), alternatives=list(alts),
        attention=np.asarray(att, dtype=np.float32).reshape(len(ids), *shape),
    )


# -- beam search, batched: all k hypotheses of all inputs advance in one tensor batch ------------


def beam_search(model, state, k, max_len, length_penalty=1.0, n_alt=5, stream=True) -> Decoding:
    batch = next(iter(state.values())).shape[0]
    device = next(iter(state.values())).device
    shape, vocab, end = model.attention_shape, model.vocab, model.end_id
    state = {name: v.repeat_interleave(k, dim=0) for name, v in state.items()}
    static = getattr(model, "per_input_state", ())
    scores = torch.zeros(batch, k, device=device)
    scores[:, 1:] = float("-inf")  # all beams start identical: keep one until the first split
    prev = torch.full((batch * k,), model.start_id, dtype=torch.long, device=device)
    offsets = (torch.arange(batch, device=device) * k)[:, None]
    # Histories of the live beams, reordered with them every step (captions are short).
    tok_h = torch.zeros(batch * k, 0, dtype=torch.long, device=device)
    prob_h = torch.zeros(batch * k, 0, device=device)
    att_h = None
    alt_p_h = alt_i_h = None
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    done = [False] * batch

    for t in range(max_len):
        log_probs, att, state = model.step(state, prev)
        n_vocab = log_probs.shape[1]
        alt_p, alt_i = log_probs.topk(min(n_alt, n_vocab), dim=1)
        cand = (scores.reshape(-1, 1) + log_probs).reshape(batch, k * n_vocab)
        top_s, top_i = cand.topk(2 * k, dim=1)  # at most k of these end, so k always go on
        beam_i, tok_i = top_i // n_vocab, top_i % n_vocab
        is_end = tok_i == end
        rank = torch.arange(2 * k, device=device).expand(batch, -1)
        keep = (is_end.long() * 2 * k + rank).argsort(dim=1)[:, :k]  # the best k that go on
        parent = (offsets + beam_i.gather(1, keep)).reshape(-1)
        new_tok = tok_i.gather(1, keep).reshape(-1)
        step_lp = log_probs[parent, new_tok]

        # Hypotheses that end here (ranked within the best k candidates) join the finished list.
        for b, j in (is_end[:, :k] & torch.isfinite(top_s[:, :k])).nonzero().tolist():
            if done[b]:
                continue
            src = int(b * k + beam_i[b, j])
            n = tok_h.shape[1]
            finished[b].append(_hypothesis(
                vocab, shape, tok_h[src].tolist(), float(top_s[b, j]), prob_h[src].tolist(),
                _alts(vocab, alt_p_h, alt_i_h, src, n), att_h[src].cpu().numpy() if n else np.zeros(0),
                length_penalty,
            ))

        tok_h = torch.cat([tok_h[parent], new_tok[:, None]], dim=1)
        prob_h = torch.cat([prob_h[parent], step_lp.exp()[:, None]], dim=1)
        att_h = att[parent][:, None] if att_h is None else torch.cat([att_h[parent], att[parent][:, None]], 1)
        alt_p_h = _grow(alt_p_h, alt_p.exp(), parent)
        alt_i_h = _grow(alt_i_h, alt_i, parent)
        scores = top_s.gather(1, keep)
        # Parents stay within their input, so per-input entries (the regions) need no reordering.
        state = {n: v if n in static else v.index_select(0, parent) for n, v in state.items()}
        prev = new_tok

        for b in range(batch):
            if not done[b] and len(finished[b]) >= k:
                done[b] = True
        if stream:
            yield from _beam_steps(vocab, shape, t, tok_h, prob_h, att_h, alt_p_h, alt_i_h, scores, done, k)
        if all(done):
            break

    # Inputs still open at max_len: their live beams become (unended) hypotheses.
    for b in range(batch):
        if not done[b]:
            for j in range(k):
                if not torch.isfinite(scores[b, j]):  # placeholder beams of a tiny vocabulary
                    continue
                src, n = b * k + j, tok_h.shape[1]
                finished[b].append(_hypothesis(
                    vocab, shape, tok_h[src].tolist(), float(scores[b, j]), prob_h[src].tolist(),
                    _alts(vocab, alt_p_h, alt_i_h, src, n), att_h[src].cpu().numpy(), length_penalty,
                ))
    return [sorted(f, key=lambda h: h.score, reverse=True)[:k] for f in finished]


def _grow(history: Tensor | None, new: Tensor, parent: Tensor) -> Tensor:
    return new[parent][:, None] if history is None else torch.cat([history[parent], new[parent][:, None]], 1)


def _alts(vocab, alt_p_h, alt_i_h, src, n):
    if n == 0:
        return []
    p, i = alt_p_h[src].tolist(), alt_i_h[src].tolist()
    return [[(vocab[w], pw) for w, pw in zip(i[s], p[s])] for s in range(n)]


def _beam_steps(vocab, shape, t, tok_h, prob_h, att_h, alt_p_h, alt_i_h, scores, done, k):
    """One Step per open input: the best live beam's newest word, with every live beam."""
    toks, probs = tok_h.cpu().numpy(), prob_h[:, -1].cpu().numpy()
    atts, ap, ai = att_h[:, -1].cpu().numpy(), alt_p_h[:, -1].cpu().numpy(), alt_i_h[:, -1].cpu().numpy()
    sc = scores.cpu().numpy()
    for b, is_done in enumerate(done):
        if is_done:
            continue
        best = b * k
        beams = [Beam([vocab[i] for i in toks[b * k + j]], float(sc[b, j])) for j in range(k) if np.isfinite(sc[b, j])]
        yield Step(
            t, vocab[toks[best, -1]], int(toks[best, -1]), float(probs[best]),
            [(vocab[i], float(p)) for i, p in zip(ai[best], ap[best])], atts[best].reshape(shape),
            beams=beams, item=b,
        )
