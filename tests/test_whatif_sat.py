"""The what-if tools on an imported Show-Attend-Tell tutorial checkpoint (issue 22): the same
implementation as for the bundled models, with the tutorial's own search (shrinking beam, summed
scores): forced words, the beam tree and attention intervention."""
import pytest

from attnviewer import pipeline
from attnviewer.cli import main
from attnviewer.kinds import IMAGE
from attnviewer.models import registry
from attnviewer.settings import DecodeSettings
from attnviewer.whatif.forcing import force
from attnviewer.whatif.intervention import intervene
from attnviewer.whatif.tree import BeamTree

from .sat_reference import make_decoder, make_encoder, save_tutorial_checkpoint, word_map, write_word_map

WORDS = word_map(20)
SETTINGS = [DecodeSettings("greedy", max_len=12),
            DecodeSettings("beam", beam=3, length_penalty=0.0, shrink_beam=True, max_len=12)]


@pytest.fixture(scope="module")
def sat(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sat_whatif")
    ckpt, wordmap, out = folder / "BEST_checkpoint.pth.tar", folder / "WORDMAP.json", folder / "sat.safetensors"
    save_tutorial_checkpoint(ckpt, make_encoder(0), make_decoder(len(WORDS), 1, WORDS["<end>"]), zip_format=True)
    write_word_map(wordmap, WORDS)
    assert main(["import", "sat-tutorial", str(ckpt), str(wordmap), "--out", str(out)]) == 0
    model = registry.load(str(out), device="cpu")
    return model, IMAGE.fit(pipeline.read(IMAGE, "resources/samples/shapes-2.png", str(out)), model)


@pytest.mark.parametrize("settings", SETTINGS, ids=["greedy", "tutorial-beam"])
def test_forcing_and_own_attention_give_back_the_caption(sat, settings):
    model, image = sat
    best = pipeline.run_all(IMAGE, model, [image], settings)[0].best
    assert len(best.tokens) >= 3
    for t in (0, 1, len(best.tokens) - 1):
        assert force(IMAGE, model, image, settings, {t: best.token_ids[t]}, prefix=best.token_ids).best.tokens == best.tokens
        again = intervene(IMAGE, model, image, settings, t, best.attention[t], prefix=best.token_ids).best
        assert again.tokens == best.tokens


def test_tree_of_the_tutorials_search(sat):
    model, image = sat
    tree = BeamTree(model.vocab, 0.0)
    result = pipeline.run_all(IMAGE, model, [image], SETTINGS[1], tree=tree)[0]
    done = tree.finished(0)
    assert [tree.words(n) for n in done[:len(result.hypotheses)]] == [h.tokens for h in result.hypotheses]
    assert [n.final for n in done[:len(result.hypotheses)]] == pytest.approx([h.score for h in result.hypotheses],
                                                                             abs=1e-4)
