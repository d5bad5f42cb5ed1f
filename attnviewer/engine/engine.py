"""The window's side of the engine: submits jobs, cancels superseded ones, hands back what the
engine says as Qt signals on the GUI thread, shuts the engine down cleanly.

The engine (engine/host.py, engine/worker.py) runs in a process of its own: torch's import, the
models and the search no longer take turns with the window for one interpreter's lock, so the
window never waits for them (it did: 17-75 ms gaps that no pacing between the two removed), and a
crash of the engine (a native library's fault, the system's out-of-memory killer) ends its jobs
with a message instead of ending the app. The window's process never imports torch.

`ATTNVIEWER_ENGINE=thread` runs the same engine on a thread of the window's process instead
(engine/process.py).
"""
from __future__ import annotations

import logging
import weakref
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, QSocketNotifier, QTimer, Signal

from . import process
from .exports import ExportRequest
from .worker import WHATIF, Job
from .wire import Receiver
from ..errors import first_line
from ..files import remove_temporaries
from ..settings import DecodeSettings

log = logging.getLogger(__name__)
QUIT_WAIT_S = 3.0  # how long shutdown waits for the engine to stop before ending its process
# The last message of an item (a job, an export, a preview): after it, a crash has nothing to fail.
FINAL = {"finished", "failed", "probed", "exported", "export_failed", "export_cancelled", "result_opened",
         "preview_ready", "preview_failed"}
WARM_UP_DELAY_MS = 2000  # after the first caption: the export look-ups wait until the window has painted it
__all__ = ["Engine", "WHATIF"]


