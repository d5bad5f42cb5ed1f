"""Transformer model folders in the window (issue 19), with real widgets, the real engine thread and
tiny random-weight models built in code (tests/hf_models.py), offscreen: opening a folder (menu,
drag and drop, the Hugging Face cache), words and maps streaming for images and sentences, the
lens redrawing from stored attention without a job, and refused folders. Waits are on
conditions, never sleeps."""
import json
import shutil

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QObject, QPointF, Qt, QUrl, Slot
from PySide6.QtGui import QDropEvent

from attnviewer.lens import Lens

from .helpers import GUI_TIMEOUT, caption_done, wait_finished
from .test_app import Recorder

pytest.importorskip("transformers")

SENTENCE = "the cat sees a dog in the garden"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from .hf_models import marian, vit_gpt2

    root = tmp_path_factory.mktemp("hf")
    return {"caption": vit_gpt2(root / "vit-gpt2"), "translate": marian(root / "marian")}


class Busy(QObject):
    """Records whether the window showed itself busy when a model started loading."""

    def __init__(self, window):
        super().__init__()
        self.window, self.events = window, []

    @Slot(int, str, str)
    def on_loading(self, job, slot, label):
        self.events.append((job, label, self.window.read_progress.isVisible()))


def items(controls):
    box = controls.model
    return [(box.itemText(i), box.itemData(i)) for i in range(box.count())]


def sentence_done(qtbot, w, text=SENTENCE):
    w.translate(text)
    wait_finished(qtbot, w)
    qtbot.waitUntil(lambda: w.shown is not None and w.shown.text == text, timeout=GUI_TIMEOUT)
    return w.sides["main"].state


def test_a_transformer_folder_streams_words_and_maps_over_an_image(qtbot, window, samples, folders):
    rec, busy = Recorder(), Busy(window)
    window.engine.step.connect(rec.on_step)
    window.engine.loading.connect(busy.on_loading)
    folder = str(folders["caption"])
    window.open_model_folder(folder)
    side = window.sides["main"]
    assert side.controls.model_name() == folder
    assert folder in [d for _, d in items(side.controls)]
    assert side.controls.model.currentText() == "vit-gpt2"
    state = caption_done(qtbot, window, samples[0])
    assert busy.events and busy.events[0][1] == "vit-gpt2" and busy.events[0][2]  # busy while it loaded
    assert not window.read_progress.isVisible()
    streamed = [s for s in rec.steps if s[0] == state.job]
    assert streamed and [s[2] for s in streamed] == list(range(len(streamed)))
    assert {s[4] for s in streamed} == {(4, 4)}  # a 32 px image in 8 px patches
    assert state.words and all(w.heads is not None and w.heads.shape[:2] == (2, 4) for w in state.words)
    assert state.result.places is not None
    lens = side.lens_controls
    assert lens.isVisible() and lens.shape == (2, 4)
    assert not lens.raw.isVisible()  # subwords are a sentence's
    assert "layer 2 of 2, mean of heads" in lens.info.text() and "attention sink" in lens.info.text()
    assert window.sides["main"].attention.view.overlay is not None
    assert "layer 2 of 2" in window.status_label.text()


