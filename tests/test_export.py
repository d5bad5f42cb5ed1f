"""Figures, overlays, animations and saved results, each produced from a real (tiny, random-weight)
model run or a hand-made attention map, then opened and checked: the files open, hold a panel per
word, put the colour where the attention is, and reopen to the same result. Writing is atomic,
never overwrites without --overwrite, and a full disk or unwritable folder is one clear line."""
import errno
import json
import re
import xml.etree.ElementTree as ET
import zlib

import matplotlib.figure
import numpy as np
import pytest
from PIL import Image

from attnviewer.cli import main
from attnviewer.kinds import IMAGE
from attnviewer.pipeline import run_all
from attnviewer.decoding.search import DecodeSettings
from attnviewer.errors import MediaError, OutputError, SettingsError
from attnviewer.export import animation
from attnviewer.export.animation import animation_frames, mp4_encoder, write_animation
from attnviewer.export.data import find_source, load_result, npz_path_for, result_dict, write_json, write_result
from attnviewer.export.figures import (
    FIGURE_FORMATS, FigureStyle, caption_figure, overlay_image, word_figure, write_overlay,
)
from attnviewer.media.images import load_image
from attnviewer.types import Hypothesis, Result

from .helpers import tiny_captioner

SMALL = FigureStyle(panel_inches=1.0, dpi=60, font_size=8)


# -- fixtures: a real model run, and hand-made attention ---------------------------------------


@pytest.fixture(scope="module")
def real(samples):
    """(image, Result) of the tiny random model's beam search on a sample image."""
    model = tiny_captioner(seed=1, max_len=6, end_bias=-4.0)
    image = load_image(samples[0])
    model.name = "tiny"
    (result,) = run_all(IMAGE, model, [image], DecodeSettings("beam", beam=3))
    result.source = str(samples[0])
    assert 3 <= len(result.best.tokens) <= 6 and len(result.hypotheses) > 1
    return image.rgb, result


def peaked(row: int, col: int, grid=(4, 4), words=("red", "circle")) -> Hypothesis:
    """A hypothesis whose every word attends (almost) only to one cell of the grid."""
    att = np.full((len(words), *grid), 0.001, np.float32)
    att[:, row, col] = 1.0
    att /= att.sum(axis=(1, 2), keepdims=True)
    n = len(words)
    return Hypothesis(list(words), list(range(4, 4 + n)), -0.5, -0.2, [0.9] * n,
                      [[(w, 0.9), ("a", 0.05)] for w in words], att)


def gray(h=64, w=64) -> np.ndarray:
    return np.full((h, w, 3), 128, np.uint8)


def saturation(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float32)
    return rgb.max(axis=2) - rgb.min(axis=2)


# -- file checks --------------------------------------------------------------------------------


def svg_images_and_text(path):
    root = ET.parse(path).getroot()
    images = [e for e in root.iter() if e.tag.endswith("}image")]
    return len(images), " ".join(t.strip() for t in root.itertext() if t.strip())


def pdf_text(path) -> str:
    """The text of a PDF written with TrueType (Type 42) fonts: the strings of its content streams."""
    data = path.read_bytes()
    assert data[:5] == b"%PDF-"
    chunks = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            content = zlib.decompress(m.group(1))
        except zlib.error:
            continue
        for block in re.findall(rb"BT(.*?)ET", content, re.S):
            strings = re.findall(rb"\(((?:\\.|[^\\)])*)\)", block, re.S)
            raw = b"".join(re.sub(rb"\\([()\\])", rb"\1", s) for s in strings)
            chunks.append(raw.replace(b"\x00", b"").decode("latin-1"))
    return " ".join(chunks)


def check_figure(path, fmt, panels: int, words: list[str]):
    assert path.exists() and not list(path.parent.glob(".*part"))
    if fmt == "png":
        with Image.open(path) as im:
            im.load()
            assert im.format == "PNG" and im.size[0] > 50
    elif fmt == "svg":
        n_images, text = svg_images_and_text(path)
        assert n_images == 1 + 2 * (panels - 1) if panels > 1 else n_images == 2  # image (+ overlay) per panel
        for w in words:
            assert w in text
    else:
        text = pdf_text(path)
        for w in words:
            assert w in text, (w, text)


