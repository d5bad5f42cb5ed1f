"""The round trip of training on hostile captions (issue 21, "training writes models it cannot read
back"): whatever `attnviewer train caption|video|translate --data` writes from a dataset whose
captions hold escape codes, other control characters and a 200,000-character word, `caption`,
`video` and `translate --model` open, and so does the window's engine (engine/worker.py, the code
the window runs a job with); what cannot make a model (every word seen once under a --min-count
of 2) is refused in one line before training, with nothing written.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import pytest

from attnviewer.cli import main
from attnviewer.data.corpus import read_image_captions
from attnviewer.models.checkpoint import load_checkpoint

from . import corpora

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ESCAPE = "\x1b[31mred\x1b[0m"  # colours a terminal
TITLE = "\x1b]0;owned\x07"  # sets a terminal's title
BELL = "bell\x07"
C1 = "\x9bnext"  # the one-byte CSI of C1
LONG = "y" * 200_000
HOSTILE = (ESCAPE, TITLE, BELL, C1, LONG)
FAST = ["--hidden-dim", "16", "--min-count", "1", "--epochs", "1", "--max-steps", "2", "--seed", "0"]


def run(argv: list[str]) -> tuple[int, str, str]:
    """The command in this process: exit status, stdout, stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(argv)
    return code, stdout.getvalue(), stderr.getvalue()


def in_window(kind: str, source: str, model: Path):
    """What the window gets for a job of this model: the engine's Result, or its one-line failure."""
    from attnviewer.engine.worker import Job, Worker
    from attnviewer.settings import DecodeSettings

    worker, got = Worker(), {}
    worker.finished.connect(lambda job, slot, result: got.setdefault("result", result))
    worker.failed.connect(lambda job, slot, message: got.setdefault("failed", message))
    worker.latest["main"] = 1
    worker.run(Job(1, kind, source, str(model), DecodeSettings("greedy", max_len=5), device="cpu"))
    assert "failed" not in got, got["failed"]
    return got["result"]


def trained_clean(said: str, out: Path, n_unfit: int) -> None:
    """Training said what it left out, in one escaped line, and wrote a model whose vocabulary
    holds none of it."""
    skipped = [line for line in said.splitlines() if "unfit word" in line]
    assert len(skipped) == 1 and skipped[0].strip().startswith(f"skipped: {n_unfit} unfit words"), said
    assert not any(c in said for c in "\x1b\x07\x9b") and LONG[:200] not in said  # escaped and cut
    model = load_checkpoint(out)
    vocab = getattr(model, "vocab_record", model.vocab)  # a translator has two
    words = vocab if isinstance(vocab, list) else [w for side in vocab.values() for w in side]
    assert words and all(len(w) <= 100 and shown(w) for w in words)


def shown(text: str) -> str:
    """`text`, after checking it holds no control character but line ends (no escape code)."""
    assert not any((ord(c) < 32 and c != "\n") or 127 <= ord(c) < 160 for c in text), repr(text[:200])
    return text


def opens(command: str, source: str, out) -> None:
    """What training wrote captions `source` on the command line and in the window's engine."""
    code, said, err = run([command, source, "--model", str(out), "--greedy", "--max-len", "5"])
    assert code == 0 and err == "", err
    shown(said)
    result = in_window(command, source, out)
    assert result.hypotheses[0].tokens and shown(" ".join(result.hypotheses[0].tokens))


# ---- image captions ------------------------------------------------------------------------------

def test_image_captions_with_hostile_words_train_a_model_that_caption_and_the_window_open(tmp_path, qapp):
    data, root = corpora.karpathy_json(tmp_path, n_images=6, splits=("train", "train", "val"))
    spec = json.loads(data.read_text())
    for entry in spec["images"]:  # Karpathy's tokens, and a raw caption that the reader tokenises
        entry["sentences"].append({"tokens": ["a", ESCAPE, LONG, BELL], "raw": "unused"})
        entry["sentences"].append({"raw": f"A {TITLE} circle {C1} {LONG}"})
    data.write_text(json.dumps(spec))
    out = tmp_path / "m.safetensors"
    code, said, err = run(["train", "caption", "--data", str(data), "--images", str(root), "--out", str(out),
                           "--features-dir", str(tmp_path / "f"), "--image-size", "64", "--batch-size", "8", *FAST])
    assert code == 0, err
    trained_clean(said, out, len(HOSTILE))
    opens("caption", str(sorted(root.rglob("*.jpg"))[0]), out)


def test_an_image_caption_csv_line_of_a_200000_character_word_is_skipped_and_counted(tmp_path):
    data, root = corpora.captions_csv(tmp_path, n_images=4)
    with open(data, "a", newline="", encoding="utf-8") as f:
        csv.writer(f).writerow(["scene-0.png", f"a {LONG} circle"])
    corpus = read_image_captions(data, root)
    assert corpus.problems.counts == {"malformed line": 1}  # over the csv module's field limit
    assert all(len(w) < 100 for items in corpus.splits.values() for item in items for r in item.references for w in r)


# ---- video captions ------------------------------------------------------------------------------

