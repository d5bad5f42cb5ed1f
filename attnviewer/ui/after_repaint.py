"""Call something once a window has painted what was changed before the call."""
from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer

_ARM, _CALL, _TURN = (QEvent.Type(QEvent.registerEventType()) for _ in range(3))
APART_TURNS = 3  # call_apart: the most turns a call waits for one without a repaint


class AfterRepaint(QObject):
    """Lives on the GUI thread, watching one window. call(fn) runs fn after the window's first
    repaint (its UpdateRequest: every widget changed is painted in it) that comes after the events
    already queued, or at once when the window is hidden (no repaint comes; one shown but not yet
    exposed, its first paint to come, is waited for: whoever waits on fn sets its own limit). Those events go
    first because a change can ask for its repaint through them (a queued call, as pyqtgraph's
    scene did): a repaint already under way would paint without it. A posted event of lower priority
    than the repaint is not enough either: one posted while Qt delivers a batch of events comes
    after the whole batch, so it ran before the paint."""

    def __init__(self, window):
        super().__init__(window)
        self._window = window
        self._arming: list = []  # behind the events queued before the call
        self._waiting: list = []  # for the next repaint
        self._ready: list = []  # its repaint has begun: run once it is over
        self.repaints = 0  # the window's repaints so far (their UpdateRequests)
        self._apart_ran = False  # a call_apart ran in this turn (cleared by an event posted then)
        window.installEventFilter(self)

    def call(self, fn) -> None:
        if not self._window.isVisible():
            fn()  # no window on screen: no repaint comes
            return
        self._arming.append(fn)
        QCoreApplication.postEvent(self, QEvent(_ARM))

    def call_apart(self, fn, turns: int = APART_TURNS) -> None:
        """Run fn in a later turn of the event loop than this one (a 1 ms timer: the timers due by
        then and input go first), and not in the turn of a repaint of the window: one that came
        before fn's timer (the window painting what was changed just before) puts fn off a turn, so
        that input can go between the two instead of waiting for both; at most `turns` times (while
        a clip is read, its progress repaints a small part of the window every few ms). Nor in the
        turn of another call_apart: two due together (an input's veils and a piece built ahead) ran
        one after the other, then the repaint of both."""
        seen = self.repaints

        def due() -> None:
            if (self.repaints != seen or self._apart_ran) and turns > 0:
                self.call_apart(fn, turns - 1)
                return
            self._apart_ran = True
            QCoreApplication.postEvent(self, QEvent(_TURN))  # delivered in the next turn
            fn()

        QTimer.singleShot(1, self, due)

    def eventFilter(self, watched, ev) -> bool:
        if ev.type() != QEvent.Type.UpdateRequest or watched is not self._window:
            return False
        self.repaints += 1
        if self._waiting:
            self._ready += self._waiting
            self._waiting = []
            QCoreApplication.postEvent(self, QEvent(_CALL))  # delivered after this repaint
        return False

    def event(self, ev) -> bool:
        if ev.type() == _ARM:
            if self._arming:
                self._waiting.append(self._arming.pop(0))
            return True
        if ev.type() == _TURN:
            self._apart_ran = False
            return True
        if ev.type() == _CALL:
            ready, self._ready = self._ready, []
            for fn in ready:
                fn()
            return True
        return super().event(ev)
