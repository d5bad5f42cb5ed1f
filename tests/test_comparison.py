"""One figure comparing two results of the same input (Compare side by side), for each kind; the
frame strip's weight axis; GIFs on one palette without speckle."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from attnviewer.cli import main
from attnviewer.errors import OutputError
from attnviewer.export.alignment_figure import alignment_figure
from attnviewer.export.animation import animation_frames, write_animation
from attnviewer.export.comparison import comparison_figure
from attnviewer.export.data import write_result
from attnviewer.export.figures import FigureStyle, caption_figure
from attnviewer.export.temporal_figures import frame_strip_figure
from attnviewer.kinds import IMAGE, TEXT, VIDEO, WriteOptions
from attnviewer.pipeline import load_model, read, run_all
from attnviewer.resources import sample_dir
from attnviewer.settings import DecodeSettings
from attnviewer.types import Hypothesis

SVG = "{http://www.w3.org/2000/svg}"
SENTENCE = "the old teacher will paint some small red boats near the river"
STYLE = FigureStyle(dpi=60, panel_inches=1.2)


def _run(kind, model_name, sources, **options):
    model = load_model(kind, model_name, "cpu")
    medias = [read(kind, s, model_name, **options) for s in sources]
    results = run_all(kind, model, medias, DecodeSettings("beam", beam=3))
    return [(r, kind.fit(m, model)) for r, m in zip(results, medias)]


@pytest.fixture(scope="module")
def images():
    """caption-shapes and caption-shapes-lambda1 on shapes-1.png; caption-shapes on shapes-2.png too."""
    one, two = str(sample_dir() / "shapes-1.png"), str(sample_dir() / "shapes-2.png")
    (a, media), (other, other_media) = _run(IMAGE, "caption-shapes", [one, two])
    [(b, _)] = _run(IMAGE, "caption-shapes-lambda1", [one])
    return a, b, media, other, other_media


@pytest.fixture(scope="module")
def videos():
    """video-shapes on clip-1.mp4 played forwards and backwards."""
    clip = str(sample_dir() / "clip-1.mp4")
    [(a, forward)] = _run(VIDEO, "video-shapes", [clip])
    [(b, backward)] = _run(VIDEO, "video-shapes", [clip], reverse=True)
    return a, b, forward, backward


@pytest.fixture(scope="module")
def sentences():
    [(a, media)] = _run(TEXT, "translate-sov", [SENTENCE])
    [(b, other)] = _run(TEXT, "translate-sov-general", [SENTENCE])
    return a, b, media, other


def svg_texts(path) -> list[str]:
    return ["".join(t.itertext()).strip() for t in ET.parse(path).getroot().iter(f"{SVG}text")]


def png_size(path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


def has_word(texts, word) -> bool:
    return any(t == word or t.startswith(word + " (") for t in texts)


# -- the figures ------------------------------------------------------------------------------------


def test_image_comparison_has_a_labelled_row_of_panels_per_result(tmp_path, images):
    a, b, media, _, _ = images
    entries = [(a, 0, None), (b, 1, "lambda 1, second best")]
    comparison_figure("image", media.rgb, entries, tmp_path / "c.svg", STYLE)
    texts = svg_texts(tmp_path / "c.svg")
    assert a.title in texts and "lambda 1, second best" in texts
    for hyp in (a.best, b.hypotheses[1]):
        assert all(has_word(texts, w) for w in hyp.tokens)
    root = ET.parse(tmp_path / "c.svg").getroot()
    panels = 2 + len(a.best.tokens) + len(b.hypotheses[1].tokens)
    assert len(list(root.iter(f"{SVG}image"))) == panels + len(a.best.tokens) + len(b.hypotheses[1].tokens)

    comparison_figure("image", media, entries, tmp_path / "c.png", STYLE)  # a LoadedImage as well as its pixels
    cols = 1 + max(len(a.best.tokens), len(b.hypotheses[1].tokens))
    caption_figure(media.rgb, a.best, tmp_path / "one.png", FigureStyle(dpi=60, panel_inches=1.2, columns=cols))
    (w, h), (w1, h1) = png_size(tmp_path / "c.png"), png_size(tmp_path / "one.png")
    assert abs(w - w1) <= 2 and h > 1.9 * h1  # two rows of the single figure's width, each headed
    rgb = comparison_figure("image", media.rgb, entries, None, STYLE)
    assert rgb.shape == (h, w, 3) and rgb.dtype == np.uint8


def test_video_comparison_draws_the_frames_once_and_the_reversed_curves_on_the_file_s_time(tmp_path, videos):
    a, b, forward, backward = videos
    assert b.settings.get("reversed") and not a.settings.get("reversed")
    for media in (forward, backward):  # either clip gives the frames in the file's order
        comparison_figure("video", media, [(a, 0, None), (b, 0, None)], tmp_path / "c.svg", STYLE)
        root = ET.parse(tmp_path / "c.svg").getroot()
        texts = svg_texts(tmp_path / "c.svg")
        assert a.title in texts and f"{b.title} (reversed)" in texts
        assert all(has_word(texts, w) for w in a.best.tokens + b.best.tokens)
        assert [t for t in texts if t.endswith(" s")] == [f"{t:.2f} s" for t in a.frame_times]  # once, in file order
        frames = sorted((float(i.get("x")), float(i.get("width"))) for i in root.iter(f"{SVG}image"))
        assert len(frames) == len(a.frame_times)
        markers = [float(u.get("x")) for u in root.iter(f"{SVG}use") if "stroke" in (u.get("style") or "")]
        assert len(markers) == len(a.best.tokens) + len(b.best.tokens)
        n = len(frames)
        file_peaks = [int(r.argmax()) for r in a.best.attention] + [n - 1 - int(r.argmax()) for r in b.best.attention]
        for x, peak in zip(markers, file_peaks):  # each peak under the frame of the file it looked at
            left, width = frames[peak]
            assert left <= x <= left + width
    # the arrow of time: "moves right" forwards and "moves left" backwards look at the same frames
    right = int(a.best.attention[a.best.tokens.index("right")].argmax())
    left = int(b.best.attention[b.best.tokens.index("left")].argmax())
    assert abs(right - (n - 1 - left)) <= 1

    comparison_figure("video", forward, [(a, 0, None), (b, 0, None)], tmp_path / "c.png", STYLE)
    frame_strip_figure(forward.frames, a.frame_times, a.best, tmp_path / "one.png", STYLE)
    (w, h), (w1, h1) = png_size(tmp_path / "c.png"), png_size(tmp_path / "one.png")
    assert h > 1.7 * h1 and abs(w - w1) <= 2


def test_text_comparison_puts_the_matrices_side_by_side(tmp_path, sentences):
    a, b, _, _ = sentences
    entries = [(a, 0, None), (b, 1, None)]
    comparison_figure("text", None, entries, tmp_path / "c.svg", STYLE, title="SOV or general")
    texts = svg_texts(tmp_path / "c.svg")
    assert {a.title, b.title, "SOV or general", "attention, each row to its own peak"} <= set(texts)  # --scale max
    for word in SENTENCE.split():  # the same source words across both matrices
        assert texts.count(word) == 2 * SENTENCE.split().count(word)
    for hyp in (a.best, b.hypotheses[1]):
        assert all(has_word(texts, w) for w in hyp.tokens)
    assert len(list(ET.parse(tmp_path / "c.svg").getroot().iter(f"{SVG}image"))) == 3  # two matrices, one bar

    comparison_figure("text", None, entries, tmp_path / "c.png", STYLE)
    alignment_figure(a.best, a.source_tokens, tmp_path / "one.png", STYLE)
    (w, h), (w1, h1) = png_size(tmp_path / "c.png"), png_size(tmp_path / "one.png")
    assert w > 1.7 * w1 and h >= h1
    pdf = tmp_path / "c.pdf"
    comparison_figure("text", None, entries, pdf, STYLE)
    assert pdf.read_bytes().startswith(b"%PDF") and b"FontFile2" in pdf.read_bytes()  # words stay text


def test_a_comparison_refuses_a_result_of_another_kind(tmp_path, images, sentences):
    a = images[0]
    t = sentences[0]
    from attnviewer.errors import SettingsError

    with pytest.raises(SettingsError, match="cannot be drawn in a comparison of image results"):
        comparison_figure("image", images[2].rgb, [(a, 0, None), (t, 0, None)], None, STYLE)
    with pytest.raises(OutputError, match="unsupported figure format"):
        comparison_figure("image", images[2].rgb, [(a, 0, None)], tmp_path / "c.gif", STYLE)


# -- through the kinds (what the Export dialog calls) ------------------------------------------------


@pytest.mark.parametrize("which", ["images", "videos", "sentences"])
def test_each_kind_writes_and_previews_the_comparison_from_write_options(tmp_path, request, which):
    a, b, media, b_media = request.getfixturevalue(which)[:4]
    if which == "images":  # both captions are of the same image (the 4th item is another image's result)
        b_media = media
    kind = {"images": IMAGE, "videos": VIDEO, "sentences": TEXT}[which]
    assert kind.outputs["comparison"].suffixes == (".png", ".svg", ".pdf")
    opts = WriteOptions(title=a.title, others=[(b, 0, None, b_media)])
    assert kind.write("comparison", media, a, tmp_path / "c.svg", STYLE, opts) == [tmp_path / "c.svg"]
    texts = svg_texts(tmp_path / "c.svg")
    assert a.title in texts and any(t.startswith(b.title) for t in texts)
    assert all(has_word(texts, w) for w in a.best.tokens + b.best.tokens)
    picture = kind.preview("comparison", media, a, STYLE, opts)
    assert picture.ndim == 3 and picture.shape[2] == 3 and min(picture.shape[:2]) > 50
    with pytest.raises(OutputError, match="needs a second result"):
        kind.write("comparison", media, a, tmp_path / "none.png", STYLE, WriteOptions())
    assert not (tmp_path / "none.png").exists()


def test_the_kind_refuses_results_of_another_input(tmp_path, images):
    a, _, media, other, other_media = images
    opts = WriteOptions(others=[(other, 0, None, other_media)])
    with pytest.raises(OutputError, match="different inputs"):
        IMAGE.write("comparison", media, a, tmp_path / "c.png", STYLE, opts)
    assert not (tmp_path / "c.png").exists()


# -- the command ------------------------------------------------------------------------------------


def test_export_compare_draws_both_results_and_refuses_mismatched_pairs(tmp_path, capsys, images, videos, sentences):
    a, b, _, other, _ = images
    paths = {}
    for name, result in (("a", a), ("b", b), ("other", other), ("fwd", videos[0]), ("rev", videos[1]),
                         ("t", sentences[0])):
        paths[name] = str(tmp_path / f"{name}.json")
        write_result(result, paths[name])

    out = tmp_path / "c.svg"
    assert main(["export", paths["a"], "--compare", paths["b"], "--figure", str(out), "--dpi", "60"]) == 0
    texts = svg_texts(out)
    assert a.title in texts and b.title in texts
    assert all(has_word(texts, w) for w in a.best.tokens + b.best.tokens)
    printed = capsys.readouterr().out
    assert a.text in printed and "wrote" in printed

    out = tmp_path / "v.png"
    assert main(["export", paths["fwd"], "--compare", paths["rev"], "--figure", str(out), "--dpi", "60"]) == 0
    with Image.open(out) as png:
        assert png.size[1] > png.size[0] * 0.5  # the frames, then two blocks of curves
    capsys.readouterr()

    refused = tmp_path / "x.png"
    for first, second in (("a", "t"), ("a", "fwd"), ("a", "other")):
        assert main(["export", paths[first], "--compare", paths[second], "--figure", str(refused)]) == 2
        err = capsys.readouterr().err.strip()
        assert f"{paths[first]} and {paths[second]} are of different inputs" in err, err
        assert len(err.splitlines()) == 1
    assert not refused.exists()

    assert main(["export", paths["a"], "--compare", paths["b"], "--animation", str(tmp_path / "x.gif")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--compare draws one figure" in err and len(err.splitlines()) == 1
    assert main(["export", paths["a"], "--compare", paths["b"], "--figure", str(tmp_path / "c.svg")]) == 2
    assert "already exists" in capsys.readouterr().err


# -- the frame strip's weight axis ------------------------------------------------------------------


def test_the_frame_strip_has_a_weight_axis(tmp_path, videos):
    a, _, clip, _ = videos
    frame_strip_figure(clip.frames, a.frame_times, a.best, tmp_path / "s.svg", STYLE)
    texts = svg_texts(tmp_path / "s.svg")
    assert "attention" in texts
    peak = f"{float(a.best.attention.max()):.2f}".rstrip("0").rstrip(".")
    assert texts.count(peak) >= len(a.best.tokens) and texts.count("0") >= len(a.best.tokens)
    frame_strip_figure(clip.frames, a.frame_times, a.best, tmp_path / "f.svg", FigureStyle(dpi=60, scale="fixed"))
    texts = svg_texts(tmp_path / "f.svg")
    assert "attention" in texts
    for tick in ("0", "0.5", "1"):  # the fixed scale: every curve's axis reads 0 to 1
        assert texts.count(tick) == len(a.best.tokens)


# -- GIFs: one palette, no speckle ------------------------------------------------------------------


def test_a_gif_shares_one_palette_and_keeps_flat_areas_flat(tmp_path, monkeypatch):
    from PIL import GifImagePlugin

    # a frame with its own palette would be read as RGB: every frame stays "P" only on one shared palette
    monkeypatch.setattr(GifImagePlugin, "LOADING_STRATEGY",
                        GifImagePlugin.LoadingStrategy.RGB_AFTER_DIFFERENT_PALETTE_ONLY)
    colour = np.array([70, 130, 180])
    flat = np.broadcast_to(colour.astype(np.uint8), (96, 128, 3)).copy()
    att = np.zeros((3, 4, 4), np.float32)
    for j, (r, c) in enumerate([(0, 0), (3, 3), (1, 2)]):
        att[j, r, c] = 1.0
    hyp = Hypothesis(["a", "blue", "sky"], [4, 5, 6], -0.3, -0.1, [0.9, 0.8, 0.7], [[], [], []], att)
    style = FigureStyle(smoothing="nearest")
    out = tmp_path / "flat.gif"
    write_animation(flat, hyp, out, style, size=256)
    frames = list(animation_frames(flat, hyp, style, 256))
    with Image.open(out) as gif:
        assert gif.n_frames == len(frames) == 3
        palette = np.asarray(gif.getpalette()[:768]).reshape(-1, 3)
        for i, rgb in enumerate(frames):
            gif.seek(i)
            assert gif.mode == "P", f"frame {i} has a palette of its own"
            index = np.asarray(gif)
            shown = palette[index]
            area = (rgb == colour).all(axis=2)  # the picture where no attention is drawn
            assert area.mean() > 0.3
            assert len(np.unique(index[area])) == 1, f"frame {i}: the flat area is speckled"
            assert np.abs(shown[area] - colour).max() <= 8
            white = (rgb == 255).all(axis=2)  # the caption's band
            assert len(np.unique(index[white])) == 1
            assert np.abs(shown.astype(int) - rgb).mean() < 3
            assert np.percentile(np.abs(shown.astype(int) - rgb).max(axis=2), 99) < 40
