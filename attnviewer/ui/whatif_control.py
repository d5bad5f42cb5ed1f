"""The window's what-if questions: what the user asks (the caption panel's forced words, the What
if panel's probes), submitted to the engine as probes about the words on screen, and the answers
put back: a branch beside the hypotheses, a masking, an attribution, the beam tree.

The questions ask about one column's words: the first, or the second while the window has one
(Compare's other model, or the reversed clip, read by the first column's model). An answer is
dropped when the words it was asked about are no longer that column's (a new input, another model
or setting): the same job-id rule as decoding, one level up.
"""
from __future__ import annotations

import weakref
from dataclasses import replace

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from ..engine.probes import ATTRIBUTE, FORCE, INTERVENE, MASK, NODE, TARGET, Branch, Probe
from ..errors import AttnViewerError, printable
from ..target_words import first_piece
from ..whatif.tree import FINISHED
from .controller import REVERSED
from .whatif_pane import WhatIfPane

RUNNING = {FORCE: "writing the forced word and going on…", NODE: "reading the words of that node…",
           TARGET: "scoring the sentence…", INTERVENE: "re-decoding with the edited attention…",
           MASK: "masking the word's top region and asking again…", ATTRIBUTE: "computing the attribution…"}


class WhatIf(QObject):
    def __init__(self, window):
        super().__init__(window)
        # weakly: a window <-> WhatIf cycle would leave the closed window to the garbage collector,
        # which may run on another thread (the player's), and a Qt window deleted there crashes the process
        self._window = weakref.ref(window)
        # a window of its own beside the main one (as the heads grid is): under the columns it
        # squeezed the attention, what the app is for, to a strip; this one can go to a second screen
        self.pane = WhatIfPane(window)
        self.pane.setWindowFlag(Qt.WindowType.Window)
        self.pane.setWindowTitle("What if — attnviewer")
        self.pane.setObjectName("whatif")
        self.pane.resize(1100, 460)
        self.pane.hide()
        self.job: int | None = None  # the probe running (or last run)
        self.column = "main"  # the column the questions ask about (the pane's choice)
        self.about: tuple | None = None  # (column, its job) whose words the probe running asks about
        self.trees: dict = {}  # column -> (job, BeamTree) of its last beam search
        self.asked: Probe | None = None  # the question running (or last asked)
        self.answered: Probe | None = None  # the question whose masking or attribution the panel shows
        self.answered_column = "main"  # the column it asked about
        p = self.pane
        p.mask_asked.connect(lambda: self.ask_word(MASK))
        p.attribute_asked.connect(lambda method: self.ask_word(ATTRIBUTE, method))
        p.redecode_asked.connect(self.redecode)
        p.score_asked.connect(lambda text: self.ask(Probe(TARGET, word=text)))
        p.node_clicked.connect(self.node)
        p.attribution_export_asked.connect(self.export_attribution)
        p.column_chosen.connect(self.choose)
        for column in ("main", "compare"):  # forcing a word in a column's panel asks about that column
            caption = window.sides[column].caption
            caption.force_asked.connect(lambda word, exact, c=column: self.choose(c) or self.force(word, exact))
            caption.branch_removed.connect(lambda row, c=column: self.remove_branch(row, c))

    @property
    def window(self):
        return self._window()

    @property
    def side(self):
        """The column the questions ask about (the first when the window has no second)."""
        return self.window.sides[self.column if self.window.compare_mode is not None else "main"]

    @property
    def tree(self):
        """(job, BeamTree) of the chosen column's last beam search, or None."""
        return self.trees.get(self.side.slot)

    def choose(self, column: str) -> None:
        if column != self.column:
            self.column = column
            self.pane.clear_answer()
            self.redraw()

    def toggle(self) -> None:
        self.show(not self.pane.isVisible())

    def show(self, on: bool = True) -> None:
        if on != self.pane.isVisible():
            self.pane.setVisible(on)
            if on:
                self.redraw()
        if on and QGuiApplication.platformName() != "offscreen":  # (no stacking there: Qt warns)
            self.pane.raise_()  # an answer brings it in front of the main window

    # -- asking ----------------------------------------------------------------------------------

    def _word(self):
        """(Result, hypothesis, piece step) of the word on screen; None (and a line) if none."""
        st = self.side.state
        result, i = st.shown
        if result is None or st.running or not 0 <= st.index < len(st.words):
            self.window.show_error("what if: let the model finish writing first, then pick a word")
            return None
        hyp = result.hypotheses[i]
        step = st.index if st.pieces else first_piece(hyp.starts, st.index)
        return result, hyp, step

    def ask(self, probe: Probe) -> int | None:
        """Submit a probe about the chosen column's words on screen; its job id (None: nothing to ask)."""
        w, side = self.window, self.side
        st, inp = side.state, w.jobs.shown
        if inp is None or st.result is None or st.running:
            w.show_error("what if: let the model finish writing first, then ask")
            return None
        controls = side.controls
        if side.slot == "compare" and w.compare_mode == REVERSED:  # the first column's model reads it reversed
            inp, controls = inp.reversed(), w.sides["main"].controls
        try:
            settings = controls.settings().validate()
        except AttnViewerError as e:
            w.show_error(str(e))
            return None
        model = st.result.model
        self.job = w.engine.probe(inp.kind, inp.source, model, settings, probe, controls.device_name(),
                                  trust_pickle=model in self.side.jobs.trusted, options=inp.option_dict)
        self.about, self.asked = (side.slot, st.job), probe
        self.pane.say(RUNNING[probe.what])
        w.statusBar().showMessage(RUNNING[probe.what])
        return self.job

    def ask_word(self, what: str, method: str = "ig") -> int | None:
        found = self._word()
        if found is None:
            return None
        result, hyp, step = found
        return self.ask(Probe(what, step=step, result=replace(result, hypotheses=[hyp]), method=method))

    def force(self, word: str, exact: bool) -> int | None:
        """Write `word` at the current word instead, then go on (a listed top word, or typed)."""
        found = self._word()
        if found is None:
            return None
        _result, hyp, step = found
        return self.ask(Probe(FORCE, step=step, word=word, exact=exact, prefix=list(hyp.token_ids[:step])))

    def redecode(self, weights) -> int | None:
        found = self._word()
        if found is None:
            return None
        _result, hyp, step = found
        return self.ask(Probe(INTERVENE, step=step, weights=weights, prefix=list(hyp.token_ids)))

    def node(self, node_id: int) -> int | None:
        """A beam tree node: the words of its path (an ending node's end left out) as a branch."""
        kept = self.tree
        if kept is None or kept[0] != self.side.state.job:
            return None
        tree = kept[1]
        n = tree.nodes[node_id]
        path = tree.path(n)
        if n.state == FINISHED:
            path = path[:-1]
        if not path:
            self.pane.say("that node ends the caption before any word")
            return None
        label = f"beam tree, word {n.step + 1} ({n.state})"
        return self.ask(Probe(NODE, prefix=[p.word_id for p in path], label=label))

    def remove_branch(self, row: int, column: str = "main") -> None:
        if self.window.sides[column].state.remove_branch(row):
            self.window.redraw()

    def export_attribution(self) -> None:
        """The word's attention and attribution in one figure, written by the engine."""
        from ..engine.exports import ExportRequest
        from ..export.figures import FigureStyle

        found = self.pane.attribution
        source = self.window._export_source()
        if found is None or source is None or self.answered is None:
            return
        path, _ = QFileDialog.getSaveFileName(self.window, "Export the attribution figure",
                                              f"{source.stem}-word{found.step + 1}-{found.method}.png",
                                              "PNG image (*.png);;SVG vector figure (*.svg);;PDF document (*.pdf)")
        if path:
            o = source.overlay
            style = FigureStyle(cmap=o.cmap, opacity=o.opacity, smoothing=o.smoothing)
            # the result the attribution was asked about (the hypothesis shown may have changed since)
            media = self.window.sides[self.answered_column].attention.media  # (the reversed clip's, say)
            self.window.engine.export(ExportRequest("attribution", path, media, self.answered.result, style,
                                                    extra=found))
            self.window.statusBar().showMessage(f"exporting {printable(path)}…")

    # -- answers ---------------------------------------------------------------------------------

    @Slot(int, str, object)
    def on_tree(self, job: int, slot: str, tree) -> None:
        if slot in self.window.sides:
            self.trees[slot] = (job, tree)
            self.redraw()

    @Slot(int, str, object)
    def on_probed(self, job: int, slot: str, answer) -> None:
        if job != self.job or self.about is None:
            return
        column, about = self.about
        st = self.window.sides[column].state
        if about != st.job:
            return  # asked about words no longer on screen
        self.window.statusBar().clearMessage()
        if isinstance(answer, Branch):
            before = [s.token for s in st.words]
            st.add_branch(answer)
            after = [s.token for s in st.words]
            self.pane.say(f"{answer.label}: {answer.result.hypotheses[0].listed} — {changes(before, after)}")
            self.window.redraw()
            return
        self.answered, self.answered_column = self.asked, column
        self.show()
        self.pane.tabs.setCurrentIndex(2)
        if hasattr(answer, "survives"):
            self.pane.show_masking(answer, answer.line(printable))
        else:
            self.pane.show_attribution(answer, answer.lines(printable))

    def stopped(self) -> None:
        """The user's Stop (Esc) ended the question running, if any."""
        if self.pane.answer.text() in RUNNING.values():
            self.pane.say("stopped")

    def on_failed(self, job: int, message: str) -> None:
        if job == self.job:
            self.pane.say(printable(message))
            self.window.show_error(message)

    def redraw(self, words=None, labels=None) -> None:
        """The panel follows the chosen column's words and current word (only while it is open).
        `words`, `labels`: the first column's, as the window drew them."""
        if not self.pane.isVisible():
            return
        w, side = self.window, self.side
        st = side.state
        second = w.sides["compare"].state.result if w.compare_mode is not None else None
        self.pane.show_columns(None if w.compare_mode is None else
                               "the reversed clip" if w.compare_mode == REVERSED else
                               second.title if second is not None else "Compare", side.slot)
        if self.about is not None and self.about != (side.slot, st.job):  # answers about words no longer shown go
            self.about = None
            self.pane.clear_answer()
        if words is None or side.slot != "main":
            words, labels = side.drawn()
        result = st.result
        places = labels or (result.source_tokens if result is not None else None) or (
            [f"{t:.2f}s" for t in result.frame_times] if result is not None and result.frame_times else None)
        clip = getattr(side.attention, "clip", None)  # a video's: its sampled frames above the strip
        self.pane.show_words(words, st.index, self.window.overlay_controls.settings(),
                             getattr(side.attention, "_small", None), places, getattr(clip, "frames", None))
        kept = self.tree
        tree = kept[1] if kept is not None and kept[0] == st.job else None
        best = result.hypotheses[0].tokens if result is not None and result.hypotheses else None
        branches = [(b.label, list(b.result.hypotheses[0].token_ids), list(b.result.hypotheses[0].tokens))
                    for b in st.branches]
        self.pane.show_tree(tree, best, "Every candidate the beam search weighed: pruned grey, finished green, "
                            "cut at the length limit orange, what-if branches purple. Click a node for its words "
                            "and maps." if tree is not None else
                            "Decode with beam search (width 2 or more) to see the tree.", branches)


def changes(before: list[str], after: list[str]) -> str:
    """How a branch's words differ from those shown before it: 'the same words', or from which
    word on and what they became."""
    if before == after:
        return "the same words"
    i = next((k for k, (a, b) in enumerate(zip(before, after)) if a != b), min(len(before), len(after)))
    return f"from word {i + 1}: “{' '.join(before[i:]) or '(end)'}” → “{' '.join(after[i:]) or '(end)'}”"
