"""One measured run of the desktop window, in a fresh process; driven by benchmarks/ui_latency.py.

    python benchmarks/_ui_probe.py --mode engine|baseline --kind caption|video|translate
                                   --model NAME|PATH --source FILE|SENTENCE [--play CLIP]
                                   --t0 SPAWN_TIME --out RESULT.json [--profile STATS] [--unshared]
                                   [--paints] [--tree CHECKOUT]

Times are seconds since --t0, the parent's time.time() taken just before it started this process
(so interpreter start-up counts). Inside, time.perf_counter() is tied to that clock once, on the
first line below, before any import.

engine:   the app's own design (its garbage collector on the GUI thread): the window opens the
          input (open_file, or translate for a sentence) and submits the job; the engine thread
          reads it (an image; a video: every packet listed, the sampled frames decoded; a
          sentence), imports torch, loads the model and streams Steps as signals; the window
          coalesces redraws. The process's peak resident size is noted at the last word.
baseline: the naive design: the GUI thread itself reads the input, imports torch, loads the model
          and runs the one decode path (attnviewer.pipeline: read, load_model, run), drawing
          every Step through the window's slots and redraw(), with processEvents() between steps
          (and not before the first: the window is first painted with the first word).
--unshared: (engine, video) the window's player is opened without the packet index the engine
          listed, so it lists the clip's packets again on its own thread: the design before the
          index was shared, for a before/after in one invocation (the app has no such switch).
--play:   (engine, video) once the caption is painted, the window's own video player (its video
          media pane's PlayerWidget) plays CLIP to its end at the file's rate, then the naive
          player of benchmarks/player.py (each frame decoded in the GUI thread's tick) plays it
          in the same widget, after an idle reference of as long: player.py's run_idle,
          run_player and run_naive, imported, not copied. The caption's figures are measured
          before any of this starts.

The GUI thread's responsiveness is a 5 ms QTimer whose ticks are recorded, each with the GUI
thread's CPU time then (time.thread_time); the parent turns them into gaps, and each gap's GUI CPU
tells the GUI thread's own work from waiting (for the GIL, or for a core another process holds). Also recorded: the window's first paint, when the input was read, the video player's first
frame (its scrub bar usable), the first word painted, and how long each part of the redraw path, each window repaint and each garbage
collection took on the GUI thread.
Each timed part also records the GUI thread's CPU time (time.thread_time). --paints: each widget's
paint within a window repaint is noted too ("paint Class": from its Paint event to the next
widget's), by an application-wide event filter. It has a cost of its own: PySide makes a Python
object for every receiver and event the filter is shown (those never seen in Python before, in the
first turns of the event loop: 10-15 ms there, the first gap doubled), so the gaps of a run with it
overstate the app's own; without it, only the window's own events are watched.
--tree CHECKOUT: the app measured is that checkout's (default: the one this probe is in), with this
probe's instrumentation (timed parts missing there are skipped), so that two versions of the app
are measured alike.
--sample: a helper thread notes every thread's current Python line each millisecond.
The settings live in a temporary ini file; the user's own settings are never read or written.
"""
import time

T_TOP_WALL, T_TOP = time.time(), time.perf_counter()  # first thing: before any import

import argparse  # noqa: E402
import faulthandler  # noqa: E402
import gc  # noqa: E402
import importlib.abc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

BEAM = 5
TICK_MS = 5
SETTLE_MS = 300  # after the last word: let the final repaint land before closing

parser = argparse.ArgumentParser()
parser.add_argument("--mode", choices=("engine", "baseline"), required=True)
parser.add_argument("--kind", choices=("caption", "video", "translate"), default="caption")
parser.add_argument("--model", required=True)
parser.add_argument("--source", "--image", dest="source", required=True, help="a file, or the sentence")
parser.add_argument("--max-len", type=int, default=0, help="most words (0: the model's own limit)")
parser.add_argument("--play", help="engine, video: then play this clip in the window's player (and naively)")
parser.add_argument("--t0", type=float, required=True, help="parent's time.time() at spawn")
parser.add_argument("--out", required=True)
parser.add_argument("--timeout", type=float, default=240.0)
parser.add_argument("--profile", help="write cProfile stats of the GUI thread (work start to last word)")
parser.add_argument("--sample", action="store_true",
                    help="a helper thread notes every thread's Python frame each millisecond (costs GIL turns)")
