"""Garbage collection and torch's import in the desktop app (issue 24): every garbage collection
run by the GUI thread, and torch imported whole by whichever thread asks. Each test runs a fresh
interpreter (the collector and the import change process-wide state); no timing assertions."""
import os
import subprocess
import sys


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


def test_what_outlives_a_full_collection_and_becomes_cyclic_garbage_later_is_freed():
    """An input, a result or a pane alive at one full collection may become cyclic garbage later
    (the next input replaces it): a later full collection frees it. (The survivors of every full
    collection were frozen, and such garbage was never freed.) What start-up made stays frozen."""
    code = """
import gc, weakref
from PySide6.QtCore import QTimer
from attnviewer.app import make_application

app = make_application(["test"])
holder, freed, full = [], [], []
gc.callbacks.append(lambda phase, info: full.append(1) if phase == "stop" and info["generation"] == 2 else None)

class Node:
    pass

def full_due():  # enough young collections for the GUI's collector to run a full one at its next tick
    for _ in range(40):
        gc.collect(0)
        gc.collect(1)
    holder.extend([] for _ in range(2000))  # and a young generation past its threshold

def alive():  # a cycle still in use through a full collection (an input on screen)
    a, b = Node(), Node()
    a.other, b.other = b, a
    weakref.finalize(a, lambda: freed.append(1))
    holder.append(a)
    full_due()
    QTimer.singleShot(400, replaced)

def replaced():  # the next input: the cycle is garbage now
    full.append("replaced")
    holder.clear()
    full_due()
    QTimer.singleShot(400, app.quit)

QTimer.singleShot(300, alive)  # once the app runs (what start-up made is kept at the collector's first tick)
app.exec()
cut = full.index("replaced")
print(len(freed), 1 in full[:cut], 1 in full[cut:], gc.get_freeze_count() > 10000)
"""
    freed, full_before, full_after, startup_frozen = run_fresh(code).split()
    assert (full_before, full_after, startup_frozen) == ("True", "True", "True")  # the collector ran full ones
    assert freed == "1"


def test_a_second_thread_asking_for_torch_mid_import_gets_the_whole_module():
    """While one thread imports torch (the engine, or what-if work), another that asks for it
    waits for that import instead of taking the half-imported module from sys.modules."""
    code = """
import sys, threading, time
from attnviewer.engine.torch_import import import_torch

first = threading.Thread(target=import_torch, name="engine")
first.start()
while "torch" not in sys.modules:  # the import has begun: torch is in sys.modules, half built
    time.sleep(0.0005)
torch = import_torch()
whole = hasattr(torch, "nn") and hasattr(torch.nn, "functional") and hasattr(torch, "zeros")
first.join()
print(whole, float(torch.nn.functional.softmax(torch.zeros(4), 0).sum()))
"""
    assert run_fresh(code).splitlines()[-1].split() == ["True", "1.0"]
