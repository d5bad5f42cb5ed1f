"""`attnviewer export RESULT`: draw the figures and animations of a saved result, whatever its kind."""
from __future__ import annotations

import argparse

from .options import add_overwrite, add_style, add_video_figures

FLAGS = {"figure": "--figure", "overlay": "--overlay", "animation": "--animation", "top_frames": "--top-frames"}


def export(args: argparse.Namespace) -> int:
    from ..errors import OutputError, SettingsError, printable
    from ..export.data import load_result
    from ..kinds import WriteOptions, for_result
    from .options import figure_style
    from .outputs import check_plans, word_index, write

    style = figure_style(args)
    if args.compare:
        return compare(args, style)
    requested = {k: getattr(args, k) for k in FLAGS if getattr(args, k)}
    if not requested:
        raise OutputError("nothing to export: add --figure OUT, --animation OUT, --overlay OUT or --top-frames OUT")
    if args.overlay and args.word is None:
        raise OutputError(f"{args.overlay}: an overlay shows one word; add --word N")
    result = load_result(args.result)
    kind = for_result(result)
    for key in requested:
        if key not in kind.outputs:
            offers = ", ".join(FLAGS[k] for k in kind.outputs if k in FLAGS)
            raise OutputError(f"{args.result}: {FLAGS[key]} cannot be drawn for a result of `{kind.command}` "
                              f"(a {kind.noun}); it offers {offers}")
    from .outputs import plan

    out = plan(kind, requested, ["-"])[0]
    check_plans([out], args.overwrite)
    if not 1 <= args.hypothesis <= len(result.hypotheses):
        raise SettingsError(f"--hypothesis {args.hypothesis}: {args.result} holds {len(result.hypotheses)} "
                            f"hypotheses (numbered from 1)")
    hyp = result.hypotheses[args.hypothesis - 1]
    word = word_index(args.word, hyp, args.result)
    media = kind.reopen(result, args.result)
    print(f"{printable(args.result)}: {printable(hyp.shown)}")
    opts = WriteOptions(title=args.title or result.title, word=word, word_title=args.title,
                        hypothesis=args.hypothesis - 1, values=args.values, top_k=args.top_k_frames,
                        seconds=args.frame_seconds, frame_size=args.frame_size)
    write(kind, media, result, out, style, opts)
    return 0


def compare(args: argparse.Namespace, style) -> int:
    """`export A.json --compare B.json --figure OUT`: both results in one figure, A's first."""
    from ..errors import OutputError, SettingsError, printable
    from ..export.data import load_result
    from ..kinds import WriteOptions, for_result
    from .outputs import check_plans, plan, write

    a_path, b_path = args.result, args.compare
    others = [FLAGS[k] for k in FLAGS if k != "figure" and getattr(args, k)]
    if others or args.word is not None:
        raise OutputError(f"--compare draws one figure of both results; give --figure OUT alone "
                          f"(not {', '.join(others) or '--word'})")
    if not args.figure:
        raise OutputError(f"--compare {b_path}: name the figure to draw with --figure OUT (.png, .svg or .pdf)")
    a, b = load_result(a_path), load_result(b_path)
    kind, b_kind = for_result(a), for_result(b)
    if kind is not b_kind:
        raise OutputError(f"{a_path} and {b_path} are of different inputs: {_a(kind.noun)} (`{kind.command}`) and "
                          f"{_a(b_kind.noun)} (`{b_kind.command}`); a comparison draws two results of the same input")
    out = plan(kind, {"comparison": args.figure}, ["-"])[0]
    check_plans([out], args.overwrite)
    for path, result in ((a_path, a), (b_path, b)):
        if not 1 <= args.hypothesis <= len(result.hypotheses):
            raise SettingsError(f"--hypothesis {args.hypothesis}: {path} holds {len(result.hypotheses)} "
                                f"hypotheses (numbered from 1)")
    a_media, b_media = kind.reopen(a, a_path), kind.reopen(b, b_path)
    if not kind.same_input(a_media, b_media):
        raise OutputError(f"{a_path} and {b_path} are of different inputs ({kind.shown(a_media)} and "
                          f"{kind.shown(b_media)}); a comparison draws two results of the same {kind.noun}")
    k = args.hypothesis - 1
    print(f"{printable(a_path)}: {printable(a.hypotheses[k].shown)}")
    print(f"{printable(b_path)}: {printable(b.hypotheses[k].shown)}")
    opts = WriteOptions(title=args.title, hypothesis=k, values=args.values, others=[(b, k, None, b_media)])
    write(kind, a_media, a, out, style, opts)
    return 0


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def add_parser(sub) -> None:
    ex = sub.add_parser("export", help="draw figures and animations of a saved result (JSON or NPZ)")
    ex.add_argument("result", metavar="RESULT", help="a result written by caption, translate or video --json (or its .npz)")
    ex.add_argument("--figure", metavar="OUT",
                    help="the attention figure (.png, .svg or .pdf): the grid, the frame strip or the matrix")
    ex.add_argument("--overlay", metavar="OUT", help="image: one word's overlay at full image size (.png; needs --word)")
    ex.add_argument("--animation", metavar="OUT", help="the caption word by word (.gif or .mp4)")
    ex.add_argument("--values", action="store_true", help="translation: print each weight in the matrix's cells")
    ex.add_argument("--compare", metavar="OTHER",
                    help="another result of the same input (another model, or the clip reversed): --figure "
                         "then draws both in one figure, RESULT first")
    add_video_figures(ex)
    ex.add_argument("--hypothesis", type=int, default=1, metavar="K", help="the K-th best hypothesis (default 1)")
    add_overwrite(ex)
    add_style(ex)
