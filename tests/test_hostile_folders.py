"""Hostile transformers model folders (issue 19, "Loading safely"): a valid tiny ViT+GPT-2
captioner and a Marian translator are built once in code, then copied and damaged, one case
each: pickles only (one whose loading would leave a marker file), remote code (`auto_map`), a
config.json that is no JSON object, too large or a special file, a config lying about sizes,
truncated or lying safetensors, shards outside the folder or missing, tokenizer files that are
no JSON, an unknown architecture, a decoder without cross-attention, no tokenizer, more layers
or positions in the config than the weights hold (transformers would make them up), not enough
memory. Each must be refused by `model_folders.inspect` and by `attnviewer caption|translate
--model DIR` (exit status 2, one line on stderr naming the folder, no traceback); those refused
before loading must import no transformers (checked in a fresh process, where importing it is
recorded) and run nothing (the marker file), and special files must be refused before they are
opened (a FIFO would block its reader)."""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from attnviewer import model_folders
from attnviewer.cli import main
from attnviewer.errors import CheckpointError
from attnviewer.resources import sample_dir

from . import hf_models

ROOT = Path(__file__).resolve().parents[1]
IMAGE = str(sample_dir() / "shapes-1.png")
SENTENCE = "the cat sees a dog"
COMMAND = {"vit": ("caption", IMAGE), "marian": ("translate", SENTENCE)}
MARKER = "ran-the-pickle"  # a file the malicious pickle creates when it is loaded


class Evil:
    """Unpickling it creates a marker file: what running code from a checkpoint looks like."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def evil_pickle(path: Path, marker: Path) -> Path:
    import torch

    torch.save({"decoder.lm_head.weight": torch.zeros(2, 2), "payload": Evil(marker)}, path)
    return path


# ---- the damages ----------------------------------------------------------------------------


def edit_config(folder: Path, change: Callable[[dict], object]) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text())
    replaced = change(config)
    path.write_text(json.dumps(config if replaced is None else replaced))


def replace(folder: Path, name: str, how: str) -> None:
    """The file `name` made a FIFO, a folder, a link to /dev/zero, or a text that is no JSON."""
    path = folder / name
    if path.exists() or path.is_symlink():
        path.unlink()
    if how == "fifo":
        os.mkfifo(path)
    elif how == "dir":
        path.mkdir()
    elif how == "zero":
        path.symlink_to("/dev/zero")
    elif how == "broken":
        path.symlink_to(path.parent / "no-such-blob")
    elif how == "text":
        path.write_text('{"version": "1.0", "model": {')  # cut off
    else:
        raise AssertionError(how)


def pickles_only(folder: Path, name: str = "pytorch_model.bin") -> None:
    (folder / "model.safetensors").unlink()
    evil_pickle(folder / name, folder / MARKER)


def safetensors_parts(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def write_safetensors(path: Path, header: dict, data: bytes) -> None:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def huge_tensor(folder: Path) -> None:
    """A header declaring one 10 GB tensor (50,000 x 50,000 float32) the file does not hold."""
    path = folder / "model.safetensors"
    header, data = safetensors_parts(path)
    name = next(k for k in header if k != "__metadata__")
    start = header[name]["data_offsets"][0]
    header[name] = {"dtype": "F32", "shape": [50_000, 50_000], "data_offsets": [start, start + 10_000_000_000]}
    write_safetensors(path, header, data)


def truncated(folder: Path) -> None:
    path = folder / "model.safetensors"
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) - 4096])


def sharded(folder: Path, shard: str) -> None:
    """model.safetensors as one shard of an index whose weight map names `shard` for one tensor."""
    header, _ = safetensors_parts(folder / "model.safetensors")
    names = [k for k in header if k != "__metadata__"]
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    weight_map = {k: "model-00001-of-00002.safetensors" for k in names}
    weight_map[names[0]] = shard
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


def nested(folder: Path, depth: int = 600) -> None:
    """A config holding lists nested `depth` deep: JSON reads it; a recursive walk of it may not."""
    path = folder / "config.json"
    text = path.read_text().rstrip()
    assert text.endswith("}")
    path.write_text(text[:-1] + ', "deep": ' + "[" * depth + "1" + "]" * depth + "}")


def no_tokenizer(folder: Path) -> None:
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()


def lying_size(folder: Path) -> None:
    """The encoder's hidden size doubled: the weights no longer fit the config."""
    edit_config(folder, lambda c: c["encoder"].update(hidden_size=64))


