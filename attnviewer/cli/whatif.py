"""The what-if options of caption, video and translate (options.add_whatif; issue 22): checked
before anything loads, run instead of the plain decoding where asked, reported after each result.
The work itself is in attnviewer/whatif/, plain functions the engine can call too."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import OutputError, SettingsError, printable


def asked(args: argparse.Namespace) -> list[str]:
    """The what-if options given, as the user typed them."""
    names = ("target", "force", "attend", "beam_tree", "html", "pharaoh", "gold_align")
    return ["--" + n.replace("_", "-") for n in names if getattr(args, n, None)]


def check(args: argparse.Namespace, settings) -> None:
    """Before anything loads: the options agree with each other and the decoding settings."""
    from ..whatif.forcing import parse_forces

    if getattr(args, "target", None) is not None and not args.target.strip():  # "" too: never silently ignored
        raise SettingsError("--target: no words given")
    if getattr(args, "force", None):
        parse_forces(args.force)
        if args.target:
            raise SettingsError("--force and --target: --target forces every word already; give one of them")
    if getattr(args, "attend", None) and (args.target or args.force):
        raise SettingsError("--attend changes one step's attention of the model's own output; not with "
                            f"{'--target' if args.target else '--force'}")
    if getattr(args, "beam_tree", None):
        if args.target:
            raise SettingsError("--beam-tree draws a beam search; --target scores one given sentence (no search)")
        if settings.method != "beam":
            raise SettingsError(f"--beam-tree draws a beam search; the decoding is {settings.describe()} (add --beam K)")


def plan(args: argparse.Namespace, names: list[str], numbered: bool = False) -> list[dict]:
    """Per input, the what-if files to write ({'beam_tree': path, 'html': path}), named and
    checked as the other outputs are (OUT-<name> for several inputs, --overwrite)."""
    from .outputs import check_outputs, output_paths

    per = {key: output_paths(getattr(args, key, None), names, suffixes, key.replace("_", "-"), numbered)
           for key, suffixes in (("beam_tree", (".svg",)), ("html", (".html", ".htm")))}
    plans = [{key: paths[i] for key, paths in per.items() if paths[i] is not None} for i in range(len(names))]
    check_outputs([p for pl in plans for p in pl.values()], args.overwrite)
    return plans


def decode(args: argparse.Namespace, kind, model, medias: list, settings, lens) -> list:
    """The Results of the inputs: plainly decoded, or as the what-if options ask: --target scores
    a given sentence, --force decodes around forced words (each input from its own output)."""
    from .. import pipeline
    from ..whatif import forcing

    if getattr(args, "target", None):
        return [forcing.score_target(kind, model, m, args.target, lens) for m in medias]
    if getattr(args, "attend", None):
        from ..whatif.intervention import intervene, parse_place

        if hasattr(model, "swap_attention"):  # a transformer's places are known once it has read the input
            pipeline.encode(kind, model, medias[0])
        step, weights = parse_place(model, args.attend)
        return [intervene(kind, model, m, settings, step, weights, lens=lens) for m in medias]
    def new_tree():
        if not getattr(args, "beam_tree", None):
            return None
        from ..whatif.tree import BeamTree

        return BeamTree.for_model(model, settings)

    if getattr(args, "force", None):
        words = forcing.forced_ids(model, forcing.parse_forces(args.force))
        trees = [new_tree() for _ in medias]  # each input decoded apart: a tree each
        args.recorded_trees = [(tree, 0) for tree in trees]
        return [forcing.force(kind, model, m, settings, words, lens=lens, tree=tree) for m, tree in zip(medias, trees)]
    tree = new_tree()
    args.recorded_trees = [(tree, i) for i in range(len(medias))]  # for write(): each input's tree and its number
    return pipeline.run_all(kind, model, medias, settings, lens=lens, tree=tree)


def write(args: argparse.Namespace, kind, medias: list, results: list, plans: list[dict], log=print) -> None:
    """The what-if files of each input (plan()'s): the beam tree's SVG, the interactive page."""
    from ..kinds import titled
    from .outputs import OutputSet

    for i, (media, result, paths) in enumerate(zip(medias, results, plans)):
        with OutputSet() as files:
            if "beam_tree" in paths:
                from ..whatif.tree import write_svg

                tree, item = args.recorded_trees[i]
                write_svg(tree, files.temporary(paths["beam_tree"]), item=item, best=result.best.tokens,
                          title=titled(result))
            if "html" in paths:
                from ..whatif.html import write_page

                write_page(media, result, files.temporary(paths["html"]))
        for path in paths.values():
            log(f"  wrote {printable(path)}")


def report(args: argparse.Namespace, result, log=print) -> None:
    """What the what-if options print under one input's caption."""
    if getattr(args, "target", None):
        best = result.best
        log(f"  target scored: log probability {best.log_prob:.3f} ({len(best.tokens)} words and the end)")
    elif result.settings.get("forced"):
        log(f"  forced: {printable(result.settings['forced'])}")
    elif result.settings.get("intervened"):
        from ..types import intervened_word

        where, step = result.settings["intervened"], intervened_word(result)
        if step is not None and result.best.ended and len(result.best.tokens) == step - 1:
            where += ", where the model then wrote the end"  # no word of the caption shows the edited map
        log(f"  attention replaced at {where}: --attend {printable(args.attend)}")
    if getattr(args, "scores", False):
        from ..whatif.scores import score_lines

        for line in score_lines(result.best, printable):
            log(line)


class Alignments:
    """translate --pharaoh OUT and --gold-align FILE: each sentence's alignment (target word to
    its most attended source word), written one line a sentence and scored by AER at the end."""

    def __init__(self, args: argparse.Namespace, n_sentences: int):
        from ..whatif.alignments import read_pharaoh
        from .outputs import check_outputs

        self.out = Path(args.pharaoh) if getattr(args, "pharaoh", None) else None
        if self.out is not None:
            if self.out.suffix.lower() not in (".txt", ".align", ".pharaoh", ""):
                raise OutputError(f"{args.pharaoh}: write alignments to a .txt, .align or .pharaoh file")
            check_outputs([self.out], args.overwrite)
        self.gold = read_pharaoh(args.gold_align) if getattr(args, "gold_align", None) else None
        if self.gold is not None and len(self.gold) != n_sentences:
            raise SettingsError(f"--gold-align {args.gold_align}: {_count(len(self.gold), 'line')} for "
                                f"{_count(n_sentences, 'sentence')} (one line of links per sentence)")
        self.gold_name = getattr(args, "gold_align", None)
        self.links: list[set] = []

    def add(self, result, log=print) -> None:
        from ..whatif.alignments import attention_links, check_range, pharaoh

        if self.out is None and self.gold is None:
            return
        links = attention_links(result.best.attention)
        self.links.append(links)
        log(f"  alignment: {pharaoh(links)}")
        if self.gold is not None:
            n = len(self.links)
            check_range(self.gold[n - 1][1], len(result.source_tokens or []), len(result.best.tokens),
                        f"--gold-align line {n}")

    def finish(self, log=print) -> None:
        from ..whatif.alignments import alignment_error, pharaoh
        from .outputs import OutputSet

        if self.gold is not None:
            log(f"alignment error rate (AER) against {printable(str(self.gold_name))}: "
                f"{alignment_error(self.links, self.gold):.3f} over {_count(len(self.links), 'sentence')}")
        if self.out is not None:
            with OutputSet() as files:
                files.temporary(self.out).write_text("".join(pharaoh(links) + "\n" for links in self.links))
            log(f"  wrote {printable(self.out)}")  # as every other file written


def _count(n: int, noun: str) -> str:
    """'1 sentence', '2 sentences'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
