"""What if, in the window (issue 22): forced words, the beam tree, attention edits, masking,
attribution and a scored sentence asked from the window, run on the engine thread and shown as
branches beside the hypotheses or in the What if panel. Real models, the real engine thread."""
import numpy as np
import pytest
from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog

from attnviewer.kinds import titled
from attnviewer.resources import sample_dir
from attnviewer.settings import DecodeSettings

from .helpers import GUI_TIMEOUT, caption_done, wait_finished
from .test_window_kinds import sentence_done, video_done

IMAGE = sample_dir() / "shapes-1.png"


def bundled(w, settings=DecodeSettings("greedy", max_len=20)):
    w.sides["main"].controls.set_model("caption-shapes")
    w.sides["main"].controls.set_settings(settings)


def answered(qtbot, w, n_branches=None, text=None):
    """Until the probe's branch (the n-th) or the panel's answer (containing text) is shown."""
    st = w.sides["main"].state
    if n_branches is not None:
        qtbot.waitUntil(lambda: len(st.branches) == n_branches, timeout=GUI_TIMEOUT)
    else:
        qtbot.waitUntil(lambda: text in w.whatif.pane.answer.text(), timeout=GUI_TIMEOUT)


class Heard(QObject):
    """The probes answered, received on the GUI thread (qtbot.waitSignal on an engine signal would
    run its cleanup on the engine thread, where Qt refuses to stop its timer)."""

    def __init__(self, engine):
        super().__init__()
        self.jobs = []
        engine.probed.connect(self.on_probed)

    @Slot(int, str, object)
    def on_probed(self, job, slot, answer):
        self.jobs.append(job)


def listed(w) -> list[str]:
    box = w.sides["main"].caption.hypotheses
    return [box.item(i).text() for i in range(box.count())]


def test_forcing_a_top_word_adds_a_branch_with_its_own_words_and_maps_and_it_can_be_removed(qtbot, window):
    bundled(window)
    st = caption_done(qtbot, window, IMAGE)
    original = list(st.result.best.tokens)
    tip = window.sides["main"].caption.tokens.item(1).toolTip()  # step scores under the caption
    assert "probability" in tip and "entropy of the words" in tip and "of its attention" in tip
    window.go_to(1)
    other = next(word for word, _p in st.current.alternatives if word != original[1])
    caption = window.sides["main"].caption
    caption.force_asked.emit(other, True)  # as a double-click on the top word does
    answered(qtbot, window, 1)
    words = [s.token for s in st.words]
    assert words[:2] == [original[0], other]  # the prefix kept, the forced word written
    assert st.branch is st.branches[0] and st.index == 1  # shown, at the word where it leaves the original
    assert listed(window)[-1].startswith("ψ forced 2=") and other in listed(window)[-1]
    # exported as shown, its figures say what was changed (as the CLI's --force results do)
    assert titled(st.branch.result).endswith(f"word 2 forced to “{other}”")
    assert not np.allclose(st.words[2].attention, st.result.best.attention[2]) or words[2:] != original[2:]
    assert caption.remove.isEnabled()
    caption.remove.click()
    assert st.branches == [] and [s.token for s in st.words] == original
    assert not any(t.startswith("ψ") for t in listed(window))


def test_forcing_the_word_the_model_chose_reproduces_the_caption_and_a_typed_word_works(qtbot, window):
    bundled(window)
    st = caption_done(qtbot, window, IMAGE)
    original = st.result.best
    window.go_to(2)
    caption = window.sides["main"].caption
    caption.force_box.setText(original.tokens[2])
    caption.force_box.returnPressed.emit()  # typed, Enter
    answered(qtbot, window, 1)
    branch = st.branches[0].result.hypotheses[0]
    assert branch.tokens == original.tokens
    np.testing.assert_allclose(branch.probs, original.probs, atol=1e-5)
    caption.force_box.setText("zebra")  # no word of this model: one line, nothing lost
    caption.force_box.returnPressed.emit()
    qtbot.waitUntil(lambda: "zebra" in window.last_error, timeout=GUI_TIMEOUT)
    assert "\n" not in window.last_error and "Traceback" not in window.last_error
    assert len(st.branches) == 1 and st.result.best.tokens == original.tokens


