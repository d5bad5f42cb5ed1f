"""Captioning a whole folder: outputs per image, bad files skipped with a warning, a summary,
and a second run that continues where the first stopped without replacing anything."""
import io
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from attnviewer.cli import folder as batch
from attnviewer.cli.folder import Progress, find_images, output_stems
from attnviewer.cli import main
from attnviewer.export.data import load_result
from attnviewer.models import registry


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def folder(tmp_path, samples):
    """Three good images (one JPEG), a text file posing as a PNG, and a file that is no image."""
    d = tmp_path / "in"
    d.mkdir()
    for s in samples[:2]:
        (d / s.name).write_bytes(s.read_bytes())
    with Image.open(samples[2]) as im:
        im.convert("RGB").save(d / "c-photo.jpg", quality=90)
    (d / "broken.png").write_text("not a picture\n")
    (d / "notes.txt").write_text("ignored: not an image suffix\n")
    return d


def summary(out: str) -> str:
    return out.strip().splitlines()[-1]


def caption_folder(capsys, folder, out, model, *extra):
    return cli(capsys, "caption", folder, "--out", out, "--model", model, "--greedy", "--dpi", "40",
               "--panel-size", "1", *extra)


def test_folder_is_captioned_image_by_image(tmp_path, capsys, folder, tiny_checkpoint):
    out = tmp_path / "out"
    code, stdout, err = caption_folder(capsys, folder, out, tiny_checkpoint, "--figure-format", "svg")
    assert code == 0, err
    assert summary(stdout).startswith("3 done, 1 skipped, 0 already done")
    assert err.strip().splitlines() == [f"attnviewer: warning: {folder / 'broken.png'}: not an image "
                                        "(the file holds text); skipped"]
    stems = ["c-photo", "shapes-1", "shapes-2"]
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{s}{x}" for s in stems for x in (".json", ".npz", ".svg"))
    for s in stems:
        result = load_result(out / f"{s}.json")
        assert result.source == str(next(folder.glob(f"{s}.*")).resolve())
        root = ET.parse(out / f"{s}.svg").getroot()
        assert len([e for e in root.iter() if e.tag.endswith("}image")]) == 1 + 2 * len(result.best.tokens)
        assert f"{folder / s}" in stdout  # each caption is printed
    assert not list(out.glob(".*part"))


def test_second_run_continues_where_the_first_stopped(tmp_path, capsys, folder, tiny_checkpoint, monkeypatch):
    out = tmp_path / "out"
    code, stdout, err = caption_folder(capsys, folder, out, tiny_checkpoint, "--figure-format", "pdf")
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def no_model(*args, **kwargs):
        raise AssertionError("the model should not be loaded: everything is done")

    monkeypatch.setattr(registry, "load", no_model)
    code, stdout, err = caption_folder(capsys, folder, out, tiny_checkpoint, "--figure-format", "pdf")
    assert code == 0, err
    assert summary(stdout).startswith("0 done, 1 skipped, 3 already done")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing rewritten

    # A figure lost: it is drawn again from the saved result, still without the model.
    (out / "shapes-2.pdf").unlink()
    code, stdout, err = caption_folder(capsys, folder, out, tiny_checkpoint, "--figure-format", "pdf")
    assert code == 0, err
    assert summary(stdout).startswith("1 done, 1 skipped, 2 already done")
    assert (out / "shapes-2.pdf").read_bytes()[:5] == b"%PDF-"
    assert (out / "shapes-2.json").read_bytes() == before["shapes-2.json"]


def test_the_npz_alone_knows_its_image_changed_since(tmp_path, capsys, samples, tiny_checkpoint):
    """The NPZ's copy of the record holds `input` too: with the JSON gone, a picture replaced under the
    same name is not taken for the one the NPZ was made from."""
    d, out = tmp_path / "in", tmp_path / "out"
    d.mkdir()
    pic = d / "pic.png"
    pic.write_bytes(samples[0].read_bytes())
    code, stdout, err = caption_folder(capsys, d, out, tiny_checkpoint, "--figure-format", "none")
    assert code == 0, err
    with np.load(out / "pic.npz") as z:
        stamp = json.loads(str(z["result"]))["input"]
    assert stamp == json.loads((out / "pic.json").read_text("utf-8"))["input"]
    assert (stamp["path"], stamp["size"]) == (str(pic.resolve()), pic.stat().st_size)
    (out / "pic.json").unlink()
    pic.write_bytes(samples[1].read_bytes())  # another picture under the same name
    code, stdout, err = caption_folder(capsys, d, out, tiny_checkpoint, "--figure-format", "none")
    assert code == 0, err
    assert summary(stdout).startswith("0 done, 1 skipped, 0 already done")
    assert len(err.strip().splitlines()) == 1 and "changed since" in err and "--overwrite" in err, err
    assert sorted(p.name for p in out.iterdir()) == ["pic.npz"]


def test_interrupted_run_resumes(tmp_path, capsys, folder, tiny_checkpoint, monkeypatch):
    out = tmp_path / "out"
    real_render = batch._render
    calls = []

    def render_then_stop(it, *args, **kwargs):
        if len(calls) == 1:
            raise KeyboardInterrupt  # Ctrl-C while the second image is written
        calls.append(it)
        return real_render(it, *args, **kwargs)

    monkeypatch.setattr(batch, "_render", render_then_stop)
    code, stdout, err = caption_folder(capsys, folder, out, tiny_checkpoint, "--batch-size", "2")
    assert code == 130
    assert "interrupted: 1 done" in err and "run the same command again" in err
    assert sorted(p.name for p in out.iterdir()) == ["c-photo.json", "c-photo.npz", "c-photo.png"]
    monkeypatch.setattr(batch, "_render", real_render)
    code, stdout, err = caption_folder(capsys, folder, out, tiny_checkpoint, "--batch-size", "2")
    assert code == 0, err
    assert summary(stdout).startswith("2 done, 1 skipped, 1 already done")
    assert len(list(out.iterdir())) == 9 and not list(out.glob(".*part"))


