"""Videos and sentences in the window, with real widgets, the real engine thread and the bundled
video captioner and translator, offscreen. Waits are on conditions, never sleeps."""
import numpy as np
import pytest
from PySide6.QtCore import QObject, QPoint, Qt, Slot

from attnviewer import catalog
from attnviewer.media.frames import read_clip, write_clip
from attnviewer.resources import sample_dir
from attnviewer.ui.overlay import lookup_table

from .helpers import GUI_TIMEOUT, caption_done, wait_finished
from .test_app import Recorder

CLIP = sample_dir() / "clip-1.mp4"
SENTENCE = "the old teacher will paint some small red boats near the river"


def long_enough(w):
    """The window fixture decodes at most 6 words (for the tiny captioner); these models write more."""
    from attnviewer.settings import DecodeSettings

    for side in w.sides.values():
        side.controls.set_settings(DecodeSettings("greedy", max_len=30))


def video_done(qtbot, w, path=CLIP):
    long_enough(w)
    w.open_file(str(path))
    wait_finished(qtbot, w)
    qtbot.waitUntil(lambda: w.shown is not None and w.shown.path == str(path), timeout=GUI_TIMEOUT)
    return w.sides["main"].state


def sentence_done(qtbot, w, text=SENTENCE):
    long_enough(w)
    w.translate(text)
    wait_finished(qtbot, w)
    qtbot.waitUntil(lambda: w.shown is not None and w.shown.text == text, timeout=GUI_TIMEOUT)
    return w.sides["main"].state


# -- video -----------------------------------------------------------------------------------------

def test_video_words_stream_with_attention_over_the_frames(qtbot, window):
    rec = Recorder()
    window.engine.step.connect(rec.on_step)
    state = video_done(qtbot, window)
    words = [w.token for w in state.words]
    assert words and "right" in words  # the sample: "a red triangle grows then a yellow triangle moves right"
    assert window.sides["main"].controls.model_name() == "video-shapes"
    streamed = [s for s in rec.steps if s[0] == state.job]
    assert [s[2] for s in streamed] == list(range(len(streamed))) and streamed
    assert {s[4] for s in streamed} == {(12,)}  # one weight per sampled frame
    pane = window.sides["main"].attention
    window.go_to(words.index("right"))
    np.testing.assert_allclose(pane.weights, state.current.attention, atol=1e-6)
    assert pane.top_shown[0] == int(np.argmax(state.current.attention))
    assert window.media_pane("video").strip.weights is not None


@pytest.mark.parametrize("first", ["video", "text"])
def test_a_video_or_sentence_opened_first_gets_its_share_of_the_width(qtbot, window, first):
    """The first thing opened gets its room as a later one does (a video first kept an image's
    narrow column: a 15 px scrub bar, frame times cut to '.08'), and a restart keeps it."""
    from attnviewer.ui.kind_views import VIEWS

    video_done(qtbot, window) if first == "video" else sentence_done(qtbot, window)
    sizes = window.splitter.sizes()
    share = VIEWS[first].share
    assert sizes[0] >= 0.9 * share * sum(sizes)  # (an image keeps 0.16 of it)
    window.splitter.setSizes([sizes[0] + 40, sizes[1] - 40, 0])  # the user's own widths are kept ...
    window.close()
    from attnviewer.ui.main_window import MainWindow

    again = MainWindow(settings=window.qsettings)
    qtbot.addWidget(again)
    again.resize(1280, 800)
    again.show()
    before = again.splitter.sizes()[0]
    again._show_media_pane(first)  # ... at the next start, for the medium they were made for
    assert again.splitter.sizes()[0] == before
    again.close()