# -- figures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_caption_figure_has_a_panel_per_word(tmp_path, real, fmt):
    image, result = real
    out = caption_figure(image, result.best, tmp_path / f"grid.{fmt}", SMALL, title="tiny, beam 3")
    check_figure(out, fmt, 1 + len(result.best.tokens), ["tiny, beam 3", *result.best.tokens])


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_word_figure_shows_one_word(tmp_path, real, fmt):
    image, result = real
    hyp = result.best
    out = word_figure(image, hyp, 2, tmp_path / f"word.{fmt}", SMALL)
    check_figure(out, fmt, 1, [f"{hyp.tokens[2]} ({hyp.probs[2]:.2f})"])
    if fmt == "svg":
        assert svg_images_and_text(out)[0] == 2  # the image and its overlay


def test_word_figure_refuses_a_word_past_the_caption(tmp_path, real):
    image, result = real
    with pytest.raises(SettingsError, match="has 2 words"):
        word_figure(image, peaked(0, 0), 2, tmp_path / "w.png", SMALL)
    assert not list(tmp_path.iterdir())


def test_style_options_shape_the_figure(tmp_path, real):
    image, result = real
    n = len(result.best.tokens)
    wide = caption_figure(image, result.best, tmp_path / "wide.png", FigureStyle(columns=n + 1, panel_inches=1, dpi=50))
    tall = caption_figure(image, result.best, tmp_path / "tall.png", FigureStyle(columns=1, panel_inches=1, dpi=50))
    sharp = caption_figure(image, result.best, tmp_path / "sharp.png", FigureStyle(columns=n + 1, panel_inches=1, dpi=100))
    with Image.open(wide) as a, Image.open(tall) as b, Image.open(sharp) as c:
        assert a.size[0] > a.size[1] * (n + 1) * 0.7  # one row
        assert b.size[1] > b.size[0] * (n + 1) * 0.9  # one column
        assert abs(c.size[0] - 2 * a.size[0]) <= 2  # twice the dpi, twice the pixels
    plain = caption_figure(image, result.best, tmp_path / "plain.svg",
                           FigureStyle(show_prob=False, cmap="viridis", smoothing="nearest", font_family="serif",
                                       font_size=7, panel_inches=1, dpi=40))
    _, text = svg_images_and_text(plain)
    assert "(0." not in text and result.best.tokens[0] in text
    assert "serif" in plain.read_text()


@pytest.mark.parametrize("bad, message", [
    (dict(cmap="no-such-map"), "unknown colormap"), (dict(opacity=1.5), "opacity"),
    (dict(smoothing="cubic"), "smoothing"), (dict(columns=0), "columns"),
    (dict(font_family="No Such Font"), "not installed"), (dict(dpi=5), "dpi"),
])
def test_bad_style_is_a_clear_error(tmp_path, bad, message):
    with pytest.raises(SettingsError, match=message):
        caption_figure(gray(), peaked(0, 0), tmp_path / "f.png", FigureStyle(**bad))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("smoothing", ["nearest", "bilinear", "gaussian"])
