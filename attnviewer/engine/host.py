"""The engine's side of the wire (engine/wire.py): the worker's process, or a thread of the window's
(tests that change the engine's code in their own process). No Qt here.

One thread receives the window's messages: a job or an export is queued for the worker, a
"cancel" sets the event the running job checks between words (a busy worker never reads its
queue). The worker runs the queue in order on the serving thread. What it emits goes back as a
message of the same name. As the engine's process starts, a thread of its own imports torch and the
model code while the window starts and the first input is read: the import no longer shares the
window's interpreter (its lock, its garbage collector), so nothing waits for the window any more.
"""
from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import warnings
from functools import partial

from .wire import Sender

log = logging.getLogger(__name__)
RECEIVER_THREAD = "attnviewer-engine-receiver"
IMPORT_THREAD = "attnviewer-torch-import"
ORPHAN_EXIT_S = 2.0  # after the window quit (or died), the engine's process ends within this
FIRST_READ_WAIT_S = 3.0  # the longest torch's import waits for the read of a video the app started on
ENGINE_NICE = 10  # how far the engine's process stands back for the window's (os.nice)


class Host:
    """The worker, its queue and the jobs the window may still cancel."""

    def __init__(self, sender: Sender):
        from .worker import OUTPUTS, Worker  # (here: the engine's process starts torch's import first)

        self.worker = Worker()
        for name in OUTPUTS:
            getattr(self.worker, name).connect(partial(sender.send, name))
        self.todo: queue.Queue = queue.Queue()
        self.live: dict[int, object] = {}  # id -> a queued or running Job or ExportRequest

    def receive(self, conn, orphaned=None) -> None:
        """The window's messages until it quits or its end of the connection closes; then
        `orphaned()`, if given."""
        while True:
            try:
                name, args = conn.recv()
            except (EOFError, OSError):  # the window's process is gone: stop too
                name, args = "quit", ()
            if not self.handle(name, *args):
                if orphaned is not None:
                    orphaned()
                return

    def handle(self, name: str, *args) -> bool:
        """One message; False when it was the last."""
        w = self.worker
        if name == "job":
            job = args[0]
            w.latest[job.slot] = job.id
            self._queue(job.id, job, partial(w.run, job))
        elif name == "export":
            req = args[0]
            if req.preview:
                w.latest_preview = req.id
            self._queue(req.id, req, partial(w.export, req))
        elif name in ("cancel", "stop"):
            item = self.live.get(args[0])
            if item is not None:
                if name == "stop":
                    item.stopped = True
                item.cancel.set()
        elif name == "claim":  # a result opened from a file is the slot's newest
            slot, job = args
            w.latest[slot] = job
        elif name == "scan":
            self.todo.put((None, w.scan_cache))
        elif name == "warm":
            self.todo.put((None, w.warm))
        elif name == "look_up_exports":
            self.todo.put((None, w.look_up_exports))
        elif name == "quit":
            for item in list(self.live.values()):
                item.cancel.set()
            self.todo.put(None)
            return False
        return True

    def _queue(self, key: int, item, run) -> None:
        self.live[key] = item
        self.todo.put((key, run))

    def work(self) -> None:
        """Run the queue until the window quits."""
        while (entry := self.todo.get()) is not None:
            key, run = entry
            try:
                run()
            except Exception:  # (the worker reports its jobs' failures itself)
                log.exception("the engine's %s failed", getattr(run, "func", run))
            finally:
                self.live.pop(key, None)


def serve(conn, ahead: threading.Thread | None = None, first_read: threading.Event | None = None) -> None:
    """The engine: receive on a thread, work on this one, until the window quits. `ahead`: the
    thread importing torch and the model code as the engine's process started; once it is done,
    the window is told the devices torch offers. `first_read`: set once the first input is read
    (or could not be)."""
    sender = Sender(conn)
    host = Host(sender)
    if first_read is not None:
        for name in ("media_ready", "failed"):
            getattr(host.worker, name).connect(lambda *args: first_read.set())
    if ahead is not None:
        warnings.showwarning = partial(_tell_warning, sender)
        threading.Thread(target=_devices, args=(ahead, host.worker), daemon=True).start()
    orphaned = _exit_soon if ahead is not None else None  # (the engine's own process only)
    threading.Thread(target=host.receive, args=(conn, orphaned), name=RECEIVER_THREAD, daemon=True).start()
    host.work()


def _exit_soon() -> None:
    """The window quit or is gone: what does not stop at a cancel (a model's load, a figure being
    drawn, a masking probe) must not go on for nobody, on every core but one."""
    timer = threading.Timer(ORPHAN_EXIT_S, os._exit, (0,))
    timer.daemon = True
    timer.start()


