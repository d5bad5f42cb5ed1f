"""The Export dialog and File → Open result, with real widgets, a real engine thread and a tiny
model, offscreen. Waits are on conditions (never qtbot.waitSignal on an engine signal: its
callable would run on the engine thread), never sleeps."""
import errno
import json
import shutil
import threading
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QMessageBox

from attnviewer.export import animation as anim
from attnviewer.export import figures
from attnviewer.export.data import load_result
from attnviewer.ui.export_dialog import ExportDialog
from attnviewer.ui.main_window import MainWindow

from .helpers import GUI_TIMEOUT, caption_done, wait_finished



def open_dialog(qtbot, w) -> ExportDialog:
    w.choose_export()
    dlg = w.export_dialog
    assert dlg.isVisible()
    qtbot.waitUntil(lambda: dlg.previews >= 1 or dlg.choice() == "result", timeout=GUI_TIMEOUT)
    return dlg


def save_as(monkeypatch, path, calls=None):
    def fake(parent, caption, start, filters, selected=""):
        if calls is not None:
            calls.append((start, filters, selected))
        return str(path), selected

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake))


def answer(monkeypatch, button, calls=None):
    def fake(*args, **kwargs):
        if calls is not None:
            calls.append(args)
        return button

    monkeypatch.setattr(QMessageBox, "question", staticmethod(fake))


def pixels(pixmap) -> np.ndarray:
    from PySide6.QtGui import QImage

    image = pixmap.toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    return np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())[:, : 3 * w].copy()


def export(qtbot, dlg, monkeypatch, path):
    save_as(monkeypatch, path)
    dlg.save()
    qtbot.waitUntil(lambda: not dlg.isVisible() or dlg.message.isVisible(), timeout=GUI_TIMEOUT)
    assert not dlg.message.isVisible(), dlg.message.text()
    assert dlg.last_written == str(path)


# -- preview ---------------------------------------------------------------------------------------

def test_preview_updates_when_an_option_changes(qtbot, window, samples):
    caption_done(qtbot, window, samples[0])
    dlg = open_dialog(qtbot, window)
    before = pixels(dlg.preview_pixmap)
    assert before.std() > 10, "the preview is blank"
    assert dlg.preview.pixmap() is not None and not dlg.preview.pixmap().isNull()
    shown = dlg.previews
    dlg.cmap.setCurrentText("gray")
    dlg.opacity.setValue(0.9)  # two quick changes: one debounced re-render
    qtbot.waitUntil(lambda: dlg.previews > shown, timeout=GUI_TIMEOUT)
    after = pixels(dlg.preview_pixmap)
    assert after.shape != before.shape or not np.array_equal(after, before)
    # every choice has a preview (the raw result a summary)
    for choice in ("word", "overlay", "gif", "result"):
        shown = dlg.previews
        dlg.select(choice)
        if choice == "result":
            assert "hypothes" in dlg.preview.text()
            assert not dlg.zoom.isEnabled()  # words: nothing to zoom
        else:
            qtbot.waitUntil(lambda: dlg.previews > shown, timeout=GUI_TIMEOUT)
            assert dlg.zoom.isEnabled() and dlg.preview_note.text().startswith("preview, rendered at ")
    dlg.close()


def test_preview_and_export_render_on_the_engine_thread(qtbot, window, samples, tmp_path, monkeypatch):
    caption_done(qtbot, window, samples[0])
    threads = []
    real = figures.caption_figure

    def spy(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(figures, "caption_figure", spy)
    dlg = open_dialog(qtbot, window)
    export(qtbot, dlg, monkeypatch, tmp_path / "grid.png")
    assert len(threads) >= 2  # a preview and the export
    assert all(t is not threading.main_thread() for t in threads)


# -- exports ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("choice,name", [("grid", "grid.png"), ("grid", "grid.svg"), ("grid", "grid.pdf"),
                                         ("word", "word.png"), ("word", "word.svg"), ("overlay", "overlay.png"),
                                         ("gif", "caption.gif"), ("mp4", "caption.mp4"),
                                         ("result", "result.json")])
