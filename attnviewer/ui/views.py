"""The image views, painted directly: the plain picture (the image's media pane, the video player)
and the picture with one word's attention on top (the image's attention pane).

Why not pyqtgraph's ImageItem in a ViewBox, as before: building that view cost 7-17 ms of
GUI-thread CPU in one piece and painting it 2-7 ms at every word, and importing pyqtgraph was
0.5 s of the window's start-up and 40-odd MB; these widgets build in well under a millisecond and
paint two images with QPainter.
"""
from __future__ import annotations

from functools import cache

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen, QTransform
from PySide6.QtWidgets import QSizePolicy, QWidget

PADDING = 0.02  # of the picture's size, around it when it is shown whole
ZOOM_PER_NOTCH = 1.2  # a mouse wheel's notch (120 eighths of a degree) zooms by this
BACKGROUND = QColor("#202124")
PEAK_PX, SAMPLE_PX = 14, 16  # the markers' sizes on screen, whatever the zoom


def to_qimage(array: np.ndarray) -> QImage:
    """A QImage of its own (RGB, or RGBA premultiplied for drawing over) from a uint8 array."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    h, w, channels = array.shape
    fmt = QImage.Format.Format_RGB888 if channels == 3 else QImage.Format.Format_RGBA8888
    image = QImage(array.data, w, h, array.strides[0], fmt)
    # converted (and so copied) once here, not at every paint
    return image.convertToFormat(QImage.Format.Format_RGB32 if channels == 3
                                 else QImage.Format.Format_ARGB32_Premultiplied)


class ImageView(QWidget):
    """Zoom (wheel, about the pointer) and pan (drag) over an RGB image, its aspect kept; a
    double-click shows it whole again."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # every pixel is painted
        self.image: np.ndarray | None = None  # the RGB array shown
        self._picture: QImage | None = None
        self.shape: tuple[int, int] | None = None  # (height, width) of the picture
        self._range = QRectF()  # the part of the picture asked to be in view (picture pixels)
        self._dragged_from: QPointF | None = None

    def set_image(self, rgb: np.ndarray | None, reset: bool = False) -> None:
        """Show a picture; reset (a new input) or a new size shows it whole again, so a smaller
        image after a large one is not drawn in a corner of the old view."""
        if rgb is None:
            self.image = self._picture = self.shape = None
            self.update()
            return
        self.image, self._picture = rgb, to_qimage(rgb)
        if reset or self.shape != rgb.shape[:2]:
            self.shape = rgb.shape[:2]
            self.show_whole()
        self.update()

    def set_media(self, media) -> None:
        """The media pane of the image kind: the picture alone."""
        self.set_image(None if media is None else media.rgb, reset=True)

    def show_words(self, words, index: int, look) -> None:
        """The plain picture does not change with the word (the attention pane shows it)."""

    # -- where the picture is on screen ----------------------------------------------------------

    def show_whole(self) -> None:
        if self.shape is not None:
            h, w = self.shape
            self._range = QRectF(-PADDING * w, -PADDING * h, (1 + 2 * PADDING) * w, (1 + 2 * PADDING) * h)
        self.update()

    def _scale(self) -> float:
        r = self._range
        return min(self.width() / max(r.width(), 1e-9), self.height() / max(r.height(), 1e-9))

    def transform(self) -> QTransform:
        """Picture pixels -> widget pixels: the asked range, as large as fits, centred."""
        s, c = self._scale(), self._range.center()
        t = QTransform()
        t.translate(self.width() / 2, self.height() / 2)
        t.scale(s, s)
        t.translate(-c.x(), -c.y())
        return t

    def view_range(self) -> tuple[list[float], list[float]]:
        """([x0, x1], [y0, y1]): the part of the picture (its pixels) the widget shows."""
        inverse, _ = self.transform().inverted()
        seen = inverse.mapRect(QRectF(0, 0, self.width(), self.height()))
        return [seen.left(), seen.right()], [seen.top(), seen.bottom()]

    def _zoom(self, factor: float, about: QPointF) -> None:
        """Zoom by `factor` (> 1: closer), the picture's point under `about` staying there."""
        inverse, _ = self.transform().inverted()
        fixed = inverse.map(about)
        r = self._range
        self._range = QRectF(fixed.x() - (fixed.x() - r.left()) / factor, fixed.y() - (fixed.y() - r.top()) / factor,
                             r.width() / factor, r.height() / factor)
        self.update()

    # -- painting and the mouse ------------------------------------------------------------------

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), BACKGROUND)
        if self._picture is not None:
            p.setTransform(self.transform())
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self._scale() < 1)  # sharp pixels close up
            h, w = self.shape
            p.drawImage(QRectF(0, 0, w, h), self._picture)
            self._paint_above(p)
        p.end()

    def _paint_above(self, p: QPainter) -> None:
        """What is drawn over the picture (the painter maps picture pixels)."""

    def wheelEvent(self, event) -> None:
        notches = event.angleDelta().y() / 120
        if notches and self.shape is not None:
            self._zoom(ZOOM_PER_NOTCH ** notches, event.position())
        event.accept()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._dragged_from = event.position()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._dragged_from is not None:
            moved = (event.position() - self._dragged_from) / self._scale()
            self._range.translate(-moved.x(), -moved.y())
            self._dragged_from = event.position()
            self.update()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        self._dragged_from = None
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:
        self.show_whole()
        super().mouseDoubleClickEvent(event)


