"""Target pieces grouped into words (target_words.py): WordPiece (##), SentencePiece (▁) and
byte-BPE (Ġ) pieces built by hand, the words' maps the renormalised mean of their pieces', their
probabilities the product; which piece starts a word read from a tokenizer; and `translate` with a
Marian folder printing words by default and pieces with --pieces (the saved result keeps the pieces)."""
from __future__ import annotations

import numpy as np
import pytest

from attnviewer.target_words import groups, has_pieces, spell, word_hypothesis, word_result
from attnviewer.types import Hypothesis, Result


def _hyp(tokens, starts, places=4, layers=2, heads=3, seed=0):
    rng = np.random.default_rng(seed)
    n = len(tokens)
    att = rng.random((n, places)).astype(np.float32)
    att /= att.sum(axis=1, keepdims=True)
    return Hypothesis(
        tokens=list(tokens), token_ids=list(range(10, 10 + n)), log_prob=-1.5, score=-0.5,
        probs=[0.9, 0.5, 0.8, 0.6, 0.7, 0.4][:n],
        alternatives=[[(t, 0.5), ("x", 0.1)] for t in tokens], attention=att,
        heads=rng.random((n, layers, heads, places + 1)).astype(np.float32),
        sinks=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6][:n], joined="the houses stand", starts=list(starts))


# As readable_vocab writes them: ▁ and Ġ dropped from word starts, ## kept on WordPiece continuations.
STYLES = {
    "wordpiece": (["the", "hous", "##es", "st", "##and"], [True, True, False, True, False]),
    "sentencepiece": (["the", "hous", "es", "st", "and"], [True, True, False, True, False]),
    "byte-bpe": (["the", "hous", "es", "st", "and"], [True, True, False, True, False]),
}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_pieces_become_words(style):
    tokens, starts = STYLES[style]
    hyp = _hyp(tokens, starts)
    words = word_hypothesis(hyp)
    assert words.tokens == ["the", "houses", "stand"]
    assert groups(starts) == [[0], [1, 2], [3, 4]]
    for w, g in enumerate(groups(starts)):
        mean = hyp.attention[g].mean(axis=0)
        np.testing.assert_allclose(words.attention[w], mean / mean.sum(), rtol=1e-6)
        np.testing.assert_allclose(words.heads[w], hyp.heads[g].mean(axis=0), rtol=1e-6)
        assert words.probs[w] == pytest.approx(float(np.prod([hyp.probs[i] for i in g])))
        assert words.alternatives[w] == hyp.alternatives[g[0]]
        assert words.token_ids[w] == hyp.token_ids[g[0]]
        assert words.sinks[w] == pytest.approx(float(np.mean([hyp.sinks[i] for i in g])))
    np.testing.assert_allclose(words.attention.sum(axis=1), 1.0, rtol=1e-6)
    assert words.attention.shape == (3, 4) and words.heads.shape == (3, 2, 3, 5)
    assert (words.text, words.score, words.log_prob) == (hyp.text, hyp.score, hyp.log_prob)
    assert words.starts == [True] * 3 and word_hypothesis(words) is words  # already words
    assert len(hyp.tokens) == 5 and hyp.attention.shape == (5, 4)  # the pieces are left as they were


def test_the_first_piece_starts_a_word_and_whole_words_stay():
    hyp = _hyp(["es", "cat"], [False, True])  # a decoder that begins with a continuation
    assert not has_pieces(hyp) and word_hypothesis(hyp) is hyp
    for starts in (None, [True, True]):
        plain = _hyp(["a", "cat"], [True, True])
        plain.starts = starts
        assert word_hypothesis(plain) is plain  # models that write words: nothing to do
    assert groups([False, False, True]) == [[0, 1], [2]]
    assert groups([]) == []


def test_spelling_and_zero_maps():
    assert spell(["hous", "##es"]) == "houses" and spell(["##es"]) == "##es"  # a lone continuation says so
    assert spell(["▁", ","]) == ","  # SentencePiece's bare ▁ before a piece it has no ▁ form of
    hyp = _hyp(["a", "##b"], [True, False])
    hyp.attention[:] = 0  # a map with nothing on a place (all on the sink) stays zeros, not NaN
    assert np.all(word_hypothesis(hyp).attention == 0)


