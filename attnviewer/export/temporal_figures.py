"""The video figures: the frame strip with each word's temporal attention under it, and each
word's most attended frames. Rendered like the caption figures (matplotlib's Agg canvas, the same
style options, words as text in SVG and PDF), with an exact layout in inches.

A transformer's figures also show where in each frame the word looked (`details`, where_in_frames),
drawn as the caption figures' overlay: over each top frame, and over a row of the frames above
each word's curve in the strip (and the comparison). All of a word's frame maps are scaled by its
largest cell, so a frame's overlay is as strong as its share of the word's attention (see
ui/video_panes.py).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import SettingsError
from ..types import Hypothesis
from .figures import FigureStyle, _check_format, _label, _new_figure, _rc, overlay_rgba, save_figure

MARGIN = 0.06  # inches around the figure
WHERE_GAP = 0.1  # inches between a word's frames and the curve of the word above


def _check(frames: np.ndarray, hyp: Hypothesis) -> np.ndarray:
    att = np.asarray(hyp.attention, dtype=np.float32).reshape(len(hyp.tokens), -1)
    if att.shape[1] != len(frames):
        raise SettingsError(f"the attention covers {att.shape[1]} steps but {len(frames)} frames were given")
    return att


def _label_width(hyp: Hypothesis, style: FigureStyle) -> float:
    """Inches for the longest word label at the left (an average glyph is ~0.6 em wide)."""
    longest = max((len(_label(hyp, j, style)) for j in range(len(hyp.tokens))), default=4)
    return longest * style.font_size * 0.62 / 72 + 0.15


def _time(t: float) -> str:
    return f"{t:.2f} s" if t < 10 else f"{t:.1f} s"


def _weight(v: float) -> str:
    """A weight as a tick label: 0, 0.5, 1, 0.37."""
    text = f"{v:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def curve_row_height(style: FigureStyle) -> float:
    """Inches of one word's attention curve (with room for its weight ticks)."""
    return max(style.font_size * 2.7 / 72, 0.36)


def weight_axis_width(style: FigureStyle) -> float:
    """Inches right of the curves for the weight ticks ("0.37") and the "attention" label."""
    return style.font_size * (0.62 * 0.62 * 4 + 1.5) / 72 + 0.1


def curve_axes(fig, rect: list[float], x: np.ndarray, values: np.ndarray, peak: float, colour, style: FigureStyle,
               xlim: tuple[float, float], label: str):
    """One word's attention curve in rect (figure fractions): filled, its peak marked, the word at
    the left and a weight axis at the right with ticks 0, half and the peak of the scale (`peak`:
    1 on the fixed scale, else the largest weight drawn). Tick marks are a plain path, not
    markers, so an SVG's markers are the peaks alone."""
    ax = fig.add_axes(rect)
    y = values / peak
    ax.fill_between(x, y, color=colour, alpha=0.35, linewidth=0)
    ax.plot(x, y, color=colour, linewidth=1.4)
    k = int(np.argmax(values))
    ax.plot([x[k]], [y[k]], "o", color=colour, markersize=3)
    ax.set_xlim(*xlim)
    ax.set_ylim(0, 1.08)
    ax.set_axis_off()
    ax.text(-0.01, 0.4, label, transform=ax.transAxes, ha="right", va="center", fontsize=style.font_size)
    # the weight axis: a line at the right edge, three ticks and their weights
    edge = ax.get_yaxis_transform()  # x in axes fractions, y in data
    tick = 0.04 / (rect[2] * fig.get_figwidth())  # 0.04 in, in axes fractions
    xs, ys = [1.0, 1.0], [0.0, 1.0]
    for v in (0.0, 0.5, 1.0):
        xs += [np.nan, 1.0, 1.0 + tick]
        ys += [np.nan, v, v]
    ax.plot(xs, ys, color="0.45", linewidth=0.6, transform=edge, clip_on=False, solid_capstyle="butt")
    for v in (0.0, 0.5, 1.0):
        ax.text(1.0 + tick * 1.6, v, _weight(v * peak), transform=edge, ha="left", va="center",
                fontsize=style.font_size * 0.62, color="0.3")
    return ax


def weight_axis_label(fig, left: float, bottom: float, top: float, style: FigureStyle) -> None:
    """ "attention", rotated, right of a block of curves (inches from the figure's bottom left)."""
    width, height = fig.get_figwidth(), fig.get_figheight()
    fig.text(left / width, (bottom + top) / 2 / height, "attention", rotation=90, ha="left", va="center",
             fontsize=style.font_size * 0.72, color="0.3")


def scale_peak(style: FigureStyle, *arrays: np.ndarray) -> float:
    """The top of the curves' weight axis: 1 on the fixed scale, else the largest weight."""
    if style.scale == "fixed":
        return 1.0
    return max([float(a.max()) for a in arrays if a.size] + [1e-6])


