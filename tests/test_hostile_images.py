"""Hostile images: PNG text/profile chunks that decompress past Pillow's limit and other broken
chunks, a 16x20000 strip, two folders with the same file name, SIGTERM during a folder, and
decoder warnings. Each must give one line (or one warning in a folder), never a traceback, a huge
figure, a leftover temporary file or a wrong "already done"."""
import json
import os
import signal
import struct
import subprocess
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attnviewer.cli import main
from attnviewer.cli.folder import remove_stale_temporaries
from attnviewer.errors import MediaError
from attnviewer.media.images import load_image

ROOT = Path(__file__).resolve().parents[1]


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# ---- PNG generation by hand --------------------------------------------------------------------

def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(width=32, height=32, extra: list[tuple[bytes, bytes]] = (), after_idat=()) -> bytes:
    """A valid 8-bit RGB PNG with the given chunks inserted before (and after) IDAT."""
    raw = b"".join(b"\x00" + bytes((x * 7 + y * 3) % 256 for x in range(width * 3)) for y in range(height))
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    for kind, data in extra:
        out += _chunk(kind, data)
    out += _chunk(b"IDAT", zlib.compress(raw))
    for kind, data in after_idat:
        out += _chunk(kind, data)
    return out + _chunk(b"IEND", b"")


BOMB = zlib.compress(b"\x00" * (80 * 1024 * 1024), 9)  # 80 MB of zeros in ~80 KB: past Pillow's 64 MB text limit


def bomb_cases() -> dict[str, bytes]:
    """name -> PNG bytes; every one must be refused (or read) with one line, no traceback."""
    return {
        "ztxt": png_bytes(extra=[(b"zTXt", b"Comment\x00\x00" + BOMB)]),
        "itxt": png_bytes(extra=[(b"iTXt", b"Comment\x00\x01\x00\x00\x00" + BOMB)]),
        "iccp": png_bytes(extra=[(b"iCCP", b"icc\x00\x00" + BOMB)]),
        "ztxt-after-idat": png_bytes(after_idat=[(b"zTXt", b"Comment\x00\x00" + BOMB)]),
        "iccp-garbage": png_bytes(extra=[(b"iCCP", b"icc\x00\x00" + b"not zlib at all")]),
        "ztxt-garbage": png_bytes(extra=[(b"zTXt", b"Comment\x00\x00" + b"\x78\x9c garbage")]),
        "bad-crc": png_bytes()[:-20] + b"\x00" * 8 + png_bytes()[-12:],
        "huge-ihdr": b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 2 ** 31 - 1, 2 ** 31 - 1, 8, 2, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + _chunk(b"IEND", b""),
        "bad-bitdepth": b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 32, 32, 7, 2, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + _chunk(b"IEND", b""),
        "truncated-idat": png_bytes()[:-40],
    }


@pytest.mark.parametrize("name", sorted(bomb_cases()))
def test_bomb_and_broken_pngs_give_one_line(tmp_path, name):
    path = tmp_path / f"{name}.png"
    path.write_bytes(bomb_cases()[name])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning escapes load_image either
        try:
            image = load_image(path)
        except MediaError as e:
            text = str(e)
            assert "\n" not in text and text.startswith(str(path)), text
        else:  # some broken chunks are harmless to Pillow; then the image is whole
            assert image.rgb.shape == (32, 32, 3)


def test_caption_of_a_bomb_png_is_one_line(tmp_path, capsys, tiny_checkpoint):
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_cases()["ztxt"])
    code, out, err = cli(capsys, "caption", path, "--model", tiny_checkpoint, "--device", "cpu")
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err and str(path) in err


def damaged_exif_jpeg(path):
    """A small JPEG whose EXIF block is damaged (Pillow warns while reading it)."""
    exif = Image.Exif()
    exif[0x0112] = 1
    Image.new("RGB", (40, 30), "red").save(path, exif=exif.tobytes())
    data = bytearray(path.read_bytes())
    at = data.find(b"Exif\x00\x00")
    data[at + 10:at + 30] = b"\xff" * 20  # damage the IFD
    path.write_bytes(bytes(data))
    return path


def test_exif_warnings_become_notes_not_stderr(tmp_path):
    path = damaged_exif_jpeg(tmp_path / "exif.jpg")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            image = load_image(path)
        except MediaError as e:
            assert "\n" not in str(e)
        else:
            assert all("\n" not in n and n.startswith(str(path)) for n in image.notes)


# ---- a very thin image ---------------------------------------------------------------------------

def test_thin_strip_gives_an_ordinary_figure_fast(tmp_path, capsys, tiny_checkpoint):
    path = tmp_path / "strip.png"
    Image.fromarray((np.arange(20000 * 16 * 3) % 251).astype(np.uint8).reshape(20000, 16, 3)).save(path)
    fig = tmp_path / "strip-fig.png"
    start = time.monotonic()
    code, out, err = cli(capsys, "caption", path, "--model", tiny_checkpoint, "--device", "cpu", "--figure", fig)
    took = time.monotonic() - start
    assert code == 0, err
    with Image.open(fig) as im:
        w, h = im.size
    assert w * h < 20_000_000 and h < 12_000, (w, h)
    assert took < 20
    for size in [(16, 20000), (20000, 16)]:
        wide = tmp_path / f"{size[0]}x{size[1]}.png"
        Image.new("RGB", size, "white").save(wide)
        code, out, err = cli(capsys, "caption", wide, "--model", tiny_checkpoint, "--device", "cpu",
                             "--figure", tmp_path / f"{size[0]}-fig.png", "--word", "1")
        assert code == 0, err
        with Image.open(tmp_path / f"{size[0]}-fig.png") as im:
            assert max(im.size) < 2000 and im.size[0] * im.size[1] < 4_000_000, im.size


