"""Step scores (issue 22): each word's probability, the entropy of the model's output distribution
and of its attention, computed while decoding, printed by --scores and kept in saved results."""
import json
import math

import numpy as np
import pytest
import torch

from attnviewer import pipeline
from attnviewer.cli import main
from attnviewer.export.data import load_result
from attnviewer.kinds import IMAGE
from attnviewer.settings import DecodeSettings
from attnviewer.whatif.scores import map_entropy

from .helpers import drained


@pytest.fixture(scope="module")
def shapes(samples):
    model = pipeline.load_model(IMAGE, "caption-shapes", "cpu")
    return model, pipeline.read(IMAGE, str(samples[0]), "caption-shapes")


def first_step_entropy(model, media) -> float:
    """The first word's output entropy straight from the model's own step."""
    with torch.inference_mode():
        state = model.init_state(IMAGE.inputs(model, [IMAGE.fit(media, model)], "cpu"))
        prev = torch.full((1,), model.start_id)
        log_probs = model.step(state, prev)[0][0].double()
    p = log_probs.exp()
    return float(-(p[p > 0] * log_probs[p > 0]).sum())


@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_each_word_has_its_output_entropy_from_the_model(shapes, method):
    model, image = shapes
    result = pipeline.run_all(IMAGE, model, [image], DecodeSettings(method, beam=3))[0]
    best = result.best
    assert len(best.entropies) == len(best.tokens) > 3
    assert best.entropies[0] == pytest.approx(first_step_entropy(model, image), abs=1e-4)
    assert all(0 <= h <= math.log(len(model.vocab)) for h in best.entropies)
    assert [s.entropy for s in best.steps()] == best.entropies


def test_streamed_steps_carry_the_same_entropies(shapes):
    model, image = shapes
    streamed, result = drained(pipeline.run(IMAGE, model, image, DecodeSettings("beam", beam=3)))
    assert streamed[0].entropy == pytest.approx(result.best.entropies[0], abs=1e-6)
    assert all(s.entropy is not None for s in streamed)


def test_attention_entropy_reads_the_map():
    n = 49
    assert map_entropy(np.full((7, 7), 1 / n)) == pytest.approx(math.log(n))
    one = np.zeros((7, 7))
    one[3, 4] = 1
    assert map_entropy(one) == 0.0
    assert map_entropy(np.zeros(5)) == 0.0


def test_cli_prints_a_score_line_per_word(capsys, samples):
    assert main(["caption", str(samples[0]), "--greedy", "--scores"]) == 0
    out = capsys.readouterr().out.splitlines()
    caption = out[0].split(": ", 1)[1].split()
    head = next(i for i, line in enumerate(out) if "H(words)" in line and "H(attention)" in line)
    rows = [line.split() for line in out[head + 1:head + 1 + len(caption)]]
    assert [r[1] for r in rows] == caption
    assert all(0 < float(r[2]) <= 1 and float(r[3]) >= 0 and float(r[4]) >= 0 for r in rows)


def test_saved_results_keep_scores_and_older_files_open(tmp_path, capsys, samples):
    out = tmp_path / "r.json"
    assert main(["caption", str(samples[0]), "--json", str(out)]) == 0
    capsys.readouterr()
    data = json.loads(out.read_text())
    word = data["hypotheses"][0]["words"][0]
    assert word["entropy"] >= 0 and word["attention_entropy"] > 0
    again = load_result(out)
    assert again.best.entropies == pytest.approx([w["entropy"] for w in data["hypotheses"][0]["words"]])
    for h in data["hypotheses"]:  # as written before step scores existed
        for w in h["words"]:
            del w["entropy"], w["attention_entropy"]
    data.pop("arrays", None)
    older = tmp_path / "older.json"
    older.write_text(json.dumps(data))
    assert load_result(older).best.entropies is None
