"""What one caption panel shows, as plain data: no Qt, so it is tested without a window.

Words stream in while the model writes; when the job finishes they are replaced by the final
best hypothesis (for beam search the best live beam can change its earlier words, so only the
final hypothesis has the right map for every word). Anything from a job other than the current
one is dropped: the generation-counter rule that keeps stale words off the screen.

A subword model's final hypothesis is shown in words (its pieces merged, target_words.py), so
stepping goes word by word; `show_pieces(True)` shows the pieces the model wrote instead.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..target_words import first_piece, has_pieces, word_hypothesis, word_of
from ..types import Hypothesis, Result, Step


class CaptionState:
    def __init__(self):
        self.job: int | None = None
        self.streamed: list[Step] = []
        self.result: Result | None = None
        self.selected = 0  # which final hypothesis is shown
        self.index = -1  # the current word; -1 before the first word
        self._final: list[Step] = []  # the selected final hypothesis as steps (built once)
        self.follow = True  # move to each new word as it arrives, until the user steps back
        self.pieces = False  # a subword model's final words as the pieces it wrote, not merged
        self.branches: list = []  # what-if re-decodings of this input (engine.probes.Branch), after the hypotheses

    # -- jobs ------------------------------------------------------------------------------------

    def start(self, job: int) -> None:
        self.job, self.streamed, self.result, self._final, self.branches = job, [], None, [], []
        self.selected, self.index, self.follow = 0, -1, True

    def accept_step(self, job: int, step: Step) -> bool:
        """Take a streamed word; False (and nothing changes) if it belongs to another job."""
        if job != self.job or self.result is not None:
            return False
        del self.streamed[step.index:]
        self.streamed.append(step)
        if self.follow:
            self.index = step.index
        return True

    def finish(self, job: int, result: Result) -> bool:
        if job != self.job:
            return False
        self.result = result
        self.selected = 0
        self._final = self._steps(result.hypotheses[0]) if result.hypotheses else []
        if self._final and not self.pieces and has_pieces(result.hypotheses[0]):
            self.index = word_of(result.hypotheses[0].starts, self.index)  # the streamed piece's word
        n = len(self.words)
        self.index = n - 1 if self.follow or self.index >= n else self.index
        return True

    @property
    def running(self) -> bool:
        return self.job is not None and self.result is None

    # -- what is shown ---------------------------------------------------------------------------

    @property
    def hypotheses(self) -> list[Hypothesis]:
        return self.result.hypotheses if self.result else []

    @property
    def words(self) -> list[Step]:
        return self._final if self.result else self.streamed

    @property
    def current(self) -> Step | None:
        words = self.words
        return words[self.index] if 0 <= self.index < len(words) else None

    @property
    def choices(self) -> list[Hypothesis]:
        """What the panel lists: the final hypotheses, then each branch's best (forced words, an
        edited attention, a scored sentence, a beam tree's node)."""
        return self.hypotheses + [b.result.hypotheses[0] for b in self.branches]

    @property
    def shown(self) -> tuple[Result | None, int]:
        """The Result of what is shown and the index of its hypothesis (a branch: its own)."""
        branch = self.branch
        return (branch.result, 0) if branch is not None else (self.result, self.selected)

    @property
    def branch(self):
        """The branch shown, if one is."""
        i = self.selected - len(self.hypotheses)
        return self.branches[i] if self.result is not None and 0 <= i < len(self.branches) else None

    def add_branch(self, branch) -> None:
        """A what-if answer for this input: listed after the hypotheses and shown, at the word
        where it leaves the original."""
        if self.result is None or not branch.result.hypotheses:
            return
        self.branches.append(branch)
        self.select_hypothesis(len(self.choices) - 1)
        hyp = branch.result.hypotheses[0]
        self.go(branch.step if self.pieces or not has_pieces(hyp) else word_of(hyp.starts, branch.step))

    def remove_branch(self, i: int) -> bool:
        """Remove the branch listed at i (an index of `choices`); False if i is no branch."""
        j = i - len(self.hypotheses)
        if self.result is None or not 0 <= j < len(self.branches):
            return False
        del self.branches[j]
        if self.selected == i:
            self.select_hypothesis(0)
        elif self.selected > i:
            self.selected -= 1
        return True

    def select_hypothesis(self, i: int) -> None:
        if 0 <= i < len(self.choices):
            self.selected = i
            self._final = self._steps(self.choices[i])
            self.index = min(max(self.index, 0), len(self.words) - 1)

    def _steps(self, hyp: Hypothesis) -> list[Step]:
        return (hyp if self.pieces else word_hypothesis(hyp)).steps(job=self.job or 0)

    @property
    def has_pieces(self) -> bool:
        """Whether the hypothesis shown was written in pieces that merge into fewer words."""
        return bool(self.result and self.hypotheses) and has_pieces(self.choices[self.selected])

    def show_pieces(self, on: bool) -> bool:
        """The shown hypothesis' pieces (on) or words, the current word kept: a piece becomes the word
        it is part of, a word its first piece. True if what is shown changed."""
        if on == self.pieces:
            return False
        self.pieces = on
        if not self.has_pieces:
            return False
        hyp = self.choices[self.selected]
        self.index = first_piece(hyp.starts, self.index) if on else word_of(hyp.starts, self.index)
        self._final = self._steps(hyp)
        return True

    # -- stepping --------------------------------------------------------------------------------

    def go(self, index: int) -> int:
        n = len(self.words)
        if n:
            self.index = max(0, min(index, n - 1))
            self.follow = self.index == n - 1
        return self.index

    def next(self) -> int:
        return self.go(self.index + 1)

    def prev(self) -> int:
        return self.go(self.index - 1)

    def home(self) -> int:
        return self.go(0)

    def end(self) -> int:
        return self.go(len(self.words) - 1)


