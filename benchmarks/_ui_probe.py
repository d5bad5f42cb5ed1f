"""One measured run of the desktop window, in a fresh process; driven by benchmarks/ui_latency.py.

    python benchmarks/_ui_probe.py --mode engine|baseline --model NAME|PATH --image PNG
                                   --t0 SPAWN_TIME --out RESULT.json [--profile STATS]

Times are seconds since --t0, the parent's time.time() taken just before it started this process
(so interpreter start-up counts). Inside, time.perf_counter() is tied to that clock once, on the
first line below, before any import.

engine:   the app's own design: the window submits the job, the engine thread imports torch,
          loads the model and streams Steps as signals; the window coalesces redraws.
baseline: the naive design: the GUI thread itself imports torch, loads the model and runs the
          streaming decoder, drawing every Step through the window's state and redraw(), with
          processEvents() between steps.

The GUI thread's responsiveness is a 5 ms QTimer whose ticks are recorded; the parent turns them
into gaps. Also recorded: the window's first paint, the first word painted, and how long each
part of the redraw path, each window repaint and each garbage collection took on the GUI thread.
The settings live in a temporary ini file; the user's own settings are never read or written.
"""
import time

T_TOP_WALL, T_TOP = time.time(), time.perf_counter()  # first thing: before any import

import argparse  # noqa: E402
import faulthandler  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BEAM, MAX_LEN = 5, 20
TICK_MS = 5
SETTLE_MS = 300  # after the last word: let the final repaint land before closing

parser = argparse.ArgumentParser()
parser.add_argument("--mode", choices=("engine", "baseline"), required=True)
parser.add_argument("--model", required=True)
parser.add_argument("--image", required=True)
parser.add_argument("--t0", type=float, required=True, help="parent's time.time() at spawn")
parser.add_argument("--out", required=True)
parser.add_argument("--timeout", type=float, default=240.0)
parser.add_argument("--profile", help="write cProfile stats of the GUI thread (work start to last word)")
args = parser.parse_args()

# A hard stop that needs no event loop: dump every thread's stack and exit if anything hangs.
faulthandler.dump_traceback_later(args.timeout, exit=True)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(REPO))  # run from a checkout, uninstalled

GUI_THREAD = threading.get_ident()
OFFSET = T_TOP_WALL - args.t0


def now() -> float:
    """Seconds since the parent spawned this process."""
    return time.perf_counter() - T_TOP + OFFSET


marks: dict[str, float] = {"probe_top": OFFSET}
intervals: list[tuple[str, float, float]] = []  # (what, start, end) of timed work
ticks: list[float] = []
steps_at: list[float] = []
redraws: list[dict] = []
errors: list[str] = []


def mark(name: str) -> None:
    marks.setdefault(name, now())


# -- garbage collections, per thread ----------------------------------------------------------------

_gc_start: dict[int, float] = {}


def _on_gc(phase, info):
    ident = threading.get_ident()
    if phase == "start":
        _gc_start[ident] = now()
    elif ident in _gc_start:
        who = "gui" if ident == GUI_THREAD else "worker"
        intervals.append((f"gc gen{info.get('generation')} ({who} thread)", _gc_start.pop(ident), now()))


gc.callbacks.append(_on_gc)

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSettings, Qt, QTimer, Slot  # noqa: E402

mark("qt_imported")
tmp = tempfile.TemporaryDirectory(prefix="attnviewer-bench-")
# Anything that would reach for the default settings lands in the temporary folder too.
QSettings.setDefaultFormat(QSettings.Format.IniFormat)
for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
    QSettings.setPath(QSettings.Format.IniFormat, scope, tmp.name)
from attnviewer.app import make_application  # noqa: E402  (the app's own QApplication set-up)

app = make_application([sys.argv[0]])

from attnviewer.settings import DecodeSettings  # noqa: E402
from attnviewer.ui import attention_pane, caption_pane, views  # noqa: E402
from attnviewer.ui.main_window import MainWindow  # noqa: E402

mark("app_imported")


# -- instrumentation of the redraw path (wrappers installed on the classes before the window) ------


