"""Scoring an image captioner on generated scenes (`attnviewer eval caption`): BLEU-4 and CIDEr of
its captions (metrics.py) and the pointing game of its attention (image.py), against the uniform
and centre baselines. caption_report is the eval command's entry: it loads and scores the models,
the command prints. A transformer gets a row per lens of its cross-attention (transformer.py).
"""
from __future__ import annotations

import numpy as np
import torch

from ..data.synthetic import Scene


def scene_pixels(scenes: list[Scene]) -> torch.Tensor:
    """(B, 3, S, S) float 0..255, as the captioners read images."""
    return torch.from_numpy(np.stack([s.image for s in scenes])).permute(0, 3, 1, 2).float()


def score_captioner(model, scenes: list[Scene], settings) -> tuple[dict, object]:
    """Caption metrics of its captions of the scenes against their one caption each, and the
    pointing tally of its attention."""
    from ..decoding.search import best_hypotheses
    from .image import pointing
    from .metrics import caption_scores

    hyps = best_hypotheses(model, scene_pixels(scenes), settings)
    return caption_scores([s.caption for s in scenes], [h.text for h in hyps]), pointing(scenes, hyps)


def caption_report(names: list[str], n: int, seed: int, settings, device) -> dict:
    """Each named model's row on n generated held-out scenes of the seed (a row per lens for a
    transformer), then the uniform and centre baselines' pointing on the first model's words."""
    from ..data.synthetic import generate_scenes
    from ..models import registry
    from .transformer import caption_lenses, is_transformer

    report, tallies = {}, {}
    for name in names:
        model = registry.load(name, device)
        scenes = generate_scenes(n, seed, model.config.image_size)
        if is_transformer(model):  # one decoding, a row for each lens (layer, mean of layers, rollout)
            scored = caption_lenses(model, scenes, settings)
            for label, tally in scored["lenses"].items():
                tallies[f"{name} [{label}]"] = tally
                report[f"{name} [{label}]"] = dict(scored["captions"], **pointing_row(tally), lens=label)
            continue
        scores, tally = score_captioner(model, scenes, settings)
        tallies[name] = tally
        report[name] = dict(scores, **pointing_row(tally), **{
            "lambda": model.config.ds_lambda, "score": model.config.score,
        })
    first = next(iter(tallies.values()))
    for base in ("uniform", "centre"):
        report[f"{base} baseline"] = {"pointing cell": first.rate(f"{base} cell"),
                                      "pointing pixel": first.rate(f"{base} pixel")}
    return report


def pointing_row(tally) -> dict:
    return {"pointing cell": tally.rate("cell"), "pointing pixel": tally.rate("pixel"),
            "colour cell": tally.kind_rate("colour", 0), "colour pixel": tally.kind_rate("colour", 1),
            "shape cell": tally.kind_rate("shape", 0), "shape pixel": tally.kind_rate("shape", 1),
            "words": tally.words, "words naming no object": tally.no_object,
            # the baselines on this model's own words and grid (a transformer's patch grid is not the LSTM's)
            "uniform cell": tally.rate("uniform cell"), "uniform pixel": tally.rate("uniform pixel")}
