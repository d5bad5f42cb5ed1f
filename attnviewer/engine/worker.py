"""The bridge between the window and the models: one long-lived worker on one QThread.

The worker reads the input (an image, a video, a sentence: through its kind), loads models and
runs the one pipeline; it emits every generated word as a signal carrying plain Python/numpy data. torch is imported on the worker thread, on the first
job, so the window appears before any model is loaded; grad mode is per thread, so inference
mode is entered there too. Each job has an id; a new job of the same slot cancels the running
one (a threading.Event checked between words, since a busy worker never runs its event loop)
and jobs superseded while queued are skipped. The window drops anything of an older job id.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
import weakref
from concurrent.futures import Future, TimeoutError as FutureTimeout
from dataclasses import dataclass, field

import shiboken6
from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from ..settings import DecodeSettings
from ..errors import AttnViewerError, first_line, printable
from ..files import file_stamp
from .exports import ExportCancelled, ExportRequest, open_result, render_preview, write_export
from .torch_import import import_torch as _import_torch
from .torch_import import HEADER_CHECK, import_model_code as _import_model_code, quiet_import as _quiet_import

log = logging.getLogger(__name__)
WARM_UP_DELAY_MS = 2000  # after the first caption: the export look-ups wait until the window is idle
MODEL_CACHE_SIZE = 3
LOADER_THREAD = "attnviewer-model-loader"
LOAD_POLL_S = 0.05  # how often a job waiting for its model checks whether it was superseded
WHATIF = "whatif"  # the slot of what-if probes (Engine.probe)
PAINT_WAIT_S = 1.0  # the longest a job waits for the window to paint its input before torch's import
HOLD_MAX_S = 0.25  # the longest the engine gives way to the window's drawing (Engine.hold) at one time
PARK_WAIT_S = 0.004  # the longest a redraw waits for the engine to finish the word under way (Engine.park)


@dataclass
class Job:
    """Decode one input of one kind with one model: what the window asks the engine for."""

    id: int
    kind: str  # a kinds.KINDS name: caption, video, translate
    source: str  # a file, or the sentence itself
    model: str  # bundled name or checkpoint path
    settings: DecodeSettings
    device: str = "auto"
    slot: str = "main"  # "main" or "compare": each slot supersedes only its own jobs
    trust_pickle: bool = False
    options: dict = field(default_factory=dict)  # how the kind reads the input (video: reverse)
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    stopped: bool = False  # cancelled by the user's Stop (not superseded): a model it loads stops too
    probe: object = None  # a what-if probe (engine/probes.py) instead of a plain decoding
    painted: threading.Event = field(default_factory=threading.Event, repr=False)  # the window painted its input


class Cancelled(Exception):
    """Raised from a progress callback when the job was superseded: reading stops there."""


class Worker(QObject):
    """Lives on the engine thread. Its slots run there; its signals reach the GUI thread queued."""

    media_ready = Signal(int, str, object)  # job id, slot, the input as read (LoadedImage, LoadedClip, Sentence)
    status = Signal(int, str, str)  # job id, slot, what is happening
    progress = Signal(int, str, int, int)  # job id, slot, done, total (reading a long video)
    step = Signal(int, str, object)  # job id, slot, Step
    places = Signal(int, str, object)  # job id, slot, lens.Places: a transformer's token -> place map (before its first Step)
    note = Signal(int, str, str)  # job id, slot, the input is far from the model's training data (before the first word)
    loading = Signal(int, str, str)  # job id, slot, the model being loaded (not yet in the cache): the window shows it busy
    load_progress = Signal(int, str, int, int)  # job id, slot, tensors read, of total (a transformers folder)
    cached_models = Signal(list)  # [(folder, kind, label)]: the supported models in the user's Hugging Face cache
    finished = Signal(int, str, object)  # job id, slot, Result
    tree = Signal(int, str, object)  # job id, slot, whatif.tree.BeamTree: every candidate a beam search weighed
    probed = Signal(int, str, object)  # job id, slot, a probe's answer (probes.Branch, Masking, Attribution)
    failed = Signal(int, str, str)  # job id, slot, message for the user
    devices = Signal(list)  # the devices torch can use, once it is imported
    # file jobs (ExportRequest); the int is the request id
    exported = Signal(int, str)  # path written (for a result: its JSON)
    export_failed = Signal(int, str)  # message for the user (also: a result that cannot be opened)
    export_cancelled = Signal(int, str)  # stopped by the user; the target file is untouched
    export_progress = Signal(int, int, int)  # frames done, of total (animations)
    preview_ready = Signal(int, object)  # (H, W, 3) uint8 RGB
    preview_failed = Signal(int, str)
    result_opened = Signal(int, object, object)  # Result, its input as read again

    def __init__(self):
        super().__init__()
        self.latest: dict[str, int] = {}  # slot -> newest job id; written by the GUI thread
        self._models: dict[tuple[str, str], object] = {}
        self._loads: dict[tuple, _Load] = {}  # models being loaded on a loader thread, by key
        self._devices: list[str] | None = None
        self._last_media = None  # (key, media): the last input read
        self._encoded = None  # (model, media as read, pipeline.Encoded): the last input's encoding
        self.latest_preview = 0  # newest preview id; written by the GUI thread
        self._warm = False  # the export dialog's slow look-ups done once, here, not on the GUI thread
        self.wait_for_paint = False  # set by a window that reports its input painted (Engine.media_painted)
        self.window_idle = threading.Event()  # cleared while the window draws (Engine.hold): see _give_way
        self.window_idle.set()
        self.parked = threading.Event()  # set while no job runs here, or one waits in _give_way (Engine.park)
        self.parked.set()

    @Slot(object)
    def export(self, req: ExportRequest) -> None:
        """Write an export, render a preview or open a result, off the GUI thread."""
        if req.preview and req.id != self.latest_preview:
            return  # superseded while it waited in the queue
        if req.cancel.is_set():
            self.export_cancelled.emit(req.id, req.path)
            return
        try:
            if req.output == "open":
                result, image = open_result(req.path)
                self.result_opened.emit(req.id, result, image)
            elif req.preview:
                self.preview_ready.emit(req.id, render_preview(req))
            else:
                write_export(req, lambda done, total: self.export_progress.emit(req.id, done, total))
                self.exported.emit(req.id, req.path)
        except ExportCancelled:
            self.export_cancelled.emit(req.id, req.path)
        except Exception as e:
            if not isinstance(e, AttnViewerError):
                log.exception("%s %s failed", req.output, "preview" if req.preview else "export")
            message = printable(e) if isinstance(e, AttnViewerError) else _unexpected(e)  # Qt drops a name's odd bytes: \xNN
            (self.preview_failed if req.preview else self.export_failed).emit(req.id, message)

    @Slot()
    def scan_cache(self) -> None:
        """The supported models in the user's Hugging Face cache, read from disk here (each
        snapshot's config, tokenizer files and weight headers: too slow for the GUI thread)."""
        self._give_way()  # (started with the window: the panes it builds for the first input go first)
        from ..model_folders import cache_label, cached_folders, folder_kind
        from ..errors import CheckpointError

        found = []
        try:
            for folder in cached_folders():
                try:
                    found.append((str(folder), folder_kind(folder), printable(cache_label(folder))))
                except CheckpointError:
                    continue
        except OSError:
            log.exception("reading the Hugging Face cache failed")
        self.cached_models.emit(found)

    @Slot()
    def warm(self) -> None:
        """Import torch now, while the window is idle: an input opened later does not wait for it
        (the import holds the GIL in stretches of up to ~0.4 s, which the window would feel)."""
        self._torch()

    def _torch(self):
        """torch, imported on this thread; the first time, the devices it offers are announced."""
        torch = _import_torch()
        _import_model_code()  # all of it before a loader thread starts: never two threads importing at once
        if self._devices is None:
            self._devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
            self.devices.emit(self._devices)
        return torch

    @Slot(object)
    def run(self, job: Job) -> None:
        if self.latest.get(job.slot) != job.id or job.cancel.is_set():
            return  # superseded while it waited in the queue
        self.parked.clear()
        try:
            self._run(job)
        except Cancelled:
            return
        except AttnViewerError as e:
            self.failed.emit(job.id, job.slot, printable(e))
        except Exception as e:  # keep the app alive; the message names what broke
            log.exception("job %s failed", job.id)
            self.failed.emit(job.id, job.slot, _unexpected(e))
        finally:
            self.parked.set()

    def _run(self, job: Job) -> None:
        self._give_way(job)  # the panes the window builds for this input go first (imports here too hold the GIL)
        from .. import domain, kinds, pipeline

        kind = kinds.get(job.kind)
        self.status.emit(job.id, job.slot, f"reading {printable(_short(job.source))}")
        _quiet_import(HEADER_CHECK)  # (the read checks the model's header) one thread at a time: see torch_import
        media = self._media(job, kind)
        if job.cancel.is_set():
            return
        self.media_ready.emit(job.id, job.slot, media)
        if self.wait_for_paint and "torch" not in sys.modules:
            self._await_paint(job)
        self._give_way(job)  # (a redraw, panes still being built)
        torch = self._torch()
        model = self._model(job, kind)
        if job.cancel.is_set():
            return  # loading cannot stop half-way; the model stays cached for the job that superseded it
        fitted = kind.fit(media, model)
        if fitted is not media:  # e.g. the sentence's unknown words, known now
            self.media_ready.emit(job.id, job.slot, fitted)
        if job.probe is not None:
            self._probe(job, kind, model, media, fitted)
            return
        self.status.emit(job.id, job.slot, "decoding")
        tree = _tree_for(model, job.settings)
        first = True

        def warn(line: str | None) -> None:  # judged once the encoder ran: shown before the first word
            if line:
                self.note.emit(job.id, job.slot, line)

        with torch.inference_mode(), domain.told(warn):
            encoded = self._encoding(kind, model, media, fitted, warn)
            gen = pipeline.run(kind, model, fitted, job.settings, tree=tree, encoded=encoded)
            while True:
                if job.cancel.is_set():
                    gen.close()
                    return
                self._give_way(job)
                try:
                    step = next(gen)
                except StopIteration as stop:
                    result = stop.value
                    break
                step.job = job.id
                if first:
                    first = False
                    places = getattr(model, "input_places", None)  # set by the model's init_state
                    if step.heads is not None and places:
                        self.places.emit(job.id, job.slot, places[0])
                self.step.emit(job.id, job.slot, step)
        result.model = job.model
        self.finished.emit(job.id, job.slot, result)
        if tree is not None:
            self.tree.emit(job.id, job.slot, tree)
        if not self._warm:  # once the window has painted the caption and gone quiet
            self._warm = True
            QTimer.singleShot(WARM_UP_DELAY_MS, _warm_exports)

    def _await_paint(self, job: Job) -> None:
        """Before torch's import, the window's paint of the input just read: the import holds the
        GIL for stretches of 50-250 ms (its extension module's initialisation), and the window,
        painting the image meanwhile, showed it up to 240 ms late. At most PAINT_WAIT_S."""
        deadline = time.monotonic() + PAINT_WAIT_S
        while not job.painted.wait(LOAD_POLL_S):
            if job.cancel.is_set():
                raise Cancelled
            if time.monotonic() > deadline:
                return

    def _give_way(self, job: Job | None = None) -> None:
        """Wait, between two words or two stretches of reading, while the window draws (the words
        so far, the panes it builds ahead): the engine's Python took turns for the GIL with the GUI
        thread, which stretched 10-16 ms of drawing into 35-55 ms gaps. At most HOLD_MAX_S."""
        if self.window_idle.is_set():
            return
        deadline = time.monotonic() + HOLD_MAX_S
        in_job = not self.parked.is_set()
        self.parked.set()
        try:
            while not self.window_idle.wait(LOAD_POLL_S / 2):
                if job is not None and job.cancel.is_set():
                    raise Cancelled
                if time.monotonic() > deadline:
                    return
        finally:
            if in_job:  # (the cache's scan runs outside a job: it stays parked)
                self.parked.clear()

    def _encoding(self, kind, model, media, fitted, warn=None):
        """The input's encoding by the model: kept from the last job when it was of the same input
        and model (a what-if edit then skips the encoder), else made now. `warn`: told the
        domain note again when it comes from the kept one."""
        from .. import pipeline

        kept = self._encoded
        if kept is not None and kept[0] is model and kept[1] is media:
            if warn is not None:
                warn(kept[2].remark)
            return kept[2]
        encoded = pipeline.encode(kind, model, fitted)
        self._encoded = (model, media, encoded) if encoded.reusable else None
        return encoded

    def _probe(self, job: Job, kind, model, media, fitted) -> None:
        """A what-if probe: its answer, or nothing if it was superseded meanwhile."""
        from .probes import ATTRIBUTE, MASK, Branch, run_probe

        for name in ("attnviewer.whatif.masking", "cv2") + (("captum.attr",) if job.probe.what == ATTRIBUTE else ()):
            try:
                _quiet_import(name)
            except ImportError:  # (a missing captum: attribute() says which extra to install)
                pass
        self.status.emit(job.id, job.slot, f"asking the model: {job.probe.what}")
        decodes = job.probe.what not in (MASK, ATTRIBUTE)  # (those read changed inputs, or need gradients)
        answer = run_probe(kind, model, fitted, job.settings, job.probe, job.cancel.is_set,
                           encoded=self._encoding(kind, model, media, fitted) if decodes else None)
        if answer is not None and not job.cancel.is_set():
            if isinstance(answer, Branch):
                answer.result.model = job.model
            self.probed.emit(job.id, job.slot, answer)

    def _media(self, job: Job, kind):
        """The last input again when it is the same, unchanged: re-runs with other settings then
        skip reading it, and the window sees the very same object."""
        from .. import pipeline

        key = (job.kind, job.source, file_stamp(job.source), tuple(sorted(job.options.items())),
               _steps(job.model))
        if self._last_media is None or self._last_media[0] != key:
            def progress(done: int, total: int) -> None:
                if job.cancel.is_set():
                    raise Cancelled
                self._give_way(job)
                self.progress.emit(job.id, job.slot, done, total)

            self._last_media = (key, pipeline.read(kind, job.source, job.model, progress=progress, **job.options))
        return self._last_media[1]

    def _model(self, job: Job, kind):
        from .. import catalog, pipeline
        from ..models import registry

        # By file, its modification time and the actual device: a retrained checkpoint at the
        # same path is read again, and "auto" shares the entry of the device it picks. A model
        # folder by its files' stamps (weights rewritten in place leave the folder's mtime as it was).
        from ..model_folders import folder_stamp

        path = catalog.resolve(job.model)
        stamp = folder_stamp(path) if path.is_dir() else file_stamp(path)
        key = (str(path.resolve()), stamp, str(registry.pick_device(job.device)), kind.name)
        if key not in self._models:
            label = _model_label(path)
            self.status.emit(job.id, job.slot, f"loading model {label}")
            self.loading.emit(job.id, job.slot, label)
            model = self._load(job, key + (job.trust_pickle,), lambda: pipeline.load_model(
                kind, job.model, job.device, job.trust_pickle), counted=path.is_dir())
            if key not in self._models:
                if len(self._models) >= MODEL_CACHE_SIZE:
                    self._models.pop(next(iter(self._models)))
                self._models[key] = model
        return self._models[key]

    def _load(self, job: Job, key, load, counted: bool = False):
        """Load a model on a loader thread while this one waits, checking the job's cancel: a
        large transformer takes seconds to minutes to load, so a new request does not wait for
        it. A superseded job's load goes on (the next job often needs the same model, and waits
        for that load instead of starting another, even after another model was used meanwhile);
        the user's Stop stops it. A transformers folder's load reports its tensors; folders load
        one at a time (models/hf/loading.py), so another folder asked for stops one nobody waits for."""
        for other, entry in self._loads.items():
            if counted and entry.counted and other != key and entry.waiting == 0 and not entry.future.done():
                entry.stop.set()
        entry = self._loads.get(key)
        if entry is None or (entry.stop.is_set() and not entry.future.done()) \
                or (entry.future.done() and entry.future.exception() is not None):
            entry = self._loads[key] = _Load(counted)
            threading.Thread(target=self._loader, args=(entry, load, counted), name=LOADER_THREAD, daemon=True).start()
        entry.waiting += 1
        entry.job = job
        try:
            while True:
                try:
                    return entry.future.result(timeout=LOAD_POLL_S)
                except FutureTimeout:
                    if job.cancel.is_set():
                        raise Cancelled from None
        finally:
            entry.waiting -= 1
            if job.stopped and entry.waiting == 0:
                entry.stop.set()
            if entry.future.done() and self._loads.get(key) is entry:
                self._loads.pop(key)

    def _loader(self, entry: "_Load", load, counted: bool) -> None:
        """The loader thread: the model, or the exception, is handed to whichever job waits."""
        def tell(done: int, total: int) -> None:
            job = entry.job
            if job is not None and not job.cancel.is_set():
                self.load_progress.emit(job.id, job.slot, done, total)

        try:
            if counted:
                from ..models.hf.load_progress import LoadCancelled, reporting

                try:
                    with reporting(tell, entry.stop.is_set):
                        entry.future.set_result(load())
                except LoadCancelled:
                    entry.future.set_exception(Cancelled())
            else:
                entry.future.set_result(load())
        except BaseException as e:
            entry.future.set_exception(e)


