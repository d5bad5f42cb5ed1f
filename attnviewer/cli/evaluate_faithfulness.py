"""`attnviewer eval faithfulness`: the deletion test (whatif/faithfulness.py) of image, video and
translation models on freshly generated held-out inputs, one table row per model."""
from __future__ import annotations

import argparse
import sys

COLUMNS = ("words", "attended changed", "random changed", "attended prob drop", "random prob drop", "share masked")


def evaluate_faithfulness(args: argparse.Namespace) -> dict:
    from .. import catalog, pipeline
    from ..errors import CheckpointError
    from ..kinds import get
    from ..whatif.edits import check_fill
    from ..whatif.faithfulness import faithfulness

    names = args.model or list(catalog.bundled())
    if not names:
        raise CheckpointError("no bundled models found; name one with --model")
    kinds = {name: get(catalog.kind_of(name) or "caption") for name in names}
    for kind in kinds.values():  # a fill of another kind's: said before any model loads
        check_fill(kind, args.mask_fill)
    print(f"deletion test: {args.n} held-out inputs per model (seed {args.seed}), greedy; each word's top-attended "
          "places masked (half its attention: image cells, frames; a sentence's top word), against as many "
          "random places", flush=True)
    report = {}
    for name in names:
        kind = kinds[name]
        model = pipeline.load_model(kind, name, args.device)
        report[name] = dict(faithfulness(kind, model, args.n, args.seed, args.mask_fill, progress=_progress(name)),
                            kind=kind.name)
        print(file=sys.stderr)
    width = max(len(n) for n in report) + 2
    print("model".ljust(width) + "".join(c.rjust(20) for c in COLUMNS))
    for name, row in report.items():
        cells = [str(row["words"])] + [f"{row[c]:.1%}" for c in COLUMNS[1:3]] + [f"{row[c]:.3f}" for c in COLUMNS[3:5]]
        cells.append(f"{row['share masked']:.1%}")
        print(name.ljust(width) + "".join(c.rjust(20) for c in cells))
    if args.attribution:
        _pointing(args, names, kinds, report)
    return report


def _pointing(args: argparse.Namespace, names: list[str], kinds: dict, report: dict) -> None:
    """Image models: the pointing game of the attention and of the gradient attribution."""
    from .. import pipeline
    from ..whatif.faithfulness import attribution_pointing

    method = args.attribution
    images = [n for n in names if kinds[n].medium == "image"]
    if not images:
        return
    print(f"\npointing game on the colour and shape words of {args.attribution_n} generated scenes: the attention "
          f"and {method} (its positive evidence per cell) against the object's mask", flush=True)
    cols = ("words", "attention cell", f"{method} cell", "uniform cell", "attention pixel", f"{method} pixel",
            "spearman")
    width = max(len(n) for n in images) + 2
    print("model".ljust(width) + "".join(c.rjust(18) for c in cols))
    for name in images:
        model = pipeline.load_model(kinds[name], name, args.device)
        row = report[name]["pointing"] = attribution_pointing(kinds[name], model, args.attribution_n, args.seed, method)
        cells = [str(row["words"])] + [f"{row[c]:.1%}" for c in cols[1:-1]] + [f"{row['spearman']:+.2f}"]
        print(name.ljust(width) + "".join(c.rjust(18) for c in cells))


def _progress(name: str):
    def report(done: int, total: int) -> None:
        if sys.stderr.isatty() or done == total or done % 50 == 0:
            print(f"\r{name}: {done}/{total}", end="", file=sys.stderr, flush=True)

    return report


def add_faithfulness_parser(ev_sub) -> None:
    from .options import add_device

    p = ev_sub.add_parser("faithfulness", help="deletion test: how often masking a word's attended region changes "
                                                "the word, against a random region of the same size")
    p.add_argument("--model", action="append", help="model name or file (repeat to compare; default: all bundled)")
    p.add_argument("--n", type=int, default=200, help="held-out inputs per model (default 200)")
    p.add_argument("--seed", type=int, default=12345, help="seed of the held-out inputs and of the random places")
    p.add_argument("--mask-fill", choices=("mean", "blur", "unk", "drop"),
                   help="how masked places are blanked: images and videos mean (default) or blur; sentences unk "
                        "(default) or drop")
    p.add_argument("--attribution", choices=("saliency", "ig"),
                   help="image models: also the pointing game of the attention and of this gradient attribution "
                        "on the scenes' colour and shape words, and their rank correlation")
    p.add_argument("--attribution-n", type=int, default=20, metavar="N",
                   help="--attribution: generated scenes (default 20; each word needs its own gradient)")
    p.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    p.set_defaults(data=None, generated_n=200)
    add_device(p)
