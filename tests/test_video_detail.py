"""Where in each frame a transformer video captioner looked (issue 19): the where-in-frame maps of a
word (lens.Places.details), their overlays on the window's frame strip and top frames, and the
top-frames figure. A tiny random TimeSformer + GPT-2 built in code (tests/hf_models.py) reads a
short generated clip; waits are on conditions, never sleeps."""
import numpy as np
import pytest
from PIL import Image

from attnviewer.cli import main
from attnviewer.data.clip_events import generate_clip
from attnviewer.export.data import load_result
from attnviewer.export.temporal_figures import top_frames_figure
from attnviewer.kinds.video import frame_details
from attnviewer.lens import Lens, Places
from attnviewer.media.frames import read_clip, write_clip
from attnviewer.ui.attention_pane import OverlaySettings
from attnviewer.ui.lensing import Drawn
from attnviewer.ui.lensing import frame_details as drawn_details
from attnviewer.ui.video_panes import detail_overlays

from .helpers import GUI_TIMEOUT, wait_finished

FRAMES, ROWS, COLS = 3, 2, 3


@pytest.fixture(scope="module")
def timesformer(tmp_path_factory):
    pytest.importorskip("transformers")
    from .hf_models import video_gpt2

    return video_gpt2(tmp_path_factory.mktemp("hf-video") / "timesformer-gpt2")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(generate_clip(5, 0).frames, tmp_path_factory.mktemp("clip") / "clip.mp4", fps=12, scale=2)


def hand_places() -> Places:
    """A CLS token, then one token per (frame, cell), frame-major."""
    cells = ROWS * COLS
    place = np.concatenate([[-1], np.repeat(np.arange(FRAMES), cells)])
    detail = np.concatenate([[-1], np.arange(FRAMES * cells)])
    return Places(place, (FRAMES,), detail=(FRAMES, ROWS, COLS), token_detail=detail)


def hand_heads() -> np.ndarray:
    """One layer, one head: half the attention on CLS, 0.3 on frame 1's cell (1, 2), the rest even."""
    weights = np.full(1 + FRAMES * ROWS * COLS, 0.2 / (FRAMES * ROWS * COLS - 1))
    weights[0] = 0.5
    weights[1 + 1 * ROWS * COLS + 1 * COLS + 2] = 0.3
    return weights[None, None, :]


def test_a_words_frame_maps_hold_each_frames_share_and_peak_where_it_looked():
    places, heads = hand_places(), hand_heads()
    details = places.details(places.tokens(heads))
    assert details.shape == (FRAMES, ROWS, COLS)
    frames, sink = places.maps(heads)
    # each frame's map sums to that frame's share of the word's attention (CLS left out): the raw
    # share, so that a frame the word hardly looked at is drawn faint
    np.testing.assert_allclose(details.sum(axis=(1, 2)), frames, atol=1e-6)
    assert details.sum() == pytest.approx(1.0) and sink == pytest.approx(0.5)
    assert np.unravel_index(int(details.argmax()), details.shape) == (1, 1, 2)
    assert details[1, 1, 2] == pytest.approx(0.3 / 0.5)
    # the window's route: the words as drawn name their places and lens
    from attnviewer.types import Step

    step = Step(0, "a", 0, 1.0, [], frames, heads=heads)
    np.testing.assert_allclose(drawn_details(Drawn([step], places, Lens()), 0), details)
    assert drawn_details([step], 0) is None  # no places: a bundled model's words
    # overlays: the looked-at frame's is the strongest, each scaled by the word's largest cell
    overlays = detail_overlays(details, OverlaySettings())
    alpha = [float(o[..., 3].max()) for o in overlays]
    assert len(overlays) == FRAMES and alpha[1] == max(alpha) and alpha[0] < alpha[1]


def test_the_window_draws_where_in_each_frame_a_transformer_looked(qtbot, window, timesformer, clip):
    window.open_model_folder(str(timesformer))
    side = window.sides["main"]
    window.open_file(str(clip))
    wait_finished(qtbot, window)
    qtbot.waitUntil(lambda: window.shown is not None and window.shown.path == str(clip), timeout=GUI_TIMEOUT)
    state = side.state
    assert state.words and state.current.heads is not None
    strip, pane = window.media_pane("video").strip, side.attention
    places = state.result.places
    assert places.detail is not None and places.detail[0] == len(strip.frames)
    assert strip.overlays is not None and len(strip.overlays) == len(strip.frames)
    assert pane.top_overlays is not None and len(pane.top_overlays) == len(pane.top_shown)
    expected = detail_overlays(places.details(places.tokens(state.current.heads)), window.overlay_controls.settings())
    for got, want in zip(strip.overlays, expected):
        np.testing.assert_array_equal(got, want)
    for got, k in zip(pane.top_overlays, pane.top_shown):
        np.testing.assert_array_equal(got, expected[k])
    # another lens: drawn again from the stored heads, no new job
    ids, before = window.engine._ids, [o.copy() for o in strip.overlays]
    side.lens_controls.set_lens(Lens(0, "max"))
    relensed = detail_overlays(places.details(places.tokens(state.current.heads, Lens(0, "max"))),
                               window.overlay_controls.settings())
    for got, want in zip(strip.overlays, relensed):
        np.testing.assert_array_equal(got, want)
    assert any(not np.array_equal(a, b) for a, b in zip(before, strip.overlays))
    assert window.engine._ids == ids


def test_the_bundled_lstm_video_captioner_has_no_where_in_frame(qtbot, window, clip):
    from attnviewer.settings import DecodeSettings

    window.sides["main"].controls.set_settings(DecodeSettings("greedy", max_len=30))
    window.open_file(str(clip))
    wait_finished(qtbot, window)
    qtbot.waitUntil(lambda: window.shown is not None and window.shown.path == str(clip), timeout=GUI_TIMEOUT)
    assert window.sides["main"].controls.model_name() == "video-shapes"
    strip, pane = window.media_pane("video").strip, window.sides["main"].attention
    assert strip.weights is not None and strip.overlays is None
    assert pane.weights is not None and pane.top_overlays is None


def test_the_top_frames_figure_shows_where_in_each_frame(tmp_path, timesformer, clip, capsys):
    out = tmp_path / "r.json"
    assert main(["video", str(clip), "--model", str(timesformer), "--json", str(out),
                 "--top-frames", str(tmp_path / "top.png"), "--device", "cpu", "--max-len", "4"]) == 0
    capsys.readouterr()
    assert (tmp_path / "top.png").stat().st_size > 0
    result = load_result(out)
    details = frame_details(result, result.best)
    assert details is not None and details.shape[:2] == (len(result.best.tokens), len(result.frame_times))
    media = read_clip(clip, len(result.frame_times))
    for name, where in (("plain", None), ("where", details)):  # the CLI's figure has a title: drawn again
        top_frames_figure(media.frames, result.frame_times, result.best, tmp_path / f"{name}.png", details=where)
    with Image.open(tmp_path / "where.png") as a, Image.open(tmp_path / "plain.png") as b:
        assert a.size == b.size and not np.array_equal(np.asarray(a), np.asarray(b))
    # an LSTM-like result (no heads) draws the plain figure
    result.places = None
    assert frame_details(result, result.best) is None
