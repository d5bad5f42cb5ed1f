"""`attnviewer video CLIP`: caption a video and say when each word looked."""
from __future__ import annotations

import argparse

from .options import add_decoding, add_device, add_overwrite, add_style, add_whatif, add_video_figures
from .probes import add_probes
from .outputs import add_pieces


def video(args: argparse.Namespace) -> int:
    from .. import pipeline
    from ..errors import SettingsError
    from ..kinds import VIDEO, WriteOptions
    from ..kinds.video import DEFAULT_STEPS
    from ..kinds import titled
    from ..types import model_label
    from . import probes, ranks, whatif
    from .options import decode_settings, figure_style, lens_option, model_lens, model_name, refuse_lens_without_heads
    from .outputs import check_plans, plan, print_result, shown_result, write

    settings = decode_settings(args)
    style = figure_style(args)
    lens_option(args)
    whatif.check(args, settings)
    probes.check(args, VIDEO)
    if ranks.another_rank():  # under torchrun rank 0 alone decodes and writes
        return 0
    plans = plan(VIDEO, {"figure": args.figure, "top_frames": args.top_frames, "json": args.json,
                         "animation": args.animation}, [args.clip])
    check_plans(plans, args.overwrite)
    asked = whatif.plan(args, [args.clip])[0]
    name = model_name(args)
    refuse_lens_without_heads(args, name)
    config = pipeline.model_config(name)  # from the checked header: the clip is read before the model loads
    steps = config.get("steps", DEFAULT_STEPS)
    if not 1 <= args.top_k_frames <= steps:
        raise SettingsError(f"--top-k-frames must be 1 to {steps} (the frames the model sees), got {args.top_k_frames}")
    clip = VIDEO.read(args.clip, config, reverse=args.reverse)
    model = pipeline.load_model(VIDEO, name, args.device, args.trust_pickle)
    lens = model_lens(args, model, name)
    clip = VIDEO.fit(clip, model)  # before decoding: a clip re-read for the model is read once
    result = whatif.decode(args, VIDEO, model, [clip], settings, lens)[0]
    shown = shown_result(result, args)  # a subword decoder's pieces as words; the file keeps them
    print_result(VIDEO, shown, settings.method, shown=args.clip + (" (reversed)" if args.reverse else ""))
    whatif.report(args, shown)
    probes.run(args, VIDEO, model, clip, result, style)
    opts = WriteOptions(title=args.title or titled(result, f"{model_label(name)}, {settings.describe()}"), top_k=args.top_k_frames,
                        seconds=args.frame_seconds, frame_size=args.frame_size)
    write(VIDEO, clip, result, plans[0], style, opts, drawn=shown)
    whatif.write(args, VIDEO, [clip], [result], [asked])
    return 0


def add_parser(sub) -> None:
    vi = sub.add_parser("video", help="caption a video clip and show when each word looked")
    vi.add_argument("clip", metavar="CLIP", help="a video file (MP4, MKV, WebM, AVI, MOV, M4V, GIF)")
    add_decoding(vi, "video-shapes")
    vi.add_argument("--reverse", action="store_true",
                    help="caption the clip played backwards (the arrow of time: direction words should flip)")
    vi.add_argument("--json", metavar="OUT", help="write the result (and its exact arrays beside it, as .npz)")
    vi.add_argument("--animation", metavar="OUT",
                    help="write the caption word by word with each word's most attended frame (.gif or .mp4)")
    add_pieces(vi)
    add_overwrite(vi)
    add_whatif(vi)
    add_video_figures(vi)
    add_style(vi, images=False)
    add_device(vi)
    add_probes(vi)  # last: it adds --word where the style options have none