# -- the window's jobs ---------------------------------------------------------------------------


COMPARE, REVERSED = "compare", "reversed"  # what the second column shows (None: it is closed)


@dataclass(frozen=True)
class Input:
    """What the user asked to see: an input of one kind (a file, or a sentence) and how to read it."""

    kind: str  # a kinds.KINDS name
    source: str
    options: tuple = ()  # sorted (name, value) pairs: e.g. (("reverse", True),)

    def reversed(self) -> "Input":
        """The same input read backwards (a video's clip played in reverse: the second column's)."""
        return Input(self.kind, self.source, tuple(sorted(dict(self.options, reverse=True).items())))

    @property
    def option_dict(self) -> dict:
        return dict(self.options)


class SideJobs:
    """One caption column: its words (CaptionState) and the job asked for but not yet on screen.

    A new job replaces what is shown only when its first word arrives (or it ends without words),
    so a job that fails (a bad file, a bad checkpoint) leaves everything as it was."""

    def __init__(self):
        self.state = CaptionState()
        self.pending: int | None = None  # the submitted job whose first word has not arrived
        self.pending_media = None  # what that job read (shown at once in the media pane)
        self.pending_input: Input | None = None
        self.trusted: set[str] = set()  # pickle checkpoints the user agreed to load
        self._places: dict[int, object] = {}  # job -> lens.Places of a transformer's input (streamed words)

    def places_ready(self, job: int, places) -> bool:
        """A transformer's token -> place map for a job's words (it comes before its first word)."""
        if job not in (self.pending, self.state.job):
            return False
        self._places = {j: p for j, p in self._places.items() if j in (self.pending, self.state.job)}
        self._places[job] = places
        return True

    @property
    def places(self):
        """The token -> place map of the words on screen (None: a model without heads)."""
        st = self.state
        if st.result is not None and st.result.places is not None:
            return st.result.places
        return self._places.get(st.job) if st.job is not None else None

    def submitted(self, job: int, inp: Input) -> None:
        self.pending, self.pending_media, self.pending_input = job, None, inp

    def media_ready(self, job: int, media) -> bool:
        if job != self.pending:
            return False
        self.pending_media = media
        return True

    def takes_over(self, job: int) -> bool:
        """The job's first word (or its end) arrived: True once, when it now replaces the screen."""
        if job != self.pending:
            return False
        self.pending = None
        self.state.start(job)
        return True

    def failed(self, job: int) -> bool:
        """True if the failed job was the pending one (nothing of it is on screen then)."""
        if job != self.pending:
            return False
        self.pending, self.pending_media, self.pending_input = None, None, None
        return True

    def drop_pending(self) -> None:
        self.pending, self.pending_media, self.pending_input = None, None, None


class WindowJobs:
    """The window's bookkeeping, Qt-free: which input is on screen, which is asked for, and the
    columns' jobs. The window submits to the engine and draws; this decides what each event means."""

    def __init__(self):
        self.sides = {"main": SideJobs(), "compare": SideJobs()}
        self.shown: Input | None = None  # the input whose words are on screen
        self.shown_media = None  # ...as read (LoadedImage, LoadedClip, Sentence)
        self.asked: Input | None = None  # an input asked for whose words have not started
        self.opening: int | None = None  # a saved result being reopened (request id)

    def ask(self, inp: Input) -> None:
        self.asked = inp

    def current(self) -> Input | None:
        """The input a re-run decodes: the one asked for, else the one on screen."""
        return self.asked or self.shown

    def commit(self, slot: str, job: int) -> object | None:
        """A job's first word arrived; if that makes a new input the one on screen (the main
        column's, or the first ever), returns its media for the window to show, else None."""
        side = self.sides[slot]
        inp, media = side.pending_input, side.pending_media
        if not side.takes_over(job):
            return None
        side.pending_media = side.pending_input = None
        if (slot == "main" or self.shown is None) and inp is not None:
            if inp == self.asked:
                self.asked = None
            changed = inp != self.shown or media is not self.shown_media
            self.shown, self.shown_media = inp, media if media is not None else self.shown_media
            return self.shown_media if changed else None
        return None

    def fail(self, slot: str, job: int) -> bool:
        """True when the failure concerns what the user is waiting for (a message is due); the
        asked-for input is dropped when the main column failed on it."""
        if not self.sides[slot].failed(job):
            return False
        if slot == "main":
            self.asked = None
        return True

    def result_opened(self, request_id: int, inp: Input, media) -> bool:
        """A reopened result arrives: False if something newer was asked since (ids share one counter)."""
        main = self.sides["main"]
        if request_id != self.opening:
            return False
        self.opening = None
        if max(main.pending or 0, main.state.job or 0) > request_id:
            return False
        main.drop_pending()
        main.state.start(request_id)
        self.shown, self.shown_media, self.asked = inp, media, None
        return True
