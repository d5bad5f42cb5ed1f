import os
import tempfile

# Qt must never need a display in tests; torch must not fight the other test process for cores.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# nor the processes tests start (the CLI, benchmarks): with two workers, two threads each would
# oversubscribe the two cores of a small CI machine
os.environ.setdefault("OMP_NUM_THREADS", "1")
# The windows of tests run their engine on a thread of the test process, where a test can change the
# engine's code (an engine process per window would also import torch again each time); the tests
# of the engine's own process ask for it (tests/test_engine_process.py).
os.environ.setdefault("ATTNVIEWER_ENGINE", "thread")
# The window lists the user's models folder (under the data dir): tests see an empty one of their own.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="attnviewer-test-data-")

import pytest

from attnviewer.models.checkpoint import save_checkpoint
from attnviewer.resources import resource_dir, sample_dir

from .helpers import one_torch_thread, tiny_captioner  # noqa: F401  (a fixture, for every test module)

WORKERS = 2  # each test runs torch on one thread: two processes use both cores of a small CI machine


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """The whole suite (`pytest -q`, no paths given) runs on WORKERS processes (pytest-xdist), each
    test file whole on one of them, so its module fixtures are built once. A file or test named on
    the command line runs in this process: starting workers (torch, Qt) would cost more than it saves.
    `-n N` chooses for itself; `-n 0` turns the workers off."""
    if (config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput")
            and config.args_source is pytest.Config.ArgsSource.TESTPATHS
            and config.option.numprocesses is None and min(WORKERS, os.cpu_count() or 1) > 1):
        config.option.numprocesses = min(WORKERS, os.cpu_count() or 1)
        if config.option.dist == "no":
            config.option.dist = "loadfile"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A small random-weight captioner saved as a real checkpoint file."""
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    save_checkpoint(tiny_captioner(seed=1, max_len=6, end_bias=-4.0), path, {"note": "random weights for tests"})
    return path


@pytest.fixture(scope="session")
def samples():
    return sorted(sample_dir().glob("*.png"))


@pytest.fixture(scope="session")
def bundled_model_path():
    path = resource_dir() / "models" / "caption-shapes.safetensors"
    assert path.exists(), "the bundled model is missing: run scripts/train-bundled.sh"
    return path


@pytest.fixture
def window(qtbot, tmp_path, tiny_checkpoint):
    """The main window, offscreen at 1280x800, on the tiny model with greedy decoding."""
    from PySide6.QtCore import QSettings

    from attnviewer.settings import DecodeSettings
    from attnviewer.ui.main_window import MainWindow

    w = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    w.sides["main"].controls.set_model(str(tiny_checkpoint))
    w.sides["main"].controls.set_settings(DecodeSettings("greedy", max_len=6))
    yield w
    w.close()
    assert not w.engine.running(), "the engine outlived the window"
    import threading

    from attnviewer.engine.player import THREAD_NAME

    assert not [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()], \
        "the video player's decoding thread outlived the window"