def missing_tensor(folder: Path) -> None:
    """A tensor the config asks for is gone from the weights: transformers would make it up at random."""
    from safetensors.torch import load_file, save_file

    path = folder / "model.safetensors"
    state = load_file(str(path))
    del state[next(k for k in sorted(state) if k.startswith("decoder.") and k.endswith("ln_f.weight"))]
    save_file(state, str(path), metadata={"format": "pt"})


def no_cross_attention(folder: Path) -> None:
    edit_config(folder, lambda c: c["decoder"].update(add_cross_attention=False))


@dataclass
class Case:
    name: str
    base: str  # vit or marian
    damage: Callable[[Path], None]
    says: str  # what the error line must contain (lower case)
    stage: str = "inspect"  # inspect: refused before anything is imported; load: by transformers


CASES = [
    # weights
    Case("pickles-only", "vit", pickles_only, "pickles only"),
    Case("pickles-only-ckpt", "marian", lambda f: pickles_only(f, "model.ckpt"), "pickles only"),
    Case("pickles-only-pt", "marian", lambda f: pickles_only(f, "model.pt"), "pickles only"),
    Case("pickle-named-safetensors", "vit", lambda f: evil_pickle(f / "model.safetensors", f / MARKER),
         "not a safetensors file"),
    Case("no-weights", "marian", lambda f: (f / "model.safetensors").unlink(), "no weights"),
    Case("safetensors-truncated", "vit", truncated, "does not hold"),
    Case("tensor-10gb-declared", "marian", huge_tensor, "does not hold"),
    Case("safetensors-fifo", "vit", lambda f: replace(f, "model.safetensors", "fifo"), "not a regular file"),
    Case("safetensors-dir", "marian", lambda f: replace(f, "model.safetensors", "dir"), "not a regular file"),
    Case("safetensors-dev-zero", "vit", lambda f: replace(f, "model.safetensors", "zero"), "not a regular file"),
    Case("shard-outside-folder", "vit", lambda f: sharded(f, "../outside.safetensors"), "outside the folder"),
    Case("shard-absolute-path", "marian", lambda f: sharded(f, "/etc/passwd"), "outside the folder"),
    Case("shard-missing", "marian", lambda f: sharded(f, "model-00002-of-00002.safetensors"), "cannot read"),
    Case("index-not-json", "vit", lambda f: (sharded(f, "model-00001-of-00002.safetensors"),
                                             replace(f, "model.safetensors.index.json", "text")), "not valid json"),
    Case("index-fifo", "marian", lambda f: (sharded(f, "model-00001-of-00002.safetensors"),
                                            replace(f, "model.safetensors.index.json", "fifo")), "not a regular file"),
    # config.json
    Case("auto-map", "vit", lambda f: edit_config(f, lambda c: c.update(
        auto_map={"AutoModel": "modeling_evil.EvilModel"})), "auto_map"),
    Case("auto-map-in-decoder", "vit", lambda f: edit_config(f, lambda c: c["decoder"].update(
        auto_map={"AutoModelForCausalLM": "evil.Decoder"})), "auto_map"),
    Case("auto-map-in-encoder", "vit", lambda f: edit_config(f, lambda c: c["encoder"].update(
        auto_map={"AutoModel": "evil.Encoder"})), "auto_map"),
    Case("auto-map-translator", "marian", lambda f: edit_config(f, lambda c: c.update(
        auto_map={"AutoModelForSeq2SeqLM": "evil.Model"})), "auto_map"),
    Case("config-not-json", "vit", lambda f: replace(f, "config.json", "text"), "not valid json"),
    Case("config-not-object", "marian", lambda f: edit_config(f, lambda c: [c]), "not a json object"),
    Case("config-huge", "vit", lambda f: edit_config(f, lambda c: c.update(pad="x" * 5_000_000)),
         "more than the limit"),
    Case("config-fifo", "marian", lambda f: replace(f, "config.json", "fifo"), "not a regular file"),
    Case("config-dir", "vit", lambda f: replace(f, "config.json", "dir"), "not a regular file"),
    Case("config-dev-zero", "marian", lambda f: replace(f, "config.json", "zero"), "not a regular file"),
    Case("config-broken-link", "vit", lambda f: replace(f, "config.json", "broken"), "cannot read"),
    Case("config-nested-deeply", "marian", nested, "nested"),
    Case("unknown-architecture", "marian", lambda f: edit_config(f, lambda c: c.update(
        model_type="bert", architectures=["BertForMaskedLM"], is_encoder_decoder=False)), "bertformaskedlm"),
    Case("architecture-not-a-name", "marian", lambda f: edit_config(f, lambda c: c.update(
        model_type=7, architectures=[["x"]])), "supported"),
    Case("unknown-image-encoder", "vit", lambda f: edit_config(f, lambda c: c["encoder"].update(
        model_type="resnet")), "resnet"),
    Case("no-cross-attention", "vit", no_cross_attention, "cross-attention"),
    Case("timesformer-space-only", "vit", lambda f: edit_config(f, lambda c: c["encoder"].update(
        model_type="timesformer", attention_type="space_only")), "space-only"),
    # tokenizer and processor files
    Case("tokenizer-not-json", "marian", lambda f: replace(f, "tokenizer.json", "text"), "not valid json"),
    Case("tokenizer-fifo", "vit", lambda f: replace(f, "tokenizer.json", "fifo"), "not a regular file"),
    Case("tokenizer-dev-zero", "marian", lambda f: replace(f, "tokenizer.json", "zero"), "not a regular file"),
    Case("tokenizer-auto-map", "marian", lambda f: (f / "tokenizer_config.json").write_text(json.dumps(
        {"auto_map": {"AutoTokenizer": ["evil.Tokenizer", None]}, "tokenizer_class": "EvilTokenizer"})),
         "auto_map"),
    Case("preprocessor-not-json", "vit", lambda f: replace(f, "preprocessor_config.json", "text"), "not valid json"),
    Case("vocab-fifo", "marian", lambda f: replace(f, "vocab.json", "fifo"), "not a regular file"),
    Case("spm-fifo", "marian", lambda f: replace(f, "source.spm", "fifo"), "not a regular file"),
    Case("no-tokenizer", "vit", no_tokenizer, "tokenizer"),
    # a config lying about what transformers would build beyond the weights: layers it would make
    # up (100,000 of them: minutes and memory), position tables it would compute (25 GB)
    Case("config-lies-layers", "marian", lambda f: edit_config(f, lambda c: c.update(decoder_layers=100_000)),
         "layers"),
    Case("config-lies-layers-a-few", "vit", lambda f: edit_config(f, lambda c: c["decoder"].update(n_layer=3)),
         "layers"),
    Case("config-lies-positions", "marian", lambda f: edit_config(f, lambda c: c.update(
        max_position_embeddings=200_000_000)), "positions"),
    # caught only when transformers loads the weights: still one line
    Case("config-lies-hidden-size", "vit", lying_size, "does not match its weights", stage="load"),
    Case("config-lies-vocab-size", "marian", lambda f: edit_config(f, lambda c: c.update(
        vocab_size=500, decoder_vocab_size=500)), "does not match its weights", stage="load"),
    Case("weights-lack-a-tensor", "vit", missing_tensor, "lack 1 tensors", stage="load"),
    # 5 M-wide feed-forward layers (640 M parameters, 2.5 GB) from a few KB of weights: refused
    # from the model built on the meta device, before anything is allocated
    Case("config-lies-inner-size", "vit", lambda f: edit_config(f, lambda c: c["decoder"].update(n_inner=5_000_000)),
         "describes", stage="load"),
]
BY_NAME = {c.name: c for c in CASES}
BEFORE_LOAD = [c.name for c in CASES if c.stage == "inspect"]
SPECIAL = {"safetensors-fifo": "model.safetensors", "tokenizer-fifo": "tokenizer.json", "config-fifo": "config.json",
           "index-fifo": "model.safetensors.index.json", "vocab-fifo": "vocab.json", "spm-fifo": "source.spm"}


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> dict[str, Path]:
    """The two valid folders, built once."""
    root = tmp_path_factory.mktemp("valid")
    return {"vit": hf_models.vit_gpt2(root / "vit"), "marian": hf_models.marian(root / "marian")}


