"""The transformer trainer (training/transformers.py, `train caption|translate --arch transformer`)
under hostile words and a full disk (issue 21): words a model file may not hold (escape codes,
control characters, a 200,000-character word) are left out and counted as the LSTM trainers do,
and the folder it writes opens in `caption`/`translate --model` and in the window's engine; a
vocabulary left with no word is refused in one line before training; a full disk while the folder
is written is one line, with no part left behind and the previous folder as it was.

The trainer draws its own data (the generated scenes and pairs): the hostile words are put into
what the generators give it.
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from attnviewer.cli import main  # noqa: E402
from attnviewer.data import pairs, synthetic  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ESCAPE, BELL, C1, LONG = "\x1b[31mred", "bell\x07", "\x9bnext", "y" * 200_000
TINY = ["--train-size", "16", "--val-size", "4", "--batch-size", "16", "--epochs", "1", "--hidden", "16",
        "--encoder-layers", "1", "--decoder-layers", "1", "--heads", "2", "--ffn", "16", "--threads", "1",
        "--device", "cpu"]
IMAGE = ["--image-size", "32", "--patch-size", "8"]


def run(argv: list[str]) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(argv)
    return code, stdout.getvalue(), stderr.getvalue()


def train(task: str, out: Path, *extra: str) -> tuple[int, str, str]:
    return run(["train", task, "--arch", "transformer", "--out", str(out), *TINY,
                *(IMAGE if task == "caption" else []), *extra])


def error_lines(err: str) -> list[str]:
    """stderr less the progress lines ("step 1/1: ...": progress may be shown there)."""
    return [line for line in err.strip().splitlines() if not line.startswith("step ")]


def clean(text: str) -> bool:
    return not any((ord(c) < 32 and c != "\n") or 127 <= ord(c) < 160 for c in text)


def vocabulary(folder: Path) -> list[str]:
    return list(json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"])


def in_window(kind: str, source: str, model: Path):
    """The engine's Result of a job of this model (what the window shows), or its failure."""
    from attnviewer.engine.worker import Job, Worker
    from attnviewer.settings import DecodeSettings

    worker, got = Worker(), {}
    worker.finished.connect(lambda job, slot, result: got.setdefault("result", result))
    worker.failed.connect(lambda job, slot, message: got.setdefault("failed", message))
    worker.latest["main"] = 1
    settings = DecodeSettings("greedy", max_len=5, min_len=2)  # words even from a model trained one step
    worker.run(Job(1, kind, source, str(model), settings, device="cpu"))
    assert "failed" not in got, got["failed"]
    return got["result"]


class _Named(synthetic.Scene):
    """A generated scene whose caption is the one given."""

    def __init__(self, scene, caption: str):
        super().__init__(scene.image, scene.objects)
        self._caption = caption

    @property
    def caption(self) -> str:
        return self._caption


def _scenes_with(monkeypatch, captions) -> None:
    """The training scenes (seed 0) captioned captions(i, caption); held-out scenes as generated."""
    real = synthetic.generate_scenes

    def scenes(n, seed, size=160, start=0):
        made = real(n, seed, size, start)
        return [_Named(sc, captions(i, sc.caption)) for i, sc in enumerate(made)] if seed == 0 else made

    monkeypatch.setattr(synthetic, "generate_scenes", scenes)


def _words_with(monkeypatch, extra_source: list[str], extra_target: list[str], keep: bool = True) -> None:
    """The translator's vocabularies with extra words (and without their own unless `keep`)."""
    real = pairs.vocabularies

    def vocabularies():
        source, target = real()
        return (source if keep else []) + extra_source, (target if keep else []) + extra_target

    monkeypatch.setattr(pairs, "vocabularies", vocabularies)


# ---- the round trip -------------------------------------------------------------------------------

def test_a_captioner_of_hostile_captions_leaves_the_words_out_and_opens(tmp_path, monkeypatch, qapp):
    from PIL import Image

    hostile = [ESCAPE, BELL, C1, LONG]
    _scenes_with(monkeypatch, lambda i, caption: f"{caption} {hostile[i % 4]}" if i < 8 else caption)
    out = tmp_path / "cap"
    code, said, err = train("caption", out)
    assert code == 0, err
    skipped = [line for line in said.splitlines() if "unfit word" in line]
    assert len(skipped) == 1 and skipped[0].strip().startswith("skipped: 4 unfit words"), said
    assert clean(said) and LONG[:200] not in said
    words = vocabulary(out)
    assert all(clean(w) and len(w) <= 100 for w in words) and "a" in words
    image = tmp_path / "scene.png"
    Image.fromarray(synthetic.generate_scene(3, 1, 32).image).save(image)
    code, said, err = run(["caption", str(image), "--model", str(out), "--greedy", "--max-len", "5"])
    assert code == 0 and clean(said), err
    assert in_window("caption", str(image), out).hypotheses[0].tokens


