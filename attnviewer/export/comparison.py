"""One figure comparing results of the same input (the window's "Compare side by side"): two
models, or one model on the clip played forwards and backwards, drawn for a paper.

    image: one row of panels per result (the image, then each word's attention), headed by its label
    video: the sampled frames once on top, then a block of attention curves per result, all on the
           file's time axis (a reversed result's steps are put back in file order)
    text:  the alignment matrices side by side, one colour bar (--scale max: each row to its own
           peak), each titled with its label

Rendered like the other figures (matplotlib's Agg canvas, FigureStyle, words as text in SVG and
PDF, written atomically); with out None, returned as an RGB picture (the Export dialog's preview).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import SettingsError
from ..types import NO_WORDS, Result
from .figures import (FigureStyle, _check_format, _display_copy, _fit_titles, _Grid, _label, _new_figure, _panel,
                      _rc, overlay_rgba, save_figure)

MEDIA_KINDS = {"image": "caption", "video": "video", "text": "translate"}  # medium -> Result.kind
MARGIN = 0.06  # inches around the figure


def is_reversed(result: Result) -> bool:
    return bool((result.settings or {}).get("reversed"))


def comparison_label(result: Result, label: str | None = None) -> str:
    """The label of a result in the comparison: its title by default, "(reversed)" added for a
    result of the clip played backwards."""
    from ..types import BACKWARDS, marked, titled

    # a forced or edited branch never passes for the model's own reading; backwards is said as "(reversed)" here
    text = marked(label, result, leave_out=BACKWARDS) if label else titled(result).replace(f", {BACKWARDS}", "")
    if is_reversed(result) and "reversed" not in text.lower() and "backwards" not in text.lower():
        text += " (reversed)"
    return text


def comparison_figure(medium: str, media, results: list[tuple[Result, int, str | None]], out: str | Path | None,
                      style: FigureStyle | None = None, title: str | None = None,
                      values: bool = False) -> Path | np.ndarray:
    """Results of the same input in one figure (see the module's docstring).

    medium: "image", "video" or "text". media: the image (an RGB array, or a LoadedImage), the
    clip (a LoadedClip, forwards or reversed: the frames are drawn in the file's order) or, for
    text, nothing (the source words are the results'). results: (Result, hypothesis index,
    label or None for the result's title), in the order drawn. values: text, print the weights
    in the cells. Written to `out` (.png, .svg, .pdf); with out None, returned as an RGB picture.
    """
    style = (style or FigureStyle()).validate()
    _check_format(out)
    if medium not in MEDIA_KINDS:
        raise SettingsError(f"unknown medium {medium!r}; choose one of {', '.join(MEDIA_KINDS)}")
    if not results:
        raise SettingsError("a comparison needs at least one result")
    entries = []
    for result, index, label in results:
        if (result.kind or "caption") != MEDIA_KINDS[medium]:
            raise SettingsError(f"{comparison_label(result, label)}: a result of kind {result.kind!r} cannot be "
                                f"drawn in a comparison of {medium} results")
        if not 0 <= index < len(result.hypotheses):
            raise SettingsError(f"{comparison_label(result, label)}: hypothesis {index + 1} asked for, but the "
                                f"result holds {len(result.hypotheses)}")
        entries.append((result, result.hypotheses[index], comparison_label(result, label)))
    if medium == "image":
        return _image(getattr(media, "rgb", media), entries, out, style, title)
    if medium == "video":
        return _video(media, entries, out, style, title)
    return _text(entries, out, style, title, values)


def _title_line(style: FigureStyle) -> float:
    return style.font_size * 1.7 / 72


def _bold(style: FigureStyle) -> dict:
    return {"fontsize": style.font_size, "fontweight": "bold"}


# -- image: a row of panels per result ---------------------------------------------------------------


def _image(image, entries, out, style: FigureStyle, title: str | None):
    import matplotlib

    image = _display_copy(np.asarray(image), int(style.panel_inches * style.dpi * 1.5))
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    h, w = image.shape[:2]
    cols = max(1 + len(hyp.tokens) for _, hyp, _ in entries)
    grid = _Grid(style, cols, h / w, columns=cols)  # one row: its sizes
    header_h = _title_line(style)
    title_h = header_h if title else 0.0
    block_gap = grid.row_gap * 3
    block_h = header_h + grid.title_h + grid.ph
    width = grid.width
    height = 2 * grid.MARGIN + title_h + len(entries) * block_h + (len(entries) - 1) * block_gap
    with matplotlib.rc_context(_rc(style)):
        fig = _new_figure(width, height, style.dpi)
        if title:
            fig.text(0.5, 1 - grid.MARGIN / height, title, ha="center", va="top", **_bold(style))
        titles = []
        for r, (_, hyp, label) in enumerate(entries):
            block_top = height - grid.MARGIN - title_h - r * (block_h + block_gap)
            fig.text(grid.MARGIN / width, block_top / height, label, ha="left", va="top", **_bold(style))
            panel_top = block_top - header_h - grid.title_h
            for k in range(1 + len(hyp.tokens)):
                left = grid.MARGIN + k * (grid.pw + grid.GAP)
                rect = [left / width, (panel_top - grid.ph) / height, grid.pw / width, grid.ph / height]
                if k == 0:
                    titles.append(_panel(fig, rect, image, None, "input", style))
                else:
                    titles.append(_panel(fig, rect, image, overlay_rgba(hyp.attention[k - 1], (h, w), style),
                                         _label(hyp, k - 1, style), style))
        _fit_titles(fig, titles)
        return save_figure(fig, out, style.dpi)


# -- video: the frames once, a block of curves per result --------------------------------------------


def file_order(clip) -> tuple[np.ndarray, list[float]]:
    """The clip's frames and their times in the file's order (a reversed clip put back)."""
    frames = np.asarray(clip.frames)
    times = [float(t) for t in clip.times]
    if getattr(clip, "reversed", False):
        return np.ascontiguousarray(frames[::-1]), [clip.file_time(t) for t in reversed(times)]
    return frames, times


def file_positions(result: Result, clip, file_times: list[float], steps: int) -> np.ndarray:
    """Where each attended step of a result lies on the strip (fractional frame positions in the
    file's order): its frame time mapped to the file's time (a reversed result's times count
    from the reversed start), then placed between the strip's frames by time."""
    reverse = is_reversed(result)
    times = result.frame_times
    if not times or len(times) != steps:  # no times: the strip's own frames, in the result's order
        x = np.arange(steps, dtype=np.float64)
        return x[::-1].copy() if reverse else x
    mapping = replace(clip, reversed=reverse)  # LoadedClip.file_time: the frames/time mapping
    file_t = np.array([mapping.file_time(float(t)) for t in times])
    return np.interp(file_t, np.asarray(file_times), np.arange(len(file_times), dtype=np.float64))


def _video(clip, entries, out, style: FigureStyle, title: str | None):
    import matplotlib

    from .temporal_figures import (_label_width, checked_details, curve_axes, curve_row_height, draw_strip,
                                   draw_where_strip, scale_peak, weight_axis_label, weight_axis_width,
                                   where_in_frames, where_row_height, word_where)

    if not hasattr(clip, "frames") or not hasattr(clip, "times"):
        raise SettingsError("a video comparison is drawn from the clip as read (its frames and their times)")
    frames, times = file_order(clip)
    n = len(frames)
    blocks = []
    for result, hyp, label in entries:
        att = np.asarray(hyp.attention, dtype=np.float32).reshape(len(hyp.tokens), -1)
        steps = att.shape[1] if len(hyp.tokens) else len(result.frame_times or ()) or n
        x = file_positions(result, clip, times, steps)
        order = np.argsort(x, kind="stable")  # a reversed result's curves drawn left to right
        where = checked_details(where_in_frames(result, hyp), att)  # a transformer's where-in-frame maps
        blocks.append((hyp, label, x[order], att[:, order], where[:, order] if where is not None else None))
    h, w = frames.shape[1:3]
    cell = style.panel_inches * 0.42
    label_w = max(_label_width(hyp, style) for hyp, *_ in blocks)
    axis_w = weight_axis_width(style)
    text_h = style.font_size * 1.6 / 72
    header_h = style.font_size * 1.05 / 72
    curve_h = curve_row_height(style)
    strip_h = cell * h / w
    title_h = _title_line(style) if title else 0.0
    block_gap = style.font_size * 1.5 / 72
    rows = [max(1, len(hyp.tokens)) for hyp, *_ in blocks]
    row_hs = [curve_h + where_row_height(strip_h, where) for *_, where in blocks]  # a word's frames above its curve
    width = 2 * MARGIN + label_w + n * cell + axis_w
    height = (2 * MARGIN + title_h + strip_h + text_h + sum(header_h + r * rh for r, rh in zip(rows, row_hs))
              + (len(blocks) - 1) * block_gap)
    peak = scale_peak(style, *(att for _, _, _, att, _ in blocks))
    colour = matplotlib.colormaps[style.cmap](0.85)
    xlim = (-0.5 + 0.02, n - 0.5 - 0.02)
    left = MARGIN + label_w
    with matplotlib.rc_context(_rc(style)):
        fig = _new_figure(width, height, style.dpi)
        if title:
            fig.text(0.5, 1 - MARGIN / height, title, ha="center", va="top", **_bold(style))
        top = height - MARGIN - title_h
        draw_strip(fig, frames, times, left, top, cell, strip_h, style)
        y = top - strip_h - text_h
        for (hyp, label, x, att, where), r, row_h in zip(blocks, rows, row_hs):
            fig.text(MARGIN / width, y / height, label, ha="left", va="top", **_bold(style))
            y -= header_h
            if not len(hyp.tokens):
                fig.text(left / width, (y - row_h / 2) / height, NO_WORDS, ha="left", va="center",
                         fontsize=style.font_size, color="0.4")
            for j, row in enumerate(att):
                bottom = y - (j + 1) * row_h
                if where is not None:
                    draw_where_strip(fig, frames, word_where(where[j]), x, left, bottom + row_h, cell, strip_h, style)
                curve_axes(fig, [left / width, bottom / height, n * cell / width, curve_h * 0.84 / height],
                           x, row, peak, colour, style, xlim, _label(hyp, j, style))
            if len(hyp.tokens):
                weight_axis_label(fig, left + n * cell + axis_w - style.font_size * 1.1 / 72, y - r * row_h, y, style)
            y -= r * row_h + block_gap
        return save_figure(fig, out, style.dpi)


def _fit_widths(fig, texts, rooms: list[float]) -> None:
    """Shrink each text wider than its room (inches) until it fits (the last one: no limit)."""
    renderer = fig.canvas.get_renderer()
    for t, room in zip(texts, rooms):
        room_px = max(room, 0.3) * fig.dpi
        for _ in range(4):
            width = t.get_window_extent(renderer).width
            if width <= room_px:
                break
            t.set_fontsize(t.get_fontsize() * room_px / width * 0.97)


# -- text: the alignment matrices side by side -------------------------------------------------------


def _text(entries, out, style: FigureStyle, title: str | None, values: bool):
    import matplotlib

    from .alignment_figure import alignment_matrix, row_colours

    for result, _, label in entries:
        if not result.source_tokens:
            raise SettingsError(f"{label}: the translation's source words are missing; cannot label the matrix")
    mats = [(alignment_matrix(hyp, result.source_tokens), list(result.source_tokens), hyp, label)
            for result, hyp, label in entries]
    cell = style.font_size * 2.0 / 72  # as alignment_figure: a row fits a line of text
    em = style.font_size * 0.62 / 72  # an average glyph's width
    line = _title_line(style)
    cos, sin = np.cos(np.radians(60)), np.sin(np.radians(60))
    # inches each matrix needs: its target words at the left, source words running up-right past its edge
    lefts, spills, words, x = [], [], [], MARGIN
    for m, source, hyp, _ in mats:
        words.append(max([len(_label(hyp, i, style)) for i in range(len(hyp.tokens))] + [4]) * em + 0.12)
        x += words[-1]
        lefts.append(x)
        reach = max([(i + 0.5) * cell + len(wd) * em * cos for i, wd in enumerate(source)] + [0.0])
        spills.append(max(0.0, reach - len(source) * cell))
        x += len(source) * cell + spills[-1] + 0.25
    bar_left = x - 0.25 + 0.12
    width = bar_left + 0.12 + 0.7
    longest = max(len(wd) for _, source, _, _ in mats for wd in source) if any(s for _, s, _, _ in mats) else 1
    head = longest * em * sin + 0.15 + line + (line if title else 0.0)  # source words, labels, title
    body = max(max(len(hyp.tokens), 1) for _, _, hyp, _ in mats) * cell
    height = 2 * MARGIN + head + body
    top = height - MARGIN - head
    cmap = matplotlib.colormaps[style.cmap]
    with matplotlib.rc_context(_rc(style)):
        fig = _new_figure(width, height, style.dpi)
        if title:
            fig.text(0.5, 1 - MARGIN / height, title, ha="center", va="top", **_bold(style))
        image, titles = None, []
        for (m, source, hyp, label), left in zip(mats, lefts):
            rows, cols = m.shape
            ax = fig.add_axes([left / width, (top - max(rows, 1) * cell) / height, max(cols, 1) * cell / width,
                               max(rows, 1) * cell / height])
            shown, bar_label = row_colours(m, style)  # --scale max: each row to its own peak, as alone
            image = ax.imshow(shown if rows else np.zeros((1, cols)), cmap=style.cmap, vmin=0.0, vmax=1.0,
                              aspect="auto", interpolation="nearest")
            ax.set_xticks(range(cols), source, rotation=60, ha="left", rotation_mode="anchor")
            ax.set_yticks(range(rows), [_label(hyp, i, style) for i in range(rows)])
            ax.xaxis.tick_top()
            ax.tick_params(length=0)
            ax.set_xticks(np.arange(cols + 1) - 0.5, minor=True)
            ax.set_yticks(np.arange(max(rows, 1) + 1) - 0.5, minor=True)
            ax.grid(which="minor", color="white", linewidth=0.6)
            ax.tick_params(which="minor", length=0)
            for spine in ax.spines.values():
                spine.set_visible(False)
            if values:
                for (j, i), wt in np.ndenumerate(m):
                    if wt >= 0.005:
                        dark = np.dot(cmap(shown[j, i])[:3], (0.299, 0.587, 0.114)) < 0.5
                        ax.text(i, j, f"{wt:.2f}".lstrip("0"), ha="center", va="center",
                                fontsize=style.font_size * 0.6, color="white" if dark else "black")
            titles.append(ax.set_title(label, loc="left", pad=style.font_size * 0.5, **_bold(style)))
        _fit_widths(fig, titles, [b - w - a - 0.1 for a, b, w in zip(lefts, lefts[1:], words[1:])])
        bar_h = max(max(len(hyp.tokens), 1) for _, _, hyp, _ in mats) * cell
        cax = fig.add_axes([bar_left / width, (top - bar_h) / height, 0.12 / width, bar_h / height])
        bar = fig.colorbar(image, cax=cax)
        bar.set_label(bar_label)
        bar.outline.set_visible(False)
        return save_figure(fig, out, style.dpi, tight=True)
