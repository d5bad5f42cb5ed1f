"""The window as a daily tool (issue 20): the second column's one state, nothing stale on screen
for a new input, a rejected model leaves the box as it was, the out-of-domain note before the
first word, keys in sentence mode, the shortcuts in Help, the room the panes get, the title, and
where Open result… starts. Real widgets, the real engine thread, waits on conditions."""
import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QApplication, QFileDialog, QWidget

from attnviewer import catalog
from attnviewer.resources import sample_dir
from attnviewer.settings import DecodeSettings
from attnviewer.ui.veil import veil, veiled

from .helpers import GUI_TIMEOUT, caption_done, wait_finished
from .test_window_kinds import CLIP, SENTENCE, long_enough, sentence_done, video_done


class Seen(QObject):
    """Connected after the window: what the window shows when each engine signal of a job arrives."""

    def __init__(self, window, look):
        super().__init__()
        self.window, self.look, self.at = window, look, []

    @Slot(int, str, object)
    def on_step(self, job, slot, step):
        if slot == "main":
            self.at.append((job, step.index, self.look(self.window)))

    @Slot(int, str, object)
    def on_media(self, job, slot, media):
        if slot == "main":
            self.at.append((job, "media", self.look(self.window)))


def note_shown(w) -> str:
    note = w.sides["main"].caption.note
    return note.text() if note.isVisibleTo(w) else ""


def far_image(tmp_path):
    from .test_domain import landscape

    path = tmp_path / "landscape.png"
    Image.fromarray(landscape(seed=3)).save(path)
    return path


def bundled_captioner(w):
    w.sides["main"].controls.set_model("caption-shapes")
    w.sides["main"].controls.set_settings(DecodeSettings("greedy", max_len=20))  # (6 would cut it)


# -- 1. the second column: off, compare with another model, or the reversed clip -------------------

def test_reversed_then_compare_twice_compares_the_forward_clip_with_another_model(qtbot, window):
    video_done(qtbot, window)
    compare = window.sides["compare"]
    window.reverse_action.trigger()  # Ctrl+R
    wait_finished(qtbot, window, "compare")
    assert compare.caption.title.text().startswith("<b>Reversed")
    assert compare.state.result.settings.get("reversed") is True
    window.compare_action.trigger()  # Ctrl+K: the column closes, whatever it showed
    assert not compare.widget.isVisible()
    assert not window.compare_action.isChecked() and not window.reverse_action.isChecked()
    window.compare_action.trigger()  # Ctrl+K again: a comparison of the forward clip
    assert window.compare_action.isChecked() and not window.reverse_action.isChecked()
    assert compare.caption.title.text() == "<b>Compare</b>"
    wait_finished(qtbot, window, "compare")
    assert not compare.state.result.settings.get("reversed")
    if "video-s2vt" in catalog.bundled():
        assert compare.state.result.model == compare.controls.model_name() == "video-s2vt"
    window.reverse_action.trigger()  # and back to the arrow of time: the first column's model
    wait_finished(qtbot, window, "compare")
    assert compare.state.result.settings.get("reversed") is True
    assert compare.state.result.model == window.sides["main"].controls.model_name()
    assert not compare.controls.isEnabled()  # the reversed column runs what the first one does


def test_reversed_pressed_twice_closes_the_column(qtbot, window):
    video_done(qtbot, window)
    compare = window.sides["compare"]
    window.reverse_action.trigger()
    assert compare.widget.isVisible() and window.reverse_action.isChecked()
    window.reverse_action.trigger()
    assert not compare.widget.isVisible()
    assert not window.compare_action.isChecked() and not window.reverse_action.isChecked()
    assert compare.jobs.pending is None and window._active_sides() == [window.sides["main"]]
    window.compare_action.trigger()  # then Ctrl+K: a comparison, not the reversed column's model again
    assert compare.caption.title.text() == "<b>Compare</b>" and compare.controls.isEnabled()
    wait_finished(qtbot, window, "compare")
    assert not compare.state.result.settings.get("reversed")
    if "video-s2vt" in catalog.bundled():
        assert compare.state.result.model == "video-s2vt"


