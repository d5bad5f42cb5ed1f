"""The "What if" panel (View → What if…): ask the model about the current word and see its answer.

- Scores: each word's probability, the entropy of the output distribution and of the attention.
- Beam tree: every candidate the beam search weighed (pruned grey, finished green, cut orange);
  drag to pan, wheel to zoom; a click on a node shows that prefix's words and maps (a branch).
- Mask & attribute: blank out the current word's top-attended places and ask again; saliency or
  integrated gradients of the word drawn beside its attention, with their agreement.
- Edit attention: click a place to put all the weight there, drag to paint, right-drag to erase;
  the model re-decodes from the current word attending there (a branch).
- Score a sentence: the model made to write a given sentence, word by word (a branch).

The panel only draws and asks: the window submits each question to the engine (Engine.probe) and
hands back the answers (show_masking, show_attribution, show_tree). Plain numpy here, no torch.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPainter, QPen, QPainterPath
from PySide6.QtWidgets import (
    QComboBox, QGraphicsScene, QGraphicsView, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSizePolicy, QTableWidget,
    QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget, QAbstractItemView,
)

from ..whatif.attribution import METHOD_NAMES
from ..whatif.tree import BOX_H, BOX_W, COLUMN, CUT, FINISHED, ROW, START, STYLE, best_path, edge_style, \
    node_label, node_tip, rows_of
from .attention_pane import to_pixmap
from .lens_controls import map_picture

LABEL_ROWS = 18  # px under a strip of places for their labels (source words, frame times)
STRIP_H = 90  # px of a strip's colours
UNDER_FRAMES_H = 40  # px of them under a video's frames
BRANCH_INK = "#8e24aa"  # what-if branches in the beam tree


class MapView(QWidget):
    """One map drawn as the heads grid draws it (over the image's thumbnail, or a strip of places:
    a video's sampled frames above their cells), with the places' labels under a strip. Editable: a
    click (on a cell or its frame) puts all the weight on the place, a drag paints weight on, a
    right-drag erases it (`edited` after each change)."""

    edited = Signal()

    def __init__(self, title: str, editable: bool = False, parent=None):
        super().__init__(parent)
        self.title, self.editable = title, editable
        self.map: np.ndarray | None = None
        self.labels: list[str] = []
        self._look, self._small = None, None
        self._picture: QImage | None = None
        self._clip = None  # the clip's frames array the pixmaps were made from (once a clip)
        self.frames: list = []  # a video's frames above the strip, one QPixmap a cell
        self._dragged = False
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        if editable:
            self.setCursor(Qt.CursorShape.CrossCursor)
            self.setToolTip("click: all the weight on one place · drag: paint weight on · right-drag: erase")

    def show_map(self, weights, look, small=None, labels=None, frames=None) -> None:
        """`frames`: a video's sampled frames (T, H, W, 3), one above each cell of the strip."""
        self.map = None if weights is None else np.array(weights, dtype=np.float64)
        self._look, self._small, self.labels = look, small, list(labels or [])
        if frames is None or self.map is None or self.map.ndim != 1 or len(frames) != len(self.map):
            self._clip, self.frames = None, []
        elif self._clip is not frames:
            self._clip, self.frames = frames, [to_pixmap(np.ascontiguousarray(f)) for f in frames]
        self._draw()

    def _draw(self) -> None:
        if self.map is None or self._look is None:
            self._picture = None
        else:
            shown = self.map / self.map.max() if self.map.max() > 0 else self.map
            rgb = np.ascontiguousarray(map_picture(shown.astype(np.float32), self._look, self._small))
            h, w = rgb.shape[:2]
            self._picture = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.update()

    def _area(self) -> QRectF:
        """Where the picture is drawn (with a video's frames above it): the widget less the title
        (and the labels of a strip)."""
        top = self.fontMetrics().height() + 4
        bottom = LABEL_ROWS if self.map is not None and self.map.ndim == 1 else 0
        area = QRectF(0, top, self.width(), max(1, self.height() - top - bottom))
        if self._picture is None:
            return area
        if self.map.ndim == 2:  # an image's grid keeps the picture's shape
            pw, ph = self._picture.width(), self._picture.height()
            scale = min(area.width() / pw, area.height() / ph)
            w, h = pw * scale, ph * scale
            return QRectF(area.x() + (area.width() - w) / 2, area.y(), w, h)
        if self.frames:  # the frames at the cells' width, as tall as the space allows
            cell = area.width() / len(self.map)
            first = self.frames[0]
            tall = min(cell * first.height() / max(first.width(), 1), area.height() - UNDER_FRAMES_H, 2 * STRIP_H)
            return QRectF(area.x(), area.y(), area.width(), max(tall, 0) + UNDER_FRAMES_H)
        return QRectF(area.x(), area.y(), area.width(), min(area.height(), STRIP_H))

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.drawText(2, self.fontMetrics().ascent() + 1, self.title)
        if self._picture is None:
            p.setPen(QColor("#80868b"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "—")
            return
        area = self._area()
        if self.frames:
            strip = QRectF(area.x(), area.bottom() - UNDER_FRAMES_H, area.width(), UNDER_FRAMES_H)
            cell = area.width() / len(self.map)
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            for i, pix in enumerate(self.frames):
                box = QRectF(area.x() + i * cell + 1, area.y(), cell - 2, strip.y() - area.y() - 2)
                scale = min(box.width() / pix.width(), box.height() / pix.height())
                w, h = pix.width() * scale, pix.height() * scale
                p.drawPixmap(QRectF(box.x() + (box.width() - w) / 2, box.bottom() - h, w, h), pix, QRectF(pix.rect()))
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)  # cells with sharp edges
            p.drawImage(strip, self._picture)
        else:
            p.drawImage(area, self._picture)
        if self.map.ndim == 1 and self.labels:
            n = len(self.map)
            cell = area.width() / n
            p.setPen(QColor("#202124"))
            for i, label in enumerate(self.labels[:n]):
                box = QRectF(area.x() + i * cell, area.bottom() + 2, cell, LABEL_ROWS - 2)
                text = self.fontMetrics().elidedText(label, Qt.TextElideMode.ElideRight, int(cell))
                p.drawText(box, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, text)

    def place_at(self, pos: QPointF) -> tuple | None:
        """The map's index under a point of the widget, or None."""
        if self.map is None or self._picture is None:
            return None
        area = self._area()
        if not area.contains(pos):
            return None
        fx, fy = (pos.x() - area.x()) / area.width(), (pos.y() - area.y()) / area.height()
        if self.map.ndim == 1:
            return (min(int(fx * self.map.shape[0]), self.map.shape[0] - 1),)
        rows, cols = self.map.shape
        return min(int(fy * rows), rows - 1), min(int(fx * cols), cols - 1)

    def put_all_on(self, place: tuple) -> None:
        self.map = np.zeros_like(self.map)
        self.map[place] = 1.0
        self._draw()
        self.edited.emit()

    def paint(self, place: tuple, erase: bool) -> None:
        """A brush stroke at a place: its weight up by half the map's top (or to 0)."""
        if erase:
            self.map[place] = 0.0
        else:
            self.map[place] += 0.5 * max(float(self.map.max()), 1e-3)
        self._draw()
        self.edited.emit()

    def mousePressEvent(self, event) -> None:
        self._dragged = False

    def mouseMoveEvent(self, event) -> None:
        if not self.editable:
            return
        place = self.place_at(event.position())
        if place is not None and event.buttons() & (Qt.MouseButton.LeftButton | Qt.MouseButton.RightButton):
            self._dragged = True
            self.paint(place, bool(event.buttons() & Qt.MouseButton.RightButton))

    def mouseReleaseEvent(self, event) -> None:
        if not self.editable or self._dragged:
            return
        place = self.place_at(event.position())
        if place is not None:
            if event.button() == Qt.MouseButton.RightButton:
                self.paint(place, True)
            else:
                self.put_all_on(place)


class TreeView(QGraphicsView):
    """The beam tree: a column per step, the start on the left, a node per candidate (its word and
    score); drag to pan, wheel to zoom. A click on a node emits its id."""

    node_clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.tree, self.boxes, self.branches = None, {}, []
        self._best: set = set()  # the best path's node ids: the first view follows it
        self._placed = True  # whether the view was placed over the tree drawn (done once shown)
        self._pressed = QPointF()  # where the last press was: a release near it is a click, not a pan
        self.setToolTip("drag to pan · wheel to zoom · click a node: its words and maps")

    def show_tree(self, tree, best: list[str] | None, branches=()) -> None:
        """Draw an input's tree (None: clear it), `best`'s path thick, and the what-if branches
        ((label, token ids, words)) in purple: along the tree's nodes while they follow it, then
        in boxes of their own on rows under the tree."""
        scene = self.scene()
        scene.clear()
        self.tree, self.boxes, self.branches = tree, {}, list(branches)
        if tree is None or not tree.of(0):
            return
        rows, root, n_rows = rows_of(tree, 0)
        thick = self._best = best_path(tree, 0, best)
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))

        def at(node_id: int) -> QPointF:
            if node_id < 0:
                return QPointF(0, root * ROW)
            return QPointF((tree.nodes[node_id].step + 1) * COLUMN, rows[node_id] * ROW)

        for n in tree.of(0):  # edges under the boxes
            colour, width = edge_style(n, n.id in thick)
            self._edge(at(n.parent), at(n.id), QPen(QColor(colour), width))
        self._box(at(-1), "<start>", *START, font, -1, "the start")
        for n in tree.of(0):
            self._box(at(n.id), node_label(n), *STYLE[n.state], font, n.id, node_tip(n),
                      dashed=n.state == CUT, bold=n.state in (FINISHED, CUT))
        for i, (label, ids, words) in enumerate(self.branches):
            self._branch(tree, at, n_rows + i, label, ids, words, font)
        self.setSceneRect(scene.itemsBoundingRect().adjusted(-10, -10, 10, 10))
        self._placed = False
        if self.isVisible():
            self._place()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._placed:  # drawn while its tab was hidden: the viewport's size is known only now
            self._place()

    def _place(self) -> None:
        """The first view of a tree: whole if it fits at 60% or more; else at full size from the
        start on the left, with as much of the best path as fits (it climbs or falls from there)."""
        self._placed = True
        rect, port = self.sceneRect(), self.viewport().size()
        fits = min(port.width() / rect.width(), port.height() / rect.height())
        self.resetTransform()
        if fits >= 0.6:
            self.scale(min(fits, 1.0), min(fits, 1.0))
            self.centerOn(rect.center())
            return
        start = self.boxes[-1]
        seen = [b for i, b in self.boxes.items() if i in self._best and b.x() < start.x() + port.width()] + [start]
        top, bottom = min(b.top() for b in seen), max(b.bottom() for b in seen)
        half = port.height() / 2 - 10
        if bottom - top <= 2 * half:
            y = (top + bottom) / 2
        else:  # the path leaves the view: the start at its edge, the path across it
            y = start.bottom() - half if top < start.top() else start.top() + half
        self.centerOn(start.x() + port.width() / 2 - 10, y)

    def _branch(self, tree, at, row: int, label: str, ids: list[int], words: list[str], font) -> None:
        """One branch: its path through the tree's nodes drawn purple, its words off the tree in
        purple boxes on a row of its own, its label after them."""
        pen = QPen(QColor(BRANCH_INK), 2.5)
        children: dict[int, dict[int, int]] = {}
        for n in tree.of(0):
            children.setdefault(n.parent, {})[n.word_id] = n.id
        node = -1
        t = 0
        while t < len(ids) and ids[t] in children.get(node, {}):  # on the tree
            nxt = children[node][ids[t]]
            self._edge(at(node), at(nxt), pen)
            node, t = nxt, t + 1
        last = at(node)
        for j in range(t, len(ids)):  # off it
            here = QPointF((j + 1) * COLUMN, row * ROW)
            self._edge(last, here, pen)
            word = words[j] if j < len(words) else str(ids[j])
            self._box(here, word[:22], "#f3e5f5", BRANCH_INK, "#000000", font, -2 - j, f"{label}: word {j + 1}, {word}",
                      dashed=True)
            last = here
        tag = self.scene().addSimpleText(f"\N{GREEK SMALL LETTER PSI} {label}", font)
        tag.setBrush(QBrush(QColor(BRANCH_INK)))
        tag.setPos(last.x() + BOX_W + 8, last.y() - tag.boundingRect().height() / 2)

    def _edge(self, a: QPointF, b: QPointF, pen: QPen) -> None:
        """The curve from the right of a's box to the left of b's (as the SVG draws it)."""
        path = QPainterPath(QPointF(a.x() + BOX_W, a.y()))
        path.cubicTo(b.x() - 8, a.y(), a.x() + BOX_W + 8, b.y(), b.x(), b.y())
        self.scene().addPath(path, pen)

    def _box(self, centre: QPointF, text: str, fill, stroke, ink, font, node_id: int, tip: str,
             dashed: bool = False, bold: bool = False) -> None:
        """A node's box and label. Only its rectangle is kept (`boxes`), never the items: Python
        wrappers of QGraphicsItems outlive the scene that deletes them, and freeing one then crashes."""
        pen = QPen(QColor(stroke), 2 if bold else 1)
        if dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        box = QRectF(centre.x(), centre.y() - BOX_H / 2, BOX_W, BOX_H)
        self.scene().addRect(box, pen, QBrush(QColor(fill))).setToolTip(tip)
        label = self.scene().addSimpleText(text, font)
        label.setBrush(QBrush(QColor(ink)))
        label.setPos(centre.x() + 5, centre.y() - label.boundingRect().height() / 2)
        label.setToolTip(tip)
        if node_id >= -1:  # (a branch's own boxes are no node of the tree)
            self.boxes[node_id] = box

    def node_at(self, pos) -> int | None:
        """The node under a point of the view (None: the start, an edge, nothing)."""
        at = self.mapToScene(pos)
        return next((i for i, box in self.boxes.items() if i >= 0 and box.contains(at)), None)

    def mouseReleaseEvent(self, event) -> None:
        moved = (event.position() - self._pressed).manhattanLength()
        super().mouseReleaseEvent(event)
        if moved < 4 and event.button() == Qt.MouseButton.LeftButton:
            node_id = self.node_at(event.position().toPoint())
            if node_id is not None:
                self.node_clicked.emit(node_id)

    def mousePressEvent(self, event) -> None:
        self._pressed = event.position()
        super().mousePressEvent(event)

    def wheelEvent(self, event) -> None:
        factor = 1.2 ** (event.angleDelta().y() / 120)
        scale = self.transform().m11() * factor
        if 0.1 <= scale <= 4:
            self.scale(factor, factor)

    def zoom_to_fit(self) -> None:
        self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)


