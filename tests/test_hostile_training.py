"""Hostile training states (issue 21, "training state trusted"): a `--resume` state that was
damaged or tampered with is refused before any of it is used, with exit status 2 and one line
("the resume state is damaged: ...; start again without --resume or point --out elsewhere"), and
the previous outputs (the best model, the state itself) are left as they were.

A real state is made once by `attnviewer train translate`; hypothesis tampers with it class by
class (keys missing or extra, a value of another type, an RNG state empty or foreign, a negative
count, NaN or infinity in a weight or an optimizer moment, a tensor of another shape). COUNTS
holds the cases per class (written to $ATTNVIEWER_HOSTILE_COUNTS when set).
"""
from __future__ import annotations

import contextlib
import copy
import errno
import io
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attnviewer.cli import main
from attnviewer.errors import TrainingStateError
from attnviewer.training.loop import state_path

from .corpora import pairs_tsv

CASES = settings(max_examples=8, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
COUNTS: Counter = Counter()
TRAIN = ["--hidden-dim", "16", "--min-count", "1", "--batch-size", "8", "--epochs", "2", "--seed", "0"]
HOW = "start again without --resume or point --out elsewhere"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def train(data: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    """`attnviewer train translate` in this process: exit status, stdout, stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["train", "translate", "--data", str(data), "--out", str(out), *TRAIN, *extra])
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(the pairs file, the best model's bytes, the real state as loaded) of a 2-step run."""
    tmp = tmp_path_factory.mktemp("made")
    data = pairs_tsv(tmp, n_pairs=16)
    out = tmp / "m.safetensors"
    code, said, err = train(data, out, "--max-steps", "2")
    assert code == 0, err
    yield data, out.read_bytes(), torch.load(state_path(out), weights_only=True)
    target = os.environ.get("ATTNVIEWER_HOSTILE_COUNTS")
    if target:
        Path(target).write_text(json.dumps(dict(sorted(COUNTS.items())), indent=1))


def refused(cls: str, made, state, tmp_path: Path, says: str = "the resume state is damaged") -> str:
    """Write `state` as the training state beside a copy of the best model, resume, and check the
    refusal: exit 2, one line, nothing written or changed. The line."""
    COUNTS[cls] += 1
    data, best, _ = made
    folder = Path(tmp_path) / f"case{COUNTS[cls]}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    out = folder / "m.safetensors"
    out.write_bytes(best)
    state_path(out).parent.mkdir()
    if isinstance(state, bytes):
        state_path(out).write_bytes(state)
    else:
        torch.save(state, state_path(out))
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    code, said, err = train(data, out, "--resume", "--max-steps", "4")
    lines = err.strip().splitlines()
    assert code == 2, (cls, said, err)
    assert len(lines) == 1 and lines[0].startswith("attnviewer: error: "), err
    assert says in lines[0], lines[0]
    assert "Traceback" not in err and "internal error" not in err
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before  # nothing written
    return lines[0]


# ---- where to tamper: every place in the state's plain records --------------------------------

def places(value, where=()):
    """Paths to every dict and list in the state's plain records (not the tensors' tables)."""
    if isinstance(value, dict):
        yield where
        for k, v in value.items():
            if where == () and k == "model":
                continue
            if not (where[:1] == ("optimizer",) and len(where) >= 2 and where[1] == "state" and len(where) >= 3):
                yield from places(v, where + (k,))
    elif isinstance(value, list) and len(value) < 20:
        yield where
        for i, v in enumerate(value):
            yield from places(v, where + (i,))


def at(state, where):
    for key in where:
        state = state[key]
    return state


def leaves(state):
    """Paths of plain values (numbers, strings, booleans, nulls) outside the tensors."""
    out = []
    for where in places(state):
        container = at(state, where)
        keys = container.keys() if isinstance(container, dict) else range(len(container))
        for k in keys:
            v = container[k]
            if v is None or isinstance(v, (bool, int, float, str)):
                out.append(where + (k,))
    return out


def mapping_places(state):
    """Mappings whose every key must be there (Adam's table may lack a parameter never stepped)."""
    return [w for w in places(state) if isinstance(at(state, w), dict) and at(state, w) and w != ("optimizer", "state")]


def kind(value) -> str:
    return "number" if type(value) in (int, float) else type(value).__name__


_STAND_INS = {"<nan>": lambda: float("nan"), "<tensor>": lambda: torch.zeros(3)}  # drawn by name: hypothesis
# compares what it draws, and neither NaN nor a tensor compares equal to itself as a bool
OTHER_VALUES = st.sampled_from(["12", "", [], {}, [1, 2], {"a": 1}, None, True, 1.5, -7, 2**70, "<nan>",
                                "<tensor>"]).map(lambda v: _STAND_INS[v]() if isinstance(v, str) and v in _STAND_INS else v)


def pick(options, index: int):
    """One of `options` by a drawn index (the options depend on the real state, made by a fixture:
    drawing from them directly would make hypothesis's choices depend on it)."""
    options = list(options)
    return options[index % len(options)]


INDEX = st.integers(0, 2**16)


@given(i=INDEX, j=INDEX)
@CASES
def test_a_missing_key_is_refused(made, tmp_path, i, j):
    state = copy.deepcopy(made[2])
    container = at(state, pick(mapping_places(state), i))
    key = pick(sorted(container, key=str), j)
    del container[key]
    line = refused("key missing", made, state, tmp_path)
    assert "is missing" in line or "must" in line


def test_a_missing_weight_is_refused(made, tmp_path):
    state = copy.deepcopy(made[2])
    name = sorted(state["model"])[3]
    del state["model"][name]
    assert f"model.{name} is missing" in refused("key missing", made, state, tmp_path)


@given(i=INDEX, extra=st.sampled_from(["extra", "_hidden", "Position", "0", 99]), value=OTHER_VALUES)
@CASES
def test_an_extra_key_is_refused(made, tmp_path, i, extra, value):
    state = copy.deepcopy(made[2])
    at(state, pick(mapping_places(state), i))[extra] = value
    line = refused("key extra", made, state, tmp_path)
    assert "not a known key" in line or "not a parameter" in line or "must" in line


@given(i=INDEX, other=OTHER_VALUES)
@CASES
def test_a_value_of_another_type_is_refused(made, tmp_path, i, other):
    state = copy.deepcopy(made[2])
    where = pick([w for w in leaves(state) + list(places(state)) if w], i)
    if kind(other) == kind(at(state, where)) and not (kind(other) == "number" and (other != other or other > 2**60)):
        other = "a string"  # another value of the same kind may be valid (another rate, another seed)
    at(state, where[:-1])[where[-1]] = other
    refused("wrong type", made, state, tmp_path)


RNG_TAMPERS = {
    "torch empty": lambda r: r.__setitem__("torch", torch.zeros(0, dtype=torch.uint8)),
    "torch short": lambda r: r.__setitem__("torch", r["torch"][:100].clone()),
    "torch as floats": lambda r: r.__setitem__("torch", r["torch"].float()),
    "cuda as torch": lambda r: r.__setitem__("torch", torch.zeros(16, dtype=torch.uint8)),
    "python empty": lambda r: r.__setitem__("python", ()),
    "python version 2": lambda r: r.__setitem__("python", (2, *r["python"][1:])),
    "python short": lambda r: r.__setitem__("python", (3, r["python"][1][:10], None)),
    "python position": lambda r: r.__setitem__("python", (3, (*r["python"][1][:-1], 10_000), None)),
    "python word": lambda r: r.__setitem__("python", (3, (-1, *r["python"][1][1:]), None)),
    "numpy pcg64": lambda r: r.__setitem__("numpy", {"bit_generator": "PCG64", "state": {"state": 1, "inc": 2}}),
    "numpy empty": lambda r: r.__setitem__("numpy", []),
    "numpy short keys": lambda r: r.__setitem__("numpy", ["MT19937", [1, 2, 3], 0, 0, 0.0]),
    "numpy position": lambda r: r.__setitem__("numpy", [*r["numpy"][:2], 700, 0, 0.0]),
    "numpy nan gauss": lambda r: r.__setitem__("numpy", [*r["numpy"][:3], 1, float("nan")]),
    "cuda empty": lambda r: r.__setitem__("cuda", torch.zeros(0, dtype=torch.uint8)),
    "cuda huge": lambda r: r.__setitem__("cuda", torch.zeros(100_000, dtype=torch.uint8)),
    "no ranks": None,
    "two ranks for one": None,
}


@pytest.mark.parametrize("tamper", RNG_TAMPERS)
def test_an_empty_or_foreign_rng_state_is_refused(made, tmp_path, tamper):
    state = copy.deepcopy(made[2])
    if tamper == "no ranks":
        state["rng"] = []
    elif tamper == "two ranks for one":
        state["rng"] = state["rng"] * 2
    else:
        RNG_TAMPERS[tamper](state["rng"][0])
    line = refused("rng", made, state, tmp_path)
    assert "rng" in line


@given(where=st.sampled_from(["epoch", "step_in_epoch", "step", "best_step", "bad_checks", "validated"]),
       value=st.one_of(st.integers(max_value=-2), st.integers(min_value=2**53 + 1)))
@CASES
def test_a_negative_or_absurd_count_is_refused(made, tmp_path, where, value):
    state = copy.deepcopy(made[2])
    state["position"][where] = value
    line = refused("negative count", made, state, tmp_path)
    assert f"position.{where} must be" in line


@pytest.mark.parametrize("where, value", [("best", -0.5), ("best", float("inf")), ("best", float("nan")),
                                          ("fingerprint", -3), ("world", 0), ("world", -1)])
def test_a_score_or_world_out_of_range_is_refused(made, tmp_path, where, value):
    state = copy.deepcopy(made[2])
    if where == "best":
        state["position"]["best"] = value
    elif where == "fingerprint":
        state["fingerprint"]["examples"] = value
    else:
        state["world"] = value
    refused("negative count", made, state, tmp_path)


def float_tensors(state):
    """(where, getter-setter) of every float tensor a resume loads: weights and Adam's moments."""
    out = [(("model", k), t) for k, t in state["model"].items() if t.is_floating_point()]
    for i, entry in state["optimizer"]["state"].items():
        out += [(("optimizer", "state", i, k), t) for k, t in entry.items()]
    return out


@given(i=INDEX, cell=INDEX, bad=st.sampled_from(["nan", "inf", "-inf"]))
@CASES
def test_nan_or_infinity_in_weights_or_moments_is_refused(made, tmp_path, i, cell, bad):
    state = copy.deepcopy(made[2])
    where, t = pick(float_tensors(state), i)
    flat = t.view(-1)
    flat[cell % flat.numel()] = float(bad)
    line = refused("nan weights", made, state, tmp_path)
    assert "NaN or infinite" in line
    assert str(where[-1]) in line


@given(i=INDEX, j=INDEX)
@CASES
def test_a_tensor_of_another_shape_or_type_is_refused(made, tmp_path, i, j):
    state = copy.deepcopy(made[2])
    where, t = pick(float_tensors(state), i)
    holder = at(state, where[:-1])
    holder[where[-1]] = pick([t.reshape(-1)[:-1].clone() if t.numel() > 1 else t.reshape(1, 1),
                              t.double(), t.to(torch.int64), "weights", [1.0]], j)
    refused("tensor shape", made, state, tmp_path)


def test_a_negative_second_moment_is_refused(made, tmp_path):
    state = copy.deepcopy(made[2])
    state["optimizer"]["state"][0]["exp_avg_sq"][0] = -1.0
    assert "exp_avg_sq must not be below 0" in refused("nan weights", made, state, tmp_path)


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04" + b"\0" * 100])
def test_an_unreadable_state_file_is_refused(made, tmp_path, content):
    line = refused("unreadable", made, content, tmp_path)
    assert "cannot be read" in line


@pytest.mark.parametrize("value", [[1, 2, 3], "state", 7, None])
def test_a_state_that_is_not_a_mapping_is_refused(made, tmp_path, value):
    refused("not a mapping", made, value, tmp_path)


def test_a_negative_epoch_no_longer_runs_without_end(made, tmp_path):
    state = copy.deepcopy(made[2])
    state["position"]["epoch"] = -10**9
    assert "position.epoch must be at least 0" in refused("negative count", made, state, tmp_path)


def test_the_message_says_what_to_do_and_the_error_type(made, tmp_path):
    state = copy.deepcopy(made[2])
    del state["position"]["step"]
    line = refused("key missing", made, state, tmp_path)
    assert line.endswith(f"position.step is missing; {HOW}")
    assert issubclass(TrainingStateError, Exception)


def test_the_untouched_state_still_resumes(made, tmp_path):
    """The checks pass what training writes: the real state resumes and goes on."""
    data, best, state = made
    out = tmp_path / "m.safetensors"
    out.write_bytes(best)
    state_path(out).parent.mkdir()
    torch.save(state, state_path(out))
    code, said, err = train(data, out, "--resume", "--max-steps", "3")
    assert code == 0, err
    assert "resuming at epoch 2, step 2" in said


# ---- failures found late (issue 21): a full disk, an --out that cannot exist, refused memory -------

def test_a_full_disk_while_saving_the_model_is_one_line_and_leaves_no_partial_file(made, tmp_path, monkeypatch):
    import safetensors
    import safetensors.torch

    def full(*args, **kwargs):  # what safetensors raises on ENOSPC: its own type, the errno in the text
        raise safetensors.SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    data = made[0]
    out = tmp_path / "m.safetensors"
    code, said, err = train(data, out, "--max-steps", "2")
    lines = [line for line in err.strip().splitlines() if not line.startswith("step ")]  # progress may be on stderr
    assert code == 2 and len(lines) == 1 and "internal error" not in err, err
    assert str(out) in lines[0] and "the disk is full" in lines[0]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".m.safetensors")]


