"""Greedy, beam and sampled decoding of a tiny random Captioner."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attnviewer.data.synthetic import generate_scenes
from attnviewer.decoding.search import DecodeSettings, beam_search, best_hypotheses, decode, run
from attnviewer.errors import SettingsError
from attnviewer.models.words import PAD, SPECIALS, START
from attnviewer.types import Beam, Hypothesis, Step

from .helpers import drained, random_regions, tiny_captioner

MAX_LEN = 7
BATCH = 4


@pytest.fixture(scope="module")
def model():
    # seed, <end> bias and logit scale chosen so that, on the regions below, some captions end
    # early and some run to max_len, and the words differ from input to input
    return tiny_captioner(seed=7, end_bias=0.5, logit_scale=6.0, max_len=MAX_LEN)


@pytest.fixture(scope="module")
def regions(model):
    return random_regions(model, BATCH, seed=8)


def state_of(model, regions):
    with torch.no_grad():
        return model.init_state_from_regions(regions)


def go(model, regions, stream=False, **settings):
    """(streamed steps, final hypotheses) for these settings."""
    with torch.no_grad():
        return drained(decode(model, state_of(model, regions), DecodeSettings(**settings), stream=stream))


def rescore(model, region, token_ids, ended):
    """Teacher-force one caption: (log prob, per-word probs, per-word attention) from model.step."""
    with torch.no_grad():
        state = model.init_state_from_regions(region[None])
        prev = torch.tensor([model.start_id])
        total, probs, atts = 0.0, [], []
        for tok in token_ids:
            lp, att, state = model.step(state, prev)
            total += float(lp[0, tok])
            probs.append(float(lp[0, tok].exp()))
            atts.append(att[0].numpy())
            prev = torch.tensor([tok])
        if ended:
            lp, _, _ = model.step(state, prev)
            total += float(lp[0, model.end_id])
    return total, probs, np.array(atts).reshape(len(token_ids), *model.attention_shape)


def ended(hyp: Hypothesis, max_len: int = MAX_LEN) -> bool:
    # a caption shorter than max_len stopped because the model wrote <end>
    return len(hyp.tokens) < max_len


def same_hypotheses(a: list[Hypothesis], b: list[Hypothesis]):
    assert [h.tokens for h in a] == [h.tokens for h in b]
    np.testing.assert_allclose([h.log_prob for h in a], [h.log_prob for h in b], atol=1e-4)
    np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=1e-4)


# -- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, word",
    [
        (dict(method="beam", beam=0), "beam"),
        (dict(method="beam", beam=-2), "beam"),
        (dict(method="sample", temperature=0.0), "temperature"),
        (dict(method="sample", temperature=-1.0), "temperature"),
        (dict(method="sample", top_k=-1), "top-k"),
        (dict(method="greedy", top_k=-3), "top-k"),
        (dict(method="greedy", max_len=0), "length"),
        (dict(method="viterbi"), "greedy"),
    ],
)
def test_validate_refuses_nonsense(settings, word, model, regions):
    with pytest.raises(SettingsError, match=word):
        DecodeSettings(**settings).validate()
    with pytest.raises(SettingsError):  # decode validates before doing anything
        decode(model, state_of(model, regions), DecodeSettings(**settings))


def test_validate_accepts_sensible_settings():
    for s in (DecodeSettings(), DecodeSettings(method="beam", beam=1), DecodeSettings(method="greedy"),
              DecodeSettings(method="sample", temperature=0.5, top_k=3, seed=1)):
        assert s.validate() is s


# -- greedy and beam ------------------------------------------------------------------------------


def test_the_fixture_covers_ended_and_unended_captions(model, regions):
    _, hyps = go(model, regions, method="greedy")
    lengths = [len(h[0].tokens) for h in hyps]
    assert min(lengths) < MAX_LEN and max(lengths) == MAX_LEN
    assert len({h[0].text for h in hyps}) > 1


def test_beam_1_is_greedy(model, regions):
    _, greedy = go(model, regions, method="greedy")
    _, beam = go(model, regions, method="beam", beam=1)
    assert len(beam) == len(greedy) == BATCH
    for g, b in zip(greedy, beam):
        assert len(g) == len(b) == 1
        assert b[0].token_ids == g[0].token_ids
        assert b[0].log_prob == pytest.approx(g[0].log_prob, abs=1e-5)
        assert b[0].score == pytest.approx(g[0].score, abs=1e-5)
        np.testing.assert_allclose(b[0].probs, g[0].probs, atol=1e-6)
        np.testing.assert_allclose(b[0].attention, g[0].attention, atol=1e-6)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_beam_results_are_sorted_and_at_most_k(model, regions, k):
    _, beam = go(model, regions, method="beam", beam=k)
    assert len(beam) == BATCH
    for hyps in beam:
        assert 1 <= len(hyps) <= k
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert all(math.isfinite(s) for s in scores)
        assert len({tuple(h.token_ids) for h in hyps}) == len(hyps)  # no caption twice


@pytest.mark.parametrize("method, extra", [("greedy", {}), ("beam", {"beam": 3}), ("beam", {"beam": 1})])
def test_hypotheses_are_consistent_with_the_model(model, regions, method, extra):
    """log_prob = sum of log word probs (+ log p(<end>)); probs and attention match teacher forcing."""
    _, results = go(model, regions, method=method, **extra)
    for b, hyps in enumerate(results):
        for h in hyps:
            n = len(h.tokens)
            assert h.tokens == [model.vocab[i] for i in h.token_ids]
            assert len(h.probs) == len(h.alternatives) == n
            assert h.attention.shape == (n, *model.attention_shape)
            if n:
                np.testing.assert_allclose(h.attention.reshape(n, -1).sum(1), 1.0, atol=1e-5)
            total, probs, atts = rescore(model, regions[b], h.token_ids, ended(h))
            assert h.log_prob == pytest.approx(total, abs=1e-4)
            np.testing.assert_allclose(h.probs, probs, atol=1e-5)
            np.testing.assert_allclose(h.attention, atts, atol=1e-5)
            if ended(h):  # the log prob of <end> is included, so it is below the words' alone
                assert h.log_prob < sum(math.log(p) for p in h.probs)
            else:
                assert h.log_prob == pytest.approx(sum(math.log(p) for p in h.probs), abs=1e-4)
            assert h.score == pytest.approx(h.log_prob / (n + ended(h)), abs=1e-6)
            for p, alts in zip(h.probs, h.alternatives):
                alt_p = [q for _, q in alts]
                assert alt_p == sorted(alt_p, reverse=True)
                assert len(alts) == 5
                assert p <= alt_p[0] + 1e-6


@pytest.mark.parametrize("penalty", [0.0, 0.5, 2.0])
def test_length_penalty_sets_the_score(model, regions, penalty):
    _, beam = go(model, regions, method="beam", beam=3, length_penalty=penalty)
    kinds = set()
    for hyps in beam:
        for h in hyps:
            # the length counts the <end> of a caption that ended, not of one cut at max_len
            ended = len(h.tokens) < MAX_LEN
            kinds.add(ended)
            assert h.score == pytest.approx(h.log_prob / (len(h.tokens) + ended) ** penalty, abs=1e-6)
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
    assert kinds == {True, False}


@pytest.mark.parametrize("method, extra", [("greedy", {}), ("beam", {"beam": 3})])
def test_batched_decoding_equals_one_input_at_a_time(model, regions, method, extra):
    _, together = go(model, regions[:3], method=method, **extra)
    for b in range(3):
        _, alone = go(model, regions[b : b + 1], method=method, **extra)
        same_hypotheses(together[b], alone[0])


def test_streaming_does_not_change_the_result(model, regions):
    for settings in (dict(method="greedy"), dict(method="beam", beam=3)):
        _, quiet = go(model, regions, stream=False, **settings)
        steps, loud = go(model, regions, stream=True, **settings)
        assert steps
        for a, b in zip(quiet, loud):
            same_hypotheses(a, b)
    steps, quiet = go(model, regions, stream=False, method="greedy")
    assert steps == []


@pytest.mark.parametrize("method, extra", [("greedy", {}), ("beam", {"beam": 3}), ("sample", {"seed": 3})])
def test_streamed_steps_carry_a_proper_attention_map(model, regions, method, extra):
    steps, _ = go(model, regions, stream=True, method=method, **extra)
    assert steps
    for s in steps:
        assert isinstance(s, Step)
        assert s.attention.shape == model.attention_shape
        assert s.attention.sum() == pytest.approx(1.0, abs=1e-5)
        assert np.all(s.attention >= 0)
        assert 0 <= s.item < BATCH
        assert 0 <= s.index < MAX_LEN
        assert s.token == model.vocab[s.token_id]
        assert 0 < s.prob <= 1
        assert s.token not in (PAD, START)


def test_greedy_stream_spells_out_each_caption(model, regions):
    steps, hyps = go(model, regions, stream=True, method="greedy")
    for b in range(BATCH):
        mine = [s for s in steps if s.item == b]
        h = hyps[b][0]
        assert [s.token for s in mine] == h.tokens
        assert [s.index for s in mine] == list(range(len(h.tokens)))
        np.testing.assert_allclose([s.prob for s in mine], h.probs, atol=1e-6)
        for s, att in zip(mine, h.attention):
            np.testing.assert_allclose(s.attention, att, atol=1e-6)
            assert len(s.beams) == 1 and s.beams[0].tokens == h.tokens[: s.index + 1]
        # the hypothesis replays as the same steps
        replay = h.steps(item=b)
        assert [(s.token, s.index) for s in replay] == [(s.token, s.index) for s in mine]


def test_beam_steps_carry_the_live_beams(model, regions):
    k = 3
    steps, _ = go(model, regions, stream=True, method="beam", beam=k)
    assert steps
    for s in steps:
        assert 1 <= len(s.beams) <= k
        assert all(isinstance(beam, Beam) for beam in s.beams)
        scores = [beam.score for beam in s.beams]
        assert scores == sorted(scores, reverse=True)
        assert all(math.isfinite(x) for x in scores)
        best = s.beams[0]
        assert len(best.tokens) == s.index + 1  # live beams hold one word per step so far
        assert all(len(beam.tokens) == s.index + 1 for beam in s.beams)
        assert best.tokens[-1] == s.token
        assert len({tuple(beam.tokens) for beam in s.beams}) == len(s.beams)
        for beam in s.beams:
            assert PAD not in beam.tokens and START not in beam.tokens
    # after the first step of an input with several candidates there are k live beams
    assert any(len(s.beams) == k for s in steps)
    # one step per open input per time step
    for t in range(MAX_LEN):
        items = [s.item for s in steps if s.index == t]
        assert len(items) == len(set(items))


@pytest.mark.parametrize("k", [2, 5])
def test_each_streamed_beam_is_a_history_the_search_kept(model, regions, k):
    """Every returned hypothesis grew from live beams: its first t+1 words were one of the beams
    streamed for its input at step t, at every step (some inputs end early and leave the batch,
    which renumbers the beams of those still open)."""
    steps, results = go(model, regions, stream=True, method="beam", beam=k)
    live = {(s.item, s.index): {tuple(beam.tokens) for beam in s.beams} for s in steps}
    assert len({len(hyps[0].tokens) for hyps in results}) > 1  # inputs finish at different steps
    for item, hyps in enumerate(results):
        for h in hyps:
            for t in range(len(h.tokens)):
                assert tuple(h.tokens[:t + 1]) in live[(item, t)], (item, t, h.tokens)


def test_max_len_is_respected(model, regions):
    for max_len in (1, 3):
        for settings in (dict(method="greedy"), dict(method="beam", beam=3), dict(method="sample", seed=0)):
            steps, results = go(model, regions, stream=True, max_len=max_len, **settings)
            assert all(len(h.tokens) <= max_len for hyps in results for h in hyps)
            assert all(s.index < max_len for s in steps)
    # a model that never wants to stop writes exactly max_len words
    chatty = tiny_captioner(seed=7, end_bias=-20.0, logit_scale=6.0, max_len=MAX_LEN)
    _, results = go(chatty, regions, method="greedy")
    assert all(len(h[0].tokens) == MAX_LEN for h in results)
    _, results = go(chatty, regions, method="beam", beam=2, max_len=4)
    assert all(len(h.tokens) == 4 for hyps in results for h in hyps)


def test_pad_and_start_are_never_generated(model, regions):
    never = {model.vocab.index(PAD), model.vocab.index(START)}
    runs = [dict(method="greedy"), dict(method="beam", beam=5),
            dict(method="sample", temperature=50.0, seed=1), dict(method="sample", temperature=50.0, seed=2)]
    for settings in runs:
        steps, results = go(model, regions, stream=True, **settings)
        for hyps in results:
            for h in hyps:
                assert not never & set(h.token_ids)
                for alts in h.alternatives:
                    assert not {PAD, START} & {w for w, _ in alts}
        assert all(s.token_id not in never for s in steps)


def test_best_hypotheses_decodes_many_inputs_a_few_at_a_time(model, regions):
    _, greedy = go(model, regions, method="greedy")
    best = best_hypotheses(model, regions, DecodeSettings("greedy"), batch=3)  # 3 + 1 inputs
    assert [h.token_ids for h in best] == [hyps[0].token_ids for hyps in greedy]
    np.testing.assert_allclose(np.concatenate([h.attention.ravel() for h in best]),
                               np.concatenate([hyps[0].attention.ravel() for hyps in greedy]), atol=1e-6)


def test_sampling_with_a_seed_is_reproducible(model, regions):
    a = go(model, regions, stream=True, method="sample", temperature=2.0, seed=11)
    b = go(model, regions, stream=True, method="sample", temperature=2.0, seed=11)
    for x, y in zip(a[1], b[1]):
        same_hypotheses(x, y)
    assert [s.token for s in a[0]] == [s.token for s in b[0]]
    # other seeds give other captions (at temperature 2 they vary a lot)
    texts = {tuple(h[0].text for h in go(model, regions, method="sample", temperature=2.0, seed=s)[1])
             for s in range(5)}
    assert len(texts) > 1


def test_sampling_is_not_affected_by_the_global_rng(model, regions):
    torch.manual_seed(0)
    a = go(model, regions, method="sample", temperature=2.0, seed=5)[1]
    torch.manual_seed(99)
    torch.rand(10)
    b = go(model, regions, method="sample", temperature=2.0, seed=5)[1]
    for x, y in zip(a, b):
        same_hypotheses(x, y)


@pytest.mark.parametrize("extra", [dict(temperature=1e-3), dict(top_k=1), dict(top_k=1, temperature=20.0)])
def test_cold_or_top1_sampling_is_greedy(model, regions, extra):
    _, greedy = go(model, regions, method="greedy")
    for seed in (0, 1):
        _, sampled = go(model, regions, method="sample", seed=seed, **extra)
        for g, s in zip(greedy, sampled):
            assert s[0].token_ids == g[0].token_ids
            assert s[0].log_prob == pytest.approx(g[0].log_prob, abs=1e-5)


def test_top_k_sampling_only_picks_the_k_most_likely_words(model, regions):
    for seed in range(3):
        steps, results = go(model, regions, stream=True, method="sample", top_k=2, temperature=5.0, seed=seed)
        for hyps in results:
            h = hyps[0]
            for tok, alts in zip(h.tokens, h.alternatives):
                assert tok in [w for w, _ in alts[:2]]
        for s in steps:
            assert s.token in [w for w, _ in s.alternatives[:2]]


def test_sampled_log_prob_is_consistent(model, regions):
    _, results = go(model, regions, method="sample", temperature=1.5, seed=4)
    for b, hyps in enumerate(results):
        h = hyps[0]
        total, probs, atts = rescore(model, regions[b], h.token_ids, ended(h))
        assert h.log_prob == pytest.approx(total, abs=1e-4)
        np.testing.assert_allclose(h.attention, atts, atol=1e-5)


# -- images and hard attention --------------------------------------------------------------------


def test_decoding_real_images():
    scenes = generate_scenes(3, seed=0, size=160)
    model = tiny_captioner(seed=7, end_bias=0.5, logit_scale=6.0, image_size=160, max_len=6)
    assert model.attention_shape == (10, 10)
    pixels = torch.from_numpy(np.stack([s.image for s in scenes])).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        state = model.init_state(pixels)
        beam = run(decode(model, state, DecodeSettings(method="beam", beam=3), stream=False))
        greedy = run(decode(model, state, DecodeSettings(method="beam", beam=1), stream=False))
        for b in range(3):
            alone = run(decode(model, model.init_state(pixels[b : b + 1]), DecodeSettings(beam=3), stream=False))
            same_hypotheses(beam[b], alone[0])
    for hyps in beam + greedy:
        for h in hyps:
            assert h.attention.shape == (len(h.tokens), 10, 10)
            assert len(h.tokens) <= 6


def test_hard_attention_decoding_reports_sampled_locations(regions):
    model = tiny_captioner(seed=7, end_bias=-20.0, logit_scale=6.0, hard=True)
    n = model.attention_shape[0] * model.attention_shape[1]
    torch.manual_seed(0)
    steps, results = go(model, regions, stream=True, method="greedy", sample_attention=True)
    assert steps
    for s in steps:
        assert s.location is not None and 0 <= s.location < n
        assert s.attention.reshape(-1)[s.location] > 0
    # without sampling, no locations, and eval mode gives the same result every time
    steps1, r1 = go(model, regions, stream=True, method="greedy")
    steps2, r2 = go(model, regions, stream=True, method="greedy")
    assert all(s.location is None for s in steps1)
    for a, b in zip(r1, r2):
        same_hypotheses(a, b)


# -- edge cases -----------------------------------------------------------------------------------


def test_wide_beam_on_small_vocabulary_returns_only_real_hypotheses(regions):
    # A beam wider than the words that can follow <start> keeps placeholder beams of score -inf
    # at first; they must never come back as hypotheses (duplicates of real captions, -inf score).
    model = tiny_captioner(seed=3, end_bias=0.0, logit_scale=6.0, vocab=list(SPECIALS) + ["x", "y"])
    regions = random_regions(model, 2, seed=4)
    with torch.no_grad():
        results = run(beam_search(model, model.init_state_from_regions(regions), k=5, max_len=1, stream=False))
    for hyps in results:
        assert 1 <= len(hyps) <= 4  # '', 'x', 'y', '<unk>': no more captions of at most one word exist
        assert all(math.isfinite(h.log_prob) for h in hyps)
        assert len({tuple(h.token_ids) for h in hyps}) == len(hyps)
        assert not {model.vocab.index(PAD), model.vocab.index(START)} & {t for h in hyps for t in h.token_ids}


class _Table:
    """A model whose word scores are a table of (step, previous word): a beam search by hand."""

    vocab = ["<pad>", "<start>", "<end>", "a", "b"]
    start_id, end_id, attention_shape = 1, 2, (1,)

    class config:
        max_len = 2

    NO = float("-inf")
    FIRST = [NO, NO, -0.5, -0.1, -2.0]  # "" (ended at once), "a", "b"
    AFTER = {3: [NO, NO, -1.0, -0.2, -3.0], 4: [NO, NO, -3.0, -3.0, -3.0]}

    def step(self, state, prev, parents=None, owner=None):
        t = state["t"] if parents is None else state["t"].index_select(0, parents)
        rows = [self.FIRST if int(s) == 0 else self.AFTER[int(p)] for s, p in zip(t, prev)]
        return torch.tensor(rows), torch.ones(len(rows), 1), {"t": t + 1}


def test_beams_going_at_the_length_limit_compete_with_those_that_ended():
    """generate()'s beam search ends the beams still going at max_len and keeps the best k of all:
    'a a' (-0.3 over 2 words) beats '' (-0.5) and 'a' (-1.1 over 2), though two had ended."""
    hyps = run(beam_search(_Table(), {"t": torch.zeros(1)}, k=2, max_len=2, stream=False))[0]
    assert [h.tokens for h in hyps] == [["a", "a"], []]
    assert hyps[0].score == pytest.approx(-0.15)


class _Counting:
    """A model's step with the rows it computes recorded: (word rows, state rows) per step."""

    def __init__(self, model):
        self.model, self.rows = model, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def step(self, state, prev, parents=None, owner=None, **extra):
        self.rows.append((len(prev), len(state["h"])))
        return self.model.step(state, prev, parents=parents, owner=owner, **extra)


