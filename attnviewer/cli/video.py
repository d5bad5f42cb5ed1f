"""The video command and the video captioner's train and eval commands (cli.py parses them)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_MODEL = "video-shapes"


def video(args: argparse.Namespace) -> int:
    import time

    import torch

    from .caption import check_animation, check_outputs, decode_settings, figure_style, output_paths, print_caption
    from ..decoding.search import decode, run
    from ..errors import SettingsError
    from ..export.animation import ANIMATION_FORMATS
    from ..export.figures import FIGURE_FORMATS
    from ..media.frames import model_frames, read_clip
    from .. import catalog
    from ..models import registry
    from ..types import Result, model_label
    from ..training.video import clip_tensor

    settings = decode_settings(args)
    style = figure_style(args)
    figure = output_paths(args.figure, ["-"], FIGURE_FORMATS, "figure")[0]
    top = output_paths(args.top_frames, ["-"], FIGURE_FORMATS, "figure")[0]
    js = output_paths(args.json, ["-"], (".json",), "JSON")[0]
    animation = output_paths(args.animation, ["-"], ANIMATION_FORMATS, "animation")[0]
    check_outputs([figure, top, js, None if js is None else js.with_suffix(".npz"), animation], args.overwrite)
    check_animation(animation)
    name = catalog.variant_with_score(args.model, args.score) if args.score else args.model
    steps = catalog.config_of(name).get("steps", 12)  # from the file's header: the clip is read first
    if not 1 <= args.top_k_frames <= steps:
        raise SettingsError(f"--top-k-frames must be 1 to {steps} (the frames the model sees), got {args.top_k_frames}")
    clip = read_clip(args.clip, steps)
    model = registry.load(name, args.device, args.trust_pickle, kind="video")
    if model.config.steps != steps:  # a pickle checkpoint has no header to read it from
        clip = read_clip(args.clip, model.config.steps)
    device = next(model.parameters()).device
    t0 = time.perf_counter()
    with torch.inference_mode():
        frames = clip_tensor(model_frames(clip.frames, model.config.frame_size)[None]).to(device)
        hyps = run(decode(model, model.init_state(frames), settings, stream=False))[0]
    result = Result(str(Path(args.clip).resolve()), name, dict(settings.to_dict(), device=str(device)), hyps,
                    time.perf_counter() - t0, clip.size, kind="video", frame_times=clip.times)
    print_caption(result, settings.method, shown=args.clip)
    print("  looked at: " + "  ".join(f"{t}@{clip.times[int(a.argmax())]:.2f}s"
                                      for t, a in zip(result.best.tokens, result.best.attention)))
    title = args.title or f"{model_label(name)}, {settings.describe()}"
    write_video_outputs(clip.frames, result, style, json=js, figure=figure, top_frames=top, animation=animation,
                        title=title, k=args.top_k_frames, seconds=args.frame_seconds, frame_size=args.frame_size)
    return 0


def write_video_outputs(frames, result, style, *, json=None, figure=None, top_frames=None, animation=None,
                        title=None, k=3, seconds: float = 1.0, frame_size: int = 512, hypothesis: int = 0,
                        log=print) -> list:
    from ..export.data import write_result
    from ..export.temporal_figures import frame_strip_figure, top_frames_figure

    hyp, written = result.hypotheses[hypothesis], []
    if json is not None:
        written += write_result(result, json, Path(json).with_suffix(".npz"))
        log(f"  wrote {json} and its .npz")
    if figure is not None:
        written.append(frame_strip_figure(frames, result.frame_times, hyp, figure, style, title=title))
        log(f"  wrote {figure}")
    if top_frames is not None:
        written.append(top_frames_figure(frames, result.frame_times, hyp, top_frames, style, k=k, title=title))
        log(f"  wrote {top_frames}")
    if animation is not None:
        from ..export.video_animation import write_video_animation

        written.append(write_video_animation(frames, hyp, animation, style, seconds=seconds, size=frame_size))
        log(f"  wrote {animation}")
    return written


def export_video(args, result, style, figure, top, animation, title) -> int:
    """A saved video result's figures, from its clip read again (the same frames are sampled)."""
    from ..errors import OutputError
    from ..export.data import find_source
    from ..media.frames import read_clip

    if args.overlay:
        raise OutputError(f"{args.result}: a video result has no single image to overlay; draw it with --figure "
                          "(the frame strip), --top-frames or --animation")
    if not result.frame_times:
        raise OutputError(f"{args.result}: the result has no frame times; cannot draw its frames")
    clip = read_clip(find_source(result, args.result), len(result.frame_times))
    if any(abs(a - b) > 1e-3 for a, b in zip(clip.times, result.frame_times)):
        print(f"attnviewer: note: {clip.path} has changed since the result was made (other frame times)",
              file=sys.stderr)
    print(f"{args.result}: {result.hypotheses[args.hypothesis - 1].text}")
    write_video_outputs(clip.frames, result, style, figure=figure, top_frames=top, animation=animation, title=title,
                        k=args.top_k_frames, seconds=args.frame_seconds, frame_size=args.frame_size,
                        hypothesis=args.hypothesis - 1)
    return 0


