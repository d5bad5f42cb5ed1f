"""Captioning a folder under torchrun: the ranks split it (each image written by exactly one of
them), share no file, and a rerun after a rank was killed, with any number of ranks, does the rest."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attnviewer.cli import main
from attnviewer.cli.ranks import NEEDS, owner
from attnviewer.torchrun import World, world_from_env

N_IMAGES = 8
KINDS = (".json", ".npz", ".png")
ROOT = Path(__file__).resolve().parent.parent
TEMP = re.compile(r"^\..*\.part")


@pytest.fixture
def folder(tmp_path):
    """Eight small generated images, each different."""
    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.default_rng(7)
    for i in range(N_IMAGES):
        Image.fromarray(rng.integers(0, 256, (40 + i, 56, 3), dtype=np.uint8)).save(d / f"img-{i}.png")
    return d


def command(folder, out, model):
    return [sys.executable, "-m", "attnviewer", "caption", str(folder), "--out", str(out), "--model", str(model),
            "--greedy", "--dpi", "30", "--panel-size", "1", "--batch-size", "1"]


def env_of(rank=None, world=None):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    if rank is not None:
        env.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    return env


def summaries(text: str) -> dict[int, tuple[int, int, int]]:
    """rank -> (done, skipped, already done), from the ranks' summary lines."""
    found = re.findall(r"^rank (\d+) of \d+: (\d+) done, (\d+) skipped, (\d+) already done", text, re.M)
    return {int(r): (int(a), int(b), int(c)) for r, a, b, c in found}


def assert_complete(folder, out):
    """Every image has each of its outputs once, made from itself; nothing else is in OUT."""
    images = sorted(folder.glob("*.png"))
    expected = {f"{p.stem}{s}" for p in images for s in KINDS}
    names = os.listdir(out)
    assert sorted(names) == sorted(expected), "missing, extra or temporary files"
    for p in images:
        data = json.loads((out / f"{p.stem}.json").read_text())
        assert data["source"] == str(p.resolve())


def test_shares_are_fixed_by_the_name_alone():
    names = [f"img-{i}" for i in range(200)]
    for world in (1, 2, 3, 5):
        counts = [sum(owner(n, world) == r for n in names) for r in range(world)]
        assert sum(counts) == len(names) and min(counts) > 0
        # the same owner in another process: no per-process salt
        code = f"from attnviewer.cli.ranks import owner; print([owner(n, {world}) for n in {names!r}])"
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env_of(),
                               check=True).stdout
        assert other.strip() == str([owner(n, world) for n in names])


def test_torchrun_ranks_write_each_output_exactly_once(tmp_path, folder, tiny_checkpoint):
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          *command(folder, out, tiny_checkpoint)[1:]],
                         capture_output=True, text=True, env=env_of(), timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert_complete(folder, out)
    ranks = summaries(run.stdout)
    assert set(ranks) == {0, 1}
    # each rank wrote its own share, none twice: the images written add up to the folder
    assert sum(done for done, _, _ in ranks.values()) == N_IMAGES
    assert all(done > 0 for done, _, _ in ranks.values())
    for i in range(N_IMAGES):
        assert run.stdout.count(f"img-{i}.png:") == 1  # captioned by one rank only
    # no GPU here: every rank ran on the CPU (with one, rank r's JSON would say cuda:r)
    devices = {json.loads((out / f"img-{i}.json").read_text())["settings"]["device"] for i in range(N_IMAGES)}
    assert devices == {"cpu"}


