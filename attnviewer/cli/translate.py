"""`attnviewer translate SENTENCE...`: translate and say which source word each word attended."""
from __future__ import annotations

import argparse
import sys

from .options import add_decoding, add_device, add_overwrite, add_style, add_whatif
from .probes import add_probes


def translate(args: argparse.Namespace) -> int:
    from .. import pipeline
    from ..errors import MediaError, OutputError
    from ..kinds import TEXT, WriteOptions
    from ..media.text import check_argument, read_sentences
    from ..target_words import word_result
    from ..kinds import titled
    from ..types import model_label
    from . import probes, ranks, whatif
    from .options import decode_settings, figure_style, lens_option, model_lens, model_name, refuse_lens_without_heads
    from .outputs import check_plans, plan, print_result, write

    settings = decode_settings(args)  # cheap checks first: nothing loads for a bad setting
    style = figure_style(args)
    lens_option(args)
    whatif.check(args, settings)
    probes.check(args, TEXT)
    if ranks.another_rank():  # under torchrun rank 0 alone decodes and writes
        return 0
    texts = [check_argument(t, f"sentence {i}") for i, t in enumerate(args.sentences, 1)]
    texts += read_sentences(args.file) if args.file else []
    if not texts:
        raise MediaError("nothing to translate: give a sentence, or --file FILE with one sentence a line")
    plans = plan(TEXT, {"figure": args.figure, "json": args.json, "npz": args.npz, "animation": args.animation},
                 texts, numbered=True)
    check_plans(plans, args.overwrite)
    asked = whatif.plan(args, texts, numbered=True)
    aligned = whatif.Alignments(args, len(texts))
    if args.figure is None and args.values:
        raise OutputError("--values prints the weights in the figure's cells; add --figure OUT")
    name = model_name(args)
    refuse_lens_without_heads(args, name)
    sentences = [pipeline.read(TEXT, t, name) for t in texts]  # checked against the header's limits first
    model = pipeline.load_model(TEXT, name, args.device, args.trust_pickle)
    lens = model_lens(args, model, name)
    sentences = [TEXT.fit(s, model) for s in sentences]
    unknown = sorted({w for s in sentences for w in s.unknown})
    if unknown:
        print(f"attnviewer: note: words this model does not know (read as <unk>): {', '.join(unknown)}",
              file=sys.stderr)
    title = f"{model_label(name)}, {settings.describe()}"
    for sentence, out, more in zip(sentences, plans, asked):
        result = whatif.decode(args, TEXT, model, [sentence], settings, lens)[0]  # one at a time: each its own time
        shown = result if getattr(args, "pieces", False) else word_result(result)  # the file keeps the pieces
        print_result(TEXT, shown, settings.method, shown=TEXT.shown(sentence))
        whatif.report(args, shown)
        probes.run(args, TEXT, model, sentence, result, style)
        aligned.add(shown)
        opts = WriteOptions(title=args.title or titled(result, title), values=args.values, specials=args.specials,
                            seconds=args.frame_seconds, frame_size=args.frame_size)
        write(TEXT, sentence, result, out, style, opts, drawn=shown)
        whatif.write(args, TEXT, [sentence], [shown], [more])
    aligned.finish()
    return 0


def add_parser(sub) -> None:
    tr = sub.add_parser("translate", help="translate sentences and show each word's attention over the source")
    tr.add_argument("sentences", nargs="*", metavar="SENTENCE", help="sentences to translate (quote each)")
    tr.add_argument("--file", help="a text file with one sentence a line")
    add_decoding(tr, "translate-sov")
    tr.add_argument("--json", metavar="OUT", help="write the result (and its exact arrays beside it, as .npz)")
    tr.add_argument("--npz", metavar="OUT", help="write the exact attention arrays here (.npz)")
    tr.add_argument("--figure", metavar="OUT", help="write the alignment matrix (.png, .svg or .pdf)")
    tr.add_argument("--values", action="store_true", help="print each weight in the matrix's cells")
    tr.add_argument("--specials", action="store_true",
                    help="transformers: a column of the special tokens' share (</s>, language tags) in the matrix")
    tr.add_argument("--pieces", action="store_true",
                    help="transformers: one row per subword piece the model wrote (default: the pieces of a "
                         "word as one, their maps averaged)")
    tr.add_argument("--animation", metavar="OUT",
                    help="write the translation word by word, the source coloured by attention (.gif or .mp4)")
    add_overwrite(tr)
    add_whatif(tr, sentences=True)
    add_style(tr, images=False)
    add_device(tr)
    add_probes(tr)  # last: it adds --word where the style options have none
