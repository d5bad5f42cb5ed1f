"""The format readers behind corpus.py (the formats, splits and tokenisation are documented there).

Annotation files are checked before they are parsed: a regular file, at most MAX_ANNOTATION_BYTES,
text (no NUL byte in its first block). CSV and TSV are read with the csv module one record at a
time, so a bad line costs that line only; JSON is parsed whole (COCO's Karpathy file is ~150 MB).
"""
from __future__ import annotations

import csv
import json
import os
import re
import stat
import sys
from pathlib import Path
from typing import Callable, Iterator

from ..errors import DataError, printable
from .corpus import SPLIT_NAMES, Corpus, Item, Problems, hashed_split, make_corpus, tokenize

MAX_ANNOTATION_BYTES = 2 * 1024 ** 3
# the video suffixes the app opens, as kinds/video.py has them (a higher layer; a test holds them equal)
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".gif")
HEAD_BYTES = 4096  # what is read to tell text from binary and JSON from CSV
DEV_NAMES = ("val", "valid", "dev", "validation")  # a pair folder's validation file, <name>.tsv

Entry = tuple[str | None, str, list[tuple[str, ...]]]  # (split or None for hashed, id, captions)


def _head(path: Path, what: str) -> bytes:
    """The first bytes of an annotation file, after checking it is a text file of a sane size."""
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise DataError(f"{printable(path)}: a folder, not {what}")
        if not stat.S_ISREG(st.st_mode):
            raise DataError(f"{printable(path)}: not a regular file")
        if st.st_size > MAX_ANNOTATION_BYTES:
            raise DataError(f"{printable(path)}: {st.st_size / 2 ** 30:.1f} GiB, over the 2 GiB limit for annotation files")
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
    except FileNotFoundError:
        raise DataError(f"{printable(path)}: no such file") from None
    except OSError as e:
        raise DataError(f"{printable(path)}: cannot be read ({e.strerror or e})") from None
    if b"\0" in head:
        raise DataError(f"{printable(path)}: a binary file, not {what}")
    if not head.strip():
        raise DataError(f"{printable(path)}: empty, not {what}")
    return head


