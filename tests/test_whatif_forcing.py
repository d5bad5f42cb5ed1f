"""Forced words and scoring a given sentence (issue 22), on the bundled models of every family
and kind: forcing the word the model chose gives back its caption exactly; a forced word changes
that step and the model goes on from there; --target gives each given word's probability and
attention (as teacher forcing does); alignments in Pharaoh format and their AER."""
import numpy as np
import pytest
import torch

from attnviewer import pipeline
from attnviewer.cli import main
from attnviewer.data.pairs import generate_pairs
from attnviewer.errors import SettingsError
from attnviewer.evaluation.text import alignment_error
from attnviewer.kinds import IMAGE, TEXT, VIDEO
from attnviewer.models.forcing import forced
from attnviewer.settings import DecodeSettings
from attnviewer.whatif.forcing import force, score_target, text_ids

SAMPLES = "resources/samples/"
FAMILIES = {  # the bundled model of each family and kind, and an input of it
    "lstm-image": (IMAGE, "caption-shapes", SAMPLES + "shapes-1.png"),
    "transformer-image": (IMAGE, "caption-shapes-vit", SAMPLES + "shapes-2.png"),
    "lstm-video": (VIDEO, "video-shapes", SAMPLES + "clip-1.mp4"),
    "lstm-sentence": (TEXT, "translate-sov", "the red cat sees a dog"),
    "transformer-sentence": (TEXT, "translate-sov-marian", "the big dog sees the small cat"),
}
_loaded = {}


def loaded(family):
    if family not in _loaded:
        kind, name, source = FAMILIES[family]
        if "transformer" in family:
            pytest.importorskip("transformers")
        model = pipeline.load_model(kind, name, "cpu")
        _loaded[family] = kind, model, kind.fit(pipeline.read(kind, source, name), model)
    return _loaded[family]


