"""The work behind each CLI command; cli.py only parses arguments."""
from __future__ import annotations

import argparse
import sys


def train(args: argparse.Namespace) -> int:
    from .models.registry import pick_device
    from .train import TrainSettings, train_captioner

    settings = TrainSettings(
        out=args.out, train_size=args.train_size, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, ds_lambda=args.ds_lambda, score=args.score, hard=args.hard, encoder=args.encoder,
        image_size=args.image_size, seed=args.seed, device=str(pick_device(args.device)),
        cache_dir=args.cache_dir, minutes=args.minutes,
    )
    train_captioner(settings, log=lambda m: print(m, flush=True))
    return 0


def decode_settings(args: argparse.Namespace):
    from .decoding.search import DecodeSettings

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

    from .errors import OutputError

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


def caption(args: argparse.Namespace) -> int:
    import time

    import torch

    from .decoding.search import decode, run
    from .export.data import result_dict, write_json
    from .export.figures import FIGURE_FORMATS, caption_figure
    from .media.images import load_image, model_input
    from .models import registry
    from .types import Result

    settings = decode_settings(args)  # cheap checks first: nothing loads for a bad setting
    figures = output_paths(args.figure, args.images, FIGURE_FORMATS, "figure")
    jsons = output_paths(args.json, args.images, (".json",), "JSON")
    name = registry.variant_with_score(args.model, args.score) if args.score else args.model
    images = [load_image(p) for p in args.images]
    model = registry.load(name, args.device, args.trust_pickle)
    device = next(model.parameters()).device
    size = model.config.image_size
    pixels = torch.from_numpy(__import__("numpy").stack([model_input(im.rgb, size) for im in images]))
    t0 = time.perf_counter()
    with torch.inference_mode():
        state = model.init_state(pixels.permute(0, 3, 1, 2).float().to(device))
        all_hyps = run(decode(model, state, settings, stream=False))
    seconds = (time.perf_counter() - t0) / len(images)
    for im, hyps, fig, js in zip(images, all_hyps, figures, jsons):
        result = Result(im.path, name, dict(settings.to_dict(), device=str(device)), hyps, seconds,
                        (im.rgb.shape[0], im.rgb.shape[1]))
        best = result.best
        print(f"{im.path}: {best.text}")
        print("  " + "  ".join(f"{t} ({p:.2f})" for t, p in zip(best.tokens, best.probs)))
        if settings.method == "beam" and len(hyps) > 1:
            for h in hyps[1:]:
                print(f"  alt {h.score:7.3f}  {h.text}")
        if js:
            write_json(result_dict(result), js)
            print(f"  wrote {js}")
        if fig:
            caption_figure(im.rgb, best, fig, title=f"{model.name}, {settings.describe()}")
            print(f"  wrote {fig}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    import json

    import torch

    from .data.synthetic import generate_scenes
    from .decoding.search import DecodeSettings, decode, run
    from .export.data import write_json
    from .metrics import PointingTally, caption_scores, point
    from .models import registry
    from .train import scene_pixels

    names = args.model or list(registry.bundled())
    if not names:
        from .errors import CheckpointError

        raise CheckpointError("no bundled models found; name one with --model")
    settings = DecodeSettings("greedy") if args.beam == 1 else DecodeSettings("beam", beam=args.beam)
    settings.validate()
    print(f"{args.n} held-out scenes (seed {args.seed}), decoding: {settings.describe()}", flush=True)
    report, tallies = {}, {}
    for name in names:
        model = registry.load(name, args.device)
        device = next(model.parameters()).device
        scenes = generate_scenes(args.n, args.seed, model.config.image_size)
        hyps = []
        with torch.inference_mode():
            for i in range(0, len(scenes), 50):
                state = model.init_state(scene_pixels(scenes[i:i + 50]).to(device))
                hyps += [h[0] for h in run(decode(model, state, settings, stream=False))]
        scores = caption_scores([s.caption for s in scenes], [h.text for h in hyps])
        tally = PointingTally()
        for scene, hyp in zip(scenes, hyps):
            point(scene, hyp, tally)
        tallies[name] = tally
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