@pytest.fixture(scope="module")
def damaged(valid, tmp_path_factory) -> dict[str, Path]:
    """Each case's copy of its valid folder, damaged."""
    root = tmp_path_factory.mktemp("damaged")
    folders = {}
    for case in CASES:
        folder = root / case.name
        shutil.copytree(valid[case.base], folder)
        case.damage(folder)
        folders[case.name] = folder
    return folders


def one_line(text: str, folder: Path, says: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text[-3000:]
    line = lines[0]
    assert "Traceback" not in text and len(line) < 1000, line[:500]
    assert str(folder) in line and says in line.lower(), line[:500]
    return line


def cli(capsys, base: str, folder: Path, *extra: str) -> tuple[int, str, str]:
    command, given = COMMAND[base]
    code = main([command, given, "--model", str(folder), "--device", "cpu", "--greedy", "--max-len", "3", *extra])
    out, err = capsys.readouterr()
    return code, out, err


class FifoWatch:
    """A writer waiting on a FIFO: records whether anyone opened it for reading (which, without
    the writer, would block forever) and releases itself when done."""

    def __init__(self, path: Path):
        self.path, self.opened, self.releasing = path, False, False
        self.thread = threading.Thread(target=self._wait, daemon=True)
        self.thread.start()

    def _wait(self) -> None:
        fd = os.open(self.path, os.O_WRONLY)  # returns once a reader opens the FIFO
        self.opened = not self.releasing
        os.close(fd)

    def close(self) -> None:
        self.releasing = True
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer's open return
        self.thread.join()
        os.close(fd)


# ---- the tests ------------------------------------------------------------------------------


def test_valid_folders_pass(valid):
    """The damages below are what makes each folder fail: the valid ones pass."""
    for base, kind in (("vit", "caption"), ("marian", "translate")):
        info = model_folders.inspect(valid[base])
        assert info.kind == kind and info.parameters > 0, info


def test_the_pickle_runs_code_when_loaded(tmp_path):
    """The pickle of the pickle cases is really hostile: loading it creates the marker file."""
    import torch

    path = evil_pickle(tmp_path / "pytorch_model.bin", tmp_path / MARKER)
    assert not (tmp_path / MARKER).exists()
    torch.load(path, weights_only=False)
    assert (tmp_path / MARKER).exists()


@pytest.mark.parametrize("name", BEFORE_LOAD)
def test_inspect_refuses(damaged, name):
    folder = damaged[name]
    watch = FifoWatch(folder / SPECIAL[name]) if name in SPECIAL else None
    try:
        with pytest.raises(CheckpointError) as caught:
            model_folders.inspect(folder)
    finally:
        if watch is not None:
            watch.close()
    one_line(str(caught.value), folder, BY_NAME[name].says)
    assert not (folder / MARKER).exists()
    assert watch is None or not watch.opened, f"{SPECIAL[name]} was opened: a FIFO would have blocked"


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_cli_refuses_in_one_line(capsys, damaged, name):
    case, folder = BY_NAME[name], damaged[name]
    watch = FifoWatch(folder / SPECIAL[name]) if name in SPECIAL else None
    try:
        code, out, err = cli(capsys, case.base, folder)
    finally:
        if watch is not None:
            watch.close()
    assert code == 2, err[-3000:]
    line = one_line(err, folder, case.says)
    assert line.startswith("attnviewer: error: ") and not out.strip()
    assert not (folder / MARKER).exists()
    assert watch is None or not watch.opened, f"{SPECIAL[name]} was opened: a FIFO would have blocked"


def test_pickles_refused_even_when_trusted(capsys, damaged):
    """--trust-pickle is for attnviewer's own old checkpoints, never for a transformers folder."""
    case = BY_NAME["pickles-only"]
    code, _, err = cli(capsys, case.base, damaged[case.name], "--trust-pickle")
    assert code == 2 and "pickles only" in one_line(err, damaged[case.name], "pickles only")
    assert not (damaged[case.name] / MARKER).exists()


def test_folder_name_shown_printable(valid, tmp_path, capsys):
    """A folder whose name holds an escape code is named with it escaped, never raw."""
    folder = tmp_path / "evil\x1b[2Jname"
    shutil.copytree(valid["vit"], folder)
    pickles_only(folder)
    with pytest.raises(CheckpointError) as caught:
        model_folders.inspect(folder)
    code, _, err = cli(capsys, "vit", folder)
    assert code == 2 and "\x1b" not in err and "evil\\x1b[2Jname" in err, err
    assert "\x1b" not in str(caught.value) and "evil\\x1b[2Jname" in str(caught.value)


# A fresh process: importing transformers, tokenizers or huggingface_hub is recorded (and fails,
# so each case tries again), every case goes through the CLI, and each reports its exit status,
# its stderr and whether it tried to import them.
RUNNER = textwrap.dedent("""
    import contextlib, io, json, sys
    tried = []

    class Recorder:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("transformers", "tokenizers", "huggingface_hub"):
                tried.append(name)
                raise ImportError("blocked by the test: " + name)
            return None

    sys.meta_path.insert(0, Recorder())
    from attnviewer.cli import main
    results = {}
    for name, argv in json.loads(sys.argv[1]).items():
        del tried[:]
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv)
            except Exception as e:  # a bug: told as such, the other cases still run
                code = "crashed: %s: %s" % (type(e).__name__, str(e)[:200])
        results[name] = {"code": code, "err": err.getvalue(), "tried": list(tried)}
    print(json.dumps(results))
""")


def run_fresh(runs: dict[str, list[str]], timeout: float = 280) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), ATTNVIEWER_DEBUG="1")
    done = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(runs)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def fresh(damaged) -> dict:
    runs = {}
    for name in BEFORE_LOAD:
        command, given = COMMAND[BY_NAME[name].base]
        runs[name] = [command, given, "--model", str(damaged[name]), "--device", "cpu", "--greedy"]
    return run_fresh(runs)