parser.add_argument("--unshared", action="store_true",
                    help="engine, video: the player lists the packets itself (the index the engine listed is not passed)")
parser.add_argument("--warm", action="store_true",
                    help="torch imported before the input is opened (the engine's warm(), or the GUI thread's "
                         "import for the baseline): an input opened in a running app")
parser.add_argument("--paints", action="store_true",
                    help="note each widget's paint (an application-wide event filter, with a cost of its own)")
parser.add_argument("--tree", help="the checkout whose app is measured (default: this probe's own)")
args = parser.parse_args()
REPO = Path(args.tree).resolve() if args.tree else Path(__file__).resolve().parents[1]

# A hard stop that needs no event loop: dump every thread's stack and exit if anything hangs
# (or crashes: the parent prints the end of a failed run's output).
faulthandler.enable()
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
cpu: list[tuple[str, float, float]] = []  # (what, start, GUI-thread CPU seconds) of the same work
samples: list[tuple[float, dict]] = []  # --sample: (time, {thread name: "file:line function"})
ticks: list[float] = []
tick_cpu: list[float] = []  # the GUI thread's CPU seconds at each tick
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

try:  # as the app's run() does before it imports Qt: the engine's process starts (a checkout from
    from attnviewer.engine.process import start_early  # noqa: E402  before it ran the engine on a thread)
except ImportError:
    start_early = None
if args.mode == "engine" and start_early is not None:
    start_early(None if args.kind == "translate" else args.source)  # (the file the app is started on)
    mark("engine_started")
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSettings, Qt, QTimer, Slot  # noqa: E402
from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

mark("qt_imported")
tmp = tempfile.TemporaryDirectory(prefix="attnviewer-bench-")
# Anything that would reach for the default settings lands in the temporary folder too.
QSettings.setDefaultFormat(QSettings.Format.IniFormat)
for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
    QSettings.setPath(QSettings.Format.IniFormat, scope, tmp.name)
from attnviewer.app import make_application  # noqa: E402  (the app's own QApplication set-up)

try:  # the naive design: Python's own collections
    app = make_application([sys.argv[0]], collect=args.mode == "engine")
except TypeError:  # (a checkout from before the GUI thread's collector)
    app = make_application([sys.argv[0]])

from attnviewer.engine import worker as worker_module  # noqa: E402
from attnviewer.settings import DecodeSettings  # noqa: E402
from attnviewer.ui import attention_pane, caption_pane, views  # noqa: E402
from attnviewer.ui.main_window import MainWindow  # noqa: E402

mark("app_imported")


# -- instrumentation of the redraw path (wrappers installed on the classes before the window) ------


def timed(owner, name: str, label: str | None = None) -> None:
    """Time calls of owner.name on the GUI thread (wall and CPU). Not for slots connected across
    threads: a plain wrapper is no Slot, and Qt would call it on the emitting thread."""
    original = getattr(owner, name, None)
    if original is None:  # a part the code under test does not have (another design)
        return
    label = label or f"{getattr(owner, '__name__', owner)}.{name}"

    def wrapper(*a, **kw):
        start, c = now(), time.thread_time()
        try:
            return original(*a, **kw)
        finally:
            if threading.get_ident() == GUI_THREAD:
                intervals.append((label, start, now()))
                cpu.append((label, start, time.thread_time() - c))

    wrapper.__wrapped__ = original
    setattr(owner, name, wrapper)


