"""Captioning whole folders: `attnviewer caption DIR --out OUTDIR`.

Images are found by suffix (not recursively) and taken in sorted order; they go through the model
in batches. Per image, OUTDIR gets <stem>.json, <stem>.npz and <stem>.<figure format> (and an
animation if asked for). A file that cannot be read is skipped with a one-line warning, whatever
the cause (a decoder error, a hostile chunk, an error drawing its figure): one bad file never stops
the run. Only a problem of OUTDIR itself (OutputError: a full disk, no permission) stops it, since
every later file would meet it too.

A second run continues where the first stopped: an image whose outputs all exist is "already
done"; one with only some of them gets the missing ones (from its saved result where that exists,
so no model run is needed), and no existing file is replaced without --overwrite.

What each output was made from is recorded in its JSON (and in the NPZ's copy of it): `source`
(the input's resolved path) and `input` ({"path", "size", "mtime_ns"} of the file). On resume an
existing output counts only if it was made from this very input: if it names another file (another
folder's pic.png) or this file has changed since (size or mtime), the image is skipped with a
one-line warning naming both, and nothing is replaced; --overwrite makes it again. Outputs with no
readable record (no JSON or NPZ beside them) are kept as they are.

Ctrl-C and SIGTERM stop the run the same way: the file being written is removed, the summary is
printed, and the exit status is 130 (Ctrl-C) or 143 (SIGTERM). Temporary files of our own
(`.<name>.XXXXXXXX.part`, see files.atomic_path) left in OUTDIR by a run killed harder than that
(SIGKILL, a power cut) are removed at the start of the next run.

Under torchrun (RANK and WORLD_SIZE in the environment) each process captions only its share of
the images (ranks.py: a stable hash of the output name picks the one rank that writes it), with
its model on cuda:LOCAL_RANK when CUDA is present (else the CPU). The ranks do not talk to each
other and share no file: each prints its own lines and its own summary ("rank 1 of 2: ..."), and
removes only stale temporaries of its own outputs (another rank's are still being written). A
rerun with any number of ranks continues where the last stopped, as above.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MediaError, OutputError, SettingsError, first_line, printable
from ..files import remove_temporaries
from ..media.images import IMAGE_SUFFIXES
from ..torchrun import World, rank_device, world_from_env
from ..types import model_label
from . import ranks


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
    saved: Path | None = None  # the existing result file read on resume (the JSON, else the NPZ)
    record: dict | MediaError | None = None  # what read_saved found in it (read once), or why it could not


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that it stops as on Ctrl-C (temporary files removed)."""


