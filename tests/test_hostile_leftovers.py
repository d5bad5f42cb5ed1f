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

from .helpers import GUI_TIMEOUT, mount_tmpfs

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
    attention = np.random.default_rng(0).dirichlet(np.ones(4), 2).astype(np.float32).reshape(2, 2, 2)
    hyp = Hypothesis(tokens=["a", "b"], token_ids=[4, 5], log_prob=-1.0, score=-1.0, probs=[0.5, 0.5],
                     alternatives=[[], []], attention=attention)
    return Result(source=source, model="m", settings={}, hypotheses=[hyp], kind="caption", image_size=(32, 32))


NAME_BYTES = st.binary(min_size=1, max_size=40).filter(lambda b: b"\0" not in b and b"/" not in b)


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAME_BYTES)
def test_any_file_name_round_trips_through_json_and_npz(tmp_path, name):
    """The input's name and the result files' own names (the JSON names its NPZ) may be any bytes."""
    result = _result(os.fsdecode(b"/photos/" + name))
    out = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), name + b".json")))
    write_result(result, out, out.with_suffix(".npz"))
    for saved in (out, out.with_suffix(".npz")):
        back = load_result(saved)
        assert os.fsencode(back.source) == b"/photos/" + name
        assert np.array_equal(back.best.attention, result.best.attention)  # the NPZ's exact floats, found by name


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


def test_the_window_opens_an_image_of_a_non_utf8_name_and_shows_it_escaped(qtbot, window, tmp_path, samples):
    from .helpers import caption_done

    image = _odd_image(tmp_path, samples[0])
    caption_done(qtbot, window, image)
    assert window.windowTitle().startswith("pic\\xff\\x1b[31m.png")
    assert window.sides["main"].state.result.source == image  # the exact name, for saving and reopening


# ---- 4. all or nothing: folder captioning per input, and `video --top-frames` --------------------

def _folder(tmp_path: Path, samples) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for s in samples[:3]:
        shutil.copy(s, folder / s.name)
    return folder


def _sets(out: Path) -> dict[str, set[str]]:
    """OUTDIR's files by image stem; temporaries (hidden names) under '.'."""
    found: dict[str, set[str]] = {}
    for p in out.iterdir():
        key = "." if p.name.startswith(".") else p.name.split(".")[0]
        found.setdefault(key, set()).add(p.name)
    return found


FULL_SET = {"json", "npz", "png"}


def _complete(out: Path, stem: str) -> bool:
    names = _sets(out).get(stem, set())
    return names == {f"{stem}.{s}" for s in FULL_SET} and json.loads((out / f"{stem}.json").read_text("utf-8"))["input"]


def _fail_figure_of(monkeypatch, stem: str, error: Exception) -> None:
    """The figure (the last output of an image's set) of one image fails, after writing part of it."""
    from attnviewer.kinds import IMAGE

    real = type(IMAGE).write

    def failing(self, output, media, result, path, style, opts):
        if output == "figure" and Path(media.path).stem == stem:
            Path(path).write_bytes(b"\x89PNG half")
            raise error
        return real(self, output, media, result, path, style, opts)

    monkeypatch.setattr(type(IMAGE), "write", failing)


def _caption_folder(folder, out, checkpoint) -> list[str]:
    return ["caption", str(folder), "--out", str(out), "--model", str(checkpoint), "--greedy", "--device", "cpu"]


def test_folder_a_figure_that_cannot_be_drawn_skips_that_image_whole(tmp_path, samples, tiny_checkpoint, capsys,
                                                                     monkeypatch):
    folder, out = _folder(tmp_path, samples), tmp_path / "out"
    argv = _caption_folder(folder, out, tiny_checkpoint)
    _fail_figure_of(monkeypatch, "shapes-2", RuntimeError("the figure cannot be drawn"))
    assert main(argv) == 0
    captured = capsys.readouterr()
    warnings_ = [line for line in captured.err.splitlines() if "shapes-2" in line]
    assert len(warnings_) == 1 and "skipped" in warnings_[0] and "Traceback" not in captured.err, captured.err
    assert "2 done, 1 skipped" in captured.out
    assert "shapes-2" not in _sets(out) and "." not in _sets(out), _sets(out)  # nothing of it, no temporary
    assert _complete(out, "shapes-1") and _complete(out, "shapes-3")

    monkeypatch.undo()
    assert main(argv) == 0, capsys.readouterr().err
    assert "1 done, 0 skipped, 2 already done" in capsys.readouterr().out
    assert all(_complete(out, f"shapes-{i}") for i in (1, 2, 3)) and "." not in _sets(out)


