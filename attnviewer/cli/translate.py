"""`attnviewer translate SENTENCE...`: translate and say which source word each word attended."""
from __future__ import annotations

import argparse
import hashlib
import os
import signal
import sys

from .options import add_decoding, add_device, add_overwrite, add_style, add_whatif
from .probes import add_probes


def translate(args: argparse.Namespace) -> int:
    from .. import pipeline
    from ..errors import MediaError, OutputError, SettingsError
    from ..kinds import TEXT
    from ..media.text import check_argument, numbered_lines
    from . import probes, ranks, whatif
    from .folder import Progress, Terminated, _on_sigterm as on_sigterm
    from .options import (decode_settings, figure_style, lens_option, model_lens, model_name, note_matrix_opacity,
                          refuse_lens_without_heads)
    from .folder import remove_stale_temporaries
    from .outputs import check_animation, check_outputs, plan

    settings = decode_settings(args)  # cheap checks first: nothing loads for a bad setting
    style = figure_style(args)
    lens_option(args)
    whatif.check(args, settings)
    probes.check(args, TEXT)
    if args.batch_size < 1:
        raise SettingsError(f"batch size must be at least 1, got {args.batch_size}")
    if ranks.another_rank():  # under torchrun rank 0 alone decodes and writes
        return 0
    # (number, text, from the file): a file's sentence is numbered by its line (after those typed),
    # which names its outputs (OUT-<n>) and, with a hash of its text, tells a rerun it is done
    items = [Item(i, check_argument(t, f"sentence {i}"), False) for i, t in enumerate(args.sentences, 1)]
    if args.file:
        items += [Item(len(args.sentences) + n, t, True) for n, t in numbered_lines(args.file)]
    if not items:
        raise MediaError("nothing to translate: give a sentence, or --file FILE with one sentence a line")
    names = [str(it.number) for it in items]  # OUT itself for one sentence, else OUT-<number>
    plans = plan(TEXT, {"figure": args.figure, "json": args.json, "npz": args.npz, "animation": args.animation},
                 names)
    # the what-if files are named as the others; whether existing ones may stay is decided below
    asked = whatif.plan(argparse.Namespace(**dict(vars(args), overwrite=True)), names)
    if args.figure is None and args.values:
        raise OutputError("--values prints the weights in the figure's cells; add --figure OUT")
    note_matrix_opacity(args, args.figure is not None)
    for it, main, more in zip(items, plans, asked):
        it.outputs, it.whatif = main, more
    check_animation(items[0].outputs.get("animation"))
    already, foreign = resume(items, args.overwrite) if args.file else (0, [])
    check_outputs([p for it in items if it.todo for p in it.missing().values()], args.overwrite)
    aligned = whatif.Alignments(args, sum(1 for it in items if it.text))
    name = model_name(args)
    refuse_lens_without_heads(args, name)
    config = pipeline.model_config(name)  # the header validated once, not once a sentence
    typed = [it for it in items if not it.from_file]
    for it in typed:
        it.sentence = TEXT.read(it.text, config)  # a sentence typed that is bad stops the run, as before
    progress = Progress(sum(1 for it in items if it.todo), label="translating")
    tally = Tally(progress, already, aligned.out is not None or aligned.gold is not None)
    for it, why in foreign:
        tally.warn(f"{it.outputs['json']}: {why}; skipped (--overwrite makes it again)")
        tally.skipped += 1
    ours: dict = {}  # temporaries a harder kill (SIGKILL) left beside our outputs: removed
    for it in items:
        for p in it.missing().values():
            ours.setdefault(p.parent, set()).add(p.name)
    for folder, names_there in ours.items():
        remove_stale_temporaries(folder, {os.path.splitext(n)[1].lower() for n in names_there}, names_there)
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, on_sigterm)  # stops as Ctrl-C does: no half-written file
    except ValueError:  # not the main thread
        pass
    try:
        model = lens = None
        if any(it.todo and it.text for it in items):  # (a rerun with all done loads nothing)
            model = pipeline.load_model(TEXT, name, args.device, args.trust_pickle)
            lens = model_lens(args, model, name)
        for it in typed:
            it.sentence = TEXT.fit(it.sentence, model)
        stream(args, items, config, model, lens, settings, style, aligned, tally)
        aligned.finish()
    except KeyboardInterrupt as e:
        progress.close()
        what = "terminated" if isinstance(e, Terminated) else "interrupted"
        print(f"{what}: {tally.summary()}; run the same command again to continue", file=sys.stderr)
        if isinstance(e, Terminated):
            raise SystemExit(128 + signal.SIGTERM) from None
        raise
    finally:
        progress.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if args.file:
        print(tally.summary(), file=sys.stderr)
    return 0


class Item:
    """One sentence of the run: its number, its text, its outputs and where it stands."""

    def __init__(self, number: int, text: str, from_file: bool):
        self.number, self.text, self.from_file = number, text, from_file
        self.outputs: dict = {}
        self.whatif: dict = {}
        self.todo = True  # a blank line of the file too: skipped with a warning when its turn comes
        self.keep: set = set()  # outputs already made from this very sentence (a rerun): not written again
        self.saved = None  # its result JSON from an earlier run, when that is all it lacks nothing of
        self.sentence = None

    def stamp(self) -> dict:
        """What its result records it was made from: the line (or argument) number and a hash of the text."""
        return {"line": self.number, "sha256": hashlib.sha256(self.text.encode("utf-8")).hexdigest()}

    def missing(self) -> dict:
        return {k: p for k, p in {**self.outputs, **self.whatif}.items() if k not in self.keep}


