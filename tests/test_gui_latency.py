"""What keeps the window responsive while a video is read and captioned (issue 12): the time chart
painted directly, a medium's panes built ahead in pieces, torch's libraries loaded with the GIL
released. Real widgets offscreen, a real subprocess for torch; no timing assertions."""
import os
import subprocess
import sys
import time
from functools import partial

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject, QPoint, QTimer

from attnviewer.media.frames import index_packets, read_clip
from attnviewer.resources import sample_dir
from attnviewer.ui.attention_pane import OverlaySettings
from attnviewer.ui.overlay import tile_colours
from attnviewer.ui.time_chart import TimeChart, nice_ticks

CLIP = sample_dir() / "clip-1.mp4"


@pytest.mark.parametrize("lo, hi, expected", [
    (0.0, 2.0, [0.0, 0.5, 1.0, 1.5, 2.0]),
    (-0.1, 1.9, [0.0, 0.5, 1.0, 1.5]),
    (0.0, 600.0, [0.0, 100.0, 200.0, 300.0, 400.0, 500.0, 600.0]),
    (3.0, 3.0, [3.0]),
])
def test_time_ticks_are_round_and_inside_the_range(lo, hi, expected):
    assert nice_ticks(lo, hi) == expected


def _bar_colour(chart, image, k):
    """The colour painted in the middle of frame k's bar, a pixel above the time axis."""
    x, y = chart.pixels(chart.times[k], chart.weights[k] / 2)
    return image.pixelColor(int(x), int(y)).getRgb()[:3]


def test_time_chart_paints_each_frames_bar_in_its_colour(qtbot):
    chart = TimeChart()
    qtbot.addWidget(chart)
    chart.resize(480, 240)
    chart.show()
    times = np.linspace(0.1, 1.9, 12)
    w = np.full(12, 0.02)
    w[4] = 0.78
    colours = tile_colours(w, "jet", 0.8)
    chart.set_clip(times)
    chart.set_word(w, colours, peak=4, title="“left”: attention over the frames")
    image = chart.grab().toImage()
    assert _bar_colour(chart, image, 4) == tuple(colours[4])
    x, y = chart.pixels(times[4], w[4] - 0.02)  # inside the tall bar, near its top
    assert image.pixelColor(int(x), int(y)).getRgb()[:3] != (255, 255, 255)
    x, y = chart.pixels(times[0], 0.5)  # above frame 0's short bar: white with a faint grid at most
    assert min(image.pixelColor(int(x) + 3, int(y) + 3).getRgb()[:3]) > 200
    chart.set_word(w[:5], colours[:5])  # weights that do not fit the clip show nothing
    assert chart.weights is None and chart.title == ""


def test_video_attention_pane_shows_the_word_and_its_top_frames(qtbot):
    from attnviewer.types import Step
    from attnviewer.ui.video_panes import VideoAttentionPane

    clip = read_clip(CLIP, 12)
    pane = VideoAttentionPane()
    qtbot.addWidget(pane)
    pane.resize(520, 560)
    pane.show()
    pane.set_media(clip)
    weights = [np.roll(np.linspace(0.0, 1.0, 12, dtype=np.float32), s) for s in (3, 7)]
    words = [Step(i, tok, i, 0.9, [], (a / a.sum()).astype(np.float32)) for i, (tok, a) in
             enumerate(zip(("moves", "left"), weights))]
    pane.show_words(words, 1, OverlaySettings())
    assert pane.top_shown == [int(k) for k in np.argsort(-words[1].attention, kind="stable")[:3]]
    assert pane.plot.peak == int(np.argmax(words[1].attention))
    assert "left" in pane.plot.title
    assert pane.words.count() == 2
    first = pane.top[0].pixmap().cacheKey()
    pane.show_words(words, 1, OverlaySettings())  # the same word again: the same enlarged picture
    assert pane.top[0].pixmap().cacheKey() == first
    pane.set_media(None)
    assert pane.weights is None and pane.plot.weights is None and pane.words.count() == 0


