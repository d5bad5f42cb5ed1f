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


def test_many_changed_pictures_are_listed_at_once_and_drawn_over_the_next_turns(qtbot):
    """A final hypothesis (or another look) changes every word's picture: the words are all listed
    at once, and the pictures drawn over the next turns of the event loop, a few a turn, never all
    in one turn of the GUI thread nor in the turn of the redraw that lists them."""
    from attnviewer.ui.attention_pane import PICTURES_PER_TURN

    from attnviewer.ui.attention_pane import THUMB

    pane, words = image_pane()
    qtbot.addWidget(pane)
    pane.resize(900, 600)
    pane.show()
    qtbot.waitExposed(pane)
    many = [Step(i, f"w{i}", i, 0.9, [(f"w{i}", 0.9)], words[i % len(words)].attention) for i in range(12)]
    pane.show_words(many, 0, OverlaySettings())
    strip = pane.strip
    drawn = lambda: sum(key is not None for key in strip._keys)  # noqa: E731
    assert [strip.item(i).text() for i in range(strip.count())] == [w.token for w in many]
    assert drawn() == 0
    strip._draw_rest()  # (the next turn's)
    assert drawn() == PICTURES_PER_TURN
    qtbot.waitUntil(lambda: drawn() == len(many), timeout=5000)
    # each word keeps a picture's room, side by side (listed before its picture, it was laid out
    # narrow and the pictures drawn later overlapped their neighbours)
    rects = [strip.visualItemRect(strip.item(i)) for i in range(strip.count())]
    assert all(r.width() >= THUMB for r in rects)
    assert all(a.right() < b.left() for a, b in zip(rects, rects[1:]))
    pane.show_words(many, 3, OverlaySettings(cmap="gray"))  # every picture changes again
    assert drawn() == len(many)  # the old pictures stay until their new ones are drawn
    qtbot.waitUntil(lambda: strip._keys == [(w.token, w.attention.tobytes(), ("gray", 0.6, "gaussian")) for w in many],
                    timeout=5000)
    assert strip.currentRow() == 3
