"""A what-if question re-decodes from the input's kept encoding (the encoder is not run again),
for the transformers too: their key/value cache is made by the first step, so a state that has
not started yet can be decoded from any number of times and gives the words of a fresh decoding."""
import numpy as np
import pytest

pytest.importorskip("transformers")

from attnviewer import pipeline  # noqa: E402
from attnviewer.kinds import IMAGE, TEXT  # noqa: E402
from attnviewer.resources import sample_dir  # noqa: E402
from attnviewer.settings import DecodeSettings  # noqa: E402

from .helpers import drained  # noqa: E402

SENTENCES = ["the old teacher will paint some small red boats near the river", "a tall boy reads the book"]
BEAM = DecodeSettings("beam", beam=3, max_len=12)


def decoded(kind, model, media, encoded=None):
    return drained(pipeline.run(kind, model, media, BEAM, encoded=encoded))[1]


def same(a, b) -> None:
    assert [h.token_ids for h in a.hypotheses] == [h.token_ids for h in b.hypotheses]
    assert np.allclose([h.score for h in a.hypotheses], [h.score for h in b.hypotheses], atol=1e-5)
    assert np.allclose(a.best.attention, b.best.attention, atol=1e-5)


@pytest.mark.parametrize("kind,name,sources", [
    (IMAGE, "caption-shapes-vit", [sample_dir() / "shapes-1.png", sample_dir() / "shapes-2.png"]),
    (TEXT, "translate-sov-marian", SENTENCES),
    (TEXT, "translate-sov", SENTENCES),  # the LSTM's attention is as long as the source last encoded
])
def test_an_encoding_is_kept_and_decodes_again_as_a_fresh_decoding_after_another_input(kind, name, sources):
    model = pipeline.load_model(kind, name, "cpu")
    first, second = (kind.fit(pipeline.read(kind, str(s), name), model) for s in sources)
    kept = pipeline.encode(kind, model, first)
    assert kept.reusable  # the engine keeps it for the what-if questions about this input
    fresh = decoded(kind, model, first)
    same(decoded(kind, model, first, kept), fresh)
    other = decoded(kind, model, second)  # another input encoded meanwhile (a masked copy, say)
    assert other.best.token_ids != fresh.best.token_ids or not np.allclose(other.best.attention, fresh.best.attention)
    again = decoded(kind, model, first, kept)  # the kept encoding, twice: nothing grew in place
    same(again, fresh)
    if kept.places:  # a transformer's places are this input's again
        assert model.input_places[0] is kept.places[0]
