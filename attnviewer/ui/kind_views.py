"""Which view shows which kind of input: the one table the window consults (napari's layer ->
controls table is the model). Every pane has the same small interface:

    set_media(media)                      a new input (LoadedImage, LoadedClip, Sentence) or None
    show_words(words, index, look)        the words so far, the current one, the overlay settings
    word_clicked = Signal(int)            (attention panes) the user picked a word

Panes are built on first use, so a window that never shows a video never builds a player.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Views:
    media: str  # "module:Class" of the media pane (left)
    attention: str  # "module:Class" of each column's attention pane
    look: frozenset[str]  # which overlay controls mean something for this kind
    noun: str  # for "Export figure" and messages
    share: float  # the media pane's share of the window's width (the rest: the attention columns)
    typed: bool = False  # the input is typed (a sentence), not opened from a file
    reversible: bool = False  # it can be played backwards (the arrow of time)
    least: int = 0  # px the media pane keeps beside two columns (a sentence box must stay readable)


VIEWS = {
    "image": Views("views:ImageView", "attention_pane:AttentionPane",
                   frozenset({"cmap", "opacity", "smoothing", "grid", "peak"}), "image", 0.16),
    "video": Views("video_panes:VideoMediaPane", "video_panes:VideoAttentionPane",
                   frozenset({"cmap", "peak"}), "video", 0.45, reversible=True),
    "text": Views("text_panes:TextMediaPane", "text_panes:TextAttentionPane",
                  frozenset({"cmap", "peak"}), "sentence", 0.3, typed=True, least=400),
}


def build(spec: str, parent=None):
    """A pane from its "module:Class" spec (modules of this package)."""
    from importlib import import_module

    module, name = spec.split(":")
    return getattr(import_module(f"{__package__}.{module}"), name)(parent)


def views_of(kind: str) -> Views:
    """The views of a kind ('caption', 'video', 'translate')."""
    from ..kinds import KINDS

    return VIEWS[KINDS[kind].medium]


def typed_kind() -> str:
    """The kind a typed sentence is."""
    from ..kinds import KINDS

    return next(k.name for k in KINDS.values() if VIEWS[k.medium].typed)


def stem(kind: str, source: str) -> str:
    """A file name's stem, or a sentence's first words: default names of exported files."""
    from pathlib import Path

    text = "-".join(source.split()[:4]) if views_of(kind).typed else Path(source).stem
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text) or "input"