def _bundled(kind):
    """A bundled model of the kind and a function of input rows -> its state for those inputs
    (trained models: their hypotheses end at different lengths, so beams narrow unevenly)."""
    from attnviewer.data.clip_events import generate_clips
    from attnviewer.data.pairs import generate_pairs
    from attnviewer.models import registry
    from attnviewer.training.image import scene_pixels
    from attnviewer.training.video import clip_tensor

    name = {"caption": "caption-shapes", "video": "video-shapes", "translate": "translate-sov"}[kind]
    m = registry.load(name, "cpu", kind=kind)
    if kind == "caption":
        media = scene_pixels(generate_scenes(BATCH, seed=31))
        return m, lambda rows: m.init_state(media[rows])
    if kind == "video":
        media = clip_tensor(np.stack([c.steps() for c in generate_clips(BATCH, seed=31)]))
        return m, lambda rows: m.init_state(media[rows])
    sources = [p.source for p in generate_pairs(BATCH, seed=31)]
    return m, lambda rows: m.init_state(m.source_batch([sources[i] for i in rows]))


@pytest.mark.parametrize("kind", ["caption", "video", "translate"])
def test_a_narrowing_beam_computes_only_its_live_hypotheses(kind):
    """The tutorial's shrinking search: a hypothesis that ends frees its slot, and the model no
    longer computes it (each step's words are the hypotheses still live, their states the
    distinct parents), with the same results as each input decoded alone."""
    model, states = _bundled(kind)
    counting = _Counting(model)
    settings = DecodeSettings("beam", beam=4, length_penalty=0.0, shrink_beam=True)
    with torch.no_grad():
        steps, together = drained(decode(counting, states(list(range(BATCH))), settings))
        alone = [run(decode(model, states([b]), settings, stream=False))[0] for b in range(BATCH)]
    live = [sum(len(s.beams) for s in steps if s.index == t) for t in range(len(counting.rows))]
    assert counting.rows[0] == (BATCH, BATCH)
    assert [words for words, _ in counting.rows[1:]] == live[:-1]
    assert all(parents <= words for words, parents in counting.rows)
    assert any(n < 4 * len({s.item for s in steps if s.index == t}) for t, n in enumerate(live[:-1]))  # it narrowed
    for a, b in zip(together, alone):
        same_hypotheses(a, b)