def test_beam_tree_is_drawn_its_finished_nodes_are_the_hypotheses_and_a_click_shows_a_node(qtbot, window):
    bundled(window, DecodeSettings("beam", beam=3, max_len=20))
    st = caption_done(qtbot, window, IMAGE)
    qtbot.waitUntil(lambda: window.whatif.tree is not None and window.whatif.tree[0] == st.job, timeout=GUI_TIMEOUT)
    window.whatif_action.trigger()  # Ctrl+I
    pane = window.whatif.pane
    assert pane.isVisible()
    tree = window.whatif.tree[1]
    assert len(pane.tree_view.boxes) == len(tree.of(0)) + 1  # every node, and the start
    finished = [tree.words(n) for n in tree.finished(0)]
    for hyp in st.result.hypotheses:
        assert hyp.tokens in finished
    pruned = next(n for n in tree.of(0) if n.state == "pruned" and n.step >= 1)
    view = pane.tree_view
    view.centerOn(view.boxes[pruned.id].center())
    at = view.mapFromScene(view.boxes[pruned.id].center())
    assert view.node_at(at) == pruned.id  # what a click there picks
    view.node_clicked.emit(pruned.id)
    answered(qtbot, window, 1)
    assert [s.token for s in st.words] == tree.words(pruned)
    assert view.branches and view.branches[0][1] == [n.word_id for n in tree.path(pruned)]  # drawn in the tree
    zoom = view.transform().m11()
    view.scale(1.5, 1.5)
    window.go_to(0)  # stepping through words keeps the user's zoom
    assert view.transform().m11() == pytest.approx(zoom * 1.5)


def test_editing_the_attention_with_the_models_own_map_reproduces_it_and_moving_it_redecodes(qtbot, window):
    bundled(window)
    st = caption_done(qtbot, window, IMAGE)
    original = st.result.best
    window.whatif.show()
    window.go_to(2)
    pane = window.whatif.pane
    np.testing.assert_allclose(pane.editor.map, original.attention[2], atol=1e-6)
    pane.redecode_button.click()  # the model's own map: the same caption
    answered(qtbot, window, 1)
    assert st.branches[0].result.hypotheses[0].tokens == original.tokens
    assert window.whatif.pane.answer.text().endswith("the same words")
    window.sides["main"].state.select_hypothesis(0)
    window.go_to(2)
    corner = tuple(int(i) for i in np.unravel_index(np.argmin(original.attention[2]), original.attention[2].shape))
    pane.editor.put_all_on(corner)  # as a click on that place does
    assert pane.editor.map[corner] == 1 and pane.editor.map.sum() == 1
    pane.redecode_button.click()
    answered(qtbot, window, 2)
    branch = st.branches[1]
    assert branch.label == "attention edited at word 3"
    assert "the same words" in pane.answer.text() or "from word " in pane.answer.text()  # how the words changed
    assert branch.result.hypotheses[0].tokens[:2] == original.tokens[:2]
    assert st.words[2].attention[corner] == pytest.approx(1.0, abs=1e-5)  # it attended where it was told


def test_masking_and_attribution_answer_in_the_panel_and_the_figure_exports(qtbot, window, tmp_path, monkeypatch):
    bundled(window)
    caption_done(qtbot, window, IMAGE)
    window.go_to(2)
    pane = window.whatif.pane
    window.whatif.ask_word("mask")
    answered(qtbot, window, text="masked its top region")
    assert pane.isVisible() and pane.probe_map.map is not None and pane.probe_map.map.any()
    pane.saliency_button.click()
    answered(qtbot, window, text="saliency of its log probability")
    assert "Spearman" in pane.answer.text() and pane.export_button.isEnabled()
    assert pane.probe_map.map.sum() == pytest.approx(1.0)
    out = tmp_path / "attribution.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    pane.export_button.click()
    qtbot.waitUntil(out.exists, timeout=GUI_TIMEOUT)  # written to a temporary, then renamed: whole
    assert out.stat().st_size > 1000


