"""The video kind's panes: the player with the strip of sampled frames under it (media pane), and
the current word's attention over time with its top frames and one small curve per word
(attention pane). Clicking a word seeks the player to the frame it attended most; clicking a
frame of the strip says which words attended to it.

A transformer (TimeSformer, VideoMAE) also says where in each frame a word looked: the strip's
frames and the enlarged top frames carry that map over them, drawn as the image overlay is. Each
frame's map holds the frame's share of the word's attention (lens.Places.details), and all of a
word's maps are scaled by its largest cell, not each by its own: a frame the word hardly looked at
stays faint, as its bar is low, instead of glowing as brightly as the frame it looked at most."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget,
)

from ..types import Step
from . import views
from .attention_pane import WordStrip, to_pixmap
from .time_chart import TimeChart
from .lensing import frame_details
from .overlay import overlay_rgba, tile_colours

TOP_FRAMES = 3
# The player's modules: imported ahead by the window, one piece per event-loop turn.
PRELOAD = tuple(
    f"{__package__.rpartition('.')[0]}.{m}" for m in ("media.frames", "engine.player", "ui.player_widget"))
CURVE_W, CURVE_H = 84, 44
TEXT_H, BAR_H = 14, 26  # a strip cell's time label and its attention bar, under the frame
CLICK_HINT = "Click a frame to see which words looked at it."


def _import_pyav_ahead() -> None:
    from ..engine.player import import_pyav_ahead

    import_pyav_ahead()


# Pieces built ahead, last: a view painted once before a clip's first paint; PyAV's import started
# on a thread of its own (engine.player.import_pyav_ahead), not at the player's first open.
WARM_UP = views.WARM_UP + (_import_pyav_ahead,)


def _time(t: float) -> str:
    return f"{int(t // 60)}:{t % 60:05.2f}"


def detail_overlays(maps: np.ndarray | None, look) -> list[np.ndarray] | None:
    """RGBA overlays of a word's where-in-each-frame maps (frames, rows, cols), all scaled by the
    word's largest cell (see the module's note); None without maps."""
    if maps is None:
        return None
    top = max(float(maps.max()), 1e-12)
    return [overlay_rgba(m / top, look.cmap, look.opacity, look.smoothing, scale="fixed") for m in maps]


def rgba_image(rgba: np.ndarray) -> QImage:
    rgba = np.ascontiguousarray(rgba)
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()  # not the numpy buffer


class ElidedLabel(QLabel):
    """One line of text that neither wraps nor widens its pane: elided at the right when narrow,
    whole in its tooltip; its height is fixed, so a longer text moves nothing around it."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(parent)
        self.setWordWrap(False)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.fontMetrics().height() + 4)
        self.setText(text)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text if self.shown_text() != text else "")

    def clear(self) -> None:
        self.setText("")

    def shown_text(self) -> str:
        """The text as painted: elided to the label's width."""
        width = max(self.contentsRect().width(), 0)
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, width)

    def minimumSizeHint(self) -> QSize:
        return QSize(0, self.height())

    def sizeHint(self) -> QSize:
        return QSize(self.fontMetrics().horizontalAdvance(self.text()) + 4, self.height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.setToolTip(self.text() if self.shown_text() != self.text() else "")

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setPen(self.palette().color(self.foregroundRole()))
        p.drawText(self.contentsRect(), int(self.alignment()) | int(Qt.AlignmentFlag.AlignVCenter), self.shown_text())
        p.end()


class FrameStrip(QWidget):
    """The sampled frames in a row, each with its time and a bar of the current word's attention."""

    clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.frames: list = []  # QPixmaps
        self.times: list[float] = []
        self.weights: np.ndarray | None = None  # the current word's, on screen (tests read them)
        self.colours: np.ndarray | None = None
        self.peak: int | None = None
        self.overlays: list[np.ndarray] | None = None  # the current word's where-in-frame maps, RGBA
        self._overlay_images: list[QImage] = []
        self.selected: int | None = None
        self._backdrop: QPixmap | None = None  # the frames and their times, drawn once per clip and size
        self._places: list[QRectF] = []  # where each frame's picture is on it
        self.setMinimumHeight(90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_clip(self, frames: np.ndarray | None, times: list[float]) -> None:
        self.frames = [] if frames is None else [to_pixmap(f) for f in frames]
        self.times = list(times)
        self._backdrop = None
        self.weights = self.colours = self.peak = self.selected = None
        self.set_overlays(None)

    def set_weights(self, weights, cmap: str, opacity: float, show_peak: bool) -> None:
        if weights is None or len(weights) != len(self.frames):
            self.weights = self.colours = self.peak = None
        else:
            self.weights = np.asarray(weights, dtype=np.float32)
            self.colours = tile_colours(self.weights, cmap, max(opacity, 0.8))
            self.peak = int(self.weights.argmax()) if show_peak else None
        self.update()

    def set_overlays(self, overlays: list[np.ndarray] | None) -> None:
        """Where in each frame the current word looked (one RGBA per frame), or None."""
        if overlays is not None and len(overlays) != len(self.frames):
            overlays = None
        self.overlays = overlays
        self._overlay_images = [rgba_image(o) for o in overlays] if overlays is not None else []
        self.update()

    def _small_font(self):
        f = self.font()
        f.setPointSizeF(max(6.0, f.pointSizeF() * 0.8))
        return f

    def cell(self, k: int) -> QRectF:
        n = max(len(self.frames), 1)
        w = self.width() / n
        return QRectF(k * w, 0, w, self.height())

    def sizeHint(self) -> QSize:
        return QSize(600, 110)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.drawPixmap(0, 0, self._frames_drawn())
        top = max(float(self.weights.max()), 1e-6) if self.weights is not None else 1.0
        for k, place in enumerate(self._places):
            r = self.cell(k).adjusted(2, 2, -2, -2)
            if self._overlay_images:
                p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
                p.drawImage(place, self._overlay_images[k])
            if self.weights is not None:
                frac = float(self.weights[k]) / top
                bar = QRectF(r.x() + 3, r.bottom() - BAR_H * frac, r.width() - 6, BAR_H * frac)
                p.fillRect(bar, QColor(*self.colours[k]))
            if k == self.peak:
                p.setPen(QPen(QColor("#fbbc04"), 3))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(r)
            if k == self.selected:
                p.setPen(QPen(QColor("#8ab4f8"), 2, Qt.PenStyle.DashLine))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(r.adjusted(2, 2, -2, -2))
        p.end()

    def _frames_drawn(self) -> QPixmap:
        """The frames scaled to their cells, with their times, on the strip's background: drawn
        again only when the clip or the strip's size changes, so that a word paints only its bars
        and marks over it (the frames and their text each time: 1.2-3.5 ms a paint)."""
        ratio = self.devicePixelRatioF()
        if self._backdrop is not None and self._backdrop.size() == self.size() * ratio:
            return self._backdrop
        self._backdrop = QPixmap(self.size() * ratio)
        self._backdrop.setDevicePixelRatio(ratio)
        p = QPainter(self._backdrop)
        p.fillRect(QRectF(0, 0, self.width(), self.height()), QColor("#202124"))
        p.setFont(self._small_font())
        p.setPen(QColor("#e8eaed"))
        self._places = []
        for k, pix in enumerate(self.frames):
            r = self.cell(k).adjusted(2, 2, -2, -2)
            pic_h = r.height() - TEXT_H - BAR_H - 4
            scaled = pix.scaled(int(r.width()), int(pic_h), Qt.AspectRatioMode.KeepAspectRatio,
                                Qt.TransformationMode.SmoothTransformation)
            place = QRectF(int(r.x() + (r.width() - scaled.width()) / 2), int(r.y()), scaled.width(), scaled.height())
            p.drawPixmap(place.topLeft(), scaled)
            self._places.append(place)
            p.drawText(QRectF(r.x(), r.y() + pic_h, r.width(), TEXT_H), Qt.AlignmentFlag.AlignCenter,
                       f"{self.times[k]:.2f}s" if k < len(self.times) else "")
        p.end()
        return self._backdrop

    def mousePressEvent(self, event) -> None:
        n = len(self.frames)
        if n:
            k = int(event.position().x() // (self.width() / n))
            if 0 <= k < n:
                self.selected = k
                self.update()
                self.clicked.emit(k)


class VideoMediaPane(QWidget):
    """The video playing at its own rate (decoded off the GUI thread) above the sampled frames."""

    def __init__(self, parent=None):
        super().__init__(parent)
        from .player_widget import PlayerWidget

        self.player = PlayerWidget()
        self.player.start()  # built while the clip is read: its thread is not started during torch's loading
        self.player.failed.connect(self._player_failed)
        self.strip = FrameStrip()
        self.strip.clicked.connect(self._frame_clicked)
        self.attended = ElidedLabel(CLICK_HINT)  # one line: a long one never moves the player up
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.player, 1)
        caption = QLabel("The frames the model saw, with the current word's attention:")
        caption.setWordWrap(True)
        lay.addWidget(caption)
        lay.addWidget(self.strip)
        lay.addWidget(self.attended)
        self.clip = None
        self._words: list[Step] = []
        self._sought: tuple | None = None  # (clip path, word index) last sought, not to re-seek on redraws
        self._frame_line = False  # the line under the strip is about a clicked frame

    def set_media(self, clip) -> None:
        same_file = self.clip is not None and clip is not None and self.clip.path == clip.path
        self.clip = clip
        self._sought = None
        self._words = []
        if clip is None:
            self.strip.set_clip(None, [])
            return
        self.strip.set_clip(clip.frames, clip.times)
        self.player.set_markers([clip.file_time(t) for t in clip.times], None)
        if not same_file:
            self.player.open(clip.path, clip.packets)  # listed by the engine: the player need not list them
        self._frame_line = False
        self.attended.setText(CLICK_HINT)

    def close_media(self) -> None:
        self.player.shutdown()

    def give_way_to(self, window_idle) -> None:
        """The player decodes only while the window is not drawing (see FramePlayer.give_way_to)."""
        self.player.player.give_way_to(window_idle)

    def show_words(self, words: list[Step], index: int, look) -> None:
        self._words = words
        step = words[index] if 0 <= index < len(words) else None
        self.strip.set_weights(None if step is None else step.attention, look.cmap, look.opacity, look.peak)
        self.strip.set_overlays(detail_overlays(frame_details(words, index), look))
        if step is not None and self.clip is not None:
            peak = int(np.argmax(step.attention))
            key = (self.clip.path, index, step.token)
            if key != self._sought:  # a new word: show the frame it looked at most
                self._forget_frame()  # the line about a clicked frame went with the last word
                self._sought = key
                self.player.seek(self.clip.file_time(self.clip.times[peak]))
                self.player.set_markers([self.clip.file_time(t) for t in self.clip.times], peak)

    def _frame_clicked(self, k: int) -> None:
        """Which words attended to frame k, and how much; the player shows that frame."""
        if self.clip is None:
            return
        looked = sorted(((w.token, float(w.attention[k])) for w in self._words if k < len(w.attention)),
                        key=lambda x: -x[1])
        strong = [f"{t} {a:.2f}" for t, a in looked if a >= 0.1]
        self._frame_line = True
        self.attended.setText(f"Frame {k + 1} at {self.clip.times[k]:.2f} s — attended by: "
                              + (", ".join(strong) if strong else "no word above 0.10"))
        self.player.seek(self.clip.file_time(self.clip.times[k]))

    def _forget_frame(self) -> None:
        """The clicked frame's line and outline go (a player's failure stays said)."""
        if self._frame_line:
            self._frame_line = False
            self.attended.setText(CLICK_HINT)
        if self.strip.selected is not None:
            self.strip.selected = None
            self.strip.update()

    def _player_failed(self, message: str) -> None:
        self._frame_line = False
        self.attended.setText(f"The player cannot show this file: {message}")


class VideoAttentionPane(QWidget):
    """The current word's attention over time (bars on the frames' time axis, the peak marked),
    its most attended frames enlarged, and one small curve per word to click."""

    word_clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = TimeChart()
        self.top = [QLabel() for _ in range(TOP_FRAMES)]
        self.top_captions = [ElidedLabel() for _ in range(TOP_FRAMES)]  # each frame's time and weight
        top_row = QHBoxLayout()
        for label, caption in zip(self.top, self.top_captions):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setMinimumSize(64, 64)
            label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            column = QVBoxLayout()
            column.setSpacing(0)
            column.addWidget(label, 1)
            column.addWidget(caption)
            top_row.addLayout(column)
        self.words = WordStrip(CURVE_W, CURVE_H)
        self.words.word_clicked.connect(self.word_clicked)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot, 3)
        lay.addWidget(QLabel("Most attended frames:"))
        lay.addLayout(top_row, 1)
        lay.addWidget(self.words)
        self.clip = None
        self.weights: np.ndarray | None = None  # the current word's, on screen (tests read them)
        self.top_shown: list[int] = []  # frame indices of the enlarged frames
        self.top_overlays: list[np.ndarray] | None = None  # where in those frames the word looked (RGBA)
        self._enlarged: dict[tuple, object] = {}  # (frame, width, height) -> scaled QPixmap: words share frames

    @property
    def media(self):
        return self.clip

    def set_media(self, clip) -> None:
        self.clip = clip
        self.weights = None
        self.top_shown = []
        self.top_overlays = None
        self._enlarged.clear()
        self.words.forget()
        self.plot.set_clip(None if clip is None else clip.times)
        for label in self.top + self.top_captions:
            label.clear()

    def show_words(self, words: list[Step], index: int, look) -> None:
        if self.clip is None:
            return
        step = words[index] if 0 <= index < len(words) else None
        self._show_curves(words, index, look)
        if step is None or len(step.attention) != len(self.clip.times):
            self.weights = self.top_overlays = None
            self.plot.set_word(None)
            return
        w = np.asarray(step.attention, dtype=np.float64)
        self.weights = w.astype(np.float32)
        peak = int(w.argmax())
        self.plot.set_word(w, tile_colours(w, look.cmap, max(look.opacity, 0.8)), peak if look.peak else None,
                           f"“{step.token}”: attention over the frames")
        self.top_shown = [int(k) for k in np.argsort(-w, kind="stable")[:TOP_FRAMES]]
        overlays = detail_overlays(frame_details(words, index), look)
        if overlays is not None and len(overlays) != len(w):
            overlays = None
        self.top_overlays = None if overlays is None else [overlays[k] for k in self.top_shown]
        for slot, (label, k) in enumerate(zip(self.top, self.top_shown)):
            pix = self._enlarge(k, label)
            if self.top_overlays is not None:
                pix = pix.copy()
                p = QPainter(pix)
                p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
                p.drawImage(QRectF(pix.rect()), rgba_image(self.top_overlays[slot]))
                p.end()
            label.setPixmap(pix)
            label.setToolTip(f"{self.clip.times[k]:.2f} s · weight {w[k]:.2f}")
            label.setStatusTip(label.toolTip())
            self.top_captions[slot].setText(label.toolTip())

    def _enlarge(self, k: int, label: QLabel):
        """Frame k scaled to the label, once per frame and size."""
        size = label.size()
        key = (k, max(size.width(), 60), max(size.height() - 4, 60))
        pix = self._enlarged.get(key)
        if pix is None:
            pix = self._enlarged[key] = to_pixmap(self.clip.frames[k]).scaled(
                key[1], key[2], Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        return pix

    def _show_curves(self, words: list[Step], index: int, look) -> None:
        """One small curve per word."""
        self.words.show_words(words, index, (look.cmap,), lambda w: curve_image(w.attention, look.cmap))


def curve_image(weights: np.ndarray, cmap: str = "jet") -> np.ndarray:
    """A small RGB picture of one word's attention over time: a bar per frame, the peak darkest."""
    w = np.asarray(weights, dtype=np.float64)
    img = np.full((CURVE_H, CURVE_W, 3), 255, np.uint8)
    n = len(w)
    if n == 0:
        return img
    top = max(float(w.max()), 1e-6)
    colours = tile_colours(w, cmap, 1.0)
    edges = np.linspace(0, CURVE_W, n + 1).round().astype(int)
    for k in range(n):
        h = int(round((CURVE_H - 4) * w[k] / top))
        img[CURVE_H - 2 - h: CURVE_H - 2, edges[k] + 1: max(edges[k + 1] - 1, edges[k] + 2)] = colours[k]
    img[CURVE_H - 2:, :] = 120
    return img