timed(caption_pane.CaptionPane, "show_words", "caption.show_words (token list + alternatives)")
timed(caption_pane.CaptionPane, "show_hypotheses", "caption.show_hypotheses (beam list)")
timed(attention_pane.AttentionPane, "show_word", "attention.show_word (overlay)")
timed(attention_pane.AttentionPane, "show_strip", "attention.show_strip (thumbnail strip)")
timed(attention_pane.AttentionPane, "set_image", "attention.set_image")
timed(views.ImageView, "set_image", "view.set_image (photo)")
timed(views.OverlayView, "set_overlay", "view.set_overlay (map)")
timed(attention_pane, "overlay_rgba", "overlay_rgba (map -> RGBA)")
timed(attention_pane, "blend", "blend (thumbnail)")
timed(attention_pane, "to_pixmap", "to_pixmap (thumbnail)")
timed(MainWindow, "_commit", "window._commit (first word: input and panes)")
timed(MainWindow, "_next_pane_step", "window._next_pane_step (panes built ahead)")
timed(MainWindow, "_import_step", "window._import_step (a pane's module imported ahead)")
timed(MainWindow, "open_input", "window.open_input (controls set, job submitted)")
timed(MainWindow, "media_pane", "window.media_pane (built, or looked up)")
from attnviewer.ui import main_window as main_window_module  # noqa: E402

timed(main_window_module.Side, "pane", "side.pane (attention pane built, or looked up)")
timed(MainWindow, "_show_media_pane", "window._show_media_pane")


def video_panes_timed(video_panes):
    timed(video_panes.VideoAttentionPane, "show_words", "video attention.show_words (bars, top frames, curves)")
    timed(video_panes.VideoMediaPane, "show_words", "video media.show_words (frame strip, player seek)")
    timed(video_panes.VideoMediaPane, "set_media", "video media.set_media (strip, player open)")
    timed(video_panes.VideoAttentionPane, "set_media", "video attention.set_media")
    timed(video_panes.FrameStrip, "paintEvent", "frame strip paintEvent")


def text_panes_timed(text_panes):
    timed(text_panes.TextAttentionPane, "show_words", "text attention.show_words (alignment matrix)")
    timed(text_panes.TextMediaPane, "show_words", "text media.show_words (source tiles)")


def player_timed(player_module):
    timed(player_module.FramePlayer, "_show", "player._show (frame signal: widget's set_image)")
    timed(player_module.FramePlayer, "_take", "player._take (decoder queue)")
    if args.unshared:  # the design before the index was shared: the player lists the packets again
        shared_open = player_module.FramePlayer.open

        def open_unshared(self, path, index=None):
            return shared_open(self, path)

        player_module.FramePlayer.open = open_unshared


def frames_timed(frames_module):
    """Every listing of a video's packets, on whichever thread (engine, player), with its thread's name."""
    original = frames_module.list_packets

    def listed(*a, **kw):
        start = now()
        try:
            return original(*a, **kw)
        finally:
            t = threading.current_thread()
            who = ("gui" if t.ident == GUI_THREAD else "engine" if isinstance(t, threading._DummyThread)  # a QThread
                   else t.name)
            intervals.append((f"list packets ({who})", start, now()))

    frames_module.list_packets = listed


def player_widget_timed(player_widget):
    timed(player_widget.PlayerWidget, "_place_marks", "player widget._place_marks")
    on_frame = player_widget.PlayerWidget._on_frame

    def first_frame(self, rgb, seconds):  # connected in __init__, after this: the player's first frame
        on_frame(self, rgb, seconds)
        mark("player_ready")

    player_widget.PlayerWidget._on_frame = first_frame


