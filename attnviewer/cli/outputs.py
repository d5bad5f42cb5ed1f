"""Output files of the decode commands: named and checked before any work, written through the
kind (each file atomically), and the caption lines printed."""
from __future__ import annotations

from pathlib import Path

from ..errors import OutputError, SettingsError

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
    if not (out_path.parent if str(out_path.parent) else Path(".")).is_dir():
        raise OutputError(f"{out}: folder {out_path.parent} does not exist")
    if len(names) == 1:
        return [out_path]
    tags = [str(i) for i in range(1, len(names) + 1)] if numbered else [Path(p).stem for p in names]
    return [out_path.with_name(f"{out_path.stem}-{t}{out_path.suffix}") for t in tags]


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
    for p in paths:
        if p is None:
            continue
        p = Path(p)
        key = p.resolve()
        if key in seen:
            raise OutputError(f"{p}: named for two outputs; give each output its own file")
        seen.add(key)
        if p.is_dir():
            raise OutputError(f"{p}: is a folder; name a file to write")
        if p.exists() and not overwrite:
            raise OutputError(f"{p}: already exists; add --overwrite to replace it")
        check_writable(p)


def check_plans(plans: list[dict], overwrite: bool) -> None:
    check_outputs([p for plan_ in plans for p in plan_.values()], overwrite)
    for plan_ in plans:
        check_animation(plan_.get("animation"))


def check_writable(path) -> None:
    """OutputError now, not after the model ran, for a file in a folder we may not write in."""
    import os

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


def write(kind, media, result, plan_: dict, style, opts, log=print) -> list[Path]:
    """Every output of one plan, through the kind; the result's JSON and NPZ first. With --word,
    the figure is that word's alone."""
    from ..export.data import write_result

    if opts.word is not None and "figure" in plan_ and "word" in kind.outputs:
        plan_ = {("word" if k == "figure" else k): v for k, v in plan_.items()}
    written = []
    if "json" in plan_ or "npz" in plan_:
        paths = write_result(result, plan_.get("json"), plan_.get("npz"), arrays=opts.npz_ref)
        log("  wrote " + " and ".join(str(p) for p in paths))
        written += paths
    for key, path in plan_.items():
        if key in ("json", "npz") or path is None:
            continue
        written += kind.write(key, media, result, path, style, opts)
        log(f"  wrote {path}")
    return written


def print_result(kind, result, method: str, shown: str | None = None, log=print) -> None:
    """The caption, each word with its probability, the other beam hypotheses, and the kind's
    line on where the words looked."""
    best = result.best
    log(f"{shown or result.source}: {best.text}")
    log("  " + "  ".join(f"{t} ({p:.2f})" for t, p in zip(best.tokens, best.probs)))
    if method == "beam" and len(result.hypotheses) > 1:
        for h in result.hypotheses[1:]:
            log(f"  alt {h.score:7.3f}  {h.text}")
    line = kind.summary(result)
    if line:
        log(line)
    if result.note:
        log(f"  note: {result.note}")
