"""The work behind each CLI command; cli.py only parses arguments."""
from __future__ import annotations

import argparse
import sys

from ..types import model_label


def train(args: argparse.Namespace) -> int:
    from ..models.registry import pick_device
    from ..training.image import TrainSettings, train_captioner

    settings = TrainSettings(
        out=args.out, train_size=args.train_size, val_size=args.val_size, epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr, ds_lambda=args.ds_lambda, score=args.score, hard=args.hard, encoder=args.encoder,
        deep_output=args.deep_output,
        image_size=args.image_size, seed=args.seed, init_seed=args.init_seed, device=str(pick_device(args.device)),
        cache_dir=args.cache_dir, minutes=args.minutes,
    )
    settings.validate()
    check_writable(settings.out)
    train_captioner(settings, log=lambda m: print(m, flush=True))
    return 0


def decode_settings(args: argparse.Namespace):
    from ..settings import DecodeSettings

    if args.greedy:
        s = DecodeSettings("greedy")
    elif args.sample is not None:
        s = DecodeSettings("sample", temperature=args.sample, top_k=args.top_k, seed=args.seed)
    else:
        s = DecodeSettings("beam", beam=3 if args.beam is None else args.beam)
    s.max_len = args.max_len
    return s.validate()


def output_paths(out: str | None, images: list[str], suffixes: tuple[str, ...], what: str):
    """One output per image: OUT itself for one image, OUT-<image name> for several."""
    from pathlib import Path

    from ..errors import OutputError

    if out is None:
        return [None] * len(images)
    out_path = Path(out)
    if out_path.suffix.lower() not in suffixes:
        raise OutputError(f"{out}: unsupported {what} format; use one of {', '.join(suffixes)}")
    if not (out_path.parent if str(out_path.parent) else Path(".")).is_dir():
        raise OutputError(f"{out}: folder {out_path.parent} does not exist")
    if len(images) == 1:
        return [out_path]
    return [out_path.with_name(f"{out_path.stem}-{Path(p).stem}{out_path.suffix}") for p in images]


def figure_style(args: argparse.Namespace):
    """The FigureStyle of the style options, checked (SettingsError for a bad value)."""
    from ..export.animation import check_timing
    from ..export.figures import FigureStyle

    check_timing(args.frame_seconds, args.frame_size)
    return FigureStyle(
        columns=getattr(args, "columns", 5), cmap=args.cmap, opacity=args.opacity,
        smoothing=getattr(args, "smoothing", "gaussian"),
        scale=args.scale, panel_inches=args.panel_size, dpi=args.dpi, show_prob=not args.no_prob,
        font_size=args.font_size, font_family=args.font,
    ).validate()


def check_outputs(paths, overwrite: bool) -> None:
    """Before any work: no output named twice, none a folder, none existing unless --overwrite."""
    from pathlib import Path

    from ..errors import OutputError

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


def check_writable(path) -> None:
    """OutputError now, not after the model ran, for a file in a folder we may not write in."""
    import os
    from pathlib import Path

    from ..errors import OutputError

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
    from ..errors import SettingsError

    if word is None:
        return None
    if word < 1:
        raise SettingsError(f"--word counts from 1, got {word}")
    if word > len(hyp.tokens):
        raise SettingsError(f"--word {word}: the caption of {source} has only {len(hyp.tokens)} words")
    return word - 1


def write_outputs(image, result, style, *, json=None, npz=None, npz_ref=None, figure=None, overlay=None,
                  animation=None,
                  word=None, title=None, word_title=None, seconds=1.0, frame_size=512, hypothesis=0,
                  log=print) -> list:
    """Every requested output of one result, each written atomically; returns the paths written."""
    from ..export.data import write_result

    hyp = result.hypotheses[hypothesis]
    written = []
    if json is not None or npz is not None:
        paths = write_result(result, json, npz, arrays=npz_ref)
        log("  wrote " + " and ".join(str(p) for p in paths))
        written += paths
    if figure is not None:
        from ..export.figures import caption_figure, word_figure

        if word is None:
            caption_figure(image, hyp, figure, style, title=title)
        else:
            word_figure(image, hyp, word, figure, style, title=word_title)
        log(f"  wrote {figure}")
        written.append(figure)
    if overlay is not None:
        from ..export.figures import write_overlay

        write_overlay(image, hyp.attention[word], overlay, style)
        log(f"  wrote {overlay}")
        written.append(overlay)
    if animation is not None:
        from ..export.animation import write_animation

        write_animation(image, hyp, animation, style, seconds=seconds, size=frame_size)
        log(f"  wrote {animation}")
        written.append(animation)
    return written


def print_caption(result, settings_method: str, shown: str | None = None, log=print) -> None:
    """The caption, each word with its probability, and the other beam hypotheses."""
    best = result.best
    log(f"{shown or result.source}: {best.text}")
    log("  " + "  ".join(f"{t} ({p:.2f})" for t, p in zip(best.tokens, best.probs)))
    if settings_method == "beam" and len(result.hypotheses) > 1:
        for h in result.hypotheses[1:]:
            log(f"  alt {h.score:7.3f}  {h.text}")


