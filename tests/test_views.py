"""The painted image views (ui/views.py): the picture shown whole, zoomed about the pointer, dragged,
shown whole again on a double-click; the map, the grid and the peak drawn where they belong."""
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from attnviewer.ui.views import ZOOM_PER_NOTCH, ImageView, OverlayView


@pytest.fixture
def view(qtbot):
    v = OverlayView()
    qtbot.addWidget(v)
    v.resize(400, 300)
    v.show()
    qtbot.waitExposed(v)
    v.set_image(np.full((100, 200, 3), 40, np.uint8), reset=True)
    return v


def picture_point(view, widget_point: QPointF) -> QPointF:
    inverse, _ = view.transform().inverted()
    return inverse.map(widget_point)


def test_a_picture_is_shown_whole_with_its_aspect(view):
    (x0, x1), (y0, y1) = view.view_range()
    assert x0 < 0 and x1 > 200 and y0 < 0 and y1 > 100  # all of it, with a margin
    assert (x1 - x0) / (y1 - y0) == pytest.approx(400 / 300)  # square pixels: the widget's aspect


def test_the_wheel_zooms_about_the_pointer_and_a_drag_pans(view):
    pointer = QPointF(300, 100)
    under = picture_point(view, pointer)
    before = view.view_range()[0]
    view._zoom(ZOOM_PER_NOTCH, pointer)  # (what wheelEvent does for one notch)
    after = view.view_range()[0]
    assert (after[1] - after[0]) == pytest.approx((before[1] - before[0]) / ZOOM_PER_NOTCH)
    assert picture_point(view, pointer).x() == pytest.approx(under.x())
    assert picture_point(view, pointer).y() == pytest.approx(under.y())
    start = view.view_range()
    QTest.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(200, 150))
    QTest.mouseMove(view, QPoint(240, 150))
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(240, 150))
    moved = view.view_range()
    assert moved[0][0] < start[0][0] and moved[1] == pytest.approx(start[1])  # dragged right: the picture follows
    QTest.mouseDClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(200, 150))
    (x0, x1), _ = view.view_range()
    assert x0 < 0 and x1 > 200


def test_the_map_the_grid_and_the_peak_are_painted_over_the_picture(view):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 1] = (255, 0, 0, 255)  # the top right region, opaque red
    view.set_overlay(rgba, grid=(2, 2), show_grid=True, peak=(1, 0))
    shot = view.grab().toImage()
    t = view.transform()

    def colour(x, y):
        p = t.map(QPointF(x, y)).toPoint()
        c = shot.pixelColor(p)
        return c.red(), c.green(), c.blue()

    red = colour(170, 20)
    assert red[0] > 200 and red[1] < 60  # the map, stretched over its region
    assert colour(130, 80) == (40, 40, 40)  # no attention: the picture itself
    assert colour(50, 75) == (255, 255, 255)  # the peak's cross, at its region's centre
    view.set_image(np.full((50, 50, 3), 90, np.uint8))  # another size: the old map goes
    assert view.overlay is None and view.peak is None


def test_a_plain_view_has_no_map(qtbot):
    v = ImageView()
    qtbot.addWidget(v)
    v.resize(120, 90)
    v.set_media(None)
    assert v.image is None and v.shape is None
    v.grab()  # paints the empty view
