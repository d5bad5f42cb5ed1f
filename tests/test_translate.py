"""The translator: generated pairs with gold alignments, AER, the model's decoding interface, its
checkpoints, the bundled model's quality, and the translate / export commands end to end."""
from __future__ import annotations

import base64
import io
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from PIL import Image

from attnviewer.evaluation.text import (AlignmentTally, alignment_error, argmax_links, diagonal_links, gold_links,
                                  right_by_role)
from attnviewer.cli import main
from attnviewer.data.pairs import ROLES, generate_pairs, vocabularies
from attnviewer.decoding.search import DecodeSettings, decode, run
from attnviewer.errors import CheckpointError, MediaError
from attnviewer.export.data import load_result
from attnviewer.media.text import read_sentences, source_words, tokenize
from attnviewer.models import registry
from attnviewer.models.checkpoint import load_checkpoint, save_checkpoint

from .helpers import tiny_translator

SVG = "{http://www.w3.org/2000/svg}"


# -- the generated pair ----------------------------------------------------------------------------


def test_pairs_are_reproducible_and_every_target_word_has_a_gold_link():
    pairs = generate_pairs(300, seed=3)
    again = generate_pairs(10, seed=3)
    assert [p.source for p in pairs[:10]] == [p.source for p in again]
    src, tgt = vocabularies()
    for p in pairs:
        assert len(p.sure) == len(p.target) == len(p.possible) == len(p.roles)
        assert p.roles[-1] == "verb" and set(p.roles) <= set(ROLES)
        assert all(links and all(0 <= i < len(p.source) for i in links) for links in p.sure)
        assert set(p.source) <= set(src) and set(p.target) <= set(tgt)


def test_the_pair_reorders_and_has_one_to_many_and_many_to_one_words():
    pairs = generate_pairs(400, seed=0)
    # SOV: the verb comes last in the target, while its source word sits after the subject
    verb_last = [max(p.sure[-1]) < len(p.source) - 2 for p in pairs]
    assert np.mean(verb_last) > 0.9
    past = [p for p in pairs if p.target[-2] in ("ha", "han")]  # "saw" -> "ha vidato": two targets, one source
    assert past and all(p.sure[-2] == p.sure[-1] for p in past)
    future = [p for p in pairs if "will" in p.source]  # "will see" -> one fused word linked to both
    assert future and all(len(p.sure[-1]) == 2 for p in future)
    suffixes = [(j, p) for p in pairs for j, w in enumerate(p.target) if w.startswith("=")]
    assert suffixes and all(p.possible[j] for j, p in suffixes)  # a suffix may also link to its noun


# -- alignment error rate --------------------------------------------------------------------------


def test_aer_is_zero_for_the_gold_links_and_counts_possible_links():
    pair = generate_pairs(1, seed=5)[0]
    sure, possible = gold_links(pair)
    tally = AlignmentTally()
    tally.add(sure, pair)
    assert tally.aer == 0.0
    wrong = AlignmentTally()
    wrong.add({(j, (i + 1) % len(pair.source)) for j, i in sure}, pair)
    assert wrong.aer > 0.5


def test_diagonal_baseline_never_points_past_the_source():
    links = diagonal_links(target_len=7, source_len=3)
    assert {i for _, i in links} <= {0, 1, 2} and len(links) == 7


def test_alignment_error_reads_each_target_word_s_attention_peak():
    pairs = generate_pairs(20, seed=1)
    perfect = []
    for p in pairs:  # attention on the first gold source word of each target word
        att = np.full((len(p.target), len(p.source)), 0.01, dtype=np.float32)
        for j, links in enumerate(p.sure):
            att[j, links[0]] = 1.0
        perfect.append(att)
    aer, diagonal = alignment_error(pairs, perfect)
    assert aer < 0.05 < 0.5 < diagonal
    assert set(right_by_role(pairs, perfect).values()) == {1.0}
    late = [np.roll(a, 1, axis=1) for a in perfect]  # every peak one source word to the right
    shifted = right_by_role(pairs, late)
    assert shifted["noun"] == shifted["determiner"] == 0.0
    assert shifted["suffix"] > 0.5  # a suffix's next word is often its noun: a possible link
    assert argmax_links(perfect[0]) <= gold_links(pairs[0])[1]