class AfterImport(importlib.abc.MetaPathFinder):
    """Instruments a module right after the app imports it: the window imports its video and
    sentence panes (and the player) only when first needed, and that import is GUI-thread work
    the probe must not do ahead of it."""

    def __init__(self, hooks: dict):
        self.hooks = hooks  # module name -> function(module)

    def find_spec(self, name, path, target=None):
        if name not in self.hooks:
            return None
        # the other finders' spec (never by taking this one out of sys.meta_path: another thread
        # importing meanwhile would walk a list that changes under it)
        finders = (f for f in sys.meta_path if f is not self and hasattr(f, "find_spec"))
        spec = next((sp for sp in (f.find_spec(name, path, target) for f in finders) if sp is not None), None)
        if spec is None or spec.loader is None:
            return None
        run = spec.loader.exec_module  # this module's own loader object

        def exec_module(module):
            run(module)
            self.hooks.pop(name)(module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, AfterImport({
    "attnviewer.ui.video_panes": video_panes_timed, "attnviewer.ui.text_panes": text_panes_timed,
    "attnviewer.engine.player": player_timed, "attnviewer.ui.player_widget": player_widget_timed,
    "attnviewer.media.frames": frames_timed}))
for _name in ("attnviewer.ui.video_panes", "attnviewer.ui.text_panes", "attnviewer.engine.player",
              "attnviewer.ui.player_widget", "attnviewer.media.frames"):
    assert _name not in sys.modules, f"{_name} imported before the probe could instrument it"
timed(views.ImageView, "paintEvent", "image view paintEvent")



def timed_any_thread(owner, name: str, label: str) -> None:
    """Like timed(), on whichever thread calls it, the thread named in the label: what the engine
    thread was doing while the GUI thread waited (for the GIL) shows in the worst gaps."""
    original = getattr(owner, name)

    def wrapper(*a, **kw):
        start = now()
        try:
            return original(*a, **kw)
        finally:
            who = "gui" if threading.get_ident() == GUI_THREAD else "engine"
            intervals.append((f"{label} ({who} thread)", start, now()))

    wrapper.__wrapped__ = original
    setattr(owner, name, wrapper)


from attnviewer import pipeline  # noqa: E402

timed_any_thread(worker_module, "_import_torch", "import torch")  # the worker looks these up when it calls them
timed_any_thread(pipeline, "read", "read the input")
timed_any_thread(pipeline, "load_model", "load the model")

# The export dialog's look-ups (fonts, the MP4 encoder) are made 2 s after the first caption: by
# the engine since session 15 (its export_look_ups signal), on a thread of the window's process
# before; --play waits for them to be over, so that they fall in no design's playback.
warmed = threading.Event()
try:
    from attnviewer.engine import engine as warming_module  # noqa: E402
except ImportError:  # (a checkout whose engine thread warmed them)
    warming_module = worker_module
_warm_exports = getattr(warming_module, "_warm_exports", None)
if _warm_exports is not None and not hasattr(getattr(warming_module, "Engine", None), "export_look_ups"):
    def warm_exports_noted():
        try:
            _warm_exports()
        finally:
            warmed.set()

    warming_module._warm_exports = warm_exports_noted

# A redraw: MainWindow.redraw (everything at once), or, streaming since session 15, redraw_in_turns
# (the lists) and then _draw_pictures_due (the pictures, a turn later): each of these is timed; a
# redraw counts as drawn once its pictures are (_draw_pictures, or _draw_words in a checkout
# without it), and the job's end once its last redraw is.
REDRAW_PARTS = {"redraw": "MainWindow.redraw (all)", "redraw_in_turns": "MainWindow.redraw_in_turns: lists",
                "_draw_pictures_due": "MainWindow.redraw_in_turns: pictures (_draw_pictures_due)"}
for _name, _label in REDRAW_PARTS.items():
    timed(MainWindow, _name, _label)
_drawn_part = "_draw_pictures" if hasattr(MainWindow, "_draw_pictures") else "_draw_words"
_draw_whole = getattr(MainWindow, _drawn_part)


def drawn_whole(self, *drawn):
    _draw_whole(self, *drawn)
    end = now()
    words = len(self.sides["main"].state.words)
    redraws.append({"at": end, "words": words})
    if words and "first_word_drawn" not in marks:
        marks["first_word_drawn"] = end
        post_marker("first_word_painted")
    if rec.ending and not getattr(self, "drawing", False):
        rec.end()


