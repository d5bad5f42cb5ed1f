"""The text kind's panes: the sentence box with the source words as tiles coloured by the current
word's attention (media pane), and the alignment matrix filling row by row (attention pane)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget,
)

from ..types import Step
from .alignment_matrix import AlignmentMatrix
from .overlay import lookup_table, tile_colours

MAX_HISTORY = 20


class WordTiles(QWidget):
    """Words in rows of tiles, each with a background colour and a weight under it; wraps."""

    clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.words: list[str] = []
        self.colours: np.ndarray | None = None  # (n, 3) uint8 backgrounds on screen (tests read them)
        self.weights: np.ndarray | None = None
        self.peak: int | None = None
        self._rects: list[QRectF] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMinimumHeight(60)

    def set_words(self, words: list[str]) -> None:
        self.words = list(words)
        self.colours = self.weights = self.peak = None
        self._layout()
        self.update()

    def set_weights(self, weights: np.ndarray | None, cmap: str, opacity: float, show_peak: bool) -> None:
        if weights is None or len(weights) != len(self.words):
            self.colours = self.weights = self.peak = None
        else:
            self.weights = np.asarray(weights, dtype=np.float32)
            self.colours = tile_colours(self.weights, cmap, opacity)
            self.peak = int(self.weights.argmax()) if show_peak else None
        self.update()

    def _font(self) -> QFont:
        f = QFont(self.font())
        f.setPointSizeF(f.pointSizeF() * 1.35)
        return f

    def _layout(self) -> None:
        fm = QFontMetrics(self._font())
        x, y, h, gap = 6.0, 6.0, fm.height() * 2 + 10, 6.0
        self._rects = []
        width = max(self.width(), 200)
        weight_width = QFontMetrics(self.font()).horizontalAdvance("0.00")  # the weight under a short word
        for word in self.words:
            w = max(fm.horizontalAdvance(word), weight_width) + 18
            if x + w > width - 6 and x > 6:
                x, y = 6.0, y + h + gap
            self._rects.append(QRectF(x, y, w, h))
            x += w + gap
        self.setMinimumHeight(int((self._rects[-1].bottom() if self._rects else h) + 8))

    def resizeEvent(self, event) -> None:
        self._layout()
        super().resizeEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(400, self.minimumHeight())

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = self._font()
        small = QFont(self.font())
        for i, (word, r) in enumerate(zip(self.words, self._rects)):
            fill = QColor(*self.colours[i]) if self.colours is not None else QColor("#f1f3f4")
            p.setBrush(fill)
            p.setPen(QPen(QColor("#202124"), 2.5) if i == self.peak else QPen(QColor("#dadce0"), 1))
            p.drawRoundedRect(r, 5, 5)
            p.setPen(QColor("#202124"))
            p.setFont(font)
            top = QRectF(r.x(), r.y() + 2, r.width(), r.height() / 2)
            p.drawText(top, Qt.AlignmentFlag.AlignCenter, word)
            if self.weights is not None:
                p.setFont(small)
                p.setPen(QColor("#5f6368"))
                bottom = QRectF(r.x(), r.y() + r.height() / 2, r.width(), r.height() / 2 - 2)
                p.drawText(bottom, Qt.AlignmentFlag.AlignCenter, f"{self.weights[i]:.2f}")
        p.end()

    def mousePressEvent(self, event) -> None:
        for i, r in enumerate(self._rects):
            if r.contains(event.position()):
                self.clicked.emit(i)
                return
        super().mousePressEvent(event)


class TextMediaPane(QWidget):
    """The sentence box (history and samples), the words the model does not know, and the source
    words coloured by the current word's attention."""

    sentence_entered = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.box = QComboBox()
        self.box.setEditable(True)
        self.box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.box.setMaxCount(MAX_HISTORY + 10)
        self.box.lineEdit().setPlaceholderText("Type a sentence to translate and press Enter")
        self.box.lineEdit().returnPressed.connect(self._enter)
        self.box.activated.connect(lambda _i: self._enter())
        self.go = QPushButton("Translate")
        self.go.clicked.connect(self._enter)
        self.unknown = QLabel()
        self.unknown.setObjectName("unknown")
        self.unknown.setWordWrap(True)
        self.unknown.setStyleSheet("QLabel#unknown { color: #b3261e; }")
        self.unknown.hide()
        self.tiles = WordTiles()
        self.attended = QLabel()
        self.attended.setWordWrap(True)
        self.tiles.clicked.connect(self._tile_clicked)
        row = QHBoxLayout()
        row.addWidget(self.box, 1)
        row.addWidget(self.go)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(row)
        lay.addWidget(self.unknown)
        caption = QLabel("Source words, coloured by the current word's attention:")
        caption.setWordWrap(True)
        lay.addWidget(caption)
        lay.addWidget(self.tiles)
        lay.addWidget(self.attended)
        lay.addStretch(1)
        self.history: list[str] = []
        self.samples: list[str] = []
        self.sentence = None
        self._words: list[Step] = []
        self.labels: list[str] | None = None  # a transformer's raw subword pieces, shown instead of the words

    def set_labels(self, labels: list[str] | None) -> None:
        """Tiles for the pieces the model read (raw subwords and special tokens), or None: the words."""
        labels = list(labels) if labels else None
        if labels == self.labels:
            return
        self.labels = labels
        if self.sentence is not None:
            self.tiles.set_words(labels or self.sentence.words)

    def set_samples(self, samples: list[str]) -> None:
        self.samples = list(samples)
        self._fill()

    def focus_sentence(self) -> None:
        self.box.setFocus()
        self.box.lineEdit().selectAll()

    def _fill(self) -> None:
        text = self.box.currentText()
        self.box.blockSignals(True)
        self.box.clear()
        self.box.addItems(self.history + [s for s in self.samples if s not in self.history])
        self.box.setEditText(text)
        self.box.blockSignals(False)

    def _enter(self) -> None:
        text = self.box.currentText().strip()
        if text:
            self.sentence_entered.emit(text)

    def set_media(self, sentence) -> None:
        """A sentence as the model reads it (or None)."""
        self.sentence = sentence
        if sentence is None:
            self.tiles.set_words([])
            self.unknown.hide()
            return
        if sentence.text in self.history:
            self.history.remove(sentence.text)
        self.history.insert(0, sentence.text)
        del self.history[MAX_HISTORY:]
        self._fill()
        self.box.setEditText(sentence.text)
        self.box.lineEdit().setCursorPosition(0)
        self.labels = None
        self.tiles.set_words(sentence.words)
        self.attended.clear()
        unknown = list(getattr(sentence, "unknown", []) or [])
        self.unknown.setText(f"Unknown to this model (read as &lt;unk&gt;): <b>{', '.join(unknown)}</b>" if unknown else "")
        self.unknown.setVisible(bool(unknown))

    def show_words(self, words: list[Step], index: int, look) -> None:
        self._words = words
        step = words[index] if 0 <= index < len(words) else None
        self.tiles.set_weights(None if step is None else step.attention, look.cmap, look.opacity, look.peak)

    def _tile_clicked(self, i: int) -> None:
        """Which target words looked at this source word, and how much."""
        looked = [(w.token, float(w.attention[i])) for w in self._words if i < len(w.attention)]
        looked = sorted((x for x in looked if x[1] >= 0.1), key=lambda x: -x[1])
        word = self.tiles.words[i]
        self.attended.setText(f"“{word}” attended by: " + (", ".join(f"{t} {a:.2f}" for t, a in looked)
                                                            or "no word above 0.10"))


