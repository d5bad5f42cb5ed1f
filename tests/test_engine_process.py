"""The engine in a process of its own (engine/engine.py, host.py, process.py, wire.py): the window's
process runs no model and never imports torch; a crash of the engine ends its job with a one-line
message and the next input works; what crosses between them keeps an input's identity and never
carries a cancel event. The window tests run in fresh interpreters (the app's own set-up: no
ATTNVIEWER_ENGINE); no timing assertions."""
import os
import pickle
import subprocess
import sys
import threading
from multiprocessing import Pipe

import numpy as np

from attnviewer.engine.exports import ExportRequest
from attnviewer.engine.wire import Receiver, Sender
from attnviewer.engine.worker import Job
from attnviewer.media.images import LoadedImage
from attnviewer.settings import DecodeSettings

from .helpers import damaged_package


def run_app(code: str, cwd=None) -> list[str]:
    """`code` after a window on the sample models, in a fresh interpreter with the engine in its
    own process (started from the folder `cwd`); its printed lines."""
    prelude = """
import os, sys, tempfile
from PySide6.QtCore import QSettings, QTimer
from attnviewer.app import make_application
from attnviewer.engine.process import start_early
from attnviewer.resources import sample_dir

start_early()  # as the app's run() does, before the window
app = make_application(["test"])
from attnviewer.ui.main_window import MainWindow
window = MainWindow(settings=QSettings(tempfile.mkdtemp() + "/settings.ini", QSettings.Format.IniFormat))
window.show()
QTimer.singleShot(240000, app.quit)  # (a safety limit for a stuck run, never reached)
"""
    return run_fresh(prelude + code, cwd=cwd)


def run_fresh(code: str, timeout: float = 300, cwd=None, **env_set) -> list[str]:
    """`code` in a fresh interpreter set up as the app is (the engine in its own process; without
    the suite's OMP_NUM_THREADS: the engine sets its torch's threads itself), offscreen, with
    `env_set` on top; its printed lines."""
    env = {k: v for k, v in os.environ.items() if k not in ("ATTNVIEWER_ENGINE", "OMP_NUM_THREADS")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    env.update(env_set)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env,
                         cwd=cwd)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()


def test_the_window_runs_no_model_and_never_imports_torch():
    lines = run_app("""
engine_pid = window.engine._host.popen.pid
done = []

def finished(job, slot, result):
    done.append(result.text)
    if len(done) == 1:
        window.translate("the red circle is left of the blue square")
    else:
        done.append(window.engine.running())  # (quitting closes the window)
        if window.engine.look_ups is not None:
            looked(*window.engine.look_ups)
        else:
            window.engine.export_look_ups.connect(looked)

def looked(fonts, codec):  # the export dialog's look-ups, made by the engine after the first caption
    done.append((os.getpriority(os.PRIO_PROCESS, engine_pid) > os.getpriority(os.PRIO_PROCESS, 0),
                 "pyqtgraph" in sys.modules, "matplotlib" in sys.modules, len(fonts) > 3))
    app.quit()

window.engine.finished.connect(finished)
window.engine.failed.connect(lambda job, slot, message: (print("failed:", message), app.quit()))
window.open_file(str(sample_dir() / "shapes-1.png"))
app.exec()
alive = done[2]
window.close()
print(done[0]); print(done[1])
print(engine_pid != os.getpid(), alive, "torch" in sys.modules, "attnviewer.pipeline" in sys.modules)
print(*done[3])
print(window.engine.running(), window.engine._host.popen.returncode)
""")
    caption, translation, facts, priority, after_close = lines[-5:]
    assert len(caption.split()) >= 3 and len(translation.split()) >= 3, lines
    assert facts == "True True False False"  # another process; alive; no torch, no pipeline here
    # the engine yields the processor to the window (which draws first where both want a core), and
    # the window does without pyqtgraph (0.5 s of its start-up; its CUDA bindings, 40-odd MB), and
    # without matplotlib: the export dialog's font list comes from the engine's process
    assert priority == "True False False True"
    # closing the window ends the engine's process, cleanly (an image's job left a C++ thread of
    # torch's or OpenCV's that aborted the interpreter's teardown: exit code -6)
    assert after_close == "False 0"


