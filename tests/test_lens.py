"""The lens: which layer and heads of a transformer's cross-attention a map shows, and how tokens
become places. Plain numpy, so the window can redraw a new lens without a model."""
import numpy as np
import pytest

from attnviewer.lens import DEFAULT, Lens, Places, rollout


def _heads(layers=3, heads=4, tokens=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((layers, heads, tokens)).astype(np.float32)
    return x / x.sum(-1, keepdims=True)


def test_default_lens_is_last_layer_mean_of_heads():
    h = _heads()
    places = Places(np.arange(5), (5,))
    m, sink = places.maps(h, DEFAULT)
    np.testing.assert_allclose(m, h[-1].mean(0), rtol=1e-6)
    assert sink == pytest.approx(0.0, abs=1e-6)
    assert DEFAULT.describe(3) == "layer 3 of 3, mean of heads"


def test_one_head_one_layer_max_and_mean_of_layers():
    h = _heads()
    places = Places(np.arange(5), (5,))
    np.testing.assert_allclose(places.maps(h, Lens(0, 2))[0], h[0, 2], rtol=1e-6)
    top = h[-1].max(0)
    np.testing.assert_allclose(places.maps(h, Lens(-1, "max"))[0], top / top.sum(), rtol=1e-6)
    np.testing.assert_allclose(places.maps(h, Lens("mean", "mean"))[0], h.mean((0, 1)), rtol=1e-5)


def test_special_tokens_are_a_sink_and_the_places_renormalised():
    """A CLS token holding 60% of the weight: the map spreads the other 40% over the patches, as 1."""
    weights = np.array([0.6, 0.1, 0.3, 0.0, 0.0], dtype=np.float32)
    places = Places(np.array([-1, 0, 1, 2, 3]), (2, 2))
    m, sink = places.place(weights)
    assert sink == pytest.approx(0.6)
    np.testing.assert_allclose(m, [[0.25, 0.75], [0.0, 0.0]], rtol=1e-6)


def test_subword_pieces_sum_into_their_word():
    weights = np.array([0.2, 0.3, 0.4, 0.1], dtype=np.float32)  # hous ##es sees </s>
    places = Places(np.array([0, 0, 1, -1]), (2,), ["hous", "##es", "sees", "</s>"])
    m, sink = places.place(weights)
    np.testing.assert_allclose(m, [0.5 / 0.9, 0.4 / 0.9], rtol=1e-6)
    assert sink == pytest.approx(0.1)


def test_rollout_of_identity_attention_is_identity_and_rows_sum_to_one():
    eye = np.tile(np.eye(4), (2, 3, 1, 1))  # 2 layers, 3 heads, each token attends to itself
    np.testing.assert_allclose(rollout(eye), np.eye(4), atol=1e-6)
    rng = np.random.default_rng(1)
    att = rng.random((3, 2, 4, 4))
    att /= att.sum(-1, keepdims=True)
    r = rollout(att)
    np.testing.assert_allclose(r.sum(-1), 1.0, rtol=1e-5)


def test_rollout_lens_carries_cross_attention_back_through_the_encoder():
    """Token 0 of the encoder's output is made only of input token 2: attention on it is attention on 2."""
    h = np.zeros((1, 1, 3), dtype=np.float32)
    h[0, 0, 0] = 1.0
    mix = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=np.float32)
    places = Places(np.arange(3), (3,), rollout=mix)
    m, _ = places.maps(h, Lens("rollout"))
    np.testing.assert_allclose(m, [0, 0, 1], atol=1e-6)


@pytest.mark.parametrize("text, lens", [("last", Lens(-1, "mean")), ("2", Lens(1, "mean")),
                                         ("rollout:max", Lens("rollout", "max")), ("mean:3", Lens("mean", 2)),
                                         ("1:mean", Lens(0, "mean"))])
def test_lens_specs_parse(text, lens):
    assert Lens.parse(text) == lens


@pytest.mark.parametrize("text", ["0", "x", "2:0", "2:y"])
def test_bad_lens_specs_say_why(text):
    with pytest.raises(ValueError):
        Lens.parse(text)


def test_a_lens_naming_a_missing_layer_or_head_is_refused():
    places = Places(np.arange(5), (5,))
    with pytest.raises(ValueError, match="layer 8 does not exist; the decoder has 3 \\(1-3\\)"):
        places.maps(_heads(), Lens(7))
    with pytest.raises(ValueError, match="head 10 does not exist"):
        places.maps(_heads(), Lens(0, 9))


def test_places_round_trip_through_their_record():
    p = Places(np.array([-1, 0, 1, 1]), (2,), ["[CLS]", "a", "b", "##c"], detail=(2, 1, 1),
               token_detail=np.array([-1, 0, 1, 1]))
    q = Places.from_dict(p.to_dict())
    np.testing.assert_array_equal(q.token_place, p.token_place)
    assert q.shape == p.shape and q.labels == p.labels and q.detail == p.detail
    np.testing.assert_array_equal(q.token_detail, p.token_detail)


def test_many_steps_at_once_keep_their_leading_axes():
    steps = np.stack([_heads(seed=s) for s in range(4)])  # (T, L, H, N)
    places = Places(np.array([-1, 0, 1, 2, 3]), (2, 2))
    maps, sinks = places.maps(steps)
    assert maps.shape == (4, 2, 2) and sinks.shape == (4,)
    np.testing.assert_allclose(maps.sum((1, 2)), 1.0, rtol=1e-5)
