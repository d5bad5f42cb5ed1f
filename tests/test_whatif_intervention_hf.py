"""Attention intervention for transformers (issue 22): at the step told, every cross-attention
layer and head attends where the user put the weight (the places' map spread over the encoder's
tokens), the words before it are the model's own, and what comes after may change; a family whose
attention cannot be swapped says so in one line."""
import numpy as np
import pytest

pytest.importorskip("transformers")

from attnviewer import pipeline  # noqa: E402
from attnviewer.errors import SettingsError  # noqa: E402
from attnviewer.kinds import IMAGE, TEXT  # noqa: E402
from attnviewer.settings import DecodeSettings  # noqa: E402
from attnviewer.whatif.intervention import intervene, one_place  # noqa: E402

SENTENCE = "the old teacher will paint some small red boats near the river"


@pytest.mark.parametrize("kind,name,source", [(IMAGE, "caption-shapes-vit", "resources/samples/shapes-1.png"),
                                               (TEXT, "translate-sov-marian", SENTENCE)])
def test_every_layer_and_head_attends_where_told_at_that_step_only(kind, name, source):
    model = pipeline.load_model(kind, name, "cpu")
    media = kind.fit(pipeline.read(kind, source, name), model)
    settings = DecodeSettings("greedy")
    best = pipeline.run_all(kind, model, [media], settings)[0].best
    place = int(np.argmin(best.attention[2]))  # where the model looked least
    got = intervene(kind, model, media, settings, 2, one_place(model, place), prefix=best.token_ids).best
    assert got.token_ids[:2] == best.token_ids[:2]  # the words before it are the model's own
    assert got.attention[2].reshape(-1)[place] == pytest.approx(1.0, abs=1e-5)
    token_place = np.asarray(model.input_places[0].token_place)
    heads = got.heads[2]  # (layers, heads, tokens): each one attends as told
    assert np.allclose(heads[..., token_place == place].sum(-1), 1.0, atol=1e-5)
    assert np.allclose(got.heads[1], best.heads[1], atol=1e-5)  # the step before: as it was


def test_a_family_without_a_swappable_attention_says_so_in_one_line(tmp_path):
    from .hf_models import blip

    folder = blip(tmp_path / "blip")
    model = pipeline.load_model(IMAGE, str(folder), "cpu")
    media = IMAGE.fit(pipeline.read(IMAGE, "resources/samples/shapes-1.png", str(folder)), model)
    settings = DecodeSettings("greedy", max_len=4)
    best = pipeline.run_all(IMAGE, model, [media], settings)[0].best
    with pytest.raises(SettingsError, match="eager attention function") as e:
        intervene(IMAGE, model, media, settings, 1, one_place(model, 0), prefix=best.token_ids)
    assert "\n" not in str(e.value)