@pytest.mark.parametrize("cell, shape", [((0, 0), (64, 64)), ((0, 3), (40, 100)), ((3, 1), (90, 50))])
def test_overlay_colour_is_where_the_attention_is(cell, shape, smoothing):
    h, w = shape
    hyp = peaked(*cell)
    over = overlay_image(gray(h, w), hyp.attention[0], FigureStyle(smoothing=smoothing))
    assert over.shape == (h, w, 3) and over.dtype == np.uint8
    colour = saturation(over)
    # each of the 4x4 cells of the image: the most coloured is the attended one
    cells = colour[: h // 4 * 4, : w // 4 * 4].reshape(4, h // 4, 4, w // 4).mean(axis=(1, 3))
    assert np.unravel_index(np.argmax(cells), cells.shape) == cell
    far = (3 - cell[0], 3 - cell[1])
    assert cells[far] < 0.1 * cells[cell]  # far from it the image shows through unchanged


def test_overlay_png_is_at_full_image_resolution(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (77, 123, 3), dtype=np.uint8)
    hyp = peaked(1, 2)
    out = write_overlay(image, hyp.attention[1], tmp_path / "over.png", FigureStyle(cmap="inferno", opacity=0.8))
    with Image.open(out) as im:
        assert im.size == (123, 77)
        assert np.array_equal(np.asarray(im.convert("RGB")), overlay_image(image, hyp.attention[1],
                                                                          FigureStyle(cmap="inferno", opacity=0.8)))
    with pytest.raises(OutputError, match="PNG"):
        write_overlay(image, hyp.attention[1], tmp_path / "over.jpg")


def test_word_figure_colour_is_where_the_attention_is(tmp_path):
    out = word_figure(gray(60, 90), peaked(3, 0), 0, tmp_path / "w.png", FigureStyle(panel_inches=2, dpi=60))
    with Image.open(out) as im:
        rgb = np.asarray(im.convert("RGB"))
    panel = np.argwhere((np.abs(rgb.astype(int) - 128) < 60).all(axis=2) | (saturation(rgb) > 40))
    (top, left), (bottom, right) = panel.min(axis=0), panel.max(axis=0)
    colour = saturation(rgb)[top:bottom + 1, left:right + 1]
    ys, xs = np.nonzero(colour > 40)
    assert ys.mean() > 0.6 * colour.shape[0] and xs.mean() < 0.4 * colour.shape[1]  # bottom left


# -- animation ----------------------------------------------------------------------------------


def test_gif_has_one_frame_per_word(tmp_path, real):
    image, result = real
    out = write_animation(image, result.best, tmp_path / "a.gif", SMALL, seconds=0.5, size=96)
    with Image.open(out) as gif:
        assert gif.n_frames == len(result.best.tokens)
        assert gif.info["duration"] == 500
        size = gif.size
    assert size[0] == 96 and size[1] > 96 and size[1] % 2 == 0  # the picture and a caption band above it


def test_animation_frames_put_the_overlay_where_the_attention_is():
    frames = list(animation_frames(gray(64, 64), peaked(0, 3, words=("red", "circle", "and"))
                                   , FigureStyle(), size=128))
    assert len(frames) == 3 and len({f.shape for f in frames}) == 1
    picture = frames[0][-128:]  # the picture is the bottom of the frame
    colour = saturation(picture)
    assert colour[:32, -32:].mean() > 5 * colour[-32:, :32].mean()  # top right, as attended


def test_mp4_or_a_clear_error(tmp_path, real, monkeypatch):
    image, result = real
    n = len(result.best.tokens)
    if mp4_encoder() is None:
        with pytest.raises(OutputError, match="no H.264 or MPEG-4 encoder|needs PyAV"):
            write_animation(image, result.best, tmp_path / "a.mp4", SMALL, size=64)
    else:
        av = pytest.importorskip("av")
        out = write_animation(image, result.best, tmp_path / "a.mp4", SMALL, seconds=0.2, size=64)
        with av.open(str(out)) as box:
            stream = box.streams.video[0]
            frames = [f for f in box.decode(stream)]
            assert len(frames) == n * 2  # 0.2 s per word at 10 frames per second
            assert stream.width == 64 and frames[0].height % 2 == 0
    monkeypatch.setattr(animation, "mp4_encoder", lambda: None)
    with pytest.raises(OutputError, match="b.mp4: this FFmpeg build has no H.264 or MPEG-4 encoder"):
        write_animation(image, result.best, tmp_path / "b.mp4", SMALL, size=64)
    assert not (tmp_path / "b.mp4").exists()


# -- saved results ------------------------------------------------------------------------------


def assert_same_result(a: Result, b: Result, exact=True):
    assert (a.source, a.model, a.settings, a.image_size) == (b.source, b.model, b.settings, b.image_size)
    assert len(a.hypotheses) == len(b.hypotheses)
    for x, y in zip(a.hypotheses, b.hypotheses):
        assert (x.tokens, x.token_ids, x.probs, x.log_prob, x.score) == (y.tokens, y.token_ids, y.probs, y.log_prob, y.score)
        assert [list(map(tuple, alts)) for alts in x.alternatives] == [list(map(tuple, alts)) for alts in y.alternatives]
        assert y.attention.dtype == np.float32 and x.attention.shape == y.attention.shape
        assert x.locations == y.locations
        if exact:
            assert np.array_equal(x.attention, y.attention)
        else:
            assert np.allclose(x.attention, y.attention, atol=1e-6)


def test_saved_result_reopens_exactly(tmp_path, real):
    _, result = real
    js, npz = tmp_path / "r.json", tmp_path / "r.npz"
    assert write_result(result, js, npz) == [js, npz]
    data = json.loads(js.read_text())
    assert data["arrays"] == "r.npz" and data["source"] == result.source
    assert_same_result(result, load_result(js))
    assert_same_result(result, load_result(npz))  # the NPZ alone holds the whole result too
    npz.unlink()
    assert_same_result(result, load_result(js), exact=False)  # the JSON alone: 6 decimals


def test_hard_attention_locations_survive_a_round_trip(tmp_path, samples):
    model = tiny_captioner(seed=2, max_len=5, end_bias=-4.0, hard=True)
    image = load_image(samples[0])
    settings = DecodeSettings("greedy", sample_attention=True, seed=0)
    model.name = "tiny-hard"
    (result,) = run_all(IMAGE, model, [image], settings)
    assert result.best.locations and len(result.best.locations) == len(result.best.tokens)
    write_result(result, tmp_path / "h.json", tmp_path / "h.npz")
    assert_same_result(result, load_result(tmp_path / "h.json"))
    assert_same_result(result, load_result(tmp_path / "h.npz"))


def test_reopened_result_renders_the_same_figure(tmp_path, real):
    image, result = real
    write_result(result, tmp_path / "r.json", tmp_path / "r.npz")
    again = load_result(tmp_path / "r.json")
    a = caption_figure(image, result.best, tmp_path / "a.png", SMALL)
    b = caption_figure(image, again.best, tmp_path / "b.png", SMALL)
    with Image.open(a) as x, Image.open(b) as y:
        assert np.array_equal(np.asarray(x), np.asarray(y))


def test_old_json_results_still_load(tmp_path, real):
    _, result = real
    data = result_dict(result)
    data["schema"] = "attnviewer-result-1"
    for h in data["hypotheses"]:
        for w in h["words"]:
            del w["token_id"]
    write_json(data, tmp_path / "old.json")
    loaded = load_result(tmp_path / "old.json")
    assert loaded.best.tokens == result.best.tokens and loaded.best.token_ids == [-1] * len(result.best.tokens)


@pytest.mark.parametrize("content, message", [
    ("{\"schema\": \"something-else\"}", "not an attnviewer result"),
    ("{broken", "broken JSON"),
    ("[1, 2, 3]", "not an attnviewer result"),
])
def test_not_a_result(tmp_path, content, message):
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(MediaError, match=message):
        load_result(path)
    with pytest.raises(MediaError, match="no such file"):
        load_result(tmp_path / "missing.json")


def test_source_is_found_beside_a_moved_result(tmp_path, real, samples):
    _, result = real
    moved = Result(str(tmp_path / "elsewhere" / samples[0].name), "m", {}, result.hypotheses)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / samples[0].name).write_bytes(samples[0].read_bytes())
    assert find_source(moved, tmp_path / "results" / "r.json") == tmp_path / "results" / samples[0].name
    with pytest.raises(MediaError, match="gone"):
        find_source(moved, tmp_path / "r.json")