setattr(MainWindow, _drawn_part, drawn_whole)

_event = MainWindow.event
_TIMED_EVENTS = {QEvent.Type.UpdateRequest: "window repaint (UpdateRequest)",
                 QEvent.Type.LayoutRequest: "window layout (LayoutRequest)"}


def window_event(self, ev):
    label = _TIMED_EVENTS.get(ev.type())
    if label is None:
        return _event(self, ev)
    start, c = now(), time.thread_time()
    paints.clear()
    result = _event(self, ev)
    end_cpu = time.thread_time()
    intervals.append((label, start, now()))
    cpu.append((label, start, end_cpu - c))
    if ev.type() == QEvent.Type.UpdateRequest and "media_read" in marks and args.mode == "engine":
        mark("media_painted")  # the first repaint after the input was read (the baseline paints none)
    # each widget's paint: from its Paint event to the next one (children paint after parents)
    for (name, t, c0), (_, _, c1) in zip(paints, paints[1:] + [("", 0.0, end_cpu)]):
        cpu.append((f"paint {name}", t, c1 - c0))
    paints.clear()
    return result


paints: list[tuple[str, float, float]] = []  # (widget class, start, CPU at start) within one repaint


class PaintNoter(QObject):
    """Application event filter: notes when each widget's Paint event starts."""

    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint:
            paints.append((type(obj).__name__, now(), time.thread_time()))
        return False


paint_noter = PaintNoter()


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
    """The window's event filter: notes the window's first paint, then takes itself away."""

    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint and "first_paint_start" not in marks:
            mark("first_paint_start")
            post_marker("window_shown")
            obj.removeEventFilter(self)
        return False


first_paint = FirstPaint()


# -- the GUI-thread probe and the engine's signals --------------------------------------------------


class Recorder(QObject):
    """Lives on the GUI thread; connected after the window, so its slots run after the window's."""

    def __init__(self):
        super().__init__()
        self.done = False
        self.ending = False  # the job finished; its last redraw's pictures are still to come

    @Slot()
    def tick(self):
        ticks.append(now())
        tick_cpu.append(time.thread_time())

    @Slot(int, str, str)
    def on_status(self, job, slot, text):
        if slot == "main" and text == "decoding":  # the input read and the model loaded
            mark("load_end")

    @Slot(int, str, object)
    def on_media_ready(self, job, slot, media):
        if slot == "main":
            mark("media_read")

    @Slot(int, str, object)
    def on_step(self, job, slot, step):
        if slot == "main":
            steps_at.append(now())

    @Slot(int, str, object)
    def on_finished(self, job, slot, result):
        if slot == "main":
            marks["caption"] = " ".join(result.best.tokens)
            self.ending = True
            if not getattr(window, "drawing", False):  # the window's own slot drew it whole before this one
                self.end()

    def end(self):
        """The last redraw is drawn (its paint follows)."""
        self.ending = False
        marks["stream_end"] = now()
        if args.mode == "engine":
            engine_peak_mb()
        memory["peak at last word"] = peak_rss_mb()
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
            then = play_all if args.play and args.mode == "engine" and not errors else close
            QTimer.singleShot(SETTLE_MS, then)

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
    engine_peak_mb()  # (before its process ends)
    clean["value"] = not window.engine.running()
    app.quit()