@pytest.mark.parametrize("method", ["greedy", "beam"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_forcing_the_chosen_word_gives_back_the_caption(family, method):
    kind, model, media = loaded(family)
    settings = DecodeSettings(method, beam=3)
    original = pipeline.run_all(kind, model, [media], settings)[0]
    ids = original.best.token_ids
    assert len(ids) >= 4
    for t in sorted({0, 1, len(ids) // 2, len(ids) - 1, len(ids)}):  # words early, midway, last, and the end
        own = ids[t] if t < len(ids) else model.end_id
        again = force(kind, model, media, settings, {t: own}, prefix=ids)
        assert again.best.token_ids == ids, (t, again.best.tokens, original.best.tokens)
        assert again.best.probs == pytest.approx(original.best.probs, abs=1e-5)


@pytest.mark.parametrize("family", ["lstm-image", "transformer-image"])
def test_a_forced_word_changes_its_step_and_the_model_goes_on(family):
    kind, model, media = loaded(family)
    settings = DecodeSettings("beam", beam=3)
    original = pipeline.run_all(kind, model, [media], settings)[0].best
    other = original.alternatives[1][1][0]  # the second choice at step 2
    got = force(kind, model, media, settings, {1: model.vocab.index(other)}).best
    assert got.tokens[:2] == [original.tokens[0], other]
    assert got.probs[1] == pytest.approx(original.alternatives[1][1][1], abs=1e-5)  # the model's own probability
    assert got.tokens != original.tokens and got.ended


@pytest.mark.parametrize("family", list(FAMILIES))
def test_scoring_the_models_own_output_gives_its_probabilities(family):
    kind, model, media = loaded(family)
    original = pipeline.run_all(kind, model, [media], DecodeSettings("greedy"))[0].best
    text = original.text if hasattr(model, "index") else " ".join(original.tokens)
    scored = score_target(kind, model, media, text).best
    assert scored.token_ids == original.token_ids
    assert scored.log_prob == pytest.approx(original.log_prob, abs=1e-4)
    assert np.allclose(scored.attention, original.attention, atol=1e-5)


def test_a_target_scores_as_teacher_forcing_does():
    """A reference the model would not write: each word's probability and attention are those of
    training's teacher forcing (models/forcing.py) along the same words."""
    kind, model, media = loaded("lstm-image")
    target = "a blue circle , a red star and a purple triangle"
    scored = score_target(kind, model, media, target).best
    ids = [model.start_id] + text_ids(model, target) + [model.end_id]
    with torch.inference_mode():
        state = model.init_state(kind.inputs(model, [media], "cpu"))
        logits, att = forced(model, state, torch.tensor([ids]))
    log_probs = torch.log_softmax(logits[0].index_fill(1, model.never, float("-inf")), -1)
    words = torch.tensor(ids[1:])
    expected = log_probs.gather(1, words[:, None]).squeeze(1)
    assert scored.tokens == target.split()
    assert scored.probs == pytest.approx(expected[:-1].exp().tolist(), abs=1e-5)
    assert scored.log_prob == pytest.approx(float(expected.sum()), abs=1e-4)  # with the end
    assert np.allclose(scored.attention.reshape(len(scored.tokens), -1), att[0, :-1].numpy(), atol=1e-5)


def test_unknown_target_words_are_named_in_one_line(capsys):
    code = main(["caption", SAMPLES + "shapes-1.png", "--target", "a red zebra , a moon"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "zebra, moon" in err and "Traceback" not in err


@pytest.mark.parametrize("spec,message", [("2:red", "STEP=WORD"), ("0=red", "from 1"), ("2=zebra", "zebra"),
                                          ("40=red", "only")])
def test_bad_forces_say_what_is_wrong(capsys, spec, message):
    code = main(["caption", SAMPLES + "shapes-1.png", "--greedy", "--force", spec])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_cli_force_prints_the_new_caption(capsys):
    assert main(["caption", SAMPLES + "shapes-1.png", "--force", "2=green", "--greedy"]) == 0
    out = capsys.readouterr().out.splitlines()
    words = out[0].split(": ", 1)[1].split()
    assert words[1] == "green" and "forced: 2=green" in out[2]


def test_pharaoh_alignments_and_aer_against_gold(tmp_path, capsys):
    """A generated pair with its gold links: the CLI's AER of the target's attention is what the
    evaluation code finds for the same attention."""
    pair = next(p for p in generate_pairs(20, seed=7) if len(p.target) >= 5)
    gold = tmp_path / "gold.txt"
    gold.write_text(" ".join([f"{s}-{t}" for t, links in enumerate(pair.sure) for s in links]
                             + [f"{s}?{t}" for t, links in enumerate(pair.possible) for s in links]) + "\n")
    out = tmp_path / "found.txt"
    assert main(["translate", pair.source_text, "--target", pair.target_text, "--pharaoh", str(out),
                 "--gold-align", str(gold)]) == 0
    printed = capsys.readouterr().out
    kind, model, media = TEXT, *loaded("lstm-sentence")[1:2], None
    media = TEXT.fit(pipeline.read(TEXT, pair.source_text, "translate-sov"), model)
    att = score_target(TEXT, model, media, pair.target_text).best.attention
    aer, _ = alignment_error([pair], [att])
    assert f"(AER) against {gold}: {aer:.3f}" in printed
    links = [tuple(map(int, x.split("-"))) for x in out.read_text().split()]
    assert len(links) == len(pair.target) and sorted(t for _, t in links) == list(range(len(pair.target)))
    assert all(s == int(att[t].argmax()) for s, t in links)


def test_gold_file_of_other_sentences_is_refused(tmp_path, capsys):
    gold = tmp_path / "gold.txt"
    gold.write_text("0-0\n1-1\n")
    assert main(["translate", "the cat sees a dog", "--gold-align", str(gold)]) == 2
    assert "2 lines for 1 sentence (" in capsys.readouterr().err
    gold.write_text("0-0 9-1\n")
    assert main(["translate", "the cat sees a dog", "--gold-align", str(gold)]) == 2
    assert "link 9-1 is past the sentence" in capsys.readouterr().err
    gold.write_text("0-0 x\n")
    assert main(["translate", "the cat sees a dog", "--gold-align", str(gold)]) == 2
    assert "'x' is no alignment pair" in capsys.readouterr().err


def test_target_words_are_the_models_vocabulary():
    _, model, _ = loaded("lstm-image")
    with pytest.raises(SettingsError, match="<end>"):
        text_ids(model, "a <end> circle")


@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_target_is_refused_not_ignored(capsys, empty):
    code = main(["caption", SAMPLES + "shapes-1.png", "--target", empty])
    captured = capsys.readouterr()
    assert code == 2 and captured.err.strip().endswith("--target: no words given"), captured.err
    assert captured.out == ""


def test_alignment_lines_read_as_english_and_align_with_the_other_outputs(tmp_path, capsys):
    """One sentence: 'over 1 sentence'; the Pharaoh file's line is indented as every '  wrote' line."""
    gold = tmp_path / "gold.txt"
    gold.write_text("0-0 1-1 2-2\n")
    out = tmp_path / "ph.txt"
    assert main(["translate", "the cat sees a dog", "--greedy", "--pharaoh", str(out), "--gold-align", str(gold)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.endswith(" over 1 sentence") for line in lines), lines
    assert f"  wrote {out}" in lines and f"wrote {out}" not in [line.strip() for line in lines if line[:1] != " "]
