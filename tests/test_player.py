"""The video player: frames decoded on their own thread, shown at the file's rate on the GUI thread.

Every clip here encodes each frame's index in its grey level (10 * i + 5), so a test can tell which
frame is on screen from its colour. No sleeps: waits are qtbot.waitUntil / waitSignal.
"""
from __future__ import annotations

import gc
import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from attnviewer.engine import player as player_mod
from attnviewer.engine.player import THREAD_NAME, FramePlayer
from attnviewer.media.frames import write_clip

FPS = 10
FRAMES = 20  # 2 s at 10 fps
WAIT = 15000  # ms: generous, the suite may share the machine


def index_of(rgb: np.ndarray) -> int:
    """The frame index encoded in a frame's grey level."""
    return int(round((float(rgb.mean()) - 5) / 10))


def player_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    frames = np.zeros((FRAMES, 48, 64, 3), np.uint8)
    for i in range(FRAMES):
        frames[i] = 10 * i + 5
    return write_clip(frames, tmp_path_factory.mktemp("player") / "grey.mp4", fps=FPS)


@pytest.fixture(autouse=True)
def no_thread_left():
    yield
    gc.collect()
    assert player_threads() == [], "a decoder thread outlived its test"


class Recorder:
    """What a FramePlayer emitted, in order (its signals are emitted on the GUI thread)."""

    def __init__(self, player: FramePlayer):
        self.frames: list[tuple[int, float]] = []  # (index from the colour, seconds)
        self.infos, self.failures, self.ends = [], [], 0
        player.frame.connect(self._frame)
        player.opened.connect(self.infos.append)
        player.failed.connect(self.failures.append)
        player.ended.connect(self._ended)

    def _frame(self, rgb, seconds):
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
        self.frames.append((index_of(rgb), seconds))

    def _ended(self):
        self.ends += 1

    @property
    def last(self) -> int | None:
        return self.frames[-1][0] if self.frames else None


@pytest.fixture
def player(qtbot):
    p = FramePlayer()
    yield p
    p.close()
    assert not p.thread_alive


def opened(qtbot, p: FramePlayer, path) -> Recorder:
    rec = Recorder(p)
    p.open(path)
    qtbot.waitUntil(lambda: bool(rec.frames or rec.failures), timeout=WAIT)
    assert not rec.failures, rec.failures
    return rec


def shows(qtbot, p: FramePlayer, rec: Recorder, index: int) -> None:
    qtbot.waitUntil(lambda: rec.last == index and p.index == index, timeout=WAIT)


def test_open_reports_the_video_and_shows_its_first_frame(qtbot, player, clip):
    rec = opened(qtbot, player, clip)
    info = rec.infos[0]
    assert (info.frame_count, info.fps, info.size) == (FRAMES, FPS, (48, 64))
    assert info.duration == pytest.approx(FRAMES / FPS)
    assert np.allclose(info.times, np.arange(FRAMES) / FPS)
    assert rec.frames == [(0, 0.0)]
    assert player.position == 0.0 and not player.playing


@pytest.mark.parametrize("seconds, index", [(0.55, 5), (1.0, 10), (0.999, 9), (1.94, 19), (0.0, 0),
                                            (-3.0, 0), (99.0, 19), (0.31, 3)])
def test_seek_shows_the_last_frame_at_or_before_the_time(qtbot, player, clip, seconds, index):
    rec = opened(qtbot, player, clip)
    if index == 0:
        player.seek(1.2)  # start elsewhere so that the seek has to move
        shows(qtbot, player, rec, 12)
    player.seek(seconds)
    shows(qtbot, player, rec, index)
    assert player.position == pytest.approx(index / FPS)
    assert rec.frames[-1][1] == pytest.approx(index / FPS)


def test_seeks_back_and_forth_in_any_order(qtbot, player, clip):
    rec = opened(qtbot, player, clip)
    for index in (17, 2, 9, 8, 19, 0, 11):
        player.seek(index / FPS)
        shows(qtbot, player, rec, index)