def test_changing_the_lens_redraws_every_word_without_a_job(qtbot, window, samples, folders):
    window.open_model_folder(str(folders["caption"]))
    state = caption_done(qtbot, window, samples[0])
    side = window.sides["main"]
    view = side.attention.view
    window.go_to(0)
    before_overlay = view.overlay.copy()
    before_strip = list(side.attention.strip._keys)
    ids, latest, pending = window.engine._ids, window.engine.latest_job(), side.jobs.pending
    side.lens_controls.set_lens(Lens(0, 1))  # layer 1, head 2
    assert (window.engine._ids, window.engine.latest_job(), side.jobs.pending) == (ids, latest, pending)
    assert not np.array_equal(view.overlay, before_overlay)
    drawn, _ = side.drawn()
    places = state.result.places
    for word, shown in zip(state.words, drawn):
        expected, sink = places.maps(word.heads, Lens(0, 1))
        np.testing.assert_allclose(shown.attention, expected, atol=1e-6)
        assert shown.sink == pytest.approx(float(sink))
    qtbot.waitUntil(lambda: side.attention.strip._keys != before_strip, timeout=5000)  # every thumbnail again
    assert "layer 1 of 2, head 2" in side.lens_controls.info.text()
    assert "layer 1 of 2, head 2" in window.status_label.text()
    # the words themselves keep the pipeline's default lens: going back shows the first map again
    side.lens_controls.set_lens(Lens())
    np.testing.assert_array_equal(view.overlay, before_overlay)
    # the heads grid: one map per layer x head of the current word
    side.lens_controls.grid.setChecked(True)
    grid = side.heads_grid
    assert grid is not None and grid.isVisible()
    assert grid.maps.shape == (2, 4, 4, 4)
    np.testing.assert_allclose(grid.maps[0, 1], places.maps(state.words[0].heads, Lens(0, 1))[0], atol=1e-6)
    window.go_to(len(state.words) - 1)
    np.testing.assert_allclose(grid.maps[1, 0], places.maps(state.words[-1].heads, Lens(1, 0))[0], atol=1e-6)
    assert window.engine._ids == ids
    side.lens_controls.grid.setChecked(False)
    assert not grid.isVisible()
    # export gets the maps as on screen, its title the lens
    side.lens_controls.set_lens(Lens("mean", "max"))
    source = window._export_source()
    assert source.result.lens == {"layer": "mean", "heads": "max"} and state.result.lens != source.result.lens
    np.testing.assert_allclose(source.hyp.attention[0], places.maps(state.words[0].heads, Lens("mean", "max"))[0],
                               atol=1e-6)
    assert "mean of layers, max of heads" in source.title


def test_a_transformer_translator_streams_words_and_the_matrix_and_shows_subwords(qtbot, window, folders):
    from attnviewer.settings import DecodeSettings

    rec = Recorder()
    window.engine.step.connect(rec.on_step)
    window.open_model_folder(str(folders["translate"]))  # an empty window takes the folder's kind
    side = window.sides["main"]
    assert side.controls.kind == "translate" and side.controls.model_name() == str(folders["translate"])
    side.controls.set_settings(DecodeSettings("beam", beam=3, max_len=6))
    state = sentence_done(qtbot, window)
    words = window.shown.words
    assert words[:3] == ["the", "cat", "sees"]
    streamed = [s for s in rec.steps if s[0] == state.job]
    assert streamed and {s[4] for s in streamed} == {(len(words),)}
    pane, media = side.attention, window.media_pane("text")
    assert pane.matrix.shape == (len(state.words), len(words))
    assert media.tiles.weights is not None and len(media.tiles.weights) == len(words)
    lens = side.lens_controls
    assert lens.isVisible() and lens.raw.isVisible() and lens.shape == (2, 4)
    ids = window.engine._ids
    # raw subwords: one column per piece the tokenizer made, </s> included
    labels = state.result.places.labels
    assert "</s>" in labels and len(labels) > len(words) - 1
    lens.raw.setChecked(True)
    assert pane.source == labels and media.tiles.words == labels
    assert pane.matrix.shape == (len(state.words), len(labels))
    np.testing.assert_allclose(pane.matrix.sum(axis=1), 1.0, atol=1e-5)
    lens.raw.setChecked(False)
    assert pane.source == words and media.tiles.words == words
    matrix = pane.matrix.copy()
    lens.set_lens(Lens("rollout", "mean"))
    assert not np.allclose(pane.matrix, matrix)
    assert window.engine._ids == ids
    assert "rollout" in lens.info.text()


