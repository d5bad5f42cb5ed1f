"""The caption command on real files: what it prints and the JSON and figures it writes."""
import sys
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from attnviewer.cli import main


def caption(capsys, *args):
    code = main(["caption", *map(str, args)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_prints_caption_with_word_probabilities(capsys, samples, tiny_checkpoint):
    out = caption(capsys, samples[0], "--model", tiny_checkpoint, "--greedy")
    first, words = out.splitlines()[:2]
    assert first.startswith(f"{samples[0]}: ")
    caption_words = first.split(": ", 1)[1].split()
    shown = words.split()
    assert shown[0::2] == caption_words  # "word (0.93)" for each word
    assert all(0.0 < float(p.strip("()")) <= 1.0 for p in shown[1::2])


def test_json_holds_every_word_with_its_attention(tmp_path, capsys, samples, tiny_checkpoint):
    out_json = tmp_path / "r.json"
    caption(capsys, samples[0], "--model", tiny_checkpoint, "--beam", "3", "--json", out_json)
    data = json.loads(out_json.read_text())
    assert data["settings"]["method"] == "beam" and data["settings"]["beam"] == 3
    assert data["source"] == str(samples[0])
    hyps = data["hypotheses"]
    assert 1 <= len(hyps) <= 3
    assert [h["score"] for h in hyps] == sorted((h["score"] for h in hyps), reverse=True)
    gh, gw = data["attention_shape"]
    for word in hyps[0]["words"]:
        att = np.array(word["attention"])
        assert att.shape == (gh, gw)
        assert abs(att.sum() - 1) < 1e-4
        assert len(word["alternatives"]) == 5 and 0 < word["prob"] <= 1


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_figure_has_a_panel_per_word(tmp_path, capsys, samples, tiny_checkpoint, fmt):
    fig = tmp_path / f"fig.{fmt}"
    out = caption(capsys, samples[0], "--model", tiny_checkpoint, "--greedy", "--figure", fig)
    n_words = len(out.splitlines()[0].split(": ", 1)[1].split())
    assert fig.exists() and not list(tmp_path.glob(".*part"))
    if fmt == "png":
        with Image.open(fig) as im:
            assert im.size[0] > 300
    elif fmt == "svg":
        root = ET.parse(fig).getroot()
        images = [e for e in root.iter() if e.tag.endswith("image")]
        # the input once, then per word the image and its overlay
        assert len(images) == 1 + 2 * n_words
        texts = "".join(root.itertext())
        assert "input" in texts or "tiny" in texts
    else:
        assert fig.read_bytes()[:5] == b"%PDF-"


def test_several_images_get_one_output_each(tmp_path, capsys, samples, tiny_checkpoint):
    out = caption(capsys, *samples[:2], "--model", tiny_checkpoint, "--json", tmp_path / "r.json")
    assert out.count("wrote") == 2
    assert sorted(p.name for p in tmp_path.glob("*.json")) == sorted(f"r-{s.stem}.json" for s in samples[:2])


def test_sampling_with_a_seed_is_reproducible(capsys, samples, tiny_checkpoint):
    a = caption(capsys, samples[1], "--model", tiny_checkpoint, "--sample", "1.5", "--seed", "3")
    b = caption(capsys, samples[1], "--model", tiny_checkpoint, "--sample", "1.5", "--seed", "3")
    assert a == b


def test_score_picks_the_bundled_variant(tmp_path, capsys, samples):
    out_json = tmp_path / "dot.json"
    caption(capsys, samples[0], "--score", "dot", "--greedy", "--json", out_json)
    assert json.loads(out_json.read_text())["model"] == "caption-shapes-dot"
    code = main(["caption", str(samples[0]), "--score", "general"])
    err = capsys.readouterr().err
    assert code == 2 and "no variant with general attention (available: additive, dot)" in err


def test_eval_reports_captions_and_pointing_next_to_the_baselines(tmp_path, capsys, bundled_model_path):
    out = tmp_path / "report.json"
    assert main(["eval", "caption", "--model", "caption-shapes", "--n", "12", "--seed", "7",
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "12 held-out scenes (seed 7)" in printed and "pointing cell" in printed
    report = json.loads(out.read_text())
    model, uniform = report["caption-shapes"], report["uniform baseline"]
    assert model["words"] >= 30 and 0.0 <= model["exact match"] <= 1.0
    assert model["pointing cell"] > uniform["pointing cell"] + 0.5
    assert model["pointing pixel"] > report["centre baseline"]["pointing pixel"] + 0.5


def test_eval_of_an_unknown_model_is_one_line(capsys):
    assert main(["eval", "caption", "--model", "no-such-model", "--n", "2"]) == 2
    err = capsys.readouterr().err
    assert "no-such-model" in err and len(err.strip().splitlines()) == 1


def test_a_bug_or_a_system_error_is_one_line_never_a_traceback(monkeypatch, capsys):
    from attnviewer import cli

    def bug(args):
        raise TypeError("unsupported operand\nsecond line")

    monkeypatch.setattr(sys, "argv", ["attnviewer", "export", "x.json"])
    monkeypatch.setitem(cli.COMMANDS, "export", bug)
    monkeypatch.delenv("ATTNVIEWER_DEBUG", raising=False)
    with pytest.raises(SystemExit) as e:
        cli.main_entry()
    err = capsys.readouterr().err
    assert e.value.code == 70 and err.count("\n") == 1 and "Traceback" not in err
    assert "internal error: TypeError: unsupported operand" in err and "ATTNVIEWER_DEBUG=1" in err

    def full_disk(args):
        raise OSError(28, "No space left on device", "/tmp/out.png")

    monkeypatch.setitem(cli.COMMANDS, "export", full_disk)
    assert cli.main(["export", "x.json"]) == 2
    assert capsys.readouterr().err == "attnviewer: error: No space left on device: /tmp/out.png\n"