class _Load:
    """A model being loaded on a loader thread, and the jobs waiting for it."""

    def __init__(self, counted: bool):
        self.counted = counted  # a transformers folder (its load reports progress and can stop)
        self.future: Future = Future()
        self.stop = threading.Event()  # set: the load stops at its next tensor (transformers folders)
        self.waiting = 0  # jobs waiting for it now (only the engine thread counts)
        self.job: Job | None = None  # the last job that waited: its progress bar shows the count


def _tree_for(model, settings: DecodeSettings):
    """A beam search's recorder of every candidate it weighs (the window's beam tree); None for
    greedy and sampling (one path: nothing pruned to show)."""
    if settings.method != "beam":
        return None
    from ..whatif.tree import BeamTree

    return BeamTree.for_model(model, settings)


def _model_label(path) -> str:
    """A model as the status bar names it: a Hugging Face cache snapshot by its repository."""
    from ..model_folders import cache_label, is_model_folder

    return printable(cache_label(path) if is_model_folder(path) else str(path))


def _steps(model: str):
    """The frames a video model samples (from its header): another model may read other frames."""
    from ..catalog import config_of

    return config_of(model).get("steps")


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _warm_exports() -> None:
    """The font list and the MP4 encoder probe (cached, ~0.5 s together), asked for once after
    the first caption so that the Export dialog does not stall the window when it first opens.
    (Measured: run right after the caption, its imports held the GUI up to 64 ms while the last
    words were painted, against 21 ms without; hence the delay.)"""
    from ..export.animation import mp4_encoder
    from ..export.figures import font_families

    try:
        font_families()
        mp4_encoder()
    except Exception:  # the dialog asks again and reports it; nothing to show here
        log.exception("warming the export look-ups failed")