def test_resume_after_a_rank_was_killed_with_other_world_size(tmp_path, folder, tiny_checkpoint):
    out = tmp_path / "out"
    mine = {r: [p.stem for p in sorted(folder.glob("*.png")) if owner(p.stem, 2) == r] for r in (0, 1)}
    assert len(mine[1]) >= 2
    procs = {r: subprocess.Popen(command(folder, out, tiny_checkpoint), env=env_of(r, 2), cwd=tmp_path,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in (0, 1)}
    # kill rank 1 hard while it writes its first image (its temporaries are there)
    deadline = time.monotonic() + 120
    while procs[1].poll() is None and time.monotonic() < deadline:
        names = os.listdir(out) if out.is_dir() else []
        if any(n.startswith(f".{mine[1][0]}.") for n in names):
            break
        time.sleep(0.005)
    procs[1].send_signal(signal.SIGKILL)
    procs[1].communicate()
    stdout0, stderr0 = procs[0].communicate(timeout=300)
    assert procs[0].returncode == 0, stderr0
    assert summaries(stdout0)[0] == (len(mine[0]), 0, 0)
    unfinished = [s for s in mine[1] if not (out / f"{s}.png").exists()]
    assert unfinished, "rank 1 finished before it was killed"
    before = {n: (out / n).stat().st_mtime_ns for n in os.listdir(out) if not TEMP.match(n)}

    # the rerun, with three ranks this time: each unfinished image is made once, nothing else
    resume = {r: subprocess.Popen(command(folder, out, tiny_checkpoint), env=env_of(r, 3), cwd=tmp_path,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(3)}
    outs = {r: p.communicate(timeout=300) for r, p in resume.items()}
    assert all(p.returncode == 0 for p in resume.values()), [e for _, e in outs.values()]
    ranks = {r: summaries(o)[r] for r, (o, _) in outs.items()}
    assert sum(done for done, _, _ in ranks.values()) == len(unfinished)
    assert sum(done + already for done, _, already in ranks.values()) == N_IMAGES
    assert_complete(folder, out)  # no temporaries left by the killed rank
    # what was finished before the kill was not written again
    assert {n: (out / n).stat().st_mtime_ns for n in before} == before


def test_a_rank_leaves_the_other_ranks_temporaries_alone(tmp_path, folder, tiny_checkpoint, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    stems = [p.stem for p in sorted(folder.glob("*.png"))]
    own = next(s for s in stems if owner(s, 2) == 0)
    other = next(s for s in stems if owner(s, 2) == 1)
    stale = out / f".{own}.json.AbCd1234.part"
    live = out / f".{other}.png.EfGh5678.part.png"  # rank 1 may be writing it right now
    stale.write_text("{")
    live.write_bytes(b"\x89PNG")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    code = main([str(a) for a in command(folder, out, tiny_checkpoint)[3:]])
    stdout, _ = capsys.readouterr()
    assert code == 0
    assert not stale.exists() and live.exists()
    assert summaries(stdout)[0][0] == sum(owner(s, 2) == 0 for s in stems)
    assert (out / f"{own}.json").exists() and not (out / f"{other}.json").exists()


@pytest.mark.parametrize("env, message", [
    ({"RANK": "2", "WORLD_SIZE": "2"}, "RANK=2 in the environment, but WORLD_SIZE=2 allows ranks 0 to 1"),
    ({"RANK": "0"}, "RANK set in the environment but not WORLD_SIZE"),
    ({"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x' in the environment is not a whole number"),
    ({"RANK": "0", "WORLD_SIZE": "0"}, "WORLD_SIZE=0 in the environment"),
])
def test_impossible_rank_settings_are_one_line(tmp_path, folder, tiny_checkpoint, monkeypatch, capsys, env, message):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = main([str(a) for a in command(folder, tmp_path / "out", tiny_checkpoint)[3:]])
    _, err = capsys.readouterr()
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_no_torchrun_means_the_whole_folder():
    assert world_from_env({}, NEEDS) == World(0, 1, 0)
    assert world_from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}, NEEDS) == World(3, 4, 1)
    assert world_from_env({"RANK": "3", "WORLD_SIZE": "4"}, NEEDS) == World(3, 4, 3)  # one machine


def test_single_images_under_torchrun_are_written_by_rank_0_alone(tmp_path, folder, tiny_checkpoint, monkeypatch,
                                                                   capsys):
    figure, result = tmp_path / "out" / "fig.png", tmp_path / "out" / "r.json"
    figure.parent.mkdir()
    args = ["caption", str(folder / "img-0.png"), "--model", str(tiny_checkpoint), "--greedy", "--figure", str(figure),
            "--json", str(result), "--dpi", "30", "--panel-size", "1"]
    for rank in (1, 0):  # as torchrun --nproc_per_node 2 starts them
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("LOCAL_RANK", str(rank))
        code = main(args)
        said = capsys.readouterr().out
        assert code == 0
        if rank == 1:
            assert os.listdir(figure.parent) == [] and said == ""  # nothing written, nothing printed
    assert sorted(os.listdir(figure.parent)) == ["fig.png", "r.json", "r.npz"]
    assert said.startswith(f"{folder / 'img-0.png'}: ")


@pytest.mark.parametrize("command", [
    ["video", str(Path(__file__).parents[1] / "resources" / "samples" / "clip-1.mp4")],
    ["translate", "the cat sees the dog ."],
])
def test_a_clip_or_a_sentence_under_torchrun_is_written_by_rank_0_alone(tmp_path, monkeypatch, capsys, command):
    figure = tmp_path / "out" / "fig.png"
    figure.parent.mkdir()
    args = command + ["--greedy", "--figure", str(figure), "--dpi", "30"]
    for rank in (1, 0):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        assert main(args) == 0
        said = capsys.readouterr().out
        if rank == 1:
            assert os.listdir(figure.parent) == [] and said == ""
    assert os.listdir(figure.parent) == ["fig.png"] and said


def test_training_on_generated_data_under_torchrun_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", "translate", "--out", str(tmp_path / "t.safetensors")]) == 2
    said = capsys.readouterr().err.strip().splitlines()
    assert said == ["attnviewer: error: training on generated data runs in one process; under torchrun give --data"]
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("command", [["video", "clip.mp4"], ["translate", "the cat sees the dog ."]])
def test_a_bad_setting_under_torchrun_is_an_error_on_every_rank(monkeypatch, capsys, command):
    for rank in (1, 0):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        assert main(command + ["--beam", "0"]) == 2  # not 0 on rank 1 and 2 on rank 0
        assert "beam width must be at least 1" in capsys.readouterr().err
