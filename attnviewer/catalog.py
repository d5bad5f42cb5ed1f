"""Which models exist, of which kind: the bundled ones in resources/models, or a checkpoint file the
user names. Read from the files' safetensors headers only: no torch, so the window can list models."""
from __future__ import annotations

import json
import os
import time
from functools import lru_cache
from pathlib import Path

from .errors import CheckpointError, SettingsError
from .files import file_stamp
from .headers import read_header, read_metadata, safetensors_metadata, sniff  # noqa: F401  (re-exported)
from .model_folders import folder_kind, is_model_folder
from .resources import resource_dir

# The score-function names (kept here too so that listing models never imports torch).
SCORES = ("content", "additive", "location", "general", "dot", "scaled_dot")
ATTN_ACTIVATIONS = ("tanh", "relu")  # of the additive score (the Show-Attend-Tell tutorial's is relu)


@lru_cache(maxsize=None)
def models_dir() -> Path:
    """resources/models (resolved once: where the package lives does not change while it runs)."""
    return resource_dir() / "models"


def bundled(kind: str | None = None) -> dict[str, Path]:
    """Bundled model names -> files (or transformers folders), e.g. 'caption-shapes',
    'caption-shapes-vit'; only those of one kind (caption, translate, video) if a kind is given."""
    models = dict(_listing(models_dir()))
    return models if kind is None else {n: p for n, p in models.items() if kind_of(str(p)) == kind}


# Opening one input asked for the folder's listing 13 times and read each model's header up to
# 3 times, all on the GUI thread (10-20 ms of its CPU in one turn): both are kept while what they
# were read from is unchanged. A stamp younger than RACY_S is not trusted (a file written within
# the filesystem's clock tick of the reading leaves the stamp as it was), so it is read again.
RACY_S = 2.0
_LISTINGS: dict[Path, tuple[tuple, dict[str, Path]]] = {}  # folder -> (its stamp, name -> path)
_HEADERS: dict[str, tuple[tuple, dict | None]] = {}  # file -> (its stamp, its header's metadata)
MAX_HEADERS = 256


def _listing(folder: Path) -> dict[str, Path]:
    """The models folder's model files (by stem) and transformers folders (by name), listed again
    when the folder changed (a file added, removed or renamed) or one of its subfolders did (a
    config.json put in one)."""
    kept = _LISTINGS.get(folder)
    if kept is not None and kept[0] == _folder_stamp(folder, kept[0][1]):
        return kept[1]
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        entries = []
    models = {p.stem: p for p in entries if p.suffix == ".safetensors"}
    models.update({p.name: p for p in entries if not p.name.startswith(".") and is_model_folder(p)})
    subfolders = tuple(p for p in entries if not p.name.startswith(".") and p.is_dir())
    stamp = _folder_stamp(folder, subfolders)
    if stamp is not None and not _racy(stamp[0], *stamp[2]):
        _LISTINGS[folder] = (stamp, models)
    return models


def _folder_stamp(folder: Path, subfolders: tuple) -> tuple | None:
    """(the folder's mtime, its subfolders, each one's mtime); None if the folder cannot be stat-ed."""
    try:
        return folder.stat().st_mtime_ns, subfolders, tuple(_mtime(p) for p in subfolders)
    except OSError:
        return None


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _racy(*mtimes_ns) -> bool:
    """Whether a stamp is too young to tell a later change within the same clock tick."""
    now = time.time_ns()
    return any(m is None or now - m < RACY_S * 1e9 for m in mtimes_ns)


def kind_of(name_or_path: str) -> str | None:
    """What a model does (caption, translate, video), from its file's header (a transformers
    folder: its config.json); None if unreadable or not a name (loading then says what is wrong)."""
    folder = name_or_path if is_model_folder(name_or_path) else _bundled_folder(name_or_path)
    if folder is not None:
        try:
            return folder_kind(folder)
        except CheckpointError:
            return None
    return _kind_in(_metadata_of(name_or_path))


def _bundled_folder(name: str) -> Path | None:
    """The bundled transformers folder of this name, if there is one."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    path = models_dir() / name
    return path if is_model_folder(path) else None


def _kind_in(meta: dict | None) -> str | None:
    kind = meta.get("kind", "caption") if meta is not None else None
    return kind if isinstance(kind, str) else None


def _metadata_of(name_or_path: str) -> dict | None:
    """The header's metadata of a bundled model or a checkpoint file; None if unreadable."""
    try:
        path = str(resolve(name_or_path))
        if os.path.isdir(path):
            return None  # a transformers folder: no header (its config.json says what it is)
        stamp = file_stamp(path)
        kept = _HEADERS.get(path)
        if kept is not None and stamp is not None and kept[0] == stamp:
            return kept[1]
        meta = safetensors_metadata(path)
    except (OSError, ValueError, CheckpointError):
        return None
    if stamp is not None and not _racy(stamp[3]):
        if len(_HEADERS) >= MAX_HEADERS:
            _HEADERS.clear()  # (another thread may read too: no iterating over it here)
        _HEADERS[path] = (stamp, meta)
    return meta


def resolve(name_or_path: str) -> Path:
    """A bundled name or a path to a checkpoint file."""
    models = bundled()
    if name_or_path in models:
        return models[name_or_path]
    path = Path(name_or_path).expanduser()
    looks_like_path = path.suffix or "/" in name_or_path or path.exists()
    if not looks_like_path:
        names = ", ".join(models) or "none installed"
        raise CheckpointError(f"unknown model {name_or_path!r}; bundled models: {names}")
    return path