def test_the_reversed_column_follows_the_first_columns_settings(qtbot, window):
    video_done(qtbot, window)
    window.reverse_action.trigger()
    wait_finished(qtbot, window, "compare")
    window.sides["main"].controls.set_settings(DecodeSettings("beam", beam=2, max_len=30))
    window.on_controls_changed(window.sides["main"])  # as the controls' own change does
    wait_finished(qtbot, window, "main")
    wait_finished(qtbot, window, "compare")
    compare = window.sides["compare"].state.result
    assert compare.settings["method"] == "beam" and compare.settings.get("reversed") is True


# -- 2. nothing stale on screen for a new input ---------------------------------------------------

def test_an_old_inputs_note_is_gone_when_the_new_translation_starts(qtbot, window, tmp_path):
    bundled_captioner(window)
    caption_done(qtbot, window, far_image(tmp_path))
    assert "unlike" in note_shown(window)
    seen = Seen(window, note_shown)
    window.engine.step.connect(seen.on_step)
    sentence_done(qtbot, window)
    job = window.sides["main"].state.job
    at_words = [shown for j, _, shown in seen.at if j == job]
    assert at_words and not any(at_words), at_words[:2]  # not one word under the image's warning


def test_a_videos_caption_beside_the_sentence_box_is_marked_as_the_previous_input(qtbot, window):
    video_done(qtbot, window)
    caption = window.sides["main"].caption
    assert caption.previous is None and caption.tokens.isEnabled()
    window.ask_sentence()  # Ctrl+T: the empty sentence box, the clip's words beside it
    assert caption.previous == CLIP.name
    assert "previous input" in caption.title.text() and not caption.tokens.isEnabled()
    assert veiled(window.sides["main"].stack)  # its attention greyed too
    text_pane = window.media_pane("text")
    assert not veiled(text_pane) and text_pane.tiles.words == []  # the box is the new input's
    sentence_done(qtbot, window)
    assert caption.previous is None and caption.tokens.isEnabled()
    assert not veiled(window.sides["main"].stack)


def test_an_images_caption_is_marked_as_previous_while_a_new_video_is_read_and_decoded(qtbot, window, samples):
    caption_done(qtbot, window, samples[0])
    long_enough(window)
    image_pane = window.media_pane("image")
    seen = Seen(window, lambda w: w.sides["main"].caption.previous)
    window.engine.media_ready.connect(seen.on_media)
    window.open_file(str(CLIP))
    # while the clip is read (a turn after the open's own changes are painted: the veils repaint
    # the panes beneath them): the image and its caption are the previous input's
    assert window.sides["main"].caption.previous is None
    qtbot.waitUntil(lambda: window.sides["main"].caption.previous == samples[0].name, timeout=GUI_TIMEOUT)
    qtbot.waitUntil(lambda: veiled(image_pane), timeout=GUI_TIMEOUT)  # (the veils a turn after the words)
    assert window.jobs.shown.source == str(samples[0])
    wait_finished(qtbot, window)
    qtbot.waitUntil(lambda: window.shown is not None and window.shown.path == str(CLIP), timeout=GUI_TIMEOUT)
    job = window.sides["main"].state.job
    # the clip shown while its words were still to come: the image's caption beside it was marked
    assert [shown for j, what, shown in seen.at if j == job and what == "media"] == [samples[0].name]
    assert window.sides["main"].caption.previous is None
    assert not veiled(window.media_pane("video")) and not veiled(image_pane)


def test_a_veils_line_over_a_narrow_pane_is_wrapped_not_cut(qtbot):
    """The image's column beside a sentence is narrow: the veil's line was cut at both ends
    ("ıput: shapes-1.png — the new one is"). It wraps inside the pane's margins."""
    pane = QWidget()
    qtbot.addWidget(pane)
    pane.resize(220, 200)
    pane.show()
    veil(pane, "previous input: shapes-1.png — the new one is being read")
    image = pane.grab().toImage()
    dark = [(x, y) for y in range(image.height()) for x in range(image.width())
            if image.pixelColor(x, y).lightness() < 120]
    xs, ys = [x for x, _ in dark], [y for _, y in dark]
    assert min(xs) > 8 and max(xs) < 212  # inside the margins, nothing drawn up to the edges
    assert max(ys) - min(ys) > 20  # on two lines