@pytest.mark.parametrize("first", ["video", "text"])
def test_an_input_opened_in_an_empty_window_takes_its_room_at_once(qtbot, window, first):
    """Nothing on screen: the columns make the input's room as it is opened, not as it is first
    shown (a whole window's relayout and repaint in the same turn as the input's first paint: a
    20-28 ms stall); the read then changes no width."""
    from attnviewer.ui.kind_views import VIEWS

    long_enough(window)
    window.open_file(str(CLIP)) if first == "video" else window.translate(SENTENCE)
    sizes = window.splitter.sizes()
    assert window.shown is None and sizes[0] >= 0.9 * VIEWS[first].share * sum(sizes)
    wait_finished(qtbot, window)
    qtbot.waitUntil(lambda: window.shown is not None, timeout=GUI_TIMEOUT)
    assert window.splitter.sizes() == sizes and window.medium == first


@pytest.mark.parametrize("first", ["video", "text"])
def test_what_the_app_starts_on_opens_after_the_windows_first_paint(qtbot, tmp_path, first):
    """The file or sentence on the command line: its room is made as the window is shown (one
    layout with the first paint), and it opens once the window is painted, not before (its controls
    held the first paint up: 17-20 ms in the first turn)."""
    from PySide6.QtCore import QSettings

    from attnviewer.ui.kind_views import VIEWS
    from attnviewer.ui.main_window import MainWindow

    w = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    long_enough(w)
    opened = []
    real = w.open_input
    w.open_input = lambda inp: (opened.append(w.windowHandle().isExposed()), real(inp))
    w.show()
    w.start_on(str(CLIP)) if first == "video" else w.start_on(text=SENTENCE)
    sizes = w.splitter.sizes()
    assert not opened and sizes[0] >= 0.9 * VIEWS[first].share * sum(sizes)
    qtbot.waitUntil(lambda: bool(opened), timeout=GUI_TIMEOUT)
    assert opened == [True]  # painted first
    wait_finished(qtbot, w)
    qtbot.waitUntil(lambda: w.shown is not None and w.medium == first, timeout=GUI_TIMEOUT)
    w.close()


