"""A translation written word by word: one frame per target word, the source sentence with each
word's background coloured by that step's attention, and the translation so far below it with
the current word highlighted. GIF or MP4, through the caption animation's writer and fonts."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from ..types import Hypothesis
from .alignment_figure import alignment_matrix
from .animation import PROB_TEXT, _layout, caption_layouts, draw_lines, text_setup, write_frames
from .figures import FigureStyle


def _fills(weights: np.ndarray, style: FigureStyle) -> list[tuple[int, int, int] | None]:
    """Each source word's background: white blended towards the colormap by its weight (none for
    a word with almost none of it)."""
    import matplotlib

    scale = 1.0 if style.scale == "fixed" else max(float(weights.max()), 1e-6)
    m = np.clip(weights / scale, 0, 1)
    colours = matplotlib.colormaps[style.cmap](m)[:, :3]
    alpha = (max(style.opacity, 0.35) * np.sqrt(m))[:, None]  # light enough to read dark text on
    fills = (1 - alpha) + alpha * colours
    return [tuple(int(round(255 * v)) for v in c) if w >= 0.02 else None for c, w in zip(fills, m)]


def translation_frames(source_tokens: list[str], hyp: Hypothesis, style: FigureStyle | None = None,
                       size: int = 512, note: str | None = None) -> Iterator[np.ndarray]:
    """(H, W, 3) uint8 frames `size` px wide, one per target word (one for an empty translation)."""
    from PIL import Image, ImageDraw

    style = (style or FigureStyle()).validate()
    matrix = alignment_matrix(hyp, source_tokens)
    width = max(2, round(size / 2) * 2)
    px, fonts, margin, line_h = text_setup(style, size)
    label_h = round(px * 1.1)
    room = width - 2 * margin
    source = _layout(source_tokens, None, [], fonts, room, False)
    words = hyp.tokens
    targets = caption_layouts(hyp, fonts, room, style, note)
    target_top = margin + label_h + len(source) * line_h + margin + label_h
    height = target_top + max(len(t) for t in targets) * line_h + margin
    height += height % 2
    for i, lines in enumerate(targets):
        frame = Image.new("RGB", (width, height), (255, 255, 255))
        draw = ImageDraw.Draw(frame)
        draw.text((margin, margin), "source", font=fonts[2], fill=PROB_TEXT, anchor="lt")
        fills = _fills(matrix[i], style) if words else None
        draw_lines(draw, source, margin, margin + label_h, px, line_h, fills)
        draw.text((margin, target_top - label_h), "translation", font=fonts[2], fill=PROB_TEXT, anchor="lt")
        draw_lines(draw, lines, margin, target_top, px, line_h)
        yield np.asarray(frame)


def write_translation_animation(source_tokens: list[str], hyp: Hypothesis, out: str | Path,
                                style: FigureStyle | None = None, seconds: float = 1.0, size: int = 512,
                                on_frame=None, note: str | None = None) -> Path:
    """The translation word by word as a GIF or MP4, `seconds` per word, frames `size` px wide."""
    return write_frames(lambda: translation_frames(source_tokens, hyp, style, size, note), len(hyp.tokens), out,
                        seconds, size, on_frame)