def frame_strip_figure(frames: np.ndarray, times: list[float], hyp: Hypothesis, out: str | Path | None,
                       style: FigureStyle | None = None, title: str | None = None,
                       details: np.ndarray | None = None) -> Path | np.ndarray:
    """The sampled frames in a row, each with its time, and under them one attention curve per
    word, on the same time axis, with the word at the left and the weight at the right. Given
    `details` (words, frames, rows, cols: a transformer's where-in-frame maps), each word's curve
    has the frames above it again with where in each frame the word looked over them.
    With out None: an RGB picture."""
    import matplotlib

    style = (style or FigureStyle()).validate()
    _check_format(out)
    att = _check(frames, hyp)
    checked_details(details, att)
    n = len(frames)
    h, w = frames.shape[1:3]
    cell = style.panel_inches * 0.42  # one frame's width
    label_w = _label_width(hyp, style)
    axis_w = weight_axis_width(style)
    text_h = style.font_size * 1.6 / 72
    strip_h = cell * h / w
    where_h = where_row_height(strip_h, details)
    row_h = curve_row_height(style) + where_h
    title_h = text_h if title else 0.0
    width = 2 * MARGIN + label_w + n * cell + axis_w
    height = 2 * MARGIN + title_h + strip_h + text_h + len(att) * row_h
    peak = scale_peak(style, att)
    colour = matplotlib.colormaps[style.cmap](0.85)
    with matplotlib.rc_context(_rc(style)):
        fig = _new_figure(width, height, style.dpi)
        if title:
            fig.text(0.5, 1 - MARGIN / height, title, ha="center", va="top", fontsize=style.font_size)
        top = height - MARGIN - title_h
        draw_strip(fig, frames, times, MARGIN + label_w, top, cell, strip_h, style)
        x = np.arange(n)
        for j, row in enumerate(att):
            bottom = top - strip_h - text_h - (j + 1) * row_h
            if details is not None:
                draw_where_strip(fig, frames, word_where(details[j]), x, MARGIN + label_w, bottom + row_h, cell,
                                 strip_h, style)
            curve_axes(fig, [(MARGIN + label_w) / width, bottom / height, n * cell / width,
                             (row_h - where_h) * 0.84 / height],
                       x, row, peak, colour, style, (-0.5 + 0.02, n - 0.5 - 0.02), _label(hyp, j, style))
        if len(att):
            weight_axis_label(fig, MARGIN + label_w + n * cell + axis_w - style.font_size * 1.1 / 72,
                              top - strip_h - text_h - len(att) * row_h, top - strip_h - text_h, style)
        return save_figure(fig, out, style.dpi)


def where_row_height(strip_h: float, details: np.ndarray | None) -> float:
    """Inches above a word's curve for its frames with where it looked (none without details)."""
    return 0.0 if details is None else strip_h * 0.8 + WHERE_GAP


def draw_where_strip(fig, frames: np.ndarray, where: np.ndarray, x: np.ndarray, left: float, top: float,
                     cell: float, strip_h: float, style: FigureStyle) -> None:
    """One word's frames in a row below `top` (inches, less WHERE_GAP), 0.8 of the strip's height: at each of its
    steps' positions `x` (on the strip, in frames; fractional where a result sampled other times,
    drawn over the nearest frame) that step's where-map `where` (steps, rows, cols; see word_where)."""
    width, height = fig.get_figwidth(), fig.get_figheight()
    fixed = replace(style, scale="fixed")
    n = len(frames)
    top -= WHERE_GAP
    ax = fig.add_axes([left / width, (top - strip_h * 0.8) / height, n * cell / width, strip_h * 0.8 / height])
    for step, pos in enumerate(x):  # one axes for the row, a picture per frame in it (axes are slow)
        k = int(np.clip(round(float(pos)), 0, n - 1))
        extent = (pos - 0.4, pos + 0.4, 1.0, 0.0)
        ax.imshow(frames[k], aspect="auto", interpolation="antialiased", extent=extent)
        draw_where(ax, where[step], extent, fixed)
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(1.0, 0.0)
    ax.set_axis_off()


def draw_strip(fig, frames: np.ndarray, times: list[float], left: float, top: float, cell: float, strip_h: float,
               style: FigureStyle) -> None:
    """The frames in a row from (left, top) in inches, each cell wide, its time under it."""
    width, height = fig.get_figwidth(), fig.get_figheight()
    for k, frame in enumerate(frames):
        x = left + k * cell
        ax = fig.add_axes([x / width, (top - strip_h) / height, cell * 0.96 / width, strip_h / height])
        ax.imshow(frame, aspect="auto", interpolation="antialiased")
        ax.set_axis_off()
        ax.text(0.5, -0.04, _time(times[k]), transform=ax.transAxes, ha="center", va="top",
                fontsize=style.font_size * 0.72, color="0.35")