def timed(owner, name: str, label: str | None = None) -> None:
    original = getattr(owner, name)
    label = label or f"{getattr(owner, '__name__', owner)}.{name}"

    def wrapper(*a, **kw):
        start = now()
        try:
            return original(*a, **kw)
        finally:
            if threading.get_ident() == GUI_THREAD:
                intervals.append((label, start, now()))

    wrapper.__wrapped__ = original
    setattr(owner, name, wrapper)


timed(caption_pane.CaptionPane, "show_words", "caption.show_words (token list + alternatives)")
timed(caption_pane.CaptionPane, "show_hypotheses", "caption.show_hypotheses (beam list)")
timed(attention_pane.AttentionPane, "show_word", "attention.show_word (overlay)")
timed(attention_pane.AttentionPane, "show_strip", "attention.show_strip (thumbnail strip)")
timed(attention_pane.AttentionPane, "set_image", "attention.set_image")
timed(views.ImageView, "set_image", "view.set_image (pyqtgraph setImage, photo)")
timed(views.OverlayView, "set_overlay", "view.set_overlay (pyqtgraph setImage, overlay)")
timed(attention_pane, "overlay_rgba", "overlay_rgba (map -> RGBA)")
timed(attention_pane, "blend", "blend (thumbnail)")
timed(attention_pane, "to_pixmap", "to_pixmap (thumbnail)")
import pyqtgraph  # noqa: E402

timed(pyqtgraph.GraphicsView, "paintEvent", "pyqtgraph view paintEvent")

_redraw = MainWindow.redraw


def redraw(self):
    start = now()
    _redraw(self)
    end = now()
    intervals.append(("MainWindow.redraw (all)", start, end))
    words = len(self.sides["main"].state.words)
    redraws.append({"at": end, "words": words})
    if words and "first_word_drawn" not in marks:
        marks["first_word_drawn"] = end
        post_marker("first_word_painted")


MainWindow.redraw = redraw

_event = MainWindow.event
_TIMED_EVENTS = {QEvent.Type.UpdateRequest: "window repaint (UpdateRequest)",
                 QEvent.Type.LayoutRequest: "window layout (LayoutRequest)"}


def window_event(self, ev):
    label = _TIMED_EVENTS.get(ev.type())
    if label is None:
        return _event(self, ev)
    start = now()
    result = _event(self, ev)
    intervals.append((label, start, now()))
    return result


MainWindow.event = window_event


# -- markers: a low-priority posted event runs after the repaints queued before it ------------------

MARKER = QEvent.Type(QEvent.registerEventType())


class Marker(QObject):
    def __init__(self):
        super().__init__()
        self.pending: list[str] = []

    def event(self, ev):
        if ev.type() == MARKER:
            name = self.pending.pop(0)
            mark(name)
            if name == "window_shown":
                intervals.append(("window's first paint", marks["first_paint_start"], marks[name]))
            return True
        return super().event(ev)


marker = Marker()


def post_marker(name: str) -> None:
    marker.pending.append(name)
    # UpdateRequest is posted at Qt.LowEventPriority (-1); below it, the marker comes after the paint.
    QCoreApplication.postEvent(marker, QEvent(MARKER), -10)


class FirstPaint(QObject):
    """Application event filter: notes the window's first paint, then takes itself away."""

    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint and "first_paint_start" not in marks:
            mark("first_paint_start")
            post_marker("window_shown")
            app.removeEventFilter(self)
        return False


first_paint = FirstPaint()


# -- the GUI-thread probe and the engine's signals --------------------------------------------------


class Recorder(QObject):
    """Lives on the GUI thread; connected after the window, so its slots run after the window's."""

    def __init__(self):
        super().__init__()
        self.done = False

    @Slot()
    def tick(self):
        ticks.append(now())

    @Slot(int, str, str)
    def on_status(self, job, slot, text):
        if slot == "main" and text == "captioning":
            mark("load_end")

    @Slot(int, str, object)
    def on_step(self, job, slot, step):
        if slot == "main":
            steps_at.append(now())

    @Slot(int, str, object)
    def on_finished(self, job, slot, result):
        if slot == "main":
            marks["stream_end"] = now()  # the window's own slot (and its redraw) ran before this one
            marks["caption"] = " ".join(result.best.tokens)
            post_marker("stream_painted")
            self.finish()

    @Slot(int, str, str)
    def on_failed(self, job, slot, message):
        errors.append(message)
        self.finish()

    def finish(self):
        if not self.done:
            self.done = True
            stop_profile()
            QTimer.singleShot(SETTLE_MS, close)

    @Slot()
    def deadline(self):
        errors.append(f"gave up after {args.timeout - 10:.0f} s")
        close()