def test_a_full_disk_leaves_the_previous_model_intact(made, tmp_path, monkeypatch):
    import safetensors
    import safetensors.torch

    from attnviewer.errors import OutputError
    from attnviewer.models.checkpoint import load_checkpoint, save_checkpoint

    out = tmp_path / "m.safetensors"
    out.write_bytes(made[1])
    model = load_checkpoint(out)
    monkeypatch.setattr(safetensors.torch, "save_file", lambda *a, **k: (_ for _ in ()).throw(
        safetensors.SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")))
    with pytest.raises(OutputError, match="the disk is full"):
        save_checkpoint(model, out, {"step": 3})
    assert out.read_bytes() == made[1] and sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_an_out_under_a_file_is_refused_before_training(made, tmp_path):
    blocker = tmp_path / "models"
    blocker.write_text("a file where a folder should be")
    out = blocker / "run" / "m.safetensors"
    code, said, err = train(made[0], out, "--max-steps", "2")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "is a file, not a folder" in lines[0] and str(blocker) in lines[0], err
    assert "training" not in said  # found before any step
    assert blocker.read_text() == "a file where a folder should be"


@pytest.mark.parametrize("message", ["[enforce fail at alloc_cpu.cpp:118] data. DefaultCPUAllocator: not enough "
                                     "memory: you tried to allocate 4294967296 bytes.",
                                     "CUDA out of memory. Tried to allocate 2.00 GiB"])
def test_a_refused_allocation_is_the_out_of_memory_line(made, tmp_path, monkeypatch, message):
    from attnviewer.training import loop

    def refuse(*args, **kwargs):
        raise RuntimeError(message)

    monkeypatch.setattr(loop, "_fit", refuse)
    code, said, err = train(made[0], tmp_path / "m.safetensors", "--max-steps", "2")
    assert code == 2 and err.strip() == "attnviewer: error: out of memory (try a smaller input, batch or model)", err
    assert list(tmp_path.iterdir()) == []


# ---- a full disk while writing the training state (issue 21): whole or not at all ---------------

class _FullDisk(io.FileIO):
    """A file on a disk with `room` bytes left: a write past them fails as the system says ENOSPC."""

    room = 10_000

    def write(self, data) -> int:
        if self.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


def _disk_fills(monkeypatch) -> None:
    """write_state's file fills the disk (torch.save's own writer then fails on it, as it does)."""
    from attnviewer.training import resume_state

    monkeypatch.setattr(resume_state, "open", lambda path, mode: _FullDisk(path, mode), raising=False)


def test_a_full_disk_while_writing_the_state_is_one_line_and_the_previous_state_resumes(made, tmp_path, monkeypatch):
    from attnviewer.errors import OutputError
    from attnviewer.training.resume_state import write_state

    data, best, state = made
    out = tmp_path / "m.safetensors"
    out.write_bytes(best)
    write_state(state_path(out), state)  # the previous state, whole
    before = state_path(out).read_bytes()
    newer = copy.deepcopy(state)
    newer["position"]["step"] += 1
    _disk_fills(monkeypatch)
    with pytest.raises(OutputError) as refused_write:
        write_state(state_path(out), newer)
    line = str(refused_write.value)
    assert line == f"{state_path(out)}: cannot write, the disk is full" and "\n" not in line
    monkeypatch.undo()
    assert state_path(out).read_bytes() == before  # untouched
    assert [p.name for p in state_path(out).parent.iterdir()] == ["state.pt"]  # no part left beside it
    code, said, err = train(data, out, "--resume", "--max-steps", "3")  # what is there is whole and trusted
    assert code == 0 and "resuming at epoch 2, step 2" in said, err


def test_a_full_disk_while_writing_the_first_state_leaves_nothing_a_resume_would_read(made, tmp_path, monkeypatch):
    from attnviewer.errors import OutputError
    from attnviewer.training.resume_state import write_state

    data, best, state = made
    out = tmp_path / "m.safetensors"
    out.write_bytes(best)
    _disk_fills(monkeypatch)
    with pytest.raises(OutputError, match="the disk is full"):
        write_state(state_path(out), state)
    monkeypatch.undo()
    assert list(state_path(out).parent.iterdir()) == []
    code, said, err = train(data, out, "--resume", "--max-steps", "3")
    assert code == 2 and "no training state to resume from" in err and out.read_bytes() == best


def test_a_state_written_whole_is_the_one_training_writes(made, tmp_path):
    """write_state's file is read back as the state that was written (torch.save through a file)."""
    from attnviewer.training.resume_state import write_state

    state = made[2]
    path = tmp_path / "m.safetensors.state" / "state.pt"
    write_state(path, state)
    again = torch.load(path, weights_only=True, mmap=True)
    assert again["position"] == state["position"] and again["rng"][0]["python"] == state["rng"][0]["python"]
    assert all(torch.equal(again["model"][k], v) for k, v in state["model"].items())
