"""A video player whose frames are decoded off the GUI thread and shown at the file's frame rate.

Threading: a plain `threading.Thread` feeding a bounded `queue.Queue`, not a QObject on a QThread.
The bounded queue is the back-pressure (the decoder stays a few frames ahead and then waits) and
lets the GUI thread take frames exactly when they are due; the decoder thread touches no Qt object
at all (no cross-thread signals), and a busy decoder could not run a QThread's event loop anyway.

The GUI thread only paces and paints: a single-shot precise QTimer wakes when the next frame is
due, measured against `time.monotonic()` at the start of playback, so a late tick drops the frames
whose time has passed (counted in `dropped`) instead of slowing the video down. Requests (open,
seek, step, play, pause) go to the decoder as commands; open and seek bump a generation counter
and anything older is dropped on both sides (a superseded seek even stops decoding halfway).
Seeking jumps to the keyframe before the frame and decodes forward, or just decodes forward when no
keyframe lies in between; recently decoded frames are kept (a byte budget) so stepping back is
cheap. Frames are scaled to at most `max_side` on the decoder thread. A failed open ends the
thread; `close()` (or garbage collection, via weakref.finalize) stops it and waits for it.

The packet list (every frame's timestamp, the keyframes) comes with the open when someone has
listed it already: the engine lists a clip's packets to read the frames the model sees, and the
window hands that `PacketIndex` to open(), so a 10-minute clip's 15,000 packets are not listed a
second time while the model loads. Without one, or when the file changed since, the decoder
thread lists them itself; the GUI thread never does.
"""
from __future__ import annotations

import logging
import math
import queue
import sys
import threading
import time
import weakref
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from ..errors import MediaError, first_line
from ..media.frames import PacketIndex, _open, _reason, index_packets
from .torch_import import import_pyav

log = logging.getLogger(__name__)

THREAD_NAME = "attnviewer-player"
MAX_SIDE = 640  # long side of the frames that cross to the GUI thread
QUEUE_SIZE = 8  # frames decoded ahead while playing
CACHE_BYTES = 48 * 2**20  # decoded (YUV) frames kept for stepping back
POLL_MS = 5  # how often the GUI looks for an answer while it waits for one
JOIN_TIMEOUT_S = 10.0
GIVE_WAY_S = 0.05  # the longest the decoder waits for the window's drawing (FramePlayer.give_way_to)


@dataclass(frozen=True, eq=False)
class VideoInfo:
    """What `opened` carries: plain data."""

    path: str
    duration: float  # seconds: the end of the last frame
    fps: float
    frame_count: int
    size: tuple[int, int]  # (height, width) of the file's frames
    times: np.ndarray = field(repr=False)  # seconds of every frame, in display order

    def index_at(self, seconds: float) -> int:
        """The last frame whose time is <= seconds (the first frame for times before it)."""
        i = int(np.searchsorted(self.times, seconds + 1e-6, side="right")) - 1
        return min(max(i, 0), self.frame_count - 1)


def import_pyav_ahead() -> None:
    """Import PyAV on a thread of its own now, before a clip is opened: after its libraries are
    mapped, the import is still 75-90 ms of Python holding the GIL, which the first clip's open ran
    beside the first words of a clip opened in a running window (30-50 ms gaps). A failed import
    is left for that open to report."""
    global _pyav_thread
    if _pyav_thread is None and "av" not in sys.modules:
        _pyav_thread = threading.Thread(target=_import_pyav_quietly, name="attnviewer-import-pyav", daemon=True)
        _pyav_thread.start()


def _import_pyav_quietly() -> None:
    try:
        import_pyav()
    except Exception:  # noqa: BLE001  (the player's open imports it again and says what is wrong)
        log.debug("importing PyAV ahead failed", exc_info=True)


_pyav_thread: threading.Thread | None = None


class _Stopped(Exception):
    """The request being served was superseded, or the player is closing."""