def test_a_failed_input_brings_the_screen_back_unmarked(qtbot, window, samples, tmp_path):
    caption_done(qtbot, window, samples[0])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a picture")
    window.open_file(str(bad))
    qtbot.waitUntil(lambda: window.error_banner.isVisible(), timeout=GUI_TIMEOUT)
    qtbot.wait(100)  # the marks, due a few turns after the open, do not come back after the failure
    assert window.sides["main"].caption.previous is None
    assert not veiled(window.media_pane("image"))


# -- 3. a rejected model is not kept in the box ---------------------------------------------------

def listed(controls) -> list:
    return [controls.model.itemData(i) for i in range(controls.model.count())]


@pytest.mark.parametrize("case", ["no model", "damaged weights"])
def test_a_rejected_model_file_is_not_listed_and_the_previous_model_stays(qtbot, window, samples, tmp_path,
                                                                         tiny_checkpoint, case):
    from safetensors.numpy import save_file

    caption_done(qtbot, window, samples[0])
    controls = window.sides["main"].controls
    path = tmp_path / "weights.safetensors"
    if case == "no model":
        save_file({"w": np.ones((4, 4), np.float32)}, str(path))  # a safetensors file, no model's header
    else:
        from .test_window_hostile import SOURCES, _a_weight, _with_tensor, write

        name = _a_weight("caption")
        values = np.zeros(SOURCES["caption"][0][name]["shape"], np.float32)
        values.flat[0] = np.nan
        write(path, *_with_tensor("caption", name, values=values))
    window.error_banner.hide()
    window.open_checkpoint(str(path))
    qtbot.waitUntil(lambda: window.error_banner.isVisible() and window.sides["main"].jobs.pending is None,
                    timeout=GUI_TIMEOUT)
    assert path.name in window.last_error
    assert controls.model_name() == str(tiny_checkpoint)
    for side in window.sides.values():
        assert str(path) not in listed(side.controls)
    assert str(path) not in window.models.opened
    window.sides["main"].controls.set_kind("video")  # listed again for another kind: still not there
    window.sides["main"].controls.set_kind("caption")
    assert str(path) not in listed(controls)


# -- 4. the out-of-domain note as soon as the input is read ---------------------------------------

def test_the_out_of_domain_note_shows_before_the_first_word(qtbot, window, tmp_path):
    bundled_captioner(window)
    seen = Seen(window, note_shown)
    window.engine.step.connect(seen.on_step)
    caption_done(qtbot, window, far_image(tmp_path))
    job = window.sides["main"].state.job
    first = [shown for j, i, shown in seen.at if j == job and i == 0]
    assert first and "unlike" in first[0]  # beside the very first word, not only when it ends
    assert "unlike" in note_shown(window)


def test_the_engine_says_the_note_before_the_first_word(qtbot, window, tmp_path):
    bundled_captioner(window)
    order = []

    class Order(QObject):
        @Slot(int, str, str)
        def on_note(self, job, slot, line):
            order.append(("note", job))

        @Slot(int, str, object)
        def on_step(self, job, slot, step):
            order.append(("step", job))

    rec = Order()
    window.engine.note.connect(rec.on_note)
    window.engine.step.connect(rec.on_step)
    caption_done(qtbot, window, far_image(tmp_path))
    job = window.sides["main"].state.job
    mine = [what for what, j in order if j == job]
    assert mine[0] == "note" and mine.count("note") == 1


# -- 5. keys in sentence mode -----------------------------------------------------------------------

def active(qtbot, window):
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=GUI_TIMEOUT)


