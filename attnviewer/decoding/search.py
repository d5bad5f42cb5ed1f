"""Decoding: greedy, batched beam search and sampling, as generators of `Step`s.

Each generator yields one Step per generated word per input (so a window can draw while the
model writes) and returns, when exhausted, the final hypotheses of every input, best first.
They work for any model exposing

    model.step(state, prev_tokens, parents=None, owner=None) -> (log_probs (B, V), attention (B, N), state)
    model.vocab, model.start_id, model.end_id, model.attention_shape, model.config.max_len

where every tensor of `state` has the batch first (so beam search can reorder it). Beam search
passes `parents` (B,), the state row each word continues (the state keeps each parent once; None
where each word continues its own row, in order), and
`owner`, the input of each state row (None: equal groups of consecutive rows); a model that
shares nothing among them can start its step with index_select(0, parents). The words are the
live hypotheses only, so inputs may have unequal numbers of them (a beam that narrowed). A model
whose attention depends on the word it reads (a transformer: `attends_after_reading`) gets its
state reordered to one row per word instead, k per input.
"""
from __future__ import annotations

from typing import Generator, NamedTuple

import numpy as np
import torch
from torch import Tensor

from ..types import Beam, Hypothesis, Step
from ..settings import METHODS, DecodeSettings  # noqa: F401  (re-exported)

Decoding = Generator[Step, None, list[list[Hypothesis]]]


def decode(model, state: dict[str, Tensor], settings: DecodeSettings, stream: bool = True, constrain=None,
           tree=None) -> Decoding:
    """The generator for the chosen method. `constrain(t, log_probs)`: the log probabilities step t
    chooses among (forced words, whatif/forcing.py; the recorded probabilities stay the model's);
    `tree`: a recorder of every candidate a beam search weighs (whatif/tree.py)."""
    s = settings.validate()
    max_len = s.max_len or model.config.max_len
    max_len = min(max_len, getattr(model, "longest", max_len))  # a transformer's positions end somewhere
    rules = WordRules(s.min_len, s.no_repeat_ngram, model.end_id) if s.min_len or s.no_repeat_ngram else None
    if s.method == "beam":
        # a transformers folder's generation_config names its own length penalty and early stopping
        penalty = s.length_penalty if s.length_penalty is not None else getattr(model, "length_penalty", 1.0)
        return beam_search(model, state, s.beam, max_len, penalty, s.alternatives, stream, s.shrink_beam,
                           constrain, tree, rules=rules, early_stopping=getattr(model, "early_stopping", True))
    pick = _argmax if s.method == "greedy" else _sampler(s.temperature, s.top_k, s.seed)
    return _single_path(model, state, pick, max_len, s.alternatives, stream, s.sample_attention, constrain, rules)


class WordRules:
    """What the user asked of every output, for any model, applied to each step's log
    probabilities given the words each row has written: no end before `min_len` words, no run of
    `no_repeat` words twice (as transformers' min_length and no_repeat_ngram_size, over the words
    without the start token)."""

    def __init__(self, min_len: int, no_repeat: int, end: int):
        self.min_len, self.n, self.end = min_len, no_repeat, end

    def __call__(self, written: list[list[int]], log_probs: Tensor) -> Tensor:
        rows, cols = [], []
        for r, ids in enumerate(written):
            if len(ids) < self.min_len:
                rows.append(r)
                cols.append(self.end)
            for word in self._repeating(ids):
                rows.append(r)
                cols.append(word)
        if not rows:
            return log_probs
        out = log_probs.clone()
        out[torch.tensor(rows, device=out.device), torch.tensor(cols, device=out.device)] = float("-inf")
        stuck = ~torch.isfinite(out).any(dim=1)  # every word barred (a tiny vocabulary): the end stays open
        if stuck.any():
            out[stuck, self.end] = log_probs[stuck, self.end]
        return out

    def _repeating(self, ids: list[int]) -> set[int]:
        """The words that would repeat an n-gram: those that followed the last n-1 words before."""
        n = self.n
        if not n or len(ids) < n - 1:
            return set()
        tail = ids[len(ids) - n + 1:] if n > 1 else []
        return {ids[i + n - 1] for i in range(len(ids) - n + 1) if ids[i:i + n - 1] == tail}


