"""Publication figures rendered from the data with matplotlib's Agg backend (never grabbed from
the screen): the classic Show-Attend-Tell grid of one panel per word.

Files are written to a temporary name in the target folder and renamed into place, so an
interrupted export never leaves a broken file.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import OutputError
from ..maps import normalise, upsample
from ..types import Hypothesis

FIGURE_FORMATS = (".png", ".svg", ".pdf")


@dataclass
class FigureStyle:
    columns: int = 5
    cmap: str = "jet"
    opacity: float = 0.6
    smoothing: str = "gaussian"
    scale: str = "max"  # 'max': each map to its own peak; 'fixed': weights 0..1 on one scale
    panel_inches: float = 2.2
    dpi: int = 150
    show_prob: bool = True
    font_size: float = 11


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.fonttype"] = "none"  # words stay text in SVG ...
    matplotlib.rcParams["pdf.fonttype"] = 42  # ... and in PDF (TrueType), so they can be edited

    return plt


def overlay_rgba(att: np.ndarray, size: tuple[int, int], style: FigureStyle) -> np.ndarray:
    """(H, W, 4) float colours of one attention map; alpha ramps up with the weight."""
    import matplotlib

    m = normalise(upsample(att, size, style.smoothing), style.scale)
    rgba = matplotlib.colormaps[style.cmap](m)
    rgba[..., 3] = style.opacity * np.sqrt(np.clip(m, 0, 1))
    return rgba


def caption_figure(image: np.ndarray, hyp: Hypothesis, out: str | Path, style: FigureStyle | None = None,
                   title: str | None = None) -> Path:
    """The image, then one panel per word with its attention over the image and the word above."""
    style = style or FigureStyle()
    plt = _pyplot()
    panels = 1 + len(hyp.tokens)
    cols = max(1, min(style.columns, panels))
    rows = -(-panels // cols)
    h, w = image.shape[:2]
    aspect = h / w
    fig, axes = plt.subplots(rows, cols, figsize=(cols * style.panel_inches, rows * style.panel_inches * aspect + 0.35 * rows),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes.flat[0].imshow(image)
    axes.flat[0].set_title(title or "input", fontsize=style.font_size)
    for i, tok in enumerate(hyp.tokens):
        ax = axes.flat[i + 1]
        ax.imshow(image)
        ax.imshow(overlay_rgba(hyp.attention[i], (h, w), style))
        label = f"{tok} ({hyp.probs[i]:.2f})" if style.show_prob else tok
        ax.set_title(label, fontsize=style.font_size)
    fig.tight_layout(pad=0.4)
    try:
        return save_figure(fig, out, style.dpi)
    finally:
        plt.close(fig)


def save_figure(fig, out: str | Path, dpi: int) -> Path:
    out = Path(out)
    if out.suffix.lower() not in FIGURE_FORMATS:
        raise OutputError(f"{out}: unsupported figure format; use one of {', '.join(FIGURE_FORMATS)}")
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=dpi, format=out.suffix[1:].lower())
    return out


class atomic_path:
    """Context manager giving a temporary path beside `out`, renamed onto `out` on success."""

    def __init__(self, out: Path):
        self.out = Path(out)

    def __enter__(self) -> str:
        folder = self.out.parent if str(self.out.parent) else Path(".")
        if not folder.is_dir():
            raise OutputError(f"{self.out}: folder {folder} does not exist")
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=f".{self.out.name}.", suffix=".part", dir=folder)
        except OSError as e:
            raise OutputError(f"{self.out}: cannot write in {folder} ({e.strerror})") from None
        os.close(fd)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                os.replace(self.tmp, self.out)
                return False
            except OSError as e:
                Path(self.tmp).unlink(missing_ok=True)
                raise OutputError(f"{self.out}: cannot write ({e.strerror})") from None
        Path(self.tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(f"{self.out}: cannot write ({exc.strerror or exc})") from None
        return False
