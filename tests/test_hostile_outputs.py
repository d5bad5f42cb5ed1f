"""Outputs under hostile conditions (issue 13, section 4 and the name/escape-code items of 3): a
command's outputs for one input land as a set or not at all (a failing writer, a really full
disk), symlinks at an output are replaced and never written through, over-long and non-UTF-8 input
is refused in one line, non-UTF-8 file names and escape codes never crash or reach the terminal raw,
and train/eval refuse bad --out / --n in one line."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
import unicodedata
from pathlib import Path
from urllib.parse import unquote_to_bytes

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attnviewer.cli import main
from attnviewer.cli.outputs import print_result
from attnviewer.errors import printable
from attnviewer.kinds import TEXT
from attnviewer.types import Hypothesis, Result

from .helpers import mount_tmpfs

SENTENCE = "the big dog saw a small cat in the garden"
TR = ["translate", SENTENCE, "--greedy", "--device", "cpu"]
COUNTS: dict[str, int] = {}


def _one_line_error(capsys, rc) -> str:
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.count("\n") == 0 and err.startswith("attnviewer: error:"), err
    assert "Traceback" not in err
    return err


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


# ---- 1. the outputs of one input are written as a set ------------------------------------------

@pytest.mark.parametrize("failing", ["figure", "animation"])
def test_a_failing_writer_leaves_no_output_and_the_rerun_needs_no_overwrite(tmp_path, capsys, monkeypatch, failing):
    out = tmp_path / "out"
    out.mkdir()
    argv = TR + ["--json", str(out / "r.json"), "--figure", str(out / "m.png"), "--animation", str(out / "a.gif")]
    real = type(TEXT).write

    def full_disk(self, output, media, result, path, style, opts):
        if output == failing:
            Path(path).write_bytes(b"half")  # a writer that got part of the way
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, output, media, result, path, style, opts)

    monkeypatch.setattr(type(TEXT), "write", full_disk)
    err = _one_line_error(capsys, main(argv))
    assert "disk is full" in err and ".part" not in err, err
    assert err.endswith(f"{out / ('m.png' if failing == 'figure' else 'a.gif')}: cannot write, the disk is full")
    assert _names(out) == set(), "a failed set left files (or temporaries) behind"

    monkeypatch.setattr(type(TEXT), "write", real)
    assert main(argv) == 0, capsys.readouterr().err
    assert _names(out) == {"r.json", "r.npz", "m.png", "a.gif"}
    data = json.loads((out / "r.json").read_text(encoding="utf-8"))
    assert data["arrays"] == "r.npz"  # the final NPZ, not the temporary it was written as
    assert oct((out / "m.png").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_really_full_disk_leaves_the_whole_set_or_nothing(tmp_path, capsys):
    disk = tmp_path / "disk"
    why = mount_tmpfs(disk, "400k")
    if why:
        pytest.skip(why)
    try:
        free_sizes = [0, 1_000, 4_000, 12_000, 30_000, 60_000, 120_000, 250_000]
        outcomes = []
        for free in free_sizes:
            for p in disk.iterdir():
                p.unlink()
            st_ = os.statvfs(disk)
            total_free = st_.f_bavail * st_.f_frsize
            filler = max(0, total_free - free)
            with open(disk / "filler", "wb") as f:
                try:
                    f.write(b"\0" * filler)
                except OSError:
                    pass
            before = _names(disk)
            rc = main(TR + ["--json", str(disk / "r.json"), "--figure", str(disk / "m.png"), "--overwrite"])
            captured = capsys.readouterr()
            made = _names(disk) - before
            if rc == 0:
                assert made == {"r.json", "r.npz", "m.png"}, made
                json.loads((disk / "r.json").read_text(encoding="utf-8"))
            else:
                assert rc == 2 and captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
                assert made == set(), f"{free} bytes free: a partial set {made}"
            outcomes.append(rc)
        COUNTS["full disk"] = len(free_sizes)
        assert 2 in outcomes and 0 in outcomes, outcomes  # both a refused and a complete set were seen
    finally:
        subprocess.run(["umount", str(disk)], check=False)


# ---- 2. symlinks at an output are replaced, never written through -------------------------------

def test_symlinks_at_an_output_are_replaced_not_followed(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dangling = tmp_path / "dangling.png"
    dangling.symlink_to(elsewhere / "target.png")
    err = _one_line_error(capsys, main(TR + ["--figure", str(dangling)]))
    assert "symlink" in err and "--overwrite" in err
    assert dangling.is_symlink() and not (elsewhere / "target.png").exists()

    assert main(TR + ["--figure", str(dangling), "--overwrite"]) == 0
    assert not dangling.is_symlink() and dangling.read_bytes()[:4] == b"\x89PNG"
    assert not (elsewhere / "target.png").exists(), "wrote through a dangling symlink"

    precious = elsewhere / "precious.json"
    precious.write_text("keep me")
    link = tmp_path / "r.json"
    link.symlink_to(precious)
    assert main(TR + ["--json", str(link), "--overwrite"]) == 0
    assert not link.is_symlink() and json.loads(link.read_text())["schema"]
    assert precious.read_text() == "keep me", "wrote through a symlink"
    assert not (tmp_path / "r.npz").is_symlink()
    capsys.readouterr()


# ---- 3. over-long, endless and non-UTF-8 text --------------------------------------------------

def test_a_sentence_past_the_model_s_limit_is_refused_before_the_model_loads(tmp_path, capsys, monkeypatch):
    from attnviewer import pipeline

    def no_loading(*a, **k):
        raise AssertionError("the model was loaded for a text it cannot read")

    monkeypatch.setattr(pipeline, "load_model", no_loading)
    start = time.perf_counter()
    words = " ".join(["dog"] * 10_000)
    err = _one_line_error(capsys, main(["translate", words, "--figure", str(tmp_path / "m.png"), "--device", "cpu"]))
    assert time.perf_counter() - start < 5 and "at most" in err
    assert _names(tmp_path) == set()


def test_endless_or_huge_files_are_read_with_a_limit(tmp_path, capsys):
    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as f:  # sparse: 11 MB of text-looking bytes would do the same
        f.write(b"the fox . " * 10)
        f.truncate(11 * 1024 * 1024)
    cases = [huge]
    if os.path.exists("/dev/zero"):
        cases.append(Path("/dev/zero"))
    for path in cases:
        start = time.perf_counter()
        err = _one_line_error(capsys, main(["translate", "--file", str(path), "--device", "cpu"]))
        says = "too large" if path == huge else "is a character device, not a regular file"  # refused unread
        assert says in err and time.perf_counter() - start < 5, err
    COUNTS["huge files"] = len(cases)


@pytest.mark.parametrize("raw", [b"caf\xe9 dog", b"\xff\xfe", b"the dog \xc3", b"\xed\xa0\x80 dog"])
def test_a_sentence_argument_that_is_not_utf8_is_refused_in_one_line(tmp_path, capsys, raw):
    sentence = os.fsdecode(raw)
    err = _one_line_error(capsys, main(["translate", sentence, "--json", str(tmp_path / "r.json"), "--device", "cpu"]))
    assert "UTF-8" in err
    assert _names(tmp_path) == set()


# ---- 4. non-UTF-8 file names, escape codes ----------------------------------------------------

def test_a_file_name_that_is_not_utf8_is_stored_losslessly_and_printed_escaped(tmp_path, samples):
    raw_name = b"pic\xff\x1b[31m.png"
    folder = os.fsencode(tmp_path)
    with open(os.path.join(folder, raw_name), "wb") as f:
        f.write(samples[0].read_bytes())
    image = os.fsdecode(os.path.join(folder, raw_name))
    out = tmp_path / "r.json"
    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict", PYTHONUTF8="0", LC_ALL="C.UTF-8")
    r = subprocess.run([sys.executable, "-m", "attnviewer", "caption", os.fsencode(image), "--greedy", "--device", "cpu",
                        "--json", os.fsencode(out)], capture_output=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
    assert b"\x1b" not in r.stdout and b"\xff" not in r.stdout
    assert b"pic\\xff\\x1b[31m.png" in r.stdout
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["source"].endswith("pic\\xff\x1b[31m.png")
    assert unquote_to_bytes(data["source_bytes"]) == os.path.join(folder, raw_name)
    assert np.load(tmp_path / "r.npz")["attention_0"].size


def _control_text():
    controls = st.sampled_from([chr(c) for c in (*range(0, 32), 127, *range(0x80, 0xA0))]
                               + ["\u202e", "\u2028", "\udcff", "\x1b[2J", "\x1b]0;title\x07"])
    return st.lists(st.one_of(controls, st.text(min_size=1, max_size=3)), min_size=1, max_size=6).map("".join)


def _raw(text: str) -> bool:
    """True if the text holds anything a terminal should not get raw."""
    return any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or c == "\u202e" for c in text if c != "\n")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tokens=st.lists(_control_text(), min_size=1, max_size=4), source=_control_text())
def test_escape_codes_in_words_and_sources_never_reach_the_terminal_raw(tokens, source):
    COUNTS["escape codes"] = COUNTS.get("escape codes", 0) + 1
    n = len(tokens)
    hyp = Hypothesis(tokens=tokens, token_ids=list(range(n)), log_prob=-1.0, score=-1.0, probs=[0.5] * n,
                     alternatives=[[] for _ in tokens], attention=np.full((n, 3), 1 / 3, np.float32))
    result = Result(source=source, model="m", settings={}, hypotheses=[hyp, hyp], kind="translate",
                    source_tokens=["a", "\x1bb", "c"], note="\x1b[1mnote")
    lines = []
    print_result(TEXT, result, "beam", log=lines.append)
    for line in lines:
        assert not _raw(line), repr(line)
        line.encode("utf-8")  # no surrogates left: prints on any UTF-8 terminal
    assert printable("\x1b") == "\\x1b" and printable("plain words") == "plain words"


def test_a_name_with_lone_surrogates_prints_them_as_bytes_and_its_letters_as_they_are():
    assert printable("café-\udcff.png") == "café-\\xff.png"  # os.fsdecode's stand-in: the byte it stands for
    assert printable("café-\ud800") == "café-\\xed\\xa0\\x80"  # any other (a JSON "\\ud800"): its UTF-8 form


# ---- 5. train --out, eval --n -----------------------------------------------------------------

@pytest.mark.parametrize("task", ["caption", "video", "translate"])
def test_train_refuses_an_existing_out_without_overwrite(tmp_path, capsys, task):
    out = tmp_path / f"{task}.safetensors"
    out.write_bytes(b"an older checkpoint")
    err = _one_line_error(capsys, main(["train", task, "--out", str(out), "--device", "cpu"]))
    assert "--overwrite" in err and out.read_bytes() == b"an older checkpoint"


@pytest.mark.parametrize("argv", [["eval", "caption", "--n", "0"], ["eval", "translate", "--n", "0"],
                                  ["eval", "video", "--n", "-1"], ["eval", "video", "--n", "0"]])
def test_eval_refuses_no_examples_in_one_line(capsys, argv):
    err = _one_line_error(capsys, main(argv + ["--device", "cpu"]))
    assert "--n" in err


def test_zz_case_counts(capsys):
    with capsys.disabled():
        print(f"\ngenerated cases: {COUNTS}")
