"""Output files of the decode commands: named and checked before any work, written through the
kind, and the caption lines printed.

All the outputs of one input are written as a set (OutputSet): each to a temporary name beside
its target (``.NAME.XXXXXXXX.part.SUFFIX``), renamed into place only when every one of them is
complete. A failure of any (an error, a full disk, Ctrl-C) removes every temporary and leaves the
targets as they were, so a rerun starts clean, without --overwrite.

Symlinks: an output named by a symlink is never written through. A symlink, even a dangling one,
counts as an existing output (refused without --overwrite); with --overwrite the link itself is
replaced by the new file and whatever it pointed to is left alone.

Everything printed (file names, words, captions) goes through `printable`: a file name that is
not valid UTF-8 shows its bytes as \\xNN, and control characters (escape codes) are shown
repr-style, never sent to the terminal raw.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import OutputError, SettingsError, printable
from ..files import put_in_place, temporary_beside, write_problem

SUFFIXES = {"json": (".json",), "npz": (".npz",), "overlay": (".png",)}


def output_paths(out: str | None, names: list[str], suffixes: tuple[str, ...], what: str,
                 numbered: bool = False) -> list[Path | None]:
    """One output per input: OUT itself for one input, else OUT-<input name> (or OUT-1, OUT-2, ...
    when numbered: sentences have no names)."""
    if out is None:
        return [None] * len(names)
    out_path = Path(out)
    if out_path.suffix.lower() not in suffixes:
        raise OutputError(f"{out}: unsupported {what} format; use one of {', '.join(suffixes)}")
    check_folder_exists(out)
    if len(names) == 1:
        return [out_path]
    tags = [str(i) for i in range(1, len(names) + 1)] if numbered else [Path(p).stem for p in names]
    return [out_path.with_name(f"{out_path.stem}-{t}{out_path.suffix}") for t in tags]


def check_folder_exists(out) -> None:
    """OutputError when OUT's folder does not exist: outputs never make folders (a typo never
    makes a tree of them)."""
    folder = Path(out).parent
    if not folder.is_dir():
        raise OutputError(f"{out}: folder {folder} does not exist")


def plan(kind, requested: dict[str, str | None], names: list[str], numbered: bool = False) -> list[dict]:
    """Per input, {output id: path} of the outputs asked for; 'json' is the result (its NPZ beside
    it unless --npz names one). Suffixes come from the kind's table."""
    per = {}
    for key, out in requested.items():
        if out is None:
            continue
        suffixes = SUFFIXES.get(key) or kind.outputs["result" if key == "json" else key].suffixes
        per[key] = output_paths(out, names, suffixes, key.replace("_", "-"), numbered)
    plans = [{key: paths[i] for key, paths in per.items()} for i in range(len(names))]
    for p in plans:
        if "json" in p and "npz" not in p:
            p["npz"] = p["json"].with_suffix(".npz")
    return plans


def check_outputs(paths, overwrite: bool) -> None:
    """Before any work: no output named twice, none a folder, none existing unless --overwrite."""
    seen = set()
    folders: dict = {}  # each folder resolved and checked once (translate --file names 100,000 files)
    for p in paths:
        if p is None:
            continue
        p = Path(p)
        folder, name = os.path.split(os.fspath(p))
        exists = os.path.lexists(p)
        if folder not in folders:
            folders[folder] = os.path.realpath(folder or ".")
            check_writable(p)
        # a name not there resolves as its folder does
        key = str(p.resolve()) if exists or name in ("", ".", "..") else os.path.join(folders[folder], name)
        if key in seen:
            raise OutputError(f"{p}: named for two outputs; give each output its own file")
        seen.add(key)
        if exists and p.is_dir():
            raise OutputError(f"{p}: is a folder; name a file to write")
        if exists and not overwrite:  # a symlink (dangling too) is an existing output
            what = "is a symlink" if p.is_symlink() else "already exists"
            raise OutputError(f"{printable(p)}: {what}; add --overwrite to replace it")


def check_plans(plans: list[dict], overwrite: bool) -> None:
    check_outputs([p for plan_ in plans for p in plan_.values()], overwrite)
    for plan_ in plans:
        check_animation(plan_.get("animation"))


def check_writable(path) -> None:
    """OutputError now, not after the model ran, for a file in a folder we may not write in."""
    folder = Path(path).parent if str(Path(path).parent) else Path(".")
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write, no permission to write in {folder}")


def check_animation(path) -> None:
    """An MP4 needs an encoder: find out before the model runs."""
    if path is not None and str(path).lower().endswith(".mp4"):
        from ..export.animation import check_mp4

        check_mp4(path)


def word_index(word: int | None, hyp, source: str) -> int | None:
    """--word N (from 1) as an index from 0, checked against the caption."""
    if word is None:
        return None
    if word < 1:
        raise SettingsError(f"--word counts from 1, got {word}")
    if word > len(hyp.tokens):
        raise SettingsError(f"--word {word}: the caption of {source} has only {len(hyp.tokens)} words")
    return word - 1


