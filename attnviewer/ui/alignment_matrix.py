"""A translation's alignment matrix, painted directly: a row per target word (its word and
probability at the left), a column per source word (every word labelled above its column, as the
exported figure does: level where the words fit, else rotated 60° or 90°, else in a smaller font, so
that no two overlap), each cell coloured by its weight on a fixed 0..1 scale, the current row
framed in red. Clicking a row asks for that word.

Why not a pyqtgraph plot: the matrix is a fixed picture (no zoom, no menu), and building a
PlotWidget with its axes and menus cost 44-50 ms of GUI-thread CPU in one piece, the longest stall
of a sentence's first translation; this widget costs about a millisecond to build and to paint.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

PAD = 6  # pixels between the labels and the cells, and around the whole
LABEL_MAX = 160  # pixels of a row label at the most (longer ones are elided)
FRAME = QColor("#d93025")
ANGLES = (0.0, 60.0, 90.0)  # the column labels' slants tried in turn (degrees above the horizontal)
MIN_POINTS = 6.0  # the smallest font the column labels shrink to
BAND_SHARE = 0.4  # of the height at the most for the column labels (longer words are elided)


@dataclass(frozen=True)
class ColumnLabels:
    """How the source words are labelled: the font, the slant, the words as drawn (elided when
    longer than the band allows), the band's height above the cells and the room kept at the right
    for the last slanted words."""

    font: QFont
    angle: float
    texts: list[str]
    band: float
    right: float


class AlignmentMatrix(QWidget):
    """set_source(words) once per sentence, set_rows(rows, labels, current, lut) per redraw."""

    row_clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.source: list[str] = []
        self.rows: np.ndarray | None = None  # (n, S) weights
        self.labels: list[str] = []
        self.current = -1
        self._pixels: np.ndarray | None = None  # (n, S, 3) uint8 behind the QImage: kept alive with it
        self._image: QImage | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(120)
        self.setAutoFillBackground(False)

    def sizeHint(self) -> QSize:
        return QSize(400, 260)

    def set_source(self, words: list[str]) -> None:
        self.source = list(words)
        self.set_rows(None, [], -1, None)

    def set_rows(self, rows: np.ndarray | None, labels: list[str], current: int, lut: np.ndarray | None) -> None:
        """rows (n, S) in 0..1; lut (256, 3) uint8 colours of the weights 0..1."""
        self.rows, self.labels, self.current = rows, list(labels), current
        if rows is None or lut is None or rows.size == 0:
            self._pixels = self._image = None
        else:
            index = np.clip(np.rint(np.nan_to_num(rows) * 255), 0, 255).astype(np.intp)
            self._pixels = np.ascontiguousarray(lut[index], dtype=np.uint8)
            n, s = rows.shape
            self._image = QImage(self._pixels.data, s, n, 3 * s, QImage.Format.Format_RGB888)
        self.update()

    # -- geometry -----------------------------------------------------------------------------------

    def _left(self) -> float:
        fm = QFontMetrics(self.font())
        return min(max((fm.horizontalAdvance(t) for t in self.labels), default=0), LABEL_MAX) + 2 * PAD

    def column_labels(self) -> ColumnLabels:
        """Every source word above its column: level if each fits its column, else slanted 60° (as
        in the exported figure) or upright, whichever keeps neighbours apart, else in a smaller
        font (down to MIN_POINTS); a word longer than the band allows is elided."""
        left, s = self._left(), len(self.source)
        font = QFont(self.font())
        fm = QFontMetrics(font)
        if not s:
            return ColumnLabels(font, 0.0, [], fm.height() + PAD, 0.0)
        free = max(self.width() - left - PAD, 1)
        w = free / s
        if max(fm.horizontalAdvance(t) for t in self.source) + PAD <= w:
            return ColumnLabels(font, 0.0, list(self.source), fm.height() + PAD, 0.0)
        angle = next((a for a in ANGLES[1:] if w * math.sin(math.radians(a)) >= fm.height() + 1), None)
        if angle is None:  # even upright the words touch: shrink the font to the column
            angle = 90.0
            size = font.pointSizeF() if font.pointSizeF() > 0 else 9.0
            while size > MIN_POINTS and QFontMetrics(font).height() + 1 > w:
                size = max(MIN_POINTS, size - 0.5)
                font.setPointSizeF(size)
            fm = QFontMetrics(font)
        sin, cos = math.sin(math.radians(angle)), math.cos(math.radians(angle))
        h = fm.height()
        longest = min(LABEL_MAX, max(1.0, (BAND_SHARE * self.height() - h * cos - PAD) / sin))
        texts = [fm.elidedText(t, Qt.TextElideMode.ElideRight, int(longest)) for t in self.source]
        advances = [fm.horizontalAdvance(t) for t in texts]
        band = max(advances) * sin + h * cos + PAD
        right = 0.0  # the last words lean past the cells: keep room for them at the right
        for _ in range(3):
            w = max(free - right, 1) / s
            right = max(0.0, max(h / 2 * sin + a * cos - (s - j - 0.5) * w for j, a in enumerate(advances)))
        return ColumnLabels(font, angle, texts, band, right)

    def cells(self, labels: ColumnLabels | None = None) -> QRectF:
        """Where the cells are drawn: right of the row labels, below the column labels."""
        labels = labels or self.column_labels()
        left = self._left()
        top = labels.band + PAD
        return QRectF(left, top, max(self.width() - left - PAD - labels.right, 1), max(self.height() - top - PAD, 1))

    def row_at(self, y: float) -> int | None:
        if self.rows is None or not len(self.rows):
            return None
        area = self.cells()
        row = int((y - area.top()) // (area.height() / len(self.rows)))
        return row if 0 <= row < len(self.rows) else None

    # -- painting and clicks ------------------------------------------------------------------------

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), Qt.GlobalColor.white)
        columns = self.column_labels()
        area = self.cells(columns)
        fm = QFontMetrics(self.font())
        grey = QColor("#555555")
        p.setPen(grey)
        s = len(self.source)
        if s:
            w = area.width() / s
            p.save()
            p.setFont(columns.font)
            cfm = QFontMetrics(columns.font)
            h, sin = cfm.height(), math.sin(math.radians(columns.angle))
            for j, text in enumerate(columns.texts):
                centre = area.left() + (j + 0.5) * w
                if columns.angle == 0:
                    p.drawText(QRectF(centre - w / 2, area.top() - PAD / 2 - h, w, h), Qt.AlignmentFlag.AlignCenter, text)
                    continue
                p.save()  # the text's lower left corner just above the cells, its middle over the column
                p.translate(centre + h / 2 * sin, area.top() - PAD / 2)
                p.rotate(-columns.angle)
                p.drawText(QRectF(0, -h, cfm.horizontalAdvance(text) + 1, h),
                           Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
                p.restore()
            p.restore()
        if self._image is not None:
            n = len(self.rows)
            p.drawImage(area, self._image)  # nearest neighbour: cells stay crisp
            h = area.height() / n
            for i, label in enumerate(self.labels):
                rect = QRectF(PAD, area.top() + i * h, area.left() - 2 * PAD, h)
                p.setPen(Qt.GlobalColor.black if i == self.current else grey)
                p.drawText(rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                           fm.elidedText(label, Qt.TextElideMode.ElideMiddle, LABEL_MAX))
            if 0 <= self.current < n:
                pen = QPen(FRAME)
                pen.setWidthF(2.5)
                p.setPen(pen)
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(QRectF(area.left(), area.top() + self.current * h, area.width(), h))
        p.end()

    def mousePressEvent(self, event) -> None:
        row = self.row_at(event.position().y())
        if row is not None:
            self.row_clicked.emit(row)
        super().mousePressEvent(event)