def test_a_videos_panes_are_built_before_its_first_word(qtbot, window):
    """Opening a video builds its panes before the clip is read; the screen changes only with
    the first word (what was there stays until then)."""
    main = window.sides["main"]
    assert "video" not in window.media_panes and "video" not in main.panes
    window._prepare_panes("video")
    window._build_panes_ahead()  # as opening it does
    qtbot.waitUntil(lambda: "video" in window.media_panes and "video" in main.panes, timeout=10_000)
    assert window.medium is None and main.medium == "image"  # nothing shown changed
    pane = window.media_panes["video"]
    window._prepare_panes("video")  # all there: nothing is built again
    qtbot.wait(50)
    assert window.media_panes["video"] is pane and not window._pane_steps
    # its player's decoding thread runs already (started later, it could wait ~100 ms for the
    # loader lock while the engine maps torch), and opening the clip uses that very thread
    player = pane.player.player
    thread = player._decoders[-1].thread
    assert thread.is_alive()
    with qtbot.waitSignal(player.opened, timeout=10_000):
        pane.player.open(CLIP)
    assert player._decoders[-1].thread is thread and len(player._decoders) == 1


def test_a_timer_due_while_a_pane_is_built_runs_before_the_next_piece(qtbot, window):
    """The pieces built ahead leave the event loop's due timers (the video player's next frame)
    their turn between two pieces: the next piece used to be due before the piece it followed ran,
    so it ran straight after, a second piece in the same gap."""
    ran = []

    def piece(name):
        ran.append(name)
        if name == "first":
            time.sleep(0.005)
            QTimer.singleShot(2, lambda: ran.append("timer"))  # due during the piece (0 ms: a posted event)
            time.sleep(0.005)

    window._pane_steps = [partial(piece, "first"), partial(piece, "second")]
    window._build_panes_ahead()
    qtbot.waitUntil(lambda: len(ran) == 3, timeout=5_000)
    assert ran == ["first", "timer", "second"]


def test_a_sentences_box_is_built_before_its_attention_panes(qtbot, window):
    """The sentence is read at once: its box (the media pane) is the first piece built ahead,
    so the input shows without building it in the same turn as the read."""
    main = window.sides["main"]
    window._prepare_panes("text")
    built = []
    while window._pane_steps:  # the pieces in their order, one at a time
        window._pane_steps.pop(0)()
        built.append(("text" in window.media_panes, "text" in main.panes))
    assert (True, False) in built and built[-1] == (True, True)


def test_a_panes_first_drawings_are_rehearsed_once_its_panes_are_built(window, monkeypatch):
    """A pane module's WARM_UP functions (the image's: its first map of a process cost 5.5 ms of
    the first word's redraw, OpenCV and numpy used for the first time; a view's first paint 12 ms)
    are the last pieces built ahead, each a piece of its own."""
    from attnviewer.ui import attention_pane, overlay, video_panes, views

    main = window.sides["main"]
    seen = []
    monkeypatch.setattr(video_panes, "WARM_UP", (lambda: seen.append(("first", "video" in main.panes)),
                                                 lambda: seen.append(("second", "video" in main.panes))))
    window._prepare_panes("video")
    while window._pane_steps:
        window._pane_steps.pop(0)()
        seen.append("piece")
    assert seen[-4:] == [("first", True), "piece", ("second", True), "piece"]
    overlay.lookup_table.cache_clear()
    attention_pane.draw_a_map()  # the image's: a map drawn with the default look
    assert overlay.lookup_table.cache_info().currsize == 1
    assert attention_pane.WARM_UP[1:] == views.WARM_UP == (views.warm_up_picture, views.warm_up)
    monkeypatch.undo()
    assert video_panes.WARM_UP[:-1] == views.WARM_UP  # the player's view, painted once (then PyAV's import)
    painted = views.warm_up()
    assert painted.pixelColor(32, 24).red() > 40  # the map over the black picture


def test_the_players_style_type_is_made_before_any_window_is_up():
    """PySide makes QStyle's Python type, with its enums, on first use (12-18 ms of Python that
    cannot be split): made as the window's module is imported, before a window is up, not as a
    piece while an opened clip is read (a piece of its own was 16 ms). In a fresh interpreter,
    where nothing made it yet."""
    code = (
        "from PySide6 import QtWidgets\n"
        "app = QtWidgets.QApplication([])\n"
        "assert 'QStyle' not in vars(QtWidgets)\n"
        "from attnviewer.ui import main_window, video_panes\n"
        "assert 'QStyle' in vars(QtWidgets)\n"
        "assert not any('QStyle' in m for m in video_panes.PRELOAD), video_panes.PRELOAD\n"
    )
    in_a_fresh_interpreter(code, QT_QPA_PLATFORM="offscreen", ATTNVIEWER_ENGINE="thread")


