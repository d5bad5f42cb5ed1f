"""One packet index per clip: the engine's read lists a video's packets once and the window's player
seeks and steps by that list instead of listing the file again (issue 12).

The clip here has a keyframe every 8 frames and B-frames (file order differs from display order),
and encodes each frame's index in its grey level (6 * i + 5), so a test can tell which frame is on
screen. Listing is counted by wrapping media.frames.list_packets, with the thread that listed.
"""
from __future__ import annotations

import gc
import threading
from fractions import Fraction

import numpy as np
import pytest

from attnviewer.engine.player import THREAD_NAME, FramePlayer
from attnviewer.media import frames as frames_mod
from attnviewer.media.frames import PacketIndex, index_packets, read_clip, reversed_clip

FPS = 10
FRAMES = 40
GOP = 8
WAIT = 15000  # ms: generous, the suite may share the machine


def grey_clip(path, frames: int = FRAMES, offset: int = 0):
    """An MP4 whose frame i is grey level 6 * i + 5 + offset, a keyframe every GOP frames, B-frames."""
    import av

    with av.open(str(path), "w", format="mp4") as box:
        stream = box.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"g": str(GOP), "keyint_min": str(GOP), "sc_threshold": "0", "bf": "2", "crf": "10"}
        for i in range(frames):
            rgb = np.full((48, 64, 3), 6 * i + 5 + offset, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    return path


def index_of(rgb: np.ndarray, offset: int = 0) -> int:
    return int(round((float(rgb.mean()) - 5 - offset) / 6))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return grey_clip(tmp_path_factory.mktemp("index") / "grey.mp4")


@pytest.fixture
def listings(monkeypatch):
    """The idents of the threads that listed a video's packets, one per listing."""
    seen: list[int] = []
    original = frames_mod.list_packets

    def counted(*args, **kwargs):
        seen.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(frames_mod, "list_packets", counted)
    return seen


@pytest.fixture(autouse=True)
def no_thread_left():
    yield
    gc.collect()
    assert not [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()]


@pytest.fixture
def player(qtbot):
    p = FramePlayer()
    shown: list[int] = []
    p.frame.connect(lambda rgb, seconds: shown.append(index_of(rgb)))
    p.shown_indexes = shown
    yield p
    p.close()


def lands(qtbot, p: FramePlayer, index: int) -> None:
    qtbot.waitUntil(lambda: p.shown_indexes[-1:] == [index] and p.index == index, timeout=WAIT)


def test_the_index_lists_every_frame_in_display_order_with_its_keyframes(clip):
    index = index_packets(clip)
    assert index.frame_count == FRAMES and index.seekable and index.fps == FPS and index.size == (48, 64)
    assert np.allclose(index.times, np.arange(FRAMES) / FPS)
    assert list(index.keys) == list(range(0, FRAMES, GOP))
    assert list(index.pts) == sorted(index.pts)
    assert index.keyframe_before(GOP - 1) == 0 and index.keyframe_before(GOP) == GOP
    assert index.position(int(index.pts[13])) == 13 and index.position(int(index.pts[13]) + 1) is None
    with pytest.raises(ValueError):
        index.times[0] = 1.0  # shared between threads: read-only
    with pytest.raises(AttributeError):
        index.fps = 25.0


def test_the_clip_keeps_the_index_it_was_read_with_reversed_too(clip, listings):
    loaded = read_clip(clip, 12)
    assert isinstance(loaded.packets, PacketIndex) and loaded.packets.frame_count == loaded.frame_count == FRAMES
    assert [index_of(f) for f in loaded.frames] == frames_mod.sample_indices(FRAMES, 12)
    assert reversed_clip(loaded).packets is loaded.packets
    assert len(listings) == 1


def test_a_player_given_the_index_lists_nothing_and_lands_on_the_right_frames(qtbot, player, clip, listings):
    loaded = read_clip(clip, 12)
    assert len(listings) == 1
    opened = []
    player.opened.connect(opened.append)
    player.open(clip, loaded.packets)
    lands(qtbot, player, 0)
    assert opened[0].frame_count == FRAMES and np.array_equal(opened[0].times, loaded.packets.times)
    for index in (13, 7, 8, 39, 16, 15, 0, 24, 23):  # either side of keyframes, back and forth
        player.seek(index / FPS)
        lands(qtbot, player, index)
    for n, index in ((1, 24), (1, 25), (-1, 24), (GOP, 24 + GOP), (-3, 21 + GOP), (-GOP, 21)):
        player.step(n)
        lands(qtbot, player, index)
    player.seek_frame(FRAMES - 1)
    lands(qtbot, player, FRAMES - 1)
    assert len(listings) == 1, "the player listed the packets again"


def test_a_player_without_an_index_lists_on_its_own_thread_and_lands_the_same(qtbot, player, clip, listings):
    player.open(clip)
    lands(qtbot, player, 0)
    for index in (13, 7, 39, 16):
        player.seek(index / FPS)
        lands(qtbot, player, index)
    player.step(-1)
    lands(qtbot, player, 15)
    assert len(listings) == 1 and listings[0] != threading.get_ident()
    assert [t.name for t in threading.enumerate() if t.ident == listings[0]] == [THREAD_NAME]


def test_an_index_of_a_file_changed_since_is_not_used(qtbot, player, tmp_path, listings):
    path = grey_clip(tmp_path / "changing.mp4")
    old = read_clip(path, 12).packets
    grey_clip(tmp_path / "other.mp4", frames=24, offset=3).replace(path)  # another file at the same name
    assert not old.describes(path)
    opened = []
    player.opened.connect(opened.append)
    player.open(path, old)
    qtbot.waitUntil(lambda: bool(opened), timeout=WAIT)
    assert opened[0].frame_count == 24 and len(listings) == 2  # listed again: the new file's frames
    player.seek(9.0)  # past the new file's end: its last frame
    qtbot.waitUntil(lambda: player.index == 23, timeout=WAIT)
    assert not old.describes(tmp_path / "missing.mp4")


def test_the_video_pane_hands_the_clip_s_index_to_its_player(qtbot, clip, listings):
    from attnviewer.ui.video_panes import VideoMediaPane

    pane = VideoMediaPane()
    qtbot.addWidget(pane)
    try:
        loaded = read_clip(clip, 12)
        with qtbot.waitSignal(pane.player.opened, timeout=WAIT):
            pane.set_media(reversed_clip(loaded))
        qtbot.waitUntil(lambda: pane.player.player.index == 0, timeout=WAIT)
        pane.player.seek(2.5)
        qtbot.waitUntil(lambda: pane.player.player.index == 25, timeout=WAIT)
        assert pane.player.info.frame_count == FRAMES
        assert len(listings) == 1, "the player listed the packets the engine had listed"
    finally:
        pane.close_media()
