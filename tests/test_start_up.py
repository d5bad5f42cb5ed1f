"""Start-up and garbage collection of the desktop app (issue 24): torch imported on a thread of its
own while the window is built, and every garbage collection run by the GUI thread. Each test runs a
fresh interpreter (the collector and the import change process-wide state); no timing assertions."""
import os
import subprocess
import sys

import pytest


def run_fresh(code: str) -> str:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip()


def test_garbage_made_on_another_thread_is_collected_on_the_gui_thread():
    """A thread that makes cyclic garbage (as the engine does while it decodes) no longer has the
    collector run on it: objects in cycles (Qt objects among them, in the app) are freed by the GUI
    thread's timer, never on the thread that happened to allocate."""
    code = """
import gc, threading, weakref
from PySide6.QtCore import QTimer
from attnviewer.app import make_application

app = make_application(["test"])
freed = []

class Node:
    pass

def work():
    for i in range(30000):  # well past the young generation's threshold, many times over
        a, b = Node(), Node()
        a.other, b.other = b, a
        if i % 500 == 0:
            weakref.finalize(a, lambda: freed.append(threading.current_thread().name))

on_engine = []

def decode():  # once the app runs (what start-up made is kept at the collector's first tick)
    t = threading.Thread(target=work, name="engine")
    t.start()
    t.join()
    on_engine.append(freed.count("engine"))
    QTimer.singleShot(600, app.quit)

QTimer.singleShot(300, decode)
app.exec()
print(on_engine[0], freed.count("MainThread"), len(freed), gc.isenabled())
"""
    on_engine, on_gui, total, enabled = run_fresh(code).split()
    assert on_engine == "0"
    assert int(on_gui) > 0 and on_gui == total  # collected, and only by the GUI thread
    assert enabled == "False"  # Python's own collections (on any thread) are off


def test_a_full_collection_on_the_gui_thread_freezes_what_survives_it():
    """What lives on after a full collection (the model, the input, the panes) is kept out of the
    next ones, so a full collection scans only what came since."""
    code = """
import gc
from PySide6.QtCore import QTimer
from attnviewer.app import make_application

app = make_application(["test"])
kept, young, counts = [], [], []

def run():  # once the app runs (what start-up made is kept at the collector's first tick)
    counts.append(gc.get_freeze_count())
    kept.extend([i] for i in range(50000))  # long-lived containers
    for _ in range(40):  # enough young collections for a full one to be due
        gc.collect(0)
        gc.collect(1)
    young.extend([] for _ in range(2000))  # and a young generation past its threshold
    QTimer.singleShot(400, app.quit)

QTimer.singleShot(300, run)
app.exec()
print(counts[0], gc.get_freeze_count(), len(kept))
"""
    before, after, _ = map(int, run_fresh(code).split())
    assert after >= before + 50000


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the libraries are preloaded on Linux only")
def test_torch_is_imported_on_its_own_thread_after_the_windows_first_paint():
    """start_early (the first thing `attnviewer gui` does): once the window's first paint is done
    (the input shows at once), a thread of its own maps torch's libraries and imports torch and the
    model code; the engine's import then gets the whole module (it waits for the import under way,
    never a half-imported one)."""
    code = """
import sys, threading
from PySide6.QtCore import QTimer
from attnviewer.app import start_early, make_application
from attnviewer.engine import torch_import

seen = {}
original_quiet, original_libraries = torch_import.quiet_import, torch_import.load_torch_libraries

def noted(name, before=None):
    seen.setdefault(name, (threading.current_thread().name, torch_import._window_painted.is_set()))
    return original_quiet(name, before)

def libraries():
    seen["libraries"] = (threading.current_thread().name, torch_import._window_painted.is_set())
    return original_libraries()

torch_import.quiet_import, torch_import.load_torch_libraries = noted, libraries
start_early()
app = make_application(["test"])
from attnviewer.ui.main_window import MainWindow
window = MainWindow()
window.show()
early = next(t for t in threading.enumerate() if t.name == torch_import.EARLY_THREAD)

def wait():
    if early.is_alive():
        QTimer.singleShot(20, wait)
    else:
        app.quit()

wait()
app.exec()
torch = torch_import.import_torch()  # what the engine thread does on its first job
print(float(torch.nn.functional.softmax(torch.zeros(4), 0).sum()), *seen["libraries"], *seen["torch"],
      *seen["attnviewer.models.checkpoint"])
window.close()
"""
    out = run_fresh(code).splitlines()[-1].split()
    early = "attnviewer-early-import"
    assert out == ["1.0", early, "True", early, "True", early, "True"]
