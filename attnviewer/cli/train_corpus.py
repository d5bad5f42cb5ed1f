"""`attnviewer train caption --data ANNOTATIONS --out FILE`: training on a real corpus through the
shared loop (training/loop.py), alone or under torchrun (training/distributed.py).

add_loop() holds the options of the loop every `train ... --data` command shares; loop_settings()
turns them into LoopSettings. Ctrl-C and SIGTERM save the training state and exit with 130 and
143; `--resume` continues from it.
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


def loop_settings(args: argparse.Namespace, device: str, epochs: int, lr: float):
    from ..training.loop import LoopSettings

    return LoopSettings(out=args.out, epochs=epochs, batch_size=args.batch_size, lr=lr, seed=args.seed,
                        device=device, clip=args.clip, amp=args.amp, val_every=args.val_every,
                        patience=args.patience, save_every=args.save_every, resume=args.resume,
                        scheduled_sampling=args.scheduled_sampling, max_steps=args.max_steps,
                        minutes=args.minutes, select=args.select, tensorboard=args.tensorboard,
                        plot=args.plot).validate()


def add_caption_data(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("image captions of a real corpus")
    g.add_argument("--data", metavar="ANNOTATIONS",
                   help="Karpathy-split JSON (dataset_coco.json, ...) or an image,caption CSV: train on it")
    g.add_argument("--images", metavar="ROOT", help="the images' folder (default: the annotations' folder)")
    g.add_argument("--fine-tune-encoder", action="store_true",
                   help="train the backbone too, from the images at every step (no feature file)")
    g.add_argument("--features-dir", help="where encoder features are stored (default ~/.cache/attnviewer/features)")
    g.add_argument("--hidden-dim", type=int, default=512, help="decoder size with --data (default 512)")
    g.add_argument("--dropout", type=float, default=0.5, help="dropout before the word layer with --data (default 0.5)")
    g.add_argument("--workers", type=int, help="threads reading images (default: up to 8)")
    add_loop(p)


def train_caption_corpus(args: argparse.Namespace) -> int:
    """Train a captioner on --data; exit status 0, or 130/143 when stopped by Ctrl-C/SIGTERM."""
    from ..training.image_corpus import CaptionCorpusSettings, ImageCaptionTask

    settings = CaptionCorpusSettings(
        data=args.data, images=args.images, min_count=args.min_count,
        image_size=224 if args.image_size is None else args.image_size, encoder=args.encoder,
        fine_tune_encoder=args.fine_tune_encoder, ds_lambda=1.0 if args.ds_lambda is None else args.ds_lambda,
        score=args.score, hidden_dim=args.hidden_dim, dropout=args.dropout, val_size=args.val_size,
        features_dir=args.features_dir, seed=init_seed(args),
        workers=args.workers,
    ).validate()
    return fit_task(args, lambda log, device: ImageCaptionTask(settings, device, log),
                    epochs=20 if args.epochs is None else args.epochs, lr=4e-4 if args.lr is None else args.lr)


def fit_task(args: argparse.Namespace, make_task, epochs: int, lr: float) -> int:
    """Train the task make_task(log, device) builds through the loop, alone or as one rank under
    torchrun; exit status 0, or 130/143 when stopped by Ctrl-C/SIGTERM. The process group and the
    rank's device are set up here, the one place, before the task is built (its features may be
    extracted by one rank while the others wait at a barrier)."""
    from ..models.registry import pick_device
    from ..training import distributed
    from ..training.loop import fit, selection
    from .outputs import check_outputs, check_writable

    world = distributed.world_from_env()
    device = distributed.rank_device(world, str(pick_device(args.device)))
    loop = loop_settings(args, device, epochs=epochs, lr=lr)
    selection(task_class(args.task), loop.select)  # a wrong --select is told before features are made
    if not args.resume:  # resuming replaces the best model it wrote itself
        check_outputs([loop.out], getattr(args, "overwrite", False))
    check_folder_can_exist(loop.out)
    check_writable(loop.out)
    log = (lambda m: print(m, flush=True)) if world.main else (lambda m: None)
    distributed.start(world, device)
    task = None
    try:
        task = make_task(log, device)
        summary = fit(task, loop, log)
    except RuntimeError as e:  # torch's refused allocations (CPU and CUDA): the one memory message
        if any(s in str(e) for s in ("not enough memory", "DefaultCPUAllocator", "out of memory")):
            raise MemoryError from None
        raise
    finally:
        if hasattr(task, "close"):  # what a task keeps on the disk while it trains (translate's ids)
            task.close()
        distributed.finish(world)
    return 128 + summary["signal"] if summary["stopped"] == "interrupted" else 0


def task_class(task: str):
    """The loop's Task class of `train TASK --data`."""
    if task == "caption":
        from ..training.image_corpus import ImageCaptionTask as cls
    elif task == "video":
        from ..training.video_corpus import VideoCorpusTask as cls
    else:
        from ..training.text_corpus import TranslationCorpusTask as cls
    return cls


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
