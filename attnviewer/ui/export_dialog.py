"""File → Export figure…: what to export, how it looks, a live preview, and the export itself.

Both the preview and the export run in the engine (ExportRequest); the dialog only sends
requests and shows what comes back, dropping previews older than the newest it asked for. An
option change re-renders the preview after a short pause (debounced), at a low DPI. The preview
fits the dialog and grows with it, or is zoomed (the Zoom box, or Ctrl+wheel over it) and scrolled.
The choices, the zoom and the last export folder are remembered in the window's QSettings under
"export/"; before any export, saving starts in the user's Pictures (else Documents, else home)
folder, never in the input's.
"""
from __future__ import annotations

import html

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QEvent, QSettings, QSize, QStandardPaths, Qt, QTimer, Slot
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QButtonGroup, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
    QFormLayout, QGroupBox, QHBoxLayout, QLabel, QMessageBox, QProgressBar, QPushButton, QRadioButton,
    QScrollArea, QSizePolicy, QSpinBox, QVBoxLayout, QWidget,
)

from ..engine.exports import ExportRequest
from ..kinds import WriteOptions
from ..export.figures import font_families
from ..maps import SMOOTHING
from ..types import Hypothesis, Result
from .attention_pane import OverlaySettings, to_pixmap
from .stored_settings import typed

PREVIEW_DELAY_MS = 250
COLORMAPS = ("jet", "viridis", "inferno", "magma", "plasma", "turbo", "hot", "cividis", "gray")
FIGURE_FILTERS = {"png": "PNG image (*.png)", "svg": "SVG vector figure (*.svg)", "pdf": "PDF document (*.pdf)"}

ZOOMS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)  # the preview's zoom choices; 0: fit the dialog
STYLE_KEYS = {"columns", "cmap", "opacity", "smoothing", "scale", "panel", "dpi", "font", "font_size",
              "show_prob", "seconds", "size", "top_k", "values"}


@dataclass(frozen=True)
class Choice:
    label: str
    output: str  # the kind's output id (ExportRequest.output)
    suffixes: tuple[str, ...]
    uses: frozenset[str]  # the options it uses (the others are disabled)


def choices_for(kind, compared: bool = False) -> dict[str, Choice]:
    """The dialog's choices for a kind, from the kind's table of outputs; an animation is offered
    as GIF and as MP4; the comparison only while Compare shows a second result. The image grid
    keeps the id "grid" (remembered choices of older versions)."""
    out = {}
    for o in kind.outputs.values():
        if o.id == "comparison" and not compared:
            continue
        uses = frozenset(o.uses & STYLE_KEYS)
        if o.id == "animation":
            base = o.label.replace(" (GIF or MP4)", "")
            out["gif"] = Choice(f"{base} (GIF)", o.id, (".gif",), uses)
            out["mp4"] = Choice(f"{base} (MP4)", o.id, (".mp4",), uses)
        else:
            out["grid" if (o.id, kind.medium) == ("figure", "image") else o.id] = Choice(o.label, o.id, o.suffixes, uses)
    return out


@dataclass
class ExportSource:
    """What is on screen, as plain data: the figure's inputs."""

    media: object  # the input as read: LoadedImage, LoadedClip, Sentence
    hyp: Hypothesis  # the hypothesis shown
    index: int  # the current word
    result: Result
    stem: str  # the input's file name without suffix (a sentence's first words): default output names
    title: str  # the grid's first panel: model and decoding
    overlay: OverlaySettings  # the window's overlay: defaults for colours, opacity, smoothing
    others: list = field(default_factory=list)  # the Compare column: (Result, hypothesis, label, media)