def test_a_seek_asked_for_while_the_file_is_still_opening_is_kept(qtbot, player, clip):
    rec = Recorder(player)
    player.open(clip)
    player.seek(1.25)
    shows(qtbot, player, rec, 12)
    assert len(rec.infos) == 1 and rec.infos[0].frame_count == FRAMES


def test_a_burst_of_seeks_ends_on_the_last_one(qtbot, player, clip):
    """As a scrub bar dragged fast would send: older seeks are superseded, the last one shows."""
    rec = opened(qtbot, player, clip)
    for index in [19, 1, 17, 3, 15, 5, 13, 7, 11, 9] * 3:
        player.seek(index / FPS)
    shows(qtbot, player, rec, 9)
    qtbot.wait(100)
    assert rec.last == 9 and player.index == 9


def test_a_stream_without_timestamps_is_decoded_from_the_start(tmp_path):
    """A raw H.264 stream has no timestamps to seek by: the reader counts frames instead."""
    from fractions import Fraction

    import av

    path = tmp_path / "raw.h264"
    with av.open(str(path), "w", format="h264") as box:
        stream = box.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 10 * i + 5, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    reader = player_mod._Reader(path, 640)
    try:
        assert not reader.seekable and reader.info.frame_count == FRAMES
        for index in (5, 3, 12, 19, 0):
            assert index_of(reader.rgb(reader.frame_at(index))) == index
    finally:
        reader.close()


def test_step_moves_one_frame_and_stops_at_the_ends(qtbot, player, clip):
    rec = opened(qtbot, player, clip)
    player.step(1)
    shows(qtbot, player, rec, 1)
    player.step(3)
    shows(qtbot, player, rec, 4)
    player.step(-1)
    shows(qtbot, player, rec, 3)
    player.step(-10)
    shows(qtbot, player, rec, 0)
    n = len(rec.frames)
    player.step(-1)  # already at the first frame: nothing to do
    assert player.index == 0 and len(rec.frames) == n
    player.seek(99)
    shows(qtbot, player, rec, FRAMES - 1)
    player.step(1)
    assert player.index == FRAMES - 1
    for _ in range(3):  # quick steps add up
        player.step(-1)
    shows(qtbot, player, rec, FRAMES - 4)


def test_play_runs_at_the_file_rate_to_the_last_frame_and_ends(qtbot, player, clip):
    rec = opened(qtbot, player, clip)
    player.reset_counts()
    start = time.monotonic()
    with qtbot.waitSignal(player.ended, timeout=WAIT):
        player.play()
        assert player.playing
    elapsed = time.monotonic() - start
    assert not player.playing and rec.ends == 1
    played = [i for i, _ in rec.frames[1:]]
    assert played == sorted(set(played)), "frames went backwards or repeated"
    assert [s for _, s in rec.frames] == sorted(s for _, s in rec.frames)
    assert played[-1] == FRAMES - 1 and player.position == pytest.approx((FRAMES - 1) / FPS)
    assert player.shown + player.dropped == FRAMES - 1
    # paced by the clock: never faster than the video (the bound above it is only a sanity check)
    assert elapsed >= FRAMES / FPS - 0.05
    assert elapsed < FRAMES / FPS + 10


def test_play_at_the_end_starts_again_and_pause_holds_the_frame(qtbot, player, clip):
    rec = opened(qtbot, player, clip)
    player.seek(99)
    shows(qtbot, player, rec, FRAMES - 1)
    player.play()
    qtbot.waitUntil(lambda: rec.last is not None and 2 <= rec.last < FRAMES - 5, timeout=WAIT)
    player.toggle()
    assert not player.playing
    held = player.index
    qtbot.wait(300)  # three frame durations: nothing may change while paused
    assert player.index == held and rec.last == held
    player.toggle()
    with qtbot.waitSignal(player.ended, timeout=WAIT):
        pass
    after = [i for i, _ in rec.frames[rec.frames.index((held, held / FPS)):]]
    assert after == sorted(set(after)) and after[-1] == FRAMES - 1


