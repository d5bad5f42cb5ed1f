"""The catalog keeps the models folder's listing and the models' headers while they are unchanged
(opening one input asked for them 13 and up to 9 times on the GUI thread), and sees every change:
a model file added or removed, a transformers folder completed, a file rewritten in place."""
import os
import shutil
import time

import pytest
from PySide6.QtCore import QSettings

from attnviewer import catalog

from .helpers import tiny_translator
from attnviewer.models.checkpoint import save_checkpoint

HOUR = 3600


def age(*paths, seconds=HOUR):
    """Back-date paths: a listing or a header read now is then kept (a fresh stamp never is)."""
    t = time.time() - seconds
    for p in paths:
        os.utime(p, (t, t))


@pytest.fixture
def models_folder(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setattr(catalog, "models_dir", lambda: folder)
    return folder


def test_a_model_added_to_the_folder_after_it_was_listed_is_listed(models_folder, tiny_checkpoint):
    first = shutil.copy(tiny_checkpoint, models_folder / "first.safetensors")
    age(first, models_folder)
    assert list(catalog.bundled()) == ["first"]
    assert list(catalog.bundled()) == ["first"]  # kept
    shutil.copy(tiny_checkpoint, models_folder / "second.safetensors")
    assert list(catalog.bundled()) == ["first", "second"]
    os.remove(first)
    assert list(catalog.bundled()) == ["second"]


def test_a_transformers_folder_completed_after_it_was_listed_is_listed(models_folder, tiny_checkpoint):
    shutil.copy(tiny_checkpoint, models_folder / "lstm.safetensors")
    sub = models_folder / "my-transformer"
    sub.mkdir()  # still being copied: no config.json yet
    age(sub, models_folder, *models_folder.iterdir())
    assert list(catalog.bundled()) == ["lstm"]
    (sub / "config.json").write_text("{}")  # changes the subfolder, not the folder
    assert list(catalog.bundled()) == ["lstm", "my-transformer"]


def test_a_model_rewritten_in_place_is_read_as_what_it_is_now(models_folder, tiny_checkpoint):
    path = shutil.copy(tiny_checkpoint, models_folder / "mine.safetensors")
    age(path, models_folder)
    assert catalog.kind_of("mine") == "caption"
    assert catalog.kind_of("mine") == "caption"
    save_checkpoint(tiny_translator(seed=2), path)  # the same file, another model
    age(path, seconds=HOUR / 2)  # a copy that keeps an old modification time (cp -p)
    assert catalog.kind_of("mine") == "translate"


def test_asking_again_about_unchanged_models_reads_no_header(monkeypatch):
    """The score box asks for a bundled model's family at every change of either column."""
    reads = []
    read = catalog.safetensors_metadata
    monkeypatch.setattr(catalog, "safetensors_metadata", lambda path, *a: reads.append(path) or read(path, *a))
    first = catalog.variants("caption-shapes"), catalog.config_of("caption-shapes")
    assert set(first[0]) >= {"additive", "dot"} and first[1]
    reads.clear()
    assert (catalog.variants("caption-shapes"), catalog.config_of("caption-shapes")) == first
    assert reads == []


def test_opening_inputs_in_the_window_reads_no_model_header_twice(qtbot, tmp_path, monkeypatch):
    from attnviewer.ui.main_window import MainWindow

    w = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    monkeypatch.setattr(w.engine, "submit", lambda *a, **k: 1)  # the controls and the boxes, no decoding
    w.translate("the old teacher")
    w.open_file(str(catalog.resource_dir() / "samples" / "shapes-1.png"))
    reads = []
    read = catalog.safetensors_metadata
    monkeypatch.setattr(catalog, "safetensors_metadata", lambda path, *a: reads.append(path) or read(path, *a))
    w.translate("the old teacher")
    w.open_file(str(catalog.resource_dir() / "samples" / "shapes-2.png"))
    assert w.sides["main"].controls.model_name() == "caption-shapes"
    assert reads == []
    w.close()
