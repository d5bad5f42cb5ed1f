"""Captioning whole folders: `attnviewer caption DIR --out OUTDIR`.

Images are found by suffix (not recursively) and taken in sorted order; they go through the model
in batches. Per image, OUTDIR gets <stem>.json, <stem>.npz and <stem>.<figure format> (and an
animation if asked for). A file that cannot be read is skipped with a one-line warning. A second
run continues where the first stopped: an image whose outputs all exist is "already done"; one
with only some of them gets the missing ones (from its saved result where that exists, so no
model run is needed), and no existing file is replaced without --overwrite.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MediaError, OutputError, SettingsError
from ..media.images import IMAGE_SUFFIXES
from ..types import model_label


def find_images(inputs: list[str]) -> list[Path]:
    """Image files of the inputs: a folder's images by suffix, sorted; a file as it is."""
    found = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found += sorted((f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()),
                            key=lambda f: f.name)
        elif p.exists():
            found.append(p)
        else:
            raise MediaError(f"{p}: no such file or folder")
    if not found:
        raise MediaError(f"{', '.join(inputs)}: no images found (looked for {' '.join(IMAGE_SUFFIXES)})")
    return found


def output_stems(images: list[Path]) -> list[str]:
    """A distinct output name per image: its stem; its whole name where two share a stem
    (a.png, a.jpg); then -2, -3 ... where even that repeats (two folders)."""
    stems = Counter(p.stem for p in images)
    names = [p.stem if stems[p.stem] == 1 else p.name for p in images]
    seen: Counter = Counter()
    unique = []
    for n in names:
        seen[n] += 1
        unique.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return unique


@dataclass
class Item:
    image: Path
    outputs: dict[str, Path]  # kind (json, npz, figure, animation) -> file
    missing: list[str] = field(default_factory=list)


class Progress:
    """A one-line progress bar on stderr (only on a terminal); lines printed through it keep
    the bar below them."""

    WIDTH = 28

    def __init__(self, total: int, label: str = "captioning", stream=None, enabled: bool | None = None):
        self.total, self.done, self.label = total, 0, label
        self.stream = stream or sys.stderr
        self.enabled = (hasattr(self.stream, "isatty") and self.stream.isatty()) if enabled is None else enabled
        self.start = time.monotonic()
        self._draw()

    def _draw(self) -> None:
        if not self.enabled or self.total == 0:
            return
        frac = self.done / self.total
        fill = round(frac * self.WIDTH)
        eta = ""
        if 0 < self.done < self.total:
            left = (time.monotonic() - self.start) / self.done * (self.total - self.done)
            eta = f"  {int(left // 60)}:{int(left % 60):02d} left"
        self.stream.write(f"\r{self.label} {self.done}/{self.total} [{'#' * fill}{'.' * (self.WIDTH - fill)}] "
                          f"{frac:4.0%}{eta}\033[K")
        self.stream.flush()

    def _clear(self) -> None:
        if self.enabled and self.total:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def print(self, line: str, stream=None) -> None:
        self._clear()
        print(line, file=stream or sys.stdout, flush=True)
        self._draw()

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._draw()

    def close(self) -> None:
        if self.enabled:
            self._clear()
            self.enabled = False


