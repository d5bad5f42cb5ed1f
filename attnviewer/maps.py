"""Attention grids drawn at image size: one place for the upsampling every view and figure uses.

nearest shows the cells as the model sees them; bilinear interpolates between cell centres;
gaussian (the default, as in the Show-Attend-Tell figures) blurs the bilinear map with a
Gaussian of half a cell, so a peak between two strong cells lands between them.
"""
from __future__ import annotations

import cv2
import numpy as np

SMOOTHING = ("nearest", "bilinear", "gaussian")


def upsample(att: np.ndarray, size: tuple[int, int], method: str = "gaussian") -> np.ndarray:
    """att (h, w) -> (H, W) float32 for size (H, W); the mean weight is kept per cell area."""
    if method not in SMOOTHING:
        raise ValueError(f"unknown smoothing {method!r}; choose one of {', '.join(SMOOTHING)}")
    att = np.asarray(att, dtype=np.float32)
    height, width = size
    interp = cv2.INTER_NEAREST if method == "nearest" else cv2.INTER_LINEAR
    out = cv2.resize(att, (width, height), interpolation=interp)
    if method == "gaussian":
        sigma = 0.5 * max(height / att.shape[0], width / att.shape[1])
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
    return out


def peak(map2d: np.ndarray) -> tuple[int, int]:
    """(row, col) of the largest value."""
    r, c = np.unravel_index(int(np.argmax(map2d)), map2d.shape)
    return int(r), int(c)


def normalise(map2d: np.ndarray, mode: str = "max") -> np.ndarray:
    """Scale for display: 'max' stretches each map to its own peak, 'fixed' keeps weights as they are."""
    if mode == "fixed":
        return np.clip(map2d, 0, 1)
    top = float(map2d.max())
    return map2d / top if top > 0 else map2d
