"""`attnviewer eval caption|video|translate --data ANNOTATIONS`: score models on a real dataset's split.

Here the options are parsed and the tables printed; dataset_eval.py reads the split, decodes it
(greedily and, with --beam K > 1, with a beam of K) and scores it: BLEU-1..4, METEOR, ROUGE-L and
CIDEr-D for captions, BLEU and chrF for translations, and with `eval caption --grounding FILE` the
pointing game on the words the annotations give boxes or masks for. An input that cannot be read
is counted, reported in one line, and left out of the scores; it never stops the run.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_data_options(p: argparse.ArgumentParser, task: str) -> None:
    g = p.add_argument_group("a real dataset (instead of generated data)")
    what = {"caption": "Karpathy split JSON or image,caption CSV", "video": "MSVD CSV or MSR-VTT JSON",
            "translate": "tab-separated pairs: a file, or a folder of train/val/test TSVs"}[task]
    g.add_argument("--data", metavar="ANNOTATIONS", help=f"evaluate on this dataset ({what})")
    if task == "caption":
        g.add_argument("--images", metavar="ROOT", help="the images' folder (default: the annotations' folder)")
        g.add_argument("--grounding", metavar="FILE",
                       help="COCO instances JSON or word boxes {image: [{word, box}]}: pointing on real data")
    elif task == "video":
        g.add_argument("--clips", metavar="ROOT", help="the clips' folder (default: the annotations' folder)")
    g.add_argument("--split", default="test", choices=("train", "val", "test", "all"),
                   help="the split to score (default test)")


def evaluate_data(args: argparse.Namespace) -> dict:
    """Score the models on --data's split (dataset_eval.py) and print the tables."""
    from ..dataset_eval import evaluate
    from ..settings import DecodeSettings
    from .evaluate import evaluation
    from .folder import Progress

    names, settings = evaluation(args, args.task)  # checked --beam: greedy, or a beam of it
    runs = [("greedy", DecodeSettings("greedy").validate())]  # always, and the beam beside it
    if settings.method == "beam":
        runs.append((settings.describe(), settings))
    root = getattr(args, "images", None) or getattr(args, "clips", None)
    grounding = getattr(args, "grounding", None)
    report = evaluate(args.task, Path(args.data), Path(root) if root else None, args.split, args.n, names, runs,
                      args.device, Path(grounding) if grounding else None,
                      say=lambda line: print(line, flush=True),
                      warn=lambda line: print(f"attnviewer: {line}", file=sys.stderr),
                      progress=lambda total, label: Progress(total, label=label))
    notes = {note: None for row in report["models"].values() for note in row.get("notes", ())}
    for note in notes:  # (the same for every model: said once)
        print(f"attnviewer: {note}", file=sys.stderr)
    print_tables(report, runs, args.task)
    return report


def print_tables(report: dict, runs: list, task: str) -> None:
    """The metrics, a row per model and decoding; then grounding, if it was asked for."""
    from ..evaluation.metrics import CAPTION_METRICS, TRANSLATION_METRICS, figure

    cols = TRANSLATION_METRICS if task == "translate" else CAPTION_METRICS
    width = max(len(f"{n}  {label}") for n in report["models"] for label, _ in runs) + 2
    sizes = [max(10, len(c) + 2) for c in cols]
    print("\nmodel, decoding".ljust(width + 1) + "".join(c.rjust(k) for c, k in zip(cols, sizes)))
    for name, row in report["models"].items():
        for label, _ in runs:
            scores = row["scores"][label]
            cells = ["-" if c not in scores else figure(scores[c]) for c in cols]
            print(f"{name}  {label}".ljust(width) + "".join(x.rjust(k) for x, k in zip(cells, sizes)))
    for line in tool_lines(report, task):
        print(line)
    grounded = {n: r["grounding"] for n, r in report["models"].items() if "grounding" in r}
    if not grounded:
        return
    tests = ("cell", "pixel")
    print("\npointing on the annotated words".ljust(width + 1) + "words".rjust(8)
          + "".join(t.rjust(10) for t in tests) + "  uniform (cell / pixel)  centre (cell / pixel)")
    for name, by_run in grounded.items():
        for label, g in by_run.items():
            base = [_rate(g[f"pointing {b} {t}"]) for b in ("uniform", "centre") for t in tests]
            print(f"{name}  {label}".ljust(width) + f"{g['words']:8d}"
                  + "".join(_rate(g[f"pointing {t}"]).rjust(10) for t in tests)
                  + f"  {base[0]:>9} / {base[1]:<9}  {base[2]:>7} / {base[3]}")
        g = next(iter(by_run.values()))
        print(f"{name}: {g['images']} images with annotations, {g['images without annotations']} without; "
              f"{g['words naming nothing annotated']} words naming nothing annotated in their image (not scored)")


def tool_lines(report: dict, task: str) -> list[str]:
    """What computed the table's figures: the tool, its version and, for sacreBLEU, its signatures."""
    from ..evaluation.metrics import tool_version

    if task == "translate":
        signatures = next(iter(report["models"].values()))["sacrebleu signatures"]
        version = tool_version("sacrebleu")
        return [f"BLEU: {version}, signature {signatures['BLEU']} (the file's target text, as written)",
                f"chrF: {version}, signature {signatures['chrF']}",
                f"BLEU (corpus tokens): {version}, tokenize none, on the dataset's lower-cased words"]
    return list({row["computed by"]: None for row in report["models"].values()})


def _rate(value: float) -> str:
    return "-" if value != value else f"{value:.1%}"  # NaN: no word was scored
