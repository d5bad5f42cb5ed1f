"""The window's model list: every model the app can load is offered for its kind of input (bundled,
the user's models folder, files opened or dropped), opened files and the last choice per kind are
remembered across restarts, and a remembered file that has gone is dropped with one line."""
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from attnviewer import catalog
from attnviewer.errors import CheckpointError
from attnviewer.models.checkpoint import save_checkpoint
from attnviewer.models.header import FORMAT, HEADER_MAX_BYTES

from .helpers import tiny_captioner, tiny_translator

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    """The platform data folder (XDG_DATA_HOME) in a temporary place: the user models folder is
    <it>/attnviewer/models, never the real user's."""
    home = tmp_path / "data-home"
    home.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


@pytest.fixture
def open_window(qtbot, tmp_path, data_home):
    """Opens main windows on one temporary settings file (a restart: a new window, same settings)."""
    from attnviewer.ui.main_window import MainWindow

    windows = []

    def make():
        w = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
        qtbot.addWidget(w)
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.close()
        assert not w.engine.running()


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """A caption model and a translation model, as real checkpoint files."""
    d = tmp_path_factory.mktemp("user-models")
    caption, translate = d / "my-captioner.safetensors", d / "my-translator.safetensors"
    save_checkpoint(tiny_captioner(seed=3), caption)
    save_checkpoint(tiny_translator(seed=3), translate)
    return {"caption": caption, "translate": translate}


def copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(src.read_bytes())
    return dst


def listed(w, kind: str, slot: str = "main") -> list[str]:
    """What the model box of a column offers while it shows `kind` (the box's data, not labels)."""
    controls = w.sides[slot].controls
    controls.set_kind(kind)
    box = controls.model
    return [box.itemData(i) for i in range(box.count()) if box.itemData(i) is not None]


def scores_offered(controls) -> list[str]:
    return [controls.score.itemText(i) for i in range(controls.score.count())]


def choose(w, name: str) -> None:
    """Pick a model in the main column's box, as a click does."""
    box = w.sides["main"].controls.model
    index = box.findData(name)
    assert index >= 0, f"{name} is not offered"
    box.setCurrentIndex(index)
    box.activated.emit(index)


def drop(w, path: Path) -> None:
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(path))])
    w.dropEvent(QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                           Qt.KeyboardModifier.NoModifier))


def test_an_opened_model_is_listed_for_its_kind_chosen_and_remembered(open_window, model_files, tmp_path):
    caption = str(copy(model_files["caption"], tmp_path / "a" / "my-captioner.safetensors"))
    translate = str(copy(model_files["translate"], tmp_path / "b" / "my-translator.safetensors"))
    w = open_window()
    w.open_checkpoint(caption)  # File → Open model…
    controls = w.sides["main"].controls
    assert controls.kind == "caption" and controls.model_name() == caption
    assert controls.model.currentText() == "my-captioner.safetensors"
    assert scores_offered(controls) == ["additive"] and not controls.score.isEnabled()  # its own, shown
    drop(w, Path(translate))  # dragged onto the window
    assert controls.kind == "translate" and controls.model_name() == translate
    assert scores_offered(controls) == ["additive"] and not controls.score.isEnabled()
    assert caption in listed(w, "caption") and translate not in listed(w, "caption")
    assert translate in listed(w, "translate") and caption not in listed(w, "translate")
    assert caption not in listed(w, "video") and translate not in listed(w, "video")
    assert caption in listed(w, "caption", slot="compare")  # both columns offer what was opened
    # the last choice of each kind: the opened captioner, a bundled translator variant
    listed(w, "caption")
    assert controls.model_name() == caption
    listed(w, "translate")
    choose(w, "translate-sov-general")
    w.close()

    again = open_window()  # a restart
    controls = again.sides["main"].controls
    assert controls.kind == "caption" and controls.model_name() == caption
    assert caption in listed(again, "caption") and translate not in listed(again, "caption")
    assert translate in listed(again, "translate")
    assert controls.model_name() == "translate-sov-general"
    assert again.statusBar().currentMessage() == ""  # nothing was dropped


