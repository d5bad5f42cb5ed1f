"""The command-line options the commands share: model and decoding, device, training, figure style."""
from __future__ import annotations

import argparse


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where the model runs: auto picks CUDA when a GPU is present")


def add_decoding(p: argparse.ArgumentParser, default_model: str) -> None:
    """The model and how it decodes, shared by caption, translate and video."""
    p.add_argument("--model", default=default_model,
                   help=f"bundled model name, a checkpoint file or a transformers model folder (default {default_model})")
    add_lens(p)
    how = p.add_mutually_exclusive_group()
    how.add_argument("--beam", type=int, metavar="K", help="beam search of width K (default 3)")
    how.add_argument("--greedy", action="store_true", help="greedy decoding")
    how.add_argument("--sample", type=float, metavar="T", help="sample with temperature T")
    p.add_argument("--top-k", type=int, default=0, help="sampling: only the K most likely words")
    p.add_argument("--seed", type=int, help="sampling seed")
    p.add_argument("--max-len", type=int, help="longest output in words")
    p.add_argument("--length-penalty", type=float, metavar="A",
                   help="beam: rank hypotheses by log probability / length ** A (default 1, or a transformers "
                        "folder's generation_config; 0: sums, as the Show-Attend-Tell tutorial ranks)")
    p.add_argument("--min-len", type=int, default=0, metavar="N",
                   help="no end before N words (subword models count pieces; default 0)")
    p.add_argument("--no-repeat-ngram", type=int, default=0, metavar="N",
                   help="never write the same N words in a row twice in one output (0: off, the default)")
    p.add_argument("--shrink-beam", action="store_true",
                   help="beam: a hypothesis that ends narrows the beam, as the Show-Attend-Tell tutorial's search")
    p.add_argument("--score", metavar="FN", help="attention score function (a bundled variant of the model)")
    p.add_argument("--trust-pickle", action="store_true", help="allow loading a pickle checkpoint you trust")


LENS_HELP = ("transformers: how layers and heads make each word's map: LAYER[:HEADS], LAYER a number from 1, "
             "last, mean or rollout; HEADS mean, max or a head from 1 (default last:mean)")


def add_lens(p: argparse.ArgumentParser, before: str = "") -> None:
    p.add_argument("--lens", metavar="SPEC", help=before + LENS_HELP)


def lens_option(args: argparse.Namespace):
    """--lens as a lens.Lens (None if not given); SettingsError of one line for a bad spec."""
    from ..errors import SettingsError
    from ..lens import Lens

    spec = getattr(args, "lens", None)
    if spec is None:
        return None
    try:
        return Lens.parse(spec)
    except ValueError as e:
        raise SettingsError(f"--lens {spec!r}: {e} (e.g. last, 2, mean, rollout, last:max, 2:3)") from None


def refuse_lens_without_heads(args: argparse.Namespace, name: str) -> None:
    """--lens for a model that is no transformers folder: one line, before anything loads."""
    if getattr(args, "lens", None) is None:
        return
    from .. import catalog
    from ..errors import AttnViewerError, SettingsError
    from ..model_folders import is_model_folder

    try:
        path = catalog.resolve(name)
    except AttnViewerError:
        return  # loading it says what is wrong
    if not is_model_folder(path):
        raise SettingsError(f"--lens {args.lens}: {name} has no layers and heads to look through (a lens is for "
                            "transformers model folders)")


def model_lens(args: argparse.Namespace, model, name: str):
    """The lens the loaded model's maps are drawn with: --lens checked against its layers and
    heads, else the default (last layer, mean of heads); SettingsError of one line."""
    from ..errors import SettingsError
    from ..lens import DEFAULT

    lens = lens_option(args)
    if lens is None:
        return DEFAULT
    if not hasattr(model, "n_layers"):
        raise SettingsError(f"--lens {args.lens}: {name} has no layers and heads to look through (a lens is for "
                            "transformers model folders)")
    return checked_lens(lens, model.n_layers, model.n_heads, f"--lens {args.lens}")