class ExportDialog(QDialog):
    def __init__(self, engine, qsettings: QSettings, source: ExportSource, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.engine = engine
        self.qsettings = qsettings
        self.source = source
        self.preview_id = 0  # newest preview asked for
        self.export_id: int | None = None  # the export running, if any
        self.export_path = ""
        self.preview_pixmap: QPixmap | None = None
        self.previews = 0  # previews shown so far (tests wait on it)
        self.last_written = ""

        self._build()
        self._load()
        self._timer = QTimer(self, singleShot=True, interval=PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self.request_preview)
        self._wire()
        self._links = [(engine.preview_ready, self.on_preview_ready), (engine.preview_failed, self.on_preview_failed),
                       (engine.export_progress, self.on_progress), (engine.exported, self.on_exported),
                       (engine.export_failed, self.on_failed), (engine.export_cancelled, self.on_cancelled)]
        for signal, slot in self._links:
            signal.connect(slot)
        self._choice_changed()  # and the first preview, without waiting

    # -- construction ----------------------------------------------------------------------------

    def _build(self) -> None:
        from ..export.animation import mp4_encoder

        from ..kinds import for_result

        src = self.source
        self.kind = for_result(src.result)
        self.choices = choices_for(self.kind, bool(src.others))
        what = QGroupBox("Export")
        what_lay = QVBoxLayout(what)
        self.kind_group = QButtonGroup(self)
        self.kind_buttons: dict[str, QRadioButton] = {}
        for i, (cid, choice) in enumerate(self.choices.items()):
            label = choice.label
            if cid == "word" and 0 <= src.index < len(src.hyp.tokens):
                label = f"Current word: “{src.hyp.tokens[src.index]}” (word {src.index + 1})"
            b = QRadioButton(label)
            b.setObjectName(f"kind_{cid}")
            self.kind_group.addButton(b, i)
            self.kind_buttons[cid] = b
            what_lay.addWidget(b)
        fonts, self.mp4_codec = self.engine.look_ups or (None, mp4_encoder())  # (the engine's, once sent)
        if self.mp4_codec is None and "mp4" in self.kind_buttons:
            mp4 = self.kind_buttons["mp4"]
            mp4.setEnabled(False)
            mp4.setToolTip("MP4 needs PyAV with an H.264 or MPEG-4 encoder, and none was found here "
                           "(pip install av); GIF works everywhere")
        elif "mp4" in self.kind_buttons:
            self.kind_buttons["mp4"].setToolTip(f"encoded with {self.mp4_codec}")

        self.columns = QSpinBox(minimum=1, maximum=30)
        self.columns.setToolTip("panels per row; the input image is the first panel")
        self.cmap = QComboBox()
        self.cmap.addItems(COLORMAPS)
        self.opacity = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.05, decimals=2)
        self.opacity.setToolTip("of the overlay where the attention peaks; it fades out with the weight")
        self.smoothing = QComboBox()
        self.smoothing.addItems(SMOOTHING)
        self.scale = QComboBox()
        self.scale.addItem("each word to its own peak", "max")
        self.scale.addItem("fixed: weights 0 to 1 on one scale", "fixed")
        self.panel = QDoubleSpinBox(minimum=0.5, maximum=20.0, singleStep=0.1, decimals=1, suffix=" in")
        self.panel.setToolTip("width of one panel in inches")
        self.dpi = QSpinBox(minimum=20, maximum=1200, singleStep=10)
        self.dpi.setToolTip("dots per inch of PNG files, and of the pictures inside SVG and PDF")
        self.font = QComboBox()
        self.font.setEditable(True)
        self.font.addItems(list(fonts or font_families()))
        self.font.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.font_size = QDoubleSpinBox(minimum=4, maximum=72, singleStep=1, decimals=1, suffix=" pt")
        self.show_prob = QCheckBox("show each word's probability")
        self.top_k = QSpinBox(minimum=1, maximum=max(1, src.hyp.attention.shape[-1]))
        self.top_k.setToolTip("the most attended frames shown for each word")
        self.values = QCheckBox("print each weight in its cell")
        self.seconds = QDoubleSpinBox(minimum=0.1, maximum=60.0, singleStep=0.1, decimals=2, suffix=" s")
        self.seconds.setToolTip("how long each word stays on screen")
        self.size = QSpinBox(minimum=64, maximum=4096, singleStep=32, suffix=" px")
        self.size.setToolTip("long side of the picture in each frame")

        options = QGroupBox("Options")
        form = QFormLayout(options)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.option_widgets = {
            "columns": ("Columns", self.columns), "cmap": ("Colormap", self.cmap),
            "opacity": ("Opacity", self.opacity), "smoothing": ("Smoothing", self.smoothing),
            "scale": ("Scale", self.scale), "panel": ("Panel size", self.panel), "dpi": ("DPI", self.dpi),
            "font": ("Font", self.font), "font_size": ("Font size", self.font_size),
            "show_prob": ("", self.show_prob), "seconds": ("Per word", self.seconds),
            "size": ("Frame size", self.size), "top_k": ("Frames per word", self.top_k),
            "values": ("", self.values),
        }
        for label, w in self.option_widgets.values():
            form.addRow(label, w)
        self.form = form

        self.preview = QLabel()
        self.preview.setObjectName("preview")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.preview.setStyleSheet("QLabel#preview { background: #f1f3f4; }")
        self.preview_area = QScrollArea()  # the preview fits it, or scrolls in it when zoomed
        self.preview_area.setObjectName("preview_area")
        self.preview_area.setWidget(self.preview)
        self.preview_area.setWidgetResizable(True)
        self.preview_area.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_area.setMinimumSize(QSize(420, 320))
        self.preview_area.setStyleSheet("QScrollArea#preview_area { background: #f1f3f4; border: 1px solid #dadce0; }")
        self.preview_area.viewport().installEventFilter(self)
        self.zoom = QComboBox()
        self.zoom.setObjectName("zoom")
        for z in ZOOMS:
            self.zoom.addItem("Fit" if z == 0 else f"{z:.0%}", z)
        self.zoom.setToolTip("the preview's size: fit the dialog (it grows with it), or a zoom of the "
                             "rendered preview; Ctrl+wheel over the preview zooms too")
        self.preview_note = QLabel()
        self.preview_note.setStyleSheet("color: #5f6368;")
        preview_box = QGroupBox("Preview")
        pl = QVBoxLayout(preview_box)
        pl.addWidget(self.preview_area, 1)
        below = QHBoxLayout()
        below.addWidget(self.preview_note, 1)
        below.addWidget(QLabel("Zoom"))
        below.addWidget(self.zoom)
        pl.addLayout(below)

        self.message = QLabel()
        self.message.setObjectName("message")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("QLabel#message { color: #b3261e; }")
        self.message.hide()
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("stop the export; no file is written")
        self.stop_button.clicked.connect(self.stop_export)
        progress_row = QWidget()
        prl = QHBoxLayout(progress_row)
        prl.setContentsMargins(0, 0, 0, 0)
        prl.addWidget(self.progress, 1)
        prl.addWidget(self.stop_button)
        self.progress_row = progress_row
        progress_row.hide()

        self.buttons = QDialogButtonBox()
        self.save_button = self.buttons.addButton("Save…", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setDefault(True)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.save_button.clicked.connect(self.save)
        self.close_button.clicked.connect(self.reject)

        left = QVBoxLayout()
        left.addWidget(what)
        left.addWidget(options)
        left.addStretch()
        top = QHBoxLayout()
        top.addLayout(left)
        top.addWidget(preview_box, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addWidget(self.message)
        layout.addWidget(progress_row)
        layout.addWidget(self.buttons)
        self.resize(self._first_size())

    def _first_size(self) -> QSize:
        """Most of the screen (the preview takes what the options leave), 1000×640 at the least."""
        screen = self.screen() or (self.parentWidget().screen() if self.parentWidget() else None)
        size = QSize(1400, 940)
        if screen is not None:
            avail = screen.availableGeometry().size()
            size = size.boundedTo(QSize(int(avail.width() * 0.9), int(avail.height() * 0.9)))
        return size.expandedTo(QSize(1000, 640))

    def _wire(self) -> None:
        self.kind_group.idToggled.connect(lambda _id, on: on and self._choice_changed())
        for w in (self.columns, self.dpi, self.size):
            w.valueChanged.connect(self.option_changed)
        for w in (self.opacity, self.panel, self.font_size, self.seconds):
            w.valueChanged.connect(self.option_changed)
        for w in (self.cmap, self.smoothing, self.scale, self.font):
            w.currentTextChanged.connect(self.option_changed)
        self.show_prob.toggled.connect(self.option_changed)
        self.values.toggled.connect(self.option_changed)
        self.top_k.valueChanged.connect(self.option_changed)
        self.zoom.currentIndexChanged.connect(lambda _i: self._fit_preview())

    # -- settings --------------------------------------------------------------------------------

    def _value(self, key: str, default, kind=None):
        value = self.qsettings.value(f"export/{key}", None)
        got = None if value is None else typed(value, kind or type(default))
        return default if got is None else got  # (a value of another type, NaN or absurd: the default)

    def _load(self) -> None:
        from ..export.figures import FigureStyle

        d, o = FigureStyle(), self.source.overlay
        choice = self._value("choice", next(iter(self.choices)), str)
        if choice not in self.choices or not self.kind_buttons[choice].isEnabled():
            choice = next(iter(self.choices))
        self.kind_buttons[choice].setChecked(True)
        self.columns.setValue(self._value("columns", d.columns))
        cmap = self._value("cmap", o.cmap, str)
        if self.cmap.findText(cmap) < 0:
            self.cmap.addItem(cmap)
        self.cmap.setCurrentText(cmap)
        self.opacity.setValue(self._value("opacity", float(o.opacity)))
        self.smoothing.setCurrentText(self._value("smoothing", o.smoothing, str))
        index = self.scale.findData(self._value("scale", d.scale, str))
        self.scale.setCurrentIndex(max(0, index))
        self.panel.setValue(self._value("panel_inches", float(d.panel_inches)))
        self.dpi.setValue(self._value("dpi", d.dpi))
        self.font.setCurrentText(self._value("font_family", d.font_family, str))
        self.font_size.setValue(self._value("font_size", float(d.font_size)))
        self.show_prob.setChecked(self._value("show_prob", d.show_prob, bool))
        self.seconds.setValue(self._value("seconds", 1.0))
        self.size.setValue(self._value("size", 512))
        self.top_k.setValue(self._value("top_k", 3))
        self.values.setChecked(self._value("values", False, bool))
        self.figure_format = self._value("figure_format", "png", str)
        if self.figure_format not in FIGURE_FILTERS:
            self.figure_format = "png"
        self.zoom.setCurrentIndex(max(0, self.zoom.findData(self._value("zoom", 0.0, float))))

    def store(self) -> None:
        s, q = self.style(), self.qsettings
        for key, value in (("choice", self.choice()), ("columns", s.columns), ("cmap", s.cmap),
                           ("opacity", s.opacity), ("smoothing", s.smoothing), ("scale", s.scale),
                           ("panel_inches", s.panel_inches), ("dpi", s.dpi), ("font_family", s.font_family),
                           ("font_size", s.font_size), ("show_prob", s.show_prob),
                           ("seconds", self.seconds.value()), ("size", self.size.value()),
                           ("top_k", self.top_k.value()), ("values", self.values.isChecked()),
                           ("figure_format", self.figure_format), ("zoom", self.zoom.currentData())):
            q.setValue(f"export/{key}", value)
        q.sync()

    def folder(self) -> str:
        """Where saving starts: the folder of the last export (remembered across sessions), else the
        user's Pictures or Documents folder, else home; never the input's folder (which may be the
        installation's samples)."""
        last = self.qsettings.value("export/folder", "")
        last = last if isinstance(last, str) else ""
        if last and Path(last).is_dir():
            return last
        for where in (QStandardPaths.StandardLocation.PicturesLocation,
                      QStandardPaths.StandardLocation.DocumentsLocation):
            path = QStandardPaths.writableLocation(where)
            if path and Path(path).is_dir():
                return path
        return str(Path.home())

    # -- the choices -----------------------------------------------------------------------------

    def choice(self) -> str:
        for cid, b in self.kind_buttons.items():
            if b.isChecked():
                return cid
        return next(iter(self.choices))

    def select(self, choice: str) -> None:
        self.kind_buttons[choice].setChecked(True)

    def style(self):
        from ..export.figures import FigureStyle

        return FigureStyle(columns=self.columns.value(), cmap=self.cmap.currentText(),
                           opacity=round(self.opacity.value(), 3), smoothing=self.smoothing.currentText(),
                           scale=self.scale.currentData(), panel_inches=round(self.panel.value(), 2),
                           dpi=self.dpi.value(), show_prob=self.show_prob.isChecked(),
                           font_size=round(self.font_size.value(), 2),
                           font_family=self.font.currentText().strip() or "sans-serif")

    def request(self, path: str = "", preview: bool = False) -> ExportRequest:
        src = self.source
        opts = WriteOptions(title=src.title, word=max(0, src.index), hypothesis=src.result.hypotheses.index(src.hyp),
                            seconds=round(self.seconds.value(), 3), frame_size=self.size.value(),
                            top_k=self.top_k.value(), values=self.values.isChecked(), others=list(src.others))
        return ExportRequest(self.choices[self.choice()].output, path=path, media=src.media, result=src.result,
                             style=self.style(), opts=opts, preview=preview)

    def _choice_changed(self) -> None:
        used = self.choices[self.choice()].uses
        for key, (_, w) in self.option_widgets.items():
            w.setEnabled(key in used)
            label = self.form.labelForField(w)
            if label is not None:
                label.setEnabled(key in used)
        self.message.hide()
        self.request_preview()  # one click: no need to wait for more

    def option_changed(self, *_) -> None:
        """Re-render the preview once the options have stopped changing for a moment."""
        self.message.hide()
        self._timer.start()

    # -- preview ---------------------------------------------------------------------------------

    def request_preview(self) -> None:
        self._timer.stop()
        if self.choice() in ("result", "page"):
            self.preview_id = 0  # drop any preview still on its way
            self._show_summary()
            return
        self.preview_id = self.engine.export(self.request(preview=True))
        self.preview_note.setText("rendering…")

    def _show_summary(self) -> None:
        """What a file without a picture holds (a result, an interactive page), in words."""
        r, src = self.source.result, self.source
        shape = "×".join(str(n) for n in src.hyp.attention.shape[1:])
        head = (f"<p><b>{len(r.hypotheses)} hypothes{'is' if len(r.hypotheses) == 1 else 'es'}</b>, "
                f"best: “{html.escape(r.best.shown)}”</p>")
        if self.choice() == "page":
            text = head + ("<p>One HTML file, nothing beside it: the input, the words with their probabilities "
                           "and step scores, each word's map drawn over the input, the hypotheses. It opens in "
                           "any browser, without a server; ← → step through the words.</p>")
        else:
            text = head + (f"<p>JSON: words, probabilities, alternatives, settings, "
                           f"the model and the input; attention rounded to 6 decimals.<br>NPZ beside it: "
                           f"the exact float32 attention ({shape} per word).</p>")
        self.preview_pixmap = None
        self.preview.setPixmap(QPixmap())
        self.preview.setWordWrap(True)
        self.preview.setText(text)
        self._fit_preview()
        self.preview_note.setText("")
        self.zoom.setEnabled(False)  # words: nothing to zoom

    @Slot(int, object)
    def on_preview_ready(self, request_id: int, rgb) -> None:
        if request_id != self.preview_id:
            return
        self.preview_pixmap = to_pixmap(rgb)
        self.previews += 1
        h, w = rgb.shape[:2]
        self.preview_note.setText(f"preview, rendered at {w}×{h} px")  # (the file is drawn at its own size)
        self.zoom.setEnabled(True)
        self._fit_preview()

    @Slot(int, str)
    def on_preview_failed(self, request_id: int, message: str) -> None:
        if request_id != self.preview_id:
            return
        self.preview_note.setText("no preview")
        self._say(message)

    def _fit_preview(self) -> None:
        """Fit: the preview fills the preview area, keeping its shape, and follows its size; a zoom:
        the rendered preview scaled by it, scrolled in the area where larger."""
        area, zoom = self.preview_area, float(self.zoom.currentData() or 0.0)
        if self.preview_pixmap is None:
            area.setWidgetResizable(True)
            return
        if zoom <= 0:
            area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            area.setWidgetResizable(True)
            size = area.viewport().size()
        else:
            area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
            area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
            size = self.preview_pixmap.size() * zoom
        shown = self.preview_pixmap.scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation)
        self.preview.setPixmap(shown)
        if zoom > 0:  # as large as the picture, or as the area where the picture is smaller
            area.setWidgetResizable(False)
            self.preview.resize(shown.size().expandedTo(area.viewport().size()))

    def eventFilter(self, watched, event) -> bool:
        if watched is self.preview_area.viewport():
            if event.type() == QEvent.Type.Resize:
                self._fit_preview()  # the area has its new size already
            elif event.type() == QEvent.Type.Wheel and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
                self.zoom_by(1 if event.angleDelta().y() > 0 else -1)
                return True
        return super().eventFilter(watched, event)

    def zoom_by(self, steps: int) -> None:
        """Ctrl+wheel: the next zoom up or down (from Fit, the zoom nearest the fitted size)."""
        index = self.zoom.currentIndex()
        if index == 0:  # from Fit: the zoom next above or below the fitted size
            if self.preview_pixmap is None or self.preview_pixmap.isNull():
                return
            now = self.preview.pixmap().width() / max(1, self.preview_pixmap.width())
            above = [i for i in range(1, len(ZOOMS)) if ZOOMS[i] > now + 1e-6]
            below = [i for i in range(1, len(ZOOMS)) if ZOOMS[i] < now - 1e-6]
            index = (above[0] if above else len(ZOOMS) - 1) if steps > 0 else (below[-1] if below else 1)
        else:
            index = max(1, index + steps)
        self.zoom.setCurrentIndex(min(index, len(ZOOMS) - 1))

    def _say(self, message: str) -> None:
        self.message.setText(message)
        self.message.show()

    # -- export ----------------------------------------------------------------------------------

    def default_name(self) -> str:
        src, choice = self.source, self.choice()
        token = src.hyp.tokens[src.index] if 0 <= src.index < len(src.hyp.tokens) else "word"
        token = "".join(c if c.isalnum() or c in "-_" else "_" for c in token)
        return {"grid": f"{src.stem}-attention.{self.figure_format}",
                "figure": f"{src.stem}-attention.{self.figure_format}",
                "top_frames": f"{src.stem}-top-frames.{self.figure_format}",
                "comparison": f"{src.stem}-comparison.{self.figure_format}",
                "word": f"{src.stem}-{src.index + 1:02d}-{token}.{self.figure_format}",
                "overlay": f"{src.stem}-overlay-{src.index + 1:02d}-{token}.png",
                "gif": f"{src.stem}-caption.gif", "mp4": f"{src.stem}-caption.mp4",
                "result": f"{src.stem}-result.json", "page": f"{src.stem}-attention.html"}[choice]

    def filters(self) -> tuple[str, str]:
        """The file dialog's filter list and the one selected."""
        choice = self.choice()
        if self._is_figure(choice):
            order = [self.figure_format] + [f for f in FIGURE_FILTERS if f != self.figure_format]
            return ";;".join(FIGURE_FILTERS[f] for f in order), FIGURE_FILTERS[self.figure_format]
        one = {"overlay": "PNG image (*.png)", "gif": "GIF animation (*.gif)", "mp4": "MP4 video (*.mp4)",
               "result": "attnviewer result (*.json)", "page": "Web page (*.html *.htm)"}[choice]
        return one, one

    def _is_figure(self, choice: str) -> bool:
        return self.choices[choice].suffixes == (".png", ".svg", ".pdf")

    def save(self) -> None:
        """Ask where, confirm replacing what exists, then export in the engine."""
        if self.export_id is not None:
            return
        choice = self.choice()
        filters, selected = self.filters()
        start = str(Path(self.folder()) / self.default_name()) if self.folder() else self.default_name()
        path, chosen = QFileDialog.getSaveFileName(self, "Export", start, filters, selected)
        if not path:
            return
        path = self._with_suffix(path, chosen)
        if self._is_figure(choice):
            self.figure_format = Path(path).suffix.lower()[1:]
        targets = [Path(path)]
        if choice == "result":
            from ..export.data import npz_path_for

            targets.append(npz_path_for(path))
        existing = [t for t in targets if t.exists()]
        if any(t.is_dir() for t in existing):
            self._say(f"{next(t for t in existing if t.is_dir())}: is a folder; choose a file name")
            return
        if existing:
            names = " and ".join(t.name for t in existing)
            answer = QMessageBox.question(
                self, "Replace file?", f"{names} already exist{'s' if len(existing) == 1 else ''} in "
                f"{existing[0].parent}. Replace {'it' if len(existing) == 1 else 'them'}?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.qsettings.setValue("export/folder", str(Path(path).parent))
        self.store()
        self.start_export(path)

    def _with_suffix(self, path: str, chosen_filter: str) -> str:
        allowed = self.choices[self.choice()].suffixes
        if Path(path).suffix.lower() in allowed:
            return path
        for suffix in allowed:  # the filter the user picked names the suffix to add
            if f"*{suffix}" in (chosen_filter or ""):
                return path + suffix
        return path + allowed[0]

    def start_export(self, path: str) -> None:
        self.message.hide()
        self.export_path = path
        animation = self.choice() in ("gif", "mp4")
        self.progress.setRange(0, 0)  # busy until the first frame reports
        self.progress.setFormat("%p%" if animation else "writing…")
        self.stop_button.setEnabled(True)
        self.progress_row.show()
        self.save_button.setEnabled(False)
        self.export_id = self.engine.export(self.request(path))

    def stop_export(self) -> None:
        if self.export_id is not None:
            self.engine.cancel_export(self.export_id)
            self.stop_button.setEnabled(False)
            self.progress.setFormat("stopping…")

    def _export_over(self) -> None:
        self.export_id = None
        self.progress_row.hide()
        self.save_button.setEnabled(True)

    @Slot(int, int, int)
    def on_progress(self, request_id: int, done: int, total: int) -> None:
        if request_id == self.export_id:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    @Slot(int, str)
    def on_exported(self, request_id: int, path: str) -> None:
        if request_id != self.export_id:
            return
        self._export_over()
        self.last_written = path
        self.accept()

    @Slot(int, str)
    def on_failed(self, request_id: int, message: str) -> None:
        if request_id != self.export_id:
            return
        self._export_over()
        self._say(message)  # the window shows it too; the dialog stays, with every choice kept

    @Slot(int, str)
    def on_cancelled(self, request_id: int, path: str) -> None:
        if request_id != self.export_id:
            return
        self._export_over()
        self._say(f"export stopped; {Path(path).name} was not written")

    def done(self, result: int) -> None:
        if self.export_id is not None:
            self.engine.cancel_export(self.export_id)
            self.export_id = None
        self._timer.stop()
        self.preview_id = 0
        self.store()
        for signal, slot in self._links:  # a closed dialog hears nothing more from the engine
            signal.disconnect(slot)
        self._links = []
        super().done(result)