def test_a_videos_last_piece_imports_pyav_on_a_thread_of_its_own():
    """PyAV's import (75-90 ms of Python holding the GIL once its libraries are mapped) ran at the
    player's first open, beside the first words of a clip opened in a running window (30-50 ms
    gaps): the video's pieces built ahead end by starting it on a thread of its own. In a fresh
    interpreter, where nothing imported PyAV yet."""
    code = (
        "import sys, threading\n"
        "from PySide6 import QtWidgets\n"
        "app = QtWidgets.QApplication([])\n"
        "from attnviewer.ui.main_window import MainWindow\n"
        "window = MainWindow()\n"
        "window._prepare_panes('video')\n"
        "while window._pane_steps:\n"
        "    assert 'av' not in sys.modules\n"
        "    window._pane_steps.pop(0)()\n"
        "from attnviewer.engine import player\n"
        "thread = player._pyav_thread\n"
        "assert thread is not None and thread is not threading.main_thread()\n"
        "thread.join(60)\n"
        "assert 'av' in sys.modules\n"
        "window.media_pane('video').player.shutdown()\n"
        "window.close(); window.engine.shutdown()\n"
    )
    # The app's engine, in its own process: one on a thread of the window's imports what it reads
    # with (PyAV too) before it starts.
    in_a_fresh_interpreter(code, QT_QPA_PLATFORM="offscreen", ATTNVIEWER_ENGINE="process")


def test_pyav_is_imported_once_the_window_idles_after_a_caption(tmp_path):
    """A clip opened in a running window began PyAV's import with its open: the import took 6-11 ms
    of the GIL in each of the open's longest gaps. Once a caption is written and the window has had
    nothing to do for a while, the import runs on a thread of its own; not before that wait."""
    code = (
        "import sys, time\n"
        "from PySide6 import QtWidgets\n"
        "from PySide6.QtCore import QSettings\n"
        "app = QtWidgets.QApplication([])\n"
        "from attnviewer.ui import main_window\n"
        "main_window.PYAV_AFTER_MS = 1000\n"
        f"window = main_window.MainWindow(settings=QSettings({str(tmp_path / 'settings.ini')!r}, "
        "QSettings.Format.IniFormat))\n"
        "window.show()\n"
        f"window.open_file({str(sample_dir() / 'shapes-1.png')!r})\n"
        "side = window.sides['main']\n"
        "finished = []\n"
        "window.engine.finished.connect(lambda *a: finished.append(time.monotonic()))  # after the window's\n"
        "def spin(until, seconds):\n"
        "    limit = time.monotonic() + seconds\n"
        "    while not until() and time.monotonic() < limit:\n"
        "        app.processEvents(); time.sleep(0.002)\n"
        "spin(lambda: side.state.result is not None, 120)\n"
        "assert side.state.result is not None, 'no caption'\n"
        "assert 'av' not in sys.modules\n"
        "from attnviewer.engine import player\n"
        "spin(lambda: player._pyav_thread is not None, 30)\n"
        "assert player._pyav_thread is not None, 'not started'\n"
        "assert time.monotonic() - finished[0] >= 0.95\n"
        "player._pyav_thread.join(60)\n"
        "assert 'av' in sys.modules\n"
        "window.close(); window.engine.shutdown()\n"
    )
    in_a_fresh_interpreter(code, QT_QPA_PLATFORM="offscreen", ATTNVIEWER_ENGINE="process")


class WindowPaints(QObject):
    """Notes "paint" in `order` at each repaint of the window (its UpdateRequest)."""

    def __init__(self, window, order: list):
        super().__init__()
        self.window, self.order = window, order
        window.installEventFilter(self)

    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.UpdateRequest and watched is self.window:
            self.order.append("paint")
        return False


def test_a_call_apart_waits_a_turn_after_the_windows_repaint(qtbot, window):
    """A piece built ahead or a redraw's pictures, due in the turn that paints what was changed
    just before them, used to run straight after that paint (19 ms in one turn: a repaint of 9, a
    video attention pane of 6): they wait a turn, and a timer due with them goes first."""
    qtbot.waitExposed(window)
    order = []
    paints = WindowPaints(window, order)
    window._after_repaint.call_apart(lambda: order.append("apart"))
    window.statusBar().showMessage("a change to paint")  # painted in the next turn
    QTimer.singleShot(1, lambda: order.append("turn"))  # due with the call
    qtbot.waitUntil(lambda: "apart" in order, timeout=5000)
    window.removeEventFilter(paints)
    assert order.index("paint") < order.index("turn") < order.index("apart"), order
    order.clear()
    window._after_repaint.call_apart(lambda: order.append("apart"))  # nothing to paint: no wait
    QTimer.singleShot(1, lambda: order.append("turn"))
    qtbot.waitUntil(lambda: len(order) == 2, timeout=5000)
    assert order == ["apart", "turn"]


