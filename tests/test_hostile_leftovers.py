"""What was left of issue 13 ("every file from disk is untrusted"), closed here:

1. a result saved for a file whose name is not valid UTF-8 reopens (`export`, File → Open result)
   from its exact bytes (`source_bytes`), the name shown escaped (\\xNN), never raw or mangled;
2. decoded image memory is bounded (see media/images.py): measured as the peak resident memory
   of a subprocess decoding generated extreme images;
3. Python warnings from anywhere (torch at model load, numpy, matplotlib glyphs, Pillow) reach the
   user as one escaped line each, never as a multi-line warning dump;
4. all or nothing per input in folder captioning and for `video --top-frames`: the last output
   failing leaves nothing of that input's set and no temporary file, and a rerun then succeeds.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attnviewer.cli import main
from attnviewer.errors import MediaError
from attnviewer.export.data import load_result, write_result
from attnviewer.types import Hypothesis, Result

from .helpers import GUI_TIMEOUT

ODD = b"pic\xff\x1b[31m.png"  # not UTF-8, and an escape code: both legal in a Linux file name


def _one_line_error(capsys, rc) -> str:
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.count("\n") == 0 and err.startswith("attnviewer: error:"), err
    assert "Traceback" not in err and "\x1b" not in err, err
    err.encode("utf-8")  # no surrogates: prints on any UTF-8 terminal
    return err


def _odd_image(folder: Path, sample: Path) -> str:
    """A copy of `sample` under the name ODD; the path as Python holds it (surrogates for the odd bytes)."""
    raw = os.path.join(os.fsencode(folder), ODD)
    with open(raw, "wb") as f:
        f.write(sample.read_bytes())
    return os.fsdecode(raw)


# ---- 1. results of files whose names are not UTF-8 ----------------------------------------------

@pytest.fixture
def odd_result(tmp_path, samples, tiny_checkpoint, capsys):
    """(image path, result JSON) of `caption` on an image whose name is not valid UTF-8."""
    image = _odd_image(tmp_path, samples[0])
    out = tmp_path / "r.json"
    assert main(["caption", image, "--model", str(tiny_checkpoint), "--greedy", "--device", "cpu",
                 "--json", str(out)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    return image, out


def test_a_result_of_a_non_utf8_name_reopens_from_its_exact_bytes(odd_result, tmp_path, capsys):
    image, out = odd_result
    data = json.loads(out.read_text("utf-8"))
    assert "source_bytes" in data and "\\xff" in data["source"]
    for saved in (out, out.with_suffix(".npz")):  # the JSON, and the NPZ alone
        assert load_result(saved).source == image  # the file's own name again, not its printable form
    assert main(["export", str(out), "--figure", str(tmp_path / "f.png")]) == 0, capsys.readouterr().err
    assert (tmp_path / "f.png").stat().st_size > 0

    os.rename(image, tmp_path / "moved.png")  # the image gone: the error shows its name escaped
    err = _one_line_error(capsys, main(["export", str(out), "--figure", str(tmp_path / "g.png")]))
    assert "pic\\xff\\x1b[31m.png" in err and "is gone" in err, err
    assert not (tmp_path / "g.png").exists()


def test_a_reopened_result_saves_the_same_name_again(odd_result, tmp_path):
    image, out = odd_result
    again = tmp_path / "again.json"
    write_result(load_result(out), again)
    first, second = (json.loads(p.read_text("utf-8")) for p in (out, again))
    assert (second["source"], second["source_bytes"]) == (first["source"], first["source_bytes"])
    assert load_result(again).source == image


def _result(source: str) -> Result:
    hyp = Hypothesis(tokens=["a", "b"], token_ids=[4, 5], log_prob=-1.0, score=-1.0, probs=[0.5, 0.5],
                     alternatives=[[], []], attention=np.full((2, 2, 2), 0.25, np.float32))
    return Result(source=source, model="m", settings={}, hypotheses=[hyp], kind="caption", image_size=(32, 32))


NAME_BYTES = st.binary(min_size=1, max_size=40).filter(lambda b: b"\0" not in b and b"/" not in b)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAME_BYTES)
def test_any_file_name_round_trips_through_json_and_npz(tmp_path, name):
    source = os.fsdecode(b"/photos/" + name)
    out = tmp_path / "r.json"
    write_result(_result(source), out, out.with_suffix(".npz"))
    for saved in (out, out.with_suffix(".npz")):
        assert os.fsencode(load_result(saved).source) == b"/photos/" + name


@pytest.mark.parametrize("bad, says", [
    ("/photos/pic%FE.png", "must be the bytes of source"),  # another name than `source`
    ("/photos/pic\x1b.png", "percent-encoded"),
    ("/photos/pic%00.png", "NUL"),
    ("", "not empty"),
])
def test_a_forged_source_bytes_is_refused_in_one_line(odd_result, tmp_path, capsys, bad, says):
    _, out = odd_result
    data = json.loads(out.read_text("utf-8"))
    data.pop("arrays")
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(dict(data, source_bytes=bad), ensure_ascii=False), "utf-8")
    with pytest.raises(MediaError, match="source_bytes") as e:
        load_result(forged)
    assert says in str(e.value) and "\n" not in str(e.value)
    err = _one_line_error(capsys, main(["export", str(forged), "--figure", str(tmp_path / "f.png")]))
    assert "source_bytes" in err


def test_the_window_opens_the_result_and_shows_the_name_escaped(qtbot, window, odd_result):
    image, out = odd_result
    window.open_result(str(out))
    qtbot.waitUntil(lambda: window.shown is not None and window.shown.path == image, timeout=GUI_TIMEOUT)
    assert window.windowTitle().startswith("pic\\xff\\x1b[31m.png")
    words = [w.token for w in window.sides["main"].state.words]
    assert words == [w["token"] for w in json.loads(out.read_text("utf-8"))["hypotheses"][0]["words"]]

    shutil.move(image, out.parent / "moved.png")  # gone: one escaped line in the banner
    window.error_banner.hide()
    window.open_result(str(out))
    qtbot.waitUntil(lambda: window.error_banner.isVisible() and window.jobs.opening is None, timeout=GUI_TIMEOUT)
    assert "pic\\xff\\x1b[31m.png" in window.last_error and "\x1b" not in window.last_error
    assert window.shown.path == image  # what was on screen stays
