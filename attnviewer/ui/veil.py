"""A translucent veil over a pane whose picture belongs to the previous input (while a new one is
read): a plain child widget painted above it. (A QGraphicsOpacityEffect on the pane would be the
obvious way, but it renders pyqtgraph's views and the video player garbled.)"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QWidget

TINT = QColor(240, 240, 240, 175)


class Veil(QWidget):
    def __init__(self, pane: QWidget):
        super().__init__(pane)
        self.setObjectName("veil")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)  # the old words stay clickable
        self.text = ""
        pane.installEventFilter(self)
        self.setGeometry(pane.rect())
        self.hide()

    def eventFilter(self, watched: QObject, event) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.setGeometry(watched.rect())
        return False

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), TINT)
        if self.text:
            p.setPen(QColor("#3c4043"))
            flags = Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter
            # wrapped: over a narrow pane (an image's column beside a sentence) the line was cut at both ends
            p.drawText(self.rect().adjusted(8, 6, -8, -6), int(flags) | int(Qt.TextFlag.TextWordWrap), self.text)
        p.end()


def veil(pane: QWidget, text: str | None) -> None:
    """Veil a pane with a line of `text`, or (None) lift its veil."""
    cover = pane.findChild(Veil, "veil", Qt.FindChildOption.FindDirectChildrenOnly)
    if text is None:
        if cover is not None:
            cover.hide()
        return
    if cover is None:
        cover = Veil(pane)
    cover.text = text
    cover.setGeometry(pane.rect())
    cover.show()
    cover.raise_()
    cover.update()


def veiled(pane: QWidget) -> bool:
    cover = pane.findChild(Veil, "veil", Qt.FindChildOption.FindDirectChildrenOnly)
    return cover is not None and cover.isVisibleTo(pane)
