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

from ..types import Result


@dataclass(frozen=True)
class Output:
    """One file a kind can write for a result: its name, what it is, and the suffixes it takes."""

    id: str  # "result", "figure", "word", "overlay", "animation", "top_frames"
    label: str  # as the Export dialog lists it
    suffixes: tuple[str, ...]
    uses: frozenset[str] = frozenset()  # the style options that change it (the dialog enables those)


FIGURE = (".png", ".svg", ".pdf")
ANIMATION = (".gif", ".mp4")
TEXT_STYLE = frozenset({"cmap", "opacity", "scale", "panel", "dpi", "font", "font_size", "show_prob"})
ANIMATION_STYLE = frozenset({"cmap", "opacity", "scale", "font", "font_size", "show_prob", "seconds", "size"})
RESULT = Output("result", "Raw result: JSON + NPZ (reopens with File → Open result…)", (".json",))


@dataclass
class WriteOptions:
    """How a kind's outputs are drawn, beyond the figure style."""

    title: str | None = None  # figures' title (default: model and decoding)
    word: int | None = None  # one word (from 0): a single-word figure, an overlay
    word_title: str | None = None
    hypothesis: int = 0  # which hypothesis of the result
    values: bool = False  # matrix: print the weights in the cells
    top_k: int = 3  # top frames per word
    seconds: float = 1.0  # animation: per word
    frame_size: int = 512  # animation: long side in pixels
    npz_ref: Path | None = None  # the NPZ a JSON written alone should point to
    progress: Callable[[int, int], None] | None = None  # animation frames done, of total (may raise to cancel)


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

    def media_size(self, media) -> int | None:
        """Input positions the model attends over, when known before it runs (None: from the model)."""
        return None

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

    def write(self, output: str, media, result: Result, path, style, opts: WriteOptions) -> list[Path]:
        """Write one output (an id of self.outputs) atomically; returns the files written."""
        if output == "result":
            from ..export.data import npz_path_for, write_result

            if Path(path).suffix.lower() != ".json":
                from ..errors import OutputError

                raise OutputError(f"{path}: a result is written as JSON (with its NPZ beside it); name the file .json")
            return list(write_result(result, path, opts.npz_ref or npz_path_for(path)))
        raise NotImplementedError(output)

    def preview(self, output: str, media, result: Result, style, opts: WriteOptions):
        """A small RGB picture of what write() would draw (the Export dialog's preview)."""
        raise NotImplementedError(output)
