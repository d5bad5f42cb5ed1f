"""The video player of the media pane: the picture, play/pause, frame back/forward, a scrub bar with
optional marks (e.g. the frames the model sampled) above it, and the time.

All decoding happens on the FramePlayer's thread (engine/player.py); this widget only paints.
Scrubbing is throttled: while the handle moves, at most one seek per SCRUB_MS goes out, always
the newest position (and the decoder abandons a seek that a newer one supersedes). The controls
never take the keyboard focus, so the window's arrow keys keep stepping through the words.
"""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QHBoxLayout, QLabel, QSizePolicy, QSlider, QStyle, QStyleOptionSlider, QToolButton, QVBoxLayout, QWidget,
)

from ..engine.player import MAX_SIDE, FramePlayer, VideoInfo
from .views import ImageView

SCRUB_MS = 40  # at most one seek per this while the scrub bar is dragged
MARK_HEIGHT = 7


def format_time(seconds: float) -> str:
    """0:01.25 (minutes:seconds.hundredths)."""
    cs = max(0, int(round(seconds * 100)))
    m, cs = divmod(cs, 6000)
    return f"{m}:{cs // 100:02d}.{cs % 100:02d}"


class _Marks(QWidget):
    """Small ticks above the scrub bar, aligned with the slider's handle positions."""

    clicked = Signal(int)  # which mark

    def __init__(self, slider: QSlider, parent=None):
        super().__init__(parent)
        self.slider = slider
        self.values: list[int] = []  # slider values (frame indexes) of the marks
        self.current: int | None = None
        self.setFixedHeight(MARK_HEIGHT + 2)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_marks(self, values: list[int], current: int | None) -> None:
        self.values, self.current = list(values), current
        self.setVisible(bool(values))
        self.update()

    def _x(self, value: int) -> int:
        s = self.slider
        opt = QStyleOptionSlider()
        s.initStyleOption(opt)
        style = s.style()
        groove = style.subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderGroove, s)
        handle = style.subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderHandle, s)
        span = max(1, groove.width() - handle.width())
        x = groove.x() + handle.width() // 2 + QStyle.sliderPositionFromValue(s.minimum(), s.maximum(), value, span)
        return self.mapFromGlobal(s.mapToGlobal(QPoint(x, 0))).x()

    def paintEvent(self, event):
        if not self.values:
            return
        p = QPainter(self)
        for i, v in enumerate(self.values):
            x = self._x(v)
            current = i == self.current
            p.setPen(QPen(QColor("#ff4081" if current else "#9aa0a6"), 3 if current else 1.5))
            p.drawLine(x, 1 if current else 3, x, MARK_HEIGHT + 1)
        p.end()

    def mousePressEvent(self, event):
        if not self.values:
            return
        x = event.position().x()
        nearest = min(range(len(self.values)), key=lambda i: abs(self._x(self.values[i]) - x))
        if abs(self._x(self.values[nearest]) - x) <= 6:
            self.clicked.emit(nearest)


class _ScrubBar(QSlider):
    """A slider whose groove, clicked, jumps to the clicked time (a plain QSlider steps a page towards
    it), the handle then following the mouse as a drag."""

    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.LeftButton and self.maximum() > self.minimum():
            opt = QStyleOptionSlider()
            self.initStyleOption(opt)
            style = self.style()
            handle = style.subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderHandle, self)
            pos = event.position().toPoint()
            if not handle.contains(pos):
                groove = style.subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                              QStyle.SubControl.SC_SliderGroove, self)
                span = max(1, groove.width() - handle.width())
                self.setValue(QStyle.sliderValueFromPosition(
                    self.minimum(), self.maximum(), pos.x() - groove.x() - handle.width() // 2, span,
                    opt.upsideDown))
                # the handle is under the mouse now: the press below grabs it, as a drag would
        super().mousePressEvent(event)


