"""The lens summary ("layer 3 of 3, mean of heads · attention sink 0.03") in a narrow Compare column
ends in "…" instead of being cut at the column's edge; the whole line stays in text() and the tooltip."""
from PySide6.QtWidgets import QLabel

from attnviewer.ui.lens_controls import ElidedLabel

LINE = "layer 3 of 3, mean of heads · attention sink 0.03"


def test_a_narrow_label_ends_in_an_ellipsis_and_keeps_the_whole_line(qtbot):
    label = ElidedLabel()
    qtbot.addWidget(label)
    label.setText(LINE)
    label.resize(90, 20)
    label.show()
    shown = QLabel.text(label)
    assert shown.endswith("…") and len(shown) < len(LINE) and label.text() == LINE
    label.resize(label.fontMetrics().horizontalAdvance(LINE) + 20, 20)
    assert QLabel.text(label) == LINE
    label.clear()
    assert label.text() == "" and QLabel.text(label) == ""