def test_an_engine_that_crashes_ends_its_job_with_a_message_and_the_next_input_works():
    """A crash in the engine's process (a native library's fault, the out-of-memory killer) used to
    end the app with everything on screen; now the job fails with one line, the words on screen
    stay, and a new engine captions the next input."""
    lines = run_app("""
import signal
state = window.sides["main"].state
seen = []

def finished(job, slot, result):
    seen.append(("finished", result.text))
    if len(seen) == 1:  # the second image: its engine is killed as soon as it is asked (not once the
        window.open_file(str(sample_dir() / "shapes-2.png"))  # window has its input: by then, on a busy
        os.kill(window.engine._host.popen.pid, signal.SIGKILL)  # machine, the engine had finished it)
    else:
        app.quit()

def failed(job, slot, message):
    seen.append(("failed", message))
    on_screen = state.result.text if state.result else None
    seen.append(("on screen", on_screen))
    window.open_file(str(sample_dir() / "shapes-3.png"))

window.engine.finished.connect(finished)
window.engine.failed.connect(failed)
window.open_file(str(sample_dir() / "shapes-1.png"))
app.exec()
for what, text in seen:
    print(what + ": " + str(text))
print("banner: " + window.last_error)
window.close()
""")
    said = dict(line.split(": ", 1) for line in lines[-5:])
    assert said["failed"].startswith("the engine stopped unexpectedly (exit code -9)"), lines
    assert "Traceback" not in "\n".join(lines)
    assert said["banner"] == said["failed"]
    first = lines[-5].split(": ", 1)[1]
    assert said["on screen"] == first  # the first caption stayed
    assert len(said["finished"].split()) >= 3  # the last line: the third image, captioned by a new engine


def test_an_input_sent_again_reaches_the_window_as_the_same_object():
    """The engine hands back the very input it read when a job re-reads it unchanged (a re-run with
    other settings); the window keeps its panes for the same object, so identity must cross."""
    ours, theirs = Pipe()
    sender, receiver = Sender(theirs), Receiver()
    image = LoadedImage("a.png", np.zeros((4, 4, 3), np.uint8), (4, 4))
    other = LoadedImage("b.png", np.zeros((4, 4, 3), np.uint8), (4, 4))
    got = []
    for media in (image, image, other, image):
        sender.send("media_ready", 1, "main", media)
        name, args = ours.recv()
        got.append(receiver.args(args)[2])
    assert got[0] is got[1] is got[3] and got[2] is not got[0]
    assert got[2].path == "b.png" and got[0].path == "a.png"


def test_a_beam_tree_crosses_with_its_words_but_without_the_models_vocabulary():
    """Every beam search sends its tree to the window; the model's vocabulary (50,000 words) went
    with it each time, to be unpickled on the GUI thread."""
    from attnviewer.whatif.tree import BeamTree

    tree = BeamTree([f"word{i}" for i in range(50_000)])
    scores = np.log(np.array([[0.6, 0.3]], np.float32))
    tree.expand(0, [0], 2, scores, np.zeros((1, 2), int), np.array([[7, 49_999]]), None,
                np.zeros((1, 2), bool), [[0, 1]])
    sent = pickle.dumps(tree)
    assert len(sent) < 5_000
    got = pickle.loads(sent)
    assert [(n.word, n.word_id, n.state) for n in got.of(0)] == [("word7", 7, "kept"), ("word49999", 49_999, "kept")]


def test_a_job_or_an_export_crosses_without_its_cancel_event():
    """Each process has its own cancel event: a job cancelled before it was sent arrives runnable
    (the window sends "cancel" for it), and a lock never has to be pickled."""
    job = Job(3, "caption", "a.png", "m", DecodeSettings("greedy"))
    req = ExportRequest("figure", "out.png")
    job.cancel.set()
    req.cancel.set()
    for item in (job, req):
        copy = pickle.loads(pickle.dumps(item))
        assert isinstance(copy.cancel, type(threading.Event())) and not copy.cancel.is_set()
    assert pickle.loads(pickle.dumps(job)).settings == job.settings


def test_the_engine_started_early_is_the_one_the_window_uses():
    """The app starts the engine's process before it imports Qt and builds the window (torch's import
    runs beside theirs); the window's engine takes that process instead of starting another."""
    code = """
from PySide6.QtCore import QCoreApplication
from attnviewer.engine import process
process.start_early()
early = process._early[1].popen.pid
from attnviewer.engine.engine import Engine
app = QCoreApplication([])
engine = Engine()
print(engine._host.popen.pid == early, process._early is None)
engine.shutdown()
print(engine.running())
"""
    assert run_fresh(code, timeout=120) == ["True True", "False"]