def test_video_captions_with_hostile_words_train_a_model_that_video_and_the_window_open(tmp_path, qapp):
    data, root = corpora.video_corpus(tmp_path, layout="msrvtt", n_clips=4)
    spec = json.loads(data.read_text())
    for v in spec["videos"]:
        spec["sentences"].append({"caption": f"a {ESCAPE} circle {LONG} {BELL}", "video_id": v["video_id"]})
        spec["sentences"].append({"caption": f"{TITLE} moves {C1}", "video_id": v["video_id"]})
    data.write_text(json.dumps(spec))
    out = tmp_path / "v.safetensors"
    code, said, err = run(["train", "video", "--data", str(data), "--clips", str(root), "--out", str(out),
                           "--features-dir", str(tmp_path / "f"), "--frame-size", "64", "--batch-size", "4", *FAST])
    assert code == 0, err
    trained_clean(said, out, len(HOSTILE))
    opens("video", str(sorted(root.rglob("*.mp4"))[0]), out)


# ---- sentence pairs ------------------------------------------------------------------------------

def test_sentence_pairs_with_hostile_words_train_a_model_that_translate_and_the_window_open(tmp_path, qapp):
    data = corpora.pairs_tsv(tmp_path, n_pairs=16)
    with open(data, "a", encoding="utf-8") as f:
        for _ in range(2):
            f.write(f"the dog sees {ESCAPE} {C1}\tla hund vidra {TITLE} {BELL}\n")
        f.write(f"the dog sees a {LONG}\tla hund vidra\n")  # over the pair reader's field limit: skipped
    out = tmp_path / "t.safetensors"
    code, said, err = run(["train", "translate", "--data", str(data), "--out", str(out), "--batch-size", "8", *FAST])
    assert code == 0, err
    trained_clean(said, out, 4)
    assert "1 malformed line" in said
    code, said, err = run(["translate", "the dog sees a cat", "--model", str(out), "--greedy", "--max-len", "5"])
    assert code == 0 and err == "", err
    result = in_window("translate", "the dog sees a cat", out)
    assert result.hypotheses[0].tokens and shown(" ".join(result.hypotheses[0].tokens))


# ---- what cannot make a model: refused before training, nothing written --------------------------

def _once_each(task: str, tmp: Path) -> list[str]:
    """A dataset of the task whose every word is seen once; the training command's arguments."""
    if task == "caption":
        data, root = corpora.karpathy_json(tmp, n_images=6, splits=("train", "train", "val"))
        spec = json.loads(data.read_text())
        for i, entry in enumerate(spec["images"]):
            entry["sentences"] = [{"tokens": [f"w{i}a", f"w{i}b"], "raw": ""}]
        data.write_text(json.dumps(spec))
        return ["--images", str(root), "--features-dir", str(tmp / "f"), "--image-size", "64", "--data", str(data)]
    if task == "video":
        data, root = corpora.video_corpus(tmp, layout="msrvtt", n_clips=4)
        spec = json.loads(data.read_text())
        spec["sentences"] = [{"caption": f"v{i}a v{i}b", "video_id": v["video_id"]}
                             for i, v in enumerate(spec["videos"])]
        data.write_text(json.dumps(spec))
        return ["--clips", str(root), "--features-dir", str(tmp / "f"), "--frame-size", "64", "--data", str(data)]
    data = tmp / "pairs.tsv"
    data.write_text("".join(f"s{i}a s{i}b\tt{i}a t{i}b\n" for i in range(16)), encoding="utf-8")
    return ["--data", str(data)]


@pytest.mark.parametrize("task", ["caption", "video", "translate"])
def test_words_seen_once_under_a_min_count_of_2_are_refused_before_training(tmp_path, task):
    args = _once_each(task, tmp_path)
    out = tmp_path / "m.safetensors"
    code, said, err = run(["train", task, "--out", str(out), *args, "--hidden-dim", "16", "--min-count", "2",
                           "--batch-size", "4", "--epochs", "1"])
    lines = err.strip().splitlines()
    if task == "video":  # the refusal comes after the frame features (cached for the next run), whose
        lines = [line for line in lines if not line.startswith("frame-features")]  # progress is on stderr
    assert code == 2 and len(lines) == 1 and lines[0].startswith("attnviewer: error: "), err
    assert "no word is seen at least 2 times" in lines[0] and "could only write <unk>" in lines[0]
    assert "parameters on" not in said  # no step taken ("training N M parameters on ...")
    assert not out.exists() and not Path(str(out) + ".state").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".m.safetensors")]


@pytest.mark.parametrize("task", ["caption", "translate"])
def test_a_dataset_of_only_unfit_words_is_refused_before_training(tmp_path, task):
    if task == "caption":
        data, root = corpora.karpathy_json(tmp_path, n_images=6, splits=("train", "train", "val"))
        spec = json.loads(data.read_text())
        for entry in spec["images"]:
            entry["sentences"] = [{"tokens": [ESCAPE, LONG, BELL], "raw": ""}]
        data.write_text(json.dumps(spec))
        args = ["--images", str(root), "--features-dir", str(tmp_path / "f"), "--image-size", "64"]
    else:
        data = tmp_path / "pairs.tsv"
        data.write_text("".join(f"the dog {i}\t{ESCAPE} {BELL}{i}\n" for i in range(16)), encoding="utf-8")
        args = []
    out = tmp_path / "m.safetensors"
    code, said, err = run(["train", task, "--data", str(data), "--out", str(out), *args, "--hidden-dim", "16",
                           "--min-count", "1", "--batch-size", "4", "--epochs", "1"])
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "could only write <unk>" in lines[0], err
    assert "\x1b" not in said + err and "parameters on" not in said and not out.exists()
