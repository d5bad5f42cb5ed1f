"""A video's caption written word by word: one picture per word, with the caption so far (the
current word highlighted), the frame that word attended most, large, and under it every sampled
frame as a thumbnail with a bar as tall as its attention weight. A transformer's where-in-frame
maps (`details`, temporal_figures.where_in_frames) are drawn over the large frame and every
thumbnail, as the figures draw them. GIF or MP4, through the caption animation's writer and fonts."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..types import Hypothesis
from .animation import caption_layouts, draw_lines, text_setup, write_frames
from .figures import FigureStyle, overlay_image
from .temporal_figures import _check, checked_details, word_where


def video_frames(frames: np.ndarray, hyp: Hypothesis, style: FigureStyle | None = None,
                 size: int = 512, details: np.ndarray | None = None, note: str | None = None) -> Iterator[np.ndarray]:
    """(H, W, 3) uint8 pictures `size` px wide, one per word (one for an empty caption); given
    `details` (words, frames, rows, cols), where in each frame the word looked over the frames."""
    from dataclasses import replace

    import matplotlib
    from PIL import Image, ImageDraw

    style = (style or FigureStyle()).validate()
    att = _check(frames, hyp)
    checked_details(details, att)
    fixed = replace(style, scale="fixed")  # each word's maps scaled by its largest cell (word_where)
    width = max(2, round(size / 2) * 2)
    px, fonts, margin, line_h = text_setup(style, size)
    n, (h, w) = len(frames), frames.shape[1:3]
    big_w = width - 2 * margin
    big_h = round(big_w * h / w)
    thumb_w = (width - 2 * margin) // n
    thumb_h = max(2, round(thumb_w * h / w))
    bar_h = round(thumb_h * 0.9)
    words = hyp.tokens
    layouts = caption_layouts(hyp, fonts, width - 2 * margin, style, note)
    text_h = max(len(lay) for lay in layouts) * line_h
    big_top = margin + text_h + margin
    strip_top = big_top + big_h + margin
    height = strip_top + thumb_h + 4 + bar_h + margin
    height += height % 2
    thumbs = [cv2.resize(f, (thumb_w, thumb_h), interpolation=cv2.INTER_AREA) for f in frames]
    colour = tuple(int(255 * c) for c in matplotlib.colormaps[style.cmap](0.85)[:3])
    peak = 1.0 if style.scale == "fixed" else max(float(att.max()), 1e-6)
    for i, lines in enumerate(layouts):
        row = att[i] if words else np.zeros(n)
        best = int(row.argmax())
        picture = Image.new("RGB", (width, height), (255, 255, 255))
        draw = ImageDraw.Draw(picture)
        draw_lines(draw, lines, margin, margin, px, line_h)
        where = word_where(details[i]) if details is not None and words else None
        large = cv2.resize(frames[best], (big_w, big_h), interpolation=cv2.INTER_AREA if big_w < w else cv2.INTER_CUBIC)
        if where is not None:
            large = overlay_image(large, where[best], fixed)
        picture.paste(Image.fromarray(large), (margin, big_top))
        for k, thumb in enumerate(thumbs):
            left = margin + k * thumb_w
            if where is not None:
                thumb = overlay_image(thumb, where[k], fixed)
            picture.paste(Image.fromarray(thumb), (left, strip_top))
            bar = round(bar_h * row[k] / peak) if words else 0
            bottom = strip_top + thumb_h + 4 + bar_h
            if bar:
                draw.rectangle((left + 1, bottom - bar, left + thumb_w - 2, bottom), fill=colour)
            if k == best and words:
                draw.rectangle((left, strip_top, left + thumb_w - 1, strip_top + thumb_h - 1), outline=colour, width=2)
        yield np.asarray(picture)


def write_video_animation(frames: np.ndarray, hyp: Hypothesis, out: str | Path, style: FigureStyle | None = None,
                          seconds: float = 1.0, size: int = 512, on_frame=None,
                          details: np.ndarray | None = None, note: str | None = None) -> Path:
    """The video's caption word by word as a GIF or MP4, `seconds` per word, `size` px wide."""
    return write_frames(lambda: video_frames(frames, hyp, style, size, details, note), len(hyp.tokens), out, seconds,
                        size, on_frame)
