"""The window's saved settings file is untrusted: links, special files, huge files and values of the
wrong type are never followed, never hang and never end the app (ui/stored_settings.py)."""
import os
import stat
import threading

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from PySide6.QtCore import QByteArray, QPoint, QSettings

from attnviewer.ui.stored_settings import MAX_ITEMS, WRITE_AFTER_MS, StoredSettings


def _aside(folder):
    return [p for p in folder.iterdir() if ".unread-" in p.name]


def test_a_link_is_set_aside_and_its_target_never_written(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("the user's own file\n")
    path = tmp_path / "attnviewer.conf"
    path.symlink_to(target)
    s = StoredSettings(path)
    assert s.problems and "is a link" in s.problems[0] and "not read" in s.problems[0]
    s.setValue("recent", ["/a.png"])
    s.sync()
    assert target.read_text() == "the user's own file\n"
    assert stat.S_ISREG(os.lstat(path).st_mode), "the app writes a regular file of its own"
    assert StoredSettings(path).texts("recent") == ["/a.png"]
    (kept,) = _aside(tmp_path)
    assert kept.is_symlink() and os.readlink(kept) == str(target)


def test_a_link_that_appears_while_the_app_runs_is_not_written_through(tmp_path):
    path = tmp_path / "attnviewer.conf"
    s = StoredSettings(path)
    s.setValue("last_folder", "/x")
    s.sync()
    target = tmp_path / "device-stand-in"
    target.write_bytes(b"\x00\x01")
    path.unlink()
    path.symlink_to(target)
    s.setValue("last_folder", "/y")
    s.sync()
    assert target.read_bytes() == b"\x00\x01"
    assert not path.is_symlink() and StoredSettings(path).text("last_folder") == "/y"


def test_a_fifo_is_never_opened(tmp_path):
    path = tmp_path / "attnviewer.conf"
    os.mkfifo(path)
    done = []
    t = threading.Thread(target=lambda: done.append(StoredSettings(path)), daemon=True)
    t.start()
    t.join(10)
    assert done, "reading the settings waited on a FIFO"
    assert "not a regular file" in done[0].problems[0]
    assert stat.S_ISFIFO(os.lstat(_aside(tmp_path)[0]).st_mode)


def test_a_huge_file_is_not_parsed(tmp_path):
    path = tmp_path / "attnviewer.conf"
    path.write_text("[General]\nrecent=" + ", ".join(f"/p/{i}.png" for i in range(200_000)) + "\n")
    s = StoredSettings(path)
    assert s.texts("recent") == [] and "KB" in s.problems[0]


def test_long_lists_are_cut_and_bad_entries_dropped(tmp_path):
    path = tmp_path / "s.conf"
    raw = QSettings(str(path), QSettings.Format.IniFormat)
    raw.setValue("recent", [f"/p/{i}.png" for i in range(20_000)])
    raw.setValue("opened", ["/ok.safetensors", 5, QPoint(1, 2), ""])
    raw.sync()
    del raw
    s = StoredSettings(path)
    assert len(s.texts("recent")) == MAX_ITEMS
    assert s.texts("opened") == ["/ok.safetensors"]
    assert any("opened" in p and "3 unusable entries" in p for p in s.problems)


def test_a_point_where_a_list_belongs_is_dropped(tmp_path):
    path = tmp_path / "s.conf"
    raw = QSettings(str(path), QSettings.Format.IniFormat)
    raw.setValue("recent", QPoint(3, 4))
    raw.setValue("geometry", "not bytes")
    raw.sync()
    del raw
    s = StoredSettings(path)
    assert s.texts("recent") == [] and s.blob("geometry") is None
    assert len(s.problems) == 2
    assert StoredSettings(path).problems == [], "a dropped value is removed, not said again"


values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=True),
              st.text(max_size=30), st.builds(QPoint, st.integers(-9, 9), st.integers(-9, 9)),
              st.binary(max_size=20).map(QByteArray)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recent=values, overlay=values, folder=values, geometry=values)
def test_any_saved_values_read_as_their_types(tmp_path, recent, overlay, folder, geometry):
    path = tmp_path / "h.conf"
    path.unlink(missing_ok=True)
    raw = QSettings(str(path), QSettings.Format.IniFormat)
    for key, value in {"recent": recent, "overlay": overlay, "last_folder": folder, "geometry": geometry}.items():
        if value is not None:
            raw.setValue(key, value)
    raw.sync()
    del raw
    s = StoredSettings(path)
    got = s.texts("recent")
    assert isinstance(got, list) and all(isinstance(p, str) and p for p in got)
    defaults = {"cmap": "jet", "opacity": 0.6, "grid": False}
    record = s.record("overlay", defaults)
    assert set(record) == set(defaults) and all(type(record[k]) is type(v) for k, v in defaults.items())
    assert record["opacity"] == record["opacity"], "NaN never comes back as a setting"
    assert isinstance(s.text("last_folder"), str)
    assert s.blob("geometry") is None or isinstance(s.blob("geometry"), QByteArray)
    assert all(isinstance(p, str) and "\n" not in p for p in s.problems)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can create a device node")
def test_a_device_node_at_the_settings_path_is_not_replaced_through(tmp_path):
    path = tmp_path / "attnviewer.conf"
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # like /dev/null
    s = StoredSettings(path)
    s.setValue("x", "1")
    s.sync()
    (kept,) = _aside(tmp_path)
    assert stat.S_ISCHR(os.lstat(kept).st_mode) and stat.S_ISREG(os.lstat(path).st_mode)


def test_a_change_is_written_later_in_a_turn_of_its_own_and_at_once_by_sync(qtbot, tmp_path):
    """QSettings wrote its file in the turn after a change, with the window's repaint (3-9 ms more
    in the turn of an input's opening): the file is written WRITE_AFTER_MS later, once for the
    changes made meanwhile; sync() writes at once, and the path is checked at the write."""
    path = tmp_path / "settings.ini"
    s = StoredSettings(path)
    s.setValue("last_folder", "/somewhere")
    s.setValue("recent", ["a.png"])
    qtbot.wait(50)  # turns go by: nothing written yet
    assert not path.exists() or "somewhere" not in path.read_text()
    qtbot.waitUntil(lambda: path.exists() and "somewhere" in path.read_text(), timeout=WRITE_AFTER_MS + 3000)
    assert "a.png" in path.read_text()
    s.setValue("last_folder", "/elsewhere")
    s.sync()
    assert "elsewhere" in path.read_text()
    s.setValue("last_folder", "/third")
    link_target = tmp_path / "not-ours.txt"
    link_target.write_text("keep")
    path.unlink()
    path.symlink_to(link_target)  # a link appears before the write: set aside, never written through
    qtbot.waitUntil(lambda: not path.is_symlink(), timeout=WRITE_AFTER_MS + 3000)
    assert link_target.read_text() == "keep"
