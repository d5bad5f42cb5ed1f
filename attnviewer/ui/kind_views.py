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


VIEWS = {
    "image": Views("views:ImageView", "attention_pane:AttentionPane",
                   frozenset({"cmap", "opacity", "smoothing", "grid", "peak"}), "image", 0.25),
    "video": Views("video_panes:VideoMediaPane", "video_panes:VideoAttentionPane",
                   frozenset({"cmap", "peak"}), "video", 0.45),
    "text": Views("text_panes:TextMediaPane", "text_panes:TextAttentionPane",
                  frozenset({"cmap", "peak"}), "sentence", 0.3),
}


def build(spec: str, parent=None):
    """A pane from its "module:Class" spec (modules of this package)."""
    from importlib import import_module

    module, name = spec.split(":")
    return getattr(import_module(f"{__package__}.{module}"), name)(parent)
