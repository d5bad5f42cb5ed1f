"""`attnviewer train caption|video|translate`: train a model on generated data (with --data, on a
real corpus: train_corpus.py). These modules parse and print; what each command trains is one
entry of training/commands.py."""
from __future__ import annotations

import argparse

from .options import add_training
from .train_corpus import add_caption_data, check_folder_can_exist, say
from .train_video_translate import add_pairs_data, add_video_data


def train(args: argparse.Namespace) -> int:
    from ..training import commands

    check_folder(args.out)
    if args.task in ARCH_DEFAULTS:  # the defaults differ with the architecture
        arch_defaults = ARCH_DEFAULTS[args.task][getattr(args, "arch", "lstm")]
        vars(args).update({k: v for k, v in arch_defaults.items() if getattr(args, k) is None})
    if getattr(args, "arch", "lstm") == "transformer":
        return train_transformer(args)
    if args.task == "caption" and args.data:
        from .train_corpus import train_caption_corpus

        return train_caption_corpus(args)
    if args.task in ("video", "translate") and args.data:
        from .train_video_translate import train_translate_corpus, train_video_corpus

        return (train_video_corpus if args.task == "video" else train_translate_corpus)(args)
    if args.task == "caption":  # on generated scenes, the defaults left open for --data are these
        defaults = dict(epochs=45, lr=1e-3, ds_lambda=0.0, image_size=160)
        vars(args).update({k: v for k, v in defaults.items() if getattr(args, k) is None})
    common = dict(out=args.out, train_size=args.train_size, val_size=args.val_size, epochs=args.epochs,
                  batch_size=args.batch_size, lr=args.lr, score=args.score, seed=args.seed,
                  init_seed=args.init_seed, minutes=args.minutes)
    if args.task == "caption":
        entry = commands.caption
        extra = dict(ds_lambda=args.ds_lambda, hard=args.hard, encoder=args.encoder, deep_output=args.deep_output,
                     image_size=args.image_size, cache_dir=args.cache_dir)
    elif args.task == "video":
        entry = commands.video
        extra = dict(summary_start=args.summary_start, change_features=args.change_features)
    else:
        entry = commands.translate
        extra = dict(attention=args.attention, encoder=args.encoder, reverse_source=args.reverse_source)
    entry({**common, **extra}, args.device, lambda out: check_new_output(out, getattr(args, "overwrite", False)),
          say)
    return 0


def check_folder(out: str) -> None:
    """--out's folder must exist, as for every other output."""
    from .outputs import check_folder_exists

    check_folder_can_exist(out)  # a file on the way: named as such
    check_folder_exists(out)


def check_new_output(out: str, overwrite: bool) -> None:
    """An --out that exists is refused without --overwrite; one that cannot be written, always."""
    from .outputs import check_outputs, check_writable

    check_outputs([out], overwrite)
    check_writable(out)


# Defaults that differ with --arch (the LSTM captioner's epochs, rate and image size are filled in
# later: they differ again with --data).
ARCH_DEFAULTS = {
    "caption": {"lstm": dict(train_size=20_000, batch_size=128),
                "transformer": dict(train_size=20_000, batch_size=32, epochs=8, lr=7e-4, image_size=96)},
    "translate": {"lstm": dict(epochs=5, lr=2e-3, train_size=100_000),
                  "transformer": dict(epochs=4, lr=1e-3, train_size=40_000)},
}


def train_transformer(args: argparse.Namespace) -> int:
    """`--arch transformer`: a small ViT + GPT-2 captioner or Marian translator trained from scratch
    on the generated data, written as a transformers folder (training/transformers.py)."""
    from ..errors import SettingsError
    from ..training import commands

    if args.data:
        raise SettingsError("--arch transformer trains on the generated data only; leave out --data")
    values = dict(out=args.out, train_size=args.train_size, batch_size=args.batch_size, lr=args.lr,
                  val_size=args.val_size, epochs=args.epochs, seed=args.seed, init_seed=args.init_seed,
                  minutes=args.minutes, max_steps=args.max_steps, hidden=args.hidden,
                  encoder_layers=args.encoder_layers, decoder_layers=args.decoder_layers, heads=args.heads,
                  ffn=args.ffn, threads=args.threads, overwrite=args.overwrite)
    if args.task == "caption":
        commands.caption_transformer(dict(values, image_size=args.image_size, patch_size=args.patch_size),
                                     args.device, say)
    else:
        commands.translate_transformer(values, args.device, say)
    return 0


