"""The player's decoder does not start its threads while the engine maps torch's libraries: it
waits on engine/loader_lock.LIBRARIES, without the GIL, and opens the file once the lock is free."""
from __future__ import annotations

import gc
import sys
import threading

import numpy as np
import pytest

from attnviewer.engine.loader_lock import LIBRARIES
from attnviewer.engine.player import THREAD_NAME, FramePlayer
from attnviewer.media.frames import write_clip

WAIT = 15000  # ms


@pytest.fixture(autouse=True)
def no_thread_left():
    yield
    if LIBRARIES.locked():
        LIBRARIES.release()
    gc.collect()
    assert not [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()]


def where(thread_name: str) -> str | None:
    """The function a thread is in now."""
    ident = next((t.ident for t in threading.enumerate() if t.name == thread_name), None)
    frame = sys._current_frames().get(ident)
    return None if frame is None else frame.f_code.co_name


def test_a_decoder_waits_for_the_libraries_to_load_without_holding_up_the_window(qtbot, tmp_path):
    frames = np.zeros((10, 48, 64, 3), np.uint8)
    for i in range(10):
        frames[i] = 20 * i + 5
    clip = write_clip(frames, tmp_path / "grey.mp4", fps=10)
    p = FramePlayer()
    shown = []
    p.frame.connect(lambda rgb, seconds: shown.append(int(round((float(rgb.mean()) - 5) / 20))))
    try:
        LIBRARIES.acquire()  # as the engine's dlopen of torch's libraries does
        p.open(clip)
        qtbot.waitUntil(lambda: where(THREAD_NAME) == "_start_decoder", timeout=WAIT)
        ticks = []
        qtbot.waitUntil(lambda: ticks.append(1) or len(ticks) > 20, timeout=WAIT)  # the GUI thread runs on
        assert shown == [] and where(THREAD_NAME) == "_start_decoder"
        LIBRARIES.release()
        qtbot.waitUntil(lambda: shown == [0], timeout=WAIT)
        p.seek(0.75)
        qtbot.waitUntil(lambda: shown[-1:] == [7], timeout=WAIT)
        assert not LIBRARIES.locked()
    finally:
        p.close()


def test_a_player_closed_while_its_decoder_waits_stops_at_once(qtbot, tmp_path):
    clip = write_clip(np.zeros((10, 48, 64, 3), np.uint8), tmp_path / "black.mp4", fps=10)
    p = FramePlayer()
    LIBRARIES.acquire()  # the engine maps torch's libraries, and goes on doing so
    try:
        p.open(clip)
        qtbot.waitUntil(lambda: where(THREAD_NAME) == "_start_decoder", timeout=WAIT)
        p.close()  # on the GUI thread: it joins the decoder, which must not wait for the lock
        assert not [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()]
    finally:
        LIBRARIES.release()
