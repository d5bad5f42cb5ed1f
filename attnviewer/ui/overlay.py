"""Attention overlays as RGBA arrays for the window (numpy only: testable without Qt).

The colour lookup table's alpha ramps up with the weight, so low attention leaves the image
visible. Maps are upsampled to a modest resolution (cells x 16) and stretched over the image by
the view, so a 4000 px photo costs no more to overlay than a thumbnail.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..maps import normalise, upsample
from ..resources import resource_dir

COLORMAPS = ("viridis", "inferno", "jet", "gray")
PIXELS_PER_CELL = 16


# Jet as MATLAB and matplotlib define it: piecewise linear (position, value) per channel.
JET = {
    "r": [(0, 0), (0.35, 0), (0.66, 1), (0.89, 1), (1, 0.5)],
    "g": [(0, 0), (0.125, 0), (0.375, 1), (0.64, 1), (0.91, 0), (1, 0)],
    "b": [(0, 0.5), (0.11, 1), (0.34, 1), (0.65, 0), (1, 0)],
}


def _colours(cmap: str, x: np.ndarray) -> np.ndarray:
    """(len(x), 3) floats in 0..1. No matplotlib here: importing it stalls the window 0.1-0.4 s."""
    if cmap == "gray":
        return np.repeat(x[:, None], 3, axis=1)
    if cmap == "jet":
        return np.stack([np.interp(x, *zip(*JET[c])) for c in "rgb"], axis=1)
    table = _published_table(cmap)
    at = np.linspace(0, 1, len(table))
    return np.stack([np.interp(x, at, table[:, c]) for c in range(3)], axis=1)


@lru_cache(maxsize=4)
def _published_table(cmap: str) -> np.ndarray:
    """(256, 3) floats: a perceptual colour map's published table (viridis, inferno), matplotlib's
    own values (those its exported figures use), shipped as data (resources/colormaps, written by
    scripts/colour-tables.py): importing matplotlib for them stalls the window 0.1-0.4 s."""
    return np.loadtxt(resource_dir() / "colormaps" / f"{cmap}.csv", delimiter=",", ndmin=2)


@lru_cache(maxsize=16)
def lookup_table(cmap: str, opacity: float) -> np.ndarray:
    """(256, 4) uint8 RGBA; alpha grows with the weight (square root: faint weights still show)."""
    x = np.linspace(0, 1, 256)
    colours = np.empty((256, 4))
    colours[:, :3] = _colours(cmap, x)
    colours[:, 3] = opacity * np.sqrt(x)
    return np.round(colours * 255).astype(np.uint8)


def overlay_rgba(att: np.ndarray, cmap: str = "jet", opacity: float = 0.6, smoothing: str = "gaussian",
                 scale: str = "max", size: tuple[int, int] | None = None) -> np.ndarray:
    """(h*16, w*16, 4) uint8 overlay of one attention grid, or (H, W, 4) for size (H, W): a
    thumbnail's drawn at its own size costs a seventh of the full one (2.5 ms at 14x14 cells)."""
    gh, gw = att.shape
    m = normalise(upsample(att, size or (gh * PIXELS_PER_CELL, gw * PIXELS_PER_CELL), smoothing), scale)
    idx = np.clip(np.round(m * 255), 0, 255).astype(np.uint8)
    return lookup_table(cmap, round(opacity, 3))[idx]


def blend(image: np.ndarray, rgba: np.ndarray) -> np.ndarray:
    """Composite an overlay (any size; resized) onto an RGB uint8 image: thumbnails, previews."""
    import cv2

    h, w = image.shape[:2]
    over = cv2.resize(rgba, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    alpha = over[..., 3:4]
    return np.round(image * (1 - alpha) + over[..., :3] * 255 * alpha).astype(np.uint8)


def tile_colours(weights: np.ndarray, cmap: str = "jet", opacity: float = 0.6, scale: str = "max") -> np.ndarray:
    """(n, 3) uint8 backgrounds for n weights (source words, frames): white blended towards the
    colormap by the weight, light enough to read dark text on (the translation animation's rule)."""
    w = np.asarray(weights, dtype=np.float64)
    top = 1.0 if scale == "fixed" else max(float(w.max(initial=0.0)), 1e-6)
    m = np.clip(w / top, 0, 1)
    alpha = (max(opacity, 0.35) * np.sqrt(m))[:, None]
    rgb = (1 - alpha) + alpha * _colours(cmap, m)
    return np.round(rgb * 255).astype(np.uint8)
