"""Counterfactual masking (whatif/masking.py) and the deletion test (whatif/faithfulness.py): the
forced re-run reproduces the decoded word, masking blanks exactly the attended places, the bundled
image model's words depend on their attended region more than on a random one; the CLI."""
from __future__ import annotations

import numpy as np
import pytest

from attnviewer import pipeline
from attnviewer.cli import main
from attnviewer.data.synthetic import COLOURS, SHAPES
from attnviewer.kinds import IMAGE, TEXT, VIDEO, Sentence
from attnviewer.settings import DecodeSettings
from attnviewer.whatif.edits import edits
from attnviewer.whatif.faithfulness import deletion_test, held_out_clips, held_out_scenes
from attnviewer.whatif.masking import mask_top, masked_rows, top_places

from .helpers import tiny_captioner, tiny_translator, tiny_video_captioner


def _named(model, name="tiny"):
    model.name = name
    return model


def _decoded(kind, model, media):
    return pipeline.run_all(kind, model, [media], DecodeSettings("greedy"))[0]


def test_top_places_are_the_fewest_holding_the_mass():
    att = np.array([[0.05, 0.40], [0.30, 0.25]])
    assert top_places(att, 0.5).tolist() == [[False, True], [True, False]]  # 0.40 + 0.30
    assert top_places(att, 0.0).sum() == 1 and top_places(att, 0.0)[0, 1]  # the top place alone
    assert top_places(att, 1.0).all()


@pytest.mark.parametrize("kind,make,media", [
    (IMAGE, lambda: tiny_captioner(seed=3), lambda m: held_out_scenes(m, 1, 7)[0]),
    (VIDEO, lambda: tiny_video_captioner(seed=3), lambda m: held_out_clips(m, 1, 7)[0]),
    (TEXT, lambda: tiny_translator(seed=3), lambda m: Sentence("the red dog sees a cat", "the red dog sees a cat".split())),
])
def test_the_forced_rerun_of_the_unmasked_input_gives_each_word_its_decoded_probability(kind, make, media):
    model = _named(make())
    item = kind.fit(media(model), model)
    hyp = _decoded(kind, model, item).best
    assert len(hyp.tokens) >= 2
    rows = [(t, np.zeros(hyp.attention[t].shape, bool)) for t in range(len(hyp.tokens))]
    p = masked_rows(kind, model, item, hyp, rows, edits(kind).fills[0]).exp().numpy()
    assert np.allclose([p[t, w] for t, w in enumerate(hyp.token_ids)], hyp.probs, atol=1e-5)
    assert [int(row.argmax()) for row in p] == hyp.token_ids  # greedy: each word the most likely


def test_masking_an_image_blanks_exactly_the_top_cells_with_the_image_mean():
    model = _named(tiny_captioner(seed=3))
    image = held_out_scenes(model, 1, 7)[0]
    result = _decoded(IMAGE, model, image)
    out = mask_top(IMAGE, model, image, result, 1)
    gh, gw = out.where.shape
    changed = np.any(np.asarray(edits(IMAGE).mask(image, model, out.where, "mean").rgb) != image.rgb, axis=2)
    h, w = changed.shape
    for i, j in np.argwhere(~out.where):  # nothing outside the masked cells moved
        assert not changed[i * h // gh:(i + 1) * h // gh, j * w // gw:(j + 1) * w // gw].any()
    assert out.where.sum() == top_places(result.best.attention[1], 0.5).sum()
    assert out.region == f"{out.where.mean():.0%} of the image"
    assert out.before == pytest.approx(result.best.probs[1], abs=1e-5)
    assert out.word == result.best.tokens[1] and len(out.top) == 5


def test_masking_a_sentence_replaces_its_top_source_word_by_unk_or_drops_it():
    model = _named(tiny_translator(seed=2))
    sentence = TEXT.fit(Sentence("the red dog sees a cat", "the red dog sees a cat".split()), model)
    result = _decoded(TEXT, model, sentence)
    out = mask_top(TEXT, model, sentence, result, 0)
    top = int(np.argmax(result.best.attention[0]))
    assert out.where.sum() == 1 and out.where[top]
    assert out.region == f"source word {sentence.words[top]!r}"
    assert edits(TEXT).mask(sentence, model, out.where, "unk").words[top] == "<unk>"
    dropped = edits(TEXT).mask(sentence, model, out.where, "drop").words
    assert dropped == sentence.words[:top] + sentence.words[top + 1:]


def test_the_bundled_transformer_translator_loses_its_noun_when_the_source_noun_is_masked():
    model = pipeline.load_model(TEXT, "translate-sov-marian", "cpu")
    sentence = TEXT.fit(Sentence("the small dog sees a red ball", []), model)
    result = _decoded(TEXT, model, sentence)
    step = result.best.tokens.index("hund")
    out = mask_top(TEXT, model, sentence, result, step)
    assert out.region == "source word 'dog'"
    assert not out.survives and out.after < 0.1 < 0.9 < out.before
    assert "'hund'" in out.line() and "changed" in out.line()


def test_masking_the_attended_region_changes_the_bundled_image_models_object_words_more_than_a_random_one():
    model = pipeline.load_model(IMAGE, "caption-shapes", "cpu")
    scenes = held_out_scenes(model, 6, 12345)
    tally = deletion_test(IMAGE, model, scenes, seed=0, only=lambda w: w in COLOURS or w in SHAPES)
    row = tally.row()
    assert tally.words >= 15
    assert row["attended changed"] > row["random changed"] + 0.1
    assert row["attended prob drop"] > row["random prob drop"]


def test_eval_faithfulness_prints_a_row_per_model(capsys):
    assert main(["eval", "faithfulness", "--model", "translate-sov", "--n", "3", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "attended changed" in out and "random changed" in out
    row = next(line for line in out.splitlines() if line.startswith("translate-sov "))
    assert row.count("%") == 3


def test_a_fill_of_another_kind_is_one_line_before_any_model_loads(capsys):
    assert main(["eval", "faithfulness", "--model", "translate-sov", "--mask-fill", "blur", "--n", "3"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "attnviewer: error: --mask-fill blur: a sentence is masked with unk or drop"


def test_caption_mask_top_prints_what_replaces_the_word(capsys):
    from attnviewer.resources import sample_dir

    image = str(sample_dir() / "shapes-1.png")
    assert main(["caption", image, "--greedy", "--mask-top", "--word", "3", "--device", "cpu"]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith("  word 3 'star': masked its top region (") and "of the image) \N{RIGHTWARDS ARROW} '" in line
    assert "(was 'star' 1.00)" in line


def test_a_sentence_fill_for_a_video_is_one_line(capsys):
    from attnviewer.resources import sample_dir

    clip = str(sample_dir() / "clip-1.mp4")
    assert main(["video", clip, "--greedy", "--mask-top", "--mask-fill", "unk", "--device", "cpu"]) == 2
    assert capsys.readouterr().err.strip() == "attnviewer: error: --mask-fill unk: a video is masked with mean or blur"


def test_an_image_fill_for_an_image_says_an_image(capsys):
    from attnviewer.resources import sample_dir

    image = str(sample_dir() / "shapes-1.png")
    assert main(["caption", image, "--greedy", "--mask-top", "--mask-fill", "unk", "--device", "cpu"]) == 2
    assert capsys.readouterr().err.strip().endswith("--mask-fill unk: an image is masked with mean or blur")