def entropy(log_probs: Tensor) -> Tensor:
    """Each row's entropy in nats, -sum p log p with the log probabilities at hand (words of
    probability 0 add nothing: their 0 * -inf is skipped); no logarithm taken again."""
    return -(log_probs.exp() * log_probs).nansum(-1)


def run(generator: Decoding) -> list[list[Hypothesis]]:
    """Exhaust a decoding generator and return its final hypotheses."""
    while True:
        try:
            next(generator)
        except StopIteration as stop:
            return stop.value


def best_hypotheses(model, inputs: Tensor, settings: DecodeSettings, batch: int = 50) -> list[Hypothesis]:
    """The best hypothesis for each of many inputs, decoded `batch` at a time. inputs: what the
    model's init_state takes (pixels (B, 3, S, S); a video captioner's frame features (B, T, C)) or,
    for the image captioner's frozen encoder, cached regions (B, N, C)."""
    device = next(model.parameters()).device
    from_regions = inputs.dim() == 3 and hasattr(model, "init_state_from_regions")
    out = []
    with torch.inference_mode():
        for i in range(0, len(inputs), batch):
            x = inputs[i : i + batch].to(device).float()
            state = model.init_state_from_regions(x) if from_regions else model.init_state(x)
            out += [hyps[0] for hyps in run(decode(model, state, settings, stream=False))]
    return out


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


def _single_path(model, state, pick, max_len, n_alt, stream=True, sample_attention=False, constrain=None,
                 rules=None) -> Decoding:
    batch = next(iter(state.values())).shape[0]
    device = next(iter(state.values())).device
    shape = model.attention_shape
    prev = torch.full((batch,), model.start_id, dtype=torch.long, device=device)
    paths = [_Path() for _ in range(batch)]
    alive = list(range(batch))
    extra = {"sample_attention": True} if sample_attention else {}
    for t in range(max_len):
        log_probs, att, state = model.step(state, prev, **extra)
        if rules is not None:  # chosen among the words allowed, their probabilities renormalised (as generate())
            log_probs = torch.log_softmax(rules([paths[b].ids for b in alive], log_probs), dim=-1)
        tokens = pick(constrain(t, log_probs) if constrain is not None else log_probs)
        ent_np = entropy(log_probs).cpu().numpy()
        alt_p, alt_i = log_probs.topk(min(n_alt, log_probs.shape[1]), dim=1)
        chosen = log_probs.gather(1, tokens[:, None]).squeeze(1)
        tok_np, chosen_np = tokens.cpu().numpy(), chosen.cpu().numpy()
        att_np, alt_p_np, alt_i_np = att.cpu().numpy(), alt_p.exp().cpu().numpy(), alt_i.cpu().numpy()
        loc = state.get("location")
        loc_np = loc.cpu().numpy() if loc is not None else None
        going = []  # rows of the inputs that go on
        for r, b in enumerate(alive):  # row r of the batch is input alive[r]
            path = paths[b]
            path.log_prob += float(chosen_np[r])
            if tok_np[r] == model.end_id:
                path.ended = True
                continue
            going.append(r)
            alts = [(model.vocab[i], float(p)) for i, p in zip(alt_i_np[r], alt_p_np[r])]
            path.add(int(tok_np[r]), float(np.exp(chosen_np[r])), alts, att_np[r],
                     None if loc_np is None else int(loc_np[r]), float(ent_np[r]))
            if stream:
                words = [model.vocab[i] for i in path.ids]
                yield Step(
                    t, words[-1], path.ids[-1], path.probs[-1], alts, att_np[r].reshape(shape),
                    beams=[Beam(words, path.log_prob)], item=b, location=path.locations[-1], entropy=path.ents[-1],
                )
        if not going:
            break
        prev = tokens
        if len(going) < len(alive):  # finished inputs leave the batch
            rows = torch.tensor(going, device=device)
            state = {n: v.index_select(0, rows) for n, v in state.items()}
            prev = tokens.index_select(0, rows)
            alive = [alive[r] for r in going]
    return [[p.hypothesis(model.vocab, shape, 1.0)] for p in paths]