def run_baseline():
    """The naive design: everything on the GUI thread, through the one pipeline, drawing each
    word as it comes (no event processing before the first word)."""
    from attnviewer import kinds, pipeline
    from attnviewer.ui.controller import Input

    kind = kinds.get(args.kind)
    side = window.sides["main"]
    job, settings = 1, side.controls.settings()
    inp = Input(kind.name, args.source)
    window.jobs.ask(inp)
    side.jobs.submitted(job, inp)
    media = pipeline.read(kind, args.source, args.model)  # a video: every packet listed, frames decoded
    mark("media_read")
    window.on_media_ready(job, "main", media)
    import torch

    mark("torch_imported")
    model = pipeline.load_model(kind, args.model, side.controls.device_name(), args.model.endswith((".pt", ".pth")))
    mark("load_end")
    fitted = kind.fit(media, model)
    if fitted is not media:
        window.on_media_ready(job, "main", fitted)
    gen = pipeline.run(kind, model, fitted, settings)
    with torch.inference_mode():
        while True:
            try:
                step = next(gen)
            except StopIteration as stop:
                result = stop.value
                break
            steps_at.append(now())
            step.job = job
            window.on_step(job, "main", step)  # commits the first word, accepts the step
            window._redraw_timer.stop()  # draw now, every word: no coalescing in the naive design
            window.redraw()
            app.processEvents()
    result.model = args.model
    window.on_finished(job, "main", result)
    rec.on_finished(job, "main", result)


playback: dict = {}
memory: dict = {}


def peak_rss_mb() -> float:
    """The app's peak resident size so far, MB: this process's, and the engine's process's as last
    read (engine_peak_mb). Linux's VmHWM, not getrusage's ru_maxrss: that one starts from the
    peak of the process this one was forked from (the benchmark's parent, hundreds of MB after a
    few kinds' records), which a window without torch stays below."""
    return _peak_mb("self") or resource_peak_mb()


def resource_peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + memory.get("engine process", 0.0)


def _peak_mb(pid) -> float:
    """A process's VmHWM in MB (0 where /proc cannot say); for "self", plus the engine's."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
    return kb / 1024 + (memory.get("engine process", 0.0) if pid == "self" and kb else 0.0)


def engine_peak_mb() -> float:
    """The engine's process's peak resident size so far, MB; 0 where it runs on a thread."""
    popen = getattr(getattr(window.engine, "_host", None), "popen", None)
    if popen is not None:
        memory["engine process"] = max(memory.get("engine process", 0.0), _peak_mb(popen.pid))
    return memory.get("engine process", 0.0)


def play_all():
    """--play, once the caption is painted: the idle reference, the window's player, the naive
    GUI-thread decoder, each over the whole clip (benchmarks/player.py's own functions)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import player as player_bench  # benchmarks/player.py

    from attnviewer.engine.player import MAX_SIDE

    tick_timer.stop()  # each design below has its own 5 ms probe (player.py's)
    from PySide6.QtCore import QEventLoop

    t = now()
    while not warmed.is_set() and now() - t < 15:  # the engine's export warm-up, 2 s after the caption
        loop = QEventLoop()
        QTimer.singleShot(20, loop.quit)
        loop.exec()
    playback["warm_up_waited"] = now() - t
    widget = window.media_pane("video").player  # the window's own player, shown
    clip = Path(args.play)
    try:
        import av

        with av.open(str(clip)) as box:
            stream = box.streams.video[0]
            playback["frames"], playback["fps"] = stream.frames, float(stream.average_rate)
        seconds = playback["frames"] / playback["fps"]
        playback["visible"] = widget.isVisible()
        timeout = seconds * 3 + 30
        playback["idle"] = player_bench.run_idle(app, widget, seconds)
        playback["player"] = player_bench.run_player(app, widget, clip, timeout)
        playback["naive"] = player_bench.run_naive(app, widget, clip, timeout, MAX_SIDE)
    except BaseException as e:  # player.py's wait() raises SystemExit on a time-out
        errors.append(f"playback: {type(e).__name__}: {e}")
    close()


# -- --sample: every thread's Python frame each millisecond ---------------------------------------


def sampler(stop: threading.Event) -> None:
    """Which Python line each thread is on; the GUI thread's stalls show what ran meanwhile."""
    me = threading.get_ident()
    names = {}
    while not stop.wait(0.001):
        frames = sys._current_frames()
        row = {}
        for ident, frame in frames.items():
            if ident == me:
                continue
            if ident not in names:
                names[ident] = "gui" if ident == GUI_THREAD else next(
                    (t.name for t in threading.enumerate() if t.ident == ident), str(ident))
            row[names[ident]] = f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} {frame.f_code.co_name}"
        samples.append((now(), row))