def test_two_calls_apart_due_together_run_in_turns_of_their_own(qtbot, window):
    """An input's veils and a piece built ahead, both due a turn after the open, ran one after the
    other and then the repaint of both (19-20 ms): the second waits until the first's changes are
    painted."""
    qtbot.waitExposed(window)
    qtbot.wait(50)  # (nothing left to paint from the window's start)
    order = []
    paints = WindowPaints(window, order)

    def first():
        order.append("first")
        window.statusBar().showMessage("the first one's change")

    window._after_repaint.call_apart(first)
    window._after_repaint.call_apart(lambda: order.append("second"))
    qtbot.waitUntil(lambda: "second" in order, timeout=5000)
    window.removeEventFilter(paints)
    assert order.index("first") < order.index("paint") < order.index("second"), order


def in_a_fresh_interpreter(code: str, **env) -> str:
    """Run `code` in a new Python (nothing imported or made yet); its output. It must succeed."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, **env})
    assert out.returncode == 0, out.stdout[-1000:] + out.stderr[-2000:]
    return out.stdout.strip()


def test_torch_libraries_load_before_torch_is_imported():
    """In a fresh interpreter: the libraries are mapped, no torch module is imported yet, and
    torch then imports and computes."""
    code = (
        "import sys\n"
        "from attnviewer.engine.torch_import import load_torch_libraries\n"
        "loaded = load_torch_libraries()\n"
        "assert loaded and 'torch' not in sys.modules, (loaded, 'torch' in sys.modules)\n"
        "maps = open('/proc/self/maps').read()\n"
        "assert 'libtorch_cpu' in maps and 'libtorch_python' in maps\n"
        "from attnviewer.engine.torch_import import import_torch\n"
        "torch = import_torch()\n"
        "print(float(torch.ones(3).sum()))\n"
    )
    if not sys.platform.startswith("linux"):
        pytest.skip("the libraries are preloaded on Linux only")
    assert in_a_fresh_interpreter(code) == "3.0"


def test_the_player_maps_pyav_before_importing_it():
    """The window's first clip: its player maps PyAV's extension modules (FFmpeg's libraries with
    them) with the GIL released before PyAV's import, which held the GIL up to 18 ms at a stretch
    while loading them. In a fresh interpreter, where nothing imported PyAV yet."""
    code = (
        "import sys\n"
        "from attnviewer.engine import player\n"
        "from attnviewer.engine import torch_import\n"
        "from attnviewer.engine.torch_import import map_extensions\n"
        "calls = []\n"
        "def noted(name):\n"
        "    calls.append(name)\n"
        "    mapped = map_extensions(name)\n"
        "    assert mapped > 0 and 'av' not in sys.modules, (mapped, 'av' in sys.modules)\n"
        "    assert 'libavcodec' in open('/proc/self/maps').read()\n"
        "    return mapped\n"
        "assert 'av' not in sys.modules\n"
        "torch_import.map_extensions = noted\n"
        f"reader = player._Reader({str(CLIP)!r}, 64)\n"
        "assert calls == ['av'], calls\n"
        "print(reader.info.frame_count)\n"
    )
    if not sys.platform.startswith("linux"):
        pytest.skip("the libraries are mapped ahead on Linux only")
    assert int(in_a_fresh_interpreter(code)) == index_packets(CLIP).frame_count


@pytest.mark.parametrize("minimized", [True, False])
def test_a_window_that_paints_nothing_does_not_hold_the_video_player(qtbot, window, monkeypatch, minimized):
    """A redraw holds the video player's decoder until it is painted; no paint comes to a minimized
    window, nor after a redraw that changed nothing on screen: the player must not wait for one."""
    monkeypatch.setattr(window._after_repaint, "call", lambda fn: None)  # no paint ever comes
    monkeypatch.setattr(window, "_unpainted", lambda: minimized)
    window._release_timer.setInterval(10 if not minimized else 3_600_000)
    window.redraw()
    qtbot.waitUntil(window._idle.is_set, timeout=5000)


def test_an_older_redraws_paint_does_not_release_the_player_held_by_a_newer_one(window, monkeypatch):
    """While words stream (or the user steps through them) redraws follow each other: the first
    one's paint let the player decode while the next was still to be painted."""
    paints = []
    monkeypatch.setattr(window._after_repaint, "call", paints.append)  # paints come when the test says
    idle = window._idle
    window.redraw()
    window.redraw()
    paints[0]()  # the first redraw painted
    assert not idle.is_set()  # the second is not: the player still waits
    paints[1]()
    assert idle.is_set()


