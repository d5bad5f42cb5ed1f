"""`attnviewer train caption|video|translate`: train a model on generated data (with --data, on a
real corpus: train_corpus.py)."""
from __future__ import annotations

import argparse

from .options import add_training
from .ranks import NEEDS
from .train_corpus import add_caption_data
from .train_video_translate import add_pairs_data, add_video_data


def train(args: argparse.Namespace) -> int:
    from ..errors import SettingsError
    from ..models.registry import pick_device
    from ..training.distributed import world_from_env
    from .outputs import check_outputs, check_writable

    if args.task == "caption" and args.data:
        from .train_corpus import train_caption_corpus

        return train_caption_corpus(args)
    if args.task in ("video", "translate") and args.data:
        from .train_video_translate import train_translate_corpus, train_video_corpus

        return (train_video_corpus if args.task == "video" else train_translate_corpus)(args)
    if world_from_env(needs=NEEDS).distributed:  # N processes writing the same file: refused, not wasted
        raise SettingsError("training on generated data runs in one process; under torchrun give --data")
    if args.task == "caption":  # on generated scenes, the defaults left open for --data are these
        defaults = dict(epochs=45, lr=1e-3, ds_lambda=0.0, image_size=160)
        vars(args).update({k: v for k, v in defaults.items() if getattr(args, k) is None})
    device = str(pick_device(args.device))
    common = dict(out=args.out, train_size=args.train_size, val_size=args.val_size, epochs=args.epochs,
                  batch_size=args.batch_size, lr=args.lr, score=args.score, seed=args.seed,
                  init_seed=args.init_seed, device=device, minutes=args.minutes)
    if args.task == "caption":
        from ..training.image import TrainSettings as Settings, train_captioner as trainer

        extra = dict(ds_lambda=args.ds_lambda, hard=args.hard, encoder=args.encoder, deep_output=args.deep_output,
                     image_size=args.image_size, cache_dir=args.cache_dir)
    elif args.task == "video":
        from ..training.video import VideoTrainSettings as Settings, train_video_captioner as trainer

        extra = dict(summary_start=args.summary_start, change_features=args.change_features)
    else:
        from ..training.text import TranslateTrainSettings as Settings, train_translator as trainer

        extra = dict(attention=args.attention, encoder=args.encoder, reverse_source=args.reverse_source)
    settings = Settings(**common, **extra).validate()
    check_outputs([settings.out], getattr(args, "overwrite", False))  # exists: refused without --overwrite
    check_writable(settings.out)
    trainer(settings, log=lambda m: print(m, flush=True))
    return 0


def add_parser(sub) -> None:
    tr = sub.add_parser("train", help="train a model on generated data, or on your dataset (--data)")
    tr_sub = tr.add_subparsers(dest="task", required=True)
    tc = tr_sub.add_parser("caption", help="train the image captioner on generated scenes, or on your images (--data)")
    add_training(tc, 20_000, 500, 45, 128, 1e-3, "scenes")
    tc.set_defaults(epochs=None, lr=None)  # 45 and 1e-3 on scenes; 20 and 4e-4 with --data
    tc.add_argument("--lambda", dest="ds_lambda", type=float,
                    help="weight of the doubly stochastic attention penalty (Show-Attend-Tell used 1; "
                         "default 0 on scenes, 1 with --data)")
    tc.add_argument("--hard", action="store_true", help="stochastic hard attention (REINFORCE)")
    tc.add_argument("--deep-output", action=argparse.BooleanOptionalAction, default=False,
                    help="Show-Attend-Tell's deep output layer: words read from [previous word, state, context]")
    tc.add_argument("--encoder", default="efficientnet-lite0", choices=("efficientnet-lite0", "small-cnn"))
    tc.add_argument("--image-size", type=int, help="side of the square images (default 160 on scenes, 224 with --data)")
    tc.add_argument("--cache-dir", help="where encoder features are cached")
    add_caption_data(tc)

    tv = tr_sub.add_parser("video", help="train the video captioner on generated clips, or on your clips (--data)")
    add_training(tv, 6000, 300, 20, 64, 2e-3, "clips")
    tv.add_argument("--summary-start", action="store_true",
                    help="plain S2VT: the decoder starts from the encoder's summary")
    tv.add_argument("--change-features", action=argparse.BooleanOptionalAction, default=True,
                    help="the memory carries frame-to-frame change (--no-change-features: appearance only)")
    add_video_data(tv)

    tt = tr_sub.add_parser("translate", help="train the translator on the generated language pair, or on your sentence pairs (--data)")
    add_training(tt, 100_000, 500, 5, 64, 2e-3, "pairs")
    tt.add_argument("--attention", default="global", choices=("global", "local"), help="Luong's global or local-p")
    tt.add_argument("--encoder", default="bigru", choices=("bigru", "gru"))
    tt.add_argument("--reverse-source", action="store_true", help="the encoder reads the source backwards")
    add_pairs_data(tt)