def test_after_enter_the_keys_step_through_the_translation_and_ctrl_e_exports(qtbot, window):
    long_enough(window)
    active(qtbot, window)
    window.ask_sentence()
    pane = window.media_pane("text")
    edit = pane.box.lineEdit()
    qtbot.waitUntil(lambda: QApplication.focusWidget() in (edit, pane.box), timeout=GUI_TIMEOUT)
    qtbot.keyClicks(edit, SENTENCE)
    edit.setCursorPosition(3)
    qtbot.keyClick(edit, Qt.Key.Key_Left)  # typing: the keys edit the text
    assert edit.cursorPosition() == 2
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    wait_finished(qtbot, window)
    state = window.sides["main"].state
    focus = QApplication.focusWidget()
    assert focus is window.sides["main"].caption
    n = len(state.words)
    assert n >= 3
    qtbot.keyClick(focus, Qt.Key.Key_Home)
    assert state.index == 0
    qtbot.keyClick(focus, Qt.Key.Key_Right)
    assert state.index == 1
    qtbot.keyClick(focus, Qt.Key.Key_End)
    assert state.index == n - 1
    qtbot.keyClick(focus, Qt.Key.Key_Left)
    assert state.index == n - 2
    assert edit.text() == SENTENCE  # nothing typed into the box
    qtbot.keyClick(focus, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.export_dialog is not None and window.export_dialog.isVisible(),
                    timeout=GUI_TIMEOUT)
    window.export_dialog.close()


X11_KEYS = r"""
import os, sys, tempfile
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
app = QApplication([])
from attnviewer.ui.main_window import MainWindow
w = MainWindow(settings=QSettings(tempfile.mktemp(suffix=".ini"), QSettings.Format.IniFormat))
w.resize(1280, 800)
w.show()
w.activateWindow()  # (no window manager under Xvfb: the window asks for the focus itself)
QTest.qWaitForWindowActive(w)
w.ask_sentence()
box = w.media_pane("text").box
box.setEditText("the old teacher")
box.lineEdit().setCursorPosition(0)
for _ in range(200):  # the focus arrives with the window manager's activation
    if QApplication.focusWidget() is not None:
        break
    QTest.qWait(20)
bound = "Ctrl+E" in [k.toString() for k in QKeySequence.keyBindings(QKeySequence.StandardKey.MoveToEndOfLine)]
QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
print("|".join(map(str, (bound, w.compare_action.isChecked(), box.currentText(), box.lineEdit().cursorPosition(),
                         w.last_error[:25]))))
w.close()
"""


