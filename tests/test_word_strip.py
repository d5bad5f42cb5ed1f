"""The strips of one picture per word under the image and the video attention panes: a real click
on a word's picture steps the window to that word (WordStrip says which word; both panes pass it on)."""
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from attnviewer.media.frames import LoadedClip
from attnviewer.types import Step
from attnviewer.ui.attention_pane import AttentionPane, OverlaySettings
from attnviewer.ui.video_panes import VideoAttentionPane

TOKENS = ["a", "red", "circle", "moves", "right"]


def steps(shape: tuple) -> list[Step]:
    """One word per token, each attending most to another place of the input."""
    words = []
    for i, token in enumerate(TOKENS):
        att = np.full(shape, 0.1, np.float32)
        att.flat[(3 * i) % att.size] = 5.0
        words.append(Step(i, token, i, 0.9, [(token, 0.9)], att / att.sum()))
    return words


def image_pane():
    pane = AttentionPane()
    pane.set_image(np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8))
    return pane, steps((4, 4))


def video_pane():
    pane = VideoAttentionPane()
    frames = np.random.default_rng(1).integers(0, 255, (12, 36, 48, 3), np.uint8)
    pane.set_media(LoadedClip("clip.mp4", frames, [k / 4 for k in range(12)], 12, 4.0, (36, 48)))
    return pane, steps((12,))


@pytest.mark.parametrize("make, strip", [(image_pane, "strip"), (video_pane, "words")])
def test_clicking_a_words_picture_says_which_word(qtbot, make, strip):
    pane, words = make()
    qtbot.addWidget(pane)
    pane.resize(900, 600)
    pane.show()
    qtbot.waitExposed(pane)
    pane.show_words(words, 0, OverlaySettings())
    strip = getattr(pane, strip)
    assert [strip.item(i).text() for i in range(strip.count())] == TOKENS
    for row in (3, 1):
        where = strip.visualItemRect(strip.item(row)).center()
        with qtbot.waitSignal(pane.word_clicked, timeout=2000) as clicked:
            QTest.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, where)
        assert clicked.args == [row]
