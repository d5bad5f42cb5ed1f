"""Publication figures rendered from the data with matplotlib's Agg renderer (never grabbed from
the screen): the classic Show-Attend-Tell grid of one panel per word, a single word's figure, and
a word's overlay alone at the image's full resolution.

No pyplot: figures are plain `matplotlib.figure.Figure`s on an Agg canvas, so rendering never
switches the process's matplotlib backend (the desktop app calls these functions too).
Words stay text in SVG (svg.fonttype none) and PDF (TrueType, pdf.fonttype 42), so they can be
edited and searched.

Files are written to a temporary name in the target folder and renamed into place, so an
interrupted export never leaves a broken file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import OutputError, SettingsError
from ..files import atomic_path  # noqa: F401  (re-exported: the export modules write through it)
from ..maps import SMOOTHING, normalise, upsample
from ..types import Hypothesis

FIGURE_FORMATS = (".png", ".svg", ".pdf")
SCALES = ("max", "fixed")


@dataclass
class FigureStyle:
    columns: int = 5  # panels per row of the grid (the input image is the first panel)
    cmap: str = "jet"  # any matplotlib colormap name
    opacity: float = 0.6  # of the overlay where the weight peaks; it fades out with the weight
    smoothing: str = "gaussian"  # nearest | bilinear | gaussian (see maps.py)
    scale: str = "max"  # 'max': each map to its own peak; 'fixed': weights 0..1 on one scale
    panel_inches: float = 2.2  # width of one panel
    dpi: int = 150  # of PNG files, and of the images embedded in SVG and PDF
    show_prob: bool = True  # "word (0.93)" rather than "word"
    font_size: float = 11  # points
    font_family: str = "sans-serif"  # a family name ("DejaVu Serif") or a generic one (serif, ...)

    def validate(self) -> "FigureStyle":
        """Raise SettingsError with a readable message for a value that cannot be drawn."""
        import matplotlib

        if not isinstance(self.columns, int) or self.columns < 1:
            raise SettingsError(f"columns must be at least 1, got {self.columns}")
        if self.cmap not in matplotlib.colormaps:
            raise SettingsError(f"unknown colormap {self.cmap!r}; try jet, viridis, inferno, magma, hot or gray")
        if not 0.0 <= self.opacity <= 1.0:
            raise SettingsError(f"opacity must be between 0 and 1, got {self.opacity:g}")
        if self.smoothing not in SMOOTHING:
            raise SettingsError(f"unknown smoothing {self.smoothing!r}; choose one of {', '.join(SMOOTHING)}")
        if self.scale not in SCALES:
            raise SettingsError(f"unknown scale {self.scale!r}; choose one of {', '.join(SCALES)}")
        if not 0.3 <= self.panel_inches <= 20:
            raise SettingsError(f"panel size must be between 0.3 and 20 inches, got {self.panel_inches:g}")
        if not 20 <= self.dpi <= 1200:
            raise SettingsError(f"dpi must be between 20 and 1200, got {self.dpi}")
        if not 2 <= self.font_size <= 72:
            raise SettingsError(f"font size must be between 2 and 72 points, got {self.font_size:g}")
        font_file(self.font_family)
        return self


GENERIC_FONTS = ("sans-serif", "serif", "monospace")


@lru_cache(maxsize=1)
def font_families() -> tuple[str, ...]:
    """Generic families first, then the families matplotlib has a file for (slow the first time:
    the window asks once on a thread, after the first caption, so the Export dialog opens at once)."""
    from matplotlib import font_manager

    names = sorted({f.name for f in font_manager.fontManager.ttflist}, key=str.lower)
    return GENERIC_FONTS + tuple(n for n in names if n not in GENERIC_FONTS)


def font_file(family: str, bold: bool = False) -> str:
    """The TrueType file matplotlib uses for a font family; SettingsError if it has none."""
    from matplotlib.font_manager import FontProperties, findfont

    try:
        return findfont(FontProperties(family=[family], weight="bold" if bold else "normal"),
                        fallback_to_default=False)
    except ValueError:
        raise SettingsError(f"font {family!r} is not installed; try sans-serif, serif or DejaVu Sans") from None


def _rc(style: FigureStyle) -> dict:
    return {
        "svg.fonttype": "none",  # words stay text in SVG ...
        "pdf.fonttype": 42,  # ... and in PDF (TrueType), so they can be edited
        "font.family": [style.font_family],
        "font.size": style.font_size,
        "svg.hashsalt": "attnviewer",  # the same figure gives the same SVG file
        "image.resample": True,
        "image.composite_image": False,  # SVG/PDF keep the overlay as its own layer above the image
    }


def _display_copy(image: np.ndarray, max_side: int) -> np.ndarray:
    """The image reduced (never enlarged) so its long side is at most max_side pixels."""
    import cv2

    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image
    s = max_side / max(h, w)
    return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def _weights(att: np.ndarray, size: tuple[int, int], style: FigureStyle) -> np.ndarray:
    return np.clip(normalise(upsample(att, size, style.smoothing), style.scale), 0, 1)


def overlay_rgba(att: np.ndarray, size: tuple[int, int], style: FigureStyle) -> np.ndarray:
    """(H, W, 4) float colours of one attention map; alpha ramps up with the weight."""
    import matplotlib

    m = _weights(att, size, style)
    rgba = matplotlib.colormaps[style.cmap](m)
    rgba[..., 3] = style.opacity * np.sqrt(m)
    return rgba


def overlay_image(image: np.ndarray, att: np.ndarray, style: FigureStyle | None = None) -> np.ndarray:
    """The image with one attention map blended over it, at the image's own resolution: uint8 RGB."""
    import matplotlib

    style = style or FigureStyle()
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = image[..., :3]
    m = _weights(att, image.shape[:2], style)
    colour = matplotlib.colormaps[style.cmap](m, bytes=True)[..., :3].astype(np.float32)
    alpha = (style.opacity * np.sqrt(m))[..., None].astype(np.float32)
    out = image.astype(np.float32) * (1.0 - alpha) + colour * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def write_overlay(image: np.ndarray, att: np.ndarray, out: str | Path, style: FigureStyle | None = None) -> Path:
    """overlay_image() written as a PNG file."""
    from PIL import Image

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise OutputError(f"{out}: the overlay is written as PNG; name the file .png")
    rgb = overlay_image(image, att, style)
    with atomic_path(out) as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG", optimize=False)
    return out