def test_a_refused_folder_says_why_in_one_line_and_is_not_listed(qtbot, window, samples, folders, tmp_path):
    state = caption_done(qtbot, window, samples[0])
    before = ([w.token for w in state.words], state.job, window.sides["main"].controls.model_name())
    bad = tmp_path / "remote-code"
    shutil.copytree(folders["caption"], bad)
    config = json.loads((bad / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
    (bad / "config.json").write_text(json.dumps(config))
    window.error_banner.hide()
    ids = window.engine._ids
    window.open_model_folder(str(bad))
    assert window.error_banner.isVisible()
    assert "auto_map" in window.last_error and "\n" not in window.last_error
    assert window.engine._ids == ids  # nothing was run
    for side in window.sides.values():
        assert str(bad) not in [d for _, d in items(side.controls)]
    assert str(bad) not in window.models.opened
    assert ([w.token for w in state.words], state.job, window.sides["main"].controls.model_name()) == before
    # pickles only: refused the same way, also when dropped on the window
    pickles = tmp_path / "pickles"
    shutil.copytree(folders["caption"], pickles)
    (pickles / "model.safetensors").rename(pickles / "pytorch_model.bin")
    window.error_banner.hide()
    drop(window, pickles)
    assert window.error_banner.isVisible() and "pickles" in window.last_error
    assert str(pickles) not in [d for _, d in items(window.sides["main"].controls)]


def drop(window, path):
    """Drop a path on the window (the mime data lives until the drop is handled: the event does not own it)."""
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(path))])
    window.dropEvent(QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier))


def test_a_dropped_folder_is_opened_and_remembered(qtbot, window, samples, folders):
    caption_done(qtbot, window, samples[0])
    folder = str(folders["caption"])
    drop(window, folder)
    wait_finished(qtbot, window)
    side = window.sides["main"]
    assert side.state.result.model == folder and side.state.result.places is not None
    assert folder in window.models.opened  # remembered like an opened model file
    assert window.qsettings.value("models/opened") in (folder, [folder]) or folder in window.qsettings.value(
        "models/opened")