def test_folder_a_full_disk_at_the_last_output_stops_with_nothing_of_that_image(tmp_path, samples, tiny_checkpoint,
                                                                                capsys, monkeypatch):
    import errno

    folder, out = _folder(tmp_path, samples), tmp_path / "out"
    argv = _caption_folder(folder, out, tiny_checkpoint)
    _fail_figure_of(monkeypatch, "shapes-2", OSError(errno.ENOSPC, "No space left on device"))
    err = _one_line_error(capsys, main(argv))
    assert err.endswith(f"{out / 'shapes-2.png'}: cannot write, the disk is full"), err
    assert set(_sets(out)) == {"shapes-1"} and _complete(out, "shapes-1")  # the run stopped there

    monkeypatch.undo()
    assert main(argv) == 0, capsys.readouterr().err
    assert "2 done, 0 skipped, 1 already done" in capsys.readouterr().out
    assert all(_complete(out, f"shapes-{i}") for i in (1, 2, 3)) and "." not in _sets(out)


def test_folder_on_a_really_full_disk_leaves_whole_sets_and_continues(tmp_path, samples, tiny_checkpoint, capsys):
    """A 900 KiB tmpfs holds one image's set (about 0.5 MB, mostly the figure) but not two."""
    import subprocess

    disk = tmp_path / "disk"
    why = mount_tmpfs(disk, "900k")
    if why:
        pytest.skip(why)
    try:
        folder, out = _folder(tmp_path, samples), disk / "out"
        argv = _caption_folder(folder, out, tiny_checkpoint)
        err = _one_line_error(capsys, main(argv))
        assert "the disk is full" in err, err
        sets = _sets(out)
        assert "." not in sets, sets  # no temporary left behind
        for stem in sets:
            assert _complete(out, stem), (stem, sets)  # whole sets only
        assert 1 <= len(sets) < 3, sets

        subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)  # room made: the rerun ends it
        assert main(argv) == 0, capsys.readouterr().err
        assert f"{3 - len(sets)} done, 0 skipped, {len(sets)} already done" in capsys.readouterr().out
        assert all(_complete(out, f"shapes-{i}") for i in (1, 2, 3)) and "." not in _sets(out)
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_video_top_frames_failing_last_leaves_no_output(tmp_path, capsys, monkeypatch):
    """The folder tests above cover a failure that is not ours (skipped); here the disk fills."""
    import errno

    from attnviewer.kinds import VIDEO
    from attnviewer.resources import sample_dir

    out = tmp_path / "out"
    out.mkdir()
    argv = ["video", str(sample_dir() / "clip-1.mp4"), "--greedy", "--device", "cpu", "--json", str(out / "r.json"),
            "--figure", str(out / "strip.png"), "--top-frames", str(out / "top.png")]
    real = type(VIDEO).write
    seen = []

    def failing(self, output, media, result, path, style, opts):
        seen.append(output)
        if output == "top_frames":
            Path(path).write_bytes(b"\x89PNG half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, output, media, result, path, style, opts)

    monkeypatch.setattr(type(VIDEO), "write", failing)
    err = _one_line_error(capsys, main(argv))
    assert err.endswith(f"{out / 'top.png'}: cannot write, the disk is full"), err
    assert seen[-1] == "top_frames" and "figure" in seen  # it was the last, after the strip was written
    assert list(out.iterdir()) == [], sorted(p.name for p in out.iterdir())

    monkeypatch.undo()
    assert main(argv) == 0, capsys.readouterr().err
    assert {p.name for p in out.iterdir()} == {"r.json", "r.npz", "strip.png", "top.png"}


# ---- 3. Python warnings: one escaped line each ---------------------------------------------------

def _warned(err: str) -> list[str]:
    """stderr's lines, each checked to be one of ours (no Python warning dump, no raw escapes)."""
    lines = err.splitlines()
    for line in lines:
        assert line.startswith("attnviewer: "), f"not one of our lines: {line!r}\n{err}"
        assert "Warning:" not in line and "\x1b" not in line, line
    return [line for line in lines if line.startswith("attnviewer: warning: ")]


@pytest.fixture
def user_warnings():
    """The warning filters of a user's Python (pytest turns warnings into errors)."""
    import warnings

    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("default")
        yield


@pytest.fixture(scope="module")
def complex_pickle(tmp_path_factory):
    """A trusted pickle checkpoint with one complex weight: torch warns when it casts it on load."""
    import dataclasses

    import torch

    from .helpers import tiny_captioner

    model = tiny_captioner(seed=1, max_len=6, end_bias=-4.0)
    state = model.state_dict()
    state["fc.bias"] = state["fc.bias"].to(torch.complex64)
    path = tmp_path_factory.mktemp("warn") / "complex.pt"
    torch.save({"kind": "caption", "config": dataclasses.asdict(model.config), "vocab": model.vocab,
                "state_dict": state}, path)
    return path


@pytest.fixture(scope="module")
def nan_domain(tmp_path_factory, bundled_model_path):
    """The bundled captioner with an infinite whitening scale in its domain record."""
    import base64

    from safetensors.torch import load_file, save_file

    from attnviewer.catalog import read_metadata

    meta = dict(read_metadata(bundled_model_path))
    rec = json.loads(meta["domain"])
    rec["whiten_scale"] = base64.b64encode(np.full(int(rec["dim"]), np.inf, np.float32).tobytes()).decode()
    path = tmp_path_factory.mktemp("warn") / "nan-domain.safetensors"
    save_file(load_file(str(bundled_model_path)), str(path), metadata=dict(meta, domain=json.dumps(rec)))
    return path


@pytest.fixture
def numpy_warns(monkeypatch):
    """Measuring an input's distance from the training data sets off a real numpy warning."""
    from attnviewer import domain

    measure = domain.measure

    def warning_measure(*args):
        np.log(np.zeros(1))  # RuntimeWarning: divide by zero encountered in log
        return measure(*args)

    monkeypatch.setattr(domain, "measure", warning_measure)


def test_a_torch_warning_at_model_load_is_one_line(complex_pickle, samples, capsys, user_warnings):
    rc = main(["caption", str(samples[0]), "--model", str(complex_pickle), "--trust-pickle", "--greedy",
               "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert _warned(err) == ["attnviewer: warning: Casting complex values to real discards the imaginary part"]


def test_a_numpy_warning_is_one_line(numpy_warns, samples, capsys, user_warnings):
    rc = main(["caption", str(samples[0]), "--greedy", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert _warned(err) == ["attnviewer: warning: divide by zero encountered in log"], err


def test_a_domain_record_of_infinities_gives_no_note_and_no_warning(nan_domain, samples, capsys, user_warnings):
    rc = main(["caption", str(samples[0]), "--model", str(nan_domain), "--greedy", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 0 and err == "", err


def test_a_glyph_missing_from_the_font_is_one_line_per_glyph(tmp_path, capsys, user_warnings):
    out = tmp_path / "t.json"
    assert main(["translate", "the dog sees a cat", "--greedy", "--device", "cpu", "--json", str(out)]) == 0
    data = json.loads(out.read_text("utf-8"))
    data.pop("arrays")
    data["source_tokens"][0] = "ஸ\u0601"  # Tamil, and an Arabic sign: neither is in the default font
    out.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    capsys.readouterr()
    assert main(["export", str(out), "--figure", str(tmp_path / "m.png")]) == 0
    said = _warned(capsys.readouterr().err)
    assert len(said) == 2 and all("missing from font" in line for line in said), said
    assert (tmp_path / "m.png").stat().st_size > 0


def test_the_window_shows_a_warning_of_the_engine_thread_in_its_status_bar(qtbot, window, numpy_warns, samples,
                                                                          caplog, user_warnings):
    from attnviewer.app import route_warnings

    from .helpers import caption_done

    shown = []
    window.statusBar().messageChanged.connect(shown.append)
    route_warnings(window)
    window.sides["main"].controls.set_model("caption-shapes")  # a model with a domain record to measure against
    caption_done(qtbot, window, samples[0])
    qtbot.waitUntil(lambda: any(m.startswith("warning: divide by zero encountered") for m in shown), timeout=GUI_TIMEOUT)
    logged = [r.getMessage() for r in caplog.records if r.name == "attnviewer"]
    assert logged and all(m.startswith("warning: ") and "\n" not in m for m in logged), logged
    assert not window.error_banner.isVisible()  # a warning is not an error: the caption is on screen


# ---- 2. decoded image memory is bounded ---------------------------------------------------------

def _chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _filtered(raw: np.ndarray, kinds: list[int], bpp: int) -> bytes:
    """PNG rows (h, rowbytes) filtered as the encoder of the PNG standard does, row k with filter kinds[k]."""
    out = []
    prev = np.zeros(raw.shape[1], np.int32)
    for row, kind in zip(raw.astype(np.int32), kinds):
        left = np.concatenate([np.zeros(bpp, np.int32), row[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])
        if kind == 4:  # Paeth: the neighbour closest to left + up - upleft
            p = left + prev - upleft
            pa, pb, pc = abs(p - left), abs(p - prev), abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
        else:
            pred = [np.zeros_like(row), left, prev, (left + prev) // 2][kind]
        out.append(bytes([kind]) + ((row - pred) % 256).astype(np.uint8).tobytes())
        prev = row
    return b"".join(out)


def _write_png(path: Path, raw: np.ndarray, width: int, depth: int, colour: int, kinds: list[int],
               palette: bytes = b"", transparency: bytes = b"", exif: bytes = b"") -> None:
    import struct
    import zlib

    bpp = max(1, {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour] * depth // 8)
    extra = (_chunk(b"PLTE", palette) if palette else b"") + (_chunk(b"tRNS", transparency) if transparency else b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, len(raw), depth, colour, 0, 0, 0))
                     + extra + (_chunk(b"eXIf", exif) if exif else b"")
                     + _chunk(b"IDAT", zlib.compress(_filtered(raw, kinds, bpp), 6)) + _chunk(b"IEND", b""))


PNG_TYPES = [(0, 1), (0, 2), (0, 4), (0, 8), (0, 16), (2, 8), (3, 1), (3, 2), (3, 4), (3, 8), (4, 8), (4, 16), (6, 8)]


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), kind=st.sampled_from(PNG_TYPES), w=st.integers(16, 70), h=st.integers(16, 70),
       strip=st.integers(1, 3000), max_side=st.integers(4, 40))
def test_png_strips_decode_every_type_and_filter_as_pillow_does_whole(tmp_path, monkeypatch, data, kind, w, h, strip,
                                                                      max_side):
    """Strips (many, of any size) unfiltered and reduced give the picture Pillow gives from the
    whole file, reduced the same way: every colour type and depth, every filter on any row."""
    from PIL import Image

    from attnviewer.media import images, strips

    colour, depth = kind
    bits = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour] * depth
    rowbytes = (w * bits + 7) // 8
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    raw = rng.integers(0, 256, (h, rowbytes), dtype=np.uint8)
    if colour == 3 and depth == 8:
        raw %= 200  # indices within the palette
    kinds = data.draw(st.lists(st.integers(0, 4), min_size=h, max_size=h))
    palette = rng.integers(0, 256, 3 * min(256, 2 ** depth), dtype=np.uint8).tobytes() if colour == 3 else b""
    alpha = rng.integers(0, 256, min(16, 2 ** depth), dtype=np.uint8).tobytes() if colour == 3 and data.draw(st.booleans()) else b""
    path = tmp_path / "p.png"
    _write_png(path, raw, w, depth, colour, kinds, palette, alpha)
    monkeypatch.setattr(strips, "STRIP_PIXELS", strip)

    got, size = strips.decode_png(path, max_side, images._to_rgb8)
    factor = max(1, max(w, h) // max_side)
    with Image.open(path) as whole:
        want = images._to_rgb8(whole)
    if factor > 1:
        want = np.asarray(Image.fromarray(want).reduce(factor))
    assert size == (w, h) and got.shape == want.shape
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1  # rounding of the two-step box mean


def test_a_large_png_is_decoded_in_strips_upright_as_its_exif_says(tmp_path, monkeypatch):
    from PIL import Image

    from attnviewer.media import images

    rgb = np.zeros((40, 90, 3), np.uint8)
    rgb[:, :30] = (255, 0, 0)  # red on the left of the stored picture
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: shown rotated 90 degrees clockwise
    path = tmp_path / "turned.png"
    _write_png(path, rgb.reshape(40, 270), 90, 8, 2, [4, 1, 2, 3, 0] * 8, exif=exif.tobytes())
    monkeypatch.setattr(images, "STRIPS_FROM", 0)
    image = images.load_image(path, max_side=45)
    assert image.original_size == (40, 90) and image.rgb.shape == (45, 20, 3)
    assert (image.rgb[:12, :, 0] > 200).all() and (image.rgb[-12:, :, 0] < 50).all()  # red now on top


PEAK_SCRIPT = """
import json, resource, sys
from attnviewer.errors import AttnViewerError
from attnviewer.media.images import load_image
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    image = load_image(sys.argv[1])
    said = {"shape": list(image.rgb.shape), "size": list(image.original_size)}
except AttnViewerError as e:
    said = {"error": str(e)}
said["grew_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps(said))
"""


def _streamed_png(path: Path, width: int, height: int, idat: bool = True, depth: int = 8) -> None:
    """An RGB PNG of any size written a block of rows at a time (what a bomb's author does: a few KB
    that decode to hundreds of MB); without idat, only its header is right."""
    import struct
    import zlib

    row = b"\x02" + bytes((i * 7) % 256 for i in range(3 * width * depth // 8))  # filter Up: rows compress to nothing
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, 2, 0, 0, 0)))
        z = zlib.compressobj(9)
        left = height if idat else 1
        block = row * max(1, (1 << 20) // len(row))
        while left:
            n = min(left, len(block) // len(row))
            f.write(_chunk(b"IDAT", z.compress(block[:n * len(row)])))
            left -= n
        f.write(_chunk(b"IDAT", z.flush()) + _chunk(b"IEND", b""))


def _peak(path: Path) -> dict:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(path)], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0 and r.stderr == "", r.stderr[-2000:]
    return json.loads(r.stdout)


@pytest.mark.parametrize("width, height, bound_mb, depth", [
    (16, 3_000_000, 120, 8), (7_000, 7_000, 120, 8), (2_000_000, 16, 180, 8),
    (6_000, 6_000, 300, 16),  # 16-bit RGB is decoded whole (144 MB in Pillow; it took 620 MB), then reduced
])
def test_extreme_pngs_open_in_bounded_memory(tmp_path, width, height, bound_mb, depth):
    """48-49 M pixels, decoded whole, took 850 MB (Pillow alone holds 190 MB of them); in strips the
    process grows by well under that. A strip is at least one row, so a very wide image costs more
    (its rows of 2 M pixels: 32 M pixels in all here)."""
    path = tmp_path / "big.png"
    _streamed_png(path, width, height, depth=depth)
    said = _peak(path)
    assert said.get("size") == [width, height], said
    assert max(said["shape"][:2]) == 2048, said
    assert said["grew_mb"] < bound_mb, said


def test_an_image_past_the_pixel_limit_is_refused_from_its_header_in_one_line(tmp_path):
    path = tmp_path / "bomb.png"
    _streamed_png(path, 16, 18_700_000, idat=False)  # the 16 x 18.7 M: 299 M pixels
    said = _peak(path)
    assert "error" in said and "\n" not in said["error"], said
    assert "too large" in said["error"] and "16x18700000" in said["error"] and "150,000,000" in said["error"]
    assert said["grew_mb"] < 30, said


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), kind=st.sampled_from(PNG_TYPES), how=st.sampled_from(["cut", "flip", "both"]))
def test_damaged_pngs_in_strips_are_one_line_errors(tmp_path, monkeypatch, data, kind, how):
    """Cut short or with bytes changed anywhere (header, palette, image data, CRCs), a PNG decoded in
    strips opens or is refused in one MediaError line; nothing else escapes."""
    from attnviewer.media import images, strips

    colour, depth = kind
    bits = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour] * depth
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    raw = rng.integers(0, 256, (40, (40 * bits + 7) // 8), dtype=np.uint8)
    palette = rng.integers(0, 256, 3 * min(256, 2 ** depth), dtype=np.uint8).tobytes() if colour == 3 else b""
    path = tmp_path / "damaged.png"
    _write_png(path, raw, 40, depth, colour, [k % 5 for k in range(40)], palette)
    blob = bytearray(path.read_bytes())
    if how in ("flip", "both"):
        for _ in range(data.draw(st.integers(1, 4))):
            blob[data.draw(st.integers(8, len(blob) - 1))] ^= data.draw(st.integers(1, 255))
    if how in ("cut", "both"):
        blob = blob[:data.draw(st.integers(8, len(blob) - 1))]
    path.write_bytes(bytes(blob))
    monkeypatch.setattr(images, "STRIPS_FROM", 0)
    monkeypatch.setattr(strips, "STRIP_PIXELS", 300)
    try:
        image = images.load_image(path, max_side=16)
    except MediaError as e:
        assert "\n" not in str(e) and str(e).startswith(str(path)), str(e)
    else:
        assert image.rgb.ndim == 3 and image.rgb.shape[2] == 3


def test_folder_resume_knows_a_non_utf8_named_image_it_made(tmp_path, samples, tiny_checkpoint, capsys):
    folder, out = tmp_path / os.fsdecode(b"in\xff"), tmp_path / "out"
    folder.mkdir()
    shutil.copy(samples[0], folder / os.fsdecode(b"pic\xfe.png"))
    argv = _caption_folder(folder, out, tiny_checkpoint)
    assert main(argv) == 0
    assert "1 done" in capsys.readouterr().out
    assert main(argv) == 0  # the rerun: done already, not "made from another file"
    captured = capsys.readouterr()
    assert "1 already done" in captured.out and "made from" not in captured.err, captured
    assert "\\udc" not in captured.err + captured.out