def test_an_engine_on_a_thread_has_what_it_reads_with_imported_before_its_thread_starts():
    """ATTNVIEWER_ENGINE=thread (tests, a debugger): pydantic imported on the engine's thread beside
    the window's imports failed a first job now and then ("partially initialized module
    'pydantic._internal._validators'": PySide's import hook asks each new module for __wrapped__,
    and pydantic's modules answer by importing). The window's thread imports it, as the engine's
    own process does, before the engine's thread starts."""
    code = """
import sys
from PySide6.QtCore import QCoreApplication
from attnviewer.engine import process
app = QCoreApplication([])
print("pydantic._internal._validators" in sys.modules)
here, engine = process.start(thread=True)
print("pydantic._internal._validators" in sys.modules, "attnviewer.models.header" in sys.modules)
here.send(("quit", ()))
engine.end()
"""
    assert run_fresh(code, timeout=120, ATTNVIEWER_ENGINE="thread") == ["False", "True True"]


def test_an_engine_that_cannot_start_fails_each_job_with_one_line_and_is_not_restarted():
    """A broken installation (here: an interpreter that exits at once) must not start engines in a
    loop: the first job, and each after it, fail with the one line that says so."""
    code = """
import sys, tempfile
from PySide6.QtCore import QSettings, QTimer
from attnviewer.app import make_application
from attnviewer.engine import process
from attnviewer.resources import sample_dir
from attnviewer.ui.main_window import MainWindow

started = []
real = process._Process.__init__
def counted(self, *args):
    started.append(1)
    real(self, *args)
process._Process.__init__ = counted
sys.executable = "/bin/false"  # the engine's interpreter
app = make_application(["test"])
window = MainWindow(settings=QSettings(tempfile.mkdtemp() + "/settings.ini", QSettings.Format.IniFormat))
window.show()
said = []

def failed(job, slot, message):
    said.append(message)
    if len(said) == 1:
        window.translate("the red circle is left of the blue square")
    else:
        app.quit()

window.engine.failed.connect(failed)
window.open_file(str(sample_dir() / "shapes-1.png"))
QTimer.singleShot(60000, app.quit)
app.exec()
print(len(started)); print(said[0]); print(said[1]); print(window.last_error)
window.close()
"""
    started, first, second, banner = run_fresh(code, timeout=120)[-4:]
    assert started == "1"
    assert first == second == banner
    assert first.startswith("the engine could not start (exit code 1)")


def test_torch_waits_for_the_read_of_a_video_the_app_starts_on_and_for_nothing_else(samples):
    """Beside torch's import a 10-minute clip took 2.5 s to read instead of 0.15 s: when the app is
    started on a video, the engine imports torch once that read is done (or has failed)."""
    from attnviewer.engine import host

    assert host._is_video("clip.MP4") and not host._is_video(str(samples[0]))
    ours, theirs = Pipe()
    first_read = threading.Event()
    server = threading.Thread(target=host.serve, args=(theirs, None, first_read), daemon=True)
    server.start()
    job = Job(1, "translate", "", "translate-sov", DecodeSettings("greedy"))  # an empty sentence: it fails
    ours.send(("job", (job,)))
    assert first_read.wait(60)
    said = []
    while ours.poll(5):
        said.append(ours.recv())
        if said[-1][0] == "failed":
            break
    assert said[-1][0] == "failed" and said[-1][1][1] == "main"
    ours.send(("quit", ()))
    server.join(30)
    assert not server.is_alive()


