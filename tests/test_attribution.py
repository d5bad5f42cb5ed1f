"""Gradient attribution beside attention (whatif/attribution.py): integrated gradients satisfy
completeness for image, video and text models; the maps are drawn over the attention's places;
the figure; the CLI."""
from __future__ import annotations

import numpy as np
import pytest

from attnviewer import pipeline
from attnviewer.export.figures import FigureStyle
from attnviewer.kinds import IMAGE, TEXT, VIDEO, Sentence
from attnviewer.settings import DecodeSettings
from attnviewer.whatif.attribution import attribute, attribution_figure, spearman
from attnviewer.whatif.faithfulness import held_out_clips, held_out_scenes

from .helpers import tiny_captioner, tiny_translator

pytest.importorskip("captum", reason="gradient attribution needs the extra 'whatif' (captum)")


def _run(kind, model, media):
    model.name = getattr(model, "name", None) or "tiny"
    media = kind.fit(media, model)
    return media, pipeline.run_all(kind, model, [media], DecodeSettings("greedy"))[0]


def _sample():
    from attnviewer.resources import sample_dir

    return sample_dir() / "shapes-1.png"


def _sentence(reverse=False):
    model = tiny_translator(seed=4, reverse=reverse)
    return (model,) + _run(TEXT, model, Sentence("the red dog sees a small cat", "the red dog sees a small cat".split()))


@pytest.mark.parametrize("case", ["image", "video", "translate-sov", "translate-sov-marian"])
def test_integrated_gradients_add_up_to_the_change_from_the_blank_input(case):
    if case == "image":  # (a random tiny captioner hardly depends on its pixels: the bundled transformer)
        model = pipeline.load_model(IMAGE, "caption-shapes-vit", "cpu")
        kind, (media, result) = IMAGE, _run(IMAGE, model, pipeline.read(IMAGE, str(_sample()), "caption-shapes-vit"))
    elif case == "video":
        model = pipeline.load_model(VIDEO, "video-shapes", "cpu")
        kind, (media, result) = VIDEO, _run(VIDEO, model, held_out_clips(model, 1, 3)[0])
    else:
        model = pipeline.load_model(TEXT, case, "cpu")
        text = "the small dog sees a red ball"
        kind, (media, result) = TEXT, _run(TEXT, model, Sentence(text, text.split()))
    found = attribute(kind, model, media, result, 1, "ig", n_steps=64 if case in ("video", "translate-sov") else 32)
    gap = found.value - found.baseline_value
    assert abs(gap) > 0.05  # the blank input really changes the word's probability
    assert found.total == pytest.approx(gap, abs=0.02 * abs(gap) + 1e-3)  # completeness
    assert abs(found.delta) <= 0.02 * abs(gap) + 1e-3
    if case != "translate-sov-marian":  # (its </s> is no source word: it keeps a little of the attribution)
        # every bit of the input lies in some place: the places' sums hold the whole attribution
        assert found.sums.sum() == pytest.approx(found.total, rel=1e-4, abs=1e-5)
    assert found.map.shape == found.attention.shape == result.best.attention[1].shape
    assert found.map.sum() == pytest.approx(1.0)


def test_saliency_is_drawn_over_the_attention_grid_and_compared_with_it():
    model = tiny_captioner(seed=5, end_bias=-4.0)
    media, result = _run(IMAGE, model, held_out_scenes(model, 1, 3)[0])
    found = attribute(IMAGE, model, media, result, 0, "saliency")
    assert found.map.shape == model.attention_shape and (found.map >= 0).all()
    assert found.delta is None and -1 <= found.spearman <= 1
    line = found.lines()[0]
    assert line.startswith(f"word 1 {result.best.tokens[0]!r}") and "saliency" in line and "Spearman" in line


@pytest.mark.parametrize("reverse", [False, True])
def test_a_source_words_attribution_lands_on_that_word_also_when_the_translator_reads_backwards(reverse):
    """Integrated gradients from zero embeddings give a word whose embedding is zero exactly nothing:
    its place, and no other, must be empty (a translator reading the sentence backwards sees the
    embeddings in the other order; they are put back)."""
    import torch

    model, media, result = _sentence(reverse)
    with torch.no_grad():
        model.source_embedding.weight[model.source_index["dog"]] = 0.0
    media, result = _run(TEXT, model, media)
    found = attribute(TEXT, model, media, result, 0, "ig", n_steps=8)
    dog = media.words.index("dog")
    assert found.sums[dog] == 0.0
    assert np.count_nonzero(found.sums) == len(media.words) - 1


def test_spearman_ranks():
    assert spearman(np.array([1, 2, 3, 4.0]), np.array([10, 20, 30, 40.0])) == pytest.approx(1.0)
    assert spearman(np.array([1, 2, 3, 4.0]), np.array([4, 3, 2, 1.0])) == pytest.approx(-1.0)
    assert spearman(np.array([1, 1, 2, 3.0]), np.array([1, 1, 2, 3.0])) == pytest.approx(1.0)  # ties
    assert np.isnan(spearman(np.ones(4), np.arange(4.0)))


def test_the_attribution_figure_draws_the_word_twice(tmp_path):
    model = tiny_captioner(seed=5, end_bias=-4.0)
    media, result = _run(IMAGE, model, held_out_scenes(model, 1, 3)[0])
    found = attribute(IMAGE, model, media, result, 1, "saliency")
    out = tmp_path / "word.png"
    attribution_figure(IMAGE, media, result, found, out, FigureStyle())
    from PIL import Image

    with Image.open(out) as picture:
        width, height = picture.size
    assert height > width / 4  # two rows of panels: the attention, then the attribution


def test_cli_attribution_and_masking_on_a_sentence(capsys, tmp_path):
    from attnviewer.cli import main

    out = tmp_path / "ig.png"
    assert main(["translate", "the small dog sees a red ball", "--greedy", "--word", "2", "--mask-top",
                 "--attribution", "ig", "--ig-steps", "16", "--attribution-figure", str(out)]) == 0
    text = capsys.readouterr().out
    assert "word 2 'hund': masked its top region (source word 'dog')" in text
    assert "integrated gradients" in text and "completeness" in text
    assert out.stat().st_size > 0


def test_cli_attribution_figure_needs_one_word(capsys, tmp_path):
    from attnviewer.cli import main

    assert main(["translate", "the dog", "--attribution", "ig", "--attribution-figure", str(tmp_path / "a.png")]) == 2
    assert "an attribution figure shows one word; add --word N" in capsys.readouterr().err


def test_attention_and_saliency_both_point_into_the_named_object_more_often_than_chance():
    from attnviewer.whatif.faithfulness import attribution_pointing

    model = pipeline.load_model(IMAGE, "caption-shapes-vit", "cpu")
    row = attribution_pointing(IMAGE, model, 2, 12345, "saliency")
    assert row["words"] >= 4
    assert row["attention cell"] > row["uniform cell"] + 0.3
    assert row["saliency cell"] > row["uniform cell"] + 0.3
    assert -1 <= row["spearman"] <= 1