def resume(items: list[Item], overwrite: bool) -> tuple[int, list]:
    """Mark the sentences an earlier run finished (a result JSON recording this line and this text,
    every asked output there) as done; those with the JSON but some outputs missing get just those.
    A JSON made from another text at this line is left alone, its sentence skipped with a warning."""

    from ..errors import MediaError
    from ..export.data import result_data
    from ..kinds.text import short

    already, foreign = 0, []
    if overwrite:
        return already, foreign
    for it in items:
        path = it.outputs.get("json")
        if not it.text or path is None or not os.path.isfile(path):
            continue
        try:
            made = result_data(path).get("input")
        except (MediaError, OSError):
            continue  # unreadable: the check of existing outputs refuses it in one line
        if made != it.stamp():
            it.todo = False
            line = made.get("line") if isinstance(made, dict) else None
            what = ("another text at this line" if line == it.number else f"line {line}" if line is not None
                    else "a sentence with no line recorded")
            foreign.append((it, f"was made from {what}, not from line {it.number} {short(it.text)}"))
            continue
        it.keep = {k for k, p in {**it.outputs, **it.whatif}.items() if os.path.lexists(p)}
        it.saved = path
        if not it.missing():
            it.todo = False
            already += 1
    return already, foreign


class Tally:
    """What became of the sentences, said through the progress bar: warnings on stderr, counts."""

    def __init__(self, progress, already: int, strict: bool):
        self.progress, self.already, self.strict = progress, already, strict
        self.done = self.skipped = 0

    def warn(self, message: str) -> None:
        from ..errors import printable

        self.progress.print(f"attnviewer: warning: {printable(message)}", sys.stderr)

    def skip(self, it: Item, why: str) -> None:
        from ..errors import MediaError

        if self.strict and it.text:  # the alignments pair up with the sentences line by line
            raise MediaError(f"line {it.number}: {why} (--pharaoh and --gold-align need every line)")
        self.warn(f"line {it.number}: {why}; skipped")
        self.skipped += 1
        self.progress.advance()

    def finished(self) -> None:
        self.done += 1
        self.progress.advance()

    def summary(self) -> str:
        return f"{self.done} translated, {self.skipped} skipped, {self.already} already done"


def stream(args, items: list[Item], config: dict, model, lens, settings, style, aligned, tally: Tally) -> None:
    """Translate the sentences in batches, in order; each one's lines are printed (flushed) and its
    outputs written, as one set, as soon as its batch is decoded."""
    from ..errors import MediaError, printable
    from ..export.data import load_result
    from ..kinds import TEXT
    from ..target_words import word_result
    from . import whatif

    named: set = set()
    pending: list[Item] = []

    def flush_batch() -> None:
        if not pending:
            return
        unknown = sorted({w for it in pending for w in it.sentence.unknown} - named)
        if unknown:
            named.update(unknown)
            tally.progress.print("attnviewer: note: words this model does not know (read as <unk>): "
                                 f"{printable(', '.join(unknown))}", sys.stderr)
        results = whatif.decode(args, TEXT, model, [it.sentence for it in pending], settings, lens)
        trees = getattr(args, "recorded_trees", [])  # the batch's beam trees (--beam-tree), one per sentence
        for i, (it, result) in enumerate(zip(pending, results)):
            args.recorded_trees = trees[i:i + 1]
            finish(it, result)
        pending.clear()

    def finish(it: Item, result) -> None:
        from ..kinds import WriteOptions, titled
        from ..types import model_label
        from . import probes
        from .outputs import print_result, write

        shown = result if getattr(args, "pieces", False) else word_result(result)  # the file keeps the pieces
        print_result(TEXT, shown, settings.method, shown=TEXT.shown(it.sentence), log=tally.progress.print)
        whatif.report(args, shown, log=tally.progress.print)
        probes.run(args, TEXT, model, it.sentence, result, style)
        aligned.add(shown, log=tally.progress.print)
        title = f"{model_label(model.name)}, {settings.describe()}"
        opts = WriteOptions(title=args.title or titled(result, title), values=args.values, specials=args.specials,
                            seconds=args.frame_seconds, frame_size=args.frame_size)
        out = {k: p for k, p in it.outputs.items() if k not in it.keep}
        write(TEXT, it.sentence, result, out, style, opts, drawn=shown, log=tally.progress.print,
              fields={"input": it.stamp()})
        more = {k: p for k, p in it.whatif.items() if k not in it.keep}
        whatif.write(args, TEXT, [it.sentence], [shown], [more], log=tally.progress.print)
        tally.finished()

    for it in items:
        if not it.todo:
            if it.saved is not None and (aligned.out is not None or aligned.gold is not None):
                flush_batch()  # in order: the alignments are written line by line
                aligned.add(word_result(load_result(it.saved)), log=lambda line: None)
            continue
        if not it.text:
            flush_batch()
            tally.skip(it, "empty line")
            continue
        if it.sentence is None:  # a line of the file: read and fitted now, a bad one skipped
            try:
                it.sentence = TEXT.fit(TEXT.read(it.text, config), model)
            except MediaError as e:
                flush_batch()
                tally.skip(it, str(e))
                continue
        pending.append(it)
        if len(pending) >= args.batch_size:
            flush_batch()
    flush_batch()


def add_parser(sub) -> None:
    tr = sub.add_parser("translate", help="translate sentences and show each word's attention over the source")
    tr.add_argument("sentences", nargs="*", metavar="SENTENCE", help="sentences to translate (quote each)")
    tr.add_argument("--file", help="a text file with one sentence a line (translated as it goes; with --json "
                    "a rerun continues where the last run stopped)")
    tr.add_argument("--batch-size", type=int, default=16, metavar="N", help="sentences per model batch")
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