def test_streamed_words_are_drawn_in_two_turns_lists_then_pictures(qtbot, window, samples, monkeypatch):
    """A redraw while the words stream (and at a job's end) writes each column's lists in its turn
    and the pictures (attention pane, media pane) in the next, after the lists' paint: all in one
    turn with its paint, a clip's or a sentence's took 18-27 ms. A redraw asked for by the user
    (stepping through the words) still draws everything at once."""
    from .helpers import caption_done

    caption_done(qtbot, window, samples[0])
    side = window.sides["main"]
    order = []
    paints = WindowPaints(window, order)
    for owner, name in ((side.caption, "show_words"), (side.attention, "show_words")):
        real = getattr(owner, name)
        monkeypatch.setattr(owner, name, lambda *a, _real=real, _who=owner, **k: (
            order.append("lists" if _who is side.caption else "pictures"), _real(*a, **k))[1])
    window.redraw_in_turns()
    assert order == ["lists"] and window.drawing
    qtbot.waitUntil(lambda: not window.drawing, timeout=5000)
    pictures = order.index("pictures")
    assert order[0] == "lists" and "paint" in order[1:pictures]  # the lists painted before the pictures are drawn
    order.clear()
    window.go_to(0)  # the user's step: at once
    assert order == ["lists", "pictures"] and not window.drawing
    window.removeEventFilter(paints)


def test_the_windows_colour_tables_ship_with_the_app_and_are_matplotlibs(monkeypatch):
    """viridis and inferno are read from the app's own resources (neither matplotlib, whose import
    stalls the window, nor pyqtgraph, no longer a dependency, is needed) and are the very colours
    of matplotlib's tables, which the exported figures use."""
    import matplotlib

    from attnviewer.ui import overlay

    expected = [round(c * 255) for c in (*matplotlib.colormaps["viridis"].colors[-1],
                                         *matplotlib.colormaps["inferno"].colors[0])]
    for name in ("pyqtgraph", "matplotlib"):
        monkeypatch.setitem(sys.modules, name, None)  # neither can be imported
    for cached in (overlay._published_table, overlay.lookup_table):
        cached.cache_clear()
    try:
        got = [*overlay.lookup_table("viridis", 1.0)[255, :3], *overlay.lookup_table("inferno", 1.0)[0, :3]]
    finally:
        overlay._published_table.cache_clear()
        overlay.lookup_table.cache_clear()
    assert [int(v) for v in got] == expected


def test_the_frame_strip_draws_its_frames_once_per_clip_and_size(qtbot):
    """A word repaints the strip's bars and marks over its frames and their times, drawn once for
    the clip and the strip's size (all of them at every word: 1.2-3.5 ms of each video redraw's
    paint)."""
    from attnviewer.ui.video_panes import FrameStrip

    strip = FrameStrip()
    qtbot.addWidget(strip)
    strip.resize(600, 110)
    strip.show()
    frames = np.zeros((4, 32, 32, 3), np.uint8)
    frames[1, :, :, 0] = 255  # frame 1 red, the others black
    strip.set_clip(frames, [0.0, 0.5, 1.0, 1.5])
    before = strip.grab().toImage()
    drawn = strip._backdrop
    strip.set_weights(np.array([0.1, 0.6, 0.2, 0.1]), "jet", 0.8, show_peak=True)
    after = strip.grab().toImage()
    assert strip._backdrop is drawn  # not drawn again for a word
    place = strip._places[1]
    inside = place.center().toPoint()
    assert before.pixelColor(inside).getRgb()[:3] == after.pixelColor(inside).getRgb()[:3] == (255, 0, 0)
    bar = strip.cell(1).adjusted(2, 2, -2, -2)
    under = QPoint(int(bar.center().x()), int(bar.bottom()) - 6)  # inside frame 1's bar
    assert after.pixelColor(under).getRgb()[:3] == tuple(strip.colours[1])
    assert before.pixelColor(under).getRgb()[:3] != tuple(strip.colours[1])
    strip.resize(800, 110)
    strip.grab()
    assert strip._backdrop is not drawn and strip._places[1].width() >= place.width()