def test_exporting_each_kind_writes_a_file_that_opens(qtbot, window, samples, tmp_path, monkeypatch, choice, name):
    if choice == "mp4" and anim.mp4_encoder() is None:
        pytest.skip("no MP4 encoder in this FFmpeg build")
    state = caption_done(qtbot, window, samples[0])
    words = [w.token for w in state.words]
    window.go_to(0)
    dlg = open_dialog(qtbot, window)
    dlg.select(choice)
    out = tmp_path / name
    export(qtbot, dlg, monkeypatch, out)
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() == f"wrote {out}", timeout=GUI_TIMEOUT)
    assert out.is_file() and out.stat().st_size > 100
    if out.suffix == ".png":
        with Image.open(out) as im:
            im.load()
            size = im.size
        if choice == "overlay":  # the overlay alone, at the image's full resolution
            assert size == (window.shown.rgb.shape[1], window.shown.rgb.shape[0])
    elif out.suffix == ".svg":
        root = ET.parse(out).getroot()
        assert root.tag.endswith("svg")
        text = "".join(root.itertext())
        assert all(w in text for w in (words if choice == "grid" else words[:1]))  # the words stay text
    elif out.suffix == ".pdf":
        assert out.read_bytes().startswith(b"%PDF")
    elif out.suffix == ".gif":
        with Image.open(out) as im:
            assert im.n_frames == len(words)
    elif out.suffix == ".mp4":
        import av

        with av.open(str(out)) as box:
            frames = sum(1 for _ in box.decode(video=0))
        assert frames == len(words) * round(dlg.seconds.value() * anim.VIDEO_FPS)
    else:
        assert json.loads(out.read_text())["hypotheses"][0]["tokens"] == words
        assert out.with_suffix(".npz").is_file()
        again = load_result(out)
        for a, b in zip(again.hypotheses, state.hypotheses):
            np.testing.assert_array_equal(a.attention, b.attention)


def test_mp4_is_disabled_with_a_reason_when_no_encoder(qtbot, window, samples, monkeypatch):
    caption_done(qtbot, window, samples[0])
    monkeypatch.setattr(anim, "mp4_encoder", lambda: None)
    monkeypatch.setattr(window.engine, "look_ups", (figures.GENERIC_FONTS, None))  # what the engine found
    dlg = open_dialog(qtbot, window)
    mp4 = dlg.kind_buttons["mp4"]
    assert not mp4.isEnabled()
    assert "encoder" in mp4.toolTip() and "GIF" in mp4.toolTip()
    assert dlg.kind_buttons["gif"].isEnabled()
    dlg.close()


def test_animation_reports_progress_and_can_be_stopped(qtbot, window, samples, tmp_path, monkeypatch):
    state = caption_done(qtbot, window, samples[0])
    gate = threading.Event()
    real = anim.animation_frames

    def slow_frames(*args, **kwargs):
        for frame in real(*args, **kwargs):
            gate.wait(10)  # the test holds the export between frames
            yield frame

    dlg = open_dialog(qtbot, window)
    shown = dlg.previews
    dlg.select("gif")
    qtbot.waitUntil(lambda: dlg.previews > shown, timeout=GUI_TIMEOUT)
    monkeypatch.setattr(anim, "animation_frames", slow_frames)  # (after the preview: it draws frames too)
    out = tmp_path / "caption.gif"
    out.write_bytes(b"what the user had")
    answer(monkeypatch, QMessageBox.StandardButton.Yes)
    save_as(monkeypatch, out)
    dlg.save()
    assert dlg.export_id is not None and dlg.progress_row.isVisible() and not dlg.save_button.isEnabled()
    qtbot.waitUntil(lambda: dlg.progress.maximum() == len(state.words) + 1, timeout=GUI_TIMEOUT)
    gate.set()  # let one frame through ...
    qtbot.waitUntil(lambda: dlg.progress.value() >= 1, timeout=GUI_TIMEOUT)
    gate.clear()
    dlg.stop_button.click()  # ... and stop
    gate.set()
    qtbot.waitUntil(lambda: dlg.export_id is None, timeout=GUI_TIMEOUT)
    assert dlg.isVisible() and "stopped" in dlg.message.text()
    assert out.read_bytes() == b"what the user had"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    assert not window.error_banner.isVisible()
    # and it can be run again to the end
    export(qtbot, dlg, monkeypatch, out)
    with Image.open(out) as im:
        assert im.n_frames == len(state.words)


# -- overwrite, errors -----------------------------------------------------------------------------

