"""`attnviewer eval caption|video|translate`: score models on freshly generated held-out data, or
with --data on a real dataset's split (evaluate_data.py)."""
from __future__ import annotations

import argparse

from .evaluate_data import add_data_options
from .evaluate_faithfulness import add_faithfulness_parser, evaluate_faithfulness
from .options import add_eval


def evaluation(args: argparse.Namespace, kind: str):
    """The models an eval command scores (those named, else the bundled ones of its kind) and how
    it decodes (greedy, or a beam of --beam)."""
    from .. import catalog
    from ..errors import CheckpointError
    from ..settings import DecodeSettings

    names = args.model or list(catalog.bundled(kind))
    if not names:
        raise CheckpointError(f"no bundled {kind} models found; name one with --model")
    settings = DecodeSettings("greedy") if args.beam == 1 else DecodeSettings("beam", beam=args.beam)
    return names, settings.validate()


def evaluate(args: argparse.Namespace) -> int:
    from ..errors import SettingsError

    if args.n is None and not args.data:
        args.n = args.generated_n
    if args.n is not None and args.n < 1:  # before any model loads: no empty tables, no NaN rates
        raise SettingsError(f"--n {args.n}: evaluate on at least 1 example")
    if args.json:
        from .outputs import check_outputs

        check_outputs([args.json], True)  # a folder or an unwritable place: said now, not after the work
    if args.data:
        from .evaluate_data import evaluate_data

        report = evaluate_data(args)
    else:
        report = {"caption": evaluate_captioners, "video": evaluate_video, "translate": evaluate_translators,
                  "faithfulness": evaluate_faithfulness}[args.task](args)
    if args.json:
        from ..export.data import write_json

        write_json(report, args.json)
    return 0


def evaluate_captioners(args: argparse.Namespace) -> dict:
    from ..data.synthetic import generate_scenes
    from ..decoding.search import best_hypotheses
    from ..evaluation.image import pointing
    from ..evaluation.metrics import caption_scores, figure, tool_version
    from ..evaluation.transformer import caption_lenses, is_transformer
    from ..models import registry
    from ..training.image import scene_pixels

    names, settings = evaluation(args, "caption")
    print(f"{args.n} held-out scenes (seed {args.seed}), decoding: {settings.describe()}", flush=True)
    report, tallies = {}, {}
    for name in names:
        model = registry.load(name, args.device)
        scenes = generate_scenes(args.n, args.seed, model.config.image_size)
        if is_transformer(model):  # one decoding, a row for each lens (layer, mean of layers, rollout)
            scored = caption_lenses(model, scenes, settings)
            for label, tally in scored["lenses"].items():
                tallies[f"{name} [{label}]"] = tally
                report[f"{name} [{label}]"] = dict(scored["captions"], **_pointing_row(tally), lens=label)
            continue
        hyps = best_hypotheses(model, scene_pixels(scenes), settings)
        scores = caption_scores([s.caption for s in scenes], [h.text for h in hyps])
        tally = tallies[name] = pointing(scenes, hyps)
        report[name] = dict(scores, **_pointing_row(tally), **{
            "lambda": model.config.ds_lambda, "score": model.config.score,
        })
    first = next(iter(tallies.values()))
    for base in ("uniform", "centre"):
        report[f"{base} baseline"] = {"pointing cell": first.rate(f"{base} cell"),
                                      "pointing pixel": first.rate(f"{base} pixel")}
    cols = ["exact match", "BLEU-4", "CIDEr", "pointing cell", "pointing pixel", "colour pixel", "shape pixel"]
    width = max(len(n) for n in report) + 2
    print("model".ljust(width) + "".join(c.rjust(15) for c in cols))
    for name, row in report.items():
        cells = []
        for c in cols:
            v = row.get(c)
            cells.append("-".rjust(15) if v is None else (figure(v) if c in ("BLEU-4", "CIDEr") else f"{v:.1%}").rjust(15))
        print(name.ljust(width) + "".join(cells))
    print(f"BLEU-4, CIDEr(-D): {tool_version('pycocoevalcap')} on the generated captions' words, one reference each")
    for name, row in report.items():
        if "words" in row:
            how = (f"trained with {row['score']} attention, lambda={row['lambda']:g}" if "score" in row
                   else f"cross-attention through the lens {row['lens']}")
            print(f"{name}: {row['words']} colour/shape words scored, {row['words naming no object']} "
                  f"naming no object; {how}")
    return report