# -- the model ---------------------------------------------------------------------------------------


def _source(model, sentences):
    return model.source_batch([s.split() for s in sentences])


@pytest.mark.parametrize("reverse", [False, True])
def test_memory_of_a_sentence_does_not_depend_on_padding_or_reading_direction(reverse):
    model = tiny_translator(reverse=reverse)
    short, long = "the dog sees a cat", "the big old dog saw some strange cats near the river"
    with torch.no_grad():
        alone = model.encode(*_source(model, [short]))
        batched = model.encode(*_source(model, [long, short]))
    assert torch.allclose(alone[0], batched[1, :5], atol=1e-5)
    assert torch.all(batched[1, 5:] == torch.tanh(model.bridge.bias)), "padding must stay unread"


@pytest.mark.parametrize("attention,score", [("global", "additive"), ("global", "dot"), ("global", "general"),
                                             ("global", "location"), ("local", "additive")])
def test_greedy_and_beam_attention_covers_only_the_real_source_words(attention, score):
    model = tiny_translator(attention=attention, score=score)
    source = _source(model, ["the big old dog saw some strange cats near the river", "a cat sees the dog"])
    with torch.inference_mode():
        for settings in (DecodeSettings("greedy"), DecodeSettings("beam", beam=3)):
            hyps = run(decode(model, model.init_state(source), settings, stream=False))
            for best, n in zip((h[0] for h in hyps), (11, 5)):
                att = best.attention
                assert att.shape == (len(best.tokens), 11)
                assert np.allclose(att.sum(1), 1, atol=1e-5)
                assert np.all(att[:, n:] == 0)


def test_local_attention_stays_inside_its_window():
    model = tiny_translator(attention="local")
    source = _source(model, ["the big old dog saw some strange cats near the river"])
    with torch.inference_mode():
        best = run(decode(model, model.init_state(source), DecodeSettings("greedy"), stream=False))[0][0]
    for row in best.attention:
        covered = np.flatnonzero(row > 0)
        assert covered.max() - covered.min() <= 2 * model.config.window


def test_beam_of_one_is_greedy():
    model = tiny_translator(seed=2)
    source = _source(model, ["the dog saw a cat in the garden", "some women will visit a city"])
    with torch.inference_mode():
        greedy = run(decode(model, model.init_state(source), DecodeSettings("greedy"), stream=False))
        beam = run(decode(model, model.init_state(source), DecodeSettings("beam", beam=1), stream=False))
    for g, b in zip(greedy, beam):
        assert g[0].tokens == b[0].tokens
        assert np.allclose(g[0].attention, b[0].attention, atol=1e-5)


