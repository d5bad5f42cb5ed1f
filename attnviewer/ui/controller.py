"""What one caption panel shows, as plain data: no Qt, so it is tested without a window.

Words stream in while the model writes; when the job finishes they are replaced by the final
best hypothesis (for beam search the best live beam can change its earlier words, so only the
final hypothesis has the right map for every word). Anything from a job other than the current
one is dropped: the generation-counter rule that keeps stale words off the screen.
"""
from __future__ import annotations

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

    # -- jobs ------------------------------------------------------------------------------------

    def start(self, job: int) -> None:
        self.job, self.streamed, self.result, self._final = job, [], None, []
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
        self._final = result.hypotheses[0].steps(job=job) if result.hypotheses else []
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

    def select_hypothesis(self, i: int) -> None:
        if 0 <= i < len(self.hypotheses):
            self.selected = i
            self._final = self.hypotheses[i].steps(job=self.job or 0)
            self.index = min(max(self.index, 0), len(self.words) - 1)

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
