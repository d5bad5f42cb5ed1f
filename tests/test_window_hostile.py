"""Hostile files opened in the window the way a user would (issue 13, section 5): a sample of each
generated class (hostile checkpoints, hostile results, bad images and videos, bad sentences) after
a good caption is on screen. Each gives one line naming the file in the error banner, and what was
on screen stays: the same input, the same words, the same model in the model box. The window
fixture checks that no thread is left running. Waits are on conditions, never sleeps.

The generators are the CLI suites' (test_hostile_headers, test_hostile_results, test_bad_input),
imported, with fewer examples and fixed seeds. COUNTS says how many cases of each class ran."""
from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from attnviewer.resources import sample_dir

from .helpers import GUI_TIMEOUT, caption_done
from .test_bad_input import BAD_IMAGES
from .test_hostile_headers import (
    SOURCES,
    _a_weight,
    _with_tensor,
    mutated,
    mutations,
    write,
)
from .test_hostile_results import CONTROL, npy_header, rezip, words_of

COUNTS: Counter = Counter()
SAMPLE = settings(max_examples=8, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                         HealthCheck.data_too_large, HealthCheck.large_base_example])
CLIP = sample_dir() / "clip-1.mp4"


# ---- opening things the way a user does ----------------------------------------------------------

def drop(window, path) -> None:
    """Drag a file from the file manager onto the window."""
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def screen(window):
    """What is on screen: the input, its words, the job they came from, the model, the media pane."""
    side = window.sides["main"]
    return (window.shown, [w.token for w in side.state.words], side.state.job, side.controls.model_name(),
            side.controls.kind, window.media_stack.currentWidget(), side.state.result)


def refused(qtbot, window, cls: str, open_it, names: str | None) -> str:
    """Open something hostile; check the one-line message, the banner and that the screen stayed."""
    before = screen(window)
    window.error_banner.hide()
    window.last_error = ""
    open_it()
    side = window.sides["main"]
    qtbot.waitUntil(lambda: window.error_banner.isVisible() and side.jobs.pending is None
                    and window.jobs.opening is None, timeout=GUI_TIMEOUT)
    message = window.last_error
    assert message and "\n" not in message and "Traceback" not in message, message[:500]
    assert len(message) < 600, message[:600]
    if names is not None:
        assert names in message, (names, message[:300])
    assert screen(window) == before, (cls, message[:300])
    assert not window.read_progress.isVisible()
    COUNTS[cls] += 1
    return message


@pytest.fixture
def on_screen(qtbot, window, samples):
    caption_done(qtbot, window, samples[0])
    return window


# ---- hostile checkpoints -------------------------------------------------------------------------

def test_generated_hostile_checkpoints(qtbot, on_screen, tmp_path):
    window = on_screen
    ran = Counter()

    @settings(SAMPLE, max_examples=16)
    @given(mutations("caption"), st.booleans())
    def check(case, by_drop):
        what, change = case
        ran[what] += 1
        model = write(tmp_path / f"m{sum(ran.values())}.safetensors", mutated("caption", change), SOURCES["caption"][1])
        opener = (lambda: drop(window, model)) if by_drop else (lambda: window.open_checkpoint(str(model)))
        refused(qtbot, window, "checkpoint: generated header", opener, model.name)

    check()
    assert sum(ran.values()) >= 12, ran


@pytest.mark.parametrize("case", ["nan", "inf", "int64", "int32", "huge tensor", "other kind", "raw header",
                                  "deep header", "truncated", "unknown kind", "kind a list"])
