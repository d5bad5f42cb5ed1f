"""The window's saved settings, read as untrusted input.

The settings file is the user's to edit, and anything can stand at its path: a link to a device or
to another file, a FIFO, a folder, a file of megabytes, values of the wrong type. So:
- it is read only when it is a regular file of a sane size; anything else is moved aside (a link
  is renamed, never followed: its target is not touched) and the app starts on defaults;
- before every write the path is checked again, so the settings never go through a link that
  appeared while the app ran (QSettings replaces the file atomically, at the path we leave it);
- every value is read through a typed accessor with limits; a value of the wrong type is dropped
  and said once in `problems`, which the window shows in its status bar. Nothing here raises;
- what is set is written WRITE_AFTER_MS later in a turn of the event loop of its own (QSettings
  writes in the turn after a change, with the window's repaint: 3-9 ms more in the turn of an
  input's opening); sync() and the object's end write at once.
"""
from __future__ import annotations

import os
import stat
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings, QTimer

from ..errors import printable

MAX_FILE_BYTES = 1 << 20  # the app writes a few KB; a larger file is not ours to parse
MAX_TEXT = 4096  # one saved path or name
MAX_ITEMS = 200  # one saved list (recent files: 10; opened models: tens)
WRITE_AFTER_MS = 500  # changes written together, this long after the first one


def default_path() -> Path:
    """Where QSettings("attnviewer", "attnviewer") keeps its file on Linux (the native INI format)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "attnviewer" / "attnviewer.conf"


def _unreadable(path: Path) -> str | None:
    """Why the file at path must not be read (None: read it; a missing file is fine)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"cannot be examined ({e.strerror})"
    if stat.S_ISLNK(st.st_mode):
        return f"is a link (to {printable(os.readlink(path))})"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    if st.st_size > MAX_FILE_BYTES:
        return f"is {st.st_size // 1024} KB (the app writes a few)"
    if not os.access(path, os.R_OK | os.W_OK):
        return "cannot be read and written"
    return None


def _set_aside(path: Path, why: str) -> str:
    """Rename what stands at path (a link itself, never its target) so the app writes a file of its
    own there; the user's thing is kept beside it. Returns the line the user reads."""
    aside = path.with_name(f"{path.name}.unread-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        os.rename(path, aside)
    except OSError as e:
        return f"the settings file {printable(str(path))} {why} and could not be moved aside ({e.strerror}): " \
               "settings are not read or saved this session"
    return f"the settings file {why}: not read; kept as {printable(aside.name)}, the app starts on its defaults"


class StoredSettings(QSettings):
    """QSettings on a checked file, with typed reads (see the module's docstring)."""

    def __init__(self, path: str | Path | None = None, parent=None):
        self.path = Path(path) if path is not None else default_path()
        self.problems: list[str] = []
        why = _unreadable(self.path)
        self.writable = True
        if why is not None:
            line = _set_aside(self.path, why)
            self.problems.append(line)
            self.writable = "could not be moved" not in line
        # a path that could not be cleared is never opened: the settings of this session live in a
        # file of a fresh private folder then, and are not kept
        target = self.path if self.writable else Path(tempfile.mkdtemp(prefix="attnviewer-settings-")) / "unused.ini"
        super().__init__(str(target), QSettings.Format.IniFormat, parent)
        self._later = _WriteLater(self)

    # -- writes --------------------------------------------------------------------------------------

    def _safe_to_write(self) -> bool:
        if not self.writable:
            return False
        why = _unreadable(self.path)
        if why is not None and why != "cannot be read and written":
            self.problems.append(_set_aside(self.path, why))
        return True

    def setValue(self, key: str, value) -> None:  # noqa: N802 (Qt's name)
        if self._safe_to_write():
            super().setValue(key, value)

    def sync(self) -> None:
        if self._safe_to_write():
            super().sync()

    # -- typed reads ---------------------------------------------------------------------------------

    def _drop(self, key: str, what: str) -> None:
        self.problems.append(f"saved setting {printable(key)!s} was not {what}: dropped")
        if self.writable:
            self.remove(key)

    def text(self, key: str, default: str = "", limit: int = MAX_TEXT) -> str:
        value = self.value(key, None)
        if value is None:
            return default
        if not isinstance(value, str) or len(value) > limit or "\x00" in value:
            self._drop(key, "a short text")
            return default
        return value

    def texts(self, key: str, limit: int = MAX_ITEMS) -> list[str]:
        """A list of short texts (an INI file gives a one-element list back as a plain string)."""
        value = self.value(key, None)
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            self._drop(key, "a list of names")
            return []
        good = [v for v in value[:limit] if isinstance(v, str) and v and len(v) <= MAX_TEXT and "\x00" not in v]
        if len(good) != len(value):
            self.problems.append(f"saved setting {printable(key)} held {len(value) - len(good)} unusable "
                                 f"entr{'y' if len(value) - len(good) == 1 else 'ies'}: dropped")
            if self.writable:
                super().setValue(key, good)
        return good

    def blob(self, key: str) -> QByteArray | None:
        """Saved window geometry or splitter state (bytes Qt itself checks when restoring)."""
        value = self.value(key, None)
        if value is None:
            return None
        if not isinstance(value, QByteArray) or value.size() > 64 * 1024:
            self._drop(key, "saved window state")
            return None
        return value

    def record(self, key: str, defaults: dict) -> dict:
        """A mapping with the defaults' keys, each of its default's type (bool from 'true'/'false');
        unknown keys ignored, a wrong value dropped (that field takes its default)."""
        value = self.value(key, None)
        if value is None:
            return dict(defaults)
        if not isinstance(value, dict):
            self._drop(key, "a set of named values")
            return dict(defaults)
        out, bad = dict(defaults), []
        for name, default in defaults.items():
            if name not in value:
                continue
            got = typed(value[name], type(default))
            if got is None:
                bad.append(name)
            else:
                out[name] = got
        if bad:
            self.problems.append(f"saved setting {printable(key)}: {', '.join(bad)} unusable: defaults taken")
        return out


def typed(value, kind: type):
    """value as kind (bool, int, float, str) or None. INI files give back every scalar as a string."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        return {"true": True, "false": False, "1": True, "0": False}.get(value) if isinstance(value, str) else None
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)) or len(str(value)) > 32:
            return None
        try:
            number = kind(value)
        except ValueError:
            return None
        return number if number == number and abs(number) < 1e9 else None  # NaN, inf, absurd sizes
    if kind is str:
        return value if isinstance(value, str) and len(value) <= MAX_TEXT else None
    return None


class _WriteLater(QObject):
    """Holds QSettings' own write (its UpdateRequest to itself) and writes WRITE_AFTER_MS later."""

    def __init__(self, settings: "StoredSettings"):
        super().__init__(settings)
        self._due = False
        settings.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        if event.type() != QEvent.Type.UpdateRequest:
            return False
        if not self._due:
            self._due = True
            QTimer.singleShot(WRITE_AFTER_MS, self, self._write)
        return True

    def _write(self) -> None:
        self._due = False
        self.parent().sync()  # (StoredSettings.sync: the path checked first)
