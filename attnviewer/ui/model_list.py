"""The models the window's model boxes offer, shared by both columns, and what of them is remembered.

Offered for a kind of input (caption, video, translate): the bundled models of that kind, then
the models in the user's models folder (`attnviewer/models` in the platform's data folder, e.g.
~/.local/share/attnviewer/models), then the model files the user opened (File → Open model…, or
dropped on the window) whose header says that kind. Kinds are read from the files' safetensors
headers by catalog (a transformers model folder, opened like a file: from its config.json and
weight headers, model_folders.inspect; one that is refused is not listed), then the supported
models in the user's Hugging Face cache (listed by the engine: `set_cached`). No torch on the GUI thread, and each header once while its file stays the same
(the boxes are listed again at every change).

Remembered across restarts (QSettings, `models/...`): the model files opened, and the model last
chosen for each kind in the main column. A remembered file that has gone missing or is no model
any more is dropped from the list, with one line saying so (the `dropped` signal). Pickle
checkpoints (.pt, .pth) are listed only once the user has agreed to load them (the window asks),
and only until the app quits: a pickle can run code, and the file may be replaced meanwhile, so
agreeing is never remembered. A file opened that cannot decode (its header is no model's, or
loading it fails) says why and is taken off the list again (`forget`); the previous model stays.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QStandardPaths, Signal

from .. import catalog
from ..errors import CheckpointError, printable
from ..files import file_stamp
from ..kinds import KINDS

OPENED_KEY = "models/opened"
CHOSEN_KEY = "models/chosen/"  # + kind
MAX_REMEMBERED = 200  # model files opened (a longer list in the settings is not the app's)


def user_models_folder() -> Path:
    """`attnviewer/models` in the platform's data folder (on Linux $XDG_DATA_HOME, else ~/.local/share)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    return Path(base) / "attnviewer" / "models"