def a_video_after_an_image(setup: str = "") -> list[str]:
    """An engine's process started on an image (host.main, `setup` run first), then asked to caption
    a video: what it imported first of torch and PyAV, the messages that ended the read and the
    job, and the job's failure if it failed ("-" if not), as one printed line split at " | "."""
    code = """
import os, socket, sys, threading
from multiprocessing.connection import Connection
from attnviewer.engine import host
from attnviewer.engine.worker import Job
from attnviewer.resources import sample_dir
from attnviewer.settings import DecodeSettings
""" + setup + """
first = []
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name in ("torch", "av") and name not in first:
            first.append(name)
sys.meta_path.insert(0, Watch())
ours, theirs = socket.socketpair()
window = Connection(os.dup(ours.fileno()))

def the_window():
    window.send(("job", (Job(1, "video", str(sample_dir() / "clip-1.mp4"), "video-shapes", DecodeSettings("greedy")),)))
    said = []
    while not said or said[-1][0] not in ("finished", "failed"):
        name, args = window.recv()
        if name in ("media_ready", "finished", "failed"):
            said.append((name, args))
    failure = said[-1][1][2] if said[-1][0] == "failed" else "-"
    print(" ".join(first), "|", " ".join(name for name, _ in said), "|", failure, flush=True)
    window.send(("quit", ()))

threading.Thread(target=the_window, daemon=True).start()
host.main([str(theirs.fileno()), str(sample_dir() / "shapes-1.png")])
"""
    return run_fresh(code, timeout=180)[-1].split(" | ")


def test_an_engine_started_on_an_image_imports_torch_before_pyav_and_still_reads_a_video():
    """PyAV's import (40-60 ms) went before torch's whatever the app started on, and so before the
    first word of an image or a sentence: it now waits for a video. A video opened next is read
    and captioned, PyAV imported after torch's import (never beside it)."""
    imported, said, failure = a_video_after_an_image()
    assert (imported, said, failure) == ("torch av", "media_ready finished", "-")


def broken(folder, package: str) -> str:
    """Code that makes `import package` fail afterwards as a damaged installation's does."""
    return f"sys.path.insert(0, {damaged_package(folder, package, 'libfoo.so: cannot open shared object file')!r})\n"


def test_a_video_after_an_image_is_read_even_where_torch_cannot_be_imported(tmp_path):
    """Its read waits for torch's import: a torch that fails to import must not keep the clip from
    the screen. It is read and shown, and the job ends with one line saying what to do."""
    imported, said, failure = a_video_after_an_image(broken(tmp_path, "torch"))
    assert said == "media_ready failed"
    assert failure.startswith("torch cannot be imported here (libfoo.so") and "\n" not in failure
    assert "install it again" in failure


def test_a_video_where_pyav_cannot_be_imported_ends_with_one_line(tmp_path):
    imported, said, failure = a_video_after_an_image(broken(tmp_path, "av"))
    assert said == "failed"
    assert failure.startswith("av cannot be imported here (libfoo.so") and "\n" not in failure


def test_a_module_in_the_folder_the_app_starts_from_does_not_replace_one_in_the_engine(tmp_path):
    """`python -m` puts the current folder first on the module path: a user's torch.py (or
    signal.py, queue.py) there was imported by the engine instead of the real one."""
    (tmp_path / "torch.py").write_text("raise ImportError('the folder the app was started from')\n")
    lines = run_app("""
def done(job, slot, result):
    print("caption: " + result.text); app.quit()

window.engine.finished.connect(done)
window.engine.failed.connect(lambda job, slot, message: (print("failed: " + message), app.quit()))
window.open_file(str(sample_dir() / "shapes-1.png"))
app.exec()
window.close()
""", cwd=tmp_path)
    assert lines[-1].startswith("caption: ") and len(lines[-1].split()) >= 4, lines


def test_what_was_asked_of_a_crashed_engine_is_answered(tmp_path):
    """A preview, a result opened and a caption asked just as the engine died each get their one
    line (the Export dialog's "rendering…" and the status bar's "opening…" waited for ever)."""
    lines = run_app("""
import signal
from attnviewer.engine.exports import ExportRequest
answers = []

def captioned(job, slot, result):
    if answers:
        return
    answers.append("caption")
    os.kill(window.engine._host.popen.pid, signal.SIGKILL)  # before the engine could answer them:
    window.engine.export(ExportRequest("figure", preview=True))
    window.engine.open_result("%s")

window.engine.finished.connect(captioned)
window.engine.preview_failed.connect(lambda i, m: answers.append("preview: " + m))
window.engine.export_failed.connect(lambda i, m: answers.append("open: " + m))
window.open_file(str(sample_dir() / "shapes-1.png"))

def check():
    if len(answers) >= 3:
        app.quit()
    else:
        QTimer.singleShot(50, check)

check()
app.exec()
for a in answers:
    print(a)
window.close()
""" % (tmp_path / "result.json"))
    said = {line.split(": ", 1)[0]: line.split(": ", 1)[-1] for line in lines[-3:]}
    assert set(said) == {"caption", "preview", "open"}, lines
    assert said["preview"].startswith("the engine stopped unexpectedly") and said["open"] == said["preview"]


