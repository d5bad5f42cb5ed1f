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


# -- the window's job bookkeeping (WindowJobs), without Qt -------------------------------------------

def _jobs():
    from attnviewer.ui.controller import Input, WindowJobs

    return WindowJobs(), Input


def test_an_input_replaces_the_screen_only_at_its_first_word():
    jobs, Input = _jobs()
    a, b = Input("caption", "a.png"), Input("video", "b.mp4")
    main = jobs.sides["main"]
    jobs.ask(a)
    main.submitted(1, a)
    assert main.media_ready(1, "media a")
    assert jobs.commit("main", 1) == "media a" and jobs.shown == a and jobs.asked is None
    jobs.ask(b)
    main.submitted(2, b)
    main.media_ready(2, "media b")
    assert jobs.shown == a and jobs.current() == b  # read, but no word yet: a is still what is shown
    assert jobs.commit("main", 2) == "media b" and jobs.shown == b and jobs.shown_media == "media b"
    assert main.state.job == 2


def test_a_failed_input_leaves_the_screen_and_forgets_the_request():
    jobs, Input = _jobs()
    a, bad = Input("caption", "a.png"), Input("video", "broken.mp4")
    main = jobs.sides["main"]
    jobs.ask(a)
    main.submitted(1, a)
    jobs.commit("main", 1)
    jobs.ask(bad)
    main.submitted(2, bad)
    assert jobs.fail("main", 2)  # the user waited for it: a message is due
    assert jobs.shown == a and jobs.current() == a and main.pending is None
    assert not jobs.fail("main", 2)  # once


def test_stale_jobs_change_nothing():
    jobs, Input = _jobs()
    a = Input("translate", "the dog sees a cat")
    main = jobs.sides["main"]
    jobs.ask(a)
    main.submitted(1, a)
    main.submitted(2, a)  # superseded before its first word
    assert not main.media_ready(1, "old") and jobs.commit("main", 1) is None
    assert not jobs.fail("main", 1)
    assert jobs.commit("main", 2) is None or jobs.shown == a
    assert main.state.job == 2


def test_the_compare_column_never_changes_the_input_shown():
    jobs, Input = _jobs()
    a, r = Input("video", "c.mp4"), Input("video", "c.mp4", (("reverse", True),))
    jobs.ask(a)
    jobs.sides["main"].submitted(1, a)
    jobs.commit("main", 1)
    jobs.sides["compare"].submitted(2, r)
    jobs.sides["compare"].media_ready(2, "reversed clip")
    assert jobs.commit("compare", 2) is None and jobs.shown == a
    assert jobs.sides["compare"].state.job == 2


def test_a_reopened_result_loses_to_an_input_asked_after_it():
    jobs, Input = _jobs()
    a = Input("caption", "a.png")
    jobs.opening = 5
    jobs.sides["main"].submitted(6, a)  # the user opened an image after asking for the result
    assert not jobs.result_opened(5, Input("caption", "r.png"), "media r")
    jobs.opening = 7
    assert jobs.result_opened(7, Input("caption", "r.png"), "media r")
    assert jobs.shown == Input("caption", "r.png") and jobs.sides["main"].state.job == 7