def family(name: str) -> str:
    """'caption-shapes-dot' -> 'caption-shapes': bundled variants differ by a score suffix."""
    for score in SCORES:
        name = name.removesuffix(f"-{score}")
    return name


def config_of(name_or_path: str) -> dict:
    """A model's config from its file's header, without loading it (or torch); {} if unreadable."""
    return _config_in(_metadata_of(name_or_path) or {})


def _config_in(meta: dict) -> dict:
    try:
        config = json.loads(meta.get("config", "{}"))
    except (ValueError, TypeError, RecursionError):
        return {}
    return config if isinstance(config, dict) else {}  # loading the model then says what is wrong


def variants(name_or_path: str) -> dict[str, str]:
    """Score function -> bundled model name, for the bundled family of a model of its kind (no
    torch needed; only the family's headers are read, each once)."""
    if is_model_folder(name_or_path) or _bundled_folder(name_or_path) is not None:
        return {}  # a transformers folder: no score-function siblings
    models, base = bundled(), family(name_or_path)
    family_meta = {n: _metadata_of(n) for n in [base] + [f"{base}-{s}" for s in SCORES] if n in models}
    if not family_meta:
        return {}
    kind = _kind_in(family_meta[name_or_path]) if name_or_path in family_meta else kind_of(name_or_path)
    return {_config_in(meta or {}).get("score", "?"): name for name, meta in family_meta.items()
            if kind in (None, _kind_in(meta))}  # None: the model is unreadable, any kind then


# a bundled model -> the one built to show its difference: the plain S2VT beside the video captioner,
# a transformer trained from scratch on the same data beside each attention LSTM (its
# cross-attention, layer by layer, against the LSTM's one map: benchmarks/transformer_grounding.md)
CONTRASTS = {"video-shapes": "video-s2vt", "caption-shapes": "caption-shapes-vit", "translate-sov": "translate-sov-marian"}


def comparison(name: str) -> str | None:
    """The bundled model to show beside this one when Compare first opens: its contrast model (the
    plain S2VT beside the video captioner, the transformer beside the captioner and the
    translator), its sibling trained
    with Show-Attend-Tell's lambda = 1 (the effect the bundled family is there to show), else one
    trained with another score function (for the lambda = 1 model: the main one); None if the
    model has no bundled sibling. A transformer is offered only where transformers is installed."""
    models, base = bundled(), family(name).removesuffix("-lambda1")
    contrasts = [CONTRASTS[name]] if name in CONTRASTS else [k for k, v in CONTRASTS.items() if v == name]
    candidates = contrasts + [f"{base}-lambda1", base] + list(variants(base).values())
    return next((c for c in candidates if c in models and c != name and can_open(models[c])), None)


def can_open(path: Path) -> bool:
    """Whether this installation can load the model: a transformers folder needs the optional
    transformers package (looked up, not imported)."""
    from importlib.util import find_spec

    return not path.is_dir() or find_spec("transformers") is not None


def variant_with_score(name_or_path: str, score: str) -> str:
    """The bundled sibling of a model trained with another score function."""
    if score not in SCORES:
        raise SettingsError(f"unknown score function {score!r}; choose one of {', '.join(SCORES)}")
    available = variants(name_or_path)
    if score in available:
        return available[score]
    have = ", ".join(sorted(available)) or "none"
    raise CheckpointError(f"model {name_or_path!r} has no variant with {score} attention (available: {have})")


# ---- models the user brings: files opened, and a models folder ---------------------------------
# models/header.py's FORMAT (the full check is there, when a model loads); kept here so that
# listing models needs neither torch nor the models package.
MODEL_FORMAT = "attnviewer-1"
LIST_HEADER_MAX_BYTES = 20_000_000  # header.HEADER_MAX_BYTES: a larger header is no model of ours


def model_kind(path: str | Path) -> str:
    """What a model file does (caption, video, translate), from its safetensors header alone:
    enough to list it in the window's model box. CheckpointError (one line naming the file) for a
    missing file, a pickle, or a file that is no attnviewer model."""
    path = Path(path)
    if is_model_folder(path):
        return folder_kind(path)
    try:
        if not path.is_file():
            raise CheckpointError(f"{path}: {'is a folder' if path.is_dir() else 'no such file'}")
        meta = safetensors_metadata(path, LIST_HEADER_MAX_BYTES)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read it ({e.strerror or type(e).__name__})") from None
    except ValueError as e:
        raise CheckpointError(f"{path}: not a model file ({' '.join(str(e).split())[:120]})") from None
    if meta is None:
        raise CheckpointError(f"{path}: not a safetensors model file")
    if meta.get("format") != MODEL_FORMAT:
        raise CheckpointError(f"{path}: not an attnviewer model (no '{MODEL_FORMAT}' metadata)")
    kind = meta.get("kind", "caption")
    if not isinstance(kind, str):
        raise CheckpointError(f"{path}: its model kind is not a name")
    return kind


def models_in(folder: str | Path, read_kind=model_kind) -> dict[str, list[Path]]:
    """The attnviewer models (*.safetensors) in a folder, by kind (`read_kind` of a file; CheckpointError
    if none), each list sorted by file name; files that are no such model are left out, and a
    folder that does not exist has none."""
    found: dict[str, list[Path]] = {}
    try:
        files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() == ".safetensors")
    except OSError:
        return found
    for path in files:
        try:
            found.setdefault(read_kind(path), []).append(path)
        except CheckpointError:
            continue
    return found
