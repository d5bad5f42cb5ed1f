"""A beam hypothesis whose first word was <end> is a real outcome of beam search (an undertrained
model's runner-up often is): it is listed as "(no words)", never as a blank line."""
import numpy as np

from attnviewer.cli.outputs import print_result
from attnviewer.kinds import IMAGE
from attnviewer.types import Hypothesis, Result
from attnviewer.ui.caption_pane import CaptionPane


def hypothesis(tokens: list[str], score: float) -> Hypothesis:
    n = len(tokens)
    return Hypothesis(tokens, list(range(n)), score, score, [0.5] * n, [[(t, 0.5)] for t in tokens],
                      np.full((n, 2, 2), 0.25, np.float32))


def result() -> Result:
    return Result("photo.jpg", "m.safetensors", {"method": "beam", "beam_width": 3},
                  [hypothesis(["a", "cat"], -1.0), hypothesis([], -3.6)], image_size=(2, 2))


def test_the_command_line_names_an_empty_hypothesis():
    lines = []
    print_result(IMAGE, result(), "beam", log=lines.append)
    assert lines[0] == "photo.jpg: a cat"
    assert [line.split() for line in lines if line.lstrip().startswith("alt")] == [["alt", "-3.600", "(no", "words)"]]


def test_the_hypotheses_list_names_an_empty_hypothesis(qtbot):
    pane = CaptionPane()
    qtbot.addWidget(pane)
    r = result()
    pane.show_hypotheses(r.hypotheses, 0)
    assert [pane.hypotheses.item(i).text().split(None, 1)[1] for i in range(2)] == ["a cat", "(no words)"]
