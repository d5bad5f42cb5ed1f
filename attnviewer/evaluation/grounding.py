"""Grounding on real data: the pointing game of evaluation/image.py where annotations give boxes or
masks for words, against the same uniform and centre baselines.

Two sources (`read_grounds` tells them apart):

* COCO instance annotations (`instances_val2014.json`): "images" (id, file_name, width, height),
  "annotations" (image_id, category_id, bbox [x, y, w, h], segmentation: polygons, or run-length
  counts for crowds) and "categories" (id, name). A caption word names a category when, lower-cased
  and made singular (a trailing "s" or "es" dropped, or an irregular plural: men, women, people,
  children, ...), it is the category's name, the last word of a two-word name that is no category
  of its own ("table" -> dining table, "phone" -> cell phone; "dog" stays dog, not hot dog), or one
  of SYNONYMS ("man", "woman", "boy", "girl", "people" -> person; "bike" -> bicycle; ...). The
  word's region is the union of the masks of every instance of its category in the image.
* Word boxes, a plain JSON anyone can write (Flickr30k Entities users can convert their phrase
  boxes to it): `{"IMAGE_FILE": [{"word": "dog", "box": [x, y, w, h]}, ...], ...}` in the image's
  pixels (x, y the top-left corner). A caption word names a box when both, lower-cased and made
  singular, are the same word; the region is the union of that word's boxes.

Images are matched by file name (without folders). Only words whose object the image's
annotations have are scored: a word naming a category the image has no annotation of is counted
apart (a word box file lists only some words, so its absence says nothing); on generated scenes,
where the truth is complete, such words count as misses instead.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import DataError
from ..types import Hypothesis
from .image import PointingTally, point_word

SYNONYMS = {  # caption word (singular) -> COCO category name
    "man": "person", "woman": "person", "boy": "person", "girl": "person", "people": "person",
    "child": "person", "kid": "person", "guy": "person", "lady": "person", "player": "person",
    "bike": "bicycle", "motorbike": "motorcycle", "plane": "airplane", "jet": "airplane",
    "television": "tv", "sofa": "couch", "doughnut": "donut", "cellphone": "cell phone",
    "puppy": "dog", "kitten": "cat", "ship": "boat",
}
IRREGULAR = {"men": "man", "women": "woman", "people": "people", "children": "child", "mice": "mouse",
             "knives": "knife", "sheep": "sheep", "skis": "skis", "scissors": "scissors",
             "buses": "bus", "benches": "bench", "sandwiches": "sandwich", "boxes": "box", "ladies": "lady"}
MAX_BYTES = 2 << 30  # a grounding file larger than this is refused (COCO's val2014 instances: ~160 MB)


def singular(word: str) -> str:
    word = word.lower()
    if word in IRREGULAR:
        return IRREGULAR[word]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


@dataclass
class ImageGrounds:
    size: tuple[int, int] | None  # (height, width) the annotations' coordinates refer to; None: the image's
    # concept -> its instances: ("box", [x, y, w, h]), ("polygons", [(n, 2) arrays]) or ("rle", counts)
    regions: dict[str, list] = field(default_factory=dict)


@dataclass
class Grounds:
    source: str  # "COCO instances" or "word boxes"
    images: dict[str, ImageGrounds]  # by file name
    names: dict[str, str] = field(default_factory=dict)  # word (singular) -> concept (COCO: category name)

    def concept(self, word: str) -> str | None:
        """What a caption word names in these annotations, if anything."""
        return self.names.get(singular(word)) or self.names.get(word.lower())

    def regions(self, image: str) -> ImageGrounds | None:
        return self.images.get(Path(image).name)


def read_grounds(path: Path) -> Grounds:
    """COCO instances or a word-box file; DataError with one line for anything else."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise DataError(f"{path}: {path.stat().st_size / 2**30:.1f} GiB; grounding files up to "
                            f"{MAX_BYTES / 2**30:.0f} GiB are read")
        with open(path, "rb") as f:
            data = json.load(f)
    except OSError as e:
        raise DataError(f"{path}: cannot read the grounding file ({e.strerror or type(e).__name__})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a JSON file ({e})") from None
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply") from None
    if isinstance(data, dict) and {"images", "annotations", "categories"} <= set(data):
        return _coco(path, data)
    if isinstance(data, dict):
        return _word_boxes(path, data)
    raise DataError(f"{path}: neither COCO instance annotations (images, annotations, categories) nor "
                    f'word boxes ({{"image.jpg": [{{"word": "dog", "box": [x, y, w, h]}}]}})')