def train(args: argparse.Namespace) -> int:
    from .caption import check_writable
    from ..models.registry import pick_device
    from ..training.video import VideoTrainSettings, train_video_captioner

    settings = VideoTrainSettings(
        out=args.out, train_size=args.train_size, val_size=args.val_size, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, score=args.score, seed=args.seed, init_seed=args.init_seed,
        device=str(pick_device(args.device)), minutes=args.minutes,
    ).validate()
    check_writable(settings.out)
    train_video_captioner(settings, log=lambda m: print(m, flush=True))
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from .caption import evaluation
    from ..data.clip_events import generate_clips
    from ..export.data import write_json
    from ..models import registry
    from ..training.video import score_video_captioner

    names, settings = evaluation(args, "video")
    clips = generate_clips(args.n, args.seed)
    print(f"{len(clips)} held-out clips (seed {args.seed}), decoding: {settings.describe()}", flush=True)
    report = {name: score_video_captioner(registry.load(name, args.device, kind="video"), clips, settings)
              for name in names}
    cols = list(next(iter(report.values())))
    for name, row in report.items():
        print(name)
        for c in cols:
            print(f"  {c:38s} {row[c]:7.1%}")
    if args.json:
        write_json(report, args.json)
    return 0


def add_parsers(sub) -> None:
    from . import add_decoding, add_device, add_style

    vi = sub.add_parser("video", help="caption a video clip and show when each word looked")
    vi.add_argument("clip", metavar="CLIP", help="a video file (MP4, MKV, WebM, AVI, MOV, GIF)")
    add_decoding(vi, DEFAULT_MODEL)
    vi.add_argument("--json", metavar="OUT", help="write the result (and its exact arrays beside it, as .npz)")
    vi.add_argument("--animation", metavar="OUT",
                    help="write the caption word by word with each word's most attended frame (.gif or .mp4)")
    vi.add_argument("--overwrite", action="store_true", help="replace output files that exist")
    add_video_figures(vi)
    add_style(vi, images=False)
    add_device(vi)


def add_video_figures(p: argparse.ArgumentParser) -> None:
    if not any(a.dest == "figure" for a in p._actions):
        p.add_argument("--figure", metavar="OUT", help="the frame strip with each word's attention over time")
    p.add_argument("--top-frames", metavar="OUT", help="video: each word's most attended frames (.png, .svg, .pdf)")
    p.add_argument("--top-k-frames", type=int, default=3, metavar="K", help="video: frames per word (default 3)")


def add_train_parser(train_sub) -> None:
    from . import add_training

    tv = train_sub.add_parser("video", help="train the video captioner on generated clips")
    add_training(tv, 6000, 300, 20, 64, 2e-3, "clips")


def add_eval_parser(eval_sub) -> None:
    from . import add_device

    ev = eval_sub.add_parser("video", help="captions and temporal pointing on generated held-out clips")
    ev.add_argument("--model", action="append", help="model name or file (repeat to compare; default: all bundled)")
    ev.add_argument("--n", type=int, default=500, help="held-out clips")
    ev.add_argument("--seed", type=int, default=12345, help="seed of the held-out clips")
    ev.add_argument("--beam", type=int, default=1, help="beam width (1: greedy)")
    ev.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    add_device(ev)