rec = Recorder()
profiler = None


def start_profile():
    global profiler
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()


def stop_profile():
    global profiler
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
        profiler = None


clean = {"value": None}


def close():
    tick_timer.stop()
    window.close()  # closeEvent: cancel, quit the engine thread, wait for it
    clean["value"] = not window.engine.thread.isRunning()
    app.quit()


def run_baseline():
    """The naive design: everything on the GUI thread, drawing each word as it comes."""
    from attnviewer.media.images import load_image, model_input

    side = window.sides["main"]
    image = load_image(args.image)
    mark("image_loaded")
    import torch

    mark("torch_imported")
    from attnviewer.decoding.search import decode
    from attnviewer.models import registry
    from attnviewer.types import Result

    model = registry.load(args.model, side.controls.device_name(), args.model.endswith((".pt", ".pth")))
    mark("load_end")
    job, settings = 1, side.controls.settings()
    side.jobs.pending = job
    window.on_image_ready(job, "main", image)
    t0 = time.perf_counter()
    with torch.inference_mode():
        device = next(model.parameters()).device
        pixels = torch.from_numpy(model_input(image.rgb, model.config.image_size))
        state = model.init_state(pixels.permute(2, 0, 1)[None].float().to(device))
        gen = decode(model, state, settings, stream=True)
        while True:
            try:
                step = next(gen)
            except StopIteration as stop:
                hyps = stop.value[0]
                break
            steps_at.append(now())
            step.job = job
            window.on_step(job, "main", step)  # commits the first word, accepts the step
            window._redraw_timer.stop()  # draw now, every word: no coalescing in the naive design
            window.redraw()
            app.processEvents()
    result = Result(image.path, args.model, dict(settings.to_dict(), device=str(device)), hyps,
                    time.perf_counter() - t0, image.rgb.shape[:2])
    window.on_finished(job, "main", result)
    rec.on_finished(job, "main", result)


# -- the run ----------------------------------------------------------------------------------------

settings_file = Path(tmp.name) / "settings.ini"
window = MainWindow(settings=QSettings(str(settings_file), QSettings.Format.IniFormat))
mark("window_built")
main_side = window.sides["main"]
main_side.controls.set_model(args.model)
main_side.controls.set_settings(DecodeSettings("beam", beam=BEAM, max_len=MAX_LEN))
engine = window.engine
engine.status.connect(rec.on_status)
engine.step.connect(rec.on_step)
engine.finished.connect(rec.on_finished)
engine.failed.connect(rec.on_failed)
tick_timer = QTimer(interval=TICK_MS, timerType=Qt.TimerType.PreciseTimer)
tick_timer.timeout.connect(rec.tick)
QTimer.singleShot(max(1000, int((args.timeout - 10) * 1000)), rec.deadline)

app.installEventFilter(first_paint)
window.show()
mark("show_returned")
tick_timer.start()
mark("work_start")
ticks.append(marks["work_start"])  # a pseudo-tick: the first gap runs from here
start_profile()
if args.mode == "engine":
    window.open_image(args.image)  # as app.run does: right after show(), before the event loop
else:
    try:
        run_baseline()
    except Exception as e:  # report it; the parent prints it
        errors.append(f"{type(e).__name__}: {e}")
        rec.finish()
app.exec()
faulthandler.cancel_dump_traceback_later()

out = {
    "mode": args.mode, "marks": marks, "ticks": ticks, "steps": steps_at, "redraws": redraws,
    "intervals": intervals, "errors": errors, "clean_shutdown": clean["value"],
}
Path(args.out).write_text(json.dumps(out))
tmp.cleanup()
