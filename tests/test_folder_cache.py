"""model_folders.inspect checks a folder's files once per stamp: the window's model box, the
pipeline and the loader all ask for the same folder, and tokenizer.json alone is tens of MB for
large vocabularies. A file rewritten in place is seen; the memory check is made every time."""
from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("transformers")

from attnviewer import model_folders  # noqa: E402
from attnviewer.errors import CheckpointError  # noqa: E402

from . import hf_models  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return hf_models.marian(tmp_path_factory.mktemp("cache") / "m")


@pytest.fixture
def folder(built, tmp_path):
    """A fresh copy of the tiny Marian folder (its files get rewritten here)."""
    import shutil

    return shutil.copytree(built, tmp_path / "m")


@pytest.fixture
def opened(monkeypatch):
    """The names of the JSON files inspect reads, one entry per read."""
    names = []
    real = model_folders._opened_regular

    def counting(path):
        names.append(os.path.basename(path))
        return real(path)

    monkeypatch.setattr(model_folders, "_opened_regular", counting)
    return names


def test_a_second_inspect_of_an_unchanged_folder_reads_no_file_again(folder, opened):
    first = model_folders.inspect(folder)
    assert opened.count("tokenizer.json") == 1 and opened.count("config.json") == 1
    second = model_folders.inspect(folder)
    assert opened.count("tokenizer.json") == 1 and opened.count("config.json") == 1
    assert (second.kind, second.parameters, second.weights) == (first.kind, first.parameters, first.weights)
    second.config["model_type"] = "changed by a caller"  # each caller gets its own copy
    assert model_folders.inspect(folder).config["model_type"] == "marian"
    with pytest.raises(CheckpointError, match="of memory"):  # memory is checked every time, never cached
        model_folders.inspect(folder, memory=1000)


def test_a_rewritten_config_is_seen(folder, opened):
    assert model_folders.inspect(folder).config["d_model"] == 32
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config["architectures"] = ["SomethingElse"]
    config["model_type"] = "something-else"
    config.pop("is_encoder_decoder", None)
    path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="SomethingElse is not a model attnviewer can show"):
        model_folders.inspect(folder)
    assert opened.count("config.json") == 2


def test_a_rewritten_tokenizer_of_the_same_size_is_read_again(folder, opened):
    model_folders.inspect(folder)
    path = folder / "tokenizer.json"
    st = os.stat(path)
    path.write_bytes(path.read_bytes())  # same bytes, same inode: only the modification time moves
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    model_folders.inspect(folder)
    assert opened.count("tokenizer.json") == 2


def test_weights_rewritten_in_place_change_the_folder_stamp_not_the_folder_mtime(folder):
    """What the engine keys its loaded models by: the folder's own mtime stays when a file inside
    is rewritten in place, its stamp changes (so the new weights load)."""
    weights = folder / "model.safetensors"
    before, folder_mtime = model_folders.folder_stamp(folder), os.stat(folder).st_mtime_ns
    assert model_folders.folder_stamp(folder) == before
    st = os.stat(weights)
    with open(weights, "r+b") as f:  # in place: same inode, same size
        f.write(f.read())
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert os.stat(folder).st_mtime_ns == folder_mtime
    assert model_folders.folder_stamp(folder) != before
