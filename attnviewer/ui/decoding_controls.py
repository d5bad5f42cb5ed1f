"""Decoding controls: model, score function, greedy / beam / sampling, max length, device.

Any change emits `changed`; the window re-runs the caption in the background. The model box lists
what a ModelList (model_list.py, shared by the window's columns) offers for the kind of input on
screen; the main column's controls (remember=True) have their choice per kind remembered there.
"""
from __future__ import annotations


from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget,
)

from ..settings import DecodeSettings
from .. import catalog
from ..kinds import KINDS
from .model_list import ModelList

OPEN_CHECKPOINT = "Open model…"
OPEN_FOLDER = "Open model folder…"


class DecodingControls(QWidget):
    changed = Signal()
    open_checkpoint = Signal()
    open_folder = Signal()  # a transformers model folder (save_pretrained)

    def __init__(self, models: ModelList | None = None, remember: bool = False, parent=None):
        super().__init__(parent)
        self.models = models if models is not None else ModelList(parent=self)
        self.remember = remember
        self.model = QComboBox()
        self.model.setMinimumContentsLength(22)  # "caption-shapes-lambda1" whole
        self.score = QComboBox()
        self.score.setToolTip("Attention score function: bundled variants of this model")
        self.method = QComboBox()
        self.method.addItems(["greedy", "beam", "sample"])
        self.beam = QSpinBox()
        self.beam.setRange(1, 20)
        self.beam.setPrefix("k=")
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.05, 5.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setPrefix("T=")
        self.max_len = QSpinBox()
        self.max_len.setRange(1, 100)
        self.max_len.setPrefix("max ")
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu"])
        self.sample_location = QCheckBox("sample location")
        self.sample_location.setToolTip("Hard attention: attend to one region drawn from the weights "
                                        "(greedy and sampling); off uses the expectation")
        self.sample_location.hide()
        # Two rows: in one, two panes side by side (Compare) needed a window 1,660 px wide.
        rows = QVBoxLayout(self)
        rows.setContentsMargins(4, 2, 4, 2)
        rows.setSpacing(2)
        for row in (
            (("Model", self.model), ("Score", self.score)),
            (("Decoding", self.method), (None, self.beam), (None, self.temperature), (None, self.max_len),
             ("Device", self.device), (None, self.sample_location)),
        ):
            layout = QHBoxLayout()
            for label, w in row:
                if label:
                    layout.addWidget(QLabel(label))
                layout.addWidget(w)
                w.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # keep the arrow keys for stepping
            layout.addStretch()
            rows.addLayout(layout)
        self._quiet = False
        self.kind = "caption"  # the kind of input the listed models take
        self.defaults = {k.name: k.default_model for k in KINDS.values()}
        self._chosen: dict[str, str] = {}  # the model last chosen for each kind (remember=False)
        self.set_settings(DecodeSettings("beam", beam=3, max_len=20))
        self.refresh_models(self._last(self.kind))
        self.models.changed.connect(self.refresh_models)  # a file opened in either column, the choice kept
        self.model.activated.connect(self._model_chosen)
        self.score.activated.connect(self._score_chosen)
        self.method.currentTextChanged.connect(self._method_changed)
        for w in (self.beam, self.max_len):
            w.valueChanged.connect(self._emit)
        self.temperature.valueChanged.connect(self._emit)
        self.device.currentTextChanged.connect(self._emit)
        self.sample_location.toggled.connect(self._emit)

    # -- models ----------------------------------------------------------------------------------

    def set_kind(self, kind: str) -> None:
        """List the models of another kind of input (caption, video, translate), choosing the one
        last chosen for it (else its default)."""
        if kind == self.kind:
            return
        self._keep()
        self.kind = kind
        self.refresh_models(self._last(kind) or self.defaults.get(kind))

    def _last(self, kind: str) -> str | None:
        return self.models.chosen(kind) if self.remember else self._chosen.get(kind)

    def _keep(self) -> None:
        """Note the model now chosen as the last one of its kind."""
        if self.remember:
            self.models.choose(self.kind, self.model_name())
        else:
            self._chosen[self.kind] = self.model_name()

    def refresh_models(self, current: str | None = None) -> None:
        """The models offered for the kind (bundled, user folder, opened), then 'Open model…'.
        Remembered files that have gone are dropped first (the list says so)."""
        quiet, self._quiet = self._quiet, True
        current = current or self.model.currentData() or self.defaults.get(self.kind)
        self.models.check()
        self.model.clear()
        for name in self.models.names(self.kind):
            self.model.addItem(self.models.label(name), name)
            self.model.setItemData(self.model.count() - 1, name, Qt.ItemDataRole.ToolTipRole)
        self.model.addItem(OPEN_CHECKPOINT, None)
        self.model.addItem(OPEN_FOLDER, None)
        index = self.model.findData(current)
        if index < 0:
            index = max(self.model.findData(self.defaults.get(self.kind)), 0)
        self.model.setCurrentIndex(index)
        self._refresh_scores()
        self._quiet = quiet

    def model_name(self) -> str:
        return self.model.currentData() or self.defaults.get(self.kind) or ""

    def _refresh_scores(self) -> None:
        self.score.clear()
        name, config = self.model_name(), catalog.config_of(self.model_name())
        variants = catalog.variants(name)
        if not variants and config.get("score"):  # a model without bundled siblings: its own score, shown
            variants = {config["score"]: name}
        for score, variant in variants.items():
            self.score.addItem(score, variant)
        self.score.setCurrentIndex(max(self.score.findData(name), 0))
        self.score.setEnabled(self.score.count() > 1)
        self.sample_location.setVisible(bool(config.get("hard")))

    def _model_chosen(self, index: int) -> None:
        if self.model.itemData(index) is None:
            (self.open_folder if self.model.itemText(index) == OPEN_FOLDER else self.open_checkpoint).emit()
            return
        self._refresh_scores()
        self._keep()
        self._emit()

    def _score_chosen(self, index: int) -> None:
        name = self.score.itemData(index)
        if name and name != self.model_name():
            self.model.setCurrentIndex(self.model.findData(name))
            self._keep()
            self._emit()

    def set_model(self, name: str) -> None:
        self._quiet = True
        if self.model.findData(name) < 0:
            self.models.add(name, self.kind)  # every box lists it again, this one too
        self.model.setCurrentIndex(self.model.findData(name))
        self._refresh_scores()
        self._keep()
        self._quiet = False

    def enable_cuda(self) -> None:
        if self.device.findText("cuda") < 0:
            self.device.addItem("cuda")

    # -- settings --------------------------------------------------------------------------------

    def settings(self) -> DecodeSettings:
        return DecodeSettings(
            method=self.method.currentText(), beam=self.beam.value(), temperature=self.temperature.value(),
            max_len=self.max_len.value(),
            sample_attention=not self.sample_location.isHidden() and self.sample_location.isChecked(),
        )

    def set_settings(self, s: DecodeSettings) -> None:
        self._quiet = True
        self.method.setCurrentText(s.method)
        self.beam.setValue(s.beam)
        self.temperature.setValue(s.temperature)
        self.max_len.setValue(s.max_len or 20)
        self._method_changed(s.method)
        self._quiet = False

    def device_name(self) -> str:
        return self.device.currentText()

    def _method_changed(self, method: str) -> None:
        self.beam.setVisible(method == "beam")
        self.temperature.setVisible(method == "sample")
        self._emit()

    def _emit(self, *_):
        if not self._quiet:
            self.changed.emit()