def _import_ahead(first_read: threading.Event) -> None:
    from .torch_import import import_model_code, import_torch

    first_read.wait(FIRST_READ_WAIT_S)
    try:
        _leave_a_core(import_torch())
        import_model_code()
    except Exception:  # (torch missing or broken: the first job's own import says so in one line)
        log.debug("importing torch ahead failed", exc_info=True)


def _leave_a_core(torch) -> None:
    """torch computes on one thread fewer than the cores (at least one), unless OMP_NUM_THREADS
    says otherwise: the window's process draws on the core left (with all of them busy, a redraw's
    12 ms of work took 25 ms)."""
    if "OMP_NUM_THREADS" in os.environ:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(max(1, cores - 1))


def _devices(ahead: threading.Thread, worker) -> None:
    ahead.join()
    try:
        worker.warm()
    except Exception:
        log.debug("importing torch ahead failed", exc_info=True)


def _tell_warning(sender: Sender, message, category, filename, lineno, file=None, line=None) -> None:
    """A warning in the engine's process (torch loading a model, numpy, matplotlib drawing an
    export): one escaped line, shown by the window's status bar and written to its log."""
    from ..errors import warning_line

    try:
        sender.send("warned", warning_line(message, category))
    except (OSError, ValueError):  # the window is gone
        pass


# What reading an input and the window's messages need, imported before torch's import starts
# beside them: two threads importing at once can hand each other half-built modules (Python accepts
# a partially initialized module where waiting would deadlock: "partially initialized module
# 'typing'" ended the engine's start once). Alone, 0.25-0.45 s, while the window imports Qt.
READING = ("attnviewer.engine.worker", "attnviewer.engine.probes", "attnviewer.domain", "attnviewer.kinds",
           "attnviewer.pipeline", "attnviewer.models.header", "attnviewer.media.frames", "attnviewer.media.text",
           "PIL.Image")
# What a video's read needs besides: imported with READING when the app starts on a video (and by
# an engine on the window's thread); otherwise by a video's job, after torch's import
# (Worker._video_reading): 40-60 ms sooner to torch, and to the first word of an image or a sentence.
VIDEO_READING = ("av",)


def import_reading(video: bool = True) -> None:
    """READING (and VIDEO_READING, if `video`), imported on this thread before the engine's other
    threads start."""
    import importlib

    for name in READING + (VIDEO_READING if video else ()):
        try:
            importlib.import_module(name)
        except ImportError:  # (reading an input of that kind will say so)
            log.debug("importing %s ahead failed", name, exc_info=True)


def main(argv: list[str]) -> None:
    """`python -m attnviewer.engine.host FD [FIRST]`: the engine's process, FD its end of the
    connection, FIRST the file the window opens first if the app was started on one. What reading
    needs is imported first (READING); then torch's import starts on a thread of its own, and the
    engine serves the window beside it. Only if FIRST is a video does the import wait for its read
    (FIRST_READ_WAIT_S at most): PyAV hands the interpreter's lock back and forth at every packet
    and frame, and beside the import's long C stretches a 10-minute clip took 2.5 s to read
    instead of 0.15 s; an image or a sentence is read as fast beside it."""
    import signal

    from multiprocessing.connection import Connection

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in the terminal is the window's to handle
    _behind_the_window()
    first_is_video = len(argv) >= 2 and _is_video(argv[1])
    import_reading(video=first_is_video)
    first_read = threading.Event()
    if not first_is_video:
        first_read.set()
    ahead = threading.Thread(target=_import_ahead, args=(first_read,), name=IMPORT_THREAD, daemon=True)
    ahead.start()
    serve(Connection(int(argv[0])), ahead, first_read)
    # Its work is done and said: end here, without the interpreter's teardown, where a C++ thread
    # of torch's or OpenCV's, still joinable, aborted the process ("terminate called without an
    # active exception", exit code -6) after an image or a video.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _behind_the_window() -> None:
    """The engine's process yields the processor to the window's: where both want a core (two
    cores, torch computing on one, anything else running), the scheduler gave the window's redraws
    and paints their turn late (a redraw of 6 ms of work took 20-40 ms). Nice values count
    within the user's session on most desktops, so other programs keep their share."""
    try:
        os.nice(ENGINE_NICE)
    except OSError:  # (not allowed here: the engine runs as before)
        log.debug("lowering the engine's priority failed", exc_info=True)


def _is_video(path: str) -> bool:
    from ..kinds import VIDEO, for_file

    return for_file(path) is VIDEO  # (as the window will open it: by suffix, else by its first bytes)


if __name__ == "__main__":
    main(sys.argv[1:])