def _is_json(path: Path, head: bytes) -> bool:
    return path.suffix.lower() == ".json" or head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[")


def _load_json(path: Path):
    """(the parsed file, whether it holds bytes that were not UTF-8). Such bytes stay as stand-ins
    (surrogateescape): the entry holding one is skipped, not the file."""
    try:
        text = path.read_bytes().decode("utf-8-sig", "surrogateescape")
        return json.loads(text), _undecodable(text)
    except OSError as e:
        raise DataError(f"{printable(path)}: cannot be read ({e.strerror or e})") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{printable(path)}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except RecursionError:
        raise DataError(f"{printable(path)}: JSON nested too deeply") from None


_STAND_INS = re.compile("[\udc80-\udcff]")  # what surrogateescape puts for bytes that are not UTF-8


def _undecodable(text: str) -> bool:
    return _STAND_INS.search(text) is not None


def _dirty(value) -> bool:
    """True if any string in a JSON value holds bytes that were not UTF-8 (a loop: nesting is the file's)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str) and _undecodable(v):
            return True
        if isinstance(v, dict):
            stack += [*v.keys(), *v.values()]
        elif isinstance(v, list):
            stack += v
    return False


def _rows(path: Path, problems: Problems, delimiter: str = ",", quoting: int = csv.QUOTE_MINIMAL,
          label: str = "line") -> Iterator[tuple[str, list[str]]]:
    """(where, fields) of each record; blank lines pass, a record the csv module refuses or with
    bytes that are not UTF-8 is counted and skipped."""
    try:
        with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
            reader = csv.reader(f, delimiter=delimiter, quoting=quoting)
            while True:
                where = f"{label} {reader.line_num + 1}"
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error:  # a field over the csv module's size limit, a stray quote, ...
                    problems.add("malformed line", where)
                    continue
                if not any(c.strip() for c in row):
                    continue
                if any(map(_undecodable, row)):
                    problems.add("non-UTF-8 line", where)
                    continue
                yield where, row
    except OSError as e:
        raise DataError(f"{printable(path)}: cannot be read ({e.strerror or e})") from None


def _header(rows: Iterator[tuple[str, list[str]]]) -> dict[str, int]:
    """Column name (stripped, lower-case) -> index, from the first record."""
    _, header = next(rows, ("", []))
    return {c.strip().lower(): i for i, c in enumerate(header)}


def _captions_by_id(rows: Iterator[tuple[str, list[str]]], width: int, key: Callable[[list[str]], str],
                    caption: int, split: int | None, problems: Problems,
                    keep: Callable[[list[str]], bool] = lambda row: True) -> list[Entry]:
    """Captions grouped by id in order of first appearance, from CSV records of `width` columns."""
    captions: dict[str, list[tuple[str, ...]]] = {}
    split_of: dict[str, str] = {}
    for where, row in rows:
        if len(row) != width or not key(row):
            problems.add("malformed line", where)
            continue
        if not keep(row):
            continue
        name = key(row)
        if split is not None and row[split].strip():
            named = SPLIT_NAMES.get(row[split].strip().lower())
            if named is None:
                problems.add("unknown split", f"{where}: {row[split].strip()}")
                continue
            if split_of.setdefault(name, named) != named:
                problems.add("conflicting split", f"{where}: {name}")
                continue
        tokens = tokenize(row[caption])
        if not tokens:
            problems.add("empty caption", where)
            continue
        captions.setdefault(name, []).append(tuple(tokens))
    return [(split_of.get(name), name, caps) for name, caps in captions.items()]


def _split(named: str | None, key: str) -> str:
    return named if named is not None else hashed_split(key)


# --- image captions -------------------------------------------------------------------------------

def _sentence_words(s) -> tuple[str, ...] | None:
    """A Karpathy sentence's tokens, lower-cased (tokenize(raw) where they are absent); None if neither is there."""
    if not isinstance(s, dict):
        return None
    tokens = s.get("tokens")
    if isinstance(tokens, list) and tokens:
        try:
            # one join per caption (COCO's file holds 7M tokens); interned as tokenize's are
            return tuple(map(sys.intern, " ".join(tokens).lower().split()))
        except TypeError:  # a token that is not a string: the raw text instead
            pass
    raw = s.get("raw")
    return tuple(tokenize(raw)) if isinstance(raw, str) else None


def _karpathy(path: Path, problems: Problems) -> list[tuple[str | None, str, str, list[tuple[str, ...]]]]:
    """(split, id, path relative to the image root, captions) of each usable image entry."""
    data, dirty = _load_json(path)
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise DataError(f"{printable(path)}: no \"images\" list, so not a Karpathy split file")
    out, seen = [], set()
    for n, entry in enumerate(images):
        where = f"images[{n}]"
        if not isinstance(entry, dict):
            problems.add("bad JSON entry", where)
            continue
        if dirty and _dirty(entry):
            problems.add("non-UTF-8 entry", where)
            continue
        filename, filepath = entry.get("filename"), entry.get("filepath")
        filepath = "" if filepath is None else filepath  # only COCO's file has it
        sentences, split = entry.get("sentences"), entry.get("split")
        if not (isinstance(filename, str) and filename.strip() and isinstance(filepath, str)
                and isinstance(sentences, list) and (split is None or isinstance(split, str))):
            problems.add("bad JSON entry", where)
            continue
        named = SPLIT_NAMES.get(split.strip().lower()) if split is not None else None
        if split is not None and named is None:
            problems.add("unknown split", f"{where}: {split}")
            continue
        if filename in seen:
            problems.add("duplicate image", filename)
            continue
        seen.add(filename)
        if not sentences:
            problems.add("uncaptioned image", filename)
            continue
        captions = []
        for k, s in enumerate(sentences):
            words = _sentence_words(s)
            if words is None:
                problems.add("bad JSON entry", f"{where}.sentences[{k}]")
                continue
            if words:
                captions.append(words)
            else:
                problems.add("empty caption", f"{filename} caption {k + 1}")
        if captions:
            out.append((named, filename, os.path.join(filepath, filename), captions))
    return out


def _inside_of(folder: str, follow_links: bool) -> Callable[[str], bool]:
    """Whether a dataset's path (absolute, normalised) stays inside `folder` (--images, --clips):
    by its name alone, and with every link on its way resolved when the files are read."""
    top = os.path.realpath(folder) if follow_links else folder

    def inside(path: str) -> bool:
        real = os.path.realpath(path) if follow_links else path
        return os.path.commonpath([top, real]) == top

    return inside


def image_captions(annotations: Path, image_root: Path | None, check_files: bool = True) -> Corpus:
    what = "a Karpathy split JSON or an image,caption CSV"
    head = _head(annotations, what)
    root = Path(image_root) if image_root is not None else annotations.parent
    if check_files and not root.is_dir():
        raise DataError(f"{printable(root)}: no such folder of images")
    problems = Problems()
    if _is_json(annotations, head):
        entries = _karpathy(annotations, problems)
    else:
        rows = _rows(annotations, problems, "\t" if annotations.suffix.lower() == ".tsv" else ",")
        columns = _header(rows)
        if "image" not in columns or "caption" not in columns:
            raise DataError(f"{printable(annotations)}: not {what} (its first line should name the columns image,caption)")
        grouped = _captions_by_id(rows, len(columns), lambda row: row[columns["image"]].strip(), columns["caption"],
                                  columns.get("split"), problems)
        entries = [(split, name, name, caps) for split, name, caps in grouped]
    items, folder = [], os.path.abspath(root)
    inside = _inside_of(folder, check_files)
    for named, name, relative, captions in entries:
        path = os.path.normpath(os.path.join(folder, relative))  # strings: pathlib costs more than the stat
        if not inside(path):  # ../../etc/passwd, /proc/self/mem, a link out: never opened
            problems.add("out-of-folder image", relative)
            continue
        if check_files and not os.path.isfile(path):  # one stat per image
            problems.add("missing image", relative)
            continue
        items.append((_split(named, name), Item(name, path, tuple(captions))))
    return make_corpus("caption", items, problems, str(annotations))


# --- video captions -------------------------------------------------------------------------------

def _msrvtt(path: Path, problems: Problems) -> list[Entry]:
    data, dirty = _load_json(path)
    sentences = data.get("sentences") if isinstance(data, dict) else None
    videos = data.get("videos") if isinstance(data, dict) else None
    if not isinstance(sentences, list) or not (videos is None or isinstance(videos, list)):
        raise DataError(f"{printable(path)}: no \"sentences\" list, so not MSR-VTT's JSON")
    split_of: dict[str, str | None] = {}
    for n, v in enumerate(videos or ()):
        vid = v.get("video_id") if isinstance(v, dict) else None
        split = v.get("split") if isinstance(v, dict) else None
        if not (isinstance(vid, str) and vid.strip() and (split is None or isinstance(split, str))):
            problems.add("bad JSON entry", f"videos[{n}]")
            continue
        if dirty and _dirty(v):
            problems.add("non-UTF-8 entry", f"videos[{n}]")
            continue
        named = SPLIT_NAMES.get(split.strip().lower()) if split is not None else None
        if split is not None and named is None:
            problems.add("unknown split", f"videos[{n}]: {split}")
        elif vid in split_of:
            problems.add("duplicate video", vid)
        else:
            split_of[vid] = named
    captions: dict[str, list[tuple[str, ...]]] = {vid: [] for vid in split_of}
    described = set()
    for n, s in enumerate(sentences):
        vid = s.get("video_id") if isinstance(s, dict) else None
        if not (isinstance(vid, str) and isinstance(s.get("caption"), str)):
            problems.add("bad JSON entry", f"sentences[{n}]")
            continue
        if dirty and _dirty(s):
            problems.add("non-UTF-8 entry", f"sentences[{n}]")
            continue
        if videos is not None and vid not in split_of:
            problems.add("orphan caption", f"sentences[{n}]: {vid}")
            continue
        described.add(vid)
        tokens = tokenize(s["caption"])
        if tokens:
            captions.setdefault(vid, []).append(tuple(tokens))
        else:
            problems.add("empty caption", f"sentences[{n}]")
    for vid in captions.keys() - described:
        problems.add("uncaptioned video", vid)
    return [(split_of.get(vid), vid, caps) for vid, caps in captions.items() if caps]


def _msvd(path: Path, problems: Problems) -> list[Entry]:
    rows = _rows(path, problems, "\t" if path.suffix.lower() == ".tsv" else ",")
    c = _header(rows)
    if {"video_id", "caption"} <= c.keys():
        return _captions_by_id(rows, len(c), lambda row: row[c["video_id"]].strip(), c["caption"], c.get("split"),
                               problems)
    if {"videoid", "start", "end", "language", "description"} <= c.keys():  # MSVD's own, many languages
        def video_id(row: list[str]) -> str:
            parts = [row[c["videoid"]].strip(), row[c["start"]].strip(), row[c["end"]].strip()]
            return "_".join(parts) if all(parts) else ""
        return _captions_by_id(rows, len(c), video_id, c["description"], c.get("split"), problems,
                               keep=lambda row: row[c["language"]].strip().lower() == "english")
    raise DataError(f"{printable(path)}: not MSR-VTT's JSON or an MSVD CSV (its first line should name the columns "
                    "video_id,caption or VideoID,Start,End,...,Language,Description)")


def _clip_index(root: Path) -> dict[str, Path]:
    """Video id -> clip file, from one walk of the folder (the suffix order breaks ties)."""
    rank = {s: k for k, s in enumerate(VIDEO_SUFFIXES)}
    found: dict[str, tuple[int, Path]] = {}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            stem, suffix = os.path.splitext(name)
            r = rank.get(suffix.lower())
            if r is not None and (stem not in found or r < found[stem][0]):
                found[stem] = (r, Path(folder) / name)
    return {stem: path for stem, (_, path) in found.items()}


def video_captions(annotations: Path, clip_root: Path, check_files: bool = True) -> Corpus:
    head = _head(annotations, "MSR-VTT's JSON or an MSVD CSV")
    if check_files and not clip_root.is_dir():
        raise DataError(f"{printable(clip_root)}: no such folder of clips")
    problems = Problems()
    entries = _msrvtt(annotations, problems) if _is_json(annotations, head) else _msvd(annotations, problems)
    clips = _clip_index(clip_root) if check_files else {}
    inside = _inside_of(os.path.abspath(clip_root), check_files)
    items = []
    for named, vid, captions in entries:
        path = clips.get(vid)
        if path is None and check_files:
            problems.add("missing clip", vid)
            continue
        path = path or clip_root / f"{vid}.mp4"
        if not inside(os.path.normpath(os.path.abspath(path))):  # a clip that is a link out of --clips
            problems.add("out-of-folder clip", vid)
            continue
        items.append((_split(named, vid), Item(vid, os.path.abspath(path), tuple(captions))))
    return make_corpus("video", items, problems, str(annotations))


# --- sentence pairs -------------------------------------------------------------------------------

def _pair_items(path: Path, problems: Problems, split: str | None, label: str,
                interned: bool = True) -> Iterator[tuple[str, Item]]:
    head = _head(path, "tab-separated sentence pairs")
    if _is_json(path, head) or b"\t" not in head:
        raise DataError(f"{printable(path)}: not tab-separated sentence pairs (source<TAB>target per line)")
    for where, row in _rows(path, problems, "\t", csv.QUOTE_NONE, label):
        if len(row) != 2:
            problems.add("malformed line", where)
            continue
        source = tokenize(row[0], keep_punctuation=True, interned=False)  # kept as one string, joined
        target = tokenize(row[1], keep_punctuation=True, interned=interned)
        if not source or not target:
            problems.add("empty sentence", where)
            continue
        text = " ".join(source)
        yield _split(split, text), Item(where, text, (tuple(target),))


def pair_files(path: Path) -> list[tuple[str | None, Path, str]]:
    """(split or None for hashed, file, label of its lines) of a pair file or folder, in reading order."""
    if not path.is_dir():
        return [(None, path, "line")]
    dev = next((path / f"{n}.tsv" for n in DEV_NAMES if (path / f"{n}.tsv").exists()), None)
    files = {"train": path / "train.tsv", "val": dev, "test": path / "test.tsv"}
    if not files["train"].exists():
        raise DataError(f"{printable(path)}: no train.tsv in the folder (it should hold train.tsv, val.tsv, test.tsv)")
    return [(split, f, f"{f.name} line") for split, f in files.items()
            if f is not None and (split == "train" or f.exists())]


def pair_stream(path: Path, problems: Problems, interned: bool = True) -> Iterator[tuple[str, Item]]:
    """(split, item) of every usable pair, one at a time (a corpus larger than memory is read so);
    interned=False where the target words are not kept."""
    for split, f, label in pair_files(path):
        yield from _pair_items(f, problems, split, label, interned)


def pairs(path: Path) -> Corpus:
    problems = Problems()
    return make_corpus("translate", pair_stream(path, problems), problems, str(path))
