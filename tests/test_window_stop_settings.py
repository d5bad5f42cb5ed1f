"""The window's Stop (Esc) and its saved settings read as untrusted input.

Esc while a large transformer loads: its count of tensors shows in the status bar, the load stops
at its next tensor and the screen is as before. Settings of the wrong type, a settings file that is
a link, or 100,000 recent files: the window opens, says what it dropped in one line, and never
writes through the link."""
from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt

pytest.importorskip("transformers")

from attnviewer.ui.main_window import MAX_RECENT, MainWindow  # noqa: E402

from .helpers import GUI_TIMEOUT  # noqa: E402


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    from .hf_models import marian

    return str(marian(tmp_path_factory.mktemp("hf") / "marian"))


def test_esc_stops_a_loading_model_and_the_screen_stays_as_it_was(qtbot, window, translator, monkeypatch):
    import transformers.core_model_loading as loading

    from attnviewer import pipeline

    read = []

    def slow_load(kind, name, device="auto", trust_pickle=False):  # a large folder: 400 tensors
        for _ in loading.tqdm(dict.fromkeys(range(400)).items(), desc="Loading weights"):
            time.sleep(0.02)
            read.append(1)
        raise AssertionError("the load was not stopped")

    monkeypatch.setattr(pipeline, "load_model", slow_load)
    window.open_model_folder(translator)
    window.translate("the cat sees a dog")
    bar = window.read_progress
    qtbot.waitUntil(lambda: bar.isVisible() and bar.maximum() == 400 and bar.value() > 0, timeout=GUI_TIMEOUT)
    assert bar.format() == "loading model %p%"
    window.stop_action.trigger()
    assert not bar.isVisible() and window.sides["main"].jobs.pending is None
    assert "stopped" in window.statusBar().currentMessage()
    time.sleep(0.3)  # (the engine sees the stop within its poll, the load at its next tensor)
    so_far = len(read)
    time.sleep(0.3)
    assert len(read) == so_far < 400, "the load went on after Esc"
    assert window.shown is None and not window.error_banner.isVisible()


def _settings(tmp_path, **values) -> QSettings:
    path = tmp_path / "settings.ini"
    raw = QSettings(str(path), QSettings.Format.IniFormat)
    for key, value in values.items():
        raw.setValue(key.replace("__", "/"), value)
    raw.sync()
    return raw


def _open(qtbot, settings) -> MainWindow:
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show()
    return w


def test_settings_of_the_wrong_type_are_dropped_with_one_line(qtbot, tmp_path):
    raw = _settings(tmp_path, recent=QPoint(1, 2), overlay=["jet", 3], geometry="not a geometry",
                    models__opened=QPoint(3, 4), models__chosen__caption=5, last_folder=["a", "b"])
    w = _open(qtbot, raw)
    qtbot.waitUntil(lambda: "dropped" in w.models_note.text() or "dropped" in w.statusBar().currentMessage(),
                    timeout=GUI_TIMEOUT)
    assert w.recent_menu.actions() == [] and w.overlay_controls.settings().cmap == "jet"
    w.close()


def test_sixty_thousand_recent_files_open_the_window_with_the_last_ten(qtbot, tmp_path):
    raw = _settings(tmp_path, recent=[f"/p/{i}.png" for i in range(60_000)])  # (under the 1 MB a settings file may have)
    w = _open(qtbot, raw)
    assert 0 < len(w.recent_menu.actions()) <= MAX_RECENT
    w.close()


def test_a_settings_file_that_is_a_link_is_never_written_through(qtbot, tmp_path):
    target = tmp_path / "not-the-apps.txt"
    target.write_text("keep me\n")
    path = tmp_path / "settings.ini"
    path.symlink_to(target)
    w = MainWindow(settings=QSettings(str(path), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.show()
    w.close()
    assert target.read_text() == "keep me\n"
    assert path.is_file() and not path.is_symlink()