def test_scoring_a_sentence_and_masking_a_source_word(qtbot, window):
    st = sentence_done(qtbot, window)
    gold = " ".join(st.result.best.tokens[:3])
    window.whatif.show()
    window.whatif.pane.target.setText(gold)
    window.whatif.pane.target.returnPressed.emit()
    answered(qtbot, window, 1)
    assert [s.token for s in st.words] == gold.split()
    assert listed(window)[-1] == f"ψ scored: {gold}"  # the sentence once
    assert "a given sentence scored" in titled(st.branches[0].result)
    window.sides["main"].state.select_hypothesis(0)
    window.go_to(0)
    window.whatif.pane.mask_button.click()
    answered(qtbot, window, text="source word")


def test_masking_a_videos_frames_and_forcing_a_word(qtbot, window):
    from PySide6.QtCore import QPointF

    st = video_done(qtbot, window)
    window.whatif.show()
    window.go_to(1)
    editor = window.whatif.pane.editor  # the sampled frames drawn above the strip's cells, clickable
    assert len(editor.frames) == len(editor.map) == len(st.result.frame_times)
    n, top = len(editor.frames), editor.fontMetrics().height() + 12
    assert editor.place_at(QPointF(editor.width() * 2.5 / n, top)) == (2,)
    window.whatif.ask_word("mask")
    answered(qtbot, window, text="frames")
    other = next(word for word, _p in st.current.alternatives if word != st.current.token)
    window.sides["main"].caption.force_asked.emit(other, True)
    answered(qtbot, window, 1)
    assert st.words[1].token == other


def test_an_answer_about_words_no_longer_on_screen_is_dropped(qtbot, window):
    bundled(window)
    st = caption_done(qtbot, window, IMAGE)
    window.go_to(1)
    heard = Heard(window.engine)
    window.rerun(window.sides["main"])  # new words asked for, the old ones still on screen
    job = window.whatif.ask_word("attribute", "saliency")  # about the old words: answered after the new ones came
    qtbot.waitUntil(lambda: job in heard.jobs, timeout=GUI_TIMEOUT)
    assert st.job == window.engine.latest_job("main")
    assert "saliency of" not in window.whatif.pane.answer.text()


def test_a_probe_before_the_words_are_written_is_one_line_and_a_transformer_is_edited_too(qtbot, window, monkeypatch):
    from attnviewer import pipeline

    window.whatif.ask_word("mask")  # nothing open
    assert window.last_error.startswith("what if:") and "\n" not in window.last_error
    encodings = []
    monkeypatch.setattr(pipeline, "encode", lambda *a, encode=pipeline.encode: encodings.append(1) or encode(*a))
    bundled(window)
    window.sides["main"].controls.set_model("caption-shapes-vit")  # a transformers folder
    st = caption_done(qtbot, window, IMAGE)
    window.whatif.show()
    window.go_to(1)
    pane = window.whatif.pane
    place = tuple(int(i) for i in np.unravel_index(np.argmin(pane.editor.map), pane.editor.map.shape))
    pane.editor.put_all_on(place)
    pane.redecode_button.click()
    answered(qtbot, window, 1)
    assert st.words[1].attention[place] == pytest.approx(1.0, abs=1e-5)  # every layer and head, as told
    assert len(encodings) == 1  # the edit re-decoded from the kept encoding: the image was encoded once
    window.whatif.pane.mask_button.click()  # masking works for transformers
    answered(qtbot, window, text="masked its top region")


def test_the_export_dialog_writes_the_interactive_page_of_the_branch_on_screen(qtbot, window, tmp_path, monkeypatch):
    import json
    import re

    from .test_export_dialog import export, open_dialog

    bundled(window)
    st = caption_done(qtbot, window, IMAGE)
    window.go_to(1)
    other = next(word for word, _p in st.current.alternatives if word != st.current.token)
    window.sides["main"].caption.force_asked.emit(other, True)
    answered(qtbot, window, 1)
    dlg = open_dialog(qtbot, window)
    dlg.select("page")
    assert "any browser" in dlg.preview.text()
    out = tmp_path / "page.html"
    export(qtbot, dlg, monkeypatch, out)
    blob = re.search(r'<script type="application/json" id="data">(.*?)</script>', out.read_text(encoding="utf-8"), re.S)
    data = json.loads(blob.group(1).replace("<\\/", "</"))
    assert [w["token"] for w in data["hypotheses"][0]["words"]] == [s.token for s in st.words]  # the branch's words