def test_overwrite_needs_confirmation(qtbot, window, samples, tmp_path, monkeypatch):
    caption_done(qtbot, window, samples[0])
    out = tmp_path / "figure.png"
    out.write_bytes(b"old")
    asked = []
    dlg = open_dialog(qtbot, window)
    answer(monkeypatch, QMessageBox.StandardButton.No, asked)
    save_as(monkeypatch, out)
    dlg.save()
    assert len(asked) == 1 and "figure.png" in asked[0][2]
    assert dlg.export_id is None and dlg.isVisible()  # nothing was sent to the engine
    assert out.read_bytes() == b"old"

    answer(monkeypatch, QMessageBox.StandardButton.Yes, asked)
    export(qtbot, dlg, monkeypatch, out)
    assert len(asked) == 2
    with Image.open(out) as im:
        assert im.format == "PNG"


def test_result_overwrite_asks_for_the_json_and_npz(qtbot, window, samples, tmp_path, monkeypatch):
    caption_done(qtbot, window, samples[0])
    (tmp_path / "r.npz").write_bytes(b"old arrays")
    asked = []
    dlg = open_dialog(qtbot, window)
    dlg.select("result")
    answer(monkeypatch, QMessageBox.StandardButton.No, asked)
    save_as(monkeypatch, tmp_path / "r.json")
    dlg.save()
    assert len(asked) == 1 and "r.npz" in asked[0][2]
    assert not (tmp_path / "r.json").exists() and (tmp_path / "r.npz").read_bytes() == b"old arrays"
    dlg.close()


def test_missing_suffix_is_added_from_the_filter(qtbot, window, samples, tmp_path, monkeypatch):
    caption_done(qtbot, window, samples[0])
    dlg = open_dialog(qtbot, window)
    dlg.select("gif")
    save_as(monkeypatch, tmp_path / "noext")
    dlg.save()
    qtbot.waitUntil(lambda: not dlg.isVisible(), timeout=GUI_TIMEOUT)
    assert (tmp_path / "noext.gif").is_file()


@pytest.mark.parametrize("where", ["missing folder", "a file as folder", "read-only folder"])
def test_unwritable_folder_shows_an_error_and_keeps_everything(qtbot, window, samples, tmp_path, monkeypatch, where):
    import os

    state = caption_done(qtbot, window, samples[0])
    before = ([w.token for w in state.words], window.shown, state.job)
    if where == "missing folder":
        out = tmp_path / "no" / "such" / "figure.png"
    elif where == "a file as folder":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "figure.png"
    else:
        if os.geteuid() == 0:
            pytest.skip("root can write into read-only folders")
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
        out = folder / "figure.png"
    dlg = open_dialog(qtbot, window)
    dlg.cmap.setCurrentText("viridis")
    save_as(monkeypatch, out)
    dlg.save()
    qtbot.waitUntil(lambda: window.error_banner.isVisible() and bool(dlg.message.text()), timeout=GUI_TIMEOUT)
    assert str(out) in window.last_error and "\n" not in window.last_error
    assert dlg.isVisible() and dlg.message.text() == window.last_error
    assert dlg.cmap.currentText() == "viridis" and dlg.save_button.isEnabled()
    assert ([w.token for w in state.words], window.shown, state.job) == before
    assert not out.exists()
    dlg.close()


def test_full_disk_shows_an_error_and_keeps_the_old_file(qtbot, window, samples, tmp_path, monkeypatch):
    caption_done(qtbot, window, samples[0])
    out = tmp_path / "figure.png"
    out.write_bytes(b"old")
    dlg = open_dialog(qtbot, window)

    def full_disk(fig, path, dpi):
        with figures.atomic_path(path):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(figures, "save_figure", full_disk)
    answer(monkeypatch, QMessageBox.StandardButton.Yes)
    save_as(monkeypatch, out)
    dlg.save()
    qtbot.waitUntil(lambda: window.error_banner.isVisible(), timeout=GUI_TIMEOUT)
    assert "disk is full" in window.last_error
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".figure")) == []
    dlg.close()


# -- remembering -----------------------------------------------------------------------------------

