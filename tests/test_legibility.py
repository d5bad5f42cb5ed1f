"""Issue 20, "Space and legibility": the alignment matrix labels every source word, and the export
dialog's preview can be read and its first save starts in a sensible folder. Real widgets, the real
engine thread and bundled models, offscreen; waits are on conditions, never sleeps."""
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, QRectF, QSettings, QStandardPaths
from PySide6.QtGui import QPainter, QPolygonF
from PySide6.QtWidgets import QFileDialog

from attnviewer.ui import alignment_matrix
from attnviewer.ui.alignment_matrix import AlignmentMatrix
from attnviewer.ui.overlay import lookup_table

from .helpers import GUI_TIMEOUT, caption_done
from .test_export_dialog import open_dialog
from .test_window_kinds import SENTENCE, sentence_done


class RecordingPainter(QPainter):
    """A QPainter that notes each text it draws and where it lands on the widget (the text's own
    extent, through the painter's rotation), as a polygon shrunk by a pixel: touching is not
    overlapping."""

    drawn: list = []

    def drawText(self, *args):
        if len(args) == 3 and isinstance(args[0], QRectF):
            rect, flags, text = args
            box = self.boundingRect(rect, flags, text)
        elif len(args) == 2 and isinstance(args[0], QPointF):
            point, text = args
            fm = self.fontMetrics()
            box = QRectF(point.x(), point.y() - fm.ascent(), fm.horizontalAdvance(text), fm.height())
        else:
            raise AssertionError(f"drawText{args!r}: a form this test does not measure")
        RecordingPainter.drawn.append((text, self.worldTransform().map(QPolygonF(box.adjusted(1, 1, -1, -1)))))
        return super().drawText(*args)


def column_labels(view, monkeypatch):
    """The source-word labels as painted: (text, polygon), leaving out the row labels at the left."""
    monkeypatch.setattr(alignment_matrix, "QPainter", RecordingPainter)
    RecordingPainter.drawn = []
    view.grab()
    area = view.cells()
    return [(t, poly) for t, poly in RecordingPainter.drawn if poly.boundingRect().right() > area.left()]


def assert_every_word_labelled(view, words, monkeypatch):
    labels = column_labels(view, monkeypatch)
    area = view.cells()
    where = f"at {view.width()}×{view.height()}"
    assert [t for t, _ in labels] == words, f"{where}: not every source word is labelled in full"
    for text, poly in labels:
        box = poly.boundingRect()
        assert box.bottom() <= area.top() + 0.5, f"{where}: “{text}” is not in the band above the cells"
        assert box.top() >= -0.5 and box.left() >= -0.5 and box.right() <= view.width() + 0.5, \
            f"{where}: “{text}” is cut by the widget's edge ({box})"
    for (a, pa), (b, pb) in zip(labels, labels[1:]):
        assert not pa.intersects(pb), f"{where}: “{a}” and “{b}” overlap"


def test_the_alignment_matrix_labels_every_source_word_above_its_column(qtbot, window, monkeypatch):
    state = sentence_done(qtbot, window)
    words = SENTENCE.split()
    view = window.sides["main"].attention.view
    qtbot.waitUntil(lambda: view.rows is not None and len(view.rows) == len(state.words), timeout=GUI_TIMEOUT)
    assert_every_word_labelled(view, words, monkeypatch)  # the window as the user sees it, 1280×800

    # the same matrix where the columns are narrower than the words (compare, a smaller screen)
    lone = AlignmentMatrix()
    qtbot.addWidget(lone)
    lone.set_source(words)
    lut = lookup_table(window.overlay_controls.settings().cmap, 1.0)[:, :3]
    lone.set_rows(state.result.best.attention, [f"{w.token} {w.prob:.2f}" for w in state.words], 2, lut)
    for width, height in ((900, 400), (520, 400), (330, 360)):
        lone.resize(width, height)
        assert_every_word_labelled(lone, words, monkeypatch)
