"""Is the attended region what the word depends on? A deletion test on freshly generated held-out
inputs: for every word of each greedy caption (translation), mask the word's top-attended places
(masking.py) and, apart, as many places drawn at random; with the words before it forced, does
the model still write the word? If attention shows what a word depends on, masking it changes the
word clearly more often than masking a random region of the same size.

The held-out inputs come from the generators the bundled models were trained with, with the
eval command's seed: scenes (data/synthetic.py), clips (data/clip_events.py), sentence pairs
(data/pairs.py), each read as the kind reads a file.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .edits import check_fill, edits
from .masking import masked_rows, random_places, top_places


def held_out_scenes(model, n: int, seed: int) -> list:
    from ..data.synthetic import generate_scenes
    from ..media.images import LoadedImage

    return [LoadedImage(f"generated scene {i}", s.image, (s.image.shape[1], s.image.shape[0]))
            for i, s in enumerate(generate_scenes(n, seed, model.config.image_size))]


def held_out_clips(model, n: int, seed: int) -> list:
    from ..data.clip_events import generate_clips
    from ..media.frames import LoadedClip

    out = []
    for i, clip in enumerate(generate_clips(n, seed)):
        frames = clip.steps()
        out.append(LoadedClip(f"generated clip {i}", frames, [0.25 * t for t in range(len(frames))], len(frames),
                              4.0, tuple(frames.shape[1:3])))
    return out


def held_out_sentences(model, n: int, seed: int) -> list:
    from ..kinds import Sentence
    from ..training.text import held_out_pairs

    return [Sentence(p.source_text, list(p.source)) for p in held_out_pairs(n, seed)]


HELD_OUT = {"image": held_out_scenes, "video": held_out_clips, "text": held_out_sentences}


@dataclass
class Deletion:
    """The deletion test's counts over every word scored."""

    words: int = 0
    attended_changed: int = 0  # the masked model's top word is another word
    random_changed: int = 0
    attended_drop: float = 0.0  # summed drop of the word's probability
    random_drop: float = 0.0
    share: float = 0.0  # summed share of the places masked

    def row(self) -> dict:
        n = max(self.words, 1)
        return {"words": self.words, "attended changed": self.attended_changed / n,
                "random changed": self.random_changed / n, "attended prob drop": self.attended_drop / n,
                "random prob drop": self.random_drop / n, "share masked": self.share / n}


def deletion_test(kind, model, medias: list, seed: int = 0, fill: str | None = None, mass: float | None = None,
                  progress=None, only=None) -> Deletion:
    """The deletion test of `model` on these inputs (greedy decoding; random places from `seed`);
    `only(word)`: score only the words it says yes to (default: every word)."""
    from .. import pipeline
    from ..settings import DecodeSettings

    fill = check_fill(kind, fill)
    mass = edits(kind).mass if mass is None else mass
    rng = np.random.default_rng(seed)
    tally = Deletion()
    medias = [kind.fit(m, model) for m in medias]
    results = pipeline.run_all(kind, model, medias, DecodeSettings("greedy"))
    for i, (media, result) in enumerate(zip(medias, results)):
        hyp = result.best
        rows = []
        for t in range(len(hyp.tokens)):
            if only is not None and not only(hyp.tokens[t]):
                continue
            att = np.asarray(hyp.attention[t])
            where = top_places(att, mass)
            rows += [(t, where), (t, random_places(att.shape, int(where.sum()), rng))]
            tally.share += float(where.mean())
        if not rows:
            continue
        p = masked_rows(kind, model, media, hyp, rows, fill).float().exp().cpu().numpy()
        for r in range(0, len(rows), 2):
            t = rows[r][0]
            word, before = hyp.token_ids[t], hyp.probs[t]
            tally.words += 1
            tally.attended_changed += int(p[r].argmax() != word)
            tally.random_changed += int(p[r + 1].argmax() != word)
            tally.attended_drop += before - float(p[r, word])
            tally.random_drop += before - float(p[r + 1, word])
        if progress is not None:
            progress(i + 1, len(medias))
    return tally


def faithfulness(kind, model, n: int, seed: int, fill: str | None = None, progress=None) -> dict:
    """The deletion test on n held-out inputs generated with `seed` (a table row)."""
    medias = HELD_OUT[kind.medium](model, n, seed)
    return deletion_test(kind, model, medias, seed, fill, progress=progress).row()


def attribution_pointing(kind, model, n: int, seed: int, method: str = "saliency") -> dict:
    """Image models: does the attention, and does the gradient attribution, point into the object
    a colour or shape word names? The pointing game of evaluation/image.py (cell and pixel hits,
    the uniform baseline) on n generated scenes, with each word's Spearman correlation of the two."""
    from .. import pipeline
    from ..data.synthetic import generate_scenes
    from ..evaluation.image import PointingTally, point_word
    from ..settings import DecodeSettings
    from .attribution import attribute

    scenes = generate_scenes(n, seed, model.config.image_size)
    medias = held_out_scenes(model, n, seed)
    results = pipeline.run_all(kind, model, medias, DecodeSettings("greedy"))
    tallies, rho = {"attention": PointingTally(), method: PointingTally()}, []
    for scene, media, result in zip(scenes, medias, results):
        hyp = result.best
        for t, target in enumerate(scene.targets(hyp.tokens)):
            if target is None:
                continue
            found = attribute(kind, model, media, result, t, method)
            for tally, weights in zip(tallies.values(), (found.attention, found.map)):
                tally.words += 1
                point_word(weights, scene.objects[target].mask, tally)
            rho.append(found.spearman)
    att = tallies["attention"]
    row = {"words": att.words, "uniform cell": att.rate("uniform cell"), "uniform pixel": att.rate("uniform pixel"),
           "spearman": float(np.nanmean(rho)) if rho else float("nan")}
    for name, tally in tallies.items():
        row[f"{name} cell"], row[f"{name} pixel"] = tally.rate("cell"), tally.rate("pixel")
    return row
