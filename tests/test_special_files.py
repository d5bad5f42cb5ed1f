"""Special files (issue 21): a FIFO, a device or a folder given where a file is read (a resume
state, a tutorial checkpoint or its word map, `translate --file`) is refused before it is opened,
with its path in one line and exit status 2, never a wait without end. Each run is guarded by a
short timeout besides pytest-timeout's: a reader that blocks on the FIFO fails the test quickly.
"""
from __future__ import annotations

import contextlib
import io
import os
import threading
from pathlib import Path

import pytest

from attnviewer.cli import main
from attnviewer.training.loop import state_path

from .corpora import pairs_tsv

GUARD_SECONDS = 60  # each refusal takes well under a second; the machine may be busy


def run(argv: list[str]) -> tuple[int, str]:
    """main(argv) in a thread, failing the test if it has not returned within GUARD_SECONDS."""
    result: dict = {}
    stdout, stderr = io.StringIO(), io.StringIO()

    def go():
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            result["code"] = main(argv)

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join(GUARD_SECONDS)
    if thread.is_alive():
        _unblock(argv)
        thread.join(5)
        pytest.fail(f"blocked on a special file: {argv}")
    return result["code"], stderr.getvalue()


def _unblock(argv: list[str]) -> None:
    """Open every FIFO named for writing (without waiting), so a reader blocked on one goes on."""
    for arg in argv:
        with contextlib.suppress(OSError):
            os.close(os.open(arg, os.O_WRONLY | os.O_NONBLOCK))


def special(tmp_path: Path, kind: str, name: str) -> Path:
    path = tmp_path / name
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")
    return path


def refused_once(code: int, err: str, path: Path, says: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("attnviewer: error: "), err
    assert str(path) in lines[0] and says in lines[0], lines[0]
    return lines[0]


KINDS = [("fifo", "is a FIFO"), ("folder", "folder"), ("device", "character device")]


@pytest.mark.parametrize("kind, says", KINDS)
def test_translate_file_that_is_not_a_regular_file(tmp_path, kind, says):
    path = special(tmp_path, kind, "sentences.txt")
    out = tmp_path / "out.json"
    code, err = run(["translate", "--file", str(path), "--json", str(out)])
    refused_once(code, err, path, says)
    assert not out.exists()


@pytest.mark.parametrize("kind, says", KINDS)
def test_a_word_map_that_is_not_a_regular_file(tmp_path, kind, says):
    ckpt = tmp_path / "BEST_checkpoint.pth.tar"
    ckpt.write_bytes(b"PK\x03\x04 not read")
    path = special(tmp_path, kind, "WORDMAP.json")
    out = tmp_path / "m.safetensors"
    code, err = run(["import", "sat-tutorial", str(ckpt), str(path), "--out", str(out)])
    refused_once(code, err, path, says)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == sorted([ckpt.name, path.name])


@pytest.mark.parametrize("kind, says", KINDS)
def test_a_tutorial_checkpoint_that_is_not_a_regular_file(tmp_path, kind, says):
    words = tmp_path / "WORDMAP.json"
    words.write_text('{"<pad>": 0, "<start>": 1, "<end>": 2, "<unk>": 3}')
    path = special(tmp_path, kind, "BEST_checkpoint.pth.tar")
    out = tmp_path / "m.safetensors"
    code, err = run(["import", "sat-tutorial", str(path), str(words), "--out", str(out)])
    refused_once(code, err, path, says)
    assert not out.exists()


@pytest.mark.parametrize("kind, says", KINDS)
def test_a_resume_state_that_is_not_a_regular_file(tmp_path, kind, says):
    data = pairs_tsv(tmp_path, n_pairs=16)
    out = tmp_path / "m.safetensors"
    state_path(out).parent.mkdir()
    path = special(state_path(out).parent, kind, state_path(out).name)
    code, err = run(["train", "translate", "--data", str(data), "--out", str(out), "--hidden-dim", "16",
                     "--min-count", "1", "--batch-size", "8", "--resume"])
    line = refused_once(code, err, path, says)
    assert "the resume state is damaged" in line
    assert not out.exists()