def test_overwrite_redoes_everything(tmp_path, capsys, folder, tiny_checkpoint):
    out = tmp_path / "out"
    caption_folder(capsys, folder, out, tiny_checkpoint, "--figure-format", "none")
    assert sorted(p.suffix for p in out.iterdir()) == [".json"] * 3 + [".npz"] * 3
    code, stdout, err = caption_folder(capsys, folder, out, tiny_checkpoint, "--figure-format", "none", "--overwrite")
    assert code == 0, err
    assert summary(stdout).startswith("3 done, 1 skipped, 0 already done")


def test_batches_give_the_same_captions(tmp_path, capsys, folder, tiny_checkpoint):
    texts = []
    for size in ("1", "3"):
        out = tmp_path / f"out{size}"
        code, stdout, err = caption_folder(capsys, folder, out, tiny_checkpoint, "--figure-format", "none",
                                           "--batch-size", size)
        assert code == 0, err
        texts.append({p.name: load_result(p).best.tokens for p in sorted(out.glob("*.json"))})
    assert texts[0] == texts[1] and len(texts[0]) == 3


def test_animations_for_a_folder(tmp_path, capsys, folder, tiny_checkpoint):
    out = tmp_path / "out"
    code, stdout, err = caption_folder(capsys, folder, out, tiny_checkpoint, "--figure-format", "png",
                                       "--animation-format", "gif", "--frame-size", "48")
    assert code == 0, err
    for js in out.glob("*.json"):
        with Image.open(js.with_suffix(".gif")) as gif:
            assert gif.n_frames == len(json.loads(js.read_text())["hypotheses"][0]["tokens"])


def test_images_sharing_a_name_get_their_own_outputs(tmp_path, capsys, samples, tiny_checkpoint):
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.png").write_bytes(samples[0].read_bytes())
    with Image.open(samples[1]) as im:
        im.convert("RGB").save(d / "a.jpg")
    out = tmp_path / "out"
    code, stdout, err = caption_folder(capsys, d, out, tiny_checkpoint, "--figure-format", "none")
    assert code == 0, err
    assert sorted(p.name for p in out.glob("*.json")) == ["a.jpg.json", "a.png.json"]
    assert output_stems([d / "x" / "a.png", d / "y" / "a.png", d / "b.png"]) == ["a.png", "a.png-2", "b"]


def test_folder_without_out_names_the_option(tmp_path, capsys, folder, tiny_checkpoint):
    code, stdout, err = cli(capsys, "caption", folder, "--model", tiny_checkpoint)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{folder}: is a folder" in err and "--out OUTDIR" in err


@pytest.mark.parametrize("setup, args, message", [
    (lambda t: (t / "empty").mkdir(), ["empty", "--out", "o"], "no images found"),
    (lambda t: (t / "o").write_text("x"), ["in", "--out", "o"], "is a file"),
    (lambda t: None, ["in", "--out", "no/such/o"], "does not exist"),
    (lambda t: None, ["in", "--out", "o", "--figure", "f.png"], "--figure name one file"),
    (lambda t: None, ["in", "--figure-format", "pdf"], "add --out OUTDIR"),
    (lambda t: None, ["in", "--out", "o", "--batch-size", "0"], "batch size"),
])
def test_folder_mistakes_are_clear(tmp_path, capsys, folder, tiny_checkpoint, monkeypatch, setup, args, message):
    monkeypatch.chdir(tmp_path)
    setup(tmp_path)
    code, stdout, err = cli(capsys, "caption", *args, "--model", tiny_checkpoint)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err


def test_find_images_sorts_and_filters(folder):
    assert [p.name for p in find_images([str(folder)])] == ["broken.png", "c-photo.jpg", "shapes-1.png",
                                                            "shapes-2.png"]


def test_progress_bar_keeps_below_printed_lines():
    stream = io.StringIO()
    bar = Progress(4, stream=stream, enabled=True)
    bar.advance()
    bar.advance(3)
    bar.close()
    text = stream.getvalue()
    assert "0/4 [" in text and "1/4 [" in text and "4/4 [" in text and "100%" in text
    assert text.endswith("\r\033[K")  # the bar is wiped at the end
    quiet = io.StringIO()
    bar = Progress(4, stream=quiet)  # not a terminal: no bar
    bar.advance(4)
    bar.close()
    assert quiet.getvalue() == ""


def test_full_disk_stops_the_folder_with_one_line(tmp_path, capsys, folder, tiny_checkpoint, monkeypatch):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", full)
    out = tmp_path / "out"
    code, stdout, err = caption_folder(capsys, folder, out, tiny_checkpoint)
    assert code == 2
    assert err.strip().splitlines()[-1] == f"attnviewer: error: {out / 'c-photo.npz'}: cannot write, the disk is full"
    assert list(out.iterdir()) == []


def test_unknown_model_is_named_before_any_folder_is_made(tmp_path, capsys, folder):
    code, stdout, err = cli(capsys, "caption", folder, "--out", tmp_path / "out", "--model", "no-such-model")
    assert code == 2 and "no-such-model" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
