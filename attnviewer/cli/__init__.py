"""Commands: gui (the desktop app, also with no arguments) and the headless caption, translate,
video, export, train, eval.

Every user-facing failure is an AttnViewerError: printed as one line on stderr, exit status 2.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import AttnViewerError

EXIT_USER_ERROR = 2


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where the model runs: auto picks CUDA when a GPU is present")


def add_decoding(p: argparse.ArgumentParser, default_model: str) -> None:
    """The model and how it decodes, shared by caption, translate and video."""
    p.add_argument("--model", default=default_model, help=f"bundled model name or a checkpoint file (default {default_model})")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--beam", type=int, metavar="K", help="beam search of width K (default 3)")
    how.add_argument("--greedy", action="store_true", help="greedy decoding")
    how.add_argument("--sample", type=float, metavar="T", help="sample with temperature T")
    p.add_argument("--top-k", type=int, default=0, help="sampling: only the K most likely words")
    p.add_argument("--seed", type=int, help="sampling seed")
    p.add_argument("--max-len", type=int, help="longest output in words")
    p.add_argument("--score", metavar="FN", help="attention score function (a bundled variant of the model)")
    p.add_argument("--trust-pickle", action="store_true", help="allow loading a pickle checkpoint you trust")


def add_training(p: argparse.ArgumentParser, train_size: int, val_size: int, epochs: int, batch_size: int,
                 lr: float, what: str) -> None:
    """The options every train command has; `what` names its examples (scenes, pairs, clips)."""
    p.add_argument("--out", required=True, help="checkpoint to write (.safetensors)")
    p.add_argument("--train-size", type=int, default=train_size)
    p.add_argument("--val-size", type=int, default=val_size,
                   help=f"held-out {what} scored while training; the best check is kept")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--score", default="additive", help="attention score function")
    p.add_argument("--seed", type=int, default=0, help=f"seed of the generated {what} (and of the weights)")
    p.add_argument("--init-seed", type=int, help=f"another seed for the weights and batch order, same {what}")
    p.add_argument("--minutes", type=float, help="stop after this many minutes")
    add_device(p)


def add_style(p: argparse.ArgumentParser, images: bool = True) -> None:
    """Figure, overlay and animation options, shared by caption, translate, video and export;
    images=False leaves out those that only mean something over an image."""
    g = p.add_argument_group("figure style")
    if images:
        g.add_argument("--columns", type=int, default=5, metavar="N", help="panels per row of the figure (default 5)")
    g.add_argument("--cmap", default="jet", metavar="NAME", help="matplotlib colormap of the attention (default jet)")
    g.add_argument("--opacity", type=float, default=0.6, metavar="A",
                   help="overlay opacity where the attention peaks, 0..1 (default 0.6)")
    if images:
        g.add_argument("--smoothing", default="gaussian", choices=("nearest", "bilinear", "gaussian"),
                       help="how the attention grid is drawn over the image (default gaussian)")
    g.add_argument("--scale", default="max", choices=("max", "fixed"),
                   help="max: each map to its own peak; fixed: weights 0..1 on one scale (default max)")
    g.add_argument("--panel-size", type=float, default=2.2, metavar="INCHES", help="width of one panel (default 2.2)")
    g.add_argument("--dpi", type=int, default=150, help="PNG resolution, and of images inside SVG/PDF (default 150)")
    g.add_argument("--font", default="sans-serif", metavar="FAMILY", help="font family (default sans-serif)")
    g.add_argument("--font-size", type=float, default=11, metavar="PT", help="font size in points (default 11)")
    g.add_argument("--no-prob", action="store_true", help="words without their probabilities")
    g.add_argument("--title", help="title of the figure (default: model and decoding)")
    if images:
        g.add_argument("--word", type=int, metavar="N",
                       help="only the N-th word (from 1): --figure draws that word alone; needed by --overlay")
    g.add_argument("--frame-seconds", type=float, default=1.0, metavar="S", help="animation: seconds per word")
    g.add_argument("--frame-size", type=int, default=512, metavar="PX",
                   help="animation: long side of the picture in pixels (default 512)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attnviewer", description="See where a neural network looks while it writes.")
    sub = parser.add_subparsers(dest="command", required=True)

    gui = sub.add_parser("gui", help="open the desktop app (the default with no arguments)")
    gui.add_argument("file", nargs="?", help="an image to caption (default: a bundled sample)")

    cap = sub.add_parser("caption", help="caption images and show each word's attention")
    cap.add_argument("images", nargs="+", metavar="IMAGE",
                     help="image files; with --out also folders (every image in them)")
    add_decoding(cap, "caption-shapes")
    cap.add_argument("--json", metavar="OUT",
                     help="write tokens, probabilities, alternatives and attention (and the exact arrays "
                          "beside it, as OUT with .npz)")
    cap.add_argument("--npz", metavar="OUT", help="write the exact attention arrays here (.npz)")
    cap.add_argument("--figure", metavar="OUT", help="write the attention figure (.png, .svg or .pdf)")
    cap.add_argument("--overlay", metavar="OUT", help="write one word's overlay at full image size (.png; needs --word)")
    cap.add_argument("--animation", metavar="OUT", help="write the caption word by word (.gif or .mp4)")
    cap.add_argument("--overwrite", action="store_true", help="replace output files that exist")
    folder = cap.add_argument_group("folders")
    folder.add_argument("--out", metavar="OUTDIR",
                        help="caption every image (of the folders) into OUTDIR: <name>.json, .npz and the figure; "
                             "a second run continues where the first stopped")
    folder.add_argument("--figure-format", choices=("png", "svg", "pdf", "none"),
                        help="with --out: the figure of each image (default png; none: no figure)")
    folder.add_argument("--animation-format", choices=("gif", "mp4"), help="with --out: an animation of each image too")
    folder.add_argument("--batch-size", type=int, default=16, metavar="N", help="with --out: images per model batch")
    add_style(cap)
    add_device(cap)

    from . import translate as translate_commands, video as video_commands

    translate_commands.add_parsers(sub)
    video_commands.add_parsers(sub)

    ex = sub.add_parser("export", help="draw figures and animations of a saved result (JSON or NPZ)")
    ex.add_argument("result", metavar="RESULT", help="a result written by caption, translate or video --json (or its .npz)")
    ex.add_argument("--figure", metavar="OUT", help="the attention figure (.png, .svg or .pdf)")
    ex.add_argument("--overlay", metavar="OUT", help="one word's overlay at full image size (.png; needs --word)")
    ex.add_argument("--animation", metavar="OUT", help="the caption word by word (.gif or .mp4)")
    ex.add_argument("--values", action="store_true", help="translation: print each weight in the matrix's cells")
    video_commands.add_video_figures(ex)
    ex.add_argument("--hypothesis", type=int, default=1, metavar="K", help="the K-th best hypothesis (default 1)")
    ex.add_argument("--overwrite", action="store_true", help="replace output files that exist")
    add_style(ex)

    tr = sub.add_parser("train", help="train a model on generated data")
    tr_sub = tr.add_subparsers(dest="task", required=True)
    tc = tr_sub.add_parser("caption", help="train the image captioner on generated scenes")
    add_training(tc, 20_000, 500, 45, 128, 1e-3, "scenes")
    tc.add_argument("--lambda", dest="ds_lambda", type=float, default=0.0,
                    help="weight of the doubly stochastic attention penalty (Show-Attend-Tell used 1)")
    tc.add_argument("--hard", action="store_true", help="stochastic hard attention (REINFORCE)")
    tc.add_argument("--deep-output", action=argparse.BooleanOptionalAction, default=False,
                    help="Show-Attend-Tell's deep output layer: words read from [previous word, state, context]")
    tc.add_argument("--encoder", default="efficientnet-lite0", choices=("efficientnet-lite0", "small-cnn"))
    tc.add_argument("--image-size", type=int, default=160)
    tc.add_argument("--cache-dir", help="where encoder features are cached")

    translate_commands.add_train_parser(tr_sub)
    video_commands.add_train_parser(tr_sub)

    ev = sub.add_parser("eval", help="evaluate a model on freshly generated held-out data")
    ev_sub = ev.add_subparsers(dest="task", required=True)
    ec = ev_sub.add_parser("caption", help="BLEU-4, CIDEr and the pointing game on generated scenes")
    ec.add_argument("--model", action="append", help="model name or file (repeat to compare; default: all bundled)")
    ec.add_argument("--n", type=int, default=500, help="held-out scenes")
    ec.add_argument("--seed", type=int, default=12345, help="seed of the held-out scenes")
    ec.add_argument("--beam", type=int, default=1, help="beam width (1: greedy)")
    ec.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    add_device(ec)
    translate_commands.add_eval_parser(ev_sub)
    video_commands.add_eval_parser(ev_sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv or ["gui"])
    try:
        if args.command == "gui":
            from ..app import run

            return run(args.file)
        if args.command == "caption":
            from .caption import caption

            return caption(args)
        if args.command == "translate":
            from .translate import translate

            return translate(args)
        if args.command == "video":
            from .video import video

            return video(args)
        if args.command == "export":
            from .caption import export

            return export(args)
        if args.command in ("train", "eval"):
            from . import caption as commands, translate as translate_commands, video as video_commands

            module = {"translate": translate_commands, "video": video_commands}.get(args.task, commands)
            return (module.train if args.command == "train" else module.evaluate)(args)
    except AttnViewerError as e:
        print(f"attnviewer: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("attnviewer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`attnviewer ... | head`): stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141
    return 0


if __name__ == "__main__":
    sys.exit(main())


def main_entry() -> None:
    """Console script: `attnviewer ...`."""
    sys.exit(main())