def checked_lens(lens, layers: int, heads: int, where: str):
    """The lens if the model (or the saved result) has its layer and head; SettingsError of one
    line counting from 1, as --lens does."""
    from ..errors import SettingsError

    try:
        return lens.check(layers, heads)
    except ValueError as e:
        raise SettingsError(f"{where}: {e}") from None


def add_training(p: argparse.ArgumentParser, train_size: int, val_size: int, epochs: int, batch_size: int,
                 lr: float, what: str, varies: dict[str, str] | None = None) -> None:
    """The options every train command has; `what` names its examples (scenes, pairs, clips).
    varies: the help's default of an option whose default depends on --arch or --data."""
    varies = varies or {}
    p.add_argument("--out", required=True,
                   help="checkpoint to write (.safetensors; its folder must exist); --arch transformer: a folder")
    p.add_argument("--train-size", type=int, default=train_size,
                   help=f"generated {what} to train on ({varies.get('train_size', f'default {train_size}')})")
    p.add_argument("--val-size", type=int, default=val_size,
                   help=f"held-out {what} scored while training; the best check is kept (default {val_size})")
    p.add_argument("--epochs", type=int, default=epochs,
                   help=f"passes over the training {what} ({varies.get('epochs', f'default {epochs}')})")
    p.add_argument("--batch-size", type=int, default=batch_size,
                   help=f"{what} a training step ({varies.get('batch_size', f'default {batch_size}')})")
    p.add_argument("--lr", type=float, default=lr,
                   help=f"learning rate ({varies.get('lr', f'default {lr:g}')})")
    p.add_argument("--score", default="additive", help="attention score function (default additive)")
    p.add_argument("--seed", type=int, default=0, help=f"seed of the generated {what} (and of the weights; default 0)")
    p.add_argument("--init-seed", type=int, help=f"another seed for the weights and batch order, same {what} "
                                                 "(default: --seed)")
    p.add_argument("--minutes", type=float, help="stop after this many minutes")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the checkpoint if --out exists (a symlink there is replaced, not written through)")
    add_device(p)


def add_style(p: argparse.ArgumentParser, images: bool = True) -> None:
    """Figure, overlay and animation options, shared by caption, translate, video and export;
    images=False leaves out those that only mean something over an image."""
    g = p.add_argument_group("figure style")
    if images:
        g.add_argument("--columns", type=int, default=5, metavar="N", help="panels per row of the figure (default 5)")
    g.add_argument("--cmap", default="jet", metavar="NAME", help="matplotlib colormap of the attention (default jet)")
    g.add_argument("--opacity", type=float, default=OPACITY, metavar="A",
                   help="overlay opacity where the attention peaks, 0..1 (default 0.6); a translation's "
                        "alignment matrix has no overlay and ignores it (a one-line note says so)")
    if images:
        g.add_argument("--smoothing", default="gaussian", choices=("nearest", "bilinear", "gaussian"),
                       help="how the attention grid is drawn over the image (default gaussian)")
    g.add_argument("--scale", default="max", choices=("max", "fixed"),
                   help="max: each map to its own peak (the alignment matrix: each row); fixed: weights 0..1 on "
                        "one scale (default max)")
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


def add_overwrite(p: argparse.ArgumentParser) -> None:
    """--overwrite of the commands that write figures and results (see outputs.py for the rule)."""
    p.add_argument("--overwrite", action="store_true",
                   help="replace output files that exist (a symlink is replaced, never written through)")


def add_video_figures(p: argparse.ArgumentParser) -> None:
    if not any(a.dest == "figure" for a in p._actions):
        p.add_argument("--figure", metavar="OUT", help="the frame strip with each word's attention over time")
    p.add_argument("--top-frames", metavar="OUT", help="video: each word's most attended frames (.png, .svg, .pdf)")
    p.add_argument("--top-k-frames", type=int, default=3, metavar="K", help="video: frames per word (default 3)")