def _pointing_row(tally) -> dict:
    return {"pointing cell": tally.rate("cell"), "pointing pixel": tally.rate("pixel"),
            "colour cell": tally.kind_rate("colour", 0), "colour pixel": tally.kind_rate("colour", 1),
            "shape cell": tally.kind_rate("shape", 0), "shape pixel": tally.kind_rate("shape", 1),
            "words": tally.words, "words naming no object": tally.no_object,
            # the baselines on this model's own words and grid (a transformer's patch grid is not the LSTM's)
            "uniform cell": tally.rate("uniform cell"), "uniform pixel": tally.rate("uniform pixel")}


def evaluate_video(args: argparse.Namespace) -> dict:
    from ..data.clip_events import generate_clips
    from ..models import registry
    from ..training.video import score_video_captioner

    names, settings = evaluation(args, "video")
    clips = generate_clips(args.n, args.seed)
    print(f"{len(clips)} held-out clips (seed {args.seed}), decoding: {settings.describe()}", flush=True)
    report = {name: score_video_captioner(registry.load(name, args.device, kind="video"), clips, settings)
              for name in names}
    cols = list(next(iter(report.values())))
    for name, row in report.items():
        print(name)
        for c in cols:
            print(f"  {c:38s} {row[c]:7.1%}")
    return report


def evaluate_translators(args: argparse.Namespace) -> dict:
    from ..evaluation.metrics import figure, tool_version
    from ..evaluation.transformer import is_transformer, translate_lenses
    from ..models import registry
    from ..training.text import held_out_pairs, score_translator

    names, settings = evaluation(args, "translate")
    pairs = held_out_pairs(args.n, args.seed)
    print(f"{len(pairs)} held-out sentence pairs (seed {args.seed}), decoding: {settings.describe()}", flush=True)
    report = {}
    for name in names:
        model = registry.load(name, args.device, kind="translate")
        if is_transformer(model):  # one decoding, a row for each lens (layer, mean of layers, rollout)
            scored = translate_lenses(model, pairs, settings)
            for label, aer in scored["lenses"].items():
                report[f"{name} [{label}]"] = {
                    "BLEU": scored["BLEU"], "exact match": scored["exact match"], "AER": aer,
                    "diagonal AER": scored["diagonal AER"], "right by word type": scored["by word type"][label],
                    "lens": label}
            continue
        c = model.config
        report[name] = dict(score_translator(model, pairs, settings, by_role=True), score=c.score,
                            attention=c.attention, encoder=c.encoder, reversed=c.reverse_source)
    cols = ("BLEU", "exact match", "AER", "diagonal AER")
    width = max(len(n) for n in report) + 2
    print("model".ljust(width) + "".join(c.rjust(14) for c in cols) + "  attention")
    for name, row in report.items():
        cells = [figure(row["BLEU"]), f"{row['exact match']:.1%}", f"{row['AER']:.3f}", f"{row['diagonal AER']:.3f}"]
        how = (f"cross-attention, {row['lens']}" if "lens" in row else
               f"{row['attention']} {row['score']}, {row['encoder']}" + (", reversed source" if row["reversed"] else ""))
        print(name.ljust(width) + "".join(x.rjust(14) for x in cells) + "  " + how)
    print(f"BLEU: {tool_version('sacrebleu')}, corpus BLEU on the generated language's words (tokenize none)")
    roles = list(next(iter(report.values()))["right by word type"])
    print("\nattention peak on a gold link, by target word type:")
    print("model".ljust(width) + "".join(r.rjust(14) for r in roles))
    for name, row in report.items():
        print(name.ljust(width) + "".join(f"{row['right by word type'][r]:.1%}".rjust(14) for r in roles))
    return report


def add_parser(sub) -> None:
    ev = sub.add_parser("eval", help="evaluate a model on freshly generated held-out data or on a dataset (--data)")
    ev_sub = ev.add_subparsers(dest="task", required=True)
    for task, n, what, about in (
            ("caption", 500, "scenes", "BLEU-4, CIDEr and the pointing game on generated scenes; with --data: "
                                       "BLEU-1..4, METEOR, ROUGE-L, CIDEr-D (and --grounding)"),
            ("video", 500, "clips", "captions and temporal pointing on generated held-out clips; with --data: "
                                    "caption metrics"),
            ("translate", 1000, "sentence pairs", "BLEU and alignment error rate on generated held-out pairs; "
                                                  "with --data: BLEU and chrF")):
        p = ev_sub.add_parser(task, help=about)
        add_eval(p, n, what)
        add_data_options(p, task)
    add_faithfulness_parser(ev_sub)