def test_choices_persist_in_qsettings(qtbot, window, samples, tmp_path, monkeypatch, tiny_checkpoint):
    caption_done(qtbot, window, samples[0])
    dlg = open_dialog(qtbot, window)
    dlg.select("word")
    dlg.columns.setValue(3)
    dlg.cmap.setCurrentText("magma")
    dlg.opacity.setValue(0.45)
    dlg.smoothing.setCurrentText("nearest")
    dlg.scale.setCurrentIndex(dlg.scale.findData("fixed"))
    dlg.panel.setValue(3.0)
    dlg.dpi.setValue(200)
    dlg.font.setCurrentText("DejaVu Serif")
    dlg.font_size.setValue(14)
    dlg.show_prob.setChecked(False)
    folder = tmp_path / "figures"
    folder.mkdir()
    export(qtbot, dlg, monkeypatch, folder / "one.svg")
    expected = dlg.style()

    # a new window over the same settings file
    window.close()
    w2 = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w2)
    w2.show()
    w2.sides["main"].controls.set_model(str(tiny_checkpoint))
    w2.sides["main"].controls.set_settings(w2.sides["main"].controls.settings().__class__("greedy", max_len=6))
    try:
        caption_done(qtbot, w2, samples[1])
        again = open_dialog(qtbot, w2)
        assert again.choice() == "word"
        assert again.style() == expected
        assert (expected.columns, expected.cmap, expected.opacity, expected.scale, expected.dpi,
                expected.font_family, expected.show_prob) == (3, "magma", 0.45, "fixed", 200, "DejaVu Serif", False)
        calls = []
        save_as(monkeypatch, folder / "two.svg", calls)
        again.save()
        start, filters, selected = calls[0]
        assert start.startswith(str(folder)) and start.endswith(".svg")  # the last folder and format
        assert selected.endswith("(*.svg)")
        qtbot.waitUntil(lambda: not again.isVisible(), timeout=GUI_TIMEOUT)
    finally:
        w2.close()


# -- open result -----------------------------------------------------------------------------------

def open_result_via_menu(qtbot, w, monkeypatch, path):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(path), "")))
    w.choose_result()


@pytest.mark.parametrize("which", ["json", "npz"])
def test_open_result_shows_the_same_words_and_attention(qtbot, window, samples, tmp_path, monkeypatch, which):
    controls = window.sides["main"].controls
    controls.set_settings(controls.settings().__class__("beam", beam=3, max_len=6))
    state = caption_done(qtbot, window, samples[0])
    original = state.result
    words = [w.token for w in state.words]
    dlg = open_dialog(qtbot, window)
    dlg.select("result")
    export(qtbot, dlg, monkeypatch, tmp_path / "run.json")

    controls.set_settings(controls.settings().__class__("greedy", max_len=3))
    caption_done(qtbot, window, samples[1])  # something else on screen now
    assert window.shown.path == str(samples[1])

    open_result_via_menu(qtbot, window, monkeypatch, tmp_path / f"run.{which}")
    qtbot.waitUntil(lambda: window.shown.path == str(samples[0]), timeout=GUI_TIMEOUT)
    wait_finished(qtbot, window)
    assert [w.token for w in state.words] == words
    assert window.sides["main"].caption.token_texts() == words
    assert len(state.hypotheses) == len(original.hypotheses)
    for a, b in zip(state.hypotheses, original.hypotheses):
        assert a.tokens == b.tokens and a.probs == b.probs
        np.testing.assert_array_equal(a.attention, b.attention)
    np.testing.assert_array_equal(window.shown.rgb, Image.open(samples[0]).convert("RGB"))
    assert controls.settings().method == "beam" and controls.settings().beam == 3
    assert not window.error_banner.isVisible()
    # stepping works on the reopened words as on a fresh caption
    window.go_to(0)
    view = window.sides["main"].attention.view
    assert view.overlay is not None


def test_an_image_opened_after_a_result_wins(qtbot, window, samples, tmp_path, monkeypatch):
    caption_done(qtbot, window, samples[0])
    dlg = open_dialog(qtbot, window)
    dlg.select("result")
    export(qtbot, dlg, monkeypatch, tmp_path / "run.json")
    window.open_result(str(tmp_path / "run.json"))
    window.open_file(str(samples[1]))
    wait_finished(qtbot, window)
    qtbot.waitUntil(lambda: window.jobs.opening is None, timeout=GUI_TIMEOUT)  # the result arrived, and lost
    assert window.shown.path == str(samples[1])
    assert window.sides["main"].state.result.source == str(samples[1])


def saved_result_of_a_copied_image(qtbot, window, samples, tmp_path, monkeypatch, folder):
    """Caption a copy of a sample (tmp_path/pics/scene.png) and save the result as folder/run.json."""
    image = tmp_path / "pics" / "scene.png"
    image.parent.mkdir()
    shutil.copy(samples[0], image)
    caption_done(qtbot, window, image)
    dlg = open_dialog(qtbot, window)
    dlg.select("result")
    folder.mkdir()
    export(qtbot, dlg, monkeypatch, folder / "run.json")
    return image