@pytest.mark.parametrize("target", [3, 16])
def test_a_seek_while_playing_never_shows_an_older_frame_after_it(qtbot, player, clip, target):
    rec = opened(qtbot, player, clip)
    player.play()
    start = 8 if target < 8 else 2
    qtbot.waitUntil(lambda: rec.last is not None and rec.last >= start, timeout=WAIT)
    n = len(rec.frames)
    player.seek(target / FPS)
    assert player.playing
    with qtbot.waitSignal(player.ended, timeout=WAIT):
        pass
    after = [i for i, _ in rec.frames[n:]]
    assert after[0] == target, after
    assert after == sorted(set(after)) and after[-1] == FRAMES - 1


def test_the_gui_thread_never_opens_or_decodes(qtbot, player, clip, monkeypatch):
    main = threading.get_ident()
    seen: list[tuple[str, int]] = []
    for name in ("__init__", "_decode_next", "rgb", "_restart"):
        original = getattr(player_mod._Reader, name)

        def spy(*args, _name=name, _original=original, **kwargs):
            seen.append((_name, threading.get_ident()))
            return _original(*args, **kwargs)

        monkeypatch.setattr(player_mod._Reader, name, spy)
    rec = opened(qtbot, player, clip)
    player.seek(1.5)
    shows(qtbot, player, rec, 15)
    player.step(-2)
    shows(qtbot, player, rec, 13)
    with qtbot.waitSignal(player.ended, timeout=WAIT):
        player.play()
    assert {name for name, _ in seen} >= {"__init__", "_decode_next", "rgb"}
    assert main not in {ident for _, ident in seen}


def test_frames_are_scaled_down_before_they_cross(qtbot, clip):
    p = FramePlayer(max_side=32)
    try:
        rec = Recorder(p)
        shapes = []
        p.frame.connect(lambda rgb, t: shapes.append(rgb.shape))
        p.open(clip)
        qtbot.waitUntil(lambda: bool(rec.frames), timeout=WAIT)
        assert shapes == [(24, 32, 3)] and rec.infos[0].size == (48, 64)
    finally:
        p.close()


def _truncated(clip, tmp_path):
    data = clip.read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: len(data) * 6 // 10])
    return path


def _garbage(clip, tmp_path):
    data = bytearray(clip.read_bytes())
    rng = np.random.default_rng(0)
    data[32:] = rng.integers(0, 256, len(data) - 32, dtype=np.uint8).tobytes()
    path = tmp_path / "garbage.mp4"
    path.write_bytes(bytes(data))
    return path


