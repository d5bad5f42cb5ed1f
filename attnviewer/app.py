"""Start the desktop app. torch is not imported here: the engine imports it in its own process
(engine/engine.py) while the window starts."""
from __future__ import annotations

import sys

from .errors import DisplayError


COLLECT_MS = 100  # how often the GUI thread runs the garbage collector's young generations


def collect_on_gui_thread(app):
    """Python's garbage collector run by a timer of the GUI thread only. Automatic collections
    run on whichever thread allocates (the video player's decoder; the engine's, when it ran in this
    process: a full collection there held the GIL 100-170 ms mid-decode, the window stalled with
    it) and free Qt objects waiting in cycles on the wrong thread. Here each tick collects the generations whose counts passed Python's own thresholds
    (pyqtgraph's GarbageCollector does the same). Not while a quiet import runs: what it built is
    frozen when it ends (gc.freeze: kept out of every collection), as is what start-up made, at
    the first tick (a first collection of it all took 60-90 ms): modules and the window live as
    long as the app. A full collection's survivors are not frozen: an input, a result or a pane
    alive then may become cyclic garbage later, and frozen it would never be freed. A full
    collection scans what was made since start-up (about 25,000 objects with an input open: 22-28
    ms of GUI CPU on 2 shared cores), and is rare: none in 100 inputs of benchmarks/session_memory.py.
    Returns the collector (a child of the app)."""
    import gc

    from PySide6.QtCore import QObject, QTimer, Slot

    from .engine.torch_import import importing

    class Collector(QObject):
        started = False

        @Slot()
        def collect(self) -> None:
            if not self.started:  # what start-up made (modules, the window) lives on: kept out, not scanned
                self.started = True
                gc.freeze()
                return
            if importing():
                return
            counts, thresholds = gc.get_count(), gc.get_threshold()
            due = [g for g in range(3) if counts[g] > thresholds[g]]
            if not due:
                return
            gc.collect(due[-1])

    gc.disable()
    collector = Collector(app)
    timer = QTimer(collector, interval=COLLECT_MS)
    timer.timeout.connect(collector.collect)
    timer.start()
    return collector


def make_application(argv: list[str] | None = None, collect: bool = True):
    """The QApplication with the app's names and the process settings the window relies on;
    `collect`: garbage collections on the GUI thread's timer only (collect_on_gui_thread)."""
    from PySide6.QtWidgets import QApplication

    # Hand the GIL over more often than every 5 ms: the window stays smooth while the video
    # player's decoder (or an engine run on a thread: ATTNVIEWER_ENGINE=thread) works.
    sys.setswitchinterval(0.002)
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("attnviewer")
    app.setOrganizationName("attnviewer")
    app.setDesktopFileName("io.github.attnviewer.AttnViewer")
    if collect and not hasattr(app, "_attnviewer_collector"):
        app._attnviewer_collector = collect_on_gui_thread(app)
    return app


def check_display() -> None:
    """Qt aborts the whole process when it cannot open a window: say why in one line instead."""
    import os

    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if not sys.platform.startswith("linux") or platform and not platform.startswith(("xcb", "wayland")):
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise DisplayError("no display to open the window on (DISPLAY and WAYLAND_DISPLAY are unset); "
                           "run under a desktop session or xvfb-run, or use `attnviewer caption IMAGE --figure OUT.png`")
    if not platform.startswith("wayland") and not os.environ.get("WAYLAND_DISPLAY") \
            and not _loads(XCB_CURSOR):
        raise DisplayError("Qt needs the system library libxcb-cursor0 to open a window on X11; "
                           "install it (e.g. `sudo apt install libxcb-cursor0`)")


XCB_CURSOR = "libxcb-cursor.so.0"  # what Qt's X11 plugin loads (Qt >= 6.5), absent from minimal installs


def _loads(library: str) -> bool:
    """Whether the system's loader finds and loads `library` (a file name, as Qt asks for it): the
    loader's own answer in about a millisecond, where ctypes.util.find_library ran ldconfig (13 ms
    before the engine's process could start)."""
    import ctypes

    try:
        ctypes.CDLL(library)
    except OSError:
        return False
    return True


def route_warnings(window):
    """Python warnings from any thread, and the engine's process (torch loading a model, numpy,
    matplotlib drawing an export) go to the window's status bar and to the log, one escaped line each, never to
    stderr as Python's two-line dump. Returns the bridge (a child of the window)."""
    import logging
    import warnings

    from PySide6.QtCore import QObject, Signal, Slot

    from .errors import warning_line

    class WarningBridge(QObject):
        said = Signal(str)  # emitted on any thread, shown on the window's (a queued connection)

        @Slot(str)
        def show(self, line: str) -> None:
            window.statusBar().showMessage(f"warning: {line}", 10000)

    bridge = WarningBridge(window)
    bridge.said.connect(bridge.show)
    log = logging.getLogger("attnviewer")

    def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
        text = warning_line(message, category)
        log.warning("warning: %s", text)
        try:
            bridge.said.emit(text)
        except RuntimeError:  # the window is gone (closing): the log line is enough
            pass

    warnings.showwarning = show_warning
    engine = getattr(window, "engine", None)
    if engine is not None:  # the engine's process sends its warnings as lines
        engine.warned.connect(lambda text: (log.warning("warning: %s", text), bridge.show(text)))
    return bridge


def run(path: str | None = None, argv: list[str] | None = None, text: str | None = None) -> int:
    check_display()
    from .engine.process import start_early

    start_early(path)  # torch's import in the engine's process, beside the window's own start-up
    app = make_application(argv)
    from .ui.main_window import MainWindow

    window = MainWindow()
    route_warnings(window)
    if path is None and text is None:
        from .resources import sample_dir

        samples = sorted(sample_dir().glob("*.png"))
        path = str(samples[0]) if samples else None
    window.show()
    if path is not None or text is not None:
        window.start_on(path, text)
    return app.exec()