def test_a_translator_of_hostile_words_leaves_them_out_and_opens(tmp_path, monkeypatch, qapp):
    _words_with(monkeypatch, [ESCAPE, LONG], [BELL, C1, LONG])
    out = tmp_path / "tr"
    code, said, err = train("translate", out)
    assert code == 0, err
    skipped = [line.strip() for line in said.splitlines() if "unfit word" in line]
    assert skipped == ["skipped: 2 unfit words (e.g. \\x1b[31mred, " + "y" * 57 + "...)",
                       "skipped: 3 unfit words (e.g. bell\\x07, \\x9bnext, " + "y" * 57 + "...)"], said
    words = vocabulary(out)
    assert all(clean(w) and len(w) <= 100 for w in words) and "the" in words
    code, said, err = run(["translate", "the dog sees a cat", "--model", str(out), "--greedy", "--max-len", "5"])
    assert code == 0 and clean(said), err
    assert in_window("translate", "the dog sees a cat", out).hypotheses[0].tokens


# ---- a vocabulary that cannot make a caption or a translation: refused before training ----------

@pytest.mark.parametrize("task, side", [("caption", "caption"), ("translate", "source"), ("translate", "target")])
def test_a_vocabulary_of_no_fit_word_is_refused_before_training(tmp_path, monkeypatch, task, side):
    if task == "caption":
        _scenes_with(monkeypatch, lambda i, caption: f"{ESCAPE} {LONG}{i}")
    else:
        _words_with(monkeypatch, [ESCAPE] if side == "source" else ["the", "dog"],
                    [BELL, LONG] if side == "target" else ["la", "hund"], keep=False)
    out = tmp_path / "m"
    code, said, err = train(task, out)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "internal error" not in err, err
    assert lines[0].startswith(f"attnviewer: error: no {side} word is fit for a model file")
    assert "could only write <unk>" in lines[0] and clean(err)
    assert "parameters on" not in said  # no step taken ("training N M parameters on ...")
    assert list(tmp_path.iterdir()) == []


# ---- a full disk while the folder is written -----------------------------------------------------

def _full_disk_at(monkeypatch, where: str) -> None:
    """What a full disk raises where the folder's files are written: safetensors' and tokenizers'
    own exceptions naming the system error (as seen on a full tmpfs), Python's OSError."""
    import errno
    import os

    import safetensors
    import transformers.modeling_utils
    from transformers import PreTrainedTokenizerFast

    def fail(error):
        def raiser(*args, **kwargs):
            raise error
        return raiser

    if where == "weights":
        monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", fail(safetensors.SafetensorError(
            "Error while serializing: I/O error: No space left on device (os error 28)")))
    elif where == "tokenizer":
        monkeypatch.setattr(PreTrainedTokenizerFast, "_save_pretrained",
                            fail(Exception("No space left on device (os error 28)")))
    else:
        real = Path.write_text

        def write_text(self, *args, **kwargs):
            if self.name == "training.json":
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Path, "write_text", write_text)


@pytest.mark.parametrize("where", ["weights", "tokenizer", "training record"])
def test_a_full_disk_while_writing_the_folder_is_one_line_and_keeps_the_previous_folder(tmp_path, monkeypatch,
                                                                                         where):
    out = tmp_path / "tr"
    code, said, err = train("translate", out)
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    _full_disk_at(monkeypatch, where)
    code, said, err = train("translate", out, "--overwrite", "--seed", "1")
    lines = error_lines(err)
    assert code == 2 and lines == [f"attnviewer: error: {out}: cannot write, the disk is full"], err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the previous folder, as it was
    assert [p.name for p in tmp_path.iterdir()] == ["tr"]  # no part, no old copy beside it


def test_a_full_disk_on_the_first_folder_leaves_nothing(tmp_path, monkeypatch):
    _full_disk_at(monkeypatch, "weights")
    code, said, err = train("caption", tmp_path / "cap")
    assert code == 2 and error_lines(err) == [f"attnviewer: error: {tmp_path / 'cap'}: cannot write, the disk is full"]
    assert list(tmp_path.iterdir()) == []


# ---- an --out that cannot be written: refused before training ------------------------------------

def test_an_out_under_a_file_is_refused_before_training(tmp_path):
    blocker = tmp_path / "models"
    blocker.write_text("a file where a folder should be")
    code, said, err = train("translate", blocker / "run" / "tr")
    assert code == 2 and error_lines(err) == [f"attnviewer: error: {blocker / 'run' / 'tr'}: cannot write, {blocker} "
                                              "is a file, not a folder"], err  # (as every train command says it)
    assert "parameters on" not in said and blocker.read_text() == "a file where a folder should be"


def test_an_out_in_a_folder_without_write_permission_is_refused_before_training(tmp_path, monkeypatch):
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == locked else real(p, mode, **kw))
    code, said, err = train("translate", locked / "tr")  # (a permission check: root would write anyway)
    assert code == 2 and error_lines(err) == [f"attnviewer: error: {locked / 'tr'}: cannot write, no permission "
                                              f"to write in {locked}"], err
    assert "parameters on" not in said and list(locked.iterdir()) == []