def test_clicking_a_word_seeks_the_player_to_its_most_attended_frame(qtbot, window):
    state = video_done(qtbot, window)
    media = window.media_pane("video")
    clip = media.clip
    qtbot.waitUntil(lambda: media.player.info is not None, timeout=GUI_TIMEOUT)
    for i in (0, len(state.words) - 1, len(state.words) // 2):
        window.go_to(i)
        peak = int(np.argmax(state.words[i].attention))
        target = clip.times[peak]
        # the frame shown is the last one at or before the peak frame's time
        qtbot.waitUntil(lambda: abs(media.player.position - target) <= 1 / clip.fps + 1e-3, timeout=GUI_TIMEOUT)


def test_clicking_a_frame_says_which_words_attended_to_it(qtbot, window):
    state = video_done(qtbot, window)
    media = window.media_pane("video")
    window.go_to(len(state.words) - 1)
    k = int(np.argmax(state.words[-1].attention))
    media._frame_clicked(k)
    text = media.attended.text()
    assert f"Frame {k + 1}" in text and state.words[-1].token in text


def test_reversed_compares_the_clip_played_backwards(qtbot, window):
    state = video_done(qtbot, window)
    forward = " ".join(w.token for w in state.words)
    assert "grows" in forward and "right" in forward
    window.reverse_action.setChecked(True)
    window.toggle_reversed()
    assert window.compare_action.isChecked()
    wait_finished(qtbot, window, "compare")
    compare = window.sides["compare"]
    backward = compare.state.result.text
    assert "shrinks" in backward and "left" in backward  # the arrow of time flips the verbs
    assert compare.state.result.settings.get("reversed") is True
    assert compare.controls.model_name() == "video-shapes"
    assert window.media_pane("video").clip.reversed is False  # the player shows the file as it is


def test_compare_opens_on_the_plain_s2vt_for_a_video(qtbot, window):
    if "video-s2vt" not in catalog.bundled():
        pytest.skip("the contrast model video-s2vt is not bundled")
    video_done(qtbot, window)
    window.compare_action.trigger()
    wait_finished(qtbot, window, "compare")
    assert window.sides["compare"].controls.model_name() == "video-s2vt"


def test_a_bad_video_leaves_what_was_on_screen(qtbot, window, samples, tmp_path):
    state = caption_done(qtbot, window, samples[0])
    before = ([w.token for w in state.words], window.shown, state.job)
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(CLIP.read_bytes()[:3000])  # truncated
    window.open_file(str(bad))
    qtbot.waitUntil(lambda: window.error_banner.isVisible(), timeout=GUI_TIMEOUT)
    assert str(bad) in window.last_error and "\n" not in window.last_error
    assert ([w.token for w in state.words], window.shown, state.job) == before
    assert window.media_stack.currentWidget() is window.media_pane("image")


class ProgressRecorder(QObject):
    def __init__(self, window):
        super().__init__()
        self.window, self.events = window, []

    @Slot(int, str, int, int)
    def on_progress(self, job, slot, done, total):
        self.events.append((job, done, total, self.window.read_progress.isVisible()))


def test_a_long_video_shows_reading_progress_and_a_new_input_cancels_it(qtbot, window, samples, tmp_path):
    frames = np.zeros((6000, 32, 32, 3), np.uint8)
    frames[..., 0] = (np.arange(6000) % 250)[:, None, None]
    long = write_clip(frames, tmp_path / "long.mp4", fps=25)
    rec = ProgressRecorder(window)
    window.engine.progress.connect(rec.on_progress)
    window.open_file(str(long))
    job = window.sides["main"].jobs.pending
    qtbot.waitUntil(lambda: bool(rec.events), timeout=GUI_TIMEOUT)
    assert window.read_progress.isVisible()  # the window shows the reading
    state = caption_done(qtbot, window, samples[1])  # any change cancels the reading
    assert window.shown.path == str(samples[1]) and state.result is not None
    assert not window.read_progress.isVisible()
    assert all(e[0] == job for e in rec.events)
    assert window.sides["main"].state.job != job


def test_a_cancel_storm_on_a_video_ends_in_one_consistent_state(qtbot, window):
    from attnviewer.settings import DecodeSettings

    video_done(qtbot, window)
    side = window.sides["main"]
    for i in range(200):
        side.controls.set_settings(DecodeSettings("beam", beam=1 + i % 4, max_len=12))
        window.rerun(side)
    wait_finished(qtbot, window)
    state = side.state
    assert state.job == window.engine.latest_job("main")
    assert state.result.settings["beam"] == 1 + 199 % 4
    assert [w.token for w in state.words] == state.result.best.tokens
    assert window.shown.path == str(CLIP) and not window.error_banner.isVisible()


def test_export_dialog_offers_and_writes_the_video_figures(qtbot, window, tmp_path, monkeypatch):
    from .test_export_dialog import export

    video_done(qtbot, window)
    window.choose_export()
    dlg = window.export_dialog
    assert set(dlg.kind_buttons) >= {"figure", "top_frames", "gif", "result"}
    assert "overlay" not in dlg.kind_buttons
    dlg.select("top_frames")
    dlg.top_k.setValue(2)
    qtbot.waitUntil(lambda: dlg.previews >= 1, timeout=GUI_TIMEOUT)
    out = tmp_path / "top.svg"
    export(qtbot, dlg, monkeypatch, out)
    words = len(window.sides["main"].state.words)
    assert out.read_text().count("<image") == 2 * words  # two frames per word, as chosen


# -- sentences -------------------------------------------------------------------------------------

def test_a_sentence_streams_and_the_matrix_rows_equal_its_attention(qtbot, window):
    rec = Recorder()
    window.engine.step.connect(rec.on_step)
    state = sentence_done(qtbot, window)
    assert window.sides["main"].controls.model_name() == "translate-sov"
    assert state.result.text.endswith("pintra")  # "will paint" -> one fused verb, at the end (SOV)
    streamed = [s for s in rec.steps if s[0] == state.job]
    assert streamed and {s[4] for s in streamed} == {(12,)}  # one weight per source word
    pane = window.sides["main"].attention
    window.go_to(len(state.words) - 1)
    np.testing.assert_allclose(pane.matrix, state.result.best.attention, atol=1e-6)
    window.go_to(2)
    np.testing.assert_allclose(pane.matrix, state.result.best.attention, atol=1e-6)  # all rows stay
    view = pane.view  # a real click on row 5 of the painted matrix
    area = view.cells()
    row_h = area.height() / len(state.words)
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=QPoint(int(area.center().x()), int(area.top() + 4.5 * row_h)))
    assert state.index == 4
    shot = view.grab().toImage()  # each cell in its weight's colour, the current row framed in red
    lut = lookup_table(window.overlay_controls.settings().cmap, 1.0)
    cell_w = area.width() / len(SENTENCE.split())
    for i, j in ((1, 3), (4, int(np.argmax(state.words[4].attention))), (len(state.words) - 1, 0)):
        colour = shot.pixelColor(int(area.left() + (j + 0.5) * cell_w), int(area.top() + (i + 0.5) * row_h))
        expected = lut[int(round(float(state.result.best.attention[i, j]) * 255))]
        assert sum(abs(a - int(b)) for a, b in zip(colour.getRgb()[:3], expected[:3])) <= 6, (i, j, colour.getRgb())
    edge = shot.pixelColor(int(area.center().x()), int(area.top() + 4 * row_h))
    assert edge.red() > 180 and edge.green() < 80 and edge.blue() < 80, edge.getRgb()
    tiles = window.media_pane("text").tiles
    assert tiles.words == SENTENCE.split()
    assert tiles.peak == int(np.argmax(state.words[4].attention))