def test_a_remembered_file_that_has_gone_is_dropped_with_one_line(open_window, model_files, tmp_path):
    gone = copy(model_files["caption"], tmp_path / "gone.safetensors")
    spoilt = copy(model_files["caption"], tmp_path / "spoilt.safetensors")
    kept = copy(model_files["caption"], tmp_path / "kept.safetensors")
    w = open_window()
    for path in (gone, spoilt, kept):
        w.open_checkpoint(str(path))
    assert {str(gone), str(spoilt), str(kept)} <= set(listed(w, "caption"))
    w.close()
    gone.unlink()
    spoilt.write_bytes(b"not a model any more\n")

    again = open_window()
    offered = listed(again, "caption")
    assert str(gone) not in offered and str(spoilt) not in offered and str(kept) in offered
    message = again.statusBar().currentMessage()
    assert "\n" not in message
    assert f"{gone}: no such file" in message and f"{spoilt}: not a safetensors model file" in message
    # it stays in the status bar after the messages of the first caption ("working…") have gone
    again.show()
    again.statusBar().showMessage("working…")
    assert not again.models_note.isVisible()
    again.statusBar().clearMessage()
    assert again.models_note.isVisible() and again.models_note.text() == message
    # the last choice (kept) stands; had it gone, the default would be chosen
    assert again.sides["main"].controls.model_name() == str(kept)
    again.close()
    kept.unlink()
    third = open_window()
    assert third.sides["main"].controls.model_name() == "caption-shapes"
    assert f"{kept}: no such file" in third.statusBar().currentMessage()


def test_a_file_removed_while_the_app_runs_goes_at_the_next_listing(open_window, model_files, tmp_path):
    path = copy(model_files["caption"], tmp_path / "brief.safetensors")
    w = open_window()
    w.open_checkpoint(str(path))
    path.unlink()
    assert str(path) not in listed(w, "translate") + listed(w, "caption")
    assert f"{path}: no such file" in w.statusBar().currentMessage()
    assert w.sides["main"].controls.model_name() == "caption-shapes"


def test_the_user_models_folder_is_listed_by_kind(open_window, model_files, data_home, tmp_path):
    folder = data_home / "attnviewer" / "models"
    caption = copy(model_files["caption"], folder / "cap.safetensors")
    translate = copy(model_files["translate"], folder / "tr.safetensors")
    copy(model_files["caption"], folder / "old.pt")  # a pickle name: never listed from a folder
    (folder / "junk.safetensors").write_bytes(b"\x00" * 64)
    w = open_window()
    caption_list, translate_list = listed(w, "caption"), listed(w, "translate")
    assert caption_list[:3] == list(catalog.bundled("caption"))[:3]  # the bundled ones first
    assert str(caption) in caption_list and str(translate) not in caption_list
    assert str(translate) in translate_list and str(caption) not in translate_list
    assert not any(n.endswith(("junk.safetensors", "old.pt")) for n in caption_list + translate_list)
    listed(w, "caption")
    choose(w, str(caption))
    w.close()
    assert open_window().sides["main"].controls.model_name() == str(caption)


def test_a_pickle_is_listed_only_once_trusted_and_never_remembered(open_window, tmp_path, monkeypatch):
    pickle = tmp_path / "theirs.pth"
    pickle.write_bytes(b"\x80\x04not loaded by this test")
    answer = [QMessageBox.StandardButton.No]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: answer[0])
    w = open_window()
    w.open_checkpoint(str(pickle))
    assert str(pickle) not in listed(w, "caption")
    answer[0] = QMessageBox.StandardButton.Yes
    w.open_checkpoint(str(pickle))
    assert str(pickle) in listed(w, "caption") and w.sides["main"].controls.model_name() == str(pickle)
    assert str(pickle) in w.sides["compare"].jobs.trusted  # trusted in the column that lists it too
    w.close()
    again = open_window()
    assert str(pickle) not in listed(again, "caption")
    assert again.sides["main"].controls.model_name() == "caption-shapes"
    assert again.statusBar().currentMessage() == ""


