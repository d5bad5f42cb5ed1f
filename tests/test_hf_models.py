"""Transformer model folders driven by attnviewer's own decoding: for every family, the words and
the per-step cross-attention (every layer and head) equal transformers' generate()'s, for greedy
decoding and for beam search (k=3), in batches of two inputs. generate() is the reference here,
never the path. BLIP's generate() returns no cross-attention: its attention is checked against a
teacher-forced pass of its text decoder instead."""
from __future__ import annotations

import pytest

pytest.importorskip("transformers")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from attnviewer.decoding.search import decode, run  # noqa: E402
from attnviewer.models import registry  # noqa: E402
from attnviewer.settings import DecodeSettings  # noqa: E402

from . import hf_models  # noqa: E402

MAX_NEW = 8
TOL = 1e-4
SENTENCES = ["the red houses and gardens", "a cat sees the big dog in the garden on the left"]

FAMILIES = {  # name: (builder, kind); seeds whose random weights write varied words for these inputs
    "vit": (lambda p: hf_models.vit_gpt2(p, "vit"), "caption"),
    "deit": (lambda p: hf_models.vit_gpt2(p, "deit"), "caption"),
    "beit": (lambda p: hf_models.vit_gpt2(p, "beit"), "caption"),
    "swin": (lambda p: hf_models.vit_gpt2(p, "swin"), "caption"),
    "blip": (lambda p: hf_models.blip(p, seed=3), "caption"),
    "timesformer": (lambda p: hf_models.video_gpt2(p, "timesformer"), "video"),
    "videomae": (lambda p: hf_models.video_gpt2(p, "videomae"), "video"),
    "marian": (lambda p: hf_models.marian(p, seed=2), "translate"),
    "bart": (hf_models.bart, "translate"),
    "t5": (lambda p: hf_models.t5(p, seed=1), "translate"),
}


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    """family name -> (the Stepper loaded from its folder, a batch of two inputs of its kind); each
    folder built and loaded once."""
    cache = {}

    def get(name: str):
        if name not in cache:
            build, kind = FAMILIES[name]
            folder = build(tmp_path_factory.mktemp("hf") / name)
            model = registry.load(str(folder), "cpu", kind=kind)
            cache[name] = model, _inputs(model, kind)
        return cache[name]

    return get


def _inputs(model, kind: str):
    g = torch.Generator().manual_seed(3)
    if kind == "translate":
        return model.source_batch(SENTENCES)
    if kind == "video":
        size = model.config.frame_size
        return torch.rand(2, model.config.steps, 3, size, size, generator=g) * 255  # as the video kind gives them
    size = model.config.image_size
    return torch.rand(2, 3, size, size, generator=g) * 255  # as the image kind gives them


def _ours(model, inputs, beams: int):
    settings = DecodeSettings("greedy" if beams == 1 else "beam", beam=beams, max_len=MAX_NEW, length_penalty=1.0)
    with torch.inference_mode():
        state = model.init_state(inputs)
        return run(decode(model, state, settings, stream=False))


def _generate(model, inputs, beams: int):
    if model.kind == "translate":
        ids, mask, _ = inputs
        given = dict(input_ids=ids, attention_mask=mask)
    else:
        given = dict(pixel_values=model._pixels(inputs))
    search = dict(num_beams=beams, length_penalty=1.0, num_return_sequences=beams) if beams > 1 else {}  # (the folder's early stopping)
    with torch.inference_mode():
        return model.hf.generate(**given, **search, max_new_tokens=MAX_NEW, do_sample=False, output_attentions=True,
                                 output_scores=True, return_dict_in_generate=True)


def _words(model, row) -> list[int]:
    """A generated sequence's words: after the start token (and a forced first token), up to the end."""
    ids = [int(x) for x in row[1:]]
    return ids[:ids.index(model.end_id)] if model.end_id in ids else ids


def _their_attention(out, i: int, n: int, beams: int) -> np.ndarray:
    """generate()'s cross-attention of returned sequence i, [steps, layers, heads, tokens]; beam rows
    gathered through beam_indices (attention is kept in the order of the beams running at each step)."""
    steps = []
    for t in range(n):
        row = int(out.beam_indices[i, t]) if beams > 1 else i
        steps.append(torch.stack([layer[row, :, -1, :] for layer in out.cross_attentions[t]]))
    return torch.stack(steps).float().numpy()


