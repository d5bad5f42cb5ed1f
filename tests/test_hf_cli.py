"""Every command that takes --model, with a transformers model folder: caption (and folders),
video, translate, eval, export (--compare); --lens draws the maps through another layer or head,
and export --lens redraws a saved result from its stored heads without the model."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")

from attnviewer.cli import main  # noqa: E402
from attnviewer.export.data import load_result  # noqa: E402
from attnviewer.lens import Lens  # noqa: E402

from .hf_models import _preprocessor, _set_ids, _varied, marian, vit_gpt2, word_tokenizer  # noqa: E402

SENTENCE = "the cat sees a dog"
SHORT = ["--max-len", "3", "--greedy"]


def videomae_gpt2(folder: Path) -> Path:
    """A VideoMAE encoder (4 frames in tubelets of 2) with a GPT-2 decoder cross-attending to it."""
    import torch
    from transformers import (GPT2Config, GPT2LMHeadModel, VideoMAEConfig, VideoMAEModel,
                              VisionEncoderDecoderModel)

    torch.manual_seed(0)
    enc = VideoMAEModel(VideoMAEConfig(image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=32,
                                       num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                                       use_mean_pooling=False))
    tok = word_tokenizer()
    dec = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                     add_cross_attention=True, bos_token_id=1, eos_token_id=2, pad_token_id=0))
    model = VisionEncoderDecoderModel(encoder=enc, decoder=dec)
    _set_ids(model, 1, 2, 0)
    _varied(model.decoder)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    _preprocessor(folder, 32)
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf_cli")
    return {"vit": vit_gpt2(root / "vit"), "marian": marian(root / "marian"), "video": videomae_gpt2(root / "video")}


def run(capsys, *args, code: int = 0) -> tuple[str, str]:
    got = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert got == code, err
    if code:
        assert err.count("\n") == 1 and err.startswith("attnviewer: error: ") and "Traceback" not in err, err
    return out, err


def _svg_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# ---- caption, video, translate ------------------------------------------------------------------

def test_caption_with_a_folder_and_a_lens(folders, samples, tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    out, _ = run(capsys, "caption", samples[0], "--model", folders["vit"], *SHORT, "--json", a)
    assert "  lens: layer 2 of 2, mean of heads; on special tokens: " in out  # ViT's CLS takes a share
    out, _ = run(capsys, "caption", samples[0], "--model", folders["vit"], *SHORT, "--lens", "1:2", "--json", b,
                 "--figure", tmp_path / "b.svg")
    assert "  lens: layer 1 of 2, head 2; on special tokens: " in out
    ra, rb = load_result(a), load_result(b)
    assert ra.best.tokens == rb.best.tokens  # the same words: only the map drawn from them differs
    np.testing.assert_allclose(ra.best.heads, rb.best.heads, atol=1e-3)
    assert not np.allclose(ra.best.attention, rb.best.attention, atol=1e-3)
    want, sinks = rb.places.maps(rb.best.heads, Lens(0, 1))
    np.testing.assert_allclose(rb.best.attention, want, atol=2e-3)
    assert rb.lens == {"layer": 0, "heads": 1}
    assert "vit, greedy, layer 1 of 2, head 2" in _svg_text(tmp_path / "b.svg")  # the figure's title


def test_caption_folders_with_a_model_folder(folders, samples, tmp_path, capsys):
    out_dir = tmp_path / "out"
    run(capsys, "caption", samples[0].parent, "--out", out_dir, "--model", folders["vit"], *SHORT,
        "--lens", "mean:max", "--figure-format", "svg")
    results = sorted(out_dir.glob("*.json"))
    assert len(results) == len([p for p in samples[0].parent.iterdir() if p.suffix == ".png"])
    for path in results:
        r = load_result(path)
        assert r.lens == {"layer": "mean", "heads": "max"} and r.best.heads is not None
        assert "mean of layers, max of heads" in _svg_text(path.with_suffix(".svg"))


def test_video_with_a_model_folder(folders, samples, tmp_path, capsys):
    clip = samples[0].parent / "clip-1.mp4"
    out, _ = run(capsys, "video", clip, "--model", folders["video"], *SHORT, "--lens", "rollout",
                 "--json", tmp_path / "v.json", "--figure", tmp_path / "v.svg")
    assert "  lens: rollout, mean of heads" in out and "looked at:" in out
    r = load_result(tmp_path / "v.json")
    assert r.places.detail is not None and r.places.shape == (4,) and r.best.attention.shape[1:] == (4,)
    assert r.lens == {"layer": "rollout", "heads": "mean"}
    assert "rollout, mean of heads" in _svg_text(tmp_path / "v.svg")


def test_translate_with_a_model_folder(folders, tmp_path, capsys):
    out, _ = run(capsys, "translate", SENTENCE, "--model", folders["marian"], *SHORT, "--lens", "mean",
                 "--json", tmp_path / "t.json", "--figure", tmp_path / "t.svg")
    assert "  lens: mean of layers, mean of heads; on special tokens: " in out  # </s>
    assert "aligned:" in out
    r = load_result(tmp_path / "t.json")
    assert r.source_tokens == SENTENCE.split() and r.places.shape == (5,)
    svg = _svg_text(tmp_path / "t.svg")
    assert "mean of layers, mean of heads" in svg and "(specials)" not in svg  # not a column by default
    run(capsys, "export", tmp_path / "t.json", "--figure", tmp_path / "s.svg", "--specials")
    assert "(specials)" in _svg_text(tmp_path / "s.svg")


# ---- export: another lens from the saved heads, without the model ----------------------------------

def test_export_redraws_another_lens_without_the_model(folders, samples, tmp_path, capsys, monkeypatch):
    model = tmp_path / "gone"
    shutil.copytree(folders["vit"], model)
    run(capsys, "caption", samples[0], "--model", model, *SHORT, "--json", tmp_path / "r.json")
    shutil.rmtree(model)  # nothing left to load: the redraw is from the stored heads alone
    from attnviewer import pipeline

    def no_loading(*a, **k):
        raise AssertionError("export loaded a model")

    monkeypatch.setattr(pipeline, "load_model", no_loading)
    out, _ = run(capsys, "export", tmp_path / "r.json", "--lens", "1:max", "--json", tmp_path / "again.json",
                 "--figure", tmp_path / "again.svg")
    assert "  lens: layer 1 of 2, max of heads" in out
    before, after = load_result(tmp_path / "r.json"), load_result(tmp_path / "again.json")
    assert after.lens == {"layer": 0, "heads": "max"} and after.best.tokens == before.best.tokens
    want, sinks = before.places.maps(before.best.heads, Lens(0, "max"))
    np.testing.assert_allclose(after.best.attention, want, atol=1e-6)
    np.testing.assert_allclose(after.best.sinks, sinks, atol=1e-6)
    assert not np.allclose(after.best.attention, before.best.attention, atol=1e-3)
    assert "layer 1 of 2, max of heads" in _svg_text(tmp_path / "again.svg")
    # the JSON without its NPZ has the places but not the heads: said in one line
    data = json.loads((tmp_path / "r.json").read_text())
    data.pop("arrays")
    (tmp_path / "alone.json").write_text(json.dumps(data))
    _, err = run(capsys, "export", tmp_path / "alone.json", "--lens", "2", "--figure", tmp_path / "x.png", code=2)
    assert "NPZ" in err
    _, err = run(capsys, "export", tmp_path / "r.json", "--lens", "3", "--figure", tmp_path / "x.png", code=2)
    assert "layer 3 does not exist; the decoder has 2 (1-2)" in err


def test_compare_a_transformer_with_an_lstm(folders, samples, tmp_path, capsys, tiny_checkpoint):
    run(capsys, "caption", samples[0], "--model", folders["vit"], *SHORT, "--json", tmp_path / "t.json")
    run(capsys, "caption", samples[0], "--model", tiny_checkpoint, *SHORT, "--json", tmp_path / "l.json")
    for lens in ([], ["--lens", "rollout"]):
        fig = tmp_path / f"c{len(lens)}.svg"
        run(capsys, "export", tmp_path / "t.json", "--compare", tmp_path / "l.json", "--figure", fig, *lens)
        assert ("rollout, mean of heads" if lens else "layer 2 of 2, mean of heads") in _svg_text(fig)
    _, err = run(capsys, "export", tmp_path / "l.json", "--lens", "2", "--figure", tmp_path / "x.png", code=2)
    assert "no layers and heads" in err


# ---- eval ---------------------------------------------------------------------------------------

def test_eval_scores_a_folder_on_a_dataset(folders, samples, tmp_path, capsys):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("the cat sees a dog\tdie katze\nthe dog sees a cat\tder hund\n")
    out, _ = run(capsys, "eval", "translate", "--model", folders["marian"], "--data", pairs, "--split", "all",
                 "--n", "2")
    assert str(folders["marian"]) in out and "chrF" in out
    shutil.copy(samples[0], tmp_path / samples[0].name)
    caps = tmp_path / "caps.csv"
    caps.write_text(f"image,caption\n{samples[0].name},a red circle\n")
    out, _ = run(capsys, "eval", "caption", "--model", folders["vit"], "--data", caps, "--split", "all")
    assert "CIDEr-D" in out


# ---- one line for what cannot be -----------------------------------------------------------------

@pytest.mark.parametrize("spec, words", [
    ("foo", "layer 'foo' is not a number"), ("0", "layers count from 1"), ("2:x", "head 'x' is not a number"),
    ("3", "layer 3 does not exist; the decoder has 2 (1-2)"), ("1:5", "head 5 does not exist; each layer has 4"),
])
def test_bad_lenses_are_one_line(folders, samples, capsys, spec, words):
    _, err = run(capsys, "caption", samples[0], "--model", folders["vit"], *SHORT, "--lens", spec, code=2)
    assert words in err


def test_a_lens_on_a_model_without_heads_is_one_line(samples, capsys, tiny_checkpoint):
    _, err = run(capsys, "caption", samples[0], "--model", tiny_checkpoint, "--lens", "2", code=2)
    assert "has no layers and heads" in err
    _, err = run(capsys, "translate", SENTENCE, "--lens", "rollout", code=2)
    assert "translate-sov has no layers and heads" in err
