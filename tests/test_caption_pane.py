"""The caption panel's numbers are the ones every other display shows (rounded once)."""
import numpy as np

from attnviewer.types import Step
from attnviewer.ui.caption_pane import CaptionPane


def test_a_words_probability_is_rounded_once_as_the_matrix_the_cli_and_the_json_round_it(qtbot):
    pane = CaptionPane()
    qtbot.addWidget(pane)
    words = [Step(0, "vogeli", 7, 0.72537, [("vogeli", 0.72537)], np.full(3, 1 / 3)),
             Step(1, "lo", 8, 0.0049, [("lo", 0.0049)], np.full(3, 1 / 3))]
    pane.show_words(words, 0)
    assert [pane.tokens.item(i).text() for i in range(2)] == ["vogeli\n0.73", "lo\n0.00"]
    assert "probability 0.725" in pane.tokens.item(0).toolTip()


def test_a_hypothesis_scored_near_zero_shows_0_000_not_minus_zero(qtbot):
    from attnviewer.types import Hypothesis

    pane = CaptionPane()
    qtbot.addWidget(pane)
    def hyp(word, score):
        return Hypothesis([word], [1], score, score, [0.9], [[(word, 0.9)]], np.full((1, 3), 1 / 3))

    hyps = [hyp("a", -0.0001), hyp("b", -1.23456)]
    pane.show_hypotheses(hyps, 0)
    assert [pane.hypotheses.item(i).text().split()[0] for i in range(2)] == ["0.000", "-1.235"]


def test_a_word_streamed_in_writes_its_own_item_and_leaves_the_others(qtbot):
    """While the model writes, each redraw wrote the whole token list again (2-4 ms of the GUI
    thread per redraw); now only a new or changed word is written, and a beam's revision shows."""
    pane = CaptionPane()
    qtbot.addWidget(pane)
    words = [Step(i, t, i, 0.5, [(t, 0.5)], np.full(3, 1 / 3)) for i, t in enumerate(["a", "red", "dot"])]
    pane.show_words(words[:2], 1)
    first = pane.tokens.item(0)
    pane.show_words(words, 2)
    assert pane.tokens.item(0) is first
    assert [pane.tokens.item(i).text() for i in range(3)] == ["a\n0.50", "red\n0.50", "dot\n0.50"]
    revised = [words[0], Step(1, "blue", 9, 0.25, [("blue", 0.25)], np.full(3, 1 / 3))]
    pane.show_words(revised, 1)
    assert [pane.tokens.item(i).text() for i in range(pane.tokens.count())] == ["a\n0.50", "blue\n0.25"]
    assert pane.tokens.item(0) is first and "blue: probability 0.250" in pane.tokens.item(1).toolTip()
    assert pane.token_texts() == ["a", "blue"]


def test_the_final_hypothesis_rewrites_only_the_words_that_differ(qtbot):
    """The final hypothesis brings new step objects for the words already shown: alike ones keep
    their items (every item was written again at the last redraw)."""
    pane = CaptionPane()
    qtbot.addWidget(pane)
    att = np.full(3, 1 / 3)
    streamed = [Step(i, t, i, 0.5, [(t, 0.5)], att.copy()) for i, t in enumerate(["a", "red", "dot"])]
    pane.show_words(streamed, 2)
    items = [pane.tokens.item(i) for i in range(3)]
    tips = [item.toolTip() for item in items]
    final = [Step(i, t, i, 0.5, [(t, 0.5)], att.copy()) for i, t in enumerate(["a", "red", "dot"])]
    final[2].attention = np.array([0.8, 0.1, 0.1])  # a map that differs: its tip says so
    for item in items:
        item.setToolTip("")  # (to see which are written again)
    pane.show_words(final, 2)
    assert [pane.tokens.item(i).toolTip() for i in range(3)][:2] == ["", ""]
    assert pane.tokens.item(2).toolTip() not in ("", tips[2])