@pytest.mark.parametrize("name", BEFORE_LOAD)
def test_nothing_imported_or_run(fresh, damaged, name):
    """Refused before transformers is imported (or the FIFO opened: the process would hang)."""
    result, folder = fresh[name], damaged[name]
    assert result["tried"] == [], f"{name}: imported {result['tried'][:3]} before refusing: {result['err'][:300]}"
    assert result["code"] == 2, result["err"][-2000:]
    one_line(result["err"], folder, BY_NAME[name].says)
    assert not (folder / MARKER).exists()


def test_not_enough_memory(valid, capsys, monkeypatch):
    for base in ("vit", "marian"):
        with pytest.raises(CheckpointError) as caught:
            model_folders.inspect(valid[base], memory=100_000)
        one_line(str(caught.value), valid[base], "memory")
    monkeypatch.setattr(model_folders, "available_memory", lambda: 100_000)
    code, _, err = cli(capsys, "vit", valid["vit"])
    assert code == 2 and "gib" in one_line(err, valid["vit"], "memory").lower()


def test_declared_10gb_that_the_file_holds_needs_memory(valid, tmp_path):
    """A header that is true to a (sparse) 10 GB file still has to fit in memory."""
    folder = tmp_path / "sparse"
    shutil.copytree(valid["marian"], folder)
    path = folder / "model.safetensors"
    header, data = safetensors_parts(path)
    start = max(v["data_offsets"][1] for k, v in header.items() if k != "__metadata__")
    header["huge"] = {"dtype": "F32", "shape": [50_000, 50_000], "data_offsets": [start, start + 10_000_000_000]}
    write_safetensors(path, header, data)
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size + 10_000_000_000)  # a hole: no disk used
    with pytest.raises(CheckpointError) as caught:
        model_folders.inspect(folder, memory=8 * 2**30)
    assert "2,500 M parameters" in one_line(str(caught.value), folder, "memory")