class _Path:
    """The growing history of one hypothesis (single-path decoding)."""

    def __init__(self):
        self.ids, self.probs, self.alts, self.att, self.locations, self.ents = [], [], [], [], [], []
        self.log_prob = 0.0
        self.ended = False

    def add(self, token_id, prob, alts, att, location=None, ent=None):
        self.ents.append(ent)
        self.ids.append(token_id)
        self.probs.append(prob)
        self.alts.append(alts)
        self.att.append(att)
        self.locations.append(location)

    def hypothesis(self, vocab, shape, length_penalty) -> Hypothesis:
        hyp = _hypothesis(vocab, shape, self.ids, self.log_prob, self.probs, self.alts,
                          np.array(self.att, dtype=np.float32), length_penalty, self.ended)
        hyp.entropies = list(self.ents)
        if any(loc is not None for loc in self.locations):
            hyp.locations = list(self.locations)
        return hyp


def _hypothesis(vocab, shape, ids, log_prob, probs, alts, att, length_penalty, ended=True) -> Hypothesis:
    length = max(1, len(ids) + ended)  # the words and <end> (a caption cut at max_len has none)
    return Hypothesis(
        tokens=[vocab[i] for i in ids], token_ids=list(ids), log_prob=float(log_prob),
        score=float(log_prob) / length**length_penalty, probs=list(probs), alternatives=list(alts),
        attention=np.asarray(att, dtype=np.float32).reshape(len(ids), *shape), ended=bool(ended),
    )


# -- beam search, batched: all k hypotheses of all inputs advance in one tensor batch ------------


