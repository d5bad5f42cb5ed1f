"""`attnviewer train video --data ANNOTATIONS --clips ROOT --out FILE` and `attnviewer train
translate --data PAIRS.tsv|DIR --out FILE`: the video captioner and the translator trained on a
real corpus through the shared loop (training/loop.py; its options are train_corpus.add_loop's), by
training/commands.video_corpus and translate_corpus.
Without --data both commands train on generated data as before (train.py).
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_video_data(p: argparse.ArgumentParser) -> None:
    from .train_corpus import add_loop

    g = p.add_argument_group("video captions of a real corpus")
    g.add_argument("--data", metavar="ANNOTATIONS",
                   help="MSVD captions (CSV video_id,caption or MSVD's own CSV) or MSR-VTT's JSON: train on it")
    g.add_argument("--clips", metavar="ROOT", help="the clips' folder (default: the annotations' folder)")
    g.add_argument("--features-dir", help="where frame features are stored (default ~/.cache/attnviewer/features)")
    g.add_argument("--frame-size", type=int, default=160,
                   help="side of the square frames the image encoder reads with --data (default 160)")
    g.add_argument("--hidden-dim", type=int, default=256,
                   help="--arch lstm with --data only: the LSTM decoder's size (default 256)")
    g.add_argument("--max-len", type=int, default=20, help="longest caption in words with --data (default 20)")
    add_loop(p)


def add_pairs_data(p: argparse.ArgumentParser) -> None:
    from .train_corpus import add_loop

    g = p.add_argument_group("sentence pairs of a real corpus")
    g.add_argument("--data", metavar="PAIRS",
                   help="a TSV file of source<TAB>target lines, or a folder of train/val/test TSVs: train on it")
    g.add_argument("--max-source-len", type=int, default=50,
                   help="pairs with a longer source are dropped and counted (default 50 words)")
    g.add_argument("--max-target-len", type=int, default=50,
                   help="pairs with a longer target are dropped and counted (default 50 words)")
    g.add_argument("--hidden-dim", type=int, default=256,
                   help="--arch lstm with --data only: the encoder's and decoder's size "
                        "(default 256; a transformer's is --hidden)")
    add_loop(p)


def train_video_corpus(args: argparse.Namespace) -> int:
    from ..training import commands
    from .train_corpus import fit_task, init_seed, loop_values

    corpus = dict(
        data=args.data, clips=args.clips or str(Path(args.data).parent), features_dir=args.features_dir,
        min_count=args.min_count, max_len=args.max_len, frame_size=args.frame_size, val_size=args.val_size,
        score=args.score, hidden_dim=args.hidden_dim, summary_start=args.summary_start,
        change_features=args.change_features, seed=init_seed(args),
    )
    return fit_task(commands.video_corpus, corpus, loop_values(args, args.epochs, args.lr), args)


def train_translate_corpus(args: argparse.Namespace) -> int:
    from ..training import commands
    from .train_corpus import fit_task, init_seed, loop_values

    corpus = dict(
        data=args.data, min_count=args.min_count, max_source_len=args.max_source_len,
        max_target_len=args.max_target_len, val_size=args.val_size, score=args.score, attention=args.attention,
        encoder=args.encoder, reverse_source=args.reverse_source, hidden_dim=args.hidden_dim, seed=init_seed(args),
    )
    return fit_task(commands.translate_corpus, corpus, loop_values(args, args.epochs, args.lr), args)