def test_open_result_finds_its_image_beside_it(qtbot, window, samples, tmp_path, monkeypatch):
    moved = tmp_path / "moved"
    image = saved_result_of_a_copied_image(qtbot, window, samples, tmp_path, monkeypatch, moved)
    shutil.move(image, moved / "scene.png")  # the folder moved with its images
    caption_done(qtbot, window, samples[1])
    open_result_via_menu(qtbot, window, monkeypatch, moved / "run.json")
    qtbot.waitUntil(lambda: window.shown.path == str(moved / "scene.png"), timeout=GUI_TIMEOUT)


def test_open_result_whose_image_is_gone_shows_an_error_and_keeps_the_state(qtbot, window, samples, tmp_path,
                                                                            monkeypatch):
    results = tmp_path / "results"
    image = saved_result_of_a_copied_image(qtbot, window, samples, tmp_path, monkeypatch, results)
    image.unlink()

    state = caption_done(qtbot, window, samples[1])
    before = ([w.token for w in state.words], window.shown, state.job, state.result)
    open_result_via_menu(qtbot, window, monkeypatch, results / "run.json")
    qtbot.waitUntil(lambda: window.error_banner.isVisible(), timeout=GUI_TIMEOUT)
    assert "scene.png" in window.last_error and "gone" in window.last_error
    assert ([w.token for w in state.words], window.shown, state.job, state.result) == before
    assert window.sides["main"].caption.token_texts() == before[0]


def test_open_result_of_a_broken_file_shows_an_error(qtbot, window, samples, tmp_path, monkeypatch):
    caption_done(qtbot, window, samples[0])
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    open_result_via_menu(qtbot, window, monkeypatch, bad)
    qtbot.waitUntil(lambda: window.error_banner.isVisible(), timeout=GUI_TIMEOUT)
    assert str(bad) in window.last_error and "not an attnviewer result" in window.last_error
    assert window.shown.path == str(samples[0])


def test_open_result_of_a_translation_shows_its_matrix(qtbot, window, samples, tmp_path, monkeypatch):
    from attnviewer.cli import main

    assert main(["translate", "the dog sees a cat", "--json", str(tmp_path / "t.json"), "--device", "cpu"]) == 0
    saved = load_result(tmp_path / "t.json")
    caption_done(qtbot, window, samples[0])
    open_result_via_menu(qtbot, window, monkeypatch, tmp_path / "t.json")
    qtbot.waitUntil(lambda: window.shown is not None and window.shown.path == "the dog sees a cat", timeout=GUI_TIMEOUT)
    side = window.sides["main"]
    assert side.controls.model_name() == "translate-sov" and side.controls.kind == "translate"
    window.go_to(len(saved.best.tokens) - 1)
    matrix = side.attention.matrix  # the alignment matrix in the pane: the saved attention, row by row
    np.testing.assert_allclose(matrix, saved.best.attention, atol=1e-6)
    assert window.media_pane("text").tiles.words == ["the", "dog", "sees", "a", "cat"]


# -- the look --------------------------------------------------------------------------------------

def test_dialog_screenshot(qtbot, window, samples, tmp_path):
    caption_done(qtbot, window, samples[0])
    dlg = open_dialog(qtbot, window)
    path = tmp_path / "export-dialog.png"
    assert dlg.grab().save(str(path))
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    assert arr.std() > 20
    dlg.close()


def test_the_dialogs_slow_look_ups_are_made_by_the_engine_after_the_first_caption(qtbot, window, samples):
    """The font list and the MP4 encoder probe (~0.4 s; on a thread of the window's process they
    held its GIL 27-41 ms at a stretch) are made by the engine and sent to the window, which the
    dialog then asks nothing more (here the engine runs on a thread of the test's process)."""
    figures.font_families.cache_clear()
    anim.mp4_encoder.cache_clear()
    caption_done(qtbot, window, samples[0])
    qtbot.waitUntil(lambda: window.engine.look_ups is not None, timeout=GUI_TIMEOUT)
    fonts, codec = window.engine.look_ups
    assert fonts[:len(figures.GENERIC_FONTS)] == figures.GENERIC_FONTS and codec == anim.mp4_encoder()
    assert figures.font_families.cache_info().misses == 1  # (the engine's)
    dlg = open_dialog(qtbot, window)
    assert figures.font_families.cache_info().misses == 1  # the dialog found the list ready
    assert anim.mp4_encoder.cache_info().misses == 1
    assert [dlg.font.itemText(i) for i in range(dlg.font.count())] == list(fonts)
