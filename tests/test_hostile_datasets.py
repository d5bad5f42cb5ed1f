"""Dataset paths that leave their folder (issue 21): an annotation naming ../../etc/passwd, an
absolute path (/etc/shadow, /proc/self/mem) or an image or clip that is a link out of --images or
--clips is skipped and counted ("out-of-folder image"), never opened; the images inside still train.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from attnviewer.data.corpus import read_image_captions, read_video_captions

from .corpora import captions_csv, video_corpus, write_scene

ESCAPES = ["../../etc/passwd", "/etc/shadow", "/proc/self/mem", "sub/../../outside.png", "/dev/zero"]


def test_image_paths_that_leave_the_image_folder_are_skipped_and_counted(tmp_path):
    data, root = captions_csv(tmp_path, n_images=3)
    outside = write_scene(tmp_path / "outside.png", 7)  # a real image, but not in --images
    (root / "linked.png").symlink_to(outside)
    (root / "inner.png").symlink_to(root / "scene-0.png")  # a link that stays inside is fine
    with open(data, "a", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        for name in ESCAPES + ["linked.png", "inner.png", str(root / "scene-1.png")]:
            out.writerow([name, "a red circle above a blue square"])
    corpus = read_image_captions(data, root)
    kept = {item.id for items in corpus.splits.values() for item in items}
    assert kept == {"scene-0.png", "scene-1.png", "scene-2.png", "inner.png", str(root / "scene-1.png")}
    assert corpus.problems.counts == {"out-of-folder image": len(ESCAPES) + 1}
    line = corpus.problems.lines()[0]
    assert line.startswith(f"{len(ESCAPES) + 1} out-of-folder images (e.g. ../../etc/passwd")
    assert all(os.path.realpath(item.source).startswith(str(root.resolve()))
               for items in corpus.splits.values() for item in items)


def test_a_clip_that_is_a_link_out_of_the_clip_folder_is_skipped_and_counted(tmp_path):
    data, root = video_corpus(tmp_path, layout="msvd", n_clips=4)
    clips = sorted(root.rglob("*.mp4"))
    away = tmp_path / "away.mp4"
    clips[0].rename(away)
    clips[0].symlink_to(away)  # its id's clip is now a link out of --clips
    corpus = read_video_captions(data, root)
    kept = {item.id for items in corpus.splits.values() for item in items}
    assert clips[0].stem not in kept and len(kept) == 3
    assert corpus.problems.counts == {"out-of-folder clip": 1}
