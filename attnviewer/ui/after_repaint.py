"""Call something once a window's next repaint is done (its paint of a new input, say)."""
from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject

_CALL = QEvent.Type(QEvent.registerEventType())


class AfterRepaint(QObject):
    """Lives on the GUI thread, watching one window. call(fn) runs fn after the window's next
    repaint (its UpdateRequest: every widget changed meanwhile is painted in it), or at once when
    the window is not exposed (no repaint comes). A posted event of lower priority than the
    repaint is not enough: one posted while Qt delivers a batch of events (a queued scene update
    of pyqtgraph asks for the repaint) comes after the whole batch, so it ran before the paint."""

    def __init__(self, window):
        super().__init__(window)
        self._window = window
        self._waiting: list = []  # for the next repaint
        self._ready: list = []  # its repaint has begun: run once it is over
        window.installEventFilter(self)

    def call(self, fn) -> None:
        handle = self._window.windowHandle()
        if not self._window.isVisible() or handle is None or not handle.isExposed():
            fn()  # hidden, minimised or covered: Qt paints nothing until it is exposed again
            return
        self._waiting.append(fn)

    def eventFilter(self, watched, ev) -> bool:
        if ev.type() == QEvent.Type.UpdateRequest and watched is self._window and self._waiting:
            self._ready += self._waiting
            self._waiting = []
            QCoreApplication.postEvent(self, QEvent(_CALL))  # delivered after this repaint
        return False

    def event(self, ev) -> bool:
        if ev.type() == _CALL:
            ready, self._ready = self._ready, []
            for fn in ready:
                fn()
            return True
        return super().event(ev)