def test_an_export_cut_short_by_a_crashed_engine_leaves_no_temporary_file(tmp_path):
    """The writer's hidden temporary (.NAME.XXXXXXXX.part) beside the target stayed when the
    engine died mid-export; the window now removes it, and the target is not made."""
    (tmp_path / "out").mkdir()
    lines = run_app("""
import signal
from attnviewer.engine.exports import ExportRequest
from attnviewer.kinds.base import WriteOptions
out = "%s"
answers = []

def captioned(job, slot, result):
    if not answers:
        answers.append("caption")
        window.engine.export(ExportRequest("animation", out, window.shown, result,
                                           opts=WriteOptions(frame_size=2048)))

def progress(i, done, total):
    if answers == ["caption"]:  # a frame is drawn: its temporary is there
        answers.append("frame")
        print("during:", sorted(os.listdir(os.path.dirname(out))))
        os.kill(window.engine._host.popen.pid, signal.SIGKILL)

window.engine.finished.connect(captioned)
window.engine.export_progress.connect(progress)
window.engine.exported.connect(lambda i, path: (answers.append("exported"), app.quit()))
window.engine.export_failed.connect(lambda i, m: (answers.append("failed: " + m), app.quit()))
window.open_file(str(sample_dir() / "shapes-1.png"))
app.exec()
print(answers[-1])
print("after:", sorted(os.listdir(os.path.dirname(out))))
window.close()
""" % (tmp_path / "out" / "words.gif"))
    during, said, after = lines[-3:]
    assert during.startswith("during: ['.words.gif.") and ".part" in during, lines
    assert said.startswith("failed: the engine stopped unexpectedly"), lines
    assert after == "after: []"


def test_ctrl_c_in_the_terminal_leaves_the_engine_to_the_window():
    """Ctrl+C reaches every process of the terminal's group: the engine printed a KeyboardInterrupt
    and died (the window then said it stopped unexpectedly)."""
    lines = run_app("""
import signal, time
said = []

def captioned(job, slot, result):
    said.append(result.text)
    if len(said) == 1:
        os.kill(window.engine._host.popen.pid, signal.SIGINT)
        QTimer.singleShot(500, lambda: window.open_file(str(sample_dir() / "shapes-2.png")))
    else:
        app.quit()

window.engine.finished.connect(captioned)
window.engine.failed.connect(lambda job, slot, message: (said.append("failed: " + message), app.quit()))
window.open_file(str(sample_dir() / "shapes-1.png"))
app.exec()
print(len(said), said[-1])
window.close()
""")
    assert lines[-1].startswith("2 ") and "failed" not in lines[-1], lines


def test_a_request_that_cannot_be_pickled_fails_with_one_line(qtbot):
    """What cannot cross to the engine (here a probe holding a lambda) fails at once in one line
    instead of leaving its job running for ever."""
    from attnviewer.engine.engine import Engine

    engine = Engine(in_thread=True)
    try:
        with qtbot.waitSignal(engine.failed, timeout=10000) as failed:
            job = engine.probe("caption", "a.png", "caption-shapes", DecodeSettings("greedy"), probe=lambda: None)
        assert failed.args[0] == job and failed.args[2].startswith("could not hand this to the engine (")
        assert job not in engine._open and "whatif" not in engine._running
    finally:
        engine.shutdown()


def test_a_slot_running_a_nested_event_loop_does_not_spin_the_engines_reader(qtbot):
    """A slot of an engine signal that runs a nested event loop (a dialog's exec) had the socket
    notifier fire over and over with the message still unread: 100% of a core."""
    from PySide6.QtCore import QEventLoop, QTimer

    from attnviewer.engine.engine import Engine

    engine = Engine(in_thread=True)
    calls = []
    real = engine._read

    def counted():
        calls.append(1)
        real()

    engine._notifier.activated.disconnect()
    engine._notifier.activated.connect(counted)

    def nested(*args):
        loop = QEventLoop()
        QTimer.singleShot(300, loop.quit)
        loop.exec()

    engine.status.connect(nested)
    try:
        with qtbot.waitSignal(engine.failed, timeout=20000):
            engine.submit("translate", "", "translate-sov", DecodeSettings("greedy"))  # status, then failed
        assert len(calls) < 50, len(calls)
    finally:
        engine.shutdown()