def caption_images(model, images, settings, name: str, device) -> list:
    """Results of decoding a list of LoadedImages in one batch through the model."""
    import time

    import numpy as np
    import torch

    from ..decoding.search import decode, run
    from ..media.images import model_input
    from ..types import Result

    size = model.config.image_size
    pixels = torch.from_numpy(np.stack([model_input(im.rgb, size) for im in images]))
    t0 = time.perf_counter()
    with torch.inference_mode():
        state = model.init_state(pixels.permute(0, 3, 1, 2).float().to(device))
        all_hyps = run(decode(model, state, settings, stream=False))
    seconds = (time.perf_counter() - t0) / len(images)
    return [Result(im.path, name, dict(settings.to_dict(), device=str(device)), hyps, seconds,
                   (im.rgb.shape[0], im.rgb.shape[1])) for im, hyps in zip(images, all_hyps)]


def caption(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import MediaError, OutputError
    from ..export.animation import ANIMATION_FORMATS
    from ..export.figures import FIGURE_FORMATS
    from ..media.images import load_image
    from .. import catalog
    from ..models import registry

    settings = decode_settings(args)  # cheap checks first: nothing loads for a bad setting
    style = figure_style(args)
    if args.out is not None:
        from .folder import caption_folder

        return caption_folder(args, settings, style)
    if args.figure_format is not None or args.animation_format is not None:
        raise OutputError("--figure-format and --animation-format name the outputs of a folder; add --out OUTDIR")
    for p in args.images:
        if Path(p).is_dir():
            raise MediaError(f"{p}: is a folder, not an image; to caption every image in it, add --out OUTDIR")
    if args.overlay and args.word is None:
        raise OutputError(f"{args.overlay}: an overlay shows one word; add --word N")
    figures = output_paths(args.figure, args.images, FIGURE_FORMATS, "figure")
    jsons = output_paths(args.json, args.images, (".json",), "JSON")
    if args.npz:
        npzs = output_paths(args.npz, args.images, (".npz",), "NPZ")
    else:
        npzs = [None if j is None else j.with_suffix(".npz") for j in jsons]
    overlays = output_paths(args.overlay, args.images, (".png",), "overlay")
    animations = output_paths(args.animation, args.images, ANIMATION_FORMATS, "animation")
    check_outputs([*figures, *jsons, *npzs, *overlays, *animations], args.overwrite)
    check_animation(args.animation)
    name = catalog.variant_with_score(args.model, args.score) if args.score else args.model
    images = [load_image(p) for p in args.images]
    model = registry.load(name, args.device, args.trust_pickle)
    device = next(model.parameters()).device
    results = caption_images(model, images, settings, name, device)
    for im, r in zip(images, results):
        r.source = str(Path(im.path).resolve())  # so the result reopens its image from anywhere
    words = [word_index(args.word, r.best, im.path) for im, r in zip(images, results)]  # all, before writing
    title = args.title or f"{model_label(model.name)}, {settings.describe()}"
    for im, r, w, fig, js, npz, ov, anim in zip(images, results, words, figures, jsons, npzs, overlays, animations):
        print_caption(r, settings.method, shown=im.path)
        write_outputs(im.rgb, r, style, json=js, npz=npz, figure=fig, overlay=ov, animation=anim, word=w,
                      title=title, word_title=args.title, seconds=args.frame_seconds, frame_size=args.frame_size)
    return 0


def export(args: argparse.Namespace) -> int:
    """Re-render a saved result: figures, overlay, animation, from its JSON/NPZ and its image."""
    from ..errors import OutputError, SettingsError
    from ..export.animation import ANIMATION_FORMATS
    from ..export.data import find_source, load_result
    from ..export.figures import FIGURE_FORMATS
    from ..media.images import load_image

    style = figure_style(args)
    if not (args.figure or args.animation or args.overlay or args.top_frames):
        raise OutputError("nothing to export: add --figure OUT, --animation OUT, --overlay OUT or --top-frames OUT")
    if args.overlay and args.word is None:
        raise OutputError(f"{args.overlay}: an overlay shows one word; add --word N")
    figure = output_paths(args.figure, ["-"], FIGURE_FORMATS, "figure")[0]
    overlay = output_paths(args.overlay, ["-"], (".png",), "overlay")[0]
    animation = output_paths(args.animation, ["-"], ANIMATION_FORMATS, "animation")[0]
    top = output_paths(args.top_frames, ["-"], FIGURE_FORMATS, "figure")[0]
    check_outputs([figure, overlay, animation, top], args.overwrite)
    check_animation(animation)
    result = load_result(args.result)
    if not 1 <= args.hypothesis <= len(result.hypotheses):
        raise SettingsError(f"--hypothesis {args.hypothesis}: {args.result} holds {len(result.hypotheses)} "
                            f"hypotheses (numbered from 1)")
    hyp = result.hypotheses[args.hypothesis - 1]
    title = args.title or result.title
    if result.kind == "translate":
        return _export_translation(args, result, style, figure, animation, title)
    if result.kind == "video":
        from .video import export_video

        return export_video(args, result, style, figure, top, animation, title)
    if top is not None:
        raise OutputError(f"{args.result}: --top-frames draws a video's frames; this result is an image caption")
    word = word_index(args.word, hyp, args.result)
    image = load_image(find_source(result, args.result))
    if result.image_size and tuple(image.rgb.shape[:2]) != tuple(result.image_size):
        print(f"attnviewer: note: {image.path} is now {image.rgb.shape[1]}x{image.rgb.shape[0]} pixels; the result "
              f"was made from a {result.image_size[1]}x{result.image_size[0]} image", file=sys.stderr)
    print(f"{args.result}: {hyp.text}")
    write_outputs(image.rgb, result, style, figure=figure, overlay=overlay, animation=animation, word=word,
                  title=title, word_title=args.title, seconds=args.frame_seconds, frame_size=args.frame_size,
                  hypothesis=args.hypothesis - 1)
    return 0


def _export_translation(args, result, style, figure, animation, title) -> int:
    """A saved translation's alignment matrix and animation; it has no image to overlay."""
    from ..errors import OutputError
    from .translate import write_translation

    if args.top_frames:
        raise OutputError(f"{args.result}: --top-frames draws a video's frames; this result is a translation")
    if args.overlay:
        raise OutputError(f"{args.result}: a translation has no image to overlay; --figure draws its alignment "
                          "matrix, --animation its words one by one")
    if not result.source_tokens:
        raise OutputError(f"{args.result}: the translation's source words are missing; cannot label the matrix")
    print(f"{args.result}: {result.hypotheses[args.hypothesis - 1].text}")
    write_translation(result, style, figure=figure, animation=animation, title=title, values=args.values,
                      seconds=args.frame_seconds, frame_size=args.frame_size, hypothesis=args.hypothesis - 1)
    return 0


def evaluation(args: argparse.Namespace, kind: str):
    """The models an eval command scores (those named, else the bundled ones of its kind) and how
    it decodes (greedy, or a beam of --beam)."""
    from ..settings import DecodeSettings
    from ..errors import CheckpointError
    from .. import catalog

    names = args.model or list(catalog.bundled(kind))
    if not names:
        raise CheckpointError(f"no bundled {kind} models found; name one with --model")
    settings = DecodeSettings("greedy") if args.beam == 1 else DecodeSettings("beam", beam=args.beam)
    return names, settings.validate()


def evaluate(args: argparse.Namespace) -> int:
    from ..data.synthetic import generate_scenes
    from ..decoding.search import best_hypotheses
    from ..export.data import write_json
    from ..evaluation.image import caption_scores, pointing
    from ..models import registry
    from ..training.image import scene_pixels

    names, settings = evaluation(args, "caption")
    print(f"{args.n} held-out scenes (seed {args.seed}), decoding: {settings.describe()}", flush=True)
    report, tallies = {}, {}
    for name in names:
        model = registry.load(name, args.device)
        scenes = generate_scenes(args.n, args.seed, model.config.image_size)
        hyps = best_hypotheses(model, scene_pixels(scenes), settings)
        scores = caption_scores([s.caption for s in scenes], [h.text for h in hyps])
        tally = tallies[name] = pointing(scenes, hyps)
        report[name] = dict(scores, **{
            "pointing cell": tally.rate("cell"), "pointing pixel": tally.rate("pixel"),
            "colour cell": tally.kind_rate("colour", 0), "colour pixel": tally.kind_rate("colour", 1),
            "shape cell": tally.kind_rate("shape", 0), "shape pixel": tally.kind_rate("shape", 1),
            "words": tally.words, "words naming no object": tally.no_object,
            "lambda": model.config.ds_lambda, "score": model.config.score,
        })
    first = tallies[names[0]]
    for base in ("uniform", "centre"):
        report[f"{base} baseline"] = {"pointing cell": first.rate(f"{base} cell"),
                                      "pointing pixel": first.rate(f"{base} pixel")}
    print_report(report)
    if args.json:
        write_json(report, args.json)
    return 0


def print_report(report: dict) -> None:
    cols = ["exact match", "BLEU-4", "CIDEr", "pointing cell", "pointing pixel", "colour pixel", "shape pixel"]
    width = max(len(n) for n in report) + 2
    print("model".ljust(width) + "".join(c.rjust(15) for c in cols))
    for name, row in report.items():
        cells = []
        for c in cols:
            v = row.get(c)
            cells.append("-".rjust(15) if v is None else (f"{v:.3f}" if c == "CIDEr" else f"{v:.1%}").rjust(15))
        print(name.ljust(width) + "".join(cells))
    for name, row in report.items():
        if "words" in row:
            print(f"{name}: {row['words']} colour/shape words scored, {row['words naming no object']} "
                  f"naming no object; trained with {row['score']} attention, lambda={row['lambda']:g}")
