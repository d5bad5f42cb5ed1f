"""The bundled models on freshly generated held-out scenes (a seed used neither for training nor
for `attnviewer eval`): captions are right and each colour/shape word's attention points into
the object it names, far above what a uniform or centre-biased map would score.

The issue's bar is cell >= 95% and pixel >= 90% on 500 scenes (`attnviewer eval caption`). The
bundled model measures cell 96.3%, pixel 96.5% there (95.6% / 95.6% on this set's 480 words).
The thresholds below sit a few words under what the model does, so a regression fails. A
uniform map scores ~9% (cell) and ~4% (pixel): 94.5% cannot happen by chance.
"""
import pytest

from attnviewer.data.synthetic import generate_scenes
from attnviewer.decoding.search import DecodeSettings, best_hypotheses
from attnviewer.evaluation.image import pointing
from attnviewer.evaluation.metrics import caption_scores
from attnviewer.models import registry
from attnviewer.evaluation.captioner import scene_pixels

SCENES, SEED = 120, 4242


def evaluate(name):
    model = registry.load(name, "cpu")
    scenes = generate_scenes(SCENES, SEED, model.config.image_size)
    hyps = best_hypotheses(model, scene_pixels(scenes), DecodeSettings("greedy"), batch=SCENES)
    return caption_scores([s.caption for s in scenes], [h.text for h in hyps]), pointing(scenes, hyps)


@pytest.fixture(scope="module")
def main_model(bundled_model_path):
    return evaluate("caption-shapes")


def test_bundled_model_captions_held_out_scenes(main_model):
    scores, _ = main_model
    assert scores["exact match"] >= 0.9
    assert scores["BLEU-4"] >= 0.9


def test_bundled_model_points_at_the_objects_it_names(main_model):
    _, tally = main_model
    assert tally.words >= 300
    assert tally.rate("cell") >= 0.945
    assert tally.rate("pixel") >= 0.945
    assert tally.rate("cell") - max(tally.rate("uniform cell"), tally.rate("centre cell")) >= 0.6
    assert tally.rate("pixel") - max(tally.rate("uniform pixel"), tally.rate("centre pixel")) >= 0.6
    assert tally.kind_rate("shape", 1) >= 0.92  # shape words too, not only colours


def test_doubly_stochastic_penalty_spreads_the_attention(main_model):
    """Show-Attend-Tell's default lambda = 1 blurs the maps onto the background: users can see it."""
    _, tally = main_model
    _, tally_l1 = evaluate("caption-shapes-lambda1")
    assert tally.rate("cell") - tally_l1.rate("cell") >= 0.1
