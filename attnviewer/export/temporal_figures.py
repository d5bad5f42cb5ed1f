"""The video figures: the frame strip with each word's temporal attention under it, and each
word's most attended frames. Rendered like the caption figures (matplotlib's Agg canvas, the same
style options, words as text in SVG and PDF), with an exact layout in inches.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SettingsError
from ..types import Hypothesis
from .figures import FigureStyle, _check_format, _label, _new_figure, _rc, save_figure

MARGIN = 0.06  # inches around the figure


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


def frame_strip_figure(frames: np.ndarray, times: list[float], hyp: Hypothesis, out: str | Path | None,
                       style: FigureStyle | None = None, title: str | None = None) -> Path | np.ndarray:
    """The sampled frames in a row, each with its time, and under them one attention curve per
    word, on the same time axis, with the word at the left. With out None: an RGB picture."""
    import matplotlib

    style = (style or FigureStyle()).validate()
    _check_format(out)
    att = _check(frames, hyp)
    n = len(frames)
    h, w = frames.shape[1:3]
    cell = style.panel_inches * 0.42  # one frame's width
    label_w = _label_width(hyp, style)
    text_h = style.font_size * 1.6 / 72
    row_h = max(style.font_size * 2.2 / 72, 0.3)
    strip_h = cell * h / w
    title_h = text_h if title else 0.0
    width = 2 * MARGIN + label_w + n * cell
    height = 2 * MARGIN + title_h + strip_h + text_h + len(att) * row_h
    peak = 1.0 if style.scale == "fixed" else max(float(att.max()), 1e-6)
    colour = matplotlib.colormaps[style.cmap](0.85)
    with matplotlib.rc_context(_rc(style)):
        fig = _new_figure(width, height, style.dpi)
        if title:
            fig.text(0.5, 1 - MARGIN / height, title, ha="center", va="top", fontsize=style.font_size)
        top = height - MARGIN - title_h
        for k, frame in enumerate(frames):
            left = MARGIN + label_w + k * cell
            ax = fig.add_axes([left / width, (top - strip_h) / height, cell * 0.96 / width, strip_h / height])
            ax.imshow(frame, aspect="auto", interpolation="antialiased")
            ax.set_axis_off()
            ax.text(0.5, -0.04, _time(times[k]), transform=ax.transAxes, ha="center", va="top",
                    fontsize=style.font_size * 0.72, color="0.35")
        x = np.arange(n)
        for j, row in enumerate(att):
            bottom = top - strip_h - text_h - (j + 1) * row_h
            ax = fig.add_axes([(MARGIN + label_w) / width, bottom / height, n * cell / width, row_h * 0.9 / height])
            ax.fill_between(x, row / peak, color=colour, alpha=0.35, linewidth=0)
            ax.plot(x, row / peak, color=colour, linewidth=1.4)
            ax.plot([int(row.argmax())], [row.max() / peak], "o", color=colour, markersize=3)
            ax.set_xlim(-0.5 + 0.02, n - 0.5 - 0.02)
            ax.set_ylim(0, 1.08)
            ax.set_axis_off()
            ax.text(-0.01, 0.4, _label(hyp, j, style), transform=ax.transAxes, ha="right", va="center",
                    fontsize=style.font_size)
        return save_figure(fig, out, style.dpi)


def top_frames(att_row: np.ndarray, k: int) -> list[int]:
    """The k most attended steps of one word, most attended first."""
    return [int(i) for i in np.argsort(-att_row, kind="stable")[:k]]


def top_frames_figure(frames: np.ndarray, times: list[float], hyp: Hypothesis, out: str | Path | None,
                      style: FigureStyle | None = None, k: int = 3, title: str | None = None) -> Path | np.ndarray:
    """One row per word: the word, then its k most attended frames, each with its time and weight.
    With out None: an RGB picture."""
    import matplotlib

    style = (style or FigureStyle()).validate()
    _check_format(out)
    if not 1 <= k <= len(frames):
        raise SettingsError(f"top frames: k must be 1 to {len(frames)}, got {k}")
    att = _check(frames, hyp)
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
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():  # the border's strength is the weight
                    spine.set_color(matplotlib.colormaps[style.cmap](0.85))
                    spine.set_linewidth(0.5 + 3.0 * float(row[step]))
                ax.set_title(f"{_time(times[step])} · {row[step]:.2f}", fontsize=style.font_size * 0.72,
                             pad=2, color="0.3")
        return save_figure(fig, out, style.dpi)
