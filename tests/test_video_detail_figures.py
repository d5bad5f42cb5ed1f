"""Where in each frame a transformer video captioner looked, in every video figure (issue 19): the
frame strip figure (--figure) draws each word's frames with its where-in-frame maps above its
curve, the animation draws them over the large frame and the thumbnails, and the comparison figure
over a row of frames for each word of the transformer's result. A tiny random TimeSformer + GPT-2
(tests/hf_models.py) captions a short generated clip once for the module."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("transformers")

from attnviewer.cli import main  # noqa: E402
from attnviewer.data.clip_events import generate_clip  # noqa: E402
from attnviewer.export.data import load_result  # noqa: E402
from attnviewer.export.figures import FigureStyle  # noqa: E402
from attnviewer.export.temporal_figures import frame_strip_figure, where_in_frames  # noqa: E402
from attnviewer.export.video_animation import video_frames  # noqa: E402
from attnviewer.media.frames import read_clip, write_clip  # noqa: E402

SMALL = FigureStyle(dpi=30)  # figures drawn small: the test is about what is in them


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The clip, and the transformer's result with its strip figure and animation written by `video`."""
    from .hf_models import video_gpt2

    root = tmp_path_factory.mktemp("video-detail-figures")
    folder = video_gpt2(root / "timesformer-gpt2")
    clip = write_clip(generate_clip(5, 0).frames, root / "clip.mp4", fps=12, scale=2)
    out = {"clip": clip, "json": root / "r.json", "figure": root / "strip.png", "animation": root / "a.gif"}
    assert main(["video", str(clip), "--model", str(folder), "--json", str(out["json"]), "--greedy",
                 "--figure", str(out["figure"]), "--animation", str(out["animation"]), "--max-len", "3",
                 "--frame-size", "160", "--title", "T", "--dpi", "30"]) == 0
    result = load_result(out["json"])
    out["result"], out["media"] = result, read_clip(clip, len(result.frame_times))
    out["details"] = where_in_frames(result, result.best)
    assert out["details"] is not None
    return out


def _picture(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_the_strip_figure_draws_where_each_word_looked_in_each_frame(made, capsys):
    r, media, details = made["result"], made["media"], made["details"]
    written = _picture(made["figure"])
    plain = frame_strip_figure(media.frames, r.frame_times, r.best, None, SMALL, title="T")  # as before: curves only
    drawn = frame_strip_figure(media.frames, r.frame_times, r.best, None, SMALL, title="T", details=details)
    assert written.shape == drawn.shape and written.shape[0] > plain.shape[0]  # a row of frames per word
    # the overlays are the maps': with nothing looked at, the same layout holds bare frames
    flat = frame_strip_figure(media.frames, r.frame_times, r.best, None, SMALL, title="T", details=np.zeros_like(details))
    assert flat.shape == drawn.shape and not np.array_equal(flat, drawn)
    from attnviewer.errors import SettingsError

    with pytest.raises(SettingsError, match="where-in-frame maps cover"):
        frame_strip_figure(media.frames, r.frame_times, r.best, None, SMALL, details=details[:, :1])


def test_the_animation_draws_where_each_word_looked(made):
    r, media, details = made["result"], made["media"], made["details"]
    with Image.open(made["animation"]) as gif:
        n = gif.n_frames
    assert n == len(r.best.tokens)
    plain = list(video_frames(media.frames, r.best, size=160))
    drawn = list(video_frames(media.frames, r.best, size=160, details=details))
    assert len(drawn) == len(plain) == n
    for a, b in zip(plain, drawn):
        assert a.shape == b.shape and not np.array_equal(a, b)  # the overlays are on the frames
    # the first word's picture as written: nearer the drawn one than the plain one (GIF colours)
    with Image.open(made["animation"]) as gif:
        gif.seek(0)
        first = np.asarray(gif.convert("RGB")).astype(np.float32)
    assert np.abs(first - drawn[0]).mean() < np.abs(first - plain[0]).mean()


def test_the_comparison_figure_draws_where_the_transformer_looked(made, tmp_path, capsys):
    from attnviewer.export.comparison import comparison_figure

    r, media = made["result"], made["media"]
    without = load_result(made["json"])
    without.places = None  # the same words without heads and places: an LSTM-like result
    both = comparison_figure("video", media, [(r, 0, "a"), (without, 0, "b")], None, SMALL)
    neither = comparison_figure("video", media, [(without, 0, "a"), (without, 0, "b")], None, SMALL)
    assert both.shape[0] > neither.shape[0]  # the transformer's words have their frames above the curves
    out = tmp_path / "cmp.png"
    assert main(["export", str(made["json"]), "--compare", str(made["json"]), "--figure", str(out), "--dpi", "30"]) == 0
    capsys.readouterr()
    twice = comparison_figure("video", media, [(r, 0, "a"), (r, 0, "b")], None, SMALL)
    assert _picture(out).shape[0] == twice.shape[0] > both.shape[0]
