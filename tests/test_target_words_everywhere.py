"""A subword decoder's pieces merged into words wherever its output is shown (issue 19), not only
in `translate`: `caption` and `video` with a GPT-2 decoder writing byte-BPE pieces (Ġ marking a
word's start) print and draw words (--pieces: the pieces); a saved result keeps the pieces and says
which make a word (schema 5: word_starts, checked like the rest; older files open as before), so
`export` of it draws words too; and the window shows words by default, stepping word by word, the
pieces when the subwords toggle is on. Tiny random models built in code (tests/hf_models.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("transformers")

from attnviewer.cli import main  # noqa: E402
from attnviewer.data.clip_events import generate_clip  # noqa: E402
from attnviewer.errors import MediaError  # noqa: E402
from attnviewer.export.data import load_result  # noqa: E402
from attnviewer.media.frames import write_clip  # noqa: E402
from attnviewer.target_words import groups, has_pieces, spell  # noqa: E402

from . import hf_models  # noqa: E402
from .helpers import wait_finished  # noqa: E402


def _bpe_gpt2(encoder, folder, seed):
    """hf_models' encoder with a GPT-2 decoder over a byte-BPE vocabulary (BART's tokenizer), its
    output layer leaning to the letter pieces, so that it writes words in several pieces."""
    import torch
    from transformers import VisionEncoderDecoderModel

    tok = hf_models.byte_bpe_tokenizer()
    model = VisionEncoderDecoderModel(encoder=encoder, decoder=hf_models._gpt2(len(tok)))
    hf_models._set_ids(model, 0, 2, 1)
    hf_models._vary_encoder_decoder(model, seed)
    vocab = tok.get_vocab()
    letters = [i for t, i in vocab.items() if len(t.lstrip("Ġ")) > 1 and t.lstrip("Ġ").isalpha()]
    with torch.no_grad():
        head = model.decoder.lm_head.weight
        scale = torch.full((len(tok),), 0.05)  # single bytes unlikely
        scale[letters] = 2.0
        scale[vocab["</s>"]] = 2.0
        head.mul_(scale[:, None])
    hf_models._save(model, tok, folder)


@pytest.fixture(scope="module")
def made(tmp_path_factory, samples):
    """An image and a video captioner writing byte-BPE pieces, and what `caption` and `video`
    printed and wrote with them, as words and as pieces (--pieces)."""
    root = tmp_path_factory.mktemp("target-words")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hf_models, "_with_gpt2", _bpe_gpt2)
        vit = hf_models.vit_gpt2(root / "vit-bpe")
        video = hf_models.video_gpt2(root / "timesformer-bpe")
    clip = write_clip(generate_clip(5, 0).frames, root / "clip.mp4", fps=12, scale=2)
    out = {"vit": vit, "video": video, "clip": clip, "image": samples[0], "root": root}
    for tag, command in (("caption", ["caption", str(samples[0]), "--model", str(vit)]),
                         ("caption-pieces", ["caption", str(samples[0]), "--model", str(vit), "--pieces"]),
                         ("video", ["video", str(clip), "--model", str(video)])):
        out[tag] = _run(command + ["--greedy", "--max-len", "10", "--dpi", "30", "--figure",
                                   str(root / f"{tag}.svg"), "--json", str(root / f"{tag}.json")], root / f"{tag}.svg")
    return out


def _run(argv, svg):
    """(the per-word tokens and probabilities printed, the whole output, the figure's SVG text)."""
    import contextlib
    import io

    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        assert main(argv) == 0
    lines = text.getvalue().splitlines()
    per_word = lines[1].split()  # "  tok (0.91)  tok (0.50) ...": the per-word line
    return {"tokens": per_word[0::2], "probs": [float(p.strip("()")) for p in per_word[1::2]],
            "out": text.getvalue(), "svg": svg.read_text(encoding="utf-8")}


@pytest.mark.parametrize("name", ["caption", "video"])
def test_caption_and_video_print_and_draw_words(made, name):
    words = made[name]
    saved = load_result(made["root"] / f"{name}.json")
    pieces, probs = saved.best.tokens, saved.best.probs  # the file keeps the pieces
    assert has_pieces(saved.best), pieces  # the decoder did write a word in several pieces
    starts = saved.best.starts
    expected = [spell([pieces[i] for i in g]) for g in groups(starts)]
    assert words["tokens"] == expected and len(expected) < len(pieces)
    for p, g in zip(words["probs"], groups(starts)):
        assert p == pytest.approx(float(np.prod([probs[i] for i in g])), abs=0.01)
    joined = [w for w, g in zip(expected, groups(starts)) if len(g) > 1]
    assert joined and all(f">{w} (" in words["svg"] for w in joined)  # the merged words label the rows
    if name == "caption":  # --pieces: printed and drawn as written
        as_written = made["caption-pieces"]
        assert as_written["tokens"] == pieces
        assert not any(f">{w} (" in as_written["svg"] for w in joined if w not in pieces)
    if not saved.best.ended:  # --max-len counts pieces, and the line says so
        assert f"cut at the maximum length ({len(pieces)} pieces)" in words["out"]
    # the text as the tokenizer joins the pieces comes back with the result
    assert saved.best.text == words["out"].splitlines()[0].split(": ", 1)[1] != " ".join(saved.best.tokens)


def test_a_video_transformers_words_have_where_in_frame_maps(made):
    from attnviewer.export.temporal_figures import where_in_frames
    from attnviewer.target_words import word_result

    saved = load_result(made["root"] / "video.json")
    shown = word_result(saved)
    where = where_in_frames(shown, shown.best)  # each word's maps from its pieces' mean heads
    assert where is not None and where.shape[:2] == shown.best.attention.shape
    assert shown.written is saved  # kept for saving


def test_export_of_a_reopened_result_draws_words(made, tmp_path, capsys):
    saved = made["root"] / "caption.json"
    words, pieces = made["caption"]["tokens"], load_result(saved).best.tokens
    for extra, expected in (([], words), (["--pieces"], pieces)):
        svg = tmp_path / f"e{len(extra)}.svg"
        assert main(["export", str(saved), "--figure", str(svg), "--dpi", "30", *extra]) == 0
        text = svg.read_text(encoding="utf-8")
        assert all(f">{w} (" in text for w in expected)
    assert f">{words[-1]} (" not in (tmp_path / "e1.svg").read_text(encoding="utf-8") or words[-1] in pieces
    # --word N counts the words shown
    assert main(["export", str(saved), "--figure", str(tmp_path / "w.png"), "--word", str(len(words)),
                 "--dpi", "30"]) == 0
    assert main(["export", str(saved), "--figure", str(tmp_path / "w2.png"), "--word", str(len(words) + 1)]) == 2
    assert f"has only {len(words)} words" in capsys.readouterr().err
    # a result saved again (--json) keeps the pieces
    again = tmp_path / "again.json"
    assert main(["export", str(saved), "--json", str(again)]) == 0
    back = load_result(again)
    assert back.best.tokens == pieces and back.best.starts == load_result(saved).best.starts


def _data(made) -> dict:
    return json.loads((made["root"] / "caption.json").read_text(encoding="utf-8"))


def _write(tmp_path, data) -> str:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_word_starts_are_checked_and_older_files_open(made, tmp_path):
    data = _data(made)
    assert data["schema"] == "attnviewer-result-5"
    hyp = data["hypotheses"][0]
    n = len(hyp["words"])
    assert hyp["word_starts"][0] == 0 and len(hyp["word_starts"]) < n
    for bad, why in (([1], r"word_starts\[0\] must be 0"), ([0, 2, 2], r"word_starts\[2\] must be above"),
                     ([0, n], rf"word_starts\[1\] must be below {n}"), ([0, -1], r"word_starts\[1\] must be between"),
                     ([], "word_starts"), ("0 1", "word_starts")):
        broken = json.loads(json.dumps(data))
        broken.pop("arrays", None)
        broken["hypotheses"][0]["word_starts"] = bad
        with pytest.raises(MediaError, match=why) as e:
            load_result(_write(tmp_path, broken))
        assert "\n" not in str(e.value)
    older = json.loads(json.dumps(data))  # as schema 4 wrote it: no word starts, no joined text
    older.pop("arrays", None)
    older["schema"] = "attnviewer-result-4"
    for h in older["hypotheses"]:
        h.pop("word_starts"), h.pop("joined", None)
    back = load_result(_write(tmp_path, older))
    assert back.best.starts is None and back.best.tokens == [w["token"] for w in hyp["words"]]
    assert not has_pieces(back.best)  # nothing says which pieces make a word: drawn as they are


def test_the_window_shows_words_and_the_pieces_when_asked(qtbot, window, made):
    from attnviewer.settings import DecodeSettings

    window.open_model_folder(str(made["vit"]))
    side = window.sides["main"]
    side.controls.set_settings(DecodeSettings("greedy", max_len=10))
    window.open_file(str(made["image"]))
    wait_finished(qtbot, window)
    state, toggle = side.state, side.lens_controls.raw
    pieces = state.result.best.tokens
    words = [spell([pieces[i] for i in g]) for g in groups(state.result.best.starts)]
    assert has_pieces(state.result.best) and len(words) < len(pieces)
    assert [w.token for w in state.words] == words and toggle.isVisible() and not toggle.isChecked()
    listed = side.caption.tokens
    assert [listed.item(i).text().split("\n")[0] for i in range(listed.count())] == words  # the caption panel's
    window.step_to("home")
    window.step_to("next")
    assert state.index == 1 and state.current.token == words[1]  # stepping goes word by word
    last = len(words) - 1
    window.go_to(last)
    toggle.setChecked(True)  # the pieces the model wrote: the current word's first piece stays current
    assert [w.token for w in state.words] == pieces
    assert state.index == groups(state.result.best.starts)[last][0]
    assert not side.lens_controls.show_raw()  # an image has no source pieces: its maps stay grids
    assert state.current.attention.shape == state.result.best.attention.shape[1:]
    source = window._export_source()  # the export draws what is on screen
    assert source.hyp.tokens == pieces
    toggle.setChecked(False)
    assert [w.token for w in state.words] == words and state.index == last
    source = window._export_source()
    assert source.hyp.tokens == words and source.index == last
    assert source.result.written is not None and source.result.written.best.tokens == pieces
