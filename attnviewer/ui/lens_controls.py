"""The lens control of one column: which layer of a transformer's cross-attention and how its heads
combine (lens.py), the share of the special tokens ("attention sink") for the current word, a
toggle of the raw subword pieces (a sentence's source pieces, and the pieces a subword decoder wrote,
shown merged into words by default), and a grid of small maps, one per layer x head, of the
current word. Changing any of it redraws from the stored attention: no job, no torch. Hidden for
models without heads."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QGridLayout, QHBoxLayout, QLabel, QScrollArea, QToolButton, QVBoxLayout,
    QWidget,
)

from ..lens import DEFAULT, Lens
from .lensing import lens_choices

CELL = 72  # px: one map of the heads grid



class ElidedLabel(QLabel):
    """One line that ends in '…' where its column is too narrow (in Compare), never cut mid-word
    at the edge; text() and the tooltip keep the whole line."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._full = ""

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self._full = text
        self._elide()

    def text(self) -> str:
        return self._full

    def clear(self) -> None:
        self.setText("")

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(self.width(), 1))
        QLabel.setText(self, shown)

class LensControls(QWidget):
    changed = Signal()  # the lens or the raw toggle: redraw
    grid_toggled = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.layer = QComboBox()
        self.layer.setToolTip("Which decoder layer's cross-attention: one, the mean of all, or rollout "
                              "(carried back through the encoder's self-attention)")
        self.heads = QComboBox()
        self.heads.setToolTip("How the attention heads of a layer combine: their mean, their maximum, or one head")
        self.raw = QCheckBox("subwords")
        self.raw.setToolTip("The subword pieces instead of the words they merge into: the pieces the model "
                            "wrote, one step each, and a sentence's source pieces (and special tokens), one "
                            "column each")
        self.raw.hide()
        self.grid = QToolButton()
        self.grid.setText("Heads…")
        self.grid.setToolTip("Every layer x head's map of the current word")
        self.grid.setCheckable(True)
        self.info = ElidedLabel()
        self.info.setObjectName("lens_info")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 0, 4, 0)
        lay.addWidget(QLabel("Layer"))
        lay.addWidget(self.layer)
        lay.addWidget(QLabel("Heads"))
        lay.addWidget(self.heads)
        lay.addWidget(self.raw)
        lay.addWidget(self.grid)
        lay.addWidget(self.info, 1)
        for w in (self.layer, self.heads, self.raw, self.grid):
            w.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # keep the arrow keys for stepping
        self.shape: tuple[int, int] | None = None
        self.text = False  # the input is a sentence: the toggle shows its source pieces too
        self.layer.activated.connect(self._emit)
        self.heads.activated.connect(self._emit)
        self.raw.toggled.connect(self._emit)
        self.grid.toggled.connect(self.grid_toggled)
        self.hide()

    def configure(self, shape: tuple[int, int] | None, text: bool, pieces: bool = False) -> None:
        """Offer the layers and heads of a model ((layers, heads); None: no heads, hidden). The
        choice is kept where the new model has it, else the default lens. The subwords toggle is
        offered for a sentence (`text`: its source pieces) and where the model wrote pieces."""
        self.text = text
        self.raw.setVisible(text or pieces)
        if shape == self.shape:
            self.setVisible(shape is not None)
            return
        lens = self._wanted()
        self.shape = shape
        self.setVisible(shape is not None)
        if shape is None:
            return
        layers, heads = lens_choices(*shape)
        for box, choices, keep in ((self.layer, layers, lens.layer), (self.heads, heads, lens.heads)):
            box.blockSignals(True)
            box.clear()
            for label, value in choices:
                box.addItem(label, value)
            index = next((i for i, (_, v) in enumerate(choices) if v == keep and type(v) is type(keep)), 0)
            box.setCurrentIndex(index)
            box.blockSignals(False)

    def _wanted(self) -> Lens:
        """The lens chosen in the boxes (kept while a model without heads is shown)."""
        if self.layer.count() == 0:
            return DEFAULT
        return Lens(self.layer.currentData(), self.heads.currentData())

    def lens(self) -> Lens:
        """The lens the maps are drawn with now (the default for a model without heads)."""
        return DEFAULT if self.shape is None else self._wanted()

    def set_lens(self, lens: Lens) -> None:
        """Choose a lens (tests, a reopened result's); unknown layers or heads are left as they are."""
        for box, value in ((self.layer, lens.layer), (self.heads, lens.heads)):
            index = next((i for i in range(box.count()) if box.itemData(i) == value
                          and type(box.itemData(i)) is type(value)), -1)
            if index >= 0:
                box.setCurrentIndex(index)
        self._emit()

    def show_raw(self) -> bool:
        """A sentence's source pieces, one column each (not the words they merge into)."""
        return self.text and self.raw.isVisible() and self.raw.isChecked()

    def show_pieces(self) -> bool:
        """The pieces a subword decoder wrote, one step each (not the words they merge into)."""
        return self.raw.isChecked()

    def show_info(self, sink: float | None) -> None:
        """'layer 2 of 2, mean of heads · attention sink 0.42' for the current word."""
        if self.shape is None:
            self.info.clear()
            return
        text = self.lens().describe(self.shape[0])
        if sink is not None:
            text += f" · attention sink {sink:.2f}"
        self.info.setText(text)
        self.info.setToolTip(f"{text}\nThe lens the maps are drawn with; the attention sink is the share of the "
                             "special tokens (CLS, </s>, language tags), left out of the map")

    def _emit(self, *_):
        self.changed.emit()