def test_hub_cache_symlinks_to_blobs(valid, tmp_path):
    """The Hugging Face cache: snapshot files are links to blobs elsewhere in the cache; they load."""
    repo = tmp_path / "hub" / "models--tiny--vit-gpt2"
    snap = repo / "snapshots" / "0123abcd"
    (repo / "blobs").mkdir(parents=True)
    snap.mkdir(parents=True)
    for i, file in enumerate(sorted(valid["vit"].iterdir())):
        blob = repo / "blobs" / f"{i:040x}"
        shutil.copy(file, blob)
        (snap / file.name).symlink_to(os.path.relpath(blob, snap))
    assert model_folders.inspect(snap).kind == "caption"
    assert model_folders.cached_folders(tmp_path / "hub") == [snap]
    assert model_folders.cache_label(snap) == "tiny/vit-gpt2"


def test_safe_files_beside_a_pickle_load_without_it(valid, tmp_path, capsys):
    """A folder with model.safetensors and a (hostile) pytorch_model.bin beside it, as
    save_pretrained of old wrote both, opens from the safetensors; the pickle is never read."""
    folder = tmp_path / "both"
    shutil.copytree(valid["vit"], folder)
    evil_pickle(folder / "pytorch_model.bin", folder / MARKER)
    assert model_folders.inspect(folder).weights == [folder / "model.safetensors"]
    code, out, err = cli(capsys, "vit", folder)
    assert code == 0, err[-3000:]
    assert out.strip() and not (folder / MARKER).exists()


BLOCKER = textwrap.dedent("""
    import sys

    class NoTransformers:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("transformers", "tokenizers"):
                raise ImportError("No module named " + repr(name))
            return None

    sys.meta_path.insert(0, NoTransformers())
""")


def test_without_transformers_says_how_to_install(valid, tmp_path):
    """The real command, in a process where transformers cannot be imported: one line naming the
    command that installs it, exit status 2."""
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    env.pop("ATTNVIEWER_DEBUG", None)
    exe = Path(sys.executable).with_name("attnviewer")
    for base in ("vit", "marian"):
        command, given = COMMAND[base]
        done = subprocess.run([str(exe), command, given, "--model", str(valid[base]), "--device", "cpu"],
                              capture_output=True, text=True, timeout=280, env=env, cwd=tmp_path)
        assert done.returncode == 2, done.stderr[-3000:]
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
        assert "pip install 'attnviewer[transformers]'" in lines[0], lines[0]