# -- safe writing -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FIGURE_FORMATS)
@pytest.mark.parametrize("error", [RuntimeError("renderer crashed"), KeyboardInterrupt()])
def test_interrupted_export_leaves_no_file(tmp_path, monkeypatch, fmt, error):
    def fail(self, *args, **kwargs):
        raise error

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", fail)
    with pytest.raises(type(error)):
        caption_figure(gray(), peaked(0, 0), tmp_path / f"f{fmt}", SMALL)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_rewrite_keeps_the_old_file(tmp_path, monkeypatch):
    old = caption_figure(gray(), peaked(0, 0), tmp_path / "f.png", SMALL)
    before = old.read_bytes()

    def fail(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", fail)
    with pytest.raises(KeyboardInterrupt):
        caption_figure(gray(), peaked(3, 3), tmp_path / "f.png", SMALL)
    assert old.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["f.png"]


def test_interrupted_animation_leaves_no_file(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(animation, "_write_gif", fail)
    with pytest.raises(KeyboardInterrupt):
        write_animation(gray(), peaked(0, 0), tmp_path / "a.gif", SMALL, size=64)
    assert list(tmp_path.iterdir()) == []


def test_full_disk_is_one_clear_message(tmp_path, monkeypatch, real):
    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full)
    with pytest.raises(OutputError, match=r"f.pdf: cannot write, the disk is full"):
        caption_figure(gray(), peaked(0, 0), tmp_path / "f.pdf", SMALL)
    monkeypatch.setattr(np, "savez_compressed", lambda *a, **k: full(None))
    with pytest.raises(OutputError, match=r"r.npz: cannot write, the disk is full"):
        write_result(real[1], tmp_path / "r.json", tmp_path / "r.npz")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_is_one_clear_message(tmp_path, monkeypatch):
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(OutputError, match="no permission to write in"):
        write_overlay(gray(), peaked(0, 0).attention[0], tmp_path / "o.png")


def test_written_files_get_ordinary_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    os.umask(umask)
    out = write_overlay(gray(), peaked(0, 0).attention[0], tmp_path / "o.png")
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


# -- the CLI: caption outputs, export, overwrite ---------------------------------------------------


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_caption_writes_every_output_kind(tmp_path, capsys, samples, tiny_checkpoint):
    outs = {"json": tmp_path / "r.json", "figure": tmp_path / "f.pdf", "overlay": tmp_path / "o.png",
            "animation": tmp_path / "a.gif"}
    code, out, err = cli(capsys, "caption", samples[0], "--model", tiny_checkpoint, "--greedy", "--word", "2",
                         "--columns", "3", "--cmap", "viridis", "--opacity", "0.8", "--smoothing", "bilinear",
                         "--dpi", "50", "--panel-size", "1", "--font-size", "8", "--no-prob", "--frame-size", "64",
                         *[x for k, p in outs.items() for x in (f"--{k}", p)])
    assert code == 0, err
    words = out.splitlines()[0].split(": ", 1)[1].split()
    result = load_result(outs["json"])
    assert result.best.tokens == words and (tmp_path / "r.npz").exists()
    assert result.source == str(samples[0].resolve())
    assert f"{words[1]}" in pdf_text(outs["figure"]) and "(0." not in pdf_text(outs["figure"])  # word 2, no prob
    with Image.open(outs["overlay"]) as im:
        assert im.size == (160, 160)
    with Image.open(outs["animation"]) as gif:
        assert gif.n_frames == len(words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif", "f.pdf", "o.png", "r.json", "r.npz"]


def test_caption_never_overwrites_without_the_flag(tmp_path, capsys, samples, tiny_checkpoint, monkeypatch):
    fig, js = tmp_path / "f.png", tmp_path / "r.json"
    (tmp_path / "r.npz").write_bytes(b"mine")
    from attnviewer.models import registry

    loads = []
    real_load = registry.load
    monkeypatch.setattr(registry, "load", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    code, out, err = cli(capsys, "caption", samples[0], "--model", tiny_checkpoint, "--figure", fig, "--json", js)
    assert code == 2 and err.strip() == f"attnviewer: error: {tmp_path / 'r.npz'}: already exists; add --overwrite to replace it"
    assert not loads and not fig.exists() and not js.exists()  # checked before the model ran
    assert (tmp_path / "r.npz").read_bytes() == b"mine"
    code, out, err = cli(capsys, "caption", samples[0], "--model", tiny_checkpoint, "--figure", fig, "--json", js,
                         "--overwrite")
    assert code == 0, err
    assert load_result(js).best.tokens == load_result(tmp_path / "r.npz").best.tokens


def test_caption_word_past_the_end_writes_nothing(tmp_path, capsys, samples, tiny_checkpoint):
    code, out, err = cli(capsys, "caption", samples[0], "--model", tiny_checkpoint, "--word", "99",
                         "--figure", tmp_path / "f.png")
    assert code == 2 and "--word 99" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option, value, message", [
    ("--frame-seconds", "0", "0.05 to 60 seconds"), ("--frame-size", "8", "32 to 4096 pixels"),
    ("--cmap", "nope", "unknown colormap"), ("--opacity", "-1", "opacity"),
])
def test_bad_style_options_stop_before_anything_is_written(tmp_path, capsys, samples, tiny_checkpoint, option,
                                                            value, message):
    code, out, err = cli(capsys, "caption", samples[0], "--model", tiny_checkpoint, option, value,
                         "--animation", tmp_path / "a.gif", "--json", tmp_path / "r.json")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_overlay_needs_a_word(tmp_path, capsys, samples, tiny_checkpoint):
    code, out, err = cli(capsys, "caption", samples[0], "--model", tiny_checkpoint, "--overlay", tmp_path / "o.png")
    assert code == 2 and "add --word N" in err


def test_full_disk_in_the_cli_is_one_line(tmp_path, capsys, samples, tiny_checkpoint, monkeypatch):
    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full)
    code, out, err = cli(capsys, "caption", samples[0], "--model", tiny_checkpoint, "--figure", tmp_path / "f.svg")
    assert code == 2
    assert err.strip() == f"attnviewer: error: {tmp_path / 'f.svg'}: cannot write, the disk is full"
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def saved(tmp_path, capsys, samples, tiny_checkpoint):
    """A result saved by the caption command, its image copied beside it."""
    image = tmp_path / "picture.png"
    image.write_bytes(samples[1].read_bytes())
    code, out, err = cli(capsys, "caption", image, "--model", tiny_checkpoint, "--json", tmp_path / "r.json")
    assert code == 0, err
    return tmp_path / "r.json", image


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_export_rerenders_a_saved_result(tmp_path, capsys, saved, fmt):
    js, image = saved
    result = load_result(js)
    code, out, err = cli(capsys, "export", js, "--figure", tmp_path / f"f.{fmt}", "--dpi", "50", "--panel-size", "1")
    assert code == 0, err
    check_figure(tmp_path / f"f.{fmt}", fmt, 1 + len(result.best.tokens), result.best.tokens)
    if fmt == "svg":
        assert "tiny, beam 3" in svg_images_and_text(tmp_path / "f.svg")[1]  # model and decoding, as titled


