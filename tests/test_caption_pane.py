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
