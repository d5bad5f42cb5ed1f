"""The source words of a sentence, each on a tile with the current word's attention under it: a
one-letter word's tile is still wide enough for its weight ("0.10" under "." was cut)."""
import numpy as np
from PySide6.QtGui import QFontMetrics

from attnviewer.ui.text_panes import WordTiles


def test_every_tile_holds_its_word_and_its_weight(qtbot):
    tiles = WordTiles()
    qtbot.addWidget(tiles)
    tiles.resize(420, 200)
    words = ["the", "extraordinarily", ".", ",", "i"]
    tiles.set_words(words)
    tiles.set_weights(np.array([0.1, 0.5, 0.1, 0.2, 0.1]), "jet", 0.6, True)
    tiles.show()
    qtbot.waitExposed(tiles)
    weight = QFontMetrics(tiles.font()).horizontalAdvance("0.00")
    word = QFontMetrics(tiles._font())
    for text, rect in zip(words, tiles._rects, strict=True):
        assert rect.width() > max(weight, word.horizontalAdvance(text)), text