def test_the_catalog_lists_a_folder_by_kind_without_torch(model_files, tmp_path):
    folder = tmp_path / "models"
    copy(model_files["caption"], folder / "b-cap.safetensors")
    copy(model_files["caption"], folder / "a-cap.safetensors")
    copy(model_files["translate"], folder / "tr.safetensors")
    (folder / "text.safetensors").write_text("hello")
    (folder / "sub.safetensors").mkdir()
    code = ("import sys, json; from attnviewer import catalog; "
            f"found = catalog.models_in({str(folder)!r}); "
            "print(json.dumps({k: [p.name for p in v] for k, v in found.items()})); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "")})
    assert out.returncode == 0, out.stderr
    found, torch_loaded = out.stdout.strip().splitlines()
    assert found == '{"caption": ["a-cap.safetensors", "b-cap.safetensors"], "translate": ["tr.safetensors"]}'
    assert torch_loaded == "False"
    assert catalog.models_in(tmp_path / "no-such-folder") == {}


@pytest.mark.parametrize("content, needle", [
    (None, "no such file"),
    (b"PK\x03\x04 a torch zip", "not a safetensors model file"),
    (b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": 1, \"b\": 2}", "no 'attnviewer-1' metadata"),
])
def test_model_kind_names_the_file_and_the_problem(tmp_path, content, needle):
    path = tmp_path / "m.safetensors"
    if content is not None:
        path.write_bytes(content + b"\x00" * 16)
    with pytest.raises(CheckpointError, match=needle) as e:
        catalog.model_kind(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_the_catalog_agrees_with_the_header_schema():
    assert (catalog.MODEL_FORMAT, catalog.LIST_HEADER_MAX_BYTES) == (FORMAT, HEADER_MAX_BYTES)


def test_opening_a_model_reads_no_header_of_the_models_listed_already(open_window, model_files, data_home,
                                                                       tmp_path, monkeypatch):
    """The boxes are listed on the GUI thread at every change: opening a model lists both boxes
    again without reading the files listed already (it read each up to three times, twice a
    file), and the list reads the new file's header once."""
    folder = data_home / "attnviewer" / "models"
    in_folder = [copy(model_files["caption"], folder / "cap.safetensors"),
                 copy(model_files["translate"], folder / "tr.safetensors")]
    opened = [copy(model_files["caption"], tmp_path / f"opened-{i}.safetensors") for i in range(3)]
    w = open_window()
    for path in opened[:2]:
        w.open_checkpoint(str(path))
    reads, listings = Counter(), Counter()
    read, list_kind = catalog.safetensors_metadata, catalog.model_kind

    def counted_read(path, *args):
        reads[Path(path).name] += 1
        return read(path, *args)

    def counted_kind(path):
        listings[Path(path).name] += 1
        return list_kind(path)

    monkeypatch.setattr(catalog, "safetensors_metadata", counted_read)
    monkeypatch.setattr(catalog, "model_kind", counted_kind)
    w.open_checkpoint(str(opened[2]))
    assert w.sides["main"].controls.model_name() == str(opened[2])
    assert str(opened[2]) in listed(w, "caption", slot="compare")
    assert listings == {"opened-2.safetensors": 1}
    # opened-1, the model chosen until now, is looked up once more for its score box
    assert [reads[p.name] for p in in_folder + opened[:1]] == [0, 0, 0] and reads["opened-1.safetensors"] <= 1


def test_a_file_replaced_while_the_app_runs_is_listed_as_what_it_is_now(open_window, model_files, tmp_path):
    path = copy(model_files["caption"], tmp_path / "mine.safetensors")
    w = open_window()
    w.open_checkpoint(str(path))
    assert str(path) in listed(w, "caption")
    copy(model_files["translate"], path)  # the header read before says caption: read again
    assert str(path) in listed(w, "translate") and str(path) not in listed(w, "caption")


@pytest.mark.parametrize("kind, expected", [(["caption"], None), (7, None), ("video", "video")])
def test_kind_of_names_a_kind_or_none(model_files, tmp_path, kind, expected):
    """The window switches to the kind a checkpoint says, if it says one; else loading it says what
    is wrong."""
    src = model_files["caption"].read_bytes()
    size = int.from_bytes(src[:8], "little")
    header = json.loads(src[8:8 + size])
    header["__metadata__"]["kind"] = kind
    raw = json.dumps(header).encode()
    path = tmp_path / "m.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + src[8 + size:])
    assert catalog.kind_of(str(path)) == expected