def _coco(path: Path, data: dict) -> Grounds:
    try:
        categories = {int(c["id"]): str(c["name"]).lower() for c in data["categories"]}
        images = {int(im["id"]): (Path(str(im["file_name"])).name, (int(im["height"]), int(im["width"])))
                  for im in data["images"]}
        out: dict[str, ImageGrounds] = {}
        for a in data["annotations"]:
            name, size = images[int(a["image_id"])]
            category = categories[int(a["category_id"])]
            seg = a.get("segmentation")
            if isinstance(seg, list) and seg:
                region = ("polygons", [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in seg if len(p) >= 6])
            elif isinstance(seg, dict) and isinstance(seg.get("counts"), list):
                region = ("rle", [int(n) for n in seg["counts"]])
            else:
                region = ("box", [float(v) for v in a["bbox"]][:4])
            out.setdefault(name, ImageGrounds(size)).regions.setdefault(category, []).append(region)
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{path}: COCO instance annotations with a bad entry ({type(e).__name__}: {e})") from None
    names = {}
    for category in categories.values():
        words = category.split()
        names.setdefault(category, category)
        if len(words) == 2 and words[-1] not in categories.values():
            names.setdefault(words[-1], category)
    for word, category in SYNONYMS.items():
        if category in names.values():
            names.setdefault(word, category)
    return Grounds("COCO instances", out, names)


def _word_boxes(path: Path, data: dict) -> Grounds:
    out: dict[str, ImageGrounds] = {}
    for image, entries in data.items():
        where = f"{path}: {str(image)[:60]!r}"
        if not isinstance(entries, list):
            raise DataError(f'{where}: expected a list of {{"word": ..., "box": [x, y, w, h]}}')
        grounds = out.setdefault(Path(str(image)).name, ImageGrounds(None))
        for e in entries:
            try:
                word, box = str(e["word"]), [float(v) for v in e["box"]]
            except (KeyError, TypeError, ValueError):
                raise DataError(f'{where}: an entry is not {{"word": ..., "box": [x, y, w, h]}}') from None
            if len(box) != 4 or not all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
                raise DataError(f"{where}: box {box} of {word!r} is not [x, y, width, height] with a positive size")
            grounds.regions.setdefault(singular(word), []).append(("box", box))
    return Grounds("word boxes", out, {w: w for g in out.values() for w in g.regions})


def region_mask(regions: list, size: tuple[int, int], annotated: tuple[int, int] | None) -> np.ndarray:
    """The union of regions as a bool mask of `size` (H, W); coordinates given for an image of
    `annotated` size are scaled to it (a resized copy of the image still matches)."""
    h, w = annotated or size
    mask = np.zeros((h, w), np.uint8)
    for kind, value in regions:
        if kind == "box":
            x, y, bw, bh = value
            top, left = max(0, int(np.floor(y))), max(0, int(np.floor(x)))
            mask[top:max(0, int(np.ceil(y + bh))), left:max(0, int(np.ceil(x + bw)))] = 1
        elif kind == "polygons":
            cv2.fillPoly(mask, [np.round(p).astype(np.int32) for p in value], 1)
        else:  # uncompressed run lengths, column by column, starting with a run of zeros
            flat = np.zeros(h * w, np.uint8)
            ends = np.cumsum(value)
            for start, stop in zip(ends[0::2], ends[1::2]):
                flat[start:stop] = 1
            mask |= flat.reshape(w, h).T
    if (h, w) != tuple(size):
        mask = cv2.resize(mask, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    return mask.astype(bool)


@dataclass
class GroundingTally:
    """The pointing tally of the words scored, and counts of the words and images that were not."""

    pointing: PointingTally = field(default_factory=PointingTally)
    images: int = 0  # images with annotations
    images_without: int = 0  # images the grounding file has nothing for
    not_annotated: int = 0  # words naming something the image's annotations do not have

    def add(self, grounds: Grounds, image: str, size: tuple[int, int], hyp: Hypothesis,
            smoothing: str = "gaussian") -> None:
        """Score the words of one caption of `image` (read at `size`, (H, W)) into the tally."""
        found = grounds.regions(image)
        if found is None:
            self.images_without += 1
            return
        self.images += 1
        masks: dict[str, np.ndarray] = {}
        for token, att in zip(hyp.tokens, hyp.attention):
            concept = grounds.concept(token)
            if concept is None:
                continue
            if concept not in found.regions:
                self.not_annotated += 1
                continue
            if concept not in masks:
                masks[concept] = region_mask(found.regions[concept], size, found.size)
            t = self.pointing
            t.words += 1
            counts = t.by_kind.setdefault(concept, [0, 0, 0])
            cell, pixel = point_word(np.asarray(att), masks[concept], t, smoothing)
            counts[0] += cell
            counts[1] += pixel
            counts[2] += 1

    def report(self) -> dict:
        t = self.pointing
        out = {"words": t.words, "images": self.images, "images without annotations": self.images_without,
               "words naming nothing annotated": self.not_annotated}
        for test in ("cell", "pixel", "uniform cell", "uniform pixel", "centre cell", "centre pixel"):
            out[f"pointing {test}"] = t.rate(test)
        out["by word"] = {k: {"words": c[2], "cell": c[0] / c[2], "pixel": c[1] / c[2]}
                          for k, c in sorted(t.by_kind.items(), key=lambda kv: -kv[1][2])}
        return out
