"""The translation figure: the alignment matrix of target words (rows) against source words
(columns), each row one step's attention, with a colour bar; as in Bahdanau et al.'s figures.

Rendered with matplotlib's Agg canvas like the caption figures (same style options, words stay
text in SVG and PDF). Its size follows from the words: a square cell per word pair, sized to the
font, so a long sentence gives a bigger figure rather than cramped labels.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SettingsError
from ..types import Hypothesis
from .figures import FigureStyle, _check_format, _label, _new_figure, _rc, save_figure


SPECIALS = "(specials)"  # the column of the special tokens' share (a transformer's </s>, language tags)


def alignment_matrix(hyp: Hypothesis, source_tokens: list[str], specials: bool = False) -> np.ndarray:
    """(target words, source words) weights: each row is the attention that emitted a word.
    specials: a transformer's rows as they fell, the words' weights scaled by what the special
    tokens left them and a last column of the specials' share (without: the words' renormalised;
    a result without sinks is as it is)."""
    att = np.asarray(hyp.attention, dtype=np.float32).reshape(len(hyp.tokens), -1)
    if att.shape[1] < len(source_tokens):
        raise SettingsError(f"the attention covers {att.shape[1]} source words, but the source has "
                            f"{len(source_tokens)}: the result does not belong to this sentence")
    att = att[:, : len(source_tokens)]
    if specials and hyp.sinks is not None and len(hyp.sinks) == len(att):
        sinks = np.asarray(hyp.sinks, dtype=np.float32)[:, None]
        att = np.concatenate([att * (1.0 - sinks), sinks], axis=1)
    return att


ROW_PEAK_LABEL = "attention, each row to its own peak"


def row_colours(m: np.ndarray, style: FigureStyle) -> tuple[np.ndarray, str]:
    """(what each cell's colour shows, 0..1; the colour bar's label). --scale max scales each row (one
    word's map) to its own peak, as the window's tiles draw each word; fixed keeps the weights."""
    if style.scale == "fixed" or not m.size:
        return np.clip(m, 0.0, 1.0), "attention weight"
    return m / np.maximum(m.max(axis=1, keepdims=True), 1e-6), ROW_PEAK_LABEL


def columns(hyp: Hypothesis, source_tokens: list[str], specials: bool = False) -> list[str]:
    """The matrix's column labels: the source words, and the specials' column where it is drawn."""
    drawn = specials and hyp.sinks is not None and len(hyp.sinks) == len(hyp.tokens)
    return list(source_tokens) + ([SPECIALS] if drawn else [])


def alignment_figure(hyp: Hypothesis, source_tokens: list[str], out: str | Path | None,
                     style: FigureStyle | None = None, title: str | None = None,
                     values: bool = False, specials: bool = False) -> Path | np.ndarray:
    """The matrix with source words along the top, target words (and probabilities) down the
    left, and a colour bar; values=True also prints each weight in its cell.
    Written to `out`; with out None, returned as an RGB picture (the export preview)."""
    import matplotlib

    style = (style or FigureStyle()).validate()
    _check_format(out)
    m = alignment_matrix(hyp, source_tokens, specials)
    source_tokens = columns(hyp, source_tokens, specials)
    rows, cols = m.shape
    cell = style.font_size * 2.0 / 72  # inches: a row fits a line of text with room around it
    with matplotlib.rc_context(_rc(style)):
        fig = _new_figure(cols * cell + 1.2, rows * cell + 0.6, style.dpi)
        ax = fig.add_axes([0.0, 0.0, cols * cell / (cols * cell + 1.2), rows * cell / (rows * cell + 0.6)])
        shown, bar_label = row_colours(m, style)
        image = ax.imshow(shown, cmap=style.cmap, vmin=0.0, vmax=1.0, aspect="equal", interpolation="nearest")
        ax.set_xticks(range(cols), source_tokens, rotation=60, ha="left", rotation_mode="anchor")
        ax.set_yticks(range(rows), [_label(hyp, i, style) for i in range(rows)])
        ax.xaxis.tick_top()
        ax.tick_params(length=0)
        ax.set_xticks(np.arange(cols + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(rows + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", linewidth=0.6)
        ax.tick_params(which="minor", length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        if values:
            cmap = matplotlib.colormaps[style.cmap]
            for (j, i), w in np.ndenumerate(m):  # the weight itself, whatever the colour's scale
                if w >= 0.005:
                    dark = np.dot(cmap(shown[j, i])[:3], (0.299, 0.587, 0.114)) < 0.5
                    ax.text(i, j, f"{w:.2f}".lstrip("0"), ha="center", va="center",
                            fontsize=style.font_size * 0.6, color="white" if dark else "black")
        bar = fig.colorbar(image, ax=ax, fraction=0.04 if cols > 8 else 0.08, pad=0.03)
        bar.set_label(bar_label)
        bar.outline.set_visible(False)
        if title:
            ax.set_xlabel(title, labelpad=style.font_size * 0.6)
        return save_figure(fig, out, style.dpi, tight=True)
