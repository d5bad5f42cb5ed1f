"""File jobs the engine runs off the GUI thread: writing exports, rendering export previews,
reopening saved results. Plain Python (no Qt): the worker's slot only routes requests here."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field



@dataclass
class ExportRequest:
    """One file job for the worker: write (or, with preview=True, render small) one export kind,
    or (kind "open") reopen a saved result with its image.

    grid: every word's panel (caption_figure); word: the word `index` alone (word_figure);
    overlay: the word `index`'s overlay at the image's resolution; animation: GIF/MP4 of every
    word; result: the JSON at `path` and the NPZ beside it. Only plain data: numpy arrays and
    the export module's dataclasses.
    """

    kind: str
    path: str = ""
    image: object = None  # (H, W, 3) uint8
    hyp: object = None  # Hypothesis
    style: object = None  # FigureStyle
    title: str | None = None
    index: int = 0  # the word of a word / overlay export (and the frame an animation preview shows)
    result: object = None  # Result, for kind "result"
    seconds: float = 1.0  # animation: per word
    size: int = 512  # animation: long side of a frame in pixels
    preview: bool = False  # render a small RGB picture instead of writing the file
    id: int = 0
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)


class ExportCancelled(Exception):
    """Raised between animation frames when the user stops an export; nothing is written."""


PREVIEW_MAX_SIDE = 900  # pixels of a preview's long side


def write_export(req: ExportRequest, progress) -> None:
    """Write the file a request asks for; progress(done, total) is reported for animations."""
    from pathlib import Path

    from ..export import figures

    if req.kind == "grid":
        figures.caption_figure(req.image, req.hyp, req.path, req.style, req.title)
    elif req.kind == "word":
        figures.word_figure(req.image, req.hyp, req.index, req.path, req.style)
    elif req.kind == "overlay":
        figures.write_overlay(req.image, req.hyp.attention[req.index], req.path, _valid(req.style))
    elif req.kind == "animation":
        _write_animation(req, progress)
    elif req.kind == "result":
        from ..export.data import npz_path_for, write_result

        if Path(req.path).suffix.lower() != ".json":
            from ..errors import OutputError

            raise OutputError(f"{req.path}: a result is written as JSON (with its NPZ beside it); "
                              "name the file .json")
        write_result(req.result, req.path, npz_path_for(req.path))
    else:
        raise ValueError(f"unknown export kind {req.kind!r}")


def _valid(style):
    from ..export.figures import FigureStyle

    return (style or FigureStyle()).validate()


def _write_animation(req: ExportRequest, progress) -> None:
    """write_animation with a progress report per frame and a cancel check between frames:
    cancelling raises inside the writer, so the temporary file goes and the target stays."""
    from ..export.animation import write_animation

    total = max(1, len(req.hyp.tokens)) + 1  # the frames, then the file

    def on_frame(done: int, _frames: int) -> None:
        if req.cancel.is_set():
            raise ExportCancelled
        progress(done, total)

    write_animation(req.image, req.hyp, req.path, _valid(req.style), req.seconds, req.size, on_frame=on_frame)
    progress(total, total)


def render_preview(req: ExportRequest):
    """A small RGB picture of what `req` would write: the same figure at a low DPI, the overlay
    or the animation frame of word `index` at a reduced size."""
    from dataclasses import replace

    import numpy as np

    from ..export import figures

    style = _valid(req.style)
    image = np.asarray(req.image)
    if req.kind == "overlay":
        small = figures._display_copy(image, PREVIEW_MAX_SIDE)
        return figures.overlay_image(small, req.hyp.attention[req.index], style)
    if req.kind == "animation":
        from itertools import islice

        from ..export.animation import animation_frames

        size = min(req.size, 480)
        n = len(req.hyp.tokens)
        return next(islice(animation_frames(image, req.hyp, style, size), min(req.index, max(n - 1, 0)), None))
    panels = 1 + len(req.hyp.tokens) if req.kind == "grid" else 1
    cols = max(1, min(style.columns, panels))
    rows = -(-panels // cols)
    aspect = image.shape[0] / image.shape[1]
    width = 0.1 + cols * style.panel_inches + (cols - 1) * 0.08
    height = 0.1 + rows * (style.font_size * 1.55 / 72 + style.panel_inches * aspect)
    dpi = int(max(20, min(style.dpi, PREVIEW_MAX_SIDE / max(width, height))))
    small = replace(style, dpi=dpi)
    if req.kind == "grid":
        return figures.caption_figure(image, req.hyp, None, small, req.title)
    return figures.word_figure(image, req.hyp, req.index, None, small)


def open_result(path: str):
    """A saved result and its image, re-read from the result's source (or beside the file)."""
    from ..export.data import find_source, load_result
    from ..media.images import load_image

    result = load_result(path)
    if result.kind != "caption":
        from pathlib import Path

        from ..errors import MediaError

        what = "a translation" if result.kind == "translate" else f"a {result.kind} result"
        raise MediaError(f"{Path(path).name} is {what}; the window shows image captions. Draw its figure with "
                         f"`attnviewer export {Path(path).name} --figure OUT.png`")
    return result, load_image(find_source(result, path))
