"""The table of kinds: image, video and text. Everything that differs between them is in here."""
from __future__ import annotations

from pathlib import Path

from ..errors import MediaError
from .base import Kind, Output, WriteOptions, heads_layout, lens_label, titled
from .image import IMAGE
from .text import TEXT, Sentence
from .video import VIDEO

KINDS: dict[str, Kind] = {k.name: k for k in (IMAGE, VIDEO, TEXT)}
OPENABLE = (IMAGE, VIDEO)  # kinds a file is opened as (a sentence is typed)

__all__ = ["IMAGE", "KINDS", "Kind", "OPENABLE", "Output", "Sentence", "TEXT", "VIDEO", "WriteOptions",
           "for_file", "for_result", "get", "heads_layout", "lens_label", "titled"]


def get(name: str) -> Kind:
    """The kind of a model or a Result ('caption', 'video', 'translate')."""
    try:
        return KINDS[name]
    except KeyError:
        raise MediaError(f"unknown kind {name!r}; known: {', '.join(KINDS)}") from None


def for_result(result) -> Kind:
    return get(result.kind or "caption")


def for_file(path: str | Path) -> Kind:
    """The kind that opens a file, by its suffix; else by its first bytes (a video container or
    not); an image by default, whose reader names what is wrong with the file."""
    for kind in OPENABLE:
        if kind.accepts(str(path)):
            return kind
    if _looks_like_video(Path(path)):
        return VIDEO
    return IMAGE


def _looks_like_video(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return False
    return (head[4:8] in (b"ftyp", b"moov", b"mdat") or head[:4] == b"\x1aE\xdf\xa3"  # MP4/MOV, Matroska/WebM
            or (head[:4] == b"RIFF" and head[8:12] == b"AVI "))