def test_ctrl_e_and_ctrl_k_reach_the_window_from_the_sentence_box_under_x11(tmp_path):
    """Under X11 a line edit binds Ctrl+E (end of line) and Ctrl+K (delete to the end); the
    offscreen platform of the other tests binds neither, so this one runs under Xvfb."""
    import os
    import shutil
    import subprocess
    import sys

    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (apt-get install xvfb)")
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(QT_QPA_PLATFORM="xcb", XDG_DATA_HOME=str(tmp_path))
    out = subprocess.run(["xvfb-run", "-a", sys.executable, "-c", X11_KEYS], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    bound, compared, text, cursor, error = out.stdout.strip().splitlines()[-1].split("|")
    assert bound == "True"  # the line edit would have taken them
    assert compared == "True" and text == "the old teacher"  # Ctrl+K: Compare, nothing deleted
    assert cursor == "0" and error.startswith("nothing to export")  # Ctrl+E: the export (nothing yet)


# -- 6. Help lists the shortcuts --------------------------------------------------------------------

def test_help_lists_every_shortcut_from_the_actions_and_what_the_panes_show(qtbot, window):
    from PySide6.QtGui import QAction, QKeySequence

    entry = [a for a in window.menuBar().actions() if a.text() == "&Help"][0].menu().actions()
    assert any("Keyboard shortcuts" in a.text() for a in entry)
    text = window.shortcuts_text()
    keyed = [a for a in window.actions() if not a.shortcut().isEmpty()]
    assert len(keyed) >= 12
    for action in keyed:
        assert action.shortcut().toString(QKeySequence.SequenceFormat.NativeText) in text, action.text()
        assert action.text().replace("&", "").rstrip("…") in text
    for needle in ("Ctrl+K", "Ctrl+R", "Ctrl+E", "Space", "Home", "What each pane shows", "alignment matrix"):
        assert needle in text
    extra = QAction("Zoom to fit", window)  # a new action is listed without touching the help
    extra.setShortcut(QKeySequence("Ctrl+0"))
    window.addAction(extra)
    assert "Zoom to fit" in window.shortcuts_text()
    next(a for a in entry if "Keyboard shortcuts" in a.text()).trigger()
    qtbot.waitUntil(lambda: window.shortcuts_box.isVisible(), timeout=GUI_TIMEOUT)
    window.shortcuts_box.close()


# -- 7. room for the attention ----------------------------------------------------------------------

def shown_side(view) -> int:
    """The side of a square image drawn whole in a view."""
    return min(view.width(), view.height())


@pytest.mark.parametrize("size", [(1280, 800), (1600, 1000)])
def test_the_attention_gets_more_room_than_the_plain_copy_of_the_image(qtbot, window, samples, size):
    window.resize(*size)
    caption_done(qtbot, window, samples[0])
    attention, plain = window.sides["main"].attention.view, window.media_pane("image")
    try:  # once the layout has settled
        qtbot.waitUntil(lambda: shown_side(attention) > shown_side(plain) > 100, timeout=5000)
    finally:
        print(size, attention.size(), plain.size(), window.splitter.sizes())


@pytest.mark.parametrize("compare", [False, True])
def test_the_lists_show_six_rows_at_1280x800(qtbot, window, samples, compare):
    caption_done(qtbot, window, samples[0])
    if compare:
        window.sides["compare"].controls.set_model("caption-shapes-lambda1")  # (a transformer loads for long)
        window.compare_action.trigger()
        wait_finished(qtbot, window, "compare")
    for side in window._active_sides():
        for view in (side.caption.alternatives, side.caption.hypotheses):
            row = view.fontMetrics().height() + 4
            assert view.viewport().height() >= 6 * row, (side.slot, view.viewport().height(), row)


def test_the_sentence_box_stays_wide_in_compare(qtbot, window):
    sentence_done(qtbot, window)
    window.sides["compare"].controls.set_kind("translate")
    window.sides["compare"].controls.set_model("translate-sov-general")  # (a transformer loads for long)
    window.compare_action.trigger()
    wait_finished(qtbot, window, "compare")
    box = window.media_pane("text").box
    assert box.width() >= 250, box.width()  # (a third of it before)


# -- 8. the title ----------------------------------------------------------------------------------

def test_a_long_file_name_is_elided_in_the_title_not_cut_mid_word(qtbot, window, tmp_path):
    name = "holiday-photos-from-the-summer-by-the-lake-with-the-whole-family-and-friends-2026.png"
    path = tmp_path / name
    path.write_bytes((sample_dir() / "shapes-1.png").read_bytes())
    caption_done(qtbot, window, path)
    title = window.windowTitle()
    assert title.endswith(" — attnviewer")
    shown = title[:-len(" — attnviewer")]
    assert "…" in shown and len(shown) <= 60
    head, tail = shown.split("…")
    assert name.startswith(head) and name.endswith(tail) and tail.endswith(".png")
    window.translate("the old teacher will paint some small red boats near the river and the old man "
                     "will see the small boats")
    wait_finished(qtbot, window)
    shown = window.windowTitle()[:-len(" — attnviewer")]
    assert shown.endswith("…") and len(shown) <= 60
    words = shown[:-1].split()
    assert all(w in SENTENCE.split() + ["and", "man", "see"] for w in words)  # whole words only


# -- 9. Open result… ------------------------------------------------------------------------------

def test_open_result_starts_in_the_last_results_folder_else_documents(qtbot, window, samples, tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (asked.append(a[2]), ("", ""))[1])
    caption_done(qtbot, window, samples[0])  # the input's folder is the installation's samples
    window.choose_result()
    assert asked[-1] != str(sample_dir()) and asked[-1]
    results = tmp_path / "results"
    results.mkdir()
    window.open_result(str(results / "missing.json"))  # opened (or tried): Open result… starts there
    qtbot.waitUntil(lambda: window.jobs.opening is None, timeout=GUI_TIMEOUT)
    window.choose_result()
    assert asked[-1] == str(results)


def test_the_status_bar_does_not_say_decoding_once_both_columns_are_done(qtbot, window, samples):
    """The second column's "decoding" stayed in the status bar after it finished (nothing cleared
    it: only the first column's end wrote there)."""
    caption_done(qtbot, window, samples[0])
    window.compare_action.trigger()  # Ctrl+K: the second column captions the image too
    wait_finished(qtbot, window, "compare")
    qtbot.wait(50)
    message = window.statusBar().currentMessage()
    assert message != "decoding" and not message.startswith(("reading", "loading")), message
