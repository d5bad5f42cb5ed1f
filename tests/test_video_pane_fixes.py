"""The video pane's defects of issue 20: the top frames carry their time and weight in sight, a click
in the scrub bar's groove jumps to the clicked time, and the clicked frame's line is cleared by a new
word and never wraps (the player above it keeps its height). Waits are on conditions, never sleeps."""
import pytest
from PySide6.QtCore import QCoreApplication, QPoint, Qt
from PySide6.QtWidgets import QApplication, QLabel, QStyle, QStyleOptionSlider

from .test_window_kinds import video_done
from .test_player import FPS, FRAMES, clip as grey_clip, widget  # noqa: F401  (the fixtures, shared)

WAIT = 15000


def settle(widget) -> None:
    """Run the layout requests posted so far (deterministic: no waiting)."""
    for _ in range(3):
        QCoreApplication.sendPostedEvents()
        QApplication.processEvents()
    widget.window().layout().activate()


def test_the_top_frames_show_their_time_and_weight(qtbot, window):
    state = video_done(qtbot, window)
    pane = window.sides["main"].attention
    for i in (0, len(state.words) - 1):
        window.go_to(i)
        w = state.words[i].attention
        shown = [lab.text() for lab in pane.findChildren(QLabel) if lab.isVisibleTo(window) and lab.text()]
        assert len(pane.top_shown) == 3
        for k in pane.top_shown:  # each enlarged frame's time and weight is written (not only in a tooltip)
            label = f"{pane.clip.times[k]:.2f} s"
            weight = f"{w[k]:.2f}"
            assert any(label in t and weight in t for t in shown), (k, label, weight, shown)


player = widget  # test_player's PlayerWidget, shown at 480x360, its thread checked at the end


def test_a_click_in_the_scrub_bar_groove_jumps_to_the_clicked_time(qtbot, player, grey_clip):
    with qtbot.waitSignal(player.opened, timeout=WAIT):
        player.open(grey_clip)
    s = player.slider
    assert s.pageStep() == FPS and s.value() == 0
    opt = QStyleOptionSlider()
    s.initStyleOption(opt)
    groove = s.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderGroove, s)
    handle = s.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderHandle, s)
    span = groove.width() - handle.width()
    for frac in (0.8, 0.3):
        x = int(groove.x() + handle.width() / 2 + frac * span)
        qtbot.mouseClick(s, Qt.MouseButton.LeftButton, pos=QPoint(x, groove.center().y()))
        want = round(frac * (FRAMES - 1))
        assert abs(s.value() - want) <= 1, (frac, s.value(), want)  # not one page step from where it was
        qtbot.waitUntil(lambda: player.player.index == s.value(), timeout=WAIT)
        assert player.position == pytest.approx(s.value() / FPS)


def test_the_clicked_frames_line_is_cleared_by_a_new_word_and_never_moves_the_player(qtbot, window):
    state = video_done(qtbot, window)
    media = window.media_pane("video")
    strip = media.strip
    # the frame that the most words looked at: its line is the longest
    k = max(range(len(strip.frames)), key=lambda j: sum(float(w.attention[j]) >= 0.1 for w in state.words))
    window.go_to(0)
    for width in (1280, 900):  # the window's default width and a narrower one: a long line wraps there
        window.resize(width, 800)
        settle(window)
        player_h, line_h = media.player.height(), media.attended.height()
        cell = strip.cell(k)
        qtbot.mouseClick(strip, Qt.MouseButton.LeftButton, pos=cell.center().toPoint())
        assert media.attended.text().startswith(f"Frame {k + 1} at")
        settle(window)
        assert (media.player.height(), media.attended.height()) == (player_h, line_h), width
        window.go_to(len(state.words) - 1)  # another word: the line about the clicked frame goes
        assert "Frame" not in media.attended.text() and strip.selected is None
        settle(window)
        assert (media.player.height(), media.attended.height()) == (player_h, line_h), width
        window.go_to(0)