def input_stamp(image: Path) -> dict:
    """What an output is made from: the input's resolved path (with path_bytes for a name that is
    not UTF-8, as results keep `source`), size and modification time."""
    from ..export.data import source_fields

    st = image.stat()
    return {**source_fields(str(image.resolve()), "path"), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _same_path(record: dict, key: str, path: str) -> bool:
    """Whether a recorded path (KEY, and KEY_bytes for a name that is not UTF-8) names `path`."""
    from ..export.data import source_fields

    want = source_fields(path, key)
    return record.get(key) == want[key] and record.get(f"{key}_bytes") == want.get(f"{key}_bytes")


def read_saved(it: Item) -> None:
    """Read the record of an item's existing result once, its JSON's (else its NPZ's copy), within
    the limits of result files: what the resume compares with the image, and what any missing
    outputs are then made from (load_result checks it). An unreadable one keeps its MediaError."""
    from ..export.data import result_data

    for key in ("json", "npz"):
        if key in it.outputs and key not in it.missing:
            it.saved = it.outputs[key]
            try:
                it.record = result_data(it.saved)
                return
            except MediaError as e:
                it.record = e


def made_from_other(it: Item) -> str | None:
    """Why the existing outputs of an item were not made from its image (None: they were, or
    there is no readable record to tell)."""
    data = it.record
    if not isinstance(data, dict):
        return None
    stamp = input_stamp(it.image)
    here = str(it.image.resolve())
    shown = printable(next(str(p) for k, p in it.outputs.items() if p.exists()))
    source = data.get("source")
    made = data.get("input") if isinstance(data.get("input"), dict) else {}
    if isinstance(source, str) and not _same_path(data, "source", here):
        return f"{shown} was made from {printable(source)}, not from {printable(here)}"
    if "path" in made and not _same_path(made, "path", here):
        return f"{shown} was made from {printable(str(made['path']))}, not from {printable(here)}"
    if ("size" in made and made["size"] != stamp["size"]) or ("mtime_ns" in made and made["mtime_ns"] != stamp["mtime_ns"]):
        return f"{shown} was made from an older version of {printable(here)} (it has changed since)"
    return None


def remove_stale_temporaries(outdir: Path, suffixes, only: set[str] | None = None) -> int:
    """Remove `.<name>.XXXXXXXX.part` files of ours (an output suffix in <name>) from OUTDIR;
    with `only`, just those for the outputs so named (the others may be another rank's, live)."""
    return remove_temporaries(outdir, lambda name, target: any(s in name.lower() for s in suffixes)
                              and (only is None or target in only))


def _on_sigterm(signum, frame):
    raise Terminated()


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
    from ..kinds import titled
    from .options import model_lens, model_name, refuse_lens_without_heads
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
    share = world_from_env(needs=ranks.NEEDS)
    images = find_images(args.images)
    fig_fmt = args.figure_format or "png"
    kinds = {"json": ".json", "npz": ".npz"}
    if fig_fmt != "none":
        kinds["figure"] = f".{fig_fmt}"
    if args.animation_format:
        kinds["animation"] = f".{args.animation_format}"
        check_animation(f"x.{args.animation_format}")
    # names come from the whole listing, so that every rank names every image alike
    items = [Item(img, {k: outdir / f"{stem}{suffix}" for k, suffix in kinds.items()})
             for img, stem in zip(images, output_stems(images)) if ranks.owner(stem, share.size) == share.rank]
    for it in items:
        for kind, path in it.outputs.items():
            if path.is_dir():
                raise OutputError(f"{path}: is a folder; cannot write the {kind} of {it.image} there")
        it.missing = [k for k, p in it.outputs.items() if args.overwrite or not p.exists()]
    foreign = []  # (item, why): outputs of another input under this image's names
    if not args.overwrite:
        for it in items:
            if len(it.missing) < len(it.outputs):
                try:
                    read_saved(it)
                    why = made_from_other(it)
                except OSError:
                    why = None
                if why:
                    foreign.append((it, why))
                if not it.missing:
                    it.record = None  # complete: nothing is made from it (records of a big folder add up)
        items = [it for it in items if all(it is not f for f, _ in foreign)]
    todo = [it for it in items if it.missing]
    already = len(items) - len(todo)
    name = None
    if any("json" in it.missing and "npz" in it.missing for it in todo):  # the model will run: name it now
        from .. import catalog

        name = model_name(args)
        catalog.resolve(name)
        refuse_lens_without_heads(args, name)
    if not outdir.exists():
        try:
            outdir.mkdir(parents=False)
        except FileExistsError:  # another rank made it just now
            if not outdir.is_dir():
                raise OutputError(f"{outdir}: is a file; --out names a folder") from None
        except FileNotFoundError:
            raise OutputError(f"{outdir}: folder {outdir.parent} does not exist") from None
        except OSError as e:
            raise OutputError(f"{outdir}: cannot create the folder ({e.strerror})") from None
    check_writable(outdir / "x")
    own = {p.name for it in items for p in it.outputs.values()} if share.distributed else None
    remove_stale_temporaries(outdir, [s.lower() for s in kinds.values()], own)
    done = skipped = 0
    # one bar per process on a shared terminal would garble: ranks print their lines only
    progress = Progress(len(todo), enabled=False if share.distributed else None)

    def warn(message: str) -> None:
        progress.print(f"attnviewer: warning: {printable(message)}", sys.stderr)

    for it, why in foreign:
        warn(f"{it.image}: {why}; skipped (--overwrite makes it again)")
        skipped += 1

    def skip(it: Item, e: BaseException) -> None:
        nonlocal skipped
        text = str(e) if isinstance(e, MediaError) else f"{it.image}: {first_line(e)}"
        warn(f"{text}; skipped")
        skipped += 1
        progress.advance()

    def tally(ok: bool) -> None:
        """One image finished: written, or skipped (its warning was given)."""
        nonlocal done, skipped
        done, skipped = done + int(ok), skipped + int(not ok)
        progress.advance()

    def load(it: Item):
        image = load_image(it.image)
        for note in image.notes:
            warn(note)
        return image

    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: SIGTERM keeps its default
        pass

    def log(line: str) -> None:
        progress.print(line)

    model = title = None
    try:
        # Images with a saved result and only some outputs missing: no model run needed.
        fresh = []
        for it in todo:
            if it.saved is None:
                fresh.append(it)
                continue
            try:
                if isinstance(it.record, MediaError):
                    raise it.record
                result = load_result(it.saved, it.record)
                image = load(it)
                ok = _render(it, image, result, args, style, args.title or titled(result), warn)
            except OutputError:
                raise
            except Exception as e:  # any problem of this one file: skip it, go on
                skip(it, e)
                continue
            tally(ok)
        for start in range(0, len(fresh), args.batch_size):
            batch = fresh[start:start + args.batch_size]
            loaded = []
            for it in batch:
                try:
                    loaded.append((it, load(it)))
                except Exception as e:  # any problem of this one file
                    skip(it, e)
            if not loaded:
                continue
            if model is None:
                _use_rank_gpu(share, args.device)
                model = pipeline.load_model(IMAGE, name, args.device, args.trust_pickle)
                lens = model_lens(args, model, name)
                title = f"{model_label(model.name)}, {settings.describe()}"
            try:
                pairs = list(zip(loaded, pipeline.run_all(IMAGE, model, [im for _, im in loaded], settings,
                                                          batch=len(loaded), lens=lens)))
            except (OutputError, MemoryError):
                raise
            except Exception:  # one image spoiled the batch: run them one by one to find it
                pairs = []
                for it, im in loaded:
                    try:
                        pairs += [((it, im), pipeline.run_all(IMAGE, model, [im], settings, batch=1, lens=lens)[0])]
                    except (OutputError, MemoryError):
                        raise
                    except Exception as e:
                        skip(it, e)
            for (it, im), result in pairs:
                try:
                    result.source = str(it.image.resolve())
                    print_result(IMAGE, result, settings.method, shown=str(it.image), log=log)
                    ok = _render(it, im, result, args, style, args.title or titled(result, title), warn)
                except OutputError:
                    raise
                except Exception as e:
                    skip(it, e)
                    continue
                tally(ok)
    except KeyboardInterrupt as e:
        progress.close()
        what = "terminated" if isinstance(e, Terminated) else "interrupted"
        print(f"{ranks.label(share)}{what}: {done} done, {skipped} skipped, {already} already done; "
              "run the same command again to continue", file=sys.stderr)
        if isinstance(e, Terminated):
            raise SystemExit(128 + signal.SIGTERM) from None
        raise
    finally:
        progress.close()  # an error message starts on a clean line
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print(f"{ranks.label(share)}{done} done, {skipped} skipped, {already} already done (in {outdir})")
    return 0


def _use_rank_gpu(share: World, device: str) -> None:
    """Under torchrun, make this rank's GPU the current one, where "cuda" then puts the model."""
    if not share.distributed or device == "cpu":
        return
    import torch

    if torch.cuda.is_available():
        torch.cuda.set_device(torch.device(rank_device(share, "cuda")))


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
    # the JSON and the NPZ record what they were made from, beside `source`: path, size, mtime
    write(IMAGE, image, result, out, style, opts, log=lambda m: None, fields={"input": input_stamp(it.image)})
    return True