def where_in_frames(result, hyp: Hypothesis) -> np.ndarray | None:
    """A transformer's where-in-each-frame maps of `hyp`, (words, frames, rows, cols), through the
    lens its result was drawn with; None for models without heads or encoders without a patch grid."""
    from ..lens import Lens

    places = result.places
    if places is None or places.detail is None or hyp.heads is None or not len(hyp.heads):
        return None
    return places.details(places.tokens(hyp.heads, Lens.from_dict(result.lens)))


def word_where(maps: np.ndarray) -> np.ndarray:
    """One word's frame maps (frames, rows, cols) scaled by its largest cell: drawn on the fixed
    scale, a frame's overlay is as strong as its share of the word's attention."""
    return maps / max(float(maps.max()), 1e-12)


def draw_where(ax, where: np.ndarray, extent: tuple[float, float, float, float], style: FigureStyle) -> None:
    """One frame's where-map (rows, cols; 0..1) over the frame drawn in `ax` at `extent` (left,
    right, bottom, top in data units), in the caption figures' overlay colours (`style` on the
    fixed scale)."""
    size = (where.shape[0] * 16, where.shape[1] * 16)
    ax.imshow(overlay_rgba(where, size, style), aspect="auto", interpolation="antialiased", extent=extent)


def checked_details(details: np.ndarray | None, att: np.ndarray) -> np.ndarray | None:
    """`details` when they cover att's words x frames; SettingsError of one line otherwise."""
    if details is not None and details.shape[:2] != att.shape:
        raise SettingsError(f"the where-in-frame maps cover {details.shape[:2]} words x frames, "
                            f"the attention {att.shape}")
    return details


def top_frames(att_row: np.ndarray, k: int) -> list[int]:
    """The k most attended steps of one word, most attended first."""
    return [int(i) for i in np.argsort(-att_row, kind="stable")[:k]]


def top_frames_figure(frames: np.ndarray, times: list[float], hyp: Hypothesis, out: str | Path | None,
                      style: FigureStyle | None = None, k: int = 3, title: str | None = None,
                      details: np.ndarray | None = None) -> Path | np.ndarray:
    """One row per word: the word, then its k most attended frames, each with its time and weight,
    and, given `details` (words, frames, rows, cols), where in the frame the word looked over it.
    With out None: an RGB picture."""
    import matplotlib

    style = (style or FigureStyle()).validate()
    _check_format(out)
    if not 1 <= k <= len(frames):
        raise SettingsError(f"top frames: k must be 1 to {len(frames)}, got {k}")
    att = _check(frames, hyp)
    checked_details(details, att)
    fixed = replace(style, scale="fixed")  # each word's maps scaled by its largest cell (word_where)
    h, w = frames.shape[1:3]
    cell = style.panel_inches * 0.45
    label_w = _label_width(hyp, style)
    text_h = style.font_size * 1.5 / 72
    frame_h = cell * h / w
    row_h = frame_h + text_h + 0.04
    title_h = text_h if title else 0.0
    width = 2 * MARGIN + label_w + k * cell
    height = 2 * MARGIN + title_h + len(att) * row_h
    with matplotlib.rc_context(_rc(style)):
        fig = _new_figure(width, height, style.dpi)
        if title:
            fig.text(0.5, 1 - MARGIN / height, title, ha="center", va="top", fontsize=style.font_size)
        for j, row in enumerate(att):
            bottom = height - MARGIN - title_h - (j + 1) * row_h
            fig.text((MARGIN + label_w - 0.08) / width, (bottom + frame_h / 2) / height, _label(hyp, j, style),
                     ha="right", va="center", fontsize=style.font_size)
            for slot, step in enumerate(top_frames(row, k)):
                left = MARGIN + label_w + slot * cell
                ax = fig.add_axes([left / width, bottom / height, cell * 0.94 / width, frame_h / height])
                ax.imshow(frames[step], aspect="auto", interpolation="antialiased")
                if details is not None:
                    draw_where(ax, word_where(details[j])[step], (-0.5, w - 0.5, h - 0.5, -0.5), fixed)
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():  # the border's strength is the weight
                    spine.set_color(matplotlib.colormaps[style.cmap](0.85))
                    spine.set_linewidth(0.5 + 3.0 * float(row[step]))
                ax.set_title(f"{_time(times[step])} · {row[step]:.2f}", fontsize=style.font_size * 0.72,
                             pad=2, color="0.3")
        return save_figure(fig, out, style.dpi)