def test_the_model_box_lists_the_supported_models_of_the_hugging_face_cache(qtbot, window, folders, tmp_path,
                                                                            monkeypatch):
    hub = tmp_path / "hub"
    snap = hub / "models--tiny-org--opus-mt-tiny" / "snapshots" / "0123abcd"
    shutil.copytree(folders["translate"], snap)
    bad = hub / "models--evil--remote" / "snapshots" / "ffff"
    shutil.copytree(folders["translate"], bad)
    config = json.loads((bad / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "x.Y"}
    (bad / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    window.engine.scan_cache()
    qtbot.waitUntil(lambda: window.models.cached.get("translate") == [str(snap)], timeout=GUI_TIMEOUT)
    controls = window.sides["main"].controls
    assert str(snap) not in [d for _, d in items(controls)]  # a captioning box: not listed
    controls.set_kind("translate")
    listed = dict((d, t) for t, d in items(controls) if d)
    assert listed[str(snap)] == "tiny-org/opus-mt-tiny (cache)"
    assert str(bad) not in listed
    assert "Open model folder…" in [t for t, _ in items(controls)]


def test_a_new_request_does_not_wait_for_a_model_still_loading(qtbot, window, samples, folders, tiny_checkpoint,
                                                               monkeypatch):
    """A large folder loads for minutes: the window shows it busy, and choosing another model
    meanwhile decodes with that one at once (the load goes on, on its loader thread)."""
    import threading

    from attnviewer import pipeline

    gate, original, loads = threading.Event(), pipeline.load_model, []

    def slow_load(kind, name, *args, **kwargs):
        if name == str(folders["caption"]):
            loads.append(name)
            gate.wait(GUI_TIMEOUT / 1000)  # held until the test lets it go
        return original(kind, name, *args, **kwargs)

    monkeypatch.setattr(pipeline, "load_model", slow_load)
    busy = Busy(window)
    window.engine.loading.connect(busy.on_loading)
    side = window.sides["main"]
    try:
        window.open_model_folder(str(folders["caption"]))
        window.open_file(str(samples[0]))
        qtbot.waitUntil(lambda: any(label == "vit-gpt2" for _, label, _ in busy.events), timeout=GUI_TIMEOUT)
        loading_job = next(job for job, label, _ in busy.events if label == "vit-gpt2")
        assert window.read_progress.isVisible() and window.read_progress.maximum() == 0  # busy, no end known
        side.controls.set_model(str(tiny_checkpoint))
        window.rerun(side)
        wait_finished(qtbot, window)
        assert side.state.result.model == str(tiny_checkpoint) and side.state.job != loading_job
        assert not gate.is_set() and not window.read_progress.isVisible()
    finally:
        gate.set()
    # the folder's load went on: asked again, it decodes without loading again
    busy.events.clear()
    side.controls.set_model(str(folders["caption"]))
    window.rerun(side)
    wait_finished(qtbot, window)
    assert side.state.result.model == str(folders["caption"]) and side.state.result.places is not None
    assert len(loads) == 1


def test_a_transformer_video_captioner_draws_frames_through_the_lens(qtbot, window, tmp_path_factory):
    from attnviewer.resources import sample_dir

    from . import hf_models

    if not hasattr(hf_models, "video_gpt2"):
        pytest.skip("tests/hf_models.py has no tiny video captioner")
    folder = str(hf_models.video_gpt2(tmp_path_factory.mktemp("hf-video") / "timesformer-gpt2"))
    window.open_model_folder(folder)
    side = window.sides["main"]
    assert side.controls.kind == "video" and side.controls.model_name() == folder
    clip = sample_dir() / "clip-1.mp4"
    window.open_file(str(clip))
    wait_finished(qtbot, window)
    qtbot.waitUntil(lambda: window.shown is not None and window.shown.path == str(clip), timeout=GUI_TIMEOUT)
    state = side.state
    assert state.words and state.current.heads is not None
    pane = side.attention
    np.testing.assert_allclose(pane.weights, state.current.attention, atol=1e-6)
    assert pane.weights.shape == (4,)  # one weight per frame the encoder read
    ids, before = window.engine._ids, pane.weights.copy()
    side.lens_controls.set_lens(Lens(0, "max"))
    expected, _ = state.result.places.maps(state.current.heads, Lens(0, "max"))
    np.testing.assert_allclose(pane.weights, expected, atol=1e-6)
    assert not np.allclose(pane.weights, before) and window.engine._ids == ids
    assert not side.lens_controls.raw.isVisible()


def test_a_reopened_result_shows_the_lens_it_was_saved_with(qtbot, window, samples, folders, tmp_path):
    from attnviewer.export.data import write_result
    from attnviewer.ui.lensing import lensed_result

    window.open_model_folder(str(folders["caption"]))
    state = caption_done(qtbot, window, samples[0])
    first = state.words[0].attention.copy()  # drawn with the default lens
    saved = lensed_result(state.result, Lens(1, 2))
    path = write_result(saved, tmp_path / "result.json", tmp_path / "result.npz")[0]
    window.error_banner.hide()
    ids = window.engine._ids
    window.open_result(str(path))
    qtbot.waitUntil(lambda: window.jobs.opening is None, timeout=GUI_TIMEOUT)
    assert not window.error_banner.isVisible(), window.last_error
    assert window.sides["main"].state.job > ids
    side = window.sides["main"]
    assert side.lens_controls.lens() == Lens(1, 2)
    assert "layer 2 of 2, head 3" in side.lens_controls.info.text()
    drawn, _ = side.drawn()
    reopened = side.state.result
    np.testing.assert_allclose(drawn[0].attention, reopened.places.maps(reopened.best.heads[0], Lens(1, 2))[0],
                               atol=1e-3)  # heads saved as float16
    side.lens_controls.set_lens(Lens())  # back to the default: drawn again from the stored heads
    drawn, _ = side.drawn()
    np.testing.assert_allclose(drawn[0].attention, first, atol=1e-3)  # heads saved as float16