def add_transformer(p: argparse.ArgumentParser, images: bool) -> None:
    """--arch and the options of the small transformers trained from scratch."""
    g = p.add_argument_group("a transformer trained from scratch (--arch transformer; written as a folder)")
    g.add_argument("--arch", default="lstm", choices=("lstm", "transformer"),
                   help="lstm: the attention LSTM (a .safetensors file); transformer: "
                        + ("a ViT encoder + GPT-2 decoder" if images else "a Marian encoder-decoder")
                        + " saved as a transformers folder --out (default lstm)")
    if images:
        g.add_argument("--patch-size", type=int, default=16, help="ViT patch side in pixels (default 16)")
    g.add_argument("--hidden", type=int, default=128,
                   help="--arch transformer only: the width of every layer (default 128; the LSTM's size "
                        "with --data is --hidden-dim)")
    g.add_argument("--encoder-layers", type=int, default=4 if images else 3, help="(default %(default)s)")
    g.add_argument("--decoder-layers", type=int, default=3, help="(default 3)")
    g.add_argument("--heads", type=int, default=4, help="attention heads a layer (default 4)")
    g.add_argument("--ffn", type=int, default=256, help="feed-forward width (default 256)")
    g.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice; on a busy "
                                                "machine 1 can be much faster)")


def add_parser(sub) -> None:
    tr = sub.add_parser("train", help="train a model on generated data, or on your dataset (--data)")
    tr_sub = tr.add_subparsers(dest="task", required=True)
    tc = tr_sub.add_parser("caption", help="train the image captioner on generated scenes, or on your images (--data)")
    add_training(tc, 20_000, 500, 45, 128, 1e-3, "scenes", {
        "epochs": "default 45 on scenes, 20 with --data, 8 with --arch transformer",
        "batch_size": "default 128, 32 with --arch transformer",
        "lr": "default 1e-3 on scenes, 4e-4 with --data, 7e-4 with --arch transformer",
        "train_size": "default 20000; with --data, every image of the corpus"})
    # by --arch: lstm 20k scenes, batch 128, 45 epochs and 1e-3 on scenes (20 and 4e-4 with --data);
    # transformer 20k scenes, batch 32, 8 epochs, 7e-4, 96 px
    tc.set_defaults(epochs=None, lr=None, train_size=None, batch_size=None)
    tc.add_argument("--lambda", dest="ds_lambda", type=float,
                    help="weight of the doubly stochastic attention penalty (Show-Attend-Tell used 1; "
                         "default 0 on scenes, 1 with --data)")
    tc.add_argument("--hard", action="store_true", help="stochastic hard attention (REINFORCE)")
    tc.add_argument("--deep-output", action=argparse.BooleanOptionalAction, default=False,
                    help="Show-Attend-Tell's deep output layer: words read from [previous word, state, context]")
    tc.add_argument("--encoder", default="efficientnet-lite0", choices=("efficientnet-lite0", "small-cnn"),
                    help="LSTM captioner's image encoder: the pretrained EfficientNet-Lite0 or a small CNN trained "
                         "from scratch with the decoder (default efficientnet-lite0)")
    tc.add_argument("--image-size", type=int, help="side of the square images (default 160 on scenes, 224 with --data)")
    tc.add_argument("--cache-dir", help="where encoder features are cached")
    add_caption_data(tc)
    add_transformer(tc, images=True)

    tv = tr_sub.add_parser("video", help="train the video captioner on generated clips, or on your clips (--data)")
    add_training(tv, 6000, 300, 20, 64, 2e-3, "clips", {"train_size": "default 6000; with --data, every clip of "
                                                                       "the corpus"})
    tv.add_argument("--summary-start", action="store_true",
                    help="plain S2VT: the decoder starts from the encoder's summary")
    tv.add_argument("--change-features", action=argparse.BooleanOptionalAction, default=True,
                    help="the memory carries frame-to-frame change (--no-change-features: appearance only)")
    add_video_data(tv)

    tt = tr_sub.add_parser("translate", help="train the translator on the generated language pair, or on your sentence pairs (--data)")
    add_training(tt, 100_000, 500, 5, 64, 2e-3, "pairs", {
        "epochs": "default 5, 4 with --arch transformer", "lr": "default 2e-3, 1e-3 with --arch transformer",
        "train_size": "default 100000, 40000 with --arch transformer; with --data, every pair of the corpus"})
    tt.add_argument("--attention", default="global", choices=("global", "local"),
                    help="Luong's global or local-p (default global)")
    tt.add_argument("--encoder", default="bigru", choices=("bigru", "gru"),
                    help="LSTM translator's encoder: a bidirectional GRU or a forward one (default bigru)")
    tt.add_argument("--reverse-source", action="store_true", help="the encoder reads the source backwards")
    tt.set_defaults(epochs=None, lr=None, train_size=None)  # by --arch: 5, 2e-3, 100k (lstm); 4, 1e-3, 40k
    add_pairs_data(tt)
    add_transformer(tt, images=False)
