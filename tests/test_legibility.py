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


# -- the export dialog -----------------------------------------------------------------------------

def test_the_export_preview_grows_with_the_dialog_and_zooms_to_be_read(qtbot, window, samples):
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    caption_done(qtbot, window, samples[0])
    dlg = open_dialog(qtbot, window)
    assert dlg.choice() == "grid"
    rendered = dlg.preview_pixmap.size()
    shown = lambda: dlg.preview.pixmap().size()  # noqa: E731

    # Fit: the preview fills its area and follows the dialog's size
    dlg.resize(1000, 640)
    qtbot.waitUntil(lambda: shown().height() < 640, timeout=GUI_TIMEOUT)
    small = shown()
    dlg.resize(1600, 1100)
    qtbot.waitUntil(lambda: shown().height() > small.height() * 1.4, timeout=GUI_TIMEOUT)
    viewport = dlg.preview_area.viewport().size()
    assert shown().width() == viewport.width() or shown().height() == viewport.height(), (shown(), viewport)
    assert shown().width() > rendered.width(), "at this size the preview should be shown larger than rendered"

    # a zoom shows the rendered preview at that scale, scrolled in the area; it survives a re-render
    dlg.resize(1000, 640)
    dlg.zoom.setCurrentIndex(dlg.zoom.findData(2.0))
    qtbot.waitUntil(lambda: shown() == rendered * 2, timeout=GUI_TIMEOUT)
    assert dlg.preview_area.verticalScrollBar().maximum() > 0, "a zoomed preview must be scrollable"
    before = dlg.previews
    dlg.cmap.setCurrentText("gray")
    qtbot.waitUntil(lambda: dlg.previews > before, timeout=GUI_TIMEOUT)
    assert shown() == dlg.preview_pixmap.size() * 2

    # Ctrl+wheel over the preview zooms in and out
    def wheel(delta):
        event = QWheelEvent(QPointF(50, 50), QPointF(dlg.preview_area.viewport().mapToGlobal(QPoint(50, 50))),
                            QPoint(0, 0), QPoint(0, delta), Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(dlg.preview_area.viewport(), event)

    wheel(120)
    assert dlg.zoom.currentData() == 3.0 and shown() == dlg.preview_pixmap.size() * 3
    wheel(-120)
    wheel(-120)
    assert dlg.zoom.currentData() == 1.5
    dlg.zoom.setCurrentIndex(0)  # back to Fit
    qtbot.waitUntil(lambda: shown().width() <= dlg.preview_area.viewport().width(), timeout=GUI_TIMEOUT)
    dlg.close()


def test_the_first_export_starts_in_pictures_and_then_in_the_last_export_folder(qtbot, window, samples, tmp_path,
                                                                                   monkeypatch):
    from attnviewer.ui.export_dialog import ExportDialog

    home, starts = tmp_path / "home", []
    home.mkdir()
    pictures, documents = home / "Pictures", home / "Documents"
    monkeypatch.setenv("HOME", str(home))
    real = QStandardPaths.writableLocation
    places = {QStandardPaths.StandardLocation.PicturesLocation: pictures,
              QStandardPaths.StandardLocation.DocumentsLocation: documents}
    monkeypatch.setattr(QStandardPaths, "writableLocation",
                        staticmethod(lambda where: str(places[where]) if where in places else real(where)))

    def start_of(dlg, answer=""):
        """Press Save… and note where the file dialog opens (answer "": the user cancels)."""
        def fake(parent, caption, start, filters, selected=""):
            starts.append(start)
            return answer, selected

        monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake))
        dlg.save()
        return Path(starts[-1]).parent

    caption_done(qtbot, window, samples[0])  # opened from the installation's samples folder
    assert window.qsettings.value("last_folder") == str(samples[0].parent)
    dlg = open_dialog(qtbot, window)
    assert start_of(dlg) == home  # no Pictures, no Documents
    documents.mkdir()
    assert start_of(dlg) == documents
    pictures.mkdir()
    assert start_of(dlg) == pictures
    figures = tmp_path / "figures"
    figures.mkdir()
    start_of(dlg, str(figures / "grid.png"))
    qtbot.waitUntil(lambda: not dlg.isVisible(), timeout=GUI_TIMEOUT)
    assert (figures / "grid.png").is_file()

    # the next session (a new settings object over the same file) starts where the last export went
    again = ExportDialog(window.engine, QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                         window._export_source(), window)
    qtbot.addWidget(again)
    try:
        assert start_of(again) == figures
        (figures / "grid.png").unlink()
        figures.rmdir()  # a remembered folder that is gone: back to Pictures
        assert start_of(again) == pictures
    finally:
        again.close()
    assert not any(str(s).startswith(str(samples[0].parent)) for s in starts), starts