def _per_word(cross_attentions, n: int) -> np.ndarray:
    """A forward pass's cross-attention (per layer (1, heads, queries, tokens)) of its first n
    queries as [words, layers, heads, tokens]."""
    return torch.stack([a[0, :, :n, :] for a in cross_attentions]).permute(2, 0, 1, 3).float().numpy()


def _teacher_forced_blip(model, inputs, b: int, ids: list[int]) -> np.ndarray:
    """BLIP's cross-attention for words `ids` of image b, from one pass of its text decoder."""
    with torch.inference_mode():
        image = model.hf.vision_model(pixel_values=model._pixels(inputs[b:b + 1])).last_hidden_state
        seq = torch.tensor([[model.start_id, *ids]])
        out = model.hf.text_decoder(input_ids=seq, encoder_hidden_states=image, output_attentions=True)
    return _per_word(out.cross_attentions, len(ids))


@pytest.mark.parametrize("beams", [1, 3])
@pytest.mark.parametrize("name", list(FAMILIES))
def test_words_and_attention_equal_generate(family, name, beams):
    model, inputs = family(name)
    ours = _ours(model, inputs, beams)
    out = _generate(model, inputs, beams)
    seqs = out.sequences.tolist()
    assert len(seqs) == 2 * beams
    words = set()
    for i, row in enumerate(seqs):
        b, j = divmod(i, beams)
        hyp = ours[b][j]
        ids = _words(model, row)
        assert hyp.token_ids == ids, f"{name}, input {b}, hypothesis {j}"
        assert hyp.tokens == [model.vocab[k] for k in ids]
        words.update(ids)
        if beams > 1:
            assert hyp.score == pytest.approx(float(out.sequences_scores[i]), abs=TOL)
        if name == "blip":  # its generate() gives no cross-attention
            theirs = _teacher_forced_blip(model, inputs, b, ids)
        else:
            theirs = _their_attention(out, i, len(ids), beams)
        if model._copies is not None:  # VideoMAE: each tubelet's weight shared among its frames
            theirs = theirs[..., model._copies.numpy()] / model.tubelet
        assert hyp.attention.shape == theirs.shape == (len(ids), *model.attention_shape)
        np.testing.assert_allclose(hyp.attention, theirs, atol=TOL, err_msg=f"{name}, input {b}, hypothesis {j}")
    assert len(words) >= 3, "the model writes too few different words for the test to mean anything"


@pytest.mark.parametrize("name", list(FAMILIES))
def test_attention_varies_over_the_input(family, name):
    """The comparison above can fail: attention is far from uniform over the encoder's tokens."""
    model, inputs = family(name)
    hyp = _ours(model, inputs, 1)[0][0]
    n = hyp.attention.shape[-1]
    assert float(np.abs(hyp.attention - 1 / n).max()) > 0.05


@pytest.mark.parametrize("name", ["vit", "marian"])
def test_teacher_forced_attention_equals_one_forward_pass(family, name):
    """Step by step with the cache gives the attention of a single pass over the decoded words."""
    model, inputs = family(name)
    hyps = _ours(model, inputs, 1)
    for b in range(2):
        ids = hyps[b][0].token_ids
        seq = torch.tensor([[model.start_id, *ids]])
        with torch.inference_mode():
            if model.kind == "translate":
                src, mask, _ = inputs
                out = model.hf(input_ids=src[b:b + 1], attention_mask=mask[b:b + 1], decoder_input_ids=seq,
                               output_attentions=True)
            else:
                out = model.hf(pixel_values=model._pixels(inputs[b:b + 1]), decoder_input_ids=seq,
                               output_attentions=True)
        full = _per_word(out.cross_attentions, len(ids))
        np.testing.assert_allclose(hyps[b][0].attention, full, atol=TOL)


def test_a_decoder_with_other_layer_and_head_counts_than_its_encoder(tmp_path):
    """A seq2seq config's num_hidden_layers and num_attention_heads are its encoder's: the heads of
    each word are the decoder's own (3 layers x 2 heads here), and decoding does not crash."""
    import torch

    from attnviewer.decoding.search import DecodeSettings, decode, run
    from attnviewer.models.registry import load

    from .hf_models import marian

    model = load(str(marian(tmp_path / "m", decoder_layers=3, decoder_heads=2)), "cpu", kind="translate")
    with torch.inference_mode():
        state = model.init_state(model.source_batch(["the cat sees a dog"]))
        hyp = run(decode(model, state, DecodeSettings(method="greedy", max_len=4), stream=False))[0][0]
    assert model.attention_shape[:2] == (3, 2)
    assert hyp.attention.shape[1:3] == (3, 2) and len(hyp.tokens) > 0
