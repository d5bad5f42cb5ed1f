"""Every bad input gets one clear line on stderr naming the file, exit status 2, no traceback,
and no output file left behind (not even half-written)."""
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from attnviewer.cli import main
from attnviewer.models.checkpoint import read_metadata


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *needles):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("attnviewer: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def good_image(path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)).save(path)
    return path


def truncated_jpeg(path):
    buf = io.BytesIO()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(buf, "JPEG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


BAD_IMAGES = {
    "missing.png": (lambda p: p, "no such file"),
    "folder": (lambda p: (p.mkdir(), p)[1], "is a folder"),
    "empty.png": (lambda p: (p.write_bytes(b""), p)[1], "empty"),
    "cut.jpg": (truncated_jpeg, "truncated or corrupt"),
    "notes.png": (lambda p: (p.write_text("these are my notes, not a picture\n"), p)[1], "not an image"),
    "dot.png": (lambda p: (Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(p), p)[1], "1x1 pixels"),
}


@pytest.mark.parametrize("name", list(BAD_IMAGES))
def test_bad_image(tmp_path, capsys, tiny_checkpoint, name):
    make, needle = BAD_IMAGES[name]
    path = make(tmp_path / name)
    fig, js = tmp_path / "out.png", tmp_path / "out.json"
    code, out, err = run_cli(capsys, "caption", path, "--model", tiny_checkpoint, "--figure", fig, "--json", js)
    assert_one_line_error(code, err, str(path), needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({name} - {"missing.png"}), "left files behind"


def test_bad_image_among_good_ones_names_the_bad_one(tmp_path, capsys, tiny_checkpoint):
    good = good_image(tmp_path / "good.png")
    bad = truncated_jpeg(tmp_path / "bad.jpg")
    code, out, err = run_cli(capsys, "caption", good, bad, "--model", tiny_checkpoint)
    assert_one_line_error(code, err, str(bad))


def test_checkpoint_with_wrong_shapes(tmp_path, capsys, tiny_checkpoint):
    """A checkpoint whose config says one size and whose weights have another."""
    meta = read_metadata(tiny_checkpoint)
    config = json.loads(meta["config"])
    config["hidden_dim"] = config["hidden_dim"] * 2
    meta["config"] = json.dumps(config)
    broken = tmp_path / "broken.safetensors"
    save_file(load_file(tiny_checkpoint), broken, metadata=meta)
    code, out, err = run_cli(capsys, "caption", good_image(tmp_path / "a.png"), "--model", broken)
    assert_one_line_error(code, err, str(broken), "do not match its config")


def test_truncated_checkpoint(tmp_path, capsys, tiny_checkpoint):
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(tiny_checkpoint.read_bytes()[:5000])
    code, out, err = run_cli(capsys, "caption", good_image(tmp_path / "a.png"), "--model", cut)
    assert_one_line_error(code, err, str(cut))


def test_pickle_checkpoint_is_refused_and_never_unpickled(tmp_path, capsys, tiny_checkpoint):
    # A pickle whose loading would create a file: proof that it was (not) unpickled.
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "model.pt"
    torch.save({"payload": Evil()}, evil)
    code, out, err = run_cli(capsys, "caption", good_image(tmp_path / "a.png"), "--model", evil)
    assert_one_line_error(code, err, str(evil), "pickle", "--trust-pickle")
    assert not marker.exists()


def test_trusted_pickle_checkpoint_loads_with_the_flag(tmp_path, capsys, tiny_checkpoint):
    meta = read_metadata(tiny_checkpoint)
    blob = {"kind": "caption", "config": json.loads(meta["config"]), "vocab": json.loads(meta["vocab"]),
            "state_dict": load_file(tiny_checkpoint)}
    path = tmp_path / "trusted.pth"
    torch.save(blob, path)
    image = good_image(tmp_path / "a.png")
    code, out, err = run_cli(capsys, "caption", image, "--model", path, "--trust-pickle", "--greedy")
    assert code == 0, err
    code2, out2, _ = run_cli(capsys, "caption", image, "--model", tiny_checkpoint, "--greedy")
    assert out.splitlines()[0] == out2.splitlines()[0]  # same weights, same caption


@pytest.mark.parametrize("damage, needle", [
    (lambda b: b.update(state_dict={k: v.numpy() for k, v in b["state_dict"].items()}), "map names to tensors"),
    (lambda b: b.update(state_dict=list(b["state_dict"].values())), "map names to tensors"),
    (lambda b: b.update(config="not a dict"), "bad config"),
    (lambda b: b.update(vocab=b["vocab"][:-1]), "vocab has"),
    (lambda b: b.update(vocab=[object()] * len(b["vocab"])), "bad config"),
    (lambda b: b.update(kind=["caption"]), "unknown model kind"),
])
def test_a_trusted_pickle_holding_the_wrong_things_is_one_line(tmp_path, capsys, tiny_checkpoint, damage, needle):
    meta = read_metadata(tiny_checkpoint)
    blob = {"kind": "caption", "config": json.loads(meta["config"]), "vocab": json.loads(meta["vocab"]),
            "state_dict": load_file(tiny_checkpoint)}
    damage(blob)
    path = tmp_path / "trusted.pth"
    torch.save(blob, path)
    code, out, err = run_cli(capsys, "caption", good_image(tmp_path / "a.png"), "--model", path, "--trust-pickle")
    assert_one_line_error(code, err, str(path), needle)


def test_unknown_model_name(tmp_path, capsys):
    code, out, err = run_cli(capsys, "caption", good_image(tmp_path / "a.png"), "--model", "no-such-model")
    assert_one_line_error(code, err, "no-such-model", "bundled models:")


def test_beam_width_zero(tmp_path, capsys, tiny_checkpoint):
    code, out, err = run_cli(capsys, "caption", good_image(tmp_path / "a.png"), "--model", tiny_checkpoint,
                             "--beam", "0", "--figure", tmp_path / "f.png")
    assert_one_line_error(code, err, "beam width must be at least 1")
    assert not (tmp_path / "f.png").exists()


def test_cuda_without_gpu(tmp_path, capsys, tiny_checkpoint):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, out, err = run_cli(capsys, "caption", good_image(tmp_path / "a.png"), "--model", tiny_checkpoint,
                             "--device", "cuda")
    assert_one_line_error(code, err, "no CUDA GPU")


def test_unwritable_output_folder(tmp_path, capsys, tiny_checkpoint):
    code, out, err = run_cli(capsys, "caption", good_image(tmp_path / "a.png"), "--model", tiny_checkpoint,
                             "--figure", tmp_path / "no" / "such" / "f.png")
    assert_one_line_error(code, err, "does not exist")


def test_real_process_prints_no_traceback(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("hello")
    proc = subprocess.run([sys.executable, "-m", "attnviewer", "caption", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"attnviewer: error: {bad}: not an image (the file holds text)"


def test_app_without_a_display_says_so_in_one_line(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, "-m", "attnviewer"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnviewer: error: no display"), proc.stderr


def test_safetensors_whose_header_length_starts_like_a_pickle_still_loads(tmp_path, tiny_checkpoint):
    """A safetensors header length with low byte 0x80 (1 file in 32) is not a pickle."""
    from attnviewer.models.checkpoint import load_checkpoint, sniff

    meta = read_metadata(tiny_checkpoint)
    state = load_file(tiny_checkpoint)
    for pad in range(0, 300):  # grow the metadata until the header length is 0x..80
        meta["note"] = "x" * pad
        path = tmp_path / "padded.safetensors"
        save_file(state, path, metadata=meta)
        if path.read_bytes()[0] == 0x80:
            break
    assert path.read_bytes()[0] == 0x80
    assert sniff(path) == "safetensors"
    load_checkpoint(path)


def test_saved_checkpoint_is_readable_by_others_and_written_atomically(tmp_path, monkeypatch):
    import errno as errno_mod

    import safetensors.torch

    from attnviewer.errors import OutputError
    from attnviewer.models.checkpoint import save_checkpoint

    from .helpers import tiny_captioner

    path = tmp_path / "m.safetensors"
    save_checkpoint(tiny_captioner(), path)
    assert path.stat().st_mode & 0o044  # group/other may read it, like any file the user writes

    def full_disk(*a, **k):
        raise OSError(errno_mod.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", full_disk)
    with pytest.raises(OutputError, match="disk is full"):
        save_checkpoint(tiny_captioner(), tmp_path / "n.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]
