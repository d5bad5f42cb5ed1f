"""`attnviewer train caption --data ANNOTATIONS --out FILE`: training on a real corpus through the
shared loop (training/loop.py), alone or under torchrun, by training/commands.caption_corpus.

add_loop() holds the options of the loop every `train ... --data` command shares; loop_values()
turns them into LoopSettings' fields. Ctrl-C and SIGTERM save the training state and exit with 130
and 143; `--resume` continues from it.
"""
from __future__ import annotations

import argparse


def add_loop(p: argparse.ArgumentParser) -> None:
    """The options of training with --data (they mean nothing on generated data)."""
    g = p.add_argument_group("training on a corpus (with --data)")
    g.add_argument("--clip", type=float, default=5.0, help="gradient norm clipping, 0 = off (default 5)")
    g.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True,
                   help="mixed precision on CUDA (never on the CPU; default on)")
    g.add_argument("--val-every", type=int, default=0, metavar="STEPS",
                   help="validate every STEPS steps (default 0: once per epoch)")
    g.add_argument("--patience", type=int, default=5,
                   help="stop after this many validations without a better --select figure (0 = never; default 5)")
    g.add_argument("--select", metavar="METRIC",
                   help="the validation figure that picks the best model (a tie goes to the lower validation "
                        "loss): CIDEr-D or BLEU-4 for captions (default CIDEr-D), BLEU or chrF for translation "
                        "(default BLEU)")
    g.add_argument("--save-every", type=int, default=500, metavar="STEPS",
                   help="write the training state (OUT.state/) every STEPS steps (default 500)")
    g.add_argument("--resume", action="store_true", help="continue exactly from OUT.state/")
    g.add_argument("--scheduled-sampling", type=float, default=0.0, metavar="P",
                   help="feed the model its own previous word with a probability ramped from 0 to P")
    g.add_argument("--max-steps", type=int, help="stop after this many steps (the schedule still spans --epochs)")
    g.add_argument("--min-count", type=int, default=5, help="words seen fewer times read as <unk> (default 5)")
    g.add_argument("--tensorboard", metavar="DIR",
                   help="also write every step's loss and every validation to TensorBoard event files in DIR "
                        "(needs the tensorboard package); a CSV log is always written beside --out")
    g.add_argument("--plot", action="store_true",
                   help="at the end, draw the loss and validation curves to OUT's name with .curves.png")


def loop_values(args: argparse.Namespace, epochs: int, lr: float) -> dict:
    """LoopSettings' fields from the options (the device is the entry's to pick, per rank)."""
    return dict(out=args.out, epochs=epochs, batch_size=args.batch_size, lr=lr, seed=args.seed, clip=args.clip,
                amp=args.amp, val_every=args.val_every, patience=args.patience, save_every=args.save_every,
                resume=args.resume, scheduled_sampling=args.scheduled_sampling, max_steps=args.max_steps,
                minutes=args.minutes, select=args.select, tensorboard=args.tensorboard, plot=args.plot)


def add_caption_data(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("image captions of a real corpus")
    g.add_argument("--data", metavar="ANNOTATIONS",
                   help="Karpathy-split JSON (dataset_coco.json, ...) or an image,caption CSV: train on it")
    g.add_argument("--images", metavar="ROOT", help="the images' folder (default: the annotations' folder)")
    g.add_argument("--fine-tune-encoder", action="store_true",
                   help="train the backbone too, from the images at every step (no feature file)")
    g.add_argument("--features-dir", help="where encoder features are stored (default ~/.cache/attnviewer/features)")
    g.add_argument("--hidden-dim", type=int, default=512,
                   help="--arch lstm with --data only: the LSTM decoder's size (default 512; a transformer's is "
                        "--hidden)")
    g.add_argument("--dropout", type=float, default=0.5, help="dropout before the word layer with --data (default 0.5)")
    g.add_argument("--workers", type=int, help="threads reading images (default: up to 8)")
    add_loop(p)


def train_caption_corpus(args: argparse.Namespace) -> int:
    """Train a captioner on --data; exit status 0, or 130/143 when stopped by Ctrl-C/SIGTERM."""
    from ..training import commands

    corpus = dict(
        data=args.data, images=args.images, min_count=args.min_count,
        image_size=224 if args.image_size is None else args.image_size, encoder=args.encoder,
        fine_tune_encoder=args.fine_tune_encoder, ds_lambda=1.0 if args.ds_lambda is None else args.ds_lambda,
        score=args.score, hidden_dim=args.hidden_dim, dropout=args.dropout, val_size=args.val_size,
        features_dir=args.features_dir, seed=init_seed(args),
        workers=args.workers,
    )
    loop = loop_values(args, epochs=20 if args.epochs is None else args.epochs, lr=4e-4 if args.lr is None else args.lr)
    return fit_task(commands.caption_corpus, corpus, loop, args)


def fit_task(entry, corpus: dict, loop: dict, args: argparse.Namespace) -> int:
    """Run a `train TASK --data` entry of training/commands.py (it trains alone or as one rank
    under torchrun, and only rank 0 logs); exit status 0, or 130/143 when stopped by
    Ctrl-C/SIGTERM."""
    summary = entry(corpus, loop, args.device, lambda out: check_out(out, args), say)
    return 128 + summary["signal"] if summary["stopped"] == "interrupted" else 0


def say(line: str) -> None:
    """A line of the trainers' progress, printed as it comes."""
    print(line, flush=True)


def check_out(out: str, args: argparse.Namespace) -> None:
    """Once the settings are valid, before any work: an --out that exists is refused without
    --overwrite (a resumed run replaces the best model it wrote itself), one whose folder cannot be
    made or written, always."""
    from .outputs import check_outputs, check_writable

    if not args.resume:
        check_outputs([out], getattr(args, "overwrite", False))
    check_folder_can_exist(out)
    check_writable(out)


def check_folder_can_exist(out) -> None:
    """OutputError before any training when --out's folder cannot be made: a file stands where a
    folder on its way should be (the model and OUT.state/ are written only after hours)."""
    from pathlib import Path

    from ..errors import OutputError, printable

    for folder in Path(out).absolute().parents:
        if folder.exists() or folder.is_symlink():
            if not folder.is_dir():
                raise OutputError(f"{printable(out)}: cannot write, {printable(folder)} is a file, not a folder")
            return


def init_seed(args: argparse.Namespace) -> int:
    """The seed of the weights, dropout and data order: --init-seed, else --seed."""
    return args.seed if args.init_seed is None else args.init_seed
