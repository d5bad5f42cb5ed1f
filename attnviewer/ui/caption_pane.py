"""The caption panel: generated words as clickable tokens with their probabilities, the current
step's top-k alternatives, and (beam search) the final hypotheses, any of which can be viewed.

What if: a double-click on a top word (or a word typed under them) asks the model to write it
instead at this step and go on; the answer is listed as a branch after the hypotheses, with its
own words and maps, and can be removed."""
from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QHBoxLayout, QLabel, QLineEdit, QListView, QListWidget, QListWidgetItem, QSizePolicy,
    QSplitter, QToolButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget,
)

from ..types import Hypothesis, Step


LIST_ROWS = 6  # rows the top words and the hypotheses show at least (a laptop's 800 px high screen)
BRANCH = "\N{GREEK SMALL LETTER PSI}"  # marks a what-if branch among the hypotheses (a fork)


def _same_item(old: Step, new: Step) -> bool:
    """Whether a word's item (its text and tip) stays as it is: the same step, or one alike (the
    final hypothesis brings new step objects for the words already shown)."""
    return old is new or ((old.token, old.prob, old.entropy) == (new.token, new.prob, new.entropy)
                          and np.array_equal(old.attention, new.attention))


class CaptionPane(QWidget):
    word_clicked = Signal(int)
    hypothesis_selected = Signal(int)
    force_asked = Signal(str, bool)  # a word to write at the current step instead; True: a listed top word
    branch_removed = Signal(int)  # the row of a branch in the hypotheses list

    def __init__(self, title: str = "Caption", parent=None):
        super().__init__(parent)
        self._title, self.previous = title, None  # previous: the input these words belong to, when not the one shown
        self.title = QLabel(f"<b>{title}</b>")
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # a long name never widens it
        # the word panel takes the focus (after Enter in the sentence box): it handles no keys, so
        # ←/→, Home/End and Space reach the window's actions
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.tokens = QListWidget()
        self.tokens.setObjectName("tokens")
        self.tokens.setFlow(QListView.Flow.LeftToRight)
        self.tokens.setWrapping(True)
        self.tokens.setResizeMode(QListView.ResizeMode.Adjust)
        self.tokens.setSpacing(3)
        self.tokens.setUniformItemSizes(False)
        self.tokens.setMinimumHeight(96)  # two rows of words before it scrolls
        self.tokens.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrows step through words globally
        self.tokens.itemClicked.connect(lambda item: self.word_clicked.emit(self.tokens.row(item)))

        self.alternatives = QTreeWidget()
        self.alternatives.setHeaderLabels(["alternative", "probability"])
        self.alternatives.setRootIsDecorated(False)
        self.alternatives.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.alternatives.setToolTip("double-click a word: the model writes it here instead and goes on (a branch)")
        self.alternatives.itemDoubleClicked.connect(lambda item, _c: self.force_asked.emit(item.text(0), True))
        self.force_box = QLineEdit()
        self.force_box.setObjectName("force")
        self.force_box.setPlaceholderText("or write another word here… (Enter)")
        self.force_box.setToolTip("the model writes this word at the current step, then goes on as set (a branch)")
        self.force_box.returnPressed.connect(self._force_typed)
        self.hypotheses = QListWidget()
        self.hypotheses.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.hypotheses.setWordWrap(True)  # a long hypothesis wraps instead of being cut (Compare halves the width)
        self.hypotheses.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.hypotheses.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.hypotheses.itemClicked.connect(lambda item: self.hypothesis_selected.emit(self.hypotheses.row(item)))
        self.remove = QToolButton()
        self.remove.setObjectName("remove_branch")
        self.remove.setText("Remove branch")
        self.remove.setToolTip("remove the selected what-if branch")
        self.remove.setAutoRaise(True)
        self.remove.setEnabled(False)
        self.remove.clicked.connect(lambda: self.branch_removed.emit(self.hypotheses.currentRow()))

        self.lower = lower = QSplitter(Qt.Orientation.Horizontal)
        # the what-if controls sit in the lists' header rows: the attention above keeps its height
        for label, widget, beside in (("Top words at this step", self.alternatives, self.force_box),
                                      ("Hypotheses", self.hypotheses, self.remove)):
            box = QWidget()
            lay = QVBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 0)
            head = QHBoxLayout()
            head.setContentsMargins(0, 0, 0, 0)
            head.addWidget(QLabel(label))
            head.addWidget(beside, 1)
            beside.setMaximumHeight(self.fontMetrics().height() + 2)  # no taller than the label beside it
            lay.addLayout(head)
            lay.addWidget(widget)
            lower.addWidget(box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.note = QLabel()
        self.note.setObjectName("note")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("QLabel#note { background: #fef7e0; color: #5f370e; padding: 3px; }")
        self.note.hide()
        layout.addWidget(self.title)
        layout.addWidget(self.note)
        layout.addWidget(self.tokens, 1)
        layout.addWidget(lower, 2)
        rows = self.fontMetrics().height() + 4  # a row of the lists, with its padding
        for view in (self.alternatives, self.hypotheses):  # the top words and hypotheses: six rows at least
            view.setMinimumHeight(LIST_ROWS * rows + 2 * view.frameWidth() + self.alternatives.header().sizeHint().height())
        self._shown: list[Step] = []  # the step each token item shows

    def set_title(self, title: str) -> None:
        self._title = title
        self._show_title()

    def set_previous(self, name: str | None) -> None:
        """Mark what is shown as the previous input's (`name`) while another one is read or typed:
        the title says so and the words, alternatives and hypotheses are greyed; None: they are current."""
        self.previous = name
        self._show_title()
        for widget in (self.tokens, self.alternatives, self.hypotheses, self.force_box):
            widget.setEnabled(name is None)

    def _show_title(self) -> None:
        if self.previous is None:
            self.title.setText(f"<b>{self._title}</b>")
        else:
            self.title.setText(f"<b>{self._title}</b> <i style='color:#80868b'>— previous input: "
                               f"{html.escape(self.previous)}</i>")
        self.title.setToolTip("" if self.previous is None else
                              "these words belong to the input shown before; the new one is being read")

    def show_note(self, note: str | None) -> None:
        """The model's own warning next to its caption: cut at the maximum length, or the input is far
        from its training data."""
        self.note.setText(f"⚠ {note}" if note else "")
        self.note.setVisible(bool(note))

    def show_words(self, words: list[Step], current: int) -> None:
        """Write the words that changed (while the model writes: the newest), not the whole list
        again; move the highlight to the current word."""
        for i, step in enumerate(words):
            if i < len(self._shown) and _same_item(self._shown[i], step):
                continue
            if i < self.tokens.count():
                item = self.tokens.item(i)
            else:
                item = QListWidgetItem()
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.tokens.addItem(item)
            item.setText(f"{step.token}\n{step.prob:.2f}")  # (not rounded before: 0.72537 shows 0.73, as everywhere)
            sure = "" if step.entropy is None else f"; entropy of the words {step.entropy:.2f}"
            item.setToolTip(f"{step.token}: probability {step.prob:.3f}{sure}; of its attention "
                            f"{step.attention_entropy:.2f} (nats; View → What if… lists them all)")
            item.setSizeHint(QSize(max(44, 9 * len(step.token) + 16), 40))
        while self.tokens.count() > len(words):
            self.tokens.takeItem(self.tokens.count() - 1)
        self._shown = list(words)
        if 0 <= current < self.tokens.count():
            self.tokens.setCurrentRow(current)
            self.tokens.scrollToItem(self.tokens.item(current))
        step = words[current] if 0 <= current < len(words) else None
        self.alternatives.clear()
        if step is not None:
            for word, p in step.alternatives:
                item = QTreeWidgetItem([word, f"{p:.3f}"])
                if word == step.token:
                    font = item.font(0)
                    font.setBold(True)
                    item.setFont(0, font)
                self.alternatives.addTopLevelItem(item)

    def _force_typed(self) -> None:
        text = self.force_box.text().strip()
        if text:
            self.force_asked.emit(text, False)

    def show_hypotheses(self, hyps: list[Hypothesis], selected: int, live_beams=None, branches=()) -> None:
        """The final hypotheses, then the what-if branches ((label, Hypothesis)), `selected` marked."""
        self.hypotheses.clear()
        if hyps:
            for h in hyps:
                self.hypotheses.addItem(f"{round(h.score, 3) + 0.0:7.3f}  {h.listed}")  # never "-0.000"
            for label, h in branches:
                item = QListWidgetItem(f"{BRANCH} {label}: {h.listed}")
                item.setToolTip(f"what if — {label}\n{h.listed}\n(score {h.score:.3f}; Remove branch takes it away)")
                item.setForeground(Qt.GlobalColor.darkBlue)
                self.hypotheses.addItem(item)
            self.hypotheses.setCurrentRow(selected)
        elif live_beams:
            for b in live_beams:
                self.hypotheses.addItem(f"{b.score:7.3f}  {' '.join(b.tokens)}  …")
        self.remove.setEnabled(bool(branches) and selected >= len(hyps))  # (the branches follow the hypotheses)

    def token_texts(self) -> list[str]:
        return [step.token for step in self._shown]