def test_unknown_words_are_named_under_the_sentence(qtbot, window):
    sentence_done(qtbot, window, "the old teacher will paint some zebras")
    pane = window.media_pane("text")
    assert pane.unknown.isVisibleTo(window) and "zebras" in pane.unknown.text()


@pytest.mark.parametrize("text, needle", [("  ... !! ", "only punctuation"), (" ".join(["dog"] * 200), "at most")])
def test_a_bad_sentence_leaves_what_was_on_screen(qtbot, window, text, needle):
    state = sentence_done(qtbot, window)
    before = ([w.token for w in state.words], window.shown, state.job)
    window.translate(text)
    qtbot.waitUntil(lambda: window.error_banner.isVisible(), timeout=GUI_TIMEOUT)
    assert needle in window.last_error and "\n" not in window.last_error
    assert ([w.token for w in state.words], window.shown, state.job) == before
    assert window.media_pane("text").tiles.words == SENTENCE.split()


def test_compare_shows_the_general_score_misaligning_the_final_verb(qtbot, window):
    sentence_done(qtbot, window)
    window.compare_action.trigger()
    wait_finished(qtbot, window, "compare")
    main, compare = window.sides["main"].state.result, window.sides["compare"].state.result
    source = SENTENCE.split()
    assert source[int(main.best.attention[-1].argmax())] == "paint"
    # Compare opens on the transformer beside the LSTM (the same translation) ...
    assert window.sides["compare"].controls.model_name() == "translate-sov-marian"
    assert compare.best.text == main.best.text and compare.best.heads is not None
    # ... and Luong's general score, the README's sentence-final verb story, is one choice away
    box = window.sides["compare"].controls.model
    box.setCurrentIndex(box.findData("translate-sov-general"))
    box.activated.emit(box.currentIndex())  # as the user picks it
    qtbot.waitUntil(lambda: window.sides["compare"].state.result is not None
                    and window.sides["compare"].state.result.model == "translate-sov-general", timeout=GUI_TIMEOUT)
    wait_finished(qtbot, window, "compare")
    compare = window.sides["compare"].state.result
    assert compare.model == "translate-sov-general"
    assert source[int(compare.best.attention[-1].argmax())] != "paint"


