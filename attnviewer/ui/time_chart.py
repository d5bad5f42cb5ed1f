"""One word's attention over a video's time axis, painted directly: a bar per sampled frame in the
word's colours, the curve through them, the peak marked, time ticks below, weights 0..1 at the left.

Why not a pyqtgraph plot: it is a fixed picture (no zoom, no menu), and pyqtgraph's PlotWidget cost
~21 ms of GUI-thread CPU to build, ~12 ms for its first paint and a re-layout of its axes per word
(the title changed) while the model wrote; this widget costs ~1 ms for each.
"""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 44, 16, 24, 34
Y_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)


def nice_ticks(lo: float, hi: float, most: int = 7) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi], at most `most`."""
    span = hi - lo
    if not math.isfinite(span) or span <= 0:
        return [lo]
    raw = span / max(most - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def tick_label(t: float) -> str:
    return f"{t:g}" if abs(t) < 1e5 else f"{t:.0f}"


class TimeChart(QWidget):
    """set_clip(times) once per input, set_word(weights, colours, peak, title) per word."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.times = np.zeros(0)
        self.weights: np.ndarray | None = None
        self.colours: np.ndarray | None = None  # (n, 3) uint8
        self.peak: int | None = None
        self.title = ""
        self._ticks: list[float] = []
        self._axes: QPixmap | None = None  # the axes and labels, painted again only on a new size or clip
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(120)

    def sizeHint(self) -> QSize:
        return QSize(400, 220)

    def set_clip(self, times) -> None:
        self.times = np.asarray(times if times is not None else [], dtype=np.float64)
        self._ticks = nice_ticks(*self._x_range()) if len(self.times) else []
        self._axes = None
        self.set_word(None)

    def set_word(self, weights, colours=None, peak: int | None = None, title: str = "") -> None:
        ok = weights is not None and len(weights) == len(self.times) and len(self.times) > 0
        self.weights = np.asarray(weights, dtype=np.float64) if ok else None
        self.colours = None if not ok or colours is None else np.asarray(colours)
        self.peak = peak if ok else None
        self.title = title if ok else ""
        self.update()

    def _x_range(self) -> tuple[float, float]:
        t = self.times
        if len(t) == 1:
            return float(t[0]) - 0.5, float(t[0]) + 0.5
        pad = 0.05 * float(t[-1] - t[0]) or 0.5
        return float(t[0]) - pad, float(t[-1]) + pad

    def plot_rect(self) -> QRectF:
        return QRectF(MARGIN_L, MARGIN_T, max(1.0, self.width() - MARGIN_L - MARGIN_R),
                      max(1.0, self.height() - MARGIN_T - MARGIN_B))

    def pixels(self, t, w) -> tuple:
        """Where times t (seconds) and weights w (0..1) are drawn: x and y, numbers or arrays alike."""
        r = self.plot_rect()
        lo, hi = self._x_range()
        return r.left() + (np.asarray(t) - lo) / (hi - lo) * r.width(), r.bottom() - np.clip(w, 0.0, 1.05) * r.height()

    def paintEvent(self, event) -> None:
        ratio = self.devicePixelRatioF()
        if self._axes is None or self._axes.size() != self.size() * ratio:
            self._axes = QPixmap(self.size() * ratio)
            self._axes.setDevicePixelRatio(ratio)
            p = QPainter(self._axes)
            p.setFont(self.font())
            self._paint_axes(p)
            p.end()
        p = QPainter(self)
        p.drawPixmap(0, 0, self._axes)
        r = self.plot_rect()
        if self.title:
            p.setPen(QColor("#202124"))
            p.drawText(QRectF(r.left(), 2, r.width(), MARGIN_T - 4), Qt.AlignmentFlag.AlignCenter,
                       p.fontMetrics().elidedText(self.title, Qt.TextElideMode.ElideRight, int(r.width())))
        if self.weights is not None:
            self._paint_word(p, r)
        p.end()

    def _paint_axes(self, p: QPainter) -> None:
        p.fillRect(QRectF(0, 0, self.width(), self.height()), Qt.GlobalColor.white)
        r = self.plot_rect()
        axis, faint = QColor("#5f6368"), QColor("#e0e0e0")
        metrics = p.fontMetrics()
        crowded = r.height() / (len(Y_TICKS) - 1) < metrics.height()  # a short chart: every other label
        for k, y in enumerate(Y_TICKS):  # weights: faint grid lines, labels at the left
            yy = r.bottom() - y * r.height()
            p.setPen(QPen(faint, 1))
            p.drawLine(QPointF(r.left(), yy), QPointF(r.right(), yy))
            p.setPen(axis)
            if not (crowded and k % 2):
                p.drawText(QRectF(0, yy - 8, MARGIN_L - 6, 16),
                           Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{y:g}")
        p.setPen(QPen(axis, 1))
        p.drawLine(r.bottomLeft(), r.bottomRight())
        p.drawLine(r.bottomLeft(), r.topLeft())
        if len(self.times):
            for t in self._ticks:  # time: ticks and labels below
                x = float(self.pixels(t, 0)[0])
                if r.left() - 0.5 <= x <= r.right() + 0.5:
                    p.drawLine(QPointF(x, r.bottom()), QPointF(x, r.bottom() + 4))
                    p.drawText(QRectF(x - 30, r.bottom() + 5, 60, metrics.height()), Qt.AlignmentFlag.AlignHCenter,
                               tick_label(t))
        p.drawText(QRectF(r.left(), self.height() - metrics.height() - 1, r.width(), metrics.height()),
                   Qt.AlignmentFlag.AlignHCenter, "time (s)")
        if r.height() >= metrics.horizontalAdvance("attention") + 8:  # (the title says it where it would not fit)
            p.save()
            p.translate(10, r.center().y())
            p.rotate(-90)
            p.drawText(QRectF(-r.height() / 2, -metrics.height() / 2, r.height(), metrics.height()),
                       Qt.AlignmentFlag.AlignCenter, "attention")
            p.restore()

    def _paint_word(self, p: QPainter, r: QRectF) -> None:
        xs, ys = self.pixels(self.times, self.weights)
        half = 0.4 * (xs[1] - xs[0]) if len(xs) > 1 else 0.4 * r.width()
        p.setPen(QPen(QColor("#5f6368"), 1))
        colours = self.colours if self.colours is not None else [(66, 133, 244)] * len(xs)
        for x, y, c in zip(xs.tolist(), ys.tolist(), colours):
            p.setBrush(QColor(int(c[0]), int(c[1]), int(c[2])))
            p.drawRect(QRectF(x - half, y, 2 * half, r.bottom() - y))
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(QColor("#1a73e8"), 2))
        p.drawPolyline(QPolygonF([QPointF(x, y) for x, y in zip(xs.tolist(), ys.tolist())]))
        if self.peak is not None:
            tip = QPointF(xs[self.peak], ys[self.peak] - 0.03 * r.height())
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor("#d93025"))
            p.drawPolygon(QPolygonF([tip, tip + QPointF(-6, -10), tip + QPointF(6, -10)]))