class TextAttentionPane(QWidget):
    """The alignment matrix (target words down, source words across), filling row by row as the
    translation is written, the current row framed; clicking a row steps to that word."""

    word_clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view = AlignmentMatrix()
        self.view.row_clicked.connect(self.word_clicked)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view)
        self.source: list[str] = []
        self.media = None  # the sentence this column decoded
        self.matrix: np.ndarray | None = None  # (rows, S) weights on screen (tests read them)
        self.labels: list[str] | None = None  # a transformer's raw subword pieces, shown instead of the words

    def set_media(self, sentence) -> None:
        self.media = sentence
        self.labels = None
        self.source = list(sentence.words) if sentence is not None else []
        self.matrix = None
        self.view.set_source(self.source)

    def set_labels(self, labels: list[str] | None) -> None:
        """Columns for the pieces the model read (raw subwords and special tokens), or None: the words."""
        labels = list(labels) if labels else None
        if labels == self.labels:
            return
        self.labels = labels
        self.source = labels or (list(self.media.words) if self.media is not None else [])
        self.matrix = None
        self.view.set_source(self.source)

    def show_words(self, words: list[Step], index: int, look) -> None:
        s = len(self.source)
        if not words or not s:
            self.matrix = None
            self.view.set_rows(None, [], -1, None)
            return
        rows = np.zeros((len(words), s), dtype=np.float32)
        for i, w in enumerate(words):
            att = np.asarray(w.attention, dtype=np.float32)[:s]
            rows[i, : len(att)] = att
        self.matrix = rows
        # fixed levels 0..1, so rows compare with each other
        self.view.set_rows(rows, [f"{w.token} {w.prob:.2f}" for w in words], index, lookup_table(look.cmap, 1.0)[:, :3])
