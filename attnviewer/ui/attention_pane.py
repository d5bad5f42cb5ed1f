"""The attention pane: the current word's attention over the image, overlay controls, and a strip
of small multiples (one thumbnail per word, the classic Show-Attend-Tell figure) to click."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QHBoxLayout, QLabel, QListView, QListWidget, QListWidgetItem, QSlider,
    QVBoxLayout, QWidget,
)

from ..maps import SMOOTHING, peak
from ..types import Step
from .overlay import COLORMAPS, blend, overlay_rgba
from . import views

THUMB = 84


@dataclass
class OverlaySettings:
    cmap: str = "jet"
    opacity: float = 0.6
    smoothing: str = "gaussian"
    grid: bool = False
    peak: bool = True


THUMBNAIL_STYLE = ("QListWidget#thumbnails::item:selected { background: #e8f0fe; color: #202124; "
                   "border: 3px solid #1a73e8; border-radius: 3px; }")


def thumbnail_icon(rgb: np.ndarray) -> QIcon:
    """The same picture when selected: Qt's default tints a selected icon, which made the current
    word's thumbnail the most washed-out of the strip instead of the easiest to see."""
    pix = to_pixmap(rgb)
    icon = QIcon(pix)
    icon.addPixmap(pix, QIcon.Mode.Selected)
    return icon


def to_pixmap(rgb: np.ndarray) -> QPixmap:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())  # copy: the QImage must not outlive the numpy buffer


class OverlayControls(QWidget):
    changed = Signal()

    def __init__(self, settings: OverlaySettings, parent=None):
        super().__init__(parent)
        self.cmap = QComboBox()
        self.cmap.addItems(COLORMAPS)
        self.cmap.setCurrentText(settings.cmap)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(round(settings.opacity * 100))
        self.opacity.setMaximumWidth(120)
        self.smoothing = QComboBox()
        self.smoothing.addItems(SMOOTHING)
        self.smoothing.setCurrentText(settings.smoothing)
        self.grid = QCheckBox("grid")
        self.grid.setChecked(settings.grid)
        self.peak = QCheckBox("peak")
        self.peak.setChecked(settings.peak)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._labels = {}
        for key, label, w in (("cmap", "Colours", self.cmap), ("opacity", "Opacity", self.opacity),
                              ("smoothing", "Smoothing", self.smoothing)):
            self._labels[key] = QLabel(label)
            layout.addWidget(self._labels[key])
            layout.addWidget(w)
        layout.addWidget(self.grid)
        layout.addWidget(self.peak)
        layout.addStretch()
        for w in (self.cmap, self.smoothing):
            w.currentTextChanged.connect(self.changed)
        self.opacity.valueChanged.connect(self.changed)
        self.grid.toggled.connect(self.changed)
        self.peak.toggled.connect(self.changed)
        for w in (self.cmap, self.smoothing, self.opacity, self.grid, self.peak):
            w.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # keep the arrow keys for stepping

    def show_only(self, keys) -> None:
        """Show the controls that mean something for the kind on screen (all when keys is empty)."""
        widgets = {"cmap": self.cmap, "opacity": self.opacity, "smoothing": self.smoothing, "grid": self.grid,
                   "peak": self.peak}
        for key, w in widgets.items():
            visible = not keys or key in keys
            w.setVisible(visible)
            if key in self._labels:
                self._labels[key].setVisible(visible)

    def settings(self) -> OverlaySettings:
        return OverlaySettings(self.cmap.currentText(), self.opacity.value() / 100,
                               self.smoothing.currentText(), self.grid.isChecked(), self.peak.isChecked())


PICTURES_PER_TURN = 3  # a strip's pictures drawn in one event-loop turn (~1.1 ms of GUI CPU each)