def _label(hyp: Hypothesis, i: int, style: FigureStyle) -> str:
    return f"{hyp.tokens[i]} ({hyp.probs[i]:.2f})" if style.show_prob else hyp.tokens[i]


MAX_PANEL_ASPECT = 3.0  # a panel is at most 3 times as tall as wide (or as wide as tall); a thinner
# image is drawn letterboxed inside it, so a 16x20000 strip gives a figure of ordinary size


def _panel_aspect(h: int, w: int) -> float:
    """Height / width of a panel showing an h x w image: the image's own, within MAX_PANEL_ASPECT."""
    return min(max(h / max(w, 1), 1 / MAX_PANEL_ASPECT), MAX_PANEL_ASPECT)


class _Grid:
    """Exact layout in inches: panels of the image's aspect with a title line above each; no
    tight_layout guessing, so nothing is clipped and the figure has no wasted border."""

    MARGIN = 0.05  # around the whole figure
    GAP = 0.08  # between columns

    def __init__(self, style: FigureStyle, panels: int, aspect: float, columns: int | None = None,
                 head_lines: int = 0):
        aspect = min(max(aspect, 1 / MAX_PANEL_ASPECT), MAX_PANEL_ASPECT)
        self.cols = max(1, min(columns or style.columns, panels))
        self.rows = -(-panels // self.cols)
        self.pw = style.panel_inches
        self.ph = style.panel_inches * aspect
        self.title_h = style.font_size * 1.55 / 72  # one line of text with its padding
        self.row_gap = style.font_size * 0.25 / 72 + 0.04
        self.head_line = style.font_size * 1.3 / 72  # a line of the head: the lines above the whole figure
        self.head = head_lines * self.head_line + (self.row_gap if head_lines else 0.0)
        self.width = 2 * self.MARGIN + self.cols * self.pw + (self.cols - 1) * self.GAP
        self.height = (2 * self.MARGIN + self.head + self.rows * (self.title_h + self.ph)
                       + (self.rows - 1) * self.row_gap)

    def rect(self, k: int) -> list[float]:
        """[left, bottom, width, height] in figure fractions of panel k (row-major)."""
        r, c = divmod(k, self.cols)
        left = self.MARGIN + c * (self.pw + self.GAP)
        top = self.height - self.MARGIN - self.head - r * (self.title_h + self.ph + self.row_gap) - self.title_h
        return [left / self.width, (top - self.ph) / self.height, self.pw / self.width, self.ph / self.height]


def _new_figure(width: float, height: float, dpi: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def _panel(fig, rect, image, overlay, label: str, style: FigureStyle):
    ax = fig.add_axes(rect)
    ax.set_axis_off()
    ax.imshow(image, aspect="auto", interpolation="antialiased")
    if overlay is not None:
        ax.imshow(overlay, aspect="auto", interpolation="antialiased")
    h, w = image.shape[:2]
    box = _panel_aspect(h, w)
    if h / w > box * 1.001:  # taller than the panel: white bars left and right
        pad = (h / box - w) / 2
        ax.set_xlim(-0.5 - pad, w - 0.5 + pad)
    elif h / w < box / 1.001:  # wider than the panel: bars above and below
        pad = (w * box - h) / 2
        ax.set_ylim(h - 0.5 + pad, -0.5 - pad)
    t = ax.set_title(label, fontsize=style.font_size, pad=style.font_size * 0.35)
    return ax, t


def _text_width(text: str, style: FigureStyle) -> float:
    """Inches `text` takes at the style's font and size."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    width, _, _ = TextToPath().get_text_width_height_descent(
        text, FontProperties(family=style.font_family, size=style.font_size), ismath=False)
    return width / 72


def _wider(text: str, style: FigureStyle, room: float) -> bool:
    return _text_width(text, style) > room * 0.98


def _title_lines(text: str, style: FigureStyle, room: float) -> list[str]:
    """`text` in lines of at most `room` inches, broken at spaces (a word longer than the room keeps
    a line of its own)."""
    lines, line = [], ""
    for word in re.split(r"(?<= )", text):
        if line and _wider(line + word.rstrip(), style, room):
            lines.append(line.rstrip())
            line = word.lstrip()
        else:
            line += word
    return lines + ([line.rstrip()] if line.strip() else [])


def _fit_titles(fig, titles) -> None:
    """Shrink any title wider than its panel until it fits (long words, long model names)."""
    renderer = fig.canvas.get_renderer()
    for ax, t in titles:
        room = ax.get_window_extent(renderer).width * 1.02
        for _ in range(4):
            width = t.get_window_extent(renderer).width
            if width <= room:
                break
            t.set_fontsize(t.get_fontsize() * room / width * 0.97)


def caption_figure(image: np.ndarray, hyp: Hypothesis, out: str | Path | None, style: FigureStyle | None = None,
                   title: str | None = None) -> Path | np.ndarray:
    """The image, then one panel per word with its attention over the image and the word above.
    Written to `out`; with out None, returned as an RGB picture (the export preview)."""
    import matplotlib

    style = (style or FigureStyle()).validate()
    _check_format(out)
    image = _display_copy(np.asarray(image), int(style.panel_inches * style.dpi * 1.5))
    h, w = image.shape[:2]
    grid = _Grid(style, 1 + len(hyp.tokens), h / w)
    head = _title_lines(title, style, grid.width - 2 * grid.MARGIN) if title and _wider(title, style, grid.pw) else []
    if head:  # a title wider than the first panel: above the whole figure, at full size (wrapped if need be)
        grid = _Grid(style, 1 + len(hyp.tokens), h / w, head_lines=len(head))
    with matplotlib.rc_context(_rc(style)), _quiet():
        fig = _new_figure(grid.width, grid.height, style.dpi)
        _draw_head(fig, grid, head, style)
        titles = [_panel(fig, grid.rect(0), image, None, "input" if head else title or "input", style)]
        for i in range(len(hyp.tokens)):
            titles.append(_panel(fig, grid.rect(i + 1), image, overlay_rgba(hyp.attention[i], (h, w), style),
                                 _label(hyp, i, style), style))
        _fit_titles(fig, titles)
        return save_figure(fig, out, style.dpi)


def _draw_head(fig, grid: _Grid, lines: list[str], style: FigureStyle) -> None:
    """The lines above a whole figure (a title wider than its first panel, a what-if note)."""
    for k, line in enumerate(lines):
        fig.text(grid.MARGIN / grid.width, 1 - (grid.MARGIN + k * grid.head_line) / grid.height, line,
                 ha="left", va="top", fontsize=style.font_size)


def word_figure(image: np.ndarray, hyp: Hypothesis, index: int, out: str | Path | None,
                style: FigureStyle | None = None, title: str | None = None, note: str | None = None) -> Path | np.ndarray:
    """One word (index from 0) alone: its attention over the image, the word (and probability) above,
    and above the whole `note` (what a what-if run changed: types.whatif_note) unless a title is
    given. Written to `out`; with out None, returned as an RGB picture."""
    import matplotlib

    style = (style or FigureStyle()).validate()
    _check_format(out)
    if not 0 <= index < len(hyp.tokens):
        raise SettingsError(f"word {index + 1} asked for, but the caption has {len(hyp.tokens)} words")
    image = _display_copy(np.asarray(image), int(style.panel_inches * style.dpi * 1.5))
    h, w = image.shape[:2]
    grid = _Grid(style, 1, h / w)
    head = _title_lines(note, style, grid.width - 2 * grid.MARGIN) if note and not title else []
    grid = _Grid(style, 1, h / w, head_lines=len(head))
    with matplotlib.rc_context(_rc(style)), _quiet():
        fig = _new_figure(grid.width, grid.height, style.dpi)
        _draw_head(fig, grid, head, style)
        panel = _panel(fig, grid.rect(0), image, overlay_rgba(hyp.attention[index], (h, w), style),
                       title or _label(hyp, index, style), style)
        _fit_titles(fig, [panel])
        return save_figure(fig, out, style.dpi)


def _quiet():
    """Matplotlib's warnings while drawing (a glyph missing from the font: drawn as a box) stay off
    stderr; the figure itself shows the box."""
    import warnings
    from contextlib import contextmanager

    @contextmanager
    def quiet():
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"(?s).*[Gg]lyph .* missing")
            warnings.filterwarnings("ignore", message=r"(?s).*[Mm]atplotlib currently does not support")
            yield

    return quiet()


def _check_format(out: str | Path | None) -> None:
    if out is not None and Path(out).suffix.lower() not in FIGURE_FORMATS:
        raise OutputError(f"{out}: unsupported figure format; use one of {', '.join(FIGURE_FORMATS)}")


_METADATA = {".png": {"Software": "attnviewer"}, ".svg": {"Date": None, "Creator": "attnviewer"},
             ".pdf": {"CreationDate": None, "Creator": "attnviewer"}}


def save_figure(fig, out: str | Path | None, dpi: int, tight: bool = False) -> Path | np.ndarray:
    """Write a figure (out None: return it as an RGB picture). tight: crop to what is drawn, for
    figures whose text sets their size (labels of an alignment matrix)."""
    extra = {"bbox_inches": "tight", "pad_inches": 0.06} if tight else {}
    if out is None:  # rendered in memory
        from io import BytesIO

        from PIL import Image

        buf = BytesIO()
        fig.savefig(buf, dpi=dpi, format="png", facecolor="white", **extra)
        buf.seek(0)
        with Image.open(buf) as im:
            return np.asarray(im.convert("RGB"))
    out = Path(out)
    _check_format(out)
    suffix = out.suffix.lower()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=dpi, format=suffix[1:], facecolor="white", metadata=_METADATA[suffix], **extra)
    return out
