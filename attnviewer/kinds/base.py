"""The Kind interface: everything that differs between an image, a video and a sentence.

A kind says which inputs it takes, how it reads them (without the model: what the window shows
while the model loads), what it gives the model, how it builds a Result and which files it can
write. Everything downstream (the CLI, folder captioning, the engine, the window, exports) asks
the kind instead of branching on `result.kind`. No Qt here; torch only inside the methods that
build model inputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..types import Result, heads_layout, lens_label, titled  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class Output:
    """One file a kind can write for a result: its name, what it is, and the suffixes it takes."""

    id: str  # "result", "figure", "word", "overlay", "animation", "top_frames", "comparison"
    label: str  # as the Export dialog lists it
    suffixes: tuple[str, ...]
    uses: frozenset[str] = frozenset()  # the style options that change it (the dialog enables those)


FIGURE = (".png", ".svg", ".pdf")
ANIMATION = (".gif", ".mp4")
TEXT_STYLE = frozenset({"cmap", "opacity", "scale", "panel", "dpi", "font", "font_size", "show_prob"})
ANIMATION_STYLE = frozenset({"cmap", "opacity", "scale", "font", "font_size", "show_prob", "seconds", "size"})
RESULT = Output("result", "Raw result: JSON + NPZ (reopens with File → Open result…)", (".json",))
PAGE = Output("page", "Interactive page: one HTML file for any browser (words, maps, hypotheses)", (".html", ".htm"))
COMPARISON_LABEL = "Both columns in one figure (Compare)"  # the output "comparison": needs WriteOptions.others


@dataclass
class WriteOptions:
    """How a kind's outputs are drawn, beyond the figure style."""

    title: str | None = None  # figures' title (default: model and decoding; a comparison's labels say
    # that, so it is titled only by a title other than the result's own)
    word: int | None = None  # one word (from 0): a single-word figure, an overlay
    word_title: str | None = None
    hypothesis: int = 0  # which hypothesis of the result
    values: bool = False  # matrix: print the weights in the cells
    top_k: int = 3  # top frames per word
    seconds: float = 1.0  # animation: per word
    frame_size: int = 512  # animation: long side in pixels
    npz_ref: Path | None = None  # the NPZ a JSON written alone should point to
    progress: Callable[[int, int], None] | None = None  # animation frames done, of total (may raise to cancel)
    # output "comparison": the results drawn after this one, each (Result, hypothesis index from 0,
    # label or None for the result's title, its media as read: the Compare column's; None if unknown)
    others: list[tuple] = field(default_factory=list)
    specials: bool = False  # matrix: a column of the special tokens' share (transformers' </s>, language tags)


def animation_frame(frames, hyp, opts: WriteOptions):
    """The current word's frame of an animation (its preview): frames is the animation's iterator."""
    from itertools import islice

    return next(islice(frames, min(opts.word or 0, max(len(hyp.tokens) - 1, 0)), None))


@dataclass
class Kind:
    name: str  # what a model does and what a Result records: caption, video, translate
    medium: str  # image, video, text: what the user gives it (and which view shows it)
    noun: str  # "image", "video", "sentence": in messages
    uses: str  # "captions images": in messages about models of this kind
    command: str  # the CLI command that runs it
    default_model: str
    suffixes: tuple[str, ...] = ()  # files it opens (a sentence is typed, not opened)
    outputs: dict[str, Output] = field(default_factory=dict)

    @property
    def a_noun(self) -> str:
        """'an image', 'a video', 'a sentence': the noun with its article, in messages."""
        return f"{'an' if self.noun[:1] in 'aeiou' else 'a'} {self.noun}"

    # -- inputs ----------------------------------------------------------------------------------

    def accepts(self, source: str) -> bool:
        return Path(source).suffix.lower() in self.suffixes

    def read(self, source: str, config: dict, **options) -> Any:
        """The input as the user sees it, read and checked without the model (config: the model's
        header). MediaError with one line for anything wrong with it."""
        raise NotImplementedError

    def fit(self, media: Any, model) -> Any:
        """The input made right for the loaded model (e.g. re-read when its header was missing)."""
        return media

    def inputs(self, model, medias: list, device):
        """What model.init_state takes for a batch of inputs (torch)."""
        raise NotImplementedError

    def result(self, media: Any, model_name: str, settings: dict, hyps: list, seconds: float) -> Result:
        raise NotImplementedError

    # -- what it says and writes -----------------------------------------------------------------

    def shown(self, media) -> str:
        """How the input is named in the caption line."""
        return media.path

    def summary(self, result: Result) -> str | None:
        """One line after the caption: where each word looked (None: nothing to add)."""
        return None

    def reopen(self, result: Result, result_path: str | Path | None = None) -> Any:
        """The input of a saved result, read again for figures and the window."""
        raise NotImplementedError

    def same_input(self, media, other) -> bool:
        """Whether two inputs as read are the same one (a comparison draws results of one input)."""
        return Path(media.path).resolve() == Path(other.path).resolve()

    def comparison(self, media, result: Result, opts: WriteOptions) -> tuple[list, str | None]:
        """(entries for export.comparison.comparison_figure, its title) of output "comparison":
        this result, then opts.others; OutputError with one line without a second result, or for
        one of another kind or another input."""
        from ..errors import OutputError

        if not opts.others:
            raise OutputError("the comparison needs a second result: turn on View → Compare side by side "
                              "(or give `attnviewer export A.json --compare B.json`)")
        entries = [(result, opts.hypothesis, None)]
        for other in opts.others:
            r, index, label, other_media = (tuple(other) + (None, None, None))[:4]
            if (r.kind or "caption") != (result.kind or "caption"):
                raise OutputError(f"the results are of different kinds ({result.kind} and {r.kind}); a comparison "
                                  f"draws results of the same input")
            if other_media is not None and media is not None:
                same, ours, theirs = self.same_input(media, other_media), self.shown(media), self.shown(other_media)
            else:
                same, ours, theirs = r.source == result.source, result.source, r.source
            if not same:
                raise OutputError(f"the results are of different inputs ({ours} and {theirs}); a comparison "
                                  f"draws results of the same {self.noun}")
            entries.append((r, int(index or 0), label))
        title = opts.title if opts.title and opts.title != result.title else None
        return entries, title

    def write(self, output: str, media, result: Result, path, style, opts: WriteOptions) -> list[Path]:
        """Write one output (an id of self.outputs) atomically; returns the files written."""
        if output == "result":
            from ..export.data import npz_path_for, write_result

            if Path(path).suffix.lower() != ".json":
                from ..errors import OutputError

                raise OutputError(f"{path}: a result is written as JSON (with its NPZ beside it); name the file .json")
            return list(write_result(result, path, opts.npz_ref or npz_path_for(path)))
        if output == "page":
            from ..files import atomic_path
            from ..whatif.html import write_page

            with atomic_path(Path(path)) as tmp:
                write_page(media, result, tmp, opts.title)
            return [Path(path)]
        raise NotImplementedError(output)

    def preview(self, output: str, media, result: Result, style, opts: WriteOptions):
        """A small RGB picture of what write() would draw (the Export dialog's preview)."""
        raise NotImplementedError(output)