class OutputSet:
    """The outputs of one input, written as a set: `temporary(target)` names a file beside the
    target for a writer to fill; leaving the block without an error renames every one into place,
    an error (or Ctrl-C) removes them all and leaves the targets untouched. An OSError becomes one
    OutputError line naming the target, not the temporary. Renaming replaces a symlink at the
    target, it never writes through it."""

    def __init__(self):
        self.pending: list[tuple[Path, Path]] = []

    def temporary(self, final) -> Path:
        final = Path(final)
        self.current = final
        tmp = Path(temporary_beside(final, ".part" + final.suffix))  # the writers pick the format by the suffix
        self.pending.append((tmp, final))
        return tmp

    def __enter__(self) -> "OutputSet":
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self._commit()
            return False
        pending = list(self.pending)
        self._discard()
        if isinstance(exc, OSError):
            raise OutputError(write_problem(getattr(self, "current", Path(".")), exc)) from None
        if isinstance(exc, OutputError):  # a writer's own line names our temporary: name the target
            message = str(exc)
            for tmp, final in pending:
                message = message.replace(str(tmp), str(final))
            if message != str(exc):
                raise OutputError(message) from None
        return False

    def _discard(self) -> None:
        for tmp, _ in self.pending:
            for leftover in [tmp, *tmp.parent.glob(f".{tmp.name}.*.part")]:  # a writer's own, if any
                try:
                    leftover.unlink(missing_ok=True)
                except OSError:
                    pass
        self.pending = []

    def _commit(self) -> None:
        placed = []
        try:
            for tmp, final in self.pending:
                self.current = final
                put_in_place(tmp, final)
                placed.append(final)
        except OSError as e:
            for final in placed:  # all or none
                final.unlink(missing_ok=True)
            self._discard()
            raise OutputError(write_problem(self.current, e)) from None
        self.pending = []


PIECES_HELP = ("transformers: one word per subword piece the model wrote (default: the pieces of a word "
               "as one, their maps averaged)")


def add_pieces(p) -> None:
    """--pieces: a subword model's output shown piece by piece instead of word by word."""
    p.add_argument("--pieces", action="store_true", help=PIECES_HELP)


def shown_result(result, args):
    """The result as printed and drawn: a subword model's pieces merged into words
    (target_words.word_result), or kept with --pieces. The saved result keeps the pieces."""
    from ..target_words import word_result

    return result if getattr(args, "pieces", False) else word_result(result)


def write(kind, media, result, plan_: dict, style, opts, log=print, fields: dict | None = None,
          drawn=None) -> list[Path]:
    """Every output of one plan, through the kind, as one set (OutputSet): the result's JSON and
    NPZ first (with `fields` added to their record), and nothing lands unless every file is
    complete. With --word, the figure is that word's alone. `drawn`: the result the figures draw
    where it differs from the one saved (default: a subword model's pieces grouped into words,
    target_words.word_result; the file keeps the pieces). The lines saying what was written come
    after all of it is in place."""
    from ..export.data import write_result
    from ..target_words import word_result

    drawn = drawn if drawn is not None else word_result(result)

    if opts.word is not None and "figure" in plan_ and "word" in kind.outputs:
        plan_ = {("word" if k == "figure" else k): v for k, v in plan_.items()}
    written, lines = [], []
    with OutputSet() as files:
        json_out, npz_out = plan_.get("json"), plan_.get("npz")
        if json_out is not None or npz_out is not None:
            write_result(result, files.temporary(json_out) if json_out is not None else None,
                         files.temporary(npz_out) if npz_out is not None else None,
                         arrays=opts.npz_ref, npz_name=npz_out, fields=fields)
            paths = [Path(p) for p in (json_out, npz_out) if p is not None]
            lines.append("  wrote " + " and ".join(printable(p) for p in paths))
            written += paths
        for key, path in plan_.items():
            if key in ("json", "npz") or path is None:
                continue
            kind.write(key, media, drawn, files.temporary(path), style, opts)
            lines.append(f"  wrote {printable(path)}")
            written.append(Path(path))
    for line in lines:
        log(line)
    return written


def lens_line(result) -> str | None:
    """A transformer's lens, and each word's share of attention on the special tokens (CLS, </s>,
    language tags: the "sink") where its input has any: '  lens: layer 2 of 2, mean of heads;
    on special tokens: 0.31 0.25 0.45'. None for other models."""
    from ..kinds import lens_label

    label = lens_label(result)
    if label is None:
        return None
    line = f"  lens: {label}"
    places, sinks = result.places, result.best.sinks
    if sinks and places is not None and (places.token_place < 0).any():
        line += "; on special tokens: " + " ".join(f"{s:.2f}" for s in sinks)
    return line


def print_result(kind, result, method: str, shown: str | None = None, log=print) -> None:
    """The caption, each word with its probability, the other beam hypotheses, and the kind's
    line on where the words looked."""
    best = result.best
    log(f"{printable(shown or result.source)}: {printable(best.shown)}")
    log("  " + "  ".join(f"{printable(t)} ({p:.2f})" for t, p in zip(best.tokens, best.probs)))
    if best.cut:
        log(f"  {best.cut}: no end word yet; --max-len allows more")
    if method == "beam" and len(result.hypotheses) > 1:
        for h in result.hypotheses[1:]:
            log(f"  alt {h.score:7.3f}  {printable(h.shown)}")
    line = lens_line(result)
    if line:
        log(printable(line))
    line = kind.summary(result)
    if line:
        log("\n".join(printable(part) for part in line.split("\n")))
    if result.note:
        log(f"  note: {printable(result.note)}")