sample_stop = threading.Event()
if args.sample:
    threading.Thread(target=sampler, args=(sample_stop,), name="probe-sampler", daemon=True).start()


# -- the run ----------------------------------------------------------------------------------------

settings_file = Path(tmp.name) / "settings.ini"
window = MainWindow(settings=QSettings(str(settings_file), QSettings.Format.IniFormat))
mark("window_built")
main_side = window.sides["main"]
main_side.controls.set_kind(args.kind)
main_side.controls.set_model(args.model)
main_side.controls.set_settings(DecodeSettings("beam", beam=BEAM, max_len=args.max_len or None))
engine = window.engine
if hasattr(engine, "export_look_ups"):  # (the engine makes them: see `warmed`)
    engine.export_look_ups.connect(lambda *_: warmed.set())
engine.status.connect(rec.on_status)
engine.media_ready.connect(rec.on_media_ready)
engine.step.connect(rec.on_step)
engine.finished.connect(rec.on_finished)
engine.failed.connect(rec.on_failed)
tick_timer = QTimer(interval=TICK_MS, timerType=Qt.TimerType.PreciseTimer)
tick_timer.timeout.connect(rec.tick)
QTimer.singleShot(max(1000, int((args.timeout - 10) * 1000)), rec.deadline)

window.installEventFilter(first_paint)
if args.paints:
    # An app-wide filter sees every event in Python, and PySide makes the Python type of each
    # receiver and event class it meets there (with its enums) on first sight: 60-90 ms in the
    # first turns of the event loop that the app, with no such filter, never spends (before session
    # 14, pyqtgraph's import had made most of them ahead). Made here, before the measured work:
    # 50-70 ms. (The Python objects of receivers first seen later are still made in the work.)
    _seen = window.findChildren(QObject) + [app, app.style()]
    for _module in (QtCore, QtGui, QtWidgets):
        for _name in dir(_module):
            if _name.endswith("Event"):
                getattr(_module, _name)
    app.installEventFilter(paint_noter)
window.show()
mark("show_returned")
if args.warm:
    if args.mode == "engine":
        devices = []
        window.engine.devices.connect(devices.append)  # once the engine has imported torch
        window.engine.warm()
        while not devices:
            app.processEvents()
            time.sleep(0.005)
    else:
        import torch  # noqa: F401
    mark("warmed")
tick_timer.start()
mark("work_start")
ticks.append(marks["work_start"])  # a pseudo-tick: the first gap runs from here
tick_cpu.append(time.thread_time())
start_profile()
if args.mode == "engine":  # as app.run does: right after show(), before the event loop
    if hasattr(window, "start_on"):  # (opened after the first paint)
        window.start_on(*((None, args.source) if args.kind == "translate" else (args.source, None)))
    elif args.kind == "translate":
        window.translate(args.source)
    else:
        window.open_file(args.source)
else:
    try:
        run_baseline()
    except Exception as e:  # report it; the parent prints it
        errors.append(f"{type(e).__name__}: {e}")
        rec.finish()
app.exec()
sample_stop.set()
faulthandler.cancel_dump_traceback_later()
memory["peak at close"] = peak_rss_mb()

out = {
    "mode": args.mode, "unshared": args.unshared, "marks": marks, "ticks": ticks, "tick_cpu": tick_cpu, "steps": steps_at, "redraws": redraws,
    "intervals": intervals, "cpu": cpu, "samples": samples, "errors": errors, "clean_shutdown": clean["value"], "playback": playback,
    "memory": memory,
}
Path(args.out).write_text(json.dumps(out))
tmp.cleanup()
