"""Attention intervention (issue 22) on the bundled LSTM models: giving a step the model's own
attention gives back its output exactly; putting all the weight on one place changes what it
attends at that step (and may change the words), with the words before it kept."""
import numpy as np
import pytest

from attnviewer import pipeline
from attnviewer.cli import main
from attnviewer.settings import DecodeSettings
from attnviewer.whatif.intervention import intervene, one_place

from .test_whatif_forcing import loaded  # (the bundled models, loaded once for both files)

MODELS = ["lstm-image", "lstm-video", "lstm-sentence"]  # (intervention is for our LSTM models)


@pytest.mark.parametrize("method", ["greedy", "beam"])
@pytest.mark.parametrize("which", MODELS)
def test_the_models_own_attention_gives_back_its_output(which, method):
    kind, model, media = loaded(which)
    settings = DecodeSettings(method, beam=3)
    best = pipeline.run_all(kind, model, [media], settings)[0].best
    for t in sorted({0, 1, len(best.tokens) // 2, len(best.tokens) - 1}):
        again = intervene(kind, model, media, settings, t, best.attention[t], prefix=best.token_ids).best
        assert again.token_ids == best.token_ids, (t, again.tokens, best.tokens)
        assert np.allclose(again.attention, best.attention, atol=1e-6)


@pytest.mark.parametrize("which", MODELS)
def test_all_weight_on_one_place_is_what_the_step_attends(which):
    kind, model, media = loaded(which)
    settings = DecodeSettings("greedy")
    best = pipeline.run_all(kind, model, [media], settings)[0].best
    changed = 0
    for t in range(1, min(len(best.tokens), 7)):
        place = int(np.argmin(best.attention[t].reshape(-1)))  # where the model looked least
        got = intervene(kind, model, media, settings, t, one_place(model, place), prefix=best.token_ids).best
        assert got.tokens[:t] == best.tokens[:t]
        if len(got.tokens) > t:  # (else it ended there: its end step's attention is not kept)
            assert got.attention[t].reshape(-1)[place] == pytest.approx(1.0)
        changed += got.tokens != best.tokens
    assert changed >= 1  # somewhere the word depends on where the model looks


def test_cli_attend_and_its_errors(capsys):
    assert main(["caption", "resources/samples/shapes-1.png", "--greedy", "--attend", "2=1,1"]) == 0
    out = capsys.readouterr().out
    assert "attention replaced at step 2" in out
    for spec, message in [("2=1", "ROW,COL"), ("0=1,1", "STEP from 1"), ("2=99,1", "ROW,COL")]:
        assert main(["caption", "resources/samples/shapes-1.png", "--attend", spec]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


def test_transformer_folders_attend_where_told_on_the_cli(capsys):
    pytest.importorskip("transformers")
    assert main(["caption", "resources/samples/shapes-1.png", "--model", "caption-shapes-vit", "--greedy",
                 "--attend", "2=1,1"]) == 0
    assert "attention replaced at step 2" in capsys.readouterr().out


def test_an_attended_step_where_the_caption_ended_says_so(capsys):
    """The model wrote the end at the changed step: no word shows the edited map, and the line says why."""
    pytest.importorskip("transformers")
    assert main(["caption", "resources/samples/shapes-1.png", "--model", "caption-shapes-vit", "--greedy",
                 "--attend", "3=2,2"]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()[0].split(": ", 1)[1].split()) == 2  # "a purple": ended at step 3
    assert "attention replaced at step 3, where the model then wrote the end: --attend 3=2,2" in out
    assert main(["caption", "resources/samples/shapes-1.png", "--greedy", "--attend", "2=1,1"]) == 0
    assert "wrote the end" not in capsys.readouterr().out


def test_attend_help_names_the_transformers_too(capsys):
    with pytest.raises(SystemExit):
        main(["caption", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(LSTM models)" not in text and "The LSTM models and transformers" in text