class OverlayView(ImageView):
    """The image with one word's attention on top, the region grid and the peak (a cross), and
    the region a hard-attention model sampled (a ring)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.overlay: np.ndarray | None = None  # the RGBA array on screen, for tests and exports
        self._overlay: QImage | None = None
        self.grid: tuple[int, int] | None = None  # (rows, columns) of the regions, drawn if show_grid
        self.show_grid = False
        self.peak: tuple[int, int] | None = None  # (row, column) cells marked
        self.sample: tuple[int, int] | None = None

    def set_image(self, rgb: np.ndarray | None, reset: bool = False) -> None:
        if reset or rgb is None or self.shape != rgb.shape[:2]:
            self.set_overlay(None)  # the old map is stretched over the old picture's size
        super().set_image(rgb, reset)

    def set_overlay(self, rgba: np.ndarray | None, grid: tuple[int, int] | None = None,
                    show_grid: bool = False, peak: tuple[int, int] | None = None,
                    sample: tuple[int, int] | None = None) -> None:
        """rgba at any resolution is stretched over the image; peak/sample are (row, col) cells."""
        shown = rgba is not None and self.shape is not None
        self.overlay = rgba
        self._overlay = to_qimage(rgba) if shown else None
        self.grid, self.show_grid = (grid, show_grid) if shown else (None, False)
        self.peak = peak if shown and grid else None
        self.sample = sample if shown and grid else None
        self.update()

    def overlay_rect(self) -> QRectF | None:
        """Where the map is drawn, in picture pixels: over the whole picture."""
        return QRectF(0, 0, self.shape[1], self.shape[0]) if self._overlay is not None else None

    def centre(self, cell: tuple[int, int]) -> QPointF:
        """A region's centre in picture pixels."""
        (r, c), (gh, gw), (h, w) = cell, self.grid, self.shape
        return QPointF((c + 0.5) * w / gw, (r + 0.5) * h / gh)

    def _paint_above(self, p: QPainter) -> None:
        if self._overlay is None:
            return
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)  # the map is smooth by itself
        p.drawImage(self.overlay_rect(), self._overlay)
        h, w = self.shape
        if self.show_grid and self.grid:
            gh, gw = self.grid
            path = QPainterPath()
            for r in range(1, gh):
                path.moveTo(0, r * h / gh)
                path.lineTo(w, r * h / gh)
            for c in range(1, gw):
                path.moveTo(c * w / gw, 0)
                path.lineTo(c * w / gw, h)
            pen = QPen(Qt.GlobalColor.white)
            pen.setCosmetic(True)
            pen.setWidthF(0.8)
            pen.setStyle(Qt.PenStyle.DotLine)
            p.strokePath(path, pen)
        to_screen = p.transform()
        p.resetTransform()  # the markers keep their size on screen, whatever the zoom
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setBrush(Qt.BrushStyle.NoBrush)
        if self.peak is not None:
            at, arm = to_screen.map(self.centre(self.peak)), PEAK_PX / 2
            p.setPen(QPen(Qt.GlobalColor.white, 2))
            p.drawLine(at - QPointF(arm, 0), at + QPointF(arm, 0))
            p.drawLine(at - QPointF(0, arm), at + QPointF(0, arm))
        if self.sample is not None:
            at, radius = to_screen.map(self.centre(self.sample)), SAMPLE_PX / 2
            p.setPen(QPen(QColor("#ff4081"), 2))
            p.drawEllipse(at, radius, radius)


@cache
def warm_up_picture() -> QImage:
    """Paint a small view of a picture once, offscreen: a process's first paint of a view took 12
    ms instead of 0.5 (Qt's scaled drawing and PySide's enum types, each used for the first time),
    6 ms of it the picture's. Once a process: the image's and the video's panes both ask for it."""
    return _painted(_small(ImageView))


@cache
def warm_up() -> QImage:
    """The same with a map, the grid and both markers (2 ms more the first time). The picture
    painted, for tests."""
    view = _small(OverlayView)
    view.set_overlay(np.full((4, 4, 4), 128, np.uint8), grid=(2, 2), show_grid=True, peak=(0, 0), sample=(1, 1))
    return _painted(view)


def _small(kind: type[ImageView]) -> ImageView:
    """A 64 x 48 view of a black picture, never shown."""
    view = kind()
    view.resize(64, 48)
    view.set_image(np.zeros((8, 8, 3), np.uint8), reset=True)
    return view


def _painted(view: ImageView) -> QImage:
    picture = QImage(view.width(), view.height(), QImage.Format.Format_RGB32)
    view.render(picture)
    return picture


WARM_UP = (warm_up_picture, warm_up)  # a view's first paints, rehearsed as two pieces built ahead