class HeadsGrid(QDialog):
    """Small maps, one per layer (rows) x head (columns), of the current word (bertviz's model view,
    over the image, the frames or the source words)."""

    def __init__(self, title: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.caption = QLabel()
        self.cells = QWidget()
        self.layout_ = QGridLayout(self.cells)
        self.layout_.setSpacing(2)
        scroll = QScrollArea()
        scroll.setWidget(self.cells)
        scroll.setWidgetResizable(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.caption)
        lay.addWidget(scroll, 1)
        self.labels: list[list[QLabel]] = []
        self.maps: np.ndarray | None = None  # [layers, heads, *shape] on screen (tests read them)
        self.resize(120 + 80 * 4, 120 + 90 * 3)

    def show_maps(self, token: str | None, maps: np.ndarray | None, sinks: np.ndarray | None, picture) -> None:
        """maps [layers, heads, *shape]; picture(map) -> RGB array."""
        from .attention_pane import to_pixmap

        self.maps = maps
        if maps is None:
            self.caption.setText("No word with per-head attention")
            self._grid(0, 0)
            return
        layers, heads = maps.shape[:2]
        self.caption.setText(f"“{token}”: every layer (rows) x head (columns)")
        self._grid(layers, heads)
        for i in range(layers):
            for j in range(heads):
                cell = self.labels[i][j]
                cell.setPixmap(to_pixmap(picture(maps[i, j])).scaled(
                    CELL, CELL, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
                cell.setToolTip(f"layer {i + 1}, head {j + 1}" +
                                (f" · attention sink {float(sinks[i, j]):.2f}" if sinks is not None else ""))

    def _grid(self, layers: int, heads: int) -> None:
        if len(self.labels) == layers and (not layers or len(self.labels[0]) == heads):
            return
        while self.layout_.count():
            item = self.layout_.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.labels = []
        for j in range(heads):
            self.layout_.addWidget(QLabel(f"head {j + 1}"), 0, j + 1, Qt.AlignmentFlag.AlignCenter)
        for i in range(layers):
            self.layout_.addWidget(QLabel(f"layer {i + 1}"), i + 1, 0)
            row = []
            for j in range(heads):
                cell = QLabel()
                cell.setFixedSize(CELL, CELL)
                cell.setAlignment(Qt.AlignmentFlag.AlignCenter)
                self.layout_.addWidget(cell, i + 1, j + 1)
                row.append(cell)
            self.labels.append(row)


def map_picture(att: np.ndarray, look, rgb_small: np.ndarray | None) -> np.ndarray:
    """An RGB picture of one map: over the image's thumbnail (a grid), else a colour strip (a
    vector over frames or words)."""
    from .overlay import blend, lookup_table, overlay_rgba

    att = np.asarray(att, dtype=np.float32)
    if att.ndim == 2:
        rgba = overlay_rgba(att, look.cmap, max(look.opacity, 0.6), "none" if look.smoothing == "none" else look.smoothing)
        if rgb_small is not None:
            return blend(rgb_small, rgba)
        return np.ascontiguousarray(rgba[..., :3])
    flat = att.reshape(-1)
    top = max(float(flat.max(initial=0.0)), 1e-6)
    idx = np.clip(np.round(flat / top * 255), 0, 255).astype(np.int64)
    row = lookup_table(look.cmap, 1.0)[idx, :3]
    width = max(1, CELL // max(1, len(flat)))
    return np.ascontiguousarray(np.repeat(np.repeat(row[None], CELL // 3, axis=0), width, axis=1))