class Engine(QObject):
    """Owned by the window (GUI thread). Its signals are the worker's outputs (worker.OUTPUTS)."""

    media_ready = Signal(int, str, object)
    status = Signal(int, str, str)
    progress = Signal(int, str, int, int)
    step = Signal(int, str, object)
    places = Signal(int, str, object)
    note = Signal(int, str, str)
    loading = Signal(int, str, str)
    load_progress = Signal(int, str, int, int)
    cached_models = Signal(list)
    finished = Signal(int, str, object)
    tree = Signal(int, str, object)
    probed = Signal(int, str, object)
    failed = Signal(int, str, str)
    devices = Signal(list)
    export_look_ups = Signal(object, object)
    exported = Signal(int, str)
    export_failed = Signal(int, str)
    export_cancelled = Signal(int, str)
    export_progress = Signal(int, int, int)
    preview_ready = Signal(int, object)
    preview_failed = Signal(int, str)
    result_opened = Signal(int, object, object)
    warned = Signal(str)  # a warning in the engine's process, one line (app.route_warnings shows it)

    def __init__(self, parent: QObject | None = None, in_thread: bool | None = None):
        super().__init__(parent)
        self.in_thread = process.in_thread() if in_thread is None else in_thread
        self._ids = 0
        self._running: dict[str, Job | ExportRequest] = {}  # slot (or "export") -> its newest job
        # id -> (job, export or preview; slot; the file an export writes, else None): no answer yet
        self._open: dict[int, tuple[str, str, str | None]] = {}
        self.latest: dict[str, int] = {}  # slot -> newest job id
        self._closed = False
        self.broken: str | None = None  # why the engine could not start: every job fails with it
        self._warmed = False
        self.look_ups: tuple | None = None  # (font families, MP4 encoder or None), once the engine sent them
        self.export_look_ups.connect(lambda fonts, codec: setattr(self, "look_ups", (tuple(fonts), codec)))
        self.finished.connect(self._warm_exports)
        self._start_host()

    # -- the engine's process (or thread) ----------------------------------------------------------

    def _start_host(self) -> None:
        self._conn, self._host = process.start(self.in_thread)
        self._receiver = Receiver()
        self._heard = False  # the engine has sent something (it started): see _lost
        self._notifier = QSocketNotifier(self._conn.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._read)
        # If the window is never closed (the app quits, the interpreter exits), still stop it.
        self._finalizer = weakref.finalize(self, _quit, self._conn, self._host)

    def running(self) -> bool:
        """Whether the engine's process (or thread) is still alive."""
        return self._host.alive()

    def _read(self) -> None:
        """One message of the engine, as the signal of the same name; the next at the next turn of
        the event loop (the notifier fires again while any wait), so that timers and paints run
        between two (as they did between queued signals: several read at once, with their slots,
        were 10-48 ms of GUI work in one turn). The notifier is off meanwhile: a slot that runs a
        nested event loop would have it fire without end (and call this again within itself)."""
        if self._closed:
            return
        self._notifier.setEnabled(False)
        try:
            if self._conn.poll():
                name, args = self._conn.recv()
                self._heard = True
                if name in FINAL:
                    self._open.pop(args[0], None)
                getattr(self, name).emit(*self._receiver.args(args))
        except (EOFError, OSError):
            self._lost()
        except Exception:  # a message that does not unpickle here: dropped, said in the log
            log.exception("a message from the engine could not be read")
        finally:
            if not self._closed:
                self._notifier.setEnabled(True)

    def _lost(self) -> None:
        """The engine's process ended by itself (a crash): its jobs end with a message, and a new
        engine starts for what the window asks next (its models load again). One that ended before
        it said anything could not start at all: another would end the same way, so every job
        fails with that line instead (`broken`)."""
        if self._closed:
            return
        self._notifier.setEnabled(False)
        code = self._host.wait(1.0)
        said = f" (exit code {code})" if code is not None else ""
        items, self._open, self._running = self._open, {}, {}
        for path in (Path(p) for _, _, p in items.values() if p):  # their writer died before it removed them
            remove_temporaries(path.parent, lambda name, target, out=path.name: target == out)
        self._finalizer.detach()
        self._conn.close()
        if self._heard:
            why = f"the engine stopped unexpectedly{said}"
            self._start_host()
            then = "it has started again: try again"
        else:
            why = self.broken = f"the engine could not start{said}; its messages are in the terminal the app was started from"
            self._closed = True
            then = ""
        log.error("%s", why)
        for key, (what, slot, _) in items.items():
            self._fail(key, what, slot, f"{why}; {then}" if then else why)

    def _fail(self, key: int, what: str, slot: str, message: str) -> None:
        """An item's failure, as the signal its asker waits for."""
        if what == "preview":
            self.preview_failed.emit(key, message)
        elif what == "export":
            self.export_failed.emit(key, message)
        else:
            self.failed.emit(key, slot, message)

    def _ask(self, key: int, what: str, slot: str, item, writes: str | None = None) -> bool:
        """Send a job, an export or a preview (`writes`: the file an export writes), recorded until
        its last message comes; where that cannot be (an engine that could not start, an item that
        does not pickle) it fails at once (after this call, as an answer would). False then."""
        if self.broken is None:
            if what == "preview":  # (a newer preview supersedes it: no answer will come)
                self._open = {k: v for k, v in self._open.items() if v[0] != "preview"}
            self._open[key] = (what, slot, writes)
            error = self._send(what if what != "preview" else "export", item)
            if error is None:
                return True
            self._open.pop(key, None)
        else:
            error = self.broken
        QTimer.singleShot(0, self, partial(self._fail, key, what, slot, error))
        return False

    def _send(self, name: str, *args) -> str | None:
        """None, or why the message could not be sent (one line)."""
        if self._closed:
            return self.broken or "the engine has stopped"
        try:
            self._conn.send((name, args))
        except (OSError, ValueError):  # the engine is gone: _read says so
            log.debug("the engine did not take %s", name)
        except Exception as e:  # (something in it that cannot be pickled)
            log.exception("could not send %s to the engine", name)
            return f"could not hand this to the engine ({type(e).__name__}: {first_line(e)})"
        return None

    # -- what the window asks --------------------------------------------------------------------

    def export(self, request: ExportRequest) -> int:
        """Queue an export (or a preview, or opening a result) for the engine; returns its id.
        A preview supersedes the previous preview; an export can be stopped with cancel_export."""
        self._ids += 1
        request.id = self._ids
        writes = not request.preview and request.output != "open"
        if self._ask(request.id, "preview" if request.preview else "export", "export", request,
                     request.path if writes else None) and writes:
            self._running["export"] = request  # shutdown() cancels it with the caption jobs
        return request.id

    def cancel_export(self, request_id: int | None = None) -> None:
        """Stop the running export (between animation frames; a figure in progress finishes)."""
        req = self._running.get("export")
        if req is not None and (request_id is None or req.id == request_id):
            self.cancel("export")

    def open_result(self, path: str) -> int:
        """Load a saved result and its input in the engine: result_opened or export_failed."""
        return self.export(ExportRequest("open", str(path)))

    def claim(self, slot: str, job: int) -> None:
        """Make `job` (an opened result) the slot's newest: its running caption is cancelled."""
        self.cancel(slot)
        self.latest[slot] = job
        self._send("claim", slot, job)

    def submit(self, kind: str, source: str, model: str, settings: DecodeSettings, device: str = "auto",
               slot: str = "main", trust_pickle: bool = False, options: dict | None = None) -> int:
        """Start a job; the running job of the same slot is cancelled. Returns the new job id."""
        self._ids += 1
        return self._start(Job(self._ids, kind, source, model, settings, device, slot, trust_pickle, dict(options or {})))

    def probe(self, kind: str, source: str, model: str, settings: DecodeSettings, probe, device: str = "auto",
              trust_pickle: bool = False, options: dict | None = None) -> int:
        """Ask the model a what-if question about an input (engine/probes.py) in the "whatif" slot:
        a newer probe supersedes it, a decoding of the columns does not. Answers come by `probed`
        (or `failed`); the job's id is returned."""
        self._ids += 1
        return self._start(Job(self._ids, kind, source, model, settings, device, WHATIF, trust_pickle,
                               dict(options or {}), probe=probe))

    def _start(self, job: Job) -> int:
        self.cancel(job.slot)
        self.latest[job.slot] = job.id
        if self._ask(job.id, "job", job.slot, job):
            self._running[job.slot] = job
        return job.id

    def warm(self) -> None:
        """Have the engine import torch now, if it has not yet (its process does at its start)."""
        self._send("warm")

    def scan_cache(self) -> None:
        """Have the engine list the models in the Hugging Face cache (cached_models)."""
        self._send("scan")

    def latest_job(self, slot: str = "main") -> int | None:
        return self.latest.get(slot)

    def cancel(self, slot: str = "main") -> None:
        job = self._running.pop(slot, None)
        if job is not None:
            if isinstance(job, Job):
                self._open.pop(job.id, None)  # (a cancelled job says nothing more; an export says so)
            self._send("cancel", job.id)

    def stop(self) -> None:
        """The user's Stop: every running job ends, and a model they were loading stops loading."""
        for slot, job in list(self._running.items()):
            if slot != "export":
                self._running.pop(slot)
                self._open.pop(job.id, None)
                self._send("stop", job.id)

    def shutdown(self) -> None:
        """Cancel everything and wait for the engine to stop (its process ended if it does not)."""
        if self._closed:
            return
        self._closed = True
        self._notifier.setEnabled(False)
        self._running.clear()
        self._finalizer()

    def _warm_exports(self) -> None:
        """After the first caption, once the window has painted it: the engine makes the Export
        dialog's slow look-ups (font list, MP4 encoder probe: ~0.4 s) and sends them (look_ups),
        so that the dialog does not stall when it first opens."""
        if not self._warmed:
            self._warmed = True
            QTimer.singleShot(WARM_UP_DELAY_MS, self, partial(self._send, "look_up_exports"))


def _quit(conn, host_) -> None:
    """Ask the engine to quit and close the window's end (what the engine still sends fails at
    once instead of waiting for a reader); wait for it (QUIT_WAIT_S); end its process if it does not."""
    try:
        conn.send(("quit", ()))
    except (OSError, ValueError):
        pass
    conn.close()
    host_.wait(QUIT_WAIT_S)
    if host_.alive():
        host_.end()  # (a model load that cannot stop half-way)