def test_hostile_checkpoints(qtbot, on_screen, tmp_path, case):
    window = on_screen
    name = _a_weight("caption")
    shape = SOURCES["caption"][0][name]["shape"]
    model = tmp_path / "bad.safetensors"
    if case in ("nan", "inf"):
        values = np.zeros(shape, np.float32)
        values.flat[0] = np.nan if case == "nan" else np.inf
        write(model, *_with_tensor("caption", name, values=values))
    elif case.startswith("int"):
        write(model, *_with_tensor("caption", name, case.upper().replace("INT", "I"),
                                   np.ones(shape, getattr(np, case))))
    elif case == "huge tensor":
        write(model, *_with_tensor("caption", name, shape=[50_000, 50_000]))  # 10 GB declared
    elif case == "other kind":
        write(model, *SOURCES["video"])  # a fine video model, but an image is on screen
    elif case in ("unknown kind", "kind a list"):  # the window used to raise KeyError/TypeError here
        write(model, mutated("caption", {"kind": "nonsense" if case == "unknown kind" else ["caption"]}),
              SOURCES["caption"][1])
    elif case == "raw header":
        write(model, b"{1, 2]", SOURCES["caption"][1])
    elif case == "deep header":
        write(model, b'{"a": ' * 5000, SOURCES["caption"][1])
    else:
        model.write_bytes(write(tmp_path / "whole.safetensors", *SOURCES["caption"]).read_bytes()[:5000])
    refused(qtbot, window, "checkpoint: explicit", lambda: window.open_checkpoint(str(model)), model.name)


def test_a_pickle_refused_in_the_dialog_is_never_loaded(qtbot, on_screen, tmp_path, monkeypatch):
    window = on_screen
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No)
    for i, how in enumerate(("open", "drop", "open")):
        evil = tmp_path / f"model{i}.{'pt' if i % 2 == 0 else 'pth'}"
        torch.save({"payload": Evil()}, evil)
        opener = (lambda e=evil: drop(window, e)) if how == "drop" else (lambda e=evil: window.open_checkpoint(str(e)))
        message = refused(qtbot, window, "checkpoint: pickle refused", opener, str(evil))
        assert "pickle checkpoint refused" in message
    assert len(asked) == 3 and not marker.exists()
    # a pickle that is not even a pickle: refused too, answered No
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x80\x04not really a pickle")
    refused(qtbot, window, "checkpoint: pickle refused", lambda: window.open_checkpoint(str(junk)), str(junk))
    assert not marker.exists()


# ---- hostile results -----------------------------------------------------------------------------

@pytest.fixture
def real_result(on_screen, tmp_path):
    """The caption on screen saved as a result (JSON and NPZ): its JSON document and NPZ bytes."""
    from attnviewer.export.data import write_result

    folder = tmp_path / "real"
    folder.mkdir()
    out = folder / "r.json"
    write_result(on_screen.sides["main"].state.result, out, folder / "r.npz")
    return json.loads(out.read_text()), (folder / "r.npz").read_bytes()


def result_files(folder: Path, doc, npz: bytes | None, text: str | None = None) -> Path:
    folder.mkdir()
    doc = dict(doc)
    if npz is not None:
        doc["arrays"] = "R.npz"
        (folder / "R.npz").write_bytes(npz)
    else:
        doc.pop("arrays", None)
    path = folder / "R.json"
    path.write_text(text if text is not None else json.dumps(doc, ensure_ascii=False, allow_nan=True), "utf-8")
    return path