def _unexpected(e: Exception) -> str:
    name = type(e).__name__
    if "OutOfMemory" in name:
        return "the GPU ran out of memory; try --device cpu or a smaller beam"
    return f"unexpected error ({name}: {printable(first_line(e))})"


def _stop(thread: QThread, running: dict) -> None:
    for job in list(running.values()):
        job.cancel.set()
    running.clear()
    if shiboken6.isValid(thread) and thread.isRunning():  # Qt may have deleted it at exit
        thread.quit()
        thread.wait()


class Engine(QObject):
    """Owned by the window (GUI thread): submits jobs, cancels superseded ones, shuts down cleanly."""

    _request = Signal(object)
    _export = Signal(object)
    _warm = Signal()
    _scan = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._ids = 0
        self._running: dict[str, Job] = {}
        self._holds: set[str] = set()  # why the window holds the engine (hold/release)
        self.thread = QThread()
        self.thread.setObjectName("attnviewer-engine")
        self.worker = Worker()
        self.worker.moveToThread(self.thread)
        self._request.connect(self.worker.run)  # queued: the worker lives on the other thread
        self._export.connect(self.worker.export)
        self._warm.connect(self.worker.warm)
        self._scan.connect(self.worker.scan_cache)
        self.thread.finished.connect(self.worker.deleteLater)
        self.thread.start()
        # If the window is never closed (the app quits, the interpreter exits), still stop the
        # thread: Qt aborts the process when a running QThread is destroyed.
        weakref.finalize(self, _stop, self.thread, self._running)
        # signals re-exported for the window
        self.media_ready, self.status, self.progress = self.worker.media_ready, self.worker.status, self.worker.progress
        self.step, self.finished, self.failed = self.worker.step, self.worker.finished, self.worker.failed
        self.places, self.loading, self.cached_models = self.worker.places, self.worker.loading, self.worker.cached_models
        self.load_progress = self.worker.load_progress
        self.note = self.worker.note
        self.window_idle = self.worker.window_idle  # set while the window is not drawing (hold/release)
        self.tree, self.probed = self.worker.tree, self.worker.probed
        self.devices = self.worker.devices
        w = self.worker
        self.exported, self.export_failed, self.export_cancelled = w.exported, w.export_failed, w.export_cancelled
        self.export_progress = w.export_progress
        self.preview_ready, self.preview_failed = w.preview_ready, w.preview_failed
        self.result_opened = w.result_opened

    def export(self, request: ExportRequest) -> int:
        """Queue an export (or a preview, or opening a result) for the engine thread; returns its id.
        A preview supersedes the previous preview; an export can be stopped with cancel_export."""
        self._ids += 1
        request.id = self._ids
        if request.preview:
            self.worker.latest_preview = request.id
        elif request.output != "open":
            self._running["export"] = request  # shutdown() cancels it with the caption jobs
        self._export.emit(request)
        return request.id

    def cancel_export(self, request_id: int | None = None) -> None:
        """Stop the running export (between animation frames; a figure in progress finishes)."""
        req = self._running.get("export")
        if req is not None and (request_id is None or req.id == request_id):
            self.cancel("export")

    def open_result(self, path: str) -> int:
        """Load a saved result and its input on the engine thread: result_opened or export_failed."""
        return self.export(ExportRequest("open", str(path)))

    def claim(self, slot: str, job: int) -> None:
        """Make `job` (an opened result) the slot's newest: its running caption is cancelled."""
        self.cancel(slot)
        self.worker.latest[slot] = job

    def submit(self, kind: str, source: str, model: str, settings: DecodeSettings, device: str = "auto",
               slot: str = "main", trust_pickle: bool = False, options: dict | None = None) -> int:
        """Start a job; the running job of the same slot is cancelled. Returns the new job id."""
        self._ids += 1
        return self._start(Job(self._ids, kind, source, model, settings, device, slot, trust_pickle, dict(options or {})))

    def _start(self, job: Job) -> int:
        self.cancel(job.slot)
        self._running[job.slot] = job
        self.worker.latest[job.slot] = job.id
        self._request.emit(job)
        return job.id

    def probe(self, kind: str, source: str, model: str, settings: DecodeSettings, probe, device: str = "auto",
              trust_pickle: bool = False, options: dict | None = None) -> int:
        """Ask the model a what-if question about an input (engine/probes.py) in the "whatif" slot:
        a newer probe supersedes it, a decoding of the columns does not. Answers come by `probed`
        (or `failed`); the job's id is returned."""
        self._ids += 1
        return self._start(Job(self._ids, kind, source, model, settings, device, WHATIF, trust_pickle,
                               dict(options or {}), probe=probe))

    def media_painted(self, job_id: int) -> None:
        """The window has painted the input a job read (media_ready): its torch import may start."""
        for job in list(self._running.values()):
            if job.id == job_id and isinstance(job, Job):
                job.painted.set()

    def hold(self, reason: str) -> None:
        """The window is drawing (`reason`: the words it redraws, the panes it builds ahead): the engine
        waits at its next word or stretch of reading until every reason is released (at most
        HOLD_MAX_S each time). Called on the GUI thread only."""
        self._holds.add(reason)
        self.worker.window_idle.clear()

    def park(self) -> None:
        """After hold: wait (PARK_WAIT_S at most, on the GUI thread) for the engine to finish the
        word under way and stop, so that what the window draws next runs alone: holding alone, the
        word under way when a redraw began was still computed beside it."""
        self.worker.parked.wait(PARK_WAIT_S)

    def release(self, reason: str) -> None:
        self._holds.discard(reason)
        if not self._holds:
            self.worker.window_idle.set()

    def warm(self) -> None:
        """Have the engine thread import torch now (see Worker.warm)."""
        self._warm.emit()

    def scan_cache(self) -> None:
        """Have the engine thread list the models in the Hugging Face cache (cached_models)."""
        self._scan.emit()

    def latest_job(self, slot: str = "main") -> int | None:
        return self.worker.latest.get(slot)

    def cancel(self, slot: str = "main") -> None:
        job = self._running.pop(slot, None)
        if job is not None:
            job.cancel.set()

    def stop(self) -> None:
        """The user's Stop: every running job ends, and a model they were loading stops loading."""
        for slot, job in list(self._running.items()):
            if slot != "export":
                job.stopped = True
                self.cancel(slot)

    def shutdown(self) -> None:
        """Cancel everything and wait for the thread: never let Python drop a running QThread."""
        _stop(self.thread, self._running)