def test_export_dialog_writes_the_alignment_matrix(qtbot, window, tmp_path, monkeypatch):
    from .test_export_dialog import export

    sentence_done(qtbot, window)
    window.choose_export()
    dlg = window.export_dialog
    assert set(dlg.kind_buttons) == {"figure", "gif", "mp4", "result", "page"}
    dlg.select("figure")
    qtbot.waitUntil(lambda: dlg.previews >= 1, timeout=GUI_TIMEOUT)
    out = tmp_path / "matrix.svg"
    export(qtbot, dlg, monkeypatch, out)
    svg = out.read_text()
    assert "pintra" in svg and "teacher" in svg


def test_a_window_closed_while_a_videos_panes_are_being_built_leaves_no_player_running(qtbot, window, samples):
    import threading

    from attnviewer.engine.player import THREAD_NAME

    caption_done(qtbot, window, samples[0])
    window._prepare_panes("video")  # as opening a clip does: one piece per event-loop turn from now
    window._build_panes_ahead()
    window.close()  # before they are all built (a clip that failed at once, then the window closed)
    qtbot.wait(300)
    assert "video" not in window.media_panes
    assert not [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()]


def test_the_empty_window_says_what_to_do_and_banners_close(qtbot, window, tmp_path):
    assert window.media_stack.currentWidget() is window.hint and "Open" in window.hint.text()
    window.open_file(str(tmp_path / "missing.png"))
    qtbot.waitUntil(lambda: window.error_banner.isVisible(), timeout=GUI_TIMEOUT)
    assert window.media_stack.currentWidget() is window.hint  # nothing was on screen, nothing is
    from PySide6.QtWidgets import QToolButton

    window.error_banner.findChild(QToolButton).click()
    assert not window.error_banner.isVisible()


def test_a_reversed_result_reopens_reversed(qtbot, window, tmp_path):
    from attnviewer.cli import main

    out = tmp_path / "r.json"
    assert main(["video", str(CLIP), "--reverse", "--json", str(out), "--device", "cpu"]) == 0
    window.open_result(str(out))
    qtbot.waitUntil(lambda: window.shown is not None and getattr(window.shown, "reversed", False), timeout=GUI_TIMEOUT)
    assert "left" in window.sides["main"].state.result.text
    clip = read_clip(CLIP, 12)
    np.testing.assert_array_equal(window.sides["main"].attention.clip.frames, clip.frames[::-1])


# -- fixes seen while trying the window as a new user --------------------------------------------

class MediaRecorder(QObject):
    """Connected after the window's own slot: what look(window, job, media) says once the window
    has taken an input as read."""

    def __init__(self, window, look):
        super().__init__()
        self.window, self.look, self.seen = window, look, []

    @Slot(int, str, object)
    def on_media(self, job, slot, media):
        self.seen.append(self.look(self.window, job, media))


def test_a_sentence_read_before_its_box_was_built_shows_a_turn_after_the_box_is_built(qtbot, window):
    """Building the sentence box and showing the sentence in it were one turn of the GUI thread
    (20-30 ms) when the sentence was read before the box was built ahead: now two."""
    rec = MediaRecorder(window, lambda w, job, media: ("text" in w.media_panes, w.medium))
    window.engine.media_ready.connect(rec.on_media)  # after the window's own slot
    window.translate("the red circle is left of the blue square")
    window._pane_steps.clear()  # nothing built ahead: the read comes first
    qtbot.waitUntil(lambda: bool(rec.seen), timeout=GUI_TIMEOUT)
    built, medium = rec.seen[0]
    assert built and medium != "text"  # built, not shown yet
    qtbot.waitUntil(lambda: window.medium == "text", timeout=GUI_TIMEOUT)
    wait_finished(qtbot, window)