def test_generated_hostile_results(qtbot, on_screen, real_result, tmp_path):
    window = on_screen
    doc0, npz = real_result
    n = Counter()

    @settings(SAMPLE, max_examples=30)
    @given(st.sampled_from(["deep", "huge npz", "shapes", "control", "truncated npz"]), st.data())
    def check(how, data):
        n[how] += 1
        doc = copy.deepcopy(doc0)
        folder = tmp_path / f"case{sum(n.values())}"
        names = "R.json"
        if how == "deep":
            depth = data.draw(st.integers(1_000, 100_000))
            deep = "[" * depth + "]" * depth
            path = result_files(folder, doc, None, json.dumps(dict(doc, note="\u2603")).replace('"\\u2603"', deep))
        elif how == "huge npz":
            shape = data.draw(st.lists(st.integers(1000, 10**6), min_size=2, max_size=3).map(tuple))
            bad = rezip(npz, {"attention_0.npy": npy_header(shape) + b"\0" * 64})
            open_npz = data.draw(st.booleans())
            path = result_files(folder, doc, bad)
            if open_npz:
                path, names = folder / "R.npz", "R.npz"
            else:
                names = "R.npz"
        elif how == "shapes":
            shape = doc["attention_shape"]
            k = data.draw(st.integers(0, len(shape) - 1))
            shape[k] = data.draw(st.one_of(st.integers(-10**9, 0), st.integers(1, 10**9).filter(lambda v: v != shape[k])))
            path = result_files(folder, doc, None)
        elif how == "control":
            i, j = data.draw(st.sampled_from(words_of(doc)))
            doc["hypotheses"][i]["words"][j]["token"] = "w" + data.draw(CONTROL.filter(lambda c: c not in "\t\n")) + "x"
            path = result_files(folder, doc, None)
        else:
            cut = data.draw(st.floats(0, 0.9))
            path = result_files(folder, doc, npz[:int(len(npz) * cut)])
            names = "R.npz"
        opener = (lambda: drop(window, path)) if data.draw(st.booleans()) else (lambda: window.open_result(str(path)))
        refused(qtbot, window, f"result: {how}", opener, names)

    check()
    assert sum(n.values()) >= 20 and len(n) == 5, n


def test_a_good_result_still_opens_after_the_hostile_ones(qtbot, on_screen, real_result, tmp_path):
    window = on_screen
    doc, npz = real_result
    bad = result_files(tmp_path / "bad", dict(doc, attention_shape=[-1, 3]), None)
    refused(qtbot, window, "result: shapes", lambda: window.open_result(str(bad)), "R.json")
    good = result_files(tmp_path / "good", doc, npz)
    window.open_result(str(good))
    qtbot.waitUntil(lambda: window.shown is not None and window.shown.path == doc["source"], timeout=GUI_TIMEOUT)
    assert [w.token for w in window.sides["main"].state.words] == [w["token"] for w in doc["hypotheses"][0]["words"]]


# ---- bad images and videos -----------------------------------------------------------------------

def truncated_clip(path):
    path.write_bytes(CLIP.read_bytes()[:3000])
    return path


BAD_MEDIA = {
    **BAD_IMAGES,
    "cut.mp4": (truncated_clip, "broken.mp4"),
    "notes.mp4": (lambda p: (p.write_text("not a video at all\n"), p)[1], None),
    "empty.mp4": (lambda p: (p.write_bytes(b""), p)[1], None),
    "png-named.mp4": (lambda p: (p.write_bytes((sample_dir() / "shapes-1.png").read_bytes()), p)[1], None),
}


@pytest.mark.parametrize("by_drop", [False, True], ids=["open", "drop"])
def test_bad_images_and_videos(qtbot, on_screen, tmp_path, by_drop):
    window = on_screen
    for name, (make, _) in BAD_MEDIA.items():
        path = make(tmp_path / name)
        opener = (lambda p=path: drop(window, p)) if by_drop else (lambda p=path: window.open_file(str(p)))
        refused(qtbot, window, "media: bad image or video", opener, str(path))


# ---- bad sentences -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, needle", [
    ("  ... !! ", "only punctuation"), ("?!,;:", "only punctuation"), ("\u3002\u3001", None),
    (" ".join(["dog"] * 10_000), "at most"), (" ".join(["the"] * 200), "at most"), ("\x1b[2J \x00", None),
])
def test_bad_sentences(qtbot, on_screen, text, needle):
    window = on_screen
    message = refused(qtbot, window, "sentence", lambda: window.translate(text), needle)
    assert "\x1b" not in message and "\x00" not in message and len(message) < 600


def test_zz_counts():
    """The generated cases per class that ran in the window (printed with -s)."""
    print("\nwindow hostile cases:", dict(sorted(COUNTS.items())))
