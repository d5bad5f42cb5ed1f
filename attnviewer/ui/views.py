"""pyqtgraph image views: the plain image (media viewer) and the image with an attention overlay.

Two ImageItems in one ViewBox: the picture, and above it the overlay stretched over the picture
with setRect. Plain ImageItems with explicit levels, not ImageView: its histogram and
auto-ranging cost time on every update.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)


class ImageView(pg.GraphicsLayoutWidget):
    """Zoom (wheel) and pan (drag) over an RGB image; double-click resets the view."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground("#202124")
        self.ci.layout.setContentsMargins(0, 0, 0, 0)
        self.view: pg.ViewBox = self.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.image_item = pg.ImageItem()
        self.view.addItem(self.image_item)
        self.shape: tuple[int, int] | None = None

    def set_image(self, rgb: np.ndarray | None, reset: bool = False) -> None:
        """Show a picture; reset (a new input) or a new size shows it whole again, so a smaller
        image after a large one is not drawn in a corner of the old view."""
        if rgb is None:
            self.image_item.clear()
            self.shape = None
            return
        self.image_item.setImage(rgb, levels=(0, 255), autoLevels=False)
        if reset or self.shape != rgb.shape[:2]:
            self.shape = rgb.shape[:2]
            self.view.setRange(QRectF(0, 0, rgb.shape[1], rgb.shape[0]), padding=0.02)

    def set_media(self, media) -> None:
        """The media pane of the image kind: the picture alone."""
        self.set_image(None if media is None else media.rgb, reset=True)

    def show_words(self, words, index: int, look) -> None:
        """The plain picture does not change with the word (the attention pane shows it)."""

    def mouseDoubleClickEvent(self, event):
        self.view.autoRange(padding=0.02)
        super().mouseDoubleClickEvent(event)


class OverlayView(ImageView):
    """The image with one word's attention on top, the region grid and the peak."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.overlay_item = pg.ImageItem()
        self.overlay_item.setZValue(10)
        self.view.addItem(self.overlay_item)
        self.grid_item = QGraphicsPathItem()
        pen = QPen(Qt.GlobalColor.white)
        pen.setCosmetic(True)
        pen.setWidthF(0.8)
        pen.setStyle(Qt.PenStyle.DotLine)
        self.grid_item.setPen(pen)
        self.grid_item.setZValue(20)
        self.view.addItem(self.grid_item)
        self.peak_item = pg.ScatterPlotItem(size=14, symbol="+", pen=pg.mkPen("w", width=2), brush=None)
        self.peak_item.setZValue(30)
        self.view.addItem(self.peak_item)
        self.sample_item = pg.ScatterPlotItem(size=16, symbol="o", pen=pg.mkPen("#ff4081", width=2), brush=None)
        self.sample_item.setZValue(31)
        self.view.addItem(self.sample_item)
        self.overlay: np.ndarray | None = None  # the RGBA array on screen, for tests and exports

    def set_image(self, rgb: np.ndarray | None, reset: bool = False) -> None:
        if reset or rgb is None or self.shape != rgb.shape[:2]:
            self.set_overlay(None)  # the old map is stretched over the old picture's size
        super().set_image(rgb, reset)

    def set_overlay(self, rgba: np.ndarray | None, grid: tuple[int, int] | None = None,
                    show_grid: bool = False, peak: tuple[int, int] | None = None,
                    sample: tuple[int, int] | None = None) -> None:
        """rgba at any resolution is stretched over the image; peak/sample are (row, col) cells."""
        self.overlay = rgba
        if rgba is None or self.shape is None:
            self.overlay_item.clear()
            self.grid_item.setPath(QPainterPath())
            self.peak_item.setData([])
            self.sample_item.setData([])
            return
        h, w = self.shape
        self.overlay_item.setImage(rgba, levels=(0, 255), autoLevels=False)
        self.overlay_item.setRect(QRectF(0, 0, w, h))
        path = QPainterPath()
        if show_grid and grid:
            gh, gw = grid
            for r in range(1, gh):
                path.moveTo(0, r * h / gh)
                path.lineTo(w, r * h / gh)
            for c in range(1, gw):
                path.moveTo(c * w / gw, 0)
                path.lineTo(c * w / gw, h)
        self.grid_item.setPath(path)
        self.peak_item.setData(*self._centre(peak, grid)) if peak and grid else self.peak_item.setData([])
        self.sample_item.setData(*self._centre(sample, grid)) if sample and grid else self.sample_item.setData([])

    def _centre(self, cell, grid):
        h, w = self.shape
        (r, c), (gh, gw) = cell, grid
        return [(c + 0.5) * w / gw], [(r + 0.5) * h / gh]


def chart(parent=None) -> pg.PlotWidget:
    """A plain white plot for the attention panes: no menu, no mouse zoom, no buttons."""
    plot = pg.PlotWidget(parent)
    plot.setBackground("w")
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(False, False)
    plot.hideButtons()
    return plot