def test_a_clip_read_while_another_pane_is_on_screen_is_put_on_its_pane_then_shown_a_turn_later(qtbot, window):
    """Setting the clip on its pane (the strip, the player opened) and showing the pane (its first
    paint) were one turn of the GUI thread, 20 ms: now two, the pane shown in the second."""
    rec = MediaRecorder(window, lambda w, job, media: (w._pane_media.get("video") is media, w.medium))
    window.engine.media_ready.connect(rec.on_media)  # after the window's own slot
    long_enough(window)
    window.media_pane("video")  # built ahead, as the pieces do (on a loaded machine, the read can come first)
    window.open_file(str(CLIP))
    qtbot.waitUntil(lambda: bool(rec.seen), timeout=GUI_TIMEOUT)
    put, medium = rec.seen[0]
    assert put and medium is None  # on its pane, the pane not shown yet (the empty window's hint is)
    qtbot.waitUntil(lambda: window.medium == "video", timeout=GUI_TIMEOUT)
    assert window.media_stack.currentWidget() is window.media_pane("video")
    wait_finished(qtbot, window)


def test_a_clip_opened_over_an_image_has_its_room_before_its_pane_is_shown(qtbot, window, samples):
    """In a running window (an image on screen), the columns are shared for the clip in the turn
    it is put on its pane (the image repainted at its new width), and the pane shown in a later
    one: the three in one turn, with both paints, took 20-34 ms."""
    caption_done(qtbot, window, samples[0])
    rec = MediaRecorder(window, lambda w, job, media: (w._pane_media.get("video") is media, w._sized_for, w.medium))
    window.engine.media_ready.connect(rec.on_media)  # after the window's own slot
    long_enough(window)
    window.media_pane("video")  # built ahead, as the pieces do
    window.open_file(str(CLIP))
    qtbot.waitUntil(lambda: bool(rec.seen), timeout=GUI_TIMEOUT)
    assert rec.seen[0] == (True, "video", "image")  # put, the room made, the image still shown
    qtbot.waitUntil(lambda: window.medium == "video", timeout=GUI_TIMEOUT)
    wait_finished(qtbot, window)


def test_an_image_shows_at_once_while_the_model_loads(qtbot, window, samples):
    caption_done(qtbot, window, samples[0])
    rec = MediaRecorder(window, lambda w, job, media: (job, w.media_pane("image").shape == media.rgb.shape[:2],
                                                       w.sides["main"].state.job == job))
    window.engine.media_ready.connect(rec.on_media)  # after the window's own slot
    caption_done(qtbot, window, samples[2])
    (job, shown, words_started), = rec.seen
    assert shown and not words_started  # the picture was on screen before the first word


def test_a_new_image_resets_the_view(qtbot, window, samples, tmp_path):
    from PIL import Image

    big = tmp_path / "big.png"
    Image.open(samples[0]).convert("RGB").resize((1600, 1200)).save(big)
    caption_done(qtbot, window, big)
    caption_done(qtbot, window, samples[1])
    view = window.sides["main"].attention.view
    (x0, x1), (y0, y1) = view.view_range()
    h, w = window.shown.rgb.shape[:2]
    assert min(x1 - x0, y1 - y0) < 1.2 * max(w, h)  # fitted to the new image (the view keeps its aspect)
    assert max(x1 - x0, y1 - y0) < 1600 / 2  # not the old photo's range
    assert view.overlay is not None and view.overlay_rect().width() == w


def test_captions_and_hypotheses_are_not_clipped_in_compare_at_1280x800(qtbot, window, samples):
    from attnviewer.settings import DecodeSettings

    window.resize(1280, 800)
    window.sides["main"].controls.set_model("caption-shapes")
    window.sides["main"].controls.set_settings(DecodeSettings("beam", beam=3, max_len=20))
    caption_done(qtbot, window, samples[0])
    window.compare_action.trigger()
    wait_finished(qtbot, window, "compare")
    qtbot.wait(50)  # let the layouts settle (a paint, not a condition)
    for side in window.sides.values():
        tokens = side.caption.tokens
        assert tokens.count() >= 9
        for i in range(tokens.count()):
            assert tokens.viewport().rect().contains(tokens.visualItemRect(tokens.item(i))), side.slot
        assert side.caption.hypotheses.horizontalScrollBar().maximum() == 0