def test_checkpoint_round_trip_and_refusals(tmp_path):
    model = tiny_translator(seed=4, reverse=True)
    path = tmp_path / "t.safetensors"
    save_checkpoint(model, path)
    loaded = load_checkpoint(path)
    assert loaded.kind == "translate" and loaded.config == model.config
    assert loaded.source_vocab == model.source_vocab and loaded.vocab == model.vocab
    source = _source(model, ["the dog saw a cat"])
    with torch.inference_mode():
        a = run(decode(model, model.init_state(source), DecodeSettings("greedy"), stream=False))[0][0]
        b = run(decode(loaded, loaded.init_state(source), DecodeSettings("greedy"), stream=False))[0][0]
    assert a.tokens == b.tokens and np.allclose(a.attention, b.attention)
    with pytest.raises(CheckpointError, match="captions images"):
        registry.load(str(path), "cpu")  # the window and `caption` ask for a captioner
    bigger = tiny_translator(seed=4)
    bigger.config.hidden_dim = 32  # a config that no longer matches the weights
    save_checkpoint(bigger, tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(tmp_path / "bad.safetensors")


# -- text in ---------------------------------------------------------------------------------------


def test_text_is_split_into_lower_case_words_and_bad_text_is_refused(tmp_path):
    assert tokenize("The dog's toy, too.") == ["the", "dog's", "toy", ",", "too", "."]
    with pytest.raises(MediaError, match="empty text"):
        source_words("  \n ")
    with pytest.raises(MediaError, match="at most 3"):
        source_words("one two three four", max_words=3)
    (tmp_path / "bin.txt").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    with pytest.raises(MediaError, match="not a text file"):
        read_sentences(tmp_path / "bin.txt")
    (tmp_path / "ok.txt").write_text("the dog sees a cat\n\n a cat sees the dog \n", encoding="utf-8")
    assert read_sentences(tmp_path / "ok.txt") == ["the dog sees a cat", "a cat sees the dog"]


# -- the bundled model -------------------------------------------------------------------------------


def test_bundled_translator_translates_and_aligns_far_better_than_the_diagonal():
    from attnviewer.evaluation.translator import held_out_pairs, score_translator

    model = registry.load("translate-sov", "cpu", kind="translate")
    scores = score_translator(model, held_out_pairs(200, seed=777))
    assert scores["BLEU"] > 95 and scores["exact match"] > 0.9
    assert scores["AER"] < 0.2 and scores["diagonal AER"] > 0.6


# -- the commands ----------------------------------------------------------------------------------


def _svg_texts(path) -> list[str]:
    root = ET.parse(path).getroot()
    return ["".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")]


def _svg_matrix_picture(path) -> np.ndarray:
    """The matrix as embedded in the SVG: one picture, a block of pixels per cell."""
    root = ET.parse(path).getroot()
    images = list(root.iter(f"{SVG}image"))
    assert len(images) == 2  # the matrix and the colour bar
    href = images[0].get("{http://www.w3.org/1999/xlink}href") or images[0].get("href")
    data = base64.b64decode(href.split(",", 1)[1])
    picture = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    flipped = "scale(1 -1)" in (images[0].get("transform") or "")  # stored bottom row first
    return picture[::-1] if flipped else picture


def test_translate_writes_a_result_that_reopens_and_a_matrix_whose_colour_is_where_the_attention_is(tmp_path, capsys):
    sentence = "the big dog saw a small cat in the garden"
    out = tmp_path / "r.json"
    rc = main(["translate", sentence, "--greedy", "--json", str(out), "--figure", str(tmp_path / "m.svg"),
               "--device", "cpu", "--cmap", "gray"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "hund<-dog" in printed  # the word for dog attends to "dog"
    result = load_result(out)
    assert result.kind == "translate" and result.source_tokens == sentence.split()
    att = result.best.attention
    assert att.shape == (len(result.best.tokens), 10) and np.allclose(att.sum(1), 1, atol=1e-5)
    assert np.array_equal(load_result(tmp_path / "r.npz").best.attention, att)
    texts = _svg_texts(tmp_path / "m.svg")
    assert set(sentence.split()) <= set(texts)
    assert all(any(t.startswith(w + " (") for t in texts) for w in result.best.tokens)
    picture = _svg_matrix_picture(tmp_path / "m.svg").mean(axis=2)
    rows, cols = att.shape
    h, w = picture.shape
    centres = np.ix_(((np.arange(rows) + 0.5) * h / rows).astype(int), ((np.arange(cols) + 0.5) * w / cols).astype(int))
    cells = picture[centres]
    assert np.array_equal(cells.argmax(axis=1), att.argmax(axis=1))  # the brightest cell of each row

    rc = main(["export", str(out), "--figure", str(tmp_path / "again.pdf"), "--values"])
    assert rc == 0
    pdf = (tmp_path / "again.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"FontFile2" in pdf  # words embedded as TrueType text
    rc = main(["export", str(out), "--figure", str(tmp_path / "again.png")])
    assert rc == 0
    with Image.open(tmp_path / "again.png") as png:
        assert png.size[0] > 300


def test_several_sentences_from_a_file_each_get_their_own_outputs(tmp_path, capsys):
    text = tmp_path / "in.txt"
    text.write_text("the dog sees a cat.\nsome women will visit the old city\n", encoding="utf-8")
    rc = main(["translate", "--file", str(text), "--json", str(tmp_path / "t.json"), "--beam", "2",
               "--device", "cpu"])
    assert rc == 0
    first, second = load_result(tmp_path / "t-1.json"), load_result(tmp_path / "t-2.json")
    assert first.source_tokens == ["the", "dog", "sees", "a", "cat"]  # the unknown "." is dropped
    assert second.source_tokens[-1] == "city" and len(second.hypotheses) == 2
    assert json.loads((tmp_path / "t-2.json").read_text())["settings"]["beam"] == 2


@pytest.mark.parametrize("argv,message", [
    (["translate", "   "], "empty text"),
    (["translate", "... !"], "only punctuation"),
    (["translate", "the dog \x1b[2J sees \x00"], "holds a control character"),
    (["translate", " ".join(["dog"] * 61)], "at most 60"),
    (["translate", "the dog", "--model", "caption-shapes"], "captions images"),
    (["caption", "{sample}", "--model", "translate-sov"], "translates sentences"),
    (["translate", "--file", "{missing}"], "no such file"),
    (["translate"], "nothing to translate"),
])
def test_bad_translate_input_gives_one_line(argv, message, capsys, samples, tmp_path):
    argv = [a.format(sample=samples[0], missing=tmp_path / "none.txt") for a in argv]
    assert main(argv + ["--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_export_of_a_translation_refuses_an_overlay(tmp_path, capsys):
    assert main(["translate", "a cat sees the dog", "--json", str(tmp_path / "r.json"), "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["export", str(tmp_path / "r.json"), "--overlay", str(tmp_path / "o.png"), "--word", "1"]) == 2
    assert "--overlay cannot be drawn" in capsys.readouterr().err


def test_translation_animation_has_one_frame_per_word_and_colours_the_attended_source_word(tmp_path):
    from attnviewer.export.figures import FigureStyle
    from attnviewer.export.translation_animation import translation_frames

    out = tmp_path / "t.json"
    assert main(["translate", "the old dog will watch a small cat", "--json", str(out), "--animation",
                 str(tmp_path / "t.gif"), "--device", "cpu"]) == 0
    result = load_result(out)
    with Image.open(tmp_path / "t.gif") as gif:
        assert gif.n_frames == len(result.best.tokens)
    assert main(["export", str(out), "--animation", str(tmp_path / "again.gif"), "--cmap", "gray"]) == 0
    # one word alone: the only coloured box sits under it, so the frame's coloured pixels lie
    # in the left part for the first source word and further right for the last
    tokens = result.source_tokens
    for j, expect in ((0, "left"), (len(tokens) - 1, "right")):
        hyp = result.best
        one = np.zeros((1, len(tokens)), dtype=np.float32)
        one[0, j] = 1.0
        hyp = type(hyp)(hyp.tokens[:1], hyp.token_ids[:1], 0.0, 0.0, hyp.probs[:1], hyp.alternatives[:1], one)
        frame = next(translation_frames(tokens, hyp, FigureStyle(cmap="autumn"), size=900))
        source_band = frame[: frame.shape[0] // 2]  # (below it: the translation, its word on a yellow box)
        coloured = np.argwhere((source_band[..., 0].astype(int) - source_band[..., 2]) > 60)  # autumn: red-yellow
        middle = coloured[:, 1].mean() / frame.shape[1]
        assert (middle < 0.3) if expect == "left" else (middle > 0.6)


def test_a_translator_file_with_a_damaged_vocabulary_is_refused_in_one_line(tmp_path):
    model = tiny_translator()
    path = tmp_path / "t.safetensors"
    save_checkpoint(model, path)
    from safetensors.torch import load_file, save_file

    from attnviewer.models.checkpoint import read_metadata

    meta = read_metadata(path)
    meta["vocab"] = json.dumps(model.vocab)  # one list, as a captioner's: no source side
    save_file(load_file(str(path)), str(path), metadata=meta)
    with pytest.raises(CheckpointError, match="bad config"):
        load_checkpoint(path)


def test_output_piped_into_a_reader_that_stops_early_gives_no_traceback():
    import os
    import subprocess
    import sys

    command = (f'"{sys.executable}" -m attnviewer translate "the old dog will watch a small cat" '
               '"a cat sees the dog" --device cpu | head -c 1 > /dev/null')
    done = subprocess.run(command, shell=True, stderr=subprocess.PIPE, text=True, timeout=120,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
