"""Dataset paths that leave their folder (issue 21): an annotation naming ../../etc/passwd, an
absolute path (/etc/shadow, /proc/self/mem) or an image or clip that is a link out of --images or
--clips is skipped and counted ("out-of-folder image"), never opened; the images inside still train.
"""
from __future__ import annotations

import csv
import os

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


# ---- training writes only models it can read back (issue 21) --------------------------------------

def _train(argv: list[str]) -> tuple[int, str, str]:
    import contextlib
    import io

    from attnviewer.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(argv)
    return code, stdout.getvalue(), stderr.getvalue()


def test_words_a_model_cannot_hold_are_left_out_counted_and_the_model_opens(tmp_path):
    from .corpora import pairs_tsv

    data = pairs_tsv(tmp_path, n_pairs=16)
    long_word = "x" * 150  # past a model file's 100 characters, within the pair reader's line limit
    with open(data, "a", encoding="utf-8") as f:
        for _ in range(2):  # seen twice: kept by --min-count alone
            f.write(f"the dog sees \x1b[31mred\x1b[0m\tla hund vidra roj {long_word}\n")
    out = tmp_path / "m.safetensors"
    code, said, err = _train(["train", "translate", "--data", str(data), "--out", str(out), "--hidden-dim", "16",
                              "--min-count", "1", "--batch-size", "8", "--epochs", "1", "--max-steps", "2"])
    assert code == 0, err
    skipped = [line for line in said.splitlines() if "unfit word" in line]
    assert len(skipped) == 1 and skipped[0].strip().startswith("skipped: 2 unfit words"), said
    assert "\x1b" not in said and long_word not in said  # shown escaped and cut
    code, said, err = _train(["translate", "the dog sees a cat", "--model", str(out), "--greedy"])
    assert code == 0, err  # what train wrote, translate opens


def test_a_min_count_that_leaves_no_word_is_refused_before_training(tmp_path):
    from .corpora import pairs_tsv

    data = pairs_tsv(tmp_path, n_pairs=16)
    out = tmp_path / "m.safetensors"
    code, said, err = _train(["train", "translate", "--data", str(data), "--out", str(out), "--hidden-dim", "16",
                              "--min-count", "100000", "--batch-size", "8", "--epochs", "1"])
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "could only write <unk>" in lines[0], err
    assert not out.exists() and "training" not in said


def test_the_word_rule_is_the_model_header_s():
    from attnviewer.data.corpus import WORD_MAX_CHARS, model_can_hold
    from attnviewer.models.header import WORD_CHARS

    assert WORD_MAX_CHARS == WORD_CHARS[1]
    assert model_can_hold("x" * WORD_CHARS[1]) and not model_can_hold("x" * (WORD_CHARS[1] + 1))
    assert not model_can_hold("a\x1bb") and not model_can_hold("a\x85b") and model_can_hold("café")
