"""File jobs the engine runs off the GUI thread: writing exports, rendering export previews,
reopening saved results. Plain Python (no Qt): the worker's slot only routes requests here; what
is drawn for which kind is the kind's business (kinds/)."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ..kinds import WriteOptions
from .wire import Cancellable


@dataclass
class ExportRequest(Cancellable):
    """One file job for the worker: write (or, with preview=True, render small) one output of a
    result's kind ("figure", "word", "overlay", "animation", "top_frames", "result": see the kind's
    `outputs`), or (output "open") reopen a saved result with its input. Only plain data."""

    output: str
    path: str = ""
    media: object = None  # the input as read: LoadedImage, LoadedClip, Sentence
    result: object = None  # Result
    style: object = None  # FigureStyle
    opts: WriteOptions = field(default_factory=WriteOptions)
    preview: bool = False  # render a small RGB picture instead of writing the file
    extra: object = None  # output "attribution": the whatif Attribution drawn beside the word's attention
    id: int = 0
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)


class ExportCancelled(Exception):
    """Raised between animation frames when the user stops an export; nothing is written."""


def _valid(style):
    from ..export.figures import FigureStyle

    return (style or FigureStyle()).validate()


def write_export(req: ExportRequest, progress) -> None:
    """Write the file a request asks for; progress(done, total) is reported for animations, and a
    cancel between frames raises inside the writer, so the temporary file goes and the target stays."""
    from dataclasses import replace

    from ..kinds import for_result

    total = len(req.result.hypotheses[req.opts.hypothesis].tokens) + 1  # the frames, then the file

    def on_frame(done: int, _frames: int) -> None:
        if req.cancel.is_set():
            raise ExportCancelled
        progress(done, total)

    opts = replace(req.opts, progress=on_frame)
    if req.output == "attribution":
        from ..whatif.attribution import attribution_figure

        attribution_figure(for_result(req.result), req.media, req.result, req.extra, req.path, _valid(req.style))
        progress(total, total)
        return
    for_result(req.result).write(req.output, req.media, req.result, req.path, _valid(req.style), opts)
    progress(total, total)


def render_preview(req: ExportRequest):
    """A small RGB picture of what `req` would write."""
    from ..kinds import for_result

    return for_result(req.result).preview(req.output, req.media, req.result, _valid(req.style), req.opts)


def open_result(path: str):
    """A saved result and its input, read again (its image or video from its recorded source or
    beside the file; a sentence from the result itself)."""
    from ..export.data import load_result
    from ..kinds import for_result

    result = load_result(path)
    return result, for_result(result).reopen(result, path)
