"""`attnviewer export RESULT`: draw the figures and animations of a saved result, whatever its kind."""
from __future__ import annotations

import argparse

from .options import add_lens, add_overwrite, add_style, add_video_figures
from .outputs import add_pieces

FLAGS = {"figure": "--figure", "overlay": "--overlay", "animation": "--animation", "top_frames": "--top-frames",
         "page": "--html"}


def export(args: argparse.Namespace) -> int:
    from ..errors import OutputError, SettingsError, printable
    from ..export.data import load_result
    from ..kinds import WriteOptions, for_result, lens_label, titled
    from .options import figure_style, lens_option, note_matrix_opacity
    from .outputs import check_plans, shown_result, word_index, write

    style = figure_style(args)
    lens = lens_option(args)
    if args.compare:
        return compare(args, style)
    requested = {k: getattr(args, k) for k in FLAGS if getattr(args, k)}
    if args.json:
        requested["json"] = args.json
    if not requested:
        raise OutputError("nothing to export: add --figure OUT, --animation OUT, --overlay OUT, --top-frames OUT, "
                          "--html OUT or --json OUT")
    if args.overlay and args.word is None:
        raise OutputError(f"{args.overlay}: an overlay shows one word; add --word N")
    result = load_result(args.result)
    if lens is not None:
        result = relensed(result, lens, args.result, args.lens)
    kind = for_result(result)
    for key in requested:
        if key != "json" and key not in kind.outputs:
            offers = ", ".join(FLAGS[k] for k in kind.outputs if k in FLAGS)
            raise OutputError(f"{args.result}: {FLAGS[key]} cannot be drawn for a result of `{kind.command}` "
                              f"(a {kind.noun}); it offers {offers}")
    from .outputs import plan

    out = plan(kind, requested, ["-"])[0]
    check_plans([out], args.overwrite)
    note_matrix_opacity(args, kind.medium == "text" and "figure" in out)
    if not 1 <= args.hypothesis <= len(result.hypotheses):
        raise SettingsError(f"--hypothesis {args.hypothesis}: {args.result} holds {len(result.hypotheses)} "
                            f"hypotheses (numbered from 1)")
    shown = shown_result(result, args)  # a subword model's pieces as words (a result of schema 5 says which)
    hyp = shown.hypotheses[args.hypothesis - 1]
    word = word_index(args.word, hyp, args.result)
    media = kind.reopen(result, args.result)
    print(f"{printable(args.result)}: {printable(hyp.shown)}")
    if lens is not None:
        print(f"  lens: {printable(lens_label(result))}")
    opts = WriteOptions(title=args.title or titled(result), word=word, word_title=args.title,
                        hypothesis=args.hypothesis - 1, values=args.values, specials=args.specials,
                        top_k=args.top_k_frames, seconds=args.frame_seconds, frame_size=args.frame_size)
    write(kind, media, result, out, style, opts, drawn=shown)
    return 0