@pytest.mark.parametrize("kind", ["image", "video", "text"])
def test_the_comparison_exports_as_one_figure_for_every_kind(qtbot, window, samples, tmp_path, monkeypatch, kind):
    from .test_export_dialog import export

    if kind == "image":
        window.sides["main"].controls.set_model("caption-shapes")
        long_enough(window)
        caption_done(qtbot, window, samples[0])
        window.compare_action.trigger()
    elif kind == "video":
        video_done(qtbot, window)
        window.reverse_action.setChecked(True)
        window.toggle_reversed()
    else:
        sentence_done(qtbot, window)
        window.compare_action.trigger()
    wait_finished(qtbot, window, "compare")
    window.choose_export()
    dlg = window.export_dialog
    assert "comparison" in dlg.kind_buttons
    dlg.select("comparison")
    qtbot.waitUntil(lambda: dlg.previews >= 1, timeout=GUI_TIMEOUT)
    out = tmp_path / "both.svg"
    export(qtbot, dlg, monkeypatch, out)
    svg = out.read_text()
    for side in window.sides.values():  # both columns' words are in the one figure
        for token in side.state.result.best.tokens:
            if token.isalpha():
                assert token in svg, (side.slot, token)


def test_without_compare_there_is_no_comparison_to_export(qtbot, window):
    sentence_done(qtbot, window)
    window.choose_export()
    assert "comparison" not in window.export_dialog.kind_buttons


def test_the_window_says_when_an_input_is_far_from_the_models_training_data(qtbot, window, samples, tmp_path):
    from PIL import Image

    from .test_domain import landscape

    from attnviewer.settings import DecodeSettings

    window.sides["main"].controls.set_model("caption-shapes")
    window.sides["main"].controls.set_settings(DecodeSettings("greedy", max_len=20))  # (6 would cut it)
    caption_done(qtbot, window, samples[0])
    note = window.sides["main"].caption.note
    assert not note.isVisibleTo(window)  # a scene like its training data, caption whole: nothing to say
    path = tmp_path / "landscape.png"
    Image.fromarray(landscape(seed=3)).save(path)
    caption_done(qtbot, window, path)
    assert note.isVisibleTo(window) and "unlike" in note.text() and "caption-shapes" in note.text()
    sentence_done(qtbot, window, "quantum chromodynamics explains hadron confinement nicely")
    assert note.isVisibleTo(window) and "6 of 6 words unknown" in note.text()


def test_a_captioner_opened_while_a_sentence_is_shown_says_what_to_open_first(qtbot, window, tiny_checkpoint):
    sentence_done(qtbot, window)
    window.open_checkpoint(str(tiny_checkpoint))
    assert window.last_error.endswith("the window shows a sentence now: open an image first, then this model")


def test_a_translator_opened_while_an_image_is_shown_says_what_to_open_first(qtbot, window, samples):
    from attnviewer.resources import resource_dir

    caption_done(qtbot, window, samples[0])
    window.open_checkpoint(str(resource_dir() / "models" / "translate-sov.safetensors"))
    assert window.last_error.endswith("the window shows an image now: open a sentence first, then this model")


def test_a_clip_is_set_on_its_pane_once_when_read_not_again_at_its_first_word(qtbot, window, monkeypatch):
    """The clip shows once read (its strip drawn, its player opened); its first word makes it the
    input on screen without setting it on the pane a second time (the strip and the player's
    opening again, 2-3 ms and a repaint in the first word's turn)."""
    from attnviewer.ui.video_panes import VideoMediaPane

    set_on_pane = []
    real = VideoMediaPane.set_media
    monkeypatch.setattr(VideoMediaPane, "set_media", lambda self, media: (set_on_pane.append(media), real(self, media)))
    video_done(qtbot, window)
    assert len(set_on_pane) == 1 and set_on_pane[0] is window.shown
    assert window.media_pane("video").player.player.info is not None