def test_the_window_latency_benchmark_runs_and_forcing_the_chosen_word_gives_back_the_words(qtbot, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "whatif_window.py"
    spec = importlib.util.spec_from_file_location("whatif_window", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--quick"]) == 0  # (it asserts the forced words equal the model's own)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["model", "words", "whole"] and lines[1].startswith("caption-shapes")


def test_esc_stops_a_question_and_its_answer_never_comes(qtbot, window):
    bundled(window)
    caption_done(qtbot, window, IMAGE)
    window.go_to(2)
    heard = Heard(window.engine)
    first = window.whatif.ask_word("attribute", "ig")
    window.stop_action.trigger()  # Esc
    assert window.whatif.pane.answer.text() == "stopped"
    second = window.whatif.ask_word("mask")  # the engine takes questions in turn: the first one is over by then
    qtbot.waitUntil(lambda: second in heard.jobs, timeout=GUI_TIMEOUT)
    assert first not in heard.jobs and "integrated" not in window.whatif.pane.answer.text()


def test_the_second_column_is_asked_about_too_compare_and_the_reversed_clip(qtbot, window):
    """Compare's other model: a word forced in its panel is its branch, its beam tree is drawn; the
    reversed clip: masking asks the first column's model about the clip played backwards."""
    bundled(window, DecodeSettings("beam", beam=3, max_len=20))
    main_st = caption_done(qtbot, window, IMAGE)
    compare = window.sides["compare"]
    compare.controls.set_model("caption-shapes")
    compare.controls.set_settings(DecodeSettings("beam", beam=2, max_len=20))
    window.compare_action.trigger()
    wait_finished(qtbot, window, "compare")
    window.whatif.show()
    pane = window.whatif.pane
    assert pane.column_row.isVisible()
    pane.column.setCurrentIndex(pane.column.findData("compare"))
    # the tree shown is the second column's search (its job), not the first's
    qtbot.waitUntil(lambda: window.whatif.tree is not None and window.whatif.tree[0] == compare.state.job,
                    timeout=GUI_TIMEOUT)
    window.go_to(1)
    st = compare.state
    other = next(word for word, _p in st.current.alternatives if word != st.current.token)
    compare.caption.force_asked.emit(other, True)
    qtbot.waitUntil(lambda: len(st.branches) == 1, timeout=GUI_TIMEOUT)
    assert st.words[1].token == other and not main_st.branches  # the second column's branch only
    window.compare_action.trigger()  # the column closes: the questions go back to the first
    assert not pane.column_row.isVisible() and window.whatif.side is window.sides["main"]


def test_masking_the_reversed_clip_asks_the_first_columns_model_about_it_backwards(qtbot, window):
    video_done(qtbot, window)
    window.reverse_action.trigger()  # Ctrl+R
    wait_finished(qtbot, window, "compare")
    window.whatif.show()
    window.whatif.choose("compare")
    window.go_to(0)
    assert window.whatif.ask_word("mask") is not None
    answered(qtbot, window, text="frames")
    assert window.whatif.answered_column == "compare"
    assert window.whatif.answered.result.settings.get("reversed") is True



def test_the_attention_editor_takes_the_places_names_that_come_after_its_map_and_keeps_the_edit(qtbot, window):
    st = sentence_done(qtbot, window)
    pane = window.whatif.pane
    look = window.overlay_controls.settings()
    pane.show_words(st.words, 2, look)  # the map first (while streaming the source words may not be named yet)
    pane.editor.put_all_on((0,))
    pane.show_words(st.words, 2, look, None, list(st.result.source_tokens))
    assert pane.editor.labels == list(st.result.source_tokens)  # each cell under its word
    assert pane.editor.map[0] == 1.0 and pane.editor.map[1:].sum() == 0  # the user's edit kept
