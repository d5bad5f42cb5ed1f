"""The engine's work: one worker running the jobs the window asks for, on the engine's thread in
the engine's own process (engine/host.py; the window's side is engine/engine.py). No Qt here.

The worker reads the input (an image, a video, a sentence: through its kind), loads models and
runs the one pipeline; it emits every generated word with plain Python/numpy data. Grad mode is
per thread, so inference mode is entered on the worker's thread. Each job has an id; a new job of
the same slot cancels the running one (its threading.Event, set by the host's receiving thread,
is checked between words) and jobs superseded while queued are skipped. The window drops anything
of an older job id.
"""
from __future__ import annotations

import logging
import sys
import threading
from concurrent.futures import Future, TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from ..settings import DecodeSettings
from ..errors import AttnViewerError, broken_install, first_line, printable
from ..files import file_stamp
from .exports import ExportCancelled, ExportRequest, open_result, render_preview, write_export
from .torch_import import HEADER_CHECK, import_model_code as _import_model_code, import_pyav as _import_pyav
from .torch_import import import_torch as _import_torch, quiet_import as _quiet_import
from .wire import Cancellable

log = logging.getLogger(__name__)
MODEL_CACHE_SIZE = 3
LOADER_THREAD = "attnviewer-model-loader"
LOAD_POLL_S = 0.05  # how often a job waiting for its model checks whether it was superseded
WHATIF = "whatif"  # the slot of what-if probes (Engine.probe)


@dataclass
class Job(Cancellable):
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


class Cancelled(Exception):
    """Raised from a progress callback when the job was superseded: reading stops there."""


# What the worker tells the window: (name, the arguments' meaning). Each is an Out here and a Qt
# signal of the same name on the window's side (engine/engine.py), which the engine's host feeds.
OUTPUTS = (
    "media_ready",  # job id, slot, the input as read (LoadedImage, LoadedClip, Sentence)
    "status",  # job id, slot, what is happening
    "progress",  # job id, slot, done, total (reading a long video)
    "step",  # job id, slot, Step
    "places",  # job id, slot, lens.Places: a transformer's token -> place map (before its first Step)
    "note",  # job id, slot, the input is far from the model's training data (before the first word)
    "loading",  # job id, slot, the model being loaded (not yet in the cache): the window shows it busy
    "load_progress",  # job id, slot, tensors read, of total (a transformers folder)
    "cached_models",  # [(folder, kind, label)]: the supported models in the user's Hugging Face cache
    "finished",  # job id, slot, Result
    "tree",  # job id, slot, whatif.tree.BeamTree: every candidate a beam search weighed
    "probed",  # job id, slot, a probe's answer (probes.Branch, Masking, Attribution)
    "failed",  # job id, slot, message for the user
    "devices",  # the devices torch can use, once it is imported
    "export_look_ups",  # (font families, MP4 encoder or None): the Export dialog's slow look-ups
    # file jobs (ExportRequest); the int is the request id
    "exported",  # path written (for a result: its JSON)
    "export_failed",  # message for the user (also: a result that cannot be opened)
    "export_cancelled",  # stopped by the user; the target file is untouched
    "export_progress",  # frames done, of total (animations)
    "preview_ready",  # (H, W, 3) uint8 RGB
    "preview_failed",  # message
    "result_opened",  # Result, its input as read again
)


class Out:
    """One of the worker's outputs: what it emits goes to each connected handler, on the emitting
    thread (the engine's host sends it to the window's process)."""

    def __init__(self):
        self._handlers = []

    def connect(self, handler) -> None:
        self._handlers.append(handler)

    def emit(self, *args) -> None:
        for handler in self._handlers:
            handler(*args)


class Worker:
    """Runs the jobs, one at a time, on the engine's thread (engine/host.py); no Qt here."""

    def __init__(self):
        for name in OUTPUTS:
            setattr(self, name, Out())
        self.latest: dict[str, int] = {}  # slot -> newest job id; written by the host's receiving thread
        self._models: dict[tuple[str, str], object] = {}
        self._loads: dict[tuple, _Load] = {}  # models being loaded on a loader thread, by key
        self._devices: list[str] | None = None
        self._devices_lock = threading.Lock()
        self._last_media = None  # (key, media): the last input read
        self._encoded = None  # (model, media as read, pipeline.Encoded): the last input's encoding
        self.latest_preview = 0  # newest preview id; written by the host's receiving thread

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

    def scan_cache(self) -> None:
        """The supported models in the user's Hugging Face cache, read from disk here (each
        snapshot's config, tokenizer files and weight headers: too slow for the GUI thread)."""
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

    def look_up_exports(self) -> None:
        """The Export dialog's slow look-ups (matplotlib's font list, an MP4 encoder that works:
        ~0.4 s), made in the engine's process: made on a thread of the window's, they held its GIL
        27-41 ms at a stretch (the font cache's parsing), 2 s after the first caption."""
        from ..export.animation import mp4_encoder
        from ..export.figures import font_families

        try:
            self.export_look_ups.emit(font_families(), mp4_encoder())
        except Exception:  # the dialog looks them up itself and reports what fails
            log.exception("looking up the export options failed")

    def warm(self) -> None:
        """Import torch and the model code now (the host does it as the engine starts, on a thread
        of its own): the first input's words do not wait for it."""
        self._torch()

    def _torch(self):
        """torch, imported on this thread; the first time, the devices it offers are announced."""
        try:
            torch = _import_torch()
        except (ImportError, OSError) as e:  # a broken installation, not a bug: say what to do
            raise AttnViewerError(broken_install("torch", e)) from None
        _import_model_code()  # all of it before a loader thread starts: never two threads importing at once
        with self._devices_lock:  # (the host's import thread and the first job may both get here)
            if self._devices is None:
                self._devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
                self.devices.emit(self._devices)
        return torch

    def _video_reading(self) -> None:
        """PyAV, for a video's read, if the engine did not import it as it started (host.VIDEO_READING):
        after torch's import, never beside it (two threads importing at once: see host.READING)."""
        if "av" not in sys.modules:
            try:
                self._torch()
            except Exception:  # (torch broken: no import under way now; the model's load says what is wrong)
                log.debug("torch's import failed before a video's read", exc_info=True)
            try:
                _import_pyav()
            except (ImportError, OSError) as e:
                raise AttnViewerError(broken_install("av", e)) from None

    def run(self, job: Job) -> None:
        if self.latest.get(job.slot) != job.id or job.cancel.is_set():
            return  # superseded while it waited in the queue
        try:
            self._run(job)
        except Cancelled:
            return
        except AttnViewerError as e:
            self.failed.emit(job.id, job.slot, printable(e))
        except Exception as e:  # keep the app alive; the message names what broke
            log.exception("job %s failed", job.id)
            self.failed.emit(job.id, job.slot, _unexpected(e))

    def _run(self, job: Job) -> None:
        from .. import domain, kinds, pipeline

        kind = kinds.get(job.kind)
        self.status.emit(job.id, job.slot, f"reading {printable(_short(job.source))}")
        _quiet_import(HEADER_CHECK)  # (the read checks the model's header) one thread at a time: see torch_import
        if kind.name == "video":
            self._video_reading()
        media = self._media(job, kind)
        if job.cancel.is_set():
            return
        self.media_ready.emit(job.id, job.slot, media)
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
        self.waiting = 0  # jobs waiting for it now (only the worker's thread counts)
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


def _unexpected(e: Exception) -> str:
    name = type(e).__name__
    if "OutOfMemory" in name:
        return "the GPU ran out of memory; try --device cpu or a smaller beam"
    return f"unexpected error ({name}: {printable(first_line(e))})"
