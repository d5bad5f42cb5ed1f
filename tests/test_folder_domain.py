"""The bundled transformers know their domain too (domain.json beside config.json): a picture or a
sentence unlike their generated training data gets the same one-line note as the LSTM models'; a
damaged or hostile record gives no note and never stops the caption. And a word-level tokenizer's
unknown words stay words of their own, spelled as the sentence has them."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("transformers")

from attnviewer.data.synthetic import generate_scene  # noqa: E402
from attnviewer.models.registry import DOMAIN_FILE, folder_domain  # noqa: E402
from attnviewer.resources import resource_dir  # noqa: E402

from .test_domain import notes, run_cli  # noqa: E402

VIT = "caption-shapes-vit"
MARIAN = "translate-sov-marian"


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    Image.fromarray(generate_scene(4040, 3).image).save(folder / "scene.png")
    half = np.zeros((120, 160, 3), np.uint8)
    half[:, :80] = (200, 30, 30)
    Image.fromarray(half).save(folder / "half.png")
    return folder


def test_the_bundled_vit_captioner_tells_an_unlike_picture_and_not_a_scene(capsys, pictures):
    out = run_cli(capsys, "caption", pictures / "scene.png", pictures / "half.png", "--model", VIT)
    [line] = notes(out)
    assert "looks unlike the generated scenes of coloured shapes caption-shapes-vit" in line
    assert "typical up to" in line and line.endswith("the caption is a guess")


def test_the_bundled_marian_tells_unknown_words_and_keeps_them_as_words(capsys):
    out = run_cli(capsys, "translate", "the quick brown fox jumps over the lazy dog", "--model", MARIAN)
    [line] = notes(out)
    assert "6 of 9 words unknown" in line and "translate-sov-marian" in line
    aligned = next(x for x in out.splitlines() if x.strip().startswith("aligned:"))
    sources = {pair.split("<-")[1] for pair in aligned.split()[1:]}
    assert sources <= set("the quick brown fox jumps over the lazy dog".split()), aligned
    assert notes(run_cli(capsys, "translate", "the old teacher will paint some small red boats near the river",
                         "--model", MARIAN)) == []


def test_unknown_words_are_tiles_of_their_own():
    from attnviewer.models.registry import load

    model = load(MARIAN, "cpu", kind="translate")
    assert model.sentence_words("the quick teacher zebra") == ["the", "quick", "teacher", "zebra"]
    assert model.unknown_words(["the", "quick", "teacher", "zebra"]) == ["quick", "zebra"]


@pytest.mark.parametrize("content", ["not json", "[1, 2]", "{" * 5000 + "}" * 5000, "x" * 2_000_000, "fifo", "link"])
def test_a_damaged_record_means_no_note(tmp_path, content):
    path = tmp_path / DOMAIN_FILE
    if content == "fifo":
        os.mkfifo(path)
    elif content == "link":
        (tmp_path / "elsewhere.json").write_text('{"version": 1}')
        path.symlink_to(tmp_path / "elsewhere.json")
    else:
        path.write_text(content)
    assert folder_domain(tmp_path) is None


def test_the_record_reads_back():
    rec = folder_domain(resource_dir() / "models" / VIT)
    assert rec["kind"] == "caption" and rec["feature"] == "the encoder's output tokens, mean-pooled"