def beam_search(model, state, k, max_len, length_penalty=1.0, n_alt=5, stream=True, shrink=False, constrain=None,
                tree=None, rules=None, early_stopping=True) -> Decoding:
    """k hypotheses per input. By default a hypothesis that ends is set aside and the next best
    candidate takes its place, until k have ended (`early_stopping` True); with False or "never",
    an input goes on while its best live hypothesis could still beat the k-th ended one, as
    transformers' generate() decides (False: at its present length; "never": at max_len where
    the length penalty favours length). `rules`: a WordRules. With `shrink` (the Show-Attend-Tell tutorial's
    search), only the best `width` candidates of a step count: those that end are set aside, the
    others go on, and the width narrows by the number that ended; at max_len, unended hypotheses
    are kept only for an input that has no ended one."""
    batch = next(iter(state.values())).shape[0]
    device = next(iter(state.values())).device
    end = model.end_id
    # The bookkeeping has k slots per open input: slot r * k + j is hypothesis j of open input r.
    # The model computes only the live slots (`computed`, in slot order: a slot freed when the
    # beam narrows, or one no candidate could fill, costs nothing); entries it shares among the
    # hypotheses of one input (the regions) keep one row per input.
    static = getattr(model, "per_input_state", ())
    per_word = getattr(model, "attends_after_reading", False)
    items = list(range(batch))  # the inputs still open, in row order
    scores = np.zeros((batch, k), dtype=np.float32)
    scores[:, 1:] = -np.inf  # all beams start identical: keep one until the first split
    computed = np.arange(batch) * k  # the first step is the same for all k beams: run it once
    prev = torch.full((batch,), model.start_id, dtype=torch.long, device=device)
    trace = _Trace(model.vocab, model.attention_shape, length_penalty)
    finished: list[list[_Ended]] = [[] for _ in range(batch)]
    width = np.full(batch, k)  # shrink: the live hypotheses of each open input

    parents = owner = None  # until the first step: one state row per input
    written: list[list[int]] = [[] for _ in range(batch * k)]  # rules: the words of each slot
    extra = {"beam": True} if getattr(model, "scores_per_search", False) else {}
    for t in range(max_len):
        log_probs, att, state = model.step(state, prev, parents=parents, owner=owner, **extra)
        if rules is not None:  # not renormalised: a beam's score sums what generate()'s sums
            log_probs = rules([written[s] for s in computed], log_probs)
        n_open, n_vocab = len(items), log_probs.shape[1]
        n_alt_ = min(n_alt, n_vocab)
        # Each row's best 2k words hold the best 2k candidates of its input (at most k of them end),
        # and its top words: one pass over the vocabulary instead of adding every row's score to it.
        n_top = min(2 * k, n_vocab)
        chosen_from = constrain(t, log_probs) if constrain is not None else log_probs
        top_v, top_w = chosen_from.topk(n_top if constrain is not None else max(n_top, n_alt_), dim=1)
        if constrain is None:
            alt_p, alt_i = top_v[:, :n_alt_], top_w[:, :n_alt_]
        else:
            alt_p, alt_i = log_probs.topk(n_alt_, dim=1)
        top_s, beam_i, tok_i = _best_candidates(scores, computed, top_v[:, :n_top].cpu().numpy(),
                                                top_w[:, :n_top].cpu().numpy(), k)
        is_end = tok_i == end
        in_rows = np.arange(n_open)[:, None]
        # Candidates that count: the best k (shrink: the best `width`); those that end are set aside.
        counted = np.arange(2 * k)[None, :] < (width[:, None] if shrink else k)
        live = counted & np.isfinite(top_s)
        ending = is_end & live
        if shrink:
            going = ~is_end & live
            keep = np.argsort(~going, axis=1, kind="stable")[:, :k]  # those that go on, best first
            dead = ~going[in_rows, keep]  # freed slots: they continue slot 0's parent (never computed)
            keep = np.where(dead, keep[:, :1], keep)
            width = going.sum(axis=1)
        else:
            keep = np.argsort(is_end, axis=1, kind="stable")[:, :k]  # the best k that go on
        parent = (in_rows * k + beam_i[in_rows, keep]).reshape(-1)
        new_tok = tok_i[in_rows, keep].reshape(-1)
        if rules is not None:
            written = [written[p] + [int(w)] for p, w in zip(parent, new_tok)]
        if tree is not None:
            tree.expand(t, items, k, top_s, beam_i, tok_i, live, ending, keep, ~dead if shrink else None)

        # Hypotheses that end here join the finished list, as their place in the trace: only the
        # best k of an input are ever written out (the trace's steps so far never change again).
        # (Every input in the batch is still open: those with k finished ones leave it below.)
        for r, j in np.argwhere(ending):
            finished[items[r]].append(trace.ended(r * k + beam_i[r, j], float(top_s[r, j])))

        scores = top_s[in_rows, keep]
        if shrink:
            scores[dead] = -np.inf
        row = np.full(n_open * k, -1)  # slot -> its row of this step's outputs
        row[computed] = np.arange(len(computed))
        going_on = np.isfinite(scores.reshape(-1))
        trace.add(parent, new_tok, log_probs, row, att, alt_p, alt_i, np.unique(parent[going_on]))

        # (An input left with no live hypothesis, as when a forced word ends the only one, is done.)
        open_rows = [r for r, b in enumerate(items)
                     if (width[r] > 0 if shrink else np.isfinite(scores[r, 0]) and _open(
                         finished[b], k, float(scores[r, 0]), t + 1, max_len, length_penalty, early_stopping))]
        if stream:
            yield from trace.steps(t, scores, items, open_rows, k)
        if t == max_len - 1 and not shrink:
            # At the length limit the beams still going end too and compete with those that ended
            # (as generate()'s length criterion finishes them, with the same score).
            for r, b in enumerate(items):
                finished[b] += [trace.ended(r * k + j, float(scores[r, j]), ended=False)
                                for j in range(k) if np.isfinite(scores[r, j])]
                if tree is not None:
                    tree.cut(b, [j for j in range(k) if np.isfinite(scores[r, j])])
            break
        if not open_rows:
            break
        if len(open_rows) < n_open:  # drop the inputs that are done: the batch shrinks
            slots = (np.array(open_rows)[:, None] * k + np.arange(k)).reshape(-1)
            keep_in = torch.tensor(open_rows, device=device)
            state = {n: v.index_select(0, keep_in) if n in static else v for n, v in state.items()}
            scores, parent, new_tok, width = scores[open_rows], parent[slots], new_tok[slots], width[open_rows]
            trace.keep_rows(slots)
            if rules is not None:
                written = [written[i] for i in slots]
            items = [items[r] for r in open_rows]
        # The next step computes the live slots (a transformer's: every slot, as generate() does).
        slots = np.arange(scores.size) if per_word else np.flatnonzero(np.isfinite(scores.reshape(-1)))
        source = row[parent[slots]]  # the row of this step's outputs each continues
        prev = torch.from_numpy(new_tok[slots]).to(device)
        was_computed, computed = computed, slots
        if per_word:
            # A transformer's attention depends on the word it reads: every word gets its parent's
            # state (its key/value cache), one reordering per step as generate() does.
            rows_t = torch.from_numpy(source).to(device)
            state = {n: v if n in static else v.index_select(0, rows_t) for n, v in state.items()}
            continue
        # The next step continues these parents; the state keeps each once (the words of one
        # parent share its attention). Per-input entries (the regions) need no reordering.
        kept, inverse = np.unique(source, return_inverse=True)
        inverse = inverse.reshape(-1)
        # (Each word continuing a parent of its own, in order, as at k = 1, needs no `parents`.)
        parents = None if np.array_equal(inverse, np.arange(len(inverse))) else torch.from_numpy(inverse).to(device)
        owner = np.searchsorted(open_rows, was_computed[kept] // k)
        # (Inputs with as many parents each, as always at k = 1, need no owner: equal groups.)
        owner = None if len(set(np.bincount(owner).tolist())) == 1 else torch.from_numpy(owner).to(device)
        if len(kept) < len(was_computed):  # (every row of this step's outputs kept: nothing to reorder)
            kept = torch.from_numpy(kept).to(device)
            state = {n: v if n in static else v.index_select(0, kept) for n, v in state.items()}

    # Shrinking search: inputs with no ended hypothesis at max_len keep their live beams (unended).
    for r, b in enumerate(items):
        if shrink and not finished[b]:
            for j in range(k):
                if np.isfinite(scores[r, j]):  # (not the placeholder beams of a tiny vocabulary)
                    finished[b].append(trace.ended(r * k + j, float(scores[r, j]), ended=False))
                    if tree is not None:
                        tree.cut(b, [j])
    return [[trace.written(h) for h in sorted(f, key=lambda h: h.score, reverse=True)[:k]] for f in finished]


def _best_candidates(scores, computed, top_v, top_w, k):
    """The best 2k candidates of each open input, best first: (summed scores, beam slot, word),
    each (inputs, 2k). `scores` (inputs, k): each slot's; `computed`: the slots of the rows of
    top_v and top_w, each row's best words (values, ids). Scores sum in float32 as torch sums
    them; equal scores keep the order of (slot, the row's ranking)."""
    n_open, n_top = scores.shape[0], top_v.shape[1]
    if len(computed) == n_open * k:  # every slot computed, in order
        summed, words = scores.reshape(-1, 1) + top_v, top_w
    else:
        summed = np.full((n_open * k, n_top), -np.inf, dtype=np.float32)
        words = np.zeros((n_open * k, n_top), dtype=top_w.dtype)
        summed[computed] = scores.reshape(-1)[computed, None] + top_v
        words[computed] = top_w
    summed, words = summed.reshape(n_open, k * n_top), words.reshape(n_open, k * n_top)
    order = np.argsort(-summed, axis=1, kind="stable")[:, : 2 * k]
    rows = np.arange(n_open)[:, None]
    return summed[rows, order], order // n_top, words[rows, order]


def _open(finished: list["_Ended"], k: int, best_live: float, length: int, max_len: int, length_penalty: float,
          early_stopping) -> bool:
    """Whether an input's search goes on: fewer than k ended, or (early_stopping False or
    "never") its best live hypothesis could still score above the k-th best ended one."""
    if len(finished) < k:
        return True
    if early_stopping is True:
        return False
    if early_stopping == "never" and length_penalty > 0:
        length = max_len  # the longest it may grow: the best it could score
    kth = sorted((h.score for h in finished), reverse=True)[k - 1]
    return best_live / length ** length_penalty > kth


class _Ended(NamedTuple):
    """A hypothesis that ended, not yet written out: its score (as _hypothesis computes it) and
    its place in the trace (the slot after its last step, and the number of steps)."""
    score: float
    log_prob: float
    slot: int
    steps: int
    ended: bool


class _Trace:
    """What every step of a beam search chose, kept with back-pointers instead of reordering
    each hypothesis' history every step; a history is read by walking back from its slot.

    Step t keeps, by the slots after it: the parent slot, the word and its probability; and by the
    rows the model computed (`row`: slot -> row), for the parents of the hypotheses that go on
    only (no other history can reach the step): the attention and the entropy (the top words: of every row).
    """

    def __init__(self, vocab, shape, length_penalty):
        self.vocab, self.shape, self.length_penalty = vocab, shape, length_penalty
        self.parent, self.tok, self.prob, self.row, self.att, self.alts, self.ent = [], [], [], [], [], [], []
        self._lists: dict[int, tuple[list, ...]] = {}  # step -> its histories as lists (read_step)
        self._words: tuple[int, list] | None = None  # (step, each slot's words after it): slot_words

    def add(self, parent, tok, log_probs, row, att, alt_p, alt_i, parents) -> None:
        """parent, tok: numpy arrays by slot; log_probs, att, alt_p, alt_i: the model's tensors by
        row; row: each slot's row (-1: not computed); parents: the slots that hypotheses continue."""
        device, n_rows = log_probs.device, log_probs.shape[0]
        from_rows = np.maximum(row[parent], 0)
        if device.type == "cpu":  # a view of the tensor: no copy, no tensors made for the indices
            chosen = log_probs.detach().numpy()[from_rows, tok]
        else:
            chosen = log_probs[torch.from_numpy(from_rows).to(device), torch.from_numpy(tok).to(device)].cpu().numpy()
        self.parent.append(parent)
        self.tok.append(tok)
        self.prob.append(np.exp(chosen))
        self.row.append(row)
        self.att.append(att.detach().cpu().numpy())
        rows = row[parents]
        if len(rows) == n_rows:  # every row is a parent (rows are sorted): nothing to select
            ent = entropy(log_probs).cpu().numpy()
        else:
            ent = np.zeros(n_rows, dtype=np.float32)
            ent[rows] = entropy(log_probs.index_select(0, torch.from_numpy(rows).to(device))).cpu().numpy()
        self.ent.append(ent)
        # every row's top words and their probabilities; as (word, probability) once a history reads them
        self.alts.append((alt_i.cpu().numpy(), alt_p.exp().cpu().numpy(), {}))

    def alternatives(self, t: int, r: int) -> list[tuple[str, float]]:
        """Row r of step t's top words as (word, probability), made once (hypotheses share them)."""
        ids, probs, made = self.alts[t]
        got = made.get(r)
        if got is None:
            got = made[r] = list(zip([self.vocab[i] for i in ids[r].tolist()], probs[r].tolist()))
        return got

    def keep_rows(self, slots: np.ndarray) -> None:
        """The batch shrank: the slots after the last step are now these of them."""
        for history in (self.parent, self.tok, self.prob):
            history[-1] = history[-1][slots]
        self._lists.pop(len(self.tok) - 1, None)
        if self._words is not None and self._words[0] == len(self.tok) - 1:
            self._words = (self._words[0], [self._words[1][i] for i in slots.tolist()])

    def read_step(self, t: int) -> tuple[list, ...]:
        """Step t's parent, row, word, probability and entropy as Python lists, made once: a
        walk back reads one item of each per step, which a list gives several times faster."""
        got = self._lists.get(t)
        if got is None:
            got = self._lists[t] = tuple(h[t].tolist() for h in (self.parent, self.row, self.tok, self.prob, self.ent))
        return got

    def slot_words(self) -> list[tuple[str, ...]]:
        """The words of every slot after the last step: each slot's are its parent's after the step
        before (kept from the call at that step, as streaming calls it at every step) and its word.
        A walk back from every live beam at every step grew with the square of the length."""
        t, words = self._words if self._words is not None else (-1, None)
        vocab = self.vocab
        while t < len(self.tok) - 1:
            t += 1
            parents, _, tok = self.read_step(t)[:3]
            words = [(vocab[w],) for w in tok] if t == 0 else [words[p] + (vocab[w],) for p, w in zip(parents, tok)]
        self._words = (t, words)
        return words

    def ended(self, slot: int, log_prob: float, ended: bool = True) -> "_Ended":
        """The hypothesis in `slot` after the last step, ending there (<end> read, or cut at the
        length limit: `ended` False): its score as `hypothesis` gives it, and where to read it."""
        steps = len(self.tok)
        return _Ended(log_prob / max(1, steps + ended) ** self.length_penalty, log_prob, slot, steps, ended)

    def written(self, h: "_Ended") -> Hypothesis:
        return self.hypothesis(h.slot, h.log_prob, h.ended, h.steps)

    def hypothesis(self, slot: int, log_prob: float, ended: bool = True, steps: int | None = None) -> Hypothesis:
        """The hypothesis whose history ends in `slot` of the slots after the last step (of the
        first `steps`)."""
        ids, probs, ents, alts, atts = [], [], [], [], []
        for t in range((len(self.tok) if steps is None else steps) - 1, -1, -1):  # from the last step back
            parents, rows, tok, prob, ent = self.read_step(t)
            r = rows[parents[slot]]
            ids.append(tok[slot])
            probs.append(prob[slot])
            ents.append(ent[r])
            alts.append(self.alternatives(t, r))
            atts.append(self.att[t][r])
            slot = parents[slot]
        att = np.stack(atts[::-1]) if atts else np.zeros(0)
        hyp = _hypothesis(self.vocab, self.shape, ids[::-1], log_prob, probs[::-1], alts[::-1], att,
                          self.length_penalty, ended)
        hyp.entropies = ents[::-1]
        return hyp

    def steps(self, t, scores, items, open_rows, k):
        """One Step per open input: the best live beam's newest word, with every live beam."""
        tok, last = self.tok[-1], len(self.tok) - 1
        words = self.slot_words() if open_rows else []
        for r in open_rows:
            best = r * k
            p = int(self.row[last][self.parent[-1][best]])
            beams = [Beam(list(words[r * k + j]), float(scores[r, j])) for j in range(k) if np.isfinite(scores[r, j])]
            yield Step(
                t, self.vocab[tok[best]], int(tok[best]), float(self.prob[-1][best]), self.alternatives(last, p),
                self.att[-1][p].reshape(self.shape), beams=beams, item=items[r], entropy=float(self.ent[-1][p]),
            )