class _Reader:
    """One open video on the decoder thread: the packet list (count, timestamps, keyframes), a
    decoding position and a cache of recent frames. Never used on the GUI thread."""

    def __init__(self, path: str | Path, max_side: int, check=lambda: None, index: PacketIndex | None = None):
        av = import_pyav()
        self.path = Path(path)
        self.max_side = max_side
        self._av = av
        if index is None or not index.describes(self.path):  # none given, or the file changed since
            index = index_packets(self.path, check)
        self.index = index
        self.seekable = index.seekable
        fps, size = index.fps, index.size
        if size[0] <= 0 or size[1] <= 0:
            raise MediaError(f"{self.path}: the video stream has no picture size")
        times = index.times
        self.info = VideoInfo(str(self.path), float(times[-1] + 1 / fps), fps, index.frame_count, size, times)
        self.box = _open(self.path)
        self.stream = self.box.streams.video[0]
        self._start_decoder()
        self._frames = None  # the decoding iterator
        self.last: int | None = None  # index of the frame it decoded last
        self._cache: OrderedDict[int, object] = OrderedDict()
        self._cache_bytes = 0
        self._frame_bytes = max(1, size[0] * size[1] * 3 // 2)  # YUV 4:2:0

    def close(self) -> None:
        self._frames = None
        self._cache.clear()
        self.box.close()

    def _start_decoder(self) -> None:
        """Open the codec (it starts its threads) now: a damaged stream says so here, in one line."""
        try:
            self.stream.codec_context.open(strict=False)
        except self._av.error.FFmpegError as e:
            self.box.close()
            raise MediaError(f"{self.path}: cannot decode its video stream ({_reason(e)})") from None

    def frame_at(self, index: int, check=lambda: None):
        """The decoded frame `index` (an av.VideoFrame), from the cache or by decoding: forward
        from where decoding is when no keyframe lies in between, else from the keyframe before it."""
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        key = self.index.keyframe_before(index)
        if self._frames is None or self.last is None or index <= self.last or key > self.last + 1:
            self._restart(key)  # else decoding on from where it is reaches the frame sooner
        n = 0
        while True:
            got = self._decode_next()
            if got is None:
                raise MediaError(f"{self.path}: truncated video: frame {index + 1} of {self.info.frame_count} "
                                 "cannot be decoded")
            if got[0] >= index:
                return got[1]
            n += 1
            if n % 8 == 0:
                check()

    def _restart(self, key: int) -> None:
        av = self._av
        try:
            if self.seekable:
                self.box.seek(int(self.index.pts[key]), stream=self.stream, backward=True, any_frame=False)
            else:
                key = 0
                self.box.close()
                self.box = _open(self.path)
                self.stream = self.box.streams.video[0]
                self._start_decoder()
        except av.error.FFmpegError as e:
            raise MediaError(f"{self.path}: damaged video, seeking failed ({_reason(e)})") from None
        self._frames = self.box.decode(self.stream)
        self.last = key - 1

    def _decode_next(self):
        """(index, frame) of the next decoded frame, or None at the end. Runs on the decoder thread
        only (tests check that)."""
        av = self._av
        try:
            frame = next(self._frames)
        except StopIteration:
            self._frames = None
            return None
        except av.error.FFmpegError as e:
            self._frames = None
            raise MediaError(f"{self.path}: damaged video, decoding failed ({_reason(e)})") from None
        index = self.index.position(frame.pts)
        if index is None:
            index = (self.last + 1) if self.last is not None else 0
        self.last = index
        self._remember(index, frame)
        return index, frame

    def _remember(self, index: int, frame) -> None:
        if index in self._cache:
            self._cache.move_to_end(index)
            return
        self._cache[index] = frame
        self._cache_bytes += self._frame_bytes
        while self._cache_bytes > CACHE_BYTES and len(self._cache) > 1:
            self._cache.popitem(last=False)
            self._cache_bytes -= self._frame_bytes

    def rgb(self, frame) -> np.ndarray:
        """(h, w, 3) uint8 RGB, long side at most max_side. Decoder thread only."""
        h, w = frame.height, frame.width
        s = self.max_side / max(h, w)
        if s >= 1:
            return frame.to_ndarray(format="rgb24")
        return frame.to_ndarray(format="rgb24", width=max(2, round(w * s)), height=max(2, round(h * s)),
                                interpolation="AREA")


class _Decoder:
    """The decoder thread and its two queues. Knows nothing of Qt nor of the FramePlayer (so the
    player's finalizer can stop it). The GUI thread writes `gen`/`open_gen` before it sends a
    command and `clock` when playback (re)starts; the thread reads them."""

    def __init__(self, max_side: int, queue_size: int):
        self.max_side = max_side
        self.commands: queue.Queue = queue.Queue()
        self.out: queue.Queue = queue.Queue(maxsize=queue_size)
        self.stop = threading.Event()
        self.gen = 0  # newest request: seeks/opens with a lower number are superseded
        self.open_gen = 0  # newest open
        self.clock: tuple[int, float, float] | None = None  # (gen, t0, pos0) while playing
        self.exiting = False  # set before the thread's last message: it reads no more commands
        self.thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._reader: _Reader | None = None
        self._serving = 0  # generation of the request being served
        self._streaming = False
        self._sent: int | None = None  # index of the last frame sent (or skipped) for _serving
        self._at_end = False
        self.window_idle: threading.Event | None = None  # FramePlayer.give_way_to

    # ---- GUI thread side ----
    def send(self, *cmd) -> None:
        self.commands.put(cmd)

    def drain(self) -> None:
        """Empty the frame queue (a decoder waiting for room wakes up)."""
        try:
            while True:
                self.out.get_nowait()
        except queue.Empty:
            pass

    def shutdown(self) -> None:
        self.stop.set()
        self.commands.put(None)
        self.drain()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(JOIN_TIMEOUT_S)
            if self.thread.is_alive():
                log.warning("the video decoder thread did not stop within %.0f s", JOIN_TIMEOUT_S)
        self.drain()

    # ---- decoder thread ----
    def _check(self) -> None:
        if self.stop.is_set() or self._serving < self.gen:
            raise _Stopped

    def _check_open(self) -> None:
        if self.stop.is_set() or self._serving < self.open_gen:
            raise _Stopped

    def _put(self, msg, stale) -> bool:
        """Deliver a message, waiting for room; give up when it went stale or on shutdown."""
        while not self.stop.is_set():
            if stale():
                return False
            try:
                self.out.put(msg, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                if self._streaming:
                    try:
                        cmd = self.commands.get_nowait()
                    except queue.Empty:
                        cmd = "next"
                else:
                    cmd = self.commands.get()
                if cmd is None or self.stop.is_set():
                    return
                if self.window_idle is not None:  # the window is drawing: decode once it is done
                    self.window_idle.wait(GIVE_WAY_S)
                try:
                    if cmd == "next":
                        self._stream_one()
                    elif not self._serve(cmd):
                        return
                except _Stopped:
                    self._streaming = False
                except MediaError as e:
                    self._streaming = False
                    self._fail(str(e))
                except Exception as e:  # keep the player usable; the message names what broke
                    log.exception("video decoder failed")
                    self._streaming = False
                    self._fail(f"{self._where()}unexpected error while decoding ({type(e).__name__}: "
                               f"{first_line(e)})")
        finally:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def _fail(self, message: str) -> None:
        gen = self._serving
        self._put(("failed", gen, message), lambda: gen < self.gen)

    def _where(self) -> str:
        return f"{self._reader.path}: " if self._reader is not None else ""

    def _serve(self, cmd) -> bool:
        """Handle one command; False ends the thread."""
        op, gen, *args = cmd
        if op == "open":
            if gen < self.open_gen:
                return True  # another file was asked for since
            return self._open(gen, *args)
        if gen < self.gen:
            return True  # superseded by a newer seek/open
        self._serving = gen
        if op == "show":
            self._show(*args)
        elif op == "stream":
            self._streaming = self._reader is not None and not self._at_end
        elif op == "pause":
            self._streaming = False
        return True

    def _open(self, gen: int, path: str, index: PacketIndex | None = None) -> bool:
        self._serving = gen
        self._streaming, self._sent, self._at_end = False, None, False
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        try:
            self._reader = _Reader(path, self.max_side, self._check_open, index)
        except _Stopped:
            return not self.stop.is_set()
        except MediaError as e:
            return self._fail_open(gen, str(e))
        except Exception as e:
            log.exception("opening %s failed", path)
            return self._fail_open(gen, f"{path}: cannot read it as a video ({type(e).__name__}: {first_line(e)})")
        self._put(("opened", gen, self._reader.info), lambda: gen < self.open_gen)
        if gen == self.gen:  # no seek asked for meanwhile: show the first frame
            try:
                self._show(None, 0, False)
            except MediaError as e:
                self._reader.close()
                self._reader = None
                return self._fail_open(gen, str(e))
        return True

    def _fail_open(self, gen: int, message: str) -> bool:
        """Nothing to decode any more: say so and end the thread (the next open starts another)."""
        self.exiting = True
        self._put(("open_failed", gen, message), lambda: gen < self.open_gen)
        return False

    def _show(self, seconds: float | None, index: int | None, stream: bool) -> None:
        reader = self._reader
        if reader is None:
            return
        if index is None:
            index = reader.info.index_at(seconds)
        index = min(max(index, 0), reader.info.frame_count - 1)
        frame = reader.frame_at(index, self._check)
        rgb = reader.rgb(frame)
        gen = self._serving
        self._sent, self._at_end = index, False
        self._put(("frame", gen, rgb, float(reader.info.times[index]), index, True, 0), lambda: gen < self.gen)
        self._streaming = stream

    def _stream_one(self) -> None:
        """Decode the frame after the last one sent and queue it; at the end, queue 'end'."""
        reader, gen = self._reader, self._serving
        if reader is None or self._sent is None:
            self._streaming = False
            return
        info, skipped = reader.info, 0
        while True:
            index = self._sent + 1
            if index >= info.frame_count:
                self._streaming, self._at_end = False, True
                self._put(("end", gen), lambda: gen < self.gen)
                return
            frame = reader.frame_at(index, self._check)
            self._sent = index
            if index + 1 < info.frame_count and self._late(gen, info.times[index + 1]):
                skipped += 1  # its successor is due already: it would only be dropped
                self._check()
                continue
            rgb = reader.rgb(frame)
            if not self._put(("frame", gen, rgb, float(info.times[index]), index, False, skipped),
                             lambda: gen < self.gen):
                self._streaming = False
            return

    def _late(self, gen: int, seconds: float) -> bool:
        clock = self.clock
        if clock is None or clock[0] != gen:
            return False
        _, t0, pos0 = clock
        return seconds <= pos0 + (time.monotonic() - t0)


def _shutdown_all(decoders: list) -> None:
    while decoders:
        decoders.pop().shutdown()


class FramePlayer(QObject):
    """Owned by the GUI thread: asks the decoder thread for frames and shows them when due.

    Signals: opened(VideoInfo), failed(str: one line), frame(rgb (h, w, 3) uint8, seconds),
    ended(). `shown` and `dropped` count the frames shown and the frames skipped because they
    were late (reset them with reset_counts())."""

    opened = Signal(object)
    failed = Signal(str)
    frame = Signal(object, float)
    ended = Signal()

    def __init__(self, parent: QObject | None = None, max_side: int = MAX_SIDE, queue_size: int = QUEUE_SIZE):
        super().__init__(parent)
        self.max_side, self.queue_size = max_side, queue_size
        self._decoders: list[_Decoder] = []  # started, not yet shut down (the newest last)
        self._window_idle: threading.Event | None = None  # give_way_to
        self._finalizer = weakref.finalize(self, _shutdown_all, self._decoders)
        self._gen = 0
        self._open_gen = 0
        self._info: VideoInfo | None = None
        self._index: int | None = None  # frame on screen
        self._pending: int | None = None  # frame asked for and not shown yet (None: unknown or none)
        self._waiting = False  # an open/seek/step is on its way
        self._playing = False
        self._t0 = 0.0  # monotonic time when playback (re)started ...
        self._pos0 = 0.0  # ... from the frame at this time
        self._next = None  # a message taken from the queue, not yet due
        self._held: deque = deque()  # answers to the open kept while the queue was emptied
        self.shown = 0
        self.dropped = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._pump)

    # ---- state ----
    @property
    def info(self) -> VideoInfo | None:
        return self._info

    @property
    def position(self) -> float:
        """Seconds of the frame on screen (0 before the first)."""
        if self._info is None or self._index is None:
            return 0.0
        return float(self._info.times[self._index])

    @property
    def index(self) -> int | None:
        """Index of the frame on screen."""
        return self._index

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def thread_alive(self) -> bool:
        return any(d.thread.is_alive() for d in self._decoders)

    def reset_counts(self) -> None:
        self.shown = self.dropped = 0

    def give_way_to(self, window_idle: threading.Event) -> None:
        """Decode only while this event is set (at most GIVE_WAY_S later): the window's redraw of
        the words seeks the player, and the decoder's Python took turns for the GIL with the rest
        of that redraw and its paint (Engine.hold clears the event while the window draws)."""
        self._window_idle = window_idle
        for dec in self._decoders:
            dec.window_idle = window_idle

    # ---- requests ----
    def start(self) -> None:
        """Start the decoder thread now, idle until a request: open() then reuses it. Starting a
        thread waits for the C library's loader lock, which another thread's dlopen holds for as
        long as it runs (the engine loading torch's libraries: ~100 ms); started ahead, open()
        never waits for it."""
        self._decoder(new=True)

    def open(self, path: str | Path, index: PacketIndex | None = None) -> None:
        """Open a video on the decoder thread: opened(info) then its first frame, or failed(message).
        `index`: the file's packets as listed already (LoadedClip.packets): not listed again."""
        self._stop_playing()
        self._gen += 1
        self._open_gen = self._gen
        self._info, self._index, self._pending, self._next = None, None, None, None
        self._held.clear()
        dec = self._decoder(new=True)
        dec.open_gen = dec.gen = self._gen
        dec.drain()
        dec.send("open", self._gen, str(path), index)
        self._waiting = True
        self._schedule()

    def close(self) -> None:
        """Stop the decoder thread and wait for it. The player can open another file afterwards."""
        self._stop_playing()
        self._gen += 1
        self._waiting = False
        self._info, self._index, self._pending, self._next = None, None, None, None
        self._held.clear()
        self._timer.stop()
        _shutdown_all(self._decoders)

    def play(self) -> None:
        if self._info is None or self._playing:
            return
        dec = self._decoders[-1]
        self._playing = True
        if self._pending is None and self._index is not None and self._index >= self._info.frame_count - 1:
            self._request(index=0)  # at the end: from the start again
            return
        self._restart_clock(self.position)
        dec.send("stream", self._gen)
        self._schedule()

    def pause(self) -> None:
        if not self._playing:
            return
        self._stop_playing()
        if self._decoders:
            self._decoders[-1].send("pause", self._gen)
        self._schedule()

    def toggle(self) -> None:
        if self._playing:
            self.pause()
        else:
            self.play()

    def seek(self, seconds: float) -> None:
        """Show the last frame whose time is <= seconds (keeps playing from there if playing)."""
        if self._info is None:
            if self._decoders and self._waiting and not self._decoders[-1].exiting:
                self._request(seconds=float(seconds))  # still opening: seek when it is open
            return
        self._request(index=self._info.index_at(seconds))

    def seek_frame(self, index: int) -> None:
        """Show frame `index` (clamped to the video)."""
        if self._info is not None:
            self._request(index=min(max(int(index), 0), self._info.frame_count - 1))

    def step(self, n: int) -> None:
        """Pause and move n frames (negative: back)."""
        if self._info is None:
            return
        self.pause()
        base = self._pending if self._pending is not None else self._index
        if base is None:
            return
        target = min(max(base + n, 0), self._info.frame_count - 1)
        if target != base:
            self._request(index=target)

    def _request(self, seconds: float | None = None, index: int | None = None) -> None:
        if not self._playing and index is not None and index == self._index and self._pending is None:
            return  # on screen already
        self._gen += 1
        dec = self._decoders[-1]
        dec.gen = self._gen
        self._drain(dec)
        self._next = None
        if self._playing:
            dec.clock = None  # the clock restarts from the frame asked for
        dec.send("show", self._gen, seconds, index, self._playing)
        self._pending = index
        self._waiting = True
        self._schedule()

    def _decoder(self, new: bool = False) -> _Decoder:
        """The live decoder; with new=True a fresh one when there is none or it is exiting."""
        self._decoders[:] = [d for d in self._decoders if d.thread.is_alive() or not d.thread.ident]
        if self._decoders and not self._decoders[-1].exiting:
            return self._decoders[-1]
        dec = _Decoder(self.max_side, self.queue_size)
        dec.window_idle = self._window_idle
        dec.thread.start()
        self._decoders.append(dec)
        return dec

    def _stop_playing(self) -> None:
        self._playing = False
        for dec in self._decoders:
            dec.clock = None

    def _restart_clock(self, pos0: float) -> None:
        self._t0, self._pos0 = time.monotonic(), pos0
        if self._decoders:
            self._decoders[-1].clock = (self._gen, self._t0, pos0)

    def _due(self, seconds: float) -> float:
        """The monotonic time when the frame at `seconds` is due (while playing)."""
        return self._t0 + (seconds - self._pos0)

    # ---- the GUI thread's side of the queue ----
    def _drain(self, dec: _Decoder) -> None:
        """Empty the queue (a decoder waiting for room goes on at once), keeping the answer to the
        open if it is there: a seek asked for right after open must not lose it."""
        try:
            while True:
                msg = dec.out.get_nowait()
                if msg[0] in ("opened", "open_failed") and msg[1] == self._open_gen:
                    self._held.append(msg)
        except queue.Empty:
            pass

    def _take(self):
        if self._next is not None:
            msg, self._next = self._next, None
            return msg
        if self._held:
            return self._held.popleft()
        if not self._decoders:
            return None
        try:
            return self._decoders[-1].out.get_nowait()
        except queue.Empty:
            return None

    @Slot()
    def _pump(self) -> None:
        """Handle what the decoder sent: answers at once, playback frames when they are due."""
        candidate = None  # the latest due playback frame
        ended = False
        while True:
            msg = self._take()
            if msg is None:
                break
            kind, gen = msg[0], msg[1]
            if kind == "opened":
                if gen == self._open_gen and self._info is None:
                    self._info = msg[2]
                    self.opened.emit(self._info)
                continue
            if kind == "open_failed":
                if gen == self._open_gen:
                    self._info, self._index = None, None  # its thread has ended: nothing to play
                    self._fail(msg[2])
                continue
            if gen != self._gen:
                continue  # an older request's
            if kind == "failed":
                self._fail(msg[2])
                continue
            if kind == "frame" and msg[5]:  # the answer to open/seek/step: show it now
                candidate = None
                self._waiting, self._pending = False, None
                if self._playing:
                    self._restart_clock(msg[3])
                self._show(msg)
                continue
            if not self._playing:
                self._next = msg  # keep it for when playback resumes
                break
            now = time.monotonic()
            if kind == "frame":
                self.dropped += msg[6]  # skipped by the decoder: late already
                if self._due(msg[3]) > now:
                    self._next = msg
                    break
                if candidate is not None:
                    self.dropped += 1  # its successor is due too
                candidate = msg
                continue
            if kind == "end":
                if candidate is not None:
                    self._show(candidate)
                    candidate = None
                end = self._info.times[-1] + 1 / self._info.fps if self._info is not None else self._pos0
                if self._due(end) > now:
                    self._next = msg
                    break
                self._stop_playing()
                ended = True
                break
        if candidate is not None:
            self._show(candidate)
        self._schedule()
        if ended:
            self.ended.emit()

    def _show(self, msg) -> None:
        _, gen, rgb, seconds, index, _, _ = msg
        if gen != self._gen:
            return  # a receiver of the last signal asked for another frame meanwhile
        self._index = index
        self.shown += 1
        self.frame.emit(rgb, seconds)

    def _fail(self, message: str) -> None:
        self._stop_playing()
        self._waiting, self._pending, self._next = False, None, None
        self.failed.emit(message)

    def _schedule(self) -> None:
        """Wake when the next frame is due (playing), soon (waiting for an answer), or not at all."""
        if self._playing and not self._waiting and self._next is not None:
            msg = self._next
            due = self._due(msg[3] if msg[0] == "frame" else
                            (self._info.times[-1] + 1 / self._info.fps if self._info else 0.0))
            delay = max(0, math.ceil((due - time.monotonic()) * 1000))
            self._timer.start(delay)
        elif self._playing or self._waiting:
            self._timer.start(POLL_MS)
        else:
            self._timer.stop()
