"""`attnviewer eval caption|video|translate`: score models on freshly generated held-out data, or
with --data on a real dataset's split (evaluate_data.py). The scoring is evaluation/'s (one entry
a command: captioner.caption_report, video_captioner.video_report, translator.translate_report);
this module parses and prints."""
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
    from ..evaluation.captioner import caption_report
    from ..evaluation.metrics import figure, tool_version

    names, settings = evaluation(args, "caption")
    print(f"{args.n} held-out scenes (seed {args.seed}), decoding: {settings.describe()}", flush=True)
    report = caption_report(names, args.n, args.seed, settings, args.device)
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


def evaluate_video(args: argparse.Namespace) -> dict:
    from ..evaluation.video_captioner import video_report

    names, settings = evaluation(args, "video")
    print(f"{args.n} held-out clips (seed {args.seed}), decoding: {settings.describe()}", flush=True)
    report = video_report(names, args.n, args.seed, settings, args.device)
    cols = list(next(iter(report.values())))
    for name, row in report.items():
        print(name)
        for c in cols:
            print(f"  {c:38s} {row[c]:7.1%}")
    return report


def evaluate_translators(args: argparse.Namespace) -> dict:
    from ..evaluation.metrics import figure, tool_version
    from ..evaluation.translator import translate_report

    names, settings = evaluation(args, "translate")
    print(f"{args.n} held-out sentence pairs (seed {args.seed}), decoding: {settings.describe()}", flush=True)
    report = translate_report(names, args.n, args.seed, settings, args.device)
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