def add_eval(p: argparse.ArgumentParser, n: int, what: str) -> None:
    """The options every eval command has."""
    p.add_argument("--model", action="append", help="model name or file (repeat to compare; default: all bundled)")
    p.add_argument("--n", type=int, help=f"held-out {what} (default {n}; with --data: the whole split, or its first N)")
    p.set_defaults(generated_n=n)
    p.add_argument("--seed", type=int, default=12345, help=f"seed of the held-out {what}")
    p.add_argument("--beam", type=int, default=1, help="beam width (1: greedy)")
    p.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    add_device(p)


def decode_settings(args: argparse.Namespace):
    from ..settings import DecodeSettings

    if args.greedy:
        s = DecodeSettings("greedy")
    elif args.sample is not None:
        s = DecodeSettings("sample", temperature=args.sample, top_k=args.top_k, seed=args.seed)
    else:
        s = DecodeSettings("beam", beam=3 if args.beam is None else args.beam,
                           length_penalty=args.length_penalty, shrink_beam=args.shrink_beam)
    s.max_len = args.max_len
    s.min_len, s.no_repeat_ngram = getattr(args, "min_len", 0), getattr(args, "no_repeat_ngram", 0)
    return s.validate()


OPACITY = 0.6  # --opacity's default


def note_matrix_opacity(args: argparse.Namespace, matrix: bool) -> None:
    """One line on stderr where --opacity was set for an alignment matrix, which has no overlay."""
    import sys

    if matrix and args.opacity != OPACITY:
        print(f"attnviewer: note: --opacity {args.opacity:g} does not change the alignment matrix (its cells "
              "are opaque; it fades overlays and the animation's words)", file=sys.stderr)


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


def model_name(args: argparse.Namespace) -> str:
    """--model, or its bundled sibling trained with --score."""
    from .. import catalog

    return catalog.variant_with_score(args.model, args.score) if args.score else args.model


def add_whatif(p: argparse.ArgumentParser, sentences: bool = False) -> None:
    """Asking the model what if (issue 22; cli/whatif.py runs them): step scores, a given sentence
    scored, forced words, the beam tree, the interactive page; with `sentences`, alignments."""
    g = p.add_argument_group("what if")
    g.add_argument("--scores", action="store_true",
                   help="print each word's probability and the entropies of the output distribution and of the "
                        "attention (nats)")
    g.add_argument("--target", metavar="TEXT",
                   help="score this sentence instead of decoding: every word forced, its probability and attention "
                        "shown (words of the model's vocabulary)")
    g.add_argument("--force", action="append", metavar="N=WORD",
                   help="force WORD at step N (from 1; repeat for several); the words before follow the model's own "
                        "output and the rest are decoded with the chosen settings (subword models count pieces)")
    g.add_argument("--attend", metavar="N=PLACE",
                   help="attention intervention: at step N put all the attention on PLACE (an image's ROW,COL cell, a "
                        "frame, a source word; from 1) and decode on from there. The LSTM models and transformers "
                        "(refused in one line where a model's attention cannot be swapped, e.g. BLIP, or a video's "
                        "tokens are tubelets)")
    g.add_argument("--beam-tree", metavar="OUT", help="draw the beam search's tree of hypotheses (.svg)")
    g.add_argument("--html", metavar="OUT",
                   help="write one self-contained interactive page (.html): input, words, each word's map, hypotheses")
    if sentences:
        g.add_argument("--pharaoh", metavar="OUT",
                       help="write the alignment (each target word to its most attended source word) as Pharaoh "
                            "i-j pairs, one line per sentence")
        g.add_argument("--gold-align", metavar="FILE",
                       help="gold alignments in Pharaoh format (i-j sure, i?j or i-j-P possible), one line per "
                            "sentence: print the alignment error rate (AER)")