class PlayerWidget(QWidget):
    """A video with its controls. Signals: opened(VideoInfo), failed(str), position_changed(float)."""

    opened = Signal(object)
    failed = Signal(str)
    position_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None, max_side: int = MAX_SIDE):
        super().__init__(parent)
        self.player = FramePlayer(self, max_side=max_side)
        self.view = ImageView()
        self.view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.play_button = self._button(QStyle.StandardPixmap.SP_MediaPlay, "Play / pause")
        self.back_button = self._button(QStyle.StandardPixmap.SP_MediaSeekBackward, "One frame back")
        self.forward_button = self._button(QStyle.StandardPixmap.SP_MediaSeekForward, "One frame forward")
        for b in (self.back_button, self.forward_button):
            b.setAutoRepeat(True)
        self.slider = _ScrubBar(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.setRange(0, 0)
        self.marks = _Marks(self.slider)
        self.marks.setVisible(False)
        self.time_label = QLabel(f"{format_time(0)} / {format_time(0)}")
        self.time_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.time_label.setMinimumWidth(self.time_label.fontMetrics().horizontalAdvance("00:00.00 / 00:00.00") + 6)

        bar = QVBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(0)
        bar.addWidget(self.marks)
        bar.addWidget(self.slider)
        row = QHBoxLayout()
        row.setContentsMargins(4, 0, 4, 2)
        row.addWidget(self.back_button)
        row.addWidget(self.play_button)
        row.addWidget(self.forward_button)
        row.addLayout(bar, 1)
        row.addWidget(self.time_label)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.view, 1)
        lay.addLayout(row)

        self._mark_times: list[float] = []
        self._mark_current: int | None = None
        self._scrub_to: int | None = None
        self._scrub_timer = QTimer(self)
        self._scrub_timer.setSingleShot(True)
        self._scrub_timer.setInterval(SCRUB_MS)
        self._scrub_timer.timeout.connect(self._flush_scrub)

        self.play_button.clicked.connect(self.toggle)
        self.back_button.clicked.connect(self._step_back)
        self.forward_button.clicked.connect(self._step_forward)
        self.slider.valueChanged.connect(self._on_slider)
        self.slider.sliderReleased.connect(self._flush_scrub)
        self.marks.clicked.connect(self._on_mark)
        self.player.opened.connect(self._on_opened)
        self.player.failed.connect(self._on_failed)
        self.player.frame.connect(self._on_frame)
        self.player.ended.connect(self._on_ended)
        self._set_enabled(False)

    def _button(self, icon: QStyle.StandardPixmap, tip: str) -> QToolButton:
        b = QToolButton()
        b.setIcon(self.style().standardIcon(icon))
        b.setToolTip(tip)
        b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the window's arrow keys step words
        b.setAutoRaise(True)
        return b

    # ---- API ----
    @property
    def info(self) -> VideoInfo | None:
        return self.player.info

    @property
    def position(self) -> float:
        return self.player.position

    def start(self) -> None:
        """Start the decoder thread ahead of the first open (see FramePlayer.start)."""
        self.player.start()

    def open(self, path, index=None) -> None:
        """Open a video (read on the decoder thread): opened or failed follows. `index`: its
        packets as the engine listed them (LoadedClip.packets), so the player does not list them again."""
        self._scrub_timer.stop()
        self._scrub_to = None
        self._set_enabled(False)
        self.player.open(path, index)

    def seek(self, seconds: float) -> None:
        self.player.seek(seconds)

    def play(self) -> None:
        self.player.play()
        self._update_button()

    def pause(self) -> None:
        self.player.pause()
        self._update_button()

    @Slot()
    def toggle(self) -> None:
        self.player.toggle()
        self._update_button()

    def step(self, n: int) -> None:
        self.player.step(n)
        self._update_button()

    def set_markers(self, times: list[float], current: int | None = None) -> None:
        """Ticks above the scrub bar at these times (seconds); `current` (an index into times) stands out."""
        self._mark_times, self._mark_current = [float(t) for t in times], current
        self._place_marks()

    def shutdown(self) -> None:
        """Stop the decoder thread (the window calls this when it closes; closeEvent does too)."""
        self._scrub_timer.stop()
        self.player.close()
        self._set_enabled(False)
        self._update_button()

    def closeEvent(self, event):
        self.shutdown()
        super().closeEvent(event)

    # ---- internals ----
    def _set_enabled(self, on: bool) -> None:
        for w in (self.play_button, self.back_button, self.forward_button, self.slider):
            w.setEnabled(on)

    def _place_marks(self) -> None:
        info = self.player.info
        values = [info.index_at(t) for t in self._mark_times] if info is not None else []
        self.marks.set_marks(values, self._mark_current)

    def _update_button(self) -> None:
        icon = QStyle.StandardPixmap.SP_MediaPause if self.player.playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))

    def _update_time(self, seconds: float) -> None:
        info = self.player.info
        self.time_label.setText(f"{format_time(seconds)} / {format_time(info.duration if info else 0)}")

    @Slot()
    def _step_back(self) -> None:
        self.step(-1)

    @Slot()
    def _step_forward(self) -> None:
        self.step(1)

    @Slot(int)
    def _on_mark(self, i: int) -> None:
        self.seek(self._mark_times[i])

    @Slot(int)
    def _on_slider(self, value: int) -> None:
        """The user moved the scrub bar (programmatic moves block signals): seek, throttled."""
        self._scrub_to = value
        if not self._scrub_timer.isActive():
            self._scrub_timer.start()

    @Slot()
    def _flush_scrub(self) -> None:
        self._scrub_timer.stop()
        if self._scrub_to is not None:
            index, self._scrub_to = self._scrub_to, None
            self.player.seek_frame(index)

    @Slot(object)
    def _on_opened(self, info: VideoInfo) -> None:
        self.slider.blockSignals(True)
        self.slider.setRange(0, info.frame_count - 1)
        self.slider.setPageStep(max(1, round(info.fps)))
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self._set_enabled(True)
        self._update_time(0.0)
        self._place_marks()
        self._update_button()
        self.opened.emit(info)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._update_button()
        if self.player.info is None:
            self._set_enabled(False)
            self.view.set_image(None)
            self.time_label.setText(f"{format_time(0)} / {format_time(0)}")
        self.failed.emit(message)

    @Slot(object, float)
    def _on_frame(self, rgb, seconds: float) -> None:
        self.view.set_image(rgb)
        index = self.player.index
        if index is not None and not self.slider.isSliderDown() and self._scrub_to is None:
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)
        self._update_time(seconds)
        self.position_changed.emit(seconds)

    @Slot()
    def _on_ended(self) -> None:
        self._update_button()