# ---- folders -------------------------------------------------------------------------------------

def _good(path: Path, colour) -> None:
    Image.new("RGB", (48, 40), colour).save(path)


def test_folder_skips_the_bomb_and_goes_on(tmp_path, capsys, tiny_checkpoint):
    d = tmp_path / "in"
    d.mkdir()
    _good(d / "a.png", "red")
    (d / "b-bomb.png").write_bytes(bomb_cases()["iccp"])
    _good(d / "c.png", "blue")
    (d / "d-broken.png").write_bytes(bomb_cases()["huge-ihdr"])
    out = tmp_path / "out"
    code, stdout, err = cli(capsys, "caption", d, "--out", out, "--model", tiny_checkpoint, "--device", "cpu")
    assert code == 0, err
    assert stdout.strip().splitlines()[-1].startswith("2 done, 2 skipped, 0 already done")
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all(ln.startswith("attnviewer: warning: ") for ln in lines), err
    assert "b-bomb.png" in lines[0] and "d-broken.png" in lines[1]
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.npz", "a.png", "c.json", "c.npz", "c.png"]


def test_same_name_from_another_folder_is_not_already_done(tmp_path, capsys, tiny_checkpoint):
    one, two, out = tmp_path / "one", tmp_path / "two", tmp_path / "out"
    one.mkdir(), two.mkdir()
    _good(one / "pic.png", "red")
    _good(two / "pic.png", "green")
    base = ["--model", tiny_checkpoint, "--device", "cpu", "--figure-format", "none"]
    code, stdout, err = cli(capsys, "caption", one, "--out", out, *base)
    assert code == 0, err
    record = json.loads((out / "pic.json").read_text())
    assert record["input"]["path"] == str((one / "pic.png").resolve())
    assert record["input"]["size"] == (one / "pic.png").stat().st_size
    # the same folder again: done
    code, stdout, err = cli(capsys, "caption", one, "--out", out, *base)
    assert code == 0 and "1 already done" in stdout and err == ""
    # another folder's pic.png: not done, and nothing replaced
    before = (out / "pic.json").read_bytes()
    code, stdout, err = cli(capsys, "caption", two, "--out", out, *base)
    assert code == 0
    assert "0 done, 1 skipped, 0 already done" in stdout
    assert len(err.strip().splitlines()) == 1 and str(one / "pic.png") in err and "--overwrite" in err
    assert (out / "pic.json").read_bytes() == before
    # with --overwrite it is made again from the other folder
    code, stdout, err = cli(capsys, "caption", two, "--out", out, *base, "--overwrite")
    assert code == 0 and "1 done" in stdout
    assert json.loads((out / "pic.json").read_text())["source"] == str((two / "pic.png").resolve())
    # the file changed since: also not done
    time.sleep(0.01)
    _good(two / "pic.png", "yellow")
    os.utime(two / "pic.png", ns=(time.time_ns(), time.time_ns() + 10_000_000))
    code, stdout, err = cli(capsys, "caption", two, "--out", out, *base)
    assert "1 skipped" in stdout and "changed" in err


def test_stale_temporaries_of_ours_only_are_removed(tmp_path):
    (tmp_path / ".pic.json.abc_1234.part").write_text("x")
    (tmp_path / ".pic.png.ZZZZZZZZ.part").write_text("x")
    (tmp_path / ".pic.npz.q1w2e3r4.part.npz").write_text("x")
    (tmp_path / ".notes.txt.abcdefgh.part").write_text("keep: not one of our outputs")
    (tmp_path / "pic.json.abcdefgh.part").write_text("keep: not hidden")
    (tmp_path / ".pic.json.part").write_text("keep: no random part")
    assert remove_stale_temporaries(tmp_path, [".json", ".npz", ".png"]) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.txt.abcdefgh.part", ".pic.json.part",
                                                          "pic.json.abcdefgh.part"]


def test_sigterm_during_a_folder_cleans_up_and_the_rerun_continues(tmp_path, bundled_model_path):
    d, out = tmp_path / "in", tmp_path / "out"
    d.mkdir()
    for i in range(12):
        _good(d / f"p{i:02d}.png", ((i * 37) % 256, (i * 91) % 256, 120))
    cmd = [sys.executable, "-m", "attnviewer", "caption", str(d), "--out", str(out), "--device", "cpu",
           "--batch-size", "1", "--figure-format", "svg"]
    env = dict(os.environ, PYTHONWARNINGS="default")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and not (out.exists() and any(p.suffix == ".svg" and not p.name.startswith(".") for p in out.iterdir())):
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    stdout, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("terminated: ")
    assert [p.name for p in out.iterdir() if p.name.endswith(".part")] == []
    done = {p.stem for p in out.glob("*.svg")}
    assert 0 < len(done) < 12
    # a hard kill leaves a temporary: the next run removes it, and continues
    (out / ".p11.json.k1l_ed00.part").write_text("{")
    (out / ".p10.svg.k1l_ed00.part.svg").write_text("<")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(done)} already done" in proc.stdout.strip().splitlines()[-1]
    assert proc.stderr == ""
    assert [p.name for p in out.iterdir() if p.name.endswith(".part")] == []
    assert len(list(out.glob("*.svg"))) == 12


def test_caption_shows_the_decoders_notes_in_one_line_each(tmp_path, capsys):
    from attnviewer.cli import main

    path = damaged_exif_jpeg(tmp_path / "exif.jpg")
    assert main(["caption", str(path), "--greedy", "--device", "cpu"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"attnviewer: {path}: note: the EXIF data is damaged")