def compare(args: argparse.Namespace, style) -> int:
    """`export A.json --compare B.json --figure OUT`: both results in one figure, A's first."""
    from ..errors import OutputError, SettingsError, printable
    from ..export.data import load_result
    from ..kinds import WriteOptions, for_result
    from .options import lens_option, note_matrix_opacity
    from .outputs import check_plans, plan, shown_result, write

    a_path, b_path = args.result, args.compare
    lens = lens_option(args)
    others = [FLAGS[k] for k in FLAGS if k != "figure" and getattr(args, k)]
    others += ["--json"] if args.json else []
    if others or args.word is not None:
        raise OutputError(f"--compare draws one figure of both results; give --figure OUT alone "
                          f"(not {', '.join(others) or '--word'})")
    if not args.figure:
        raise OutputError(f"--compare {b_path}: name the figure to draw with --figure OUT (.png, .svg or .pdf)")
    a, b = load_result(a_path), load_result(b_path)
    if lens is not None:  # each result with layers and heads through it; the other (an LSTM's) as it is
        a, b = relensed(a, lens, a_path, args.lens, quiet=True), relensed(b, lens, b_path, args.lens, quiet=True)
        if a.places is None and b.places is None:
            raise SettingsError(f"--lens {args.lens}: neither result has layers and heads (a lens is for "
                                "transformers' results)")
    a, b = shown_result(a, args), shown_result(b, args)  # subword models' pieces as words (a figure alone)
    kind, b_kind = for_result(a), for_result(b)
    if kind is not b_kind:
        raise OutputError(f"{a_path} and {b_path} are of different inputs: {_a(kind.noun)} (`{kind.command}`) and "
                          f"{_a(b_kind.noun)} (`{b_kind.command}`); a comparison draws two results of the same input")
    out = plan(kind, {"comparison": args.figure}, ["-"])[0]
    check_plans([out], args.overwrite)
    note_matrix_opacity(args, kind.medium == "text")
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
    opts = WriteOptions(title=args.title, hypothesis=k, values=args.values, specials=args.specials,
                        others=[(b, k, None, b_media)])
    write(kind, a_media, a, out, style, opts)
    return 0


def relensed(result, lens, path: str, spec: str, quiet: bool = False):
    """The saved result's maps drawn again through another lens from its stored layers and heads
    (no model, no decoding); SettingsError of one line where it has none (quiet: a result without
    them is left as it is, for one side of a comparison)."""
    from .. import pipeline
    from ..errors import SettingsError, printable
    from ..kinds import heads_layout
    from .options import checked_lens

    layout = heads_layout(result)
    heads = result.places is not None and all(h.heads is not None for h in result.hypotheses)
    if not heads:
        if quiet and result.places is None:
            return result
        why = ("its model has no layers and heads (a lens is for transformers' results)" if result.places is None
               else "its layers and heads are kept in its NPZ, which is not beside it")
        raise SettingsError(f"--lens {spec}: {printable(path)}: {why}")
    checked_lens(lens, layout[0], layout[1], f"--lens {spec}: {printable(path)}")
    for hyp in result.hypotheses:
        pipeline.lensed_hypothesis(hyp, result.places, lens)
    result.lens = lens.to_dict()
    return result


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def add_parser(sub) -> None:
    ex = sub.add_parser("export", help="draw figures and animations of a saved result (JSON or NPZ)")
    ex.add_argument("result", metavar="RESULT", help="a result written by caption, translate or video --json (or its .npz)")
    ex.add_argument("--figure", metavar="OUT",
                    help="the attention figure (.png, .svg or .pdf): the grid, the frame strip or the matrix")
    ex.add_argument("--overlay", metavar="OUT", help="image: one word's overlay at full image size (.png; needs --word)")
    ex.add_argument("--animation", metavar="OUT", help="the caption word by word (.gif or .mp4)")
    ex.add_argument("--html", dest="page", metavar="OUT",
                    help="one interactive page (.html) that opens in any browser: the words, their maps, the hypotheses")
    ex.add_argument("--values", action="store_true", help="translation: print each weight in the matrix's cells")
    ex.add_argument("--specials", action="store_true",
                    help="translation by a transformer: a column of the special tokens' share (</s>, language tags)")
    add_lens(ex, "transformers' results: draw the maps again from the saved layers and heads, without the model: ")
    add_pieces(ex)
    ex.add_argument("--compare", metavar="OTHER",
                    help="another result of the same input (another model, or the clip reversed): --figure "
                         "then draws both in one figure, RESULT first")
    ex.add_argument("--json", metavar="OUT", help="the result again (with its NPZ beside it): with --lens, its maps "
                                                  "drawn through that lens")
    add_video_figures(ex)
    ex.add_argument("--hypothesis", type=int, default=1, metavar="K", help="the K-th best hypothesis (default 1)")
    add_overwrite(ex)
    add_style(ex)