def test_export_word_overlay_and_animation(tmp_path, capsys, saved):
    js, image = saved
    result = load_result(js)
    code, out, err = cli(capsys, "export", js, "--word", "1", "--figure", tmp_path / "w.svg", "--overlay",
                         tmp_path / "o.png", "--animation", tmp_path / "a.gif", "--frame-size", "64",
                         "--hypothesis", "2")
    assert code == 0, err
    hyp = result.hypotheses[1]
    n_images, text = svg_images_and_text(tmp_path / "w.svg")
    assert n_images == 2 and f"{hyp.tokens[0]} ({hyp.probs[0]:.2f})" in text
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == len(hyp.tokens)
    with Image.open(tmp_path / "o.png") as im:
        assert im.size == (160, 160)


def test_export_refuses_to_overwrite(tmp_path, capsys, saved):
    js, _ = saved
    fig = tmp_path / "f.png"
    fig.write_bytes(b"keep")
    code, out, err = cli(capsys, "export", js, "--figure", fig)
    assert code == 2 and err.strip() == f"attnviewer: error: {fig}: already exists; add --overwrite to replace it"
    assert fig.read_bytes() == b"keep"
    code, out, err = cli(capsys, "export", js, "--figure", fig, "--overwrite", "--dpi", "40")
    assert code == 0, err
    with Image.open(fig) as im:
        assert im.format == "PNG"