class WhatIfPane(QWidget):
    """The panel's tabs; signals say what the user asks, the window runs it."""

    mask_asked = Signal()
    attribute_asked = Signal(str)  # saliency or ig
    attribution_export_asked = Signal()
    redecode_asked = Signal(object)  # the edited map (numpy, the attention's shape)
    score_asked = Signal(str)  # a sentence
    node_clicked = Signal(int)  # a beam tree node's id
    column_chosen = Signal(str)  # which column the questions ask about: "main" or "compare"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.word = QLabel("No word yet: open an input")
        self.word.setWordWrap(True)
        self.column = QComboBox()  # shown while the window has a second column
        self.column.addItem("the first column", "main")
        self.column.addItem("the second column", "compare")
        self.column.setToolTip("whose words the questions ask about")
        self.column.currentIndexChanged.connect(lambda _i: self.column_chosen.emit(self.column.currentData()))
        self.column_row = QWidget()
        row = QHBoxLayout(self.column_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Ask about"))
        row.addWidget(self.column)
        row.addStretch(1)
        self.column_row.hide()
        self.answer = QLabel()  # the last probe's answer, or what is running
        self.answer.setObjectName("answer")
        self.answer.setWordWrap(True)
        self.answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._scores_tab(), "Scores")
        self.tabs.addTab(self._tree_tab(), "Beam tree")
        self.tabs.addTab(self._probe_tab(), "Mask && attribute")
        self.tabs.addTab(self._edit_tab(), "Edit attention")
        self.tabs.addTab(self._target_tab(), "Score a sentence")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.column_row)
        lay.addWidget(self.word)
        lay.addWidget(self.tabs, 1)
        lay.addWidget(self.answer)
        self._rows: list = []
        self._drawing = (None, None, None, None)  # look, thumbnail, places, frames: as show_words was told
        self._edit_for = None  # (word index, word, map shape) the editor's map was taken from
        self.attribution = None  # the last whatif Attribution shown

    # -- tabs ------------------------------------------------------------------------------------

    def _scores_tab(self) -> QWidget:
        self.scores = QTableWidget(0, 4)
        self.scores.setObjectName("scores")
        self.scores.setHorizontalHeaderLabels(["word", "probability", "H(words)", "H(attention)"])
        self.scores.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.scores.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.scores.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.scores.setToolTip("H: entropy in nats; high H(words): the model hesitated between words; "
                               "high H(attention): it looked everywhere")
        return self.scores

    def _tree_tab(self) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        self.tree_note = QLabel("Decode with beam search to see every candidate it weighed.")
        self.tree_view = TreeView()
        self.tree_view.node_clicked.connect(self.node_clicked)
        fit = QPushButton("Fit")
        fit.clicked.connect(self.tree_view.zoom_to_fit)
        head = QHBoxLayout()
        head.addWidget(self.tree_note, 1)
        head.addWidget(fit)
        lay.addLayout(head)
        lay.addWidget(self.tree_view, 1)
        return box

    def _probe_tab(self) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.mask_button = QPushButton("Mask its top region")
        self.mask_button.setToolTip("blank out the places holding half the word's attention and ask the model again")
        self.mask_button.clicked.connect(self.mask_asked)
        self.saliency_button = QPushButton("Saliency")
        self.saliency_button.clicked.connect(lambda: self.attribute_asked.emit("saliency"))
        self.ig_button = QPushButton("Integrated gradients")
        self.ig_button.clicked.connect(lambda: self.attribute_asked.emit("ig"))
        self.export_button = QPushButton("Export figure…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.attribution_export_asked)
        for b in (self.mask_button, self.saliency_button, self.ig_button, self.export_button):
            row.addWidget(b)
        row.addStretch(1)
        maps = QHBoxLayout()
        self.attention_map = MapView("attention")
        self.probe_map = MapView("—")
        maps.addWidget(self.attention_map)
        maps.addWidget(self.probe_map)
        lay.addLayout(row)
        lay.addLayout(maps, 1)
        return box

    def _edit_tab(self) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        self.editor = MapView("where the model attends at this word (edit me)", editable=True)
        self.editor.setObjectName("editor")
        row = QHBoxLayout()
        own = QPushButton("Model's own map")
        own.clicked.connect(self.reset_edit)
        self.redecode_button = QPushButton("Re-decode from this word")
        self.redecode_button.setToolTip("the words before it as written; at it the model attends as drawn; "
                                        "then it goes on as set")
        self.redecode_button.clicked.connect(lambda: self.editor.map is not None and self.redecode_asked.emit(
            self.editor.map.copy()))
        row.addWidget(QLabel("click a place: all the weight there · drag: paint · right-drag: erase"), 1)
        row.addWidget(own)
        row.addWidget(self.redecode_button)
        lay.addWidget(self.editor, 1)
        lay.addLayout(row)
        return box

    def _target_tab(self) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        self.target = QLineEdit()
        self.target.setObjectName("target")
        self.target.setPlaceholderText("a reference caption or a gold translation (Enter)")
        self.target.returnPressed.connect(lambda: self.target.text().strip() and self.score_asked.emit(
            self.target.text().strip()))
        score = QPushButton("Score")
        score.clicked.connect(self.target.returnPressed)
        row = QHBoxLayout()
        row.addWidget(self.target, 1)
        row.addWidget(score)
        lay.addWidget(QLabel("The model made to write this sentence: each word's probability and attention "
                             "(listed as a branch)."))
        lay.addLayout(row)
        lay.addStretch(1)
        return box

    # -- what the window shows -------------------------------------------------------------------

    def show_words(self, words: list, index: int, look, small=None, labels=None, frames=None) -> None:
        """The words on screen (Steps) and the current one: the scores table, the attention beside
        probes, the editor's starting map (kept while the user edits the same word). `small`: an
        image's thumbnail under its maps; `labels`: a strip's places; `frames`: a video's frames."""
        rows = [(w.token, w.prob, w.entropy, w.attention_entropy) for w in words]
        if rows != self._rows:
            self._rows = rows
            self.scores.setRowCount(len(rows))
            for r, (token, p, h, ha) in enumerate(rows):
                for c, text in enumerate((token, f"{p:.3f}", "—" if h is None else f"{h:.3f}", f"{ha:.3f}")):
                    item = QTableWidgetItem(text)
                    if c:
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    self.scores.setItem(r, c, item)
        step = words[index] if 0 <= index < len(words) else None
        if 0 <= index < len(words):
            self.scores.selectRow(index)
        self.word.setText("No word yet: open an input" if step is None else
                          f"<b>Word {index + 1}: “{step.token}”</b> (p {step.prob:.2f}) — what if…")
        self._drawing = (look, small, labels, frames)
        att = None if step is None else np.asarray(step.attention)
        self.attention_map.show_map(att, *self._drawing)
        key = None if step is None else (index, step.token, att.shape)
        if key != self._edit_for:
            self._edit_for = key
            self.editor.show_map(att, *self._drawing)
        else:  # the user's edit stays; the places' labels, frames and colours follow (they may come later)
            self.editor.show_map(self.editor.map, *self._drawing)
        for b in (self.mask_button, self.saliency_button, self.ig_button, self.redecode_button):
            b.setEnabled(step is not None)

    def show_columns(self, second: str | None, chosen: str) -> None:
        """The column choice: hidden without a second column (`second`: its title, or None)."""
        self.column_row.setVisible(second is not None)
        if second is not None:
            self.column.setItemText(1, f"the second column: {second}")
        self.column.blockSignals(True)
        self.column.setCurrentIndex(self.column.findData(chosen))
        self.column.blockSignals(False)

    def reset_edit(self) -> None:
        self._edit_for = None
        self.editor.show_map(self.attention_map.map, *self._drawing)

    def show_tree(self, tree, best: list[str] | None, note: str, branches=()) -> None:
        """Draw a tree once, and again when its branches change (the user's pan and zoom stay
        while the words are stepped through)."""
        self.tree_note.setText(note)
        view = self.tree_view
        if tree is not view.tree or list(branches) != view.branches or (tree is not None and not view.boxes):
            view.show_tree(tree, best, branches)

    def show_masking(self, masking, line: str) -> None:
        self.answer.setText(line)
        self.probe_map.title = f"masked: {masking.region}"
        self.probe_map.show_map(masking.where.astype(np.float64), *self._drawing)
        self.attribution = None
        self.export_button.setEnabled(False)

    def show_attribution(self, found, lines: list[str]) -> None:
        self.answer.setText("\n".join(lines))
        self.probe_map.title = f"{METHOD_NAMES[found.method]} (Spearman {found.spearman:+.2f})"
        self.probe_map.show_map(found.map, *self._drawing)
        self.attribution = found
        self.export_button.setEnabled(True)

    def clear_answer(self) -> None:
        self.answer.setText("")
        self.probe_map.title = "—"
        self.probe_map.show_map(None, *self._drawing)
        self.attribution = None
        self.export_button.setEnabled(False)

    def say(self, text: str) -> None:
        self.answer.setText(text)
