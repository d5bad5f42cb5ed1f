"""`attnviewer caption IMAGE...`: caption images (folders with --out, see folder.py). Under torchrun
only rank 0 captions and writes the images named; the other ranks exit at once (0), writing nothing."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import probes, whatif
from .options import add_decoding, add_device, add_overwrite, add_style, add_whatif
from .probes import add_probes
from .outputs import add_pieces


def caption(args: argparse.Namespace) -> int:
    from .. import pipeline
    from ..errors import MediaError, OutputError, printable
    from ..kinds import IMAGE, WriteOptions
    from ..kinds import titled
    from ..types import model_label
    from . import ranks
    from .options import decode_settings, figure_style, lens_option, model_lens, model_name, refuse_lens_without_heads
    from .outputs import check_plans, plan, print_result, shown_result, word_index, write

    settings = decode_settings(args)  # cheap checks first: nothing loads for a bad setting
    style = figure_style(args)
    lens_option(args)
    whatif.check(args, settings)
    probes.check(args, IMAGE)
    if args.out is not None and whatif.asked(args):
        raise OutputError(f"{whatif.asked(args)[0]} is for images named one by one, not with --out OUTDIR")
    if args.out is not None:
        from .folder import caption_folder

        return caption_folder(args, settings, style)
    if args.figure_format is not None or args.animation_format is not None:
        raise OutputError("--figure-format and --animation-format name the outputs of a folder; add --out OUTDIR")
    for p in args.images:
        if Path(p).is_dir():
            raise MediaError(f"{p}: is a folder, not an image; to caption every image in it, add --out OUTDIR")
    if args.overlay and args.word is None:
        raise OutputError(f"{args.overlay}: an overlay shows one word; add --word N")
    if ranks.another_rank():  # under torchrun rank 0 alone captions and writes
        return 0
    plans = plan(IMAGE, {"figure": args.figure, "json": args.json, "npz": args.npz, "overlay": args.overlay,
                         "animation": args.animation}, args.images)
    check_plans(plans, args.overwrite)
    asked = whatif.plan(args, args.images)
    name = model_name(args)
    refuse_lens_without_heads(args, name)
    images = [pipeline.read(IMAGE, p, name) for p in args.images]
    for im in images:  # what the decoder warned about (damaged EXIF data, ...), one line each
        for note in im.notes:
            print(f"attnviewer: {printable(note)}", file=sys.stderr)
    model = pipeline.load_model(IMAGE, name, args.device, args.trust_pickle)
    lens = model_lens(args, model, name)
    results = whatif.decode(args, IMAGE, model, images, settings, lens)
    shown = [shown_result(r, args) for r in results]  # a subword decoder's pieces as words; the files keep them
    words = [word_index(args.word, s.best, im.path) for im, s in zip(images, shown)]  # all, before writing
    title = f"{model_label(model.name)}, {settings.describe()}"
    for im, r, s, w, out in zip(images, results, shown, words, plans):
        print_result(IMAGE, s, settings.method, shown=im.path)
        whatif.report(args, s)
        probes.run(args, IMAGE, model, im, r, style)
        opts = WriteOptions(title=args.title or titled(r, title), word=w, word_title=args.title, seconds=args.frame_seconds,
                            frame_size=args.frame_size)
        write(IMAGE, im, r, out, style, opts, drawn=s)
    whatif.write(args, IMAGE, images, results, asked)
    return 0


def add_parser(sub) -> None:
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
    add_pieces(cap)
    add_overwrite(cap)
    add_whatif(cap)
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
    add_probes(cap)  # last: it adds --word where the style options have none
