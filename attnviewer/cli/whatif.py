"""The what-if options of caption, video and translate (options.add_whatif; issue 22): checked
before anything loads, run instead of the plain decoding where asked, reported after each result.
The work itself is in attnviewer/whatif/, plain functions the engine can call too."""
from __future__ import annotations

import argparse

from ..errors import printable


def decode(args: argparse.Namespace, kind, model, medias: list, settings, lens) -> list:
    """The Results of the inputs: plainly decoded, or as the what-if options ask."""
    from .. import pipeline

    return pipeline.run_all(kind, model, medias, settings, lens=lens)


def report(args: argparse.Namespace, result, log=print) -> None:
    """What the what-if options print under one input's caption."""
    if getattr(args, "scores", False):
        from ..whatif.scores import score_lines

        for line in score_lines(result.best, printable):
            log(line)