def test_a_result_in_words_for_display_only():
    hyp = _hyp(*STYLES["wordpiece"])
    result = Result("the houses stand", "m", {}, [hyp, _hyp(["a", "cat"], [True, True])], kind="translate")
    shown = word_result(result)
    assert shown.best.tokens == ["the", "houses", "stand"] and shown.hypotheses[1] is result.hypotheses[1]
    assert result.best.tokens == STYLES["wordpiece"][0]  # the result itself keeps its pieces
    plain = Result("x", "m", {}, [_hyp(["a", "cat"], [True, True])])
    assert word_result(plain) is plain


# ---- which piece starts a word, from a tokenizer ---------------------------------------------------

def test_word_starts_from_tokenizers():
    pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    from attnviewer.models.hf.stepper import readable_vocab, word_starts

    from .hf_models import word_tokenizer

    tok = word_tokenizer(pieces=True)  # WordPiece: all but ## start a word, specials too
    starts, vocab = word_starts(tok, len(tok) + 2), readable_vocab(tok, len(tok))
    assert all(starts[i] != vocab[i].startswith("##") for i in range(len(tok)))
    assert starts[-2:] == [True, True]  # ids past the tokenizer (padded embeddings)

    def marked(mark):
        vocab = {t: i for i, t in enumerate(["<pad>", "</s>", "<unk>", f"{mark}hous", "es", f"{mark}the", ","])}
        return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<unk>")),
                                       pad_token="<pad>", eos_token="</s>", unk_token="<unk>")

    for mark in ("▁", "Ġ"):  # SentencePiece and byte-BPE: only marked pieces (and specials) start one
        assert word_starts(marked(mark), 7) == [True, True, True, True, False, True, False]
    assert all(word_starts(word_tokenizer(), 30))  # whole words
    assert word_starts(None, 3) == [True] * 3


# ---- translate with a Marian folder: words by default, pieces with --pieces ---------------------------

@pytest.fixture(scope="module")
def piece_writer(tmp_path_factory):
    """A tiny Marian whose greedy translation of SENTENCE writes WordPiece continuations ("##er")."""
    pytest.importorskip("transformers")
    import torch
    from transformers import AutoTokenizer, MarianMTModel

    from .hf_models import _save, marian

    folder = marian(tmp_path_factory.mktemp("pieces") / "marian")
    model, tok = MarianMTModel.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():  # a continuation made likely, <unk> unlikely
        head = model.get_output_embeddings().weight
        head[tok.convert_tokens_to_ids("##er")] *= 3
        head[tok.convert_tokens_to_ids("<unk>")] *= 0.2
    _save(model, tok, folder)
    return folder


SENTENCE = "the cat sees a dog"


def _translate(capsys, folder, tmp_path, *extra):
    from attnviewer.cli import main

    svg = tmp_path / f"m{len(extra)}.svg"
    assert main(["translate", SENTENCE, "--model", str(folder), "--greedy", "--max-len", "8",
                 "--figure", str(svg), "--json", str(tmp_path / f"r{len(extra)}.json"), *extra]) == 0
    out = capsys.readouterr().out
    line = out.splitlines()[1].split()  # "  tok (0.91)  tok (0.50) ...": the per-word line
    return line[0::2], [float(p.strip("()")) for p in line[1::2]], svg.read_text(encoding="utf-8"), out


def test_translate_prints_words_and_pieces(piece_writer, tmp_path, capsys):
    from attnviewer.export.data import load_result

    pieces, piece_probs, piece_svg, _ = _translate(capsys, piece_writer, tmp_path, "--pieces")
    assert any(p.startswith("##") for p in pieces[1:]), pieces  # the model did write continuations
    assert "##er" in piece_svg
    words, probs, svg, out = _translate(capsys, piece_writer, tmp_path)
    starts = [not p.startswith("##") for p in pieces]
    assert words == [spell([pieces[i] for i in g]) for g in groups(starts)]
    assert len(words) < len(pieces) and not any(w.startswith("##") for w in words[1:])
    for p, g in zip(probs, groups(starts)):
        assert p == pytest.approx(float(np.prod([piece_probs[i] for i in g])), abs=0.02)
    assert "##er" not in svg and "aligned:" in out
    saved = load_result(tmp_path / "r0.json")  # the file keeps the pieces
    assert saved.best.tokens == pieces and saved.best.attention.shape[0] == len(pieces)