class WordStrip(QListWidget):
    """One small picture per word (a thumbnail, a curve), clickable (`word_clicked`: its index);
    only words whose picture changed are redrawn: while the model writes, that is just the newest
    word. Every word is listed at once, and its picture drawn in the next turns of the event loop,
    PICTURES_PER_TURN a turn: drawn together they held the GUI thread for 10-30 ms in one turn
    (the final hypothesis, words that came while the window was busy, another look), and drawn in
    the turn that lists them, with the rest of a redraw and its paint, they made that turn 19 ms."""

    word_clicked = Signal(int)

    def __init__(self, width: int, height: int, parent=None):
        super().__init__(parent)
        self.itemClicked.connect(lambda item: self.word_clicked.emit(self.row(item)))
        self.setObjectName("thumbnails")
        self.setStyleSheet(THUMBNAIL_STYLE)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(QSize(width, height))
        self.setFixedHeight(height + 42)
        self.setMovement(QListView.Movement.Static)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        blank = QPixmap(width, height)
        blank.fill(Qt.GlobalColor.transparent)
        self._blank = QIcon(blank)  # a word listed before its picture is drawn takes the picture's room
        self._keys: list = []  # per item: what its picture shows (None: not drawn yet)
        self._rest = None  # (words, look, picture): pictures left for the next turns
        self._later = QTimer(self, singleShot=True, interval=0)
        self._later.timeout.connect(self._draw_rest)

    def forget(self) -> None:
        """No words (not reset(): QAbstractItemView's own, which clear() calls)."""
        self._keys = []
        self._rest = None
        self.clear()

    def show_words(self, words: list[Step], current: int, look: tuple, picture) -> None:
        """picture(step) -> RGB array of that word; `look` (the settings drawn with) is part of
        what decides whether a word's picture changed."""
        for i, w in enumerate(words):
            if i < self.count():
                if self.item(i).text() != w.token:
                    self.item(i).setText(w.token)
            else:
                self.addItem(QListWidgetItem(self._blank, w.token))  # (an item's size is fixed when added)
                self._keys.append(None)
        while self.count() > len(words):
            self.takeItem(self.count() - 1)
            self._keys.pop()
        self._rest = (words, look, picture)
        self._later.start()
        if 0 <= current < self.count():
            self.setCurrentRow(current)
            self.scrollToItem(self.item(current))

    def _draw_rest(self) -> None:
        """Up to PICTURES_PER_TURN pictures that changed; the next turn draws more, if any are left."""
        if self._rest is None:
            return
        words, look, picture = self._rest
        drawn = 0
        for i, w in enumerate(words[:self.count()]):
            key = (w.token, w.attention.tobytes(), look)
            if self._keys[i] == key:
                continue
            if drawn == PICTURES_PER_TURN:
                self._later.start()
                return
            self.item(i).setIcon(thumbnail_icon(picture(w)))
            self._keys[i] = key
            drawn += 1
        self._rest = None


class AttentionPane(QWidget):
    """The image kind's attention pane (see kind_views.py for the interface every kind's pane has)."""

    word_clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view = views.OverlayView()
        self.strip = WordStrip(THUMB, THUMB)
        self.strip.word_clicked.connect(self.word_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.strip)
        self._small: np.ndarray | None = None
        self.media = None  # the input this column decoded (exports of the comparison need it)

    def set_media(self, media) -> None:
        """A new image (a LoadedImage, or None): the view is reset to show it whole."""
        self.media = media
        self.set_image(None if media is None else media.rgb)

    def show_words(self, words: list[Step], index: int, look: "OverlaySettings") -> None:
        self.show_word(words[index] if 0 <= index < len(words) else None, look)
        self.show_strip(words, index, look)

    def set_image(self, rgb: np.ndarray | None) -> None:
        self.view.set_image(rgb, reset=True)
        self._small = None if rgb is None else _thumbnail_base(rgb)
        self.strip.forget()

    def show_word(self, step: Step | None, s: OverlaySettings) -> None:
        if step is None:
            self.view.set_overlay(None)
            return
        att = step.attention
        rgba = overlay_rgba(att, s.cmap, s.opacity, s.smoothing)
        sample = divmod(step.location, att.shape[1]) if step.location is not None else None
        self.view.set_overlay(rgba, att.shape, s.grid, peak(att) if s.peak else None, sample)

    def show_strip(self, words: list[Step], current: int, s: OverlaySettings) -> None:
        """One thumbnail per word: the image with that word's attention."""
        if self._small is not None:
            self.strip.show_words(words, current, (s.cmap, s.opacity, s.smoothing), lambda w: blend(
                self._small, overlay_rgba(w.attention, s.cmap, s.opacity, s.smoothing, size=self._small.shape[:2])))


def draw_a_map() -> None:
    """Draw a map and a thumbnail once before the first word does: the first of a process took
    5.5 ms instead of 0.7 (OpenCV's resize and blur, numpy's paths and the colour table, each used
    for the first time)."""
    att = np.full((2, 2), 0.25, np.float32)
    blend(np.zeros((THUMB, THUMB, 3), np.uint8), overlay_rgba(att, size=(THUMB, THUMB)))
    overlay_rgba(att)


WARM_UP = (draw_a_map, *views.WARM_UP)  # the first word's first drawings, rehearsed: pieces built ahead


def _thumbnail_base(rgb: np.ndarray) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    scale = THUMB / max(h, w)
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