def _paths(value) -> list[str]:
    """A list setting as a list of strings (an INI file gives one element back as a plain string;
    a value of another type, or an absurdly long list, is not the app's)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)):
        return []
    return [v for v in value[:MAX_REMEMBERED] if isinstance(v, str)]


class ModelList(QObject):
    dropped = Signal(str)  # one line: what was dropped from the list, and why
    changed = Signal()  # a file was added to the list: the boxes list it

    def __init__(self, settings: QSettings | None = None, folder: Path | None = None, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.folder = folder
        self.opened: list[str] = _paths(settings.value(OPENED_KEY, [])) if settings is not None else []
        self.session: dict[str, list[str]] = {}  # per kind: files listed until the app quits, never saved
        self._chosen: dict[str, str] = {}  # the choices of this session, pickles included
        self._bundled: dict[str, list[str]] | None = None  # kind -> bundled names (fixed while the app runs)
        self._read: dict[str, tuple[tuple, str, str]] = {}  # file -> (stat, kind, why it has none), as last read
        self._choices_checked = False
        self.cached: dict[str, list[str]] = {}  # kind -> snapshot folders in the Hugging Face cache
        self._labels: dict[str, str] = {}  # cached folder -> 'org/name'

    def bundled(self, kind: str | None = None) -> list[str]:
        """The bundled model names (of a kind), their headers read once."""
        if self._bundled is None:
            self._bundled = {}
            for name in catalog.bundled():
                self._bundled.setdefault(catalog.kind_of(name) or "", []).append(name)
        if kind is None:
            return [n for names in self._bundled.values() for n in names]
        return list(self._bundled.get(kind, []))

    # -- what is listed --------------------------------------------------------------------------

    def file_kind(self, path: str | Path) -> str:
        """The kind of a model file the window can offer; CheckpointError (one line) if none. The
        header is read again only when the file changed (path, size, mtime, inode): the box is
        listed on the GUI thread, at every change of either column."""
        path = str(path)
        stamp = file_stamp(path)  # None: gone, model_kind says so
        if stamp is None or self._read.get(path, (None,))[0] != stamp:
            try:
                kind, problem = catalog.model_kind(path), ""
                if kind not in KINDS:
                    kind, problem = "", f"{path}: a model of unknown kind {kind[:40]!r}"
            except CheckpointError as e:
                kind, problem = "", str(e)
            self._read[path] = (stamp, kind, problem)
        _, kind, problem = self._read[path]
        if problem:
            raise CheckpointError(problem)
        return kind

    def names(self, kind: str) -> list[str]:
        """Bundled names and file paths offered for a kind, in the box's order, each once."""
        found = self.bundled(kind)
        if self.folder is not None:
            found += [str(p) for p in catalog.models_in(self.folder, self.file_kind).get(kind, [])]
        found += [p for p in self.opened if p in self._read and self._read[p][1] == kind]  # as check() read them
        found += self.session.get(kind, [])
        found += self.cached.get(kind, [])
        chosen = self.chosen(kind)  # a model of the cache chosen last time, before the cache is listed
        if chosen and chosen not in found and self._why_not(kind, chosen) is None:
            found.append(chosen)
        return list(dict.fromkeys(found))

    def label(self, name: str) -> str:
        """What the box shows: a bundled name as it is, a cached model as 'org/name', a file or
        folder by its name."""
        if name in self._labels:
            return self._labels[name]
        if name in self.bundled():
            return name
        from ..model_folders import cache_label

        return cache_label(Path(name))

    def set_cached(self, entries: list) -> None:
        """The supported models found in the Hugging Face cache: [(folder, kind, label)]."""
        self.cached, self._labels = {}, {}
        for path, kind, label in entries:
            if kind in KINDS:
                self.cached.setdefault(kind, []).append(path)
                self._labels[path] = f"{label} (cache)"
        self.changed.emit()

    def check(self) -> None:
        """Check the remembered files again (a header is read again if its file changed); drop
        (and say so) those that are gone or no model any more, and remembered choices that can no
        longer be made (one `dropped` line for all of them); the settings are saved once."""
        gone = []
        for path in list(self.opened):
            try:
                self.file_kind(path)
            except CheckpointError as e:
                self.opened.remove(path)
                gone.append(str(e))
        if gone:
            self._save_opened()
        # the remembered choices once, at start; later a choice is checked when it is made
        keys = self.settings.allKeys() if self.settings is not None and not self._choices_checked else []
        self._choices_checked = True
        for key in keys:
            if not key.startswith(CHOSEN_KEY):
                continue
            kind, name = key[len(CHOSEN_KEY):], self.settings.value(key)
            problem = self._why_not(kind, name) if isinstance(name, str) else "not a model's name"
            if problem:
                self.settings.remove(key)
                self._chosen.pop(kind, None)
                if not any(str(name) in g for g in gone):  # said once is enough
                    gone.append(f"last chosen {kind} model: {problem}")
        if gone:
            self.dropped.emit(printable(f"dropped from the model list: {'; '.join(gone)}"))

    def _why_not(self, kind: str, name) -> str | None:
        """Why a remembered choice cannot be offered for a kind (None: it can)."""
        if not isinstance(name, str) or not name:
            return f"{name!r} is no model name"
        if name in self.bundled():
            return None if name in self.bundled(kind) else f"{name} is not a {kind} model"
        try:
            made_for = self.file_kind(name)
        except CheckpointError as e:
            return str(e)
        return None if made_for == kind else f"{name} is a {made_for} model, not a {kind} model"

    # -- what the user does ----------------------------------------------------------------------

    def add(self, path: str, kind: str) -> None:
        """A model file the user opened while the box listed `kind`: remembered under its header's
        kind if it is a model of ours, else listed for `kind` in this session only. Every box is
        listed again once (`changed`)."""
        try:
            made_for = self.file_kind(path)
        except CheckpointError:
            made_for = None
        remembered = made_for is not None and path.isprintable()  # the settings file cannot hold other names
        if remembered and path not in self.opened:
            self.opened.append(path)
            self._save_opened()
        if not remembered or made_for != kind:
            listed = self.session.setdefault(kind, [])
            if path not in listed:
                listed.append(path)
        self.changed.emit()

    def forget(self, path: str) -> None:
        """A file opened that could not decode (no model, or a damaged one): no box lists it any
        more, and it is not remembered (the boxes are listed again once: `changed`)."""
        if path in self.opened:
            self.opened.remove(path)
            self._save_opened()
        for listed in self.session.values():
            if path in listed:
                listed.remove(path)
        for kind in [k for k, v in self._chosen.items() if v == path]:
            self._chosen[kind] = ""  # not the settings' older choice either: the box's default until chosen
        if self.settings is not None:
            for key in self.settings.allKeys():
                if key.startswith(CHOSEN_KEY) and self.settings.value(key) == path:
                    self.settings.remove(key)
        self.changed.emit()

    def chosen(self, kind: str) -> str | None:
        """The model last chosen for a kind: in this session, else remembered from an earlier one."""
        if kind in self._chosen or self.settings is None:
            return self._chosen.get(kind)
        value = self.settings.value(CHOSEN_KEY + kind)
        return value if isinstance(value, str) and value else None

    def choose(self, kind: str, name: str) -> None:
        """Remember the model chosen for a kind; in the settings only if it can be offered again
        next time (a bundled model or a model file of ours, not a pickle): else the default then."""
        self._chosen[kind] = name
        if self.settings is None:
            return
        if name and name.isprintable() and self._why_not(kind, name) is None:
            self.settings.setValue(CHOSEN_KEY + kind, name)
        else:
            self.settings.remove(CHOSEN_KEY + kind)

    def _save_opened(self) -> None:
        if self.settings is not None:
            self.settings.setValue(OPENED_KEY, list(self.opened))
