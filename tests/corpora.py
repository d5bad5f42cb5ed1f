"""Tiny datasets in the real formats, written into a test's tmp folder, for the dataset readers and
the trainers' tests: the Karpathy-split JSON and a plain CSV of image captions (generated scenes
saved as JPEG / PNG), video captions in the MSVD and MSR-VTT layouts (generated clips saved as
MP4), and tab-separated sentence pairs (generated pairs).

Each function returns the paths a reader takes. Captions are written the way people write them
(capitals, commas, a full stop) so that reading them exercises the tokeniser; `*_tokens` give the
tokens a reader should get back. Options add the usual faults of real data: images or clips
listed but absent, empty captions.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from PIL import Image

from attnviewer.data.clip_events import generate_clip
from attnviewer.data.pairs import generate_pairs
from attnviewer.data.synthetic import generate_scene

SEED = 7
KARPATHY_SPLITS = ("train", "restval", "train", "val", "test", "train")  # cycled over the images
MSRVTT_SPLITS = ("train", "train", "validate", "test")  # cycled over the clips
CLIP_SPLITS = {"train": "train", "validate": "val", "test": "test"}  # MSR-VTT's names -> the readers'


def sentence(words: str) -> str:
    """'a red circle , a blue star' -> 'A red circle, a blue star.' (as annotators write)."""
    text = words.replace(" ,", ",")
    return text[:1].upper() + text[1:] + "."


def scene_captions(index: int, size: int = 64) -> list[str]:
    """The two raw captions of scene `index` (drawn at `size` pixels: the scene depends on it): its
    caption, and the same as 'A picture of ...'."""
    caption = generate_scene(SEED, index, size=size).caption
    return [sentence(caption), sentence("a picture of " + caption)]


def caption_tokens(raw: str) -> list[str]:
    """The tokens a caption reader gives for one of these raw captions: lower-case, no punctuation."""
    return raw.lower().replace(",", "").replace(".", "").split()


def write_scene(path: Path, index: int, size: int = 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(generate_scene(SEED, index, size=size).image).save(path)
    return path


def karpathy_json(tmp: Path, n_images: int = 6, splits=KARPATHY_SPLITS, dataset: str = "coco",
                  missing: int = 0, empty: int = 0, size: int = 64) -> tuple[Path, Path]:
    """dataset_<dataset>.json in Karpathy's layout and its image root with n_images JPEGs.

    Image i has split splits[i % len(splits)] and the two captions of scene_captions(i), with
    Karpathy's `tokens` (no punctuation) beside `raw`. For "coco" images lie in filepath
    train2014/ or val2014/ as in COCO, for Flickr directly in the root. The last `missing` images
    are listed but not written; the first `empty` images have their second caption empty.
    """
    tmp = Path(tmp)
    root = tmp / "images"
    root.mkdir(parents=True, exist_ok=True)
    images, sentid = [], 0
    for i in range(n_images):
        split = splits[i % len(splits)]
        entry: dict = {"split": split, "imgid": i}
        if dataset == "coco":
            entry["filepath"] = "train2014" if split == "train" else "val2014"
            entry["filename"] = f"COCO_{entry['filepath']}_{i:012d}.jpg"
            entry["cocoid"] = i
        else:
            entry["filename"] = f"{1000 + i}_{i * 7919:08x}.jpg"
        raws = scene_captions(i, size)
        if i < empty:
            raws[1] = ""
        entry["sentences"] = [{"tokens": caption_tokens(r), "raw": r, "imgid": i, "sentid": sentid + k}
                              for k, r in enumerate(raws)]
        entry["sentids"] = [sentid, sentid + 1]
        sentid += 2
        images.append(entry)
        if i < n_images - missing:
            write_scene(root / entry.get("filepath", "") / entry["filename"], i, size)
    path = tmp / f"dataset_{dataset}.json"
    path.write_text(json.dumps({"images": images, "dataset": dataset}), encoding="utf-8")
    return path, root


def captions_csv(tmp: Path, n_images: int = 6, split_column: bool = False, splits=("train", "val", "test"),
                 missing: int = 0, size: int = 64, name: str = "captions.csv") -> tuple[Path, Path]:
    """A CSV `image,caption[,split]` (header row, two rows per image, quoted where a caption has a
    comma) and its image root with n_images PNGs named scene-<i>.png; image i's split column (if
    asked for) is splits[i % len(splits)]. The last `missing` images are listed but not written."""
    tmp = Path(tmp)
    root = tmp / "pictures"
    root.mkdir(parents=True, exist_ok=True)
    path = tmp / name
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["image", "caption"] + (["split"] if split_column else []))
        for i in range(n_images):
            image = f"scene-{i}.png"
            for raw in scene_captions(i, size):
                out.writerow([image, raw] + ([splits[i % len(splits)]] if split_column else []))
            if i < n_images - missing:
                write_scene(root / image, i, size)
    return path, root


def clip_id(layout: str, i: int) -> str:
    """The video id of clip i: MSVD's '<YouTube id>_<start>_<end>', MSR-VTT's 'video<i>'."""
    return f"video{i}" if layout == "msrvtt" else f"yt{i:02d}Xq-{i}_{3 * i}_{3 * i + 5}"


def clip_captions(i: int) -> list[str]:
    """The two raw captions of clip i: its events joined by 'then', and a rephrasing."""
    caption = generate_clip(SEED, i).caption
    return [sentence(caption.replace(" then ", " , then ")), sentence("in this video " + caption)]


def video_corpus(tmp: Path, layout: str = "msvd", n_clips: int = 4, missing: int = 0,
                 empty: int = 0) -> tuple[Path, Path]:
    """Annotations and a folder of n_clips MP4 clips (generated clips, 24 frames of 48x48, 12 fps).

    layout "msvd": a CSV `video_id,caption`; "msvd-original": MSVD's own multilingual CSV
    (VideoID,Start,End,WorkerID,Source,AnnotationTime,Language,Description) with a German and a
    French row per clip besides the English ones; "msrvtt": MSR-VTT's JSON ("videos" with the
    splits of MSRVTT_SPLITS, "sentences"). The last `missing` clips are annotated but not
    written; the first `empty` clips have their second English caption empty.
    """
    from attnviewer.media.frames import write_clip

    tmp = Path(tmp)
    root = tmp / "clips"
    root.mkdir(parents=True, exist_ok=True)
    ids = [clip_id(layout, i) for i in range(n_clips)]
    captions = [clip_captions(i) for i in range(n_clips)]
    for i in range(empty):
        captions[i][1] = ""
    for i, vid in enumerate(ids[:n_clips - missing]):
        write_clip(generate_clip(SEED, i).frames, root / f"{vid}.mp4", fps=12)
    if layout == "msrvtt":
        path = tmp / "videodatainfo.json"
        videos = [{"category": i % 20, "url": f"https://example.org/{vid}", "video_id": vid, "start time": 0.0,
                   "end time": 2.0, "split": MSRVTT_SPLITS[i % len(MSRVTT_SPLITS)], "id": i}
                  for i, vid in enumerate(ids)]
        sentences = [{"caption": c, "video_id": vid, "sen_id": 2 * i + k}
                     for i, vid in enumerate(ids) for k, c in enumerate(captions[i])]
        path.write_text(json.dumps({"info": {"year": 2016}, "videos": videos, "sentences": sentences}), "utf-8")
        return path, root
    path = tmp / ("video_corpus.csv" if layout == "msvd-original" else "msvd_captions.csv")
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        if layout == "msvd-original":
            out.writerow(["VideoID", "Start", "End", "WorkerID", "Source", "AnnotationTime", "Language", "Description"])
            for i, vid in enumerate(ids):
                youtube, start, end = vid.rsplit("_", 2)
                rows = [("English", c) for c in captions[i]] + [("German", "Ein Kreis bewegt sich."),
                                                                ("French", "Un cercle bouge.")]
                for k, (language, text) in enumerate(rows):
                    out.writerow([youtube, start, end, 1000 + k, "clean", 12, language, text])
        elif layout == "msvd":
            out.writerow(["video_id", "caption"])
            for i, vid in enumerate(ids):
                for c in captions[i]:
                    out.writerow([vid, c])
        else:
            raise ValueError(f"unknown layout {layout!r}")
    return path, root


def pair_texts(n: int) -> list[tuple[str, str]]:
    """n generated sentence pairs as raw text: capitalised, with a full stop."""
    return [(sentence(" ".join(p.source)), sentence(" ".join(p.target))) for p in generate_pairs(n, SEED)]


def pair_tokens(raw: str) -> list[str]:
    """The tokens a translation reader gives for one of these raw sentences (punctuation kept)."""
    return raw.lower()[:-1].split() + ["."]


def pairs_tsv(tmp: Path, n_pairs: int = 12, layout: str = "file", dev_name: str = "val",
              empty: int = 0) -> Path:
    """Sentence pairs `source<TAB>target`: layout "file" writes pairs.tsv with n_pairs lines;
    "folder" writes pairs/ with train.tsv (n_pairs lines), <dev_name>.tsv and test.tsv (3 lines
    each, further pairs of the generator). The first `empty` lines of a file have an empty target."""
    tmp = Path(tmp)
    texts = pair_texts(n_pairs + (6 if layout == "folder" else 0))

    def write(path: Path, rows: list[tuple[str, str]]) -> Path:
        rows = [(s, "" if i < empty else t) for i, (s, t) in enumerate(rows)]
        path.write_text("".join(f"{s}\t{t}\n" for s, t in rows), encoding="utf-8")
        return path

    if layout == "file":
        return write(tmp / "pairs.tsv", texts)
    folder = tmp / "pairs"
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "train.tsv", texts[:n_pairs])
    write(folder / f"{dev_name}.tsv", texts[n_pairs:n_pairs + 3])
    write(folder / "test.tsv", texts[n_pairs + 3:])
    return folder
