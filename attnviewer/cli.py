"""Headless commands: caption, train, eval.

Every user-facing failure is an AttnViewerError: printed as one line on stderr, exit status 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import AttnViewerError

EXIT_USER_ERROR = 2


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where the model runs: auto picks CUDA when a GPU is present")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attnviewer", description="See where a neural network looks while it writes.")
    sub = parser.add_subparsers(dest="command", required=True)

    cap = sub.add_parser("caption", help="caption images and show each word's attention")
    cap.add_argument("images", nargs="+", metavar="IMAGE")
    cap.add_argument("--model", default="caption-shapes", help="bundled model name or a checkpoint file")
    how = cap.add_mutually_exclusive_group()
    how.add_argument("--beam", type=int, metavar="K", help="beam search of width K (default 3)")
    how.add_argument("--greedy", action="store_true", help="greedy decoding")
    how.add_argument("--sample", type=float, metavar="T", help="sample with temperature T")
    cap.add_argument("--top-k", type=int, default=0, help="sampling: only the K most likely words")
    cap.add_argument("--seed", type=int, help="sampling seed")
    cap.add_argument("--max-len", type=int, help="longest caption in words")
    cap.add_argument("--score", metavar="FN", help="attention score function (a bundled variant of the model)")
    cap.add_argument("--json", metavar="OUT", help="write tokens, probabilities, alternatives and attention")
    cap.add_argument("--figure", metavar="OUT", help="write the attention figure (.png, .svg or .pdf)")
    cap.add_argument("--trust-pickle", action="store_true", help="allow loading a pickle checkpoint you trust")
    add_device(cap)

    tr = sub.add_parser("train", help="train a model on generated data")
    tr_sub = tr.add_subparsers(dest="task", required=True)
    tc = tr_sub.add_parser("caption", help="train the image captioner on generated scenes")
    tc.add_argument("--out", required=True, help="checkpoint to write (.safetensors)")
    tc.add_argument("--train-size", type=int, default=20_000)
    tc.add_argument("--epochs", type=int, default=20)
    tc.add_argument("--batch-size", type=int, default=128)
    tc.add_argument("--lr", type=float, default=1e-3)
    tc.add_argument("--lambda", dest="ds_lambda", type=float, default=0.0,
                    help="weight of the doubly stochastic attention penalty (Show-Attend-Tell used 1)")
    tc.add_argument("--score", default="additive", help="attention score function")
    tc.add_argument("--hard", action="store_true", help="stochastic hard attention (REINFORCE)")
    tc.add_argument("--encoder", default="efficientnet-lite0", choices=("efficientnet-lite0", "small-cnn"))
    tc.add_argument("--image-size", type=int, default=160)
    tc.add_argument("--seed", type=int, default=0)
    tc.add_argument("--minutes", type=float, help="stop after this many minutes")
    tc.add_argument("--cache-dir", help="where encoder features are cached")
    add_device(tc)

    ev = sub.add_parser("eval", help="evaluate a model on freshly generated held-out data")
    ev_sub = ev.add_subparsers(dest="task", required=True)
    ec = ev_sub.add_parser("caption", help="BLEU-4, CIDEr and the pointing game on generated scenes")
    ec.add_argument("--model", action="append", help="model name or file (repeat to compare; default: all bundled)")
    ec.add_argument("--n", type=int, default=500, help="held-out scenes")
    ec.add_argument("--seed", type=int, default=12345, help="seed of the held-out scenes")
    ec.add_argument("--beam", type=int, default=1, help="beam width (1: greedy)")
    ec.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    add_device(ec)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "caption":
            from .commands import caption

            return caption(args)
        if args.command == "train":
            from .commands import train

            return train(args)
        if args.command == "eval":
            from .commands import evaluate

            return evaluate(args)
    except AttnViewerError as e:
        print(f"attnviewer: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("attnviewer: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())


def main_entry() -> None:
    """Console script: `attnviewer ...`."""
    sys.exit(main())
