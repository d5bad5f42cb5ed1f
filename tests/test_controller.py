"""The caption panel's logic with plain data: no window needed."""
import numpy as np

from attnviewer.types import Hypothesis, Result, Step
from attnviewer.ui.controller import CaptionState


def step(i, token, job=1):
    att = np.full((2, 2), 0.25, np.float32)
    return Step(i, token, i, 0.5, [(token, 0.5)], att, job=job)


def result(tokens):
    att = np.full((len(tokens), 2, 2), 0.25, np.float32)
    hyp = Hypothesis(tokens, list(range(len(tokens))), -1.0, -0.5, [0.9] * len(tokens),
                     [[(t, 0.9)] for t in tokens], att)
    return Result("img.png", "m", {"method": "greedy"}, [hyp])


def test_words_of_other_jobs_are_dropped():
    s = CaptionState()
    s.start(2)
    assert not s.accept_step(1, step(0, "stale", job=1))
    assert s.accept_step(2, step(0, "a", job=2))
    assert not s.finish(1, result(["old"]))
    assert [w.token for w in s.words] == ["a"]


def test_follows_new_words_until_the_user_steps_back():
    s = CaptionState()
    s.start(1)
    for i, t in enumerate(["a", "red", "circle"]):
        s.accept_step(1, step(i, t))
    assert s.index == 2
    s.prev()
    s.accept_step(1, step(3, "and"))
    assert s.index == 1  # the user is looking at "red": stay there
    s.end()
    s.accept_step(1, step(4, "a"))
    assert s.index == 4


def test_finish_replaces_streamed_words_with_the_final_hypothesis():
    s = CaptionState()
    s.start(1)
    s.accept_step(1, step(0, "a"))
    s.accept_step(1, step(1, "blue"))
    s.finish(1, result(["a", "red", "circle"]))
    assert [w.token for w in s.words] == ["a", "red", "circle"]
    assert s.index == 2 and not s.running
    assert not s.accept_step(1, step(2, "late"))


def test_stepping_is_clamped():
    s = CaptionState()
    s.start(1)
    s.finish(1, result(["a", "red", "circle"]))
    assert s.home() == 0 and s.prev() == 0
    assert s.end() == 2 and s.next() == 2
    assert s.go(1) == 1 and s.current.token == "red"
