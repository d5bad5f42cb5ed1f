"""The probes of caption, video and translate (issue 22): --mask-top masks a word's top-attended
region and asks the model again; --attribution draws saliency or integrated gradients beside the
word's attention. The work is in attnviewer/whatif/ (masking.py, attribution.py)."""
from __future__ import annotations

import argparse
from dataclasses import replace

from ..errors import OutputError, SettingsError, printable


def add_probes(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("probes: is the attended region what the word depends on?")
    g.add_argument("--mask-top", action="store_true",
                   help="mask each word's top-attended region (half its attention: image cells or frames; a "
                        "sentence's top source word) and re-run with the words before it forced: does the word "
                        "survive, and what replaces it (with --word N: that word alone)")
    g.add_argument("--mask-fill", choices=("mean", "blur", "unk", "drop"),
                   help="how --mask-top blanks the region: images and videos mean colour (default) or blur; "
                        "sentences the unknown word (default) or dropped")
    g.add_argument("--attribution", choices=("saliency", "ig"),
                   help="gradient attribution of each word's log probability (with --word N: that word) to the "
                        "pixels (images), frame features (videos) or source embeddings (sentences), summed into "
                        "the attention's places; printed with its agreement with the attention (needs the "
                        "extra 'whatif': captum)")
    g.add_argument("--ig-steps", type=int, default=32, metavar="N",
                   help="--attribution ig: points on the path from the blank input (default 32; more: a smaller "
                        "completeness gap)")
    g.add_argument("--attribution-figure", metavar="OUT",
                   help="draw --word N's attention and its attribution alike, one above the other (.png, .svg, .pdf)")
    if not any(a.dest == "word" for a in p._actions):
        g.add_argument("--word", type=int, metavar="N", help="the N-th word (from 1) for --mask-top and --attribution")


def check(args: argparse.Namespace, kind) -> None:
    """Before anything loads: the options agree, and with the kind of input."""
    if getattr(args, "out", None) is not None and (args.mask_top or args.attribution):
        raise OutputError("--mask-top and --attribution are for inputs named one by one, not with --out OUTDIR")
    if args.attribution_figure and not args.attribution:
        raise OutputError(f"{args.attribution_figure}: --attribution-figure draws an attribution; add "
                          "--attribution saliency or ig")
    if args.attribution_figure and args.word is None:
        raise OutputError(f"{args.attribution_figure}: an attribution figure shows one word; add --word N")
    if args.mask_fill is not None:
        from ..whatif.edits import check_fill

        if not args.mask_top:
            raise SettingsError(f"--mask-fill {args.mask_fill} says how --mask-top masks; add --mask-top")
        check_fill(kind, args.mask_fill)
    if not 1 <= args.ig_steps <= 1000:
        raise SettingsError(f"--ig-steps must be 1 to 1000, got {args.ig_steps}")
    if args.attribution_figure:
        from .outputs import check_outputs

        check_outputs([args.attribution_figure], getattr(args, "overwrite", False))
    if args.attribution:
        from ..whatif.attribution import _captum

        _captum()  # a missing extra: said now, not after decoding


def run(args: argparse.Namespace, kind, model, media, result, style, log=print) -> None:
    """The probes asked for, on the best hypothesis of one result (printed under its caption)."""
    if not (args.mask_top or args.attribution):
        return
    from ..whatif.masking import mask_top, step_of_word

    hyp = result.best
    if getattr(args, "pieces", False):  # the words as shown: a subword model's pieces, one by one
        hyp = replace(hyp, starts=None)
    if args.word is not None:
        if args.word < 1:
            raise SettingsError(f"--word counts from 1, got {args.word}")
        words = [(args.word, step_of_word(hyp, args.word - 1))]
    else:
        count = sum(1 for s in hyp.starts if s) if hyp.starts else len(hyp.tokens)
        words = [(n + 1, step_of_word(hyp, n)) for n in range(count)]
    if args.mask_top:
        for n, step in words:
            log("  " + mask_top(kind, model, media, result, step, fill=args.mask_fill).line(printable, n))
    if args.attribution:
        from ..whatif.attribution import attribute, attribution_figure

        for n, step in words:
            found = attribute(kind, model, media, result, step, args.attribution, n_steps=args.ig_steps)
            for line in found.lines(printable, n):
                log("  " + line)
            if args.attribution_figure:
                attribution_figure(kind, media, result, found, args.attribution_figure, style)
                log(f"  wrote {printable(args.attribution_figure)}")