def _text(clip, tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("not a video\nat all\n")
    return path


@pytest.mark.parametrize("make", [_text, _truncated, _garbage, lambda clip, tmp: tmp / "missing.mp4"],
                         ids=["text", "truncated", "garbage", "missing"])
def test_a_bad_file_fails_in_one_line_and_ends_the_thread(qtbot, player, clip, tmp_path, make):
    path = make(clip, tmp_path)
    rec = Recorder(player)
    with qtbot.waitSignal(player.failed, timeout=WAIT) as blocker:
        player.open(path)
    message = blocker.args[0]
    assert str(path) in message and "\n" not in message, message
    qtbot.waitUntil(lambda: not player.thread_alive, timeout=WAIT)
    assert rec.frames == [] and player.info is None
    player.play()  # nothing to play: no error, no thread
    player.seek(1.0)
    player.step(1)
    assert not player.thread_alive
    # and the player opens a good file afterwards
    rec2 = opened(qtbot, player, clip)
    assert rec2.frames[-1][0] == 0


def test_garbage_collection_stops_the_thread(qtbot, clip):
    p = FramePlayer()
    rec = opened(qtbot, p, clip)
    p.play()
    qtbot.waitUntil(lambda: rec.last is not None and rec.last >= 2, timeout=WAIT)
    assert player_threads()
    del p
    gc.collect()
    assert player_threads() == []


# -- the widget ------------------------------------------------------------------------------------


@pytest.fixture
def widget(qtbot):
    from attnviewer.ui.player_widget import PlayerWidget

    w = PlayerWidget()
    qtbot.addWidget(w)
    w.resize(480, 360)
    w.show()
    yield w
    w.close()
    assert not w.player.thread_alive


def shown_index(w) -> int | None:
    image = w.view.image
    return None if image is None else index_of(image)


def test_widget_opens_scrubs_and_shows_the_time(qtbot, widget, clip):
    with qtbot.waitSignal(widget.opened, timeout=WAIT):
        widget.open(clip)
    qtbot.waitUntil(lambda: shown_index(widget) == 0, timeout=WAIT)
    assert widget.time_label.text() == "0:00.00 / 0:02.00"
    assert (widget.slider.minimum(), widget.slider.maximum()) == (0, FRAMES - 1)
    positions = []
    widget.position_changed.connect(positions.append)
    for value in (3, 7, 12):  # as a drag would: several values, seeks coalesced
        widget.slider.setValue(value)
    qtbot.waitUntil(lambda: shown_index(widget) == 12, timeout=WAIT)
    assert widget.time_label.text() == "0:01.20 / 0:02.00"
    assert positions[-1] == pytest.approx(1.2)
    widget.seek(0.5)
    qtbot.waitUntil(lambda: shown_index(widget) == 5 and widget.slider.value() == 5, timeout=WAIT)
    qtbot.mouseClick(widget.forward_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: shown_index(widget) == 6, timeout=WAIT)
    qtbot.mouseClick(widget.back_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(widget.back_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: shown_index(widget) == 4, timeout=WAIT)
    assert widget.time_label.text() == "0:00.40 / 0:02.00"
    widget.set_markers([0.25, 1.05, 1.85], current=1)
    assert widget.marks.isVisible() and widget.marks.values == [2, 10, 18]
    widget.marks.repaint()
    widget.set_markers([])
    assert not widget.marks.isVisible()


def test_widget_controls_leave_the_keyboard_to_the_window(widget):
    for w in (widget.play_button, widget.back_button, widget.forward_button, widget.slider, widget.view,
              widget.marks):
        assert w.focusPolicy() == Qt.FocusPolicy.NoFocus


def test_widget_play_button_plays_and_closing_mid_playback_stops_the_thread(qtbot, widget, clip):
    with qtbot.waitSignal(widget.opened, timeout=WAIT):
        widget.open(clip)
    qtbot.mouseClick(widget.play_button, Qt.MouseButton.LeftButton)
    assert widget.player.playing
    qtbot.waitUntil(lambda: (shown_index(widget) or 0) >= 3, timeout=WAIT)
    assert widget.slider.value() == widget.player.index
    assert player_threads()
    widget.close()
    assert player_threads() == [] and not widget.player.playing


def test_widget_reports_a_bad_file(qtbot, widget, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with qtbot.waitSignal(widget.failed, timeout=WAIT) as blocker:
        widget.open(path)
    assert str(path) in blocker.args[0]
    assert not widget.play_button.isEnabled() and not widget.slider.isEnabled()


def test_format_time():
    from attnviewer.ui.player_widget import format_time

    assert [format_time(s) for s in (0, 1.25, 2, 61.999, 600.5)] == \
        ["0:00.00", "0:01.25", "0:02.00", "1:02.00", "10:00.50"]


def test_a_seek_asked_while_the_window_draws_is_decoded_once_it_is_done(qtbot, player, clip, monkeypatch):
    """The window's redraw of the words seeks the player; its decoder's Python took turns for the
    GIL with the rest of that redraw and its paint. It decodes once the window says it is done."""
    monkeypatch.setattr(player_mod, "GIVE_WAY_S", 120.0)  # the order asked for, not the limit
    idle = threading.Event()
    idle.set()
    player.give_way_to(idle)
    rec = opened(qtbot, player, clip)
    idle.clear()  # the window draws
    player.seek(1.2)
    qtbot.wait(300)
    assert rec.last == 0  # not decoded while the window draws
    idle.set()
    shows(qtbot, player, rec, 12)
