"""A translation's alignment matrix, painted directly: a row per target word (its word and
probability at the left), a column per source word (labels alternating top and bottom, so long
words do not overlap), each cell coloured by its weight on a fixed 0..1 scale, the current row
framed in red. Clicking a row asks for that word.

Why not a pyqtgraph plot: the matrix is a fixed picture (no zoom, no menu), and building a
PlotWidget with its axes and menus cost 44-50 ms of GUI-thread CPU in one piece, the longest stall
of a sentence's first translation; this widget costs about a millisecond to build and to paint.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

PAD = 6  # pixels between the labels and the cells, and around the whole
LABEL_MAX = 160  # pixels of a row label at the most (longer ones are elided)
FRAME = QColor("#d93025")


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

    def cells(self) -> QRectF:
        """Where the cells are drawn, inside the labels."""
        fm = QFontMetrics(self.font())
        left = min(max((fm.horizontalAdvance(t) for t in self.labels), default=0), LABEL_MAX) + 2 * PAD
        band = fm.height() + PAD
        return QRectF(left, band + PAD, max(self.width() - left - PAD, 1), max(self.height() - 2 * band - 2 * PAD, 1))

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
        area = self.cells()
        fm = QFontMetrics(self.font())
        grey = QColor("#555555")
        p.setPen(grey)
        s = len(self.source)
        if s:
            w = area.width() / s
            for j, word in enumerate(self.source):
                top = j % 2 == 0
                y = area.top() - PAD - fm.height() if top else area.bottom() + PAD
                rect = QRectF(area.left() + j * w - w / 2, y, 2 * w, fm.height())  # room to spill into a neighbour
                p.drawText(rect, Qt.AlignmentFlag.AlignCenter, fm.elidedText(word, Qt.TextElideMode.ElideRight, int(2 * w)))
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
