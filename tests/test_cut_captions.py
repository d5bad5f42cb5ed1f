"""A caption cut at the maximum length (the model never wrote its end) is marked as cut: in the
decoded hypothesis, on the command line, in saved results, in figure titles and in the window
(issue 20: "… a blue triangle and" looked like a finished caption)."""
import json

import torch

from attnviewer.cli import main
from attnviewer.decoding.search import DecodeSettings, decode, run
from attnviewer.export.data import load_result as read_result, write_result
from attnviewer.types import titled

from .helpers import GUI_TIMEOUT, caption_done, random_regions, tiny_captioner


def _hyps(max_len, method="greedy"):
    model = tiny_captioner(seed=7, end_bias=0.5, logit_scale=6.0, max_len=max_len)
    with torch.no_grad():
        state = model.init_state_from_regions(random_regions(model, 4, seed=8))
        return run(decode(model, state, DecodeSettings(method=method, beam=3, max_len=max_len), stream=False))


def test_a_hypothesis_cut_at_the_maximum_length_says_so_and_one_that_ended_does_not():
    hyps = [h for item in _hyps(7) for h in item] + [h for item in _hyps(7, "beam") for h in item]
    cut = [h for h in hyps if len(h.tokens) == 7 and not h.ended]
    done = [h for h in hyps if h.ended]
    assert cut and done  # the seed gives both
    for h in cut:
        assert h.listed.endswith(" …") and h.cut == "cut at the maximum length (7 words)"
    for h in done:
        assert not h.listed.endswith("…") and h.cut is None


def test_the_command_line_marks_a_cut_caption(capsys, samples):
    code = main(["caption", str(samples[0]), "--max-len", "2", "--greedy"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert len(lines[0].split(": ", 1)[1].split()) == 2  # the caption line holds the words alone
    assert lines[2] == "  cut at the maximum length (2 words): no end word yet; --max-len allows more"


def test_a_saved_result_keeps_the_cut_and_older_results_read_as_ended(tmp_path, samples):
    from attnviewer.kinds import IMAGE
    from attnviewer.pipeline import load_model, run_all

    model = load_model(IMAGE, "caption-shapes", "cpu")
    media = IMAGE.read(str(samples[0]), {})
    result = run_all(IMAGE, model, [media], DecodeSettings("greedy", max_len=2))[0]
    assert not result.best.ended and "cut at the maximum length (2 words)" in titled(result)
    path = tmp_path / "r.json"
    write_result(result, path, tmp_path / "r.npz")
    again = read_result(path)
    assert not again.best.ended and again.best.cut
    data = json.loads(path.read_text())
    for h in data["hypotheses"]:
        del h["ended"]  # as results written before it was recorded
    path.write_text(json.dumps(data))
    assert read_result(path).best.ended


def test_the_window_marks_a_cut_caption(qtbot, window, samples):
    controls = window.sides["main"].controls
    controls.set_settings(DecodeSettings("greedy", max_len=2))
    state = caption_done(qtbot, window, samples[0])
    qtbot.waitUntil(lambda: window.sides["main"].caption.note.isVisible(), timeout=GUI_TIMEOUT)
    assert len(state.result.best.tokens) == 2 and not state.result.best.ended
    assert "cut at the maximum length (2 words)" in window.sides["main"].caption.note.text()
    hyps = window.sides["main"].caption.hypotheses
    assert hyps.item(0).text().endswith(" …")