def test_export_when_the_image_is_gone(tmp_path, capsys, saved):
    js, image = saved
    image.unlink()
    code, out, err = cli(capsys, "export", js, "--figure", tmp_path / "f.png")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{image}: the image of this result is gone" in err
    assert not (tmp_path / "f.png").exists()


def test_export_finds_the_image_moved_with_its_result(tmp_path, capsys, saved):
    js, image = saved
    moved = tmp_path / "moved"
    moved.mkdir()
    for p in (js, npz_path_for(js), image):
        p.rename(moved / p.name)
    code, out, err = cli(capsys, "export", moved / js.name, "--figure", tmp_path / "f.png", "--dpi", "40")
    assert code == 0, err


def test_export_needs_an_output_and_a_result(tmp_path, capsys, saved):
    js, _ = saved
    code, out, err = cli(capsys, "export", js)
    assert code == 2 and "nothing to export" in err
    code, out, err = cli(capsys, "export", tmp_path / "none.json", "--figure", tmp_path / "f.png")
    assert code == 2 and "none.json: no such file" in err
    code, out, err = cli(capsys, "export", js, "--figure", tmp_path / "f.png", "--word", "42")
    assert code == 2 and "--word 42" in err
    assert not (tmp_path / "f.png").exists()


def test_a_result_without_a_caption_is_refused(tmp_path, real):
    _, result = real
    js = tmp_path / "r.json"
    write_result(result, js, tmp_path / "r.npz")
    data = json.loads(js.read_text())
    data["hypotheses"] = []
    (tmp_path / "r.npz").unlink()
    js.write_text(json.dumps(data))
    with pytest.raises(MediaError, match="holds no caption"):
        load_result(js)
