"""Transformers trained from scratch on the generated data (`train caption|translate --arch
transformer`): a few steps write an ordinary transformers folder that transformers itself loads,
that the registry loads and decodes with the app's own decoding, and the training loss falls."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("transformers")

from attnviewer.cli import main  # noqa: E402
from attnviewer.errors import SettingsError  # noqa: E402

TINY = dict(hidden=16, encoder_layers=2, decoder_layers=2, heads=2, ffn=32, val_size=6, threads=1, lr=3e-3,
            warmup=2)


def _falls(summary: dict) -> None:
    losses = summary["losses"]
    assert len(losses) == summary["steps"] and all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.3  # nats: it learns, in a few steps


def _saved(folder) -> set[str]:
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "training.json"} <= names
    assert not any(n.endswith((".bin", ".pt")) for n in names)
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temporary left beside it
    return names


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    from attnviewer.training.transformers import TranslateTransformerSettings, train_translate_transformer

    out = tmp_path_factory.mktemp("marian") / "translate-tiny"
    s = TranslateTransformerSettings(out=str(out), train_size=96, batch_size=16, epochs=4, **TINY)
    return out, train_translate_transformer(s, log=lambda m: None)


@pytest.fixture(scope="module")
def captioner(tmp_path_factory):
    from attnviewer.training.transformers import CaptionTransformerSettings, train_caption_transformer

    out = tmp_path_factory.mktemp("vit") / "caption-tiny"
    s = CaptionTransformerSettings(out=str(out), train_size=64, batch_size=16, epochs=4, image_size=32,
                                   patch_size=8, **TINY)
    return out, train_caption_transformer(s, log=lambda m: None)


def test_the_translator_trains_and_saves_a_folder_the_registry_decodes(translator):
    from attnviewer.evaluation.transformer import lensed, translate_heads
    from attnviewer.models import registry

    out, summary = translator
    _falls(summary)
    _saved(out)
    assert json.loads((out / "training.json").read_text())["steps"] == summary["steps"] == 24
    model = registry.load(str(out), "cpu", kind="translate")
    assert model.family == "seq2seq" and model.n_layers == 2 and model.n_heads == 2
    [(hyp, places)] = translate_heads(model, ["the big dog sees a cat"])
    assert places.shape == (6,)  # one place a source word; </s> is no place
    assert hyp.attention.shape == (len(hyp.tokens), 2, 2, 7)  # raw: [words, layers, heads, tokens]
    drawn = lensed(hyp, places)
    assert drawn.attention.shape == (len(hyp.tokens), 6) and drawn.heads is hyp.attention


def test_every_file_of_the_folder_is_as_readable_as_the_umask_says(translator):
    """safetensors writes its file 0600 whatever the umask: a folder shared with others would
    have held weights only its maker could read."""
    out, _ = translator
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert set(modes.values()) == {modes["config.json"]}, modes  # config.json: as Python wrote it, under the umask


def test_transformers_itself_loads_the_translator_and_generates_what_we_decode(translator):
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from attnviewer.evaluation.transformer import translate_heads
    from attnviewer.models import registry

    out, _ = translator
    hf = AutoModelForSeq2SeqLM.from_pretrained(out, local_files_only=True, use_safetensors=True)
    tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    text = "the small cat follows a dog"
    ids = tok(text, return_tensors="pt")
    assert tok.convert_ids_to_tokens(ids["input_ids"][0])[-1] == "</s>"
    with torch.inference_mode():
        generated = hf.generate(**ids, do_sample=False, num_beams=1)[0].tolist()
    words = [w for w in tok.convert_ids_to_tokens(generated) if w not in ("<pad>", "</s>")]
    [(hyp, _)] = translate_heads(registry.load(str(out), "cpu", kind="translate"), [text])
    # the same words; a sentence cut at the longest length ends in </s> in generate() (forced_eos_token_id)
    assert hyp.tokens[: len(words)] == words and len(hyp.tokens) - len(words) in (0, 1)


def test_forced_attention_gives_a_word_by_word_matrix_for_every_lens(translator):
    from attnviewer.data.pairs import generate_pairs
    from attnviewer.evaluation.transformer import forced_heads, forced_word_attention, lenses, translate_lenses
    from attnviewer.models import registry

    model = registry.load(str(translator[0]), "cpu", kind="translate")
    pairs = generate_pairs(5, 77)
    heads = forced_heads(model, pairs)
    for (h, places), p in zip(heads, pairs):
        assert h.shape[:3] == (len(p.target), 2, 2) and places.shape == (len(p.source),)
    for lens in lenses(model):
        for att, p in zip(forced_word_attention(model, pairs, lens, heads), pairs):
            assert att.shape == (len(p.target), len(p.source))
            np.testing.assert_allclose(att.sum(axis=1), 1.0, atol=1e-5)
    scored = translate_lenses(model, pairs)
    assert list(scored["lenses"]) == ["layer 1 of 2, mean of heads", "layer 2 of 2, mean of heads",
                                      "mean of layers, mean of heads", "rollout, mean of heads"]
    assert all(0 <= aer <= 1 for aer in scored["lenses"].values())


def test_the_captioner_trains_and_saves_a_folder_the_registry_decodes(captioner):
    import torch

    from attnviewer.data.synthetic import generate_scenes
    from attnviewer.evaluation.transformer import caption_heads, caption_lenses, lensed
    from attnviewer.models import registry

    out, summary = captioner
    _falls(summary)
    assert "preprocessor_config.json" in _saved(out)
    model = registry.load(str(out), "cpu", kind="caption")
    assert model.family == "vision-encoder-decoder" and model.config.image_size == 32
    scenes = generate_scenes(2, 5, 32)
    pixels = torch.from_numpy(np.stack([s.image for s in scenes])).permute(0, 3, 1, 2)
    decoded = caption_heads(model, pixels)
    for hyp, places in decoded:
        assert places.shape == (4, 4)  # 32 px in patches of 8; the CLS token is no place
        drawn = lensed(hyp, places)
        assert drawn.attention.shape == (len(hyp.tokens), 4, 4)
    scored = caption_lenses(model, scenes)
    assert len(scored["lenses"]) == 2 + 2  # two layers, their mean, the rollout


def test_transformers_itself_loads_the_captioner(captioner):
    from transformers import AutoTokenizer, VisionEncoderDecoderModel, ViTImageProcessor

    out, _ = captioner
    hf = VisionEncoderDecoderModel.from_pretrained(out, local_files_only=True, use_safetensors=True)
    assert hf.config.decoder.add_cross_attention and hf.config.encoder.patch_size == 8
    assert ViTImageProcessor.from_pretrained(out, local_files_only=True).size == {"height": 32, "width": 32}
    tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    assert tok.convert_ids_to_tokens(tok("a red circle")["input_ids"]) == ["a", "red", "circle"]


def test_the_commands_train_evaluate_and_caption_with_a_folder(tmp_path, capsys):
    from attnviewer.data.synthetic import generate_scene
    from PIL import Image

    out = tmp_path / "cap"
    args = ["train", "caption", "--arch", "transformer", "--out", str(out), "--train-size", "32", "--val-size", "4",
            "--batch-size", "16", "--epochs", "1", "--image-size", "32", "--patch-size", "8", "--hidden", "16",
            "--encoder-layers", "1", "--decoder-layers", "1", "--heads", "2", "--ffn", "16", "--threads", "1",
            "--device", "cpu"]
    assert main(args) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(args) == 2  # there already: refused in one line
    assert "already exists; add --overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0
    capsys.readouterr()
    assert main(["eval", "caption", "--model", str(out), "--n", "3", "--device", "cpu"]) == 0
    report = capsys.readouterr().out
    assert "cap [layer 1 of 1, mean of heads]" in report and "cap [rollout, mean of heads]" in report
    image = tmp_path / "scene.png"
    Image.fromarray(generate_scene(3, 1, 32).image).save(image)
    assert main(["caption", str(image), "--model", str(out), "--device", "cpu"]) == 0


def test_settings_that_cannot_train_are_refused(tmp_path):
    from attnviewer.training.transformers import CaptionTransformerSettings, TranslateTransformerSettings

    with pytest.raises(SettingsError, match="folder"):
        TranslateTransformerSettings(out=str(tmp_path / "m.safetensors")).validate()
    with pytest.raises(SettingsError, match="multiple of --patch-size"):
        CaptionTransformerSettings(out=str(tmp_path / "m"), image_size=100, patch_size=16).validate()
    with pytest.raises(SettingsError, match="multiple of --heads"):
        TranslateTransformerSettings(out=str(tmp_path / "m"), hidden=30, heads=4).validate()


def test_the_command_refuses_data_for_a_transformer(tmp_path, capsys):
    assert main(["train", "translate", "--arch", "transformer", "--out", str(tmp_path / "m"), "--data", "x.tsv"]) == 2
    assert "generated data only" in capsys.readouterr().err


BUNDLED = {"caption": ("caption-shapes-vit", "caption-shapes"), "translate": ("translate-sov-marian", "translate-sov")}


@pytest.mark.parametrize("kind", sorted(BUNDLED))
def test_the_bundled_transformers_are_listed_loaded_and_offered_beside_the_lstm(kind):
    from attnviewer import catalog
    from attnviewer.models import registry

    name, lstm = BUNDLED[kind]
    folder = catalog.bundled(kind)[name]
    assert folder.is_dir() and catalog.kind_of(name) == kind and catalog.variants(name) == {}
    assert sum(p.stat().st_size for p in folder.iterdir()) < 10_000_000
    assert catalog.comparison(lstm) == name and catalog.comparison(name) == lstm
    record = json.loads((folder / "training.json").read_text())
    assert record["settings"]["seed"] == 0 and record["trained_by"].endswith("--arch transformer")
    model = registry.load(name, "cpu", kind=kind)
    assert model.name == name and model.n_layers == 3