def caption_folder(args: argparse.Namespace, settings, style) -> int:
    from .. import pipeline
    from ..export.data import load_result
    from ..kinds import IMAGE
    from ..media.images import load_image
    from .options import model_name
    from .outputs import check_animation, check_writable, print_result

    single = [f"--{k}" for k in ("figure", "json", "npz", "overlay", "animation") if getattr(args, k)]
    if single:
        raise OutputError(f"{' '.join(single)} name one file; with --out OUTDIR use --figure-format "
                          "and --animation-format")
    if args.batch_size < 1:
        raise SettingsError(f"batch size must be at least 1, got {args.batch_size}")
    outdir = Path(args.out)
    if outdir.exists() and not outdir.is_dir():
        raise OutputError(f"{outdir}: is a file; --out names a folder")
    images = find_images(args.images)
    fig_fmt = args.figure_format or "png"
    kinds = {"json": ".json", "npz": ".npz"}
    if fig_fmt != "none":
        kinds["figure"] = f".{fig_fmt}"
    if args.animation_format:
        kinds["animation"] = f".{args.animation_format}"
        check_animation(f"x.{args.animation_format}")
    items = [Item(img, {k: outdir / f"{stem}{suffix}" for k, suffix in kinds.items()})
             for img, stem in zip(images, output_stems(images))]
    for it in items:
        for kind, path in it.outputs.items():
            if path.is_dir():
                raise OutputError(f"{path}: is a folder; cannot write the {kind} of {it.image} there")
        it.missing = [k for k, p in it.outputs.items() if args.overwrite or not p.exists()]
    todo = [it for it in items if it.missing]
    already = len(items) - len(todo)
    name = None
    if any("json" in it.missing and "npz" in it.missing for it in todo):  # the model will run: name it now
        from .. import catalog

        name = model_name(args)
        catalog.resolve(name)
    if not outdir.exists():
        try:
            outdir.mkdir(parents=False)
        except FileNotFoundError:
            raise OutputError(f"{outdir}: folder {outdir.parent} does not exist") from None
        except OSError as e:
            raise OutputError(f"{outdir}: cannot create the folder ({e.strerror})") from None
    check_writable(outdir / "x")
    done = skipped = 0
    progress = Progress(len(todo))

    def warn(message: str) -> None:
        progress.print(f"attnviewer: warning: {message}", sys.stderr)

    def log(line: str) -> None:
        progress.print(line)

    model = title = None
    try:
        # Images with a saved result and only some outputs missing: no model run needed.
        fresh = []
        for it in todo:
            saved = [it.outputs[k] for k in ("npz", "json") if k not in it.missing]
            if not saved:
                fresh.append(it)
                continue
            try:
                result = load_result(saved[0])
                image = load_image(it.image)
            except MediaError as e:
                warn(f"{e}; skipped")
                skipped += 1
                progress.advance()
                continue
            if _render(it, image, result, args, style, args.title or result.title, warn):
                done += 1
            else:
                skipped += 1
            progress.advance()
        for start in range(0, len(fresh), args.batch_size):
            batch = fresh[start:start + args.batch_size]
            loaded = []
            for it in batch:
                try:
                    loaded.append((it, load_image(it.image)))
                except MediaError as e:
                    warn(f"{e}; skipped")
                    skipped += 1
                    progress.advance()
            if not loaded:
                continue
            if model is None:
                model = pipeline.load_model(IMAGE, name, args.device, args.trust_pickle)
                title = args.title or f"{model_label(model.name)}, {settings.describe()}"
            results = pipeline.run_all(IMAGE, model, [im for _, im in loaded], settings, batch=len(loaded))
            for (it, im), result in zip(loaded, results):
                result.source = str(it.image.resolve())
                print_result(IMAGE, result, settings.method, shown=str(it.image), log=log)
                if _render(it, im, result, args, style, title, warn):
                    done += 1
                else:
                    skipped += 1
                progress.advance()
    except KeyboardInterrupt:
        progress.close()
        print(f"interrupted: {done} done, {skipped} skipped, {already} already done; "
              "run the same command again to continue", file=sys.stderr)
        raise
    finally:
        progress.close()  # an error message starts on a clean line
    print(f"{done} done, {skipped} skipped, {already} already done (in {outdir})")
    return 0


def _render(it: Item, image, result, args, style, title, warn) -> bool:
    """Write the missing outputs of one image; False (with a warning) if its --word is out of range."""
    from ..kinds import IMAGE, WriteOptions
    from .outputs import word_index, write

    word = None
    if args.word is not None and "figure" in it.missing:
        try:
            word = word_index(args.word, result.best, str(it.image))
        except SettingsError as e:
            warn(f"{e}; skipped")
            return False
    out = {k: it.outputs[k] for k in it.missing}
    opts = WriteOptions(title=title, word=word, word_title=args.title, seconds=args.frame_seconds,
                        frame_size=args.frame_size, npz_ref=it.outputs["npz"])
    write(IMAGE, image, result, out, style, opts, log=lambda m: None)
    return True
