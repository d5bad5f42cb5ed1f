"""Commands: gui (the desktop app, also with no arguments) and the headless caption, translate,
video, export, train, eval; one module each. options.py and outputs.py hold what they share and
import none of them, so the package has no import circles.

Every user-facing failure is an AttnViewerError: printed as one line on stderr, exit status 2.
"""
from __future__ import annotations

import argparse
import sys
from importlib import import_module

from ..errors import AttnViewerError, broken_install, broken_package, first_line, printable
from .warning_lines import one_line_warnings

EXIT_USER_ERROR = 2
# The headless commands' modules, in the order of `attnviewer --help`. Each is imported when its
# command runs or the whole parser is built: the window's path (`attnviewer`, `attnviewer gui ...`)
# imports none of them, so the window's engine starts 30-50 ms sooner.
MODULES = ("caption", "translate", "video", "export", "train", "evaluate", "importing")


def _command(module: str, function: str):
    def run(args):
        return getattr(import_module(f"{__name__}.{module}"), function)(args)
    return run


COMMANDS = {
    "caption": _command("caption", "caption"), "translate": _command("translate", "translate"),
    "video": _command("video", "video"), "export": _command("export", "export"), "train": _command("train", "train"),
    "eval": _command("evaluate", "evaluate"), "import": _command("importing", "import_model"),
}


def window_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """The parser with the window's command only (and the subcommands' action, to add the others)."""
    parser = argparse.ArgumentParser(prog="attnviewer", description="See where a neural network looks while it writes.")
    sub = parser.add_subparsers(dest="command", required=True)
    gui = sub.add_parser("gui", help="open the desktop app (the default with no arguments)")
    gui.add_argument("file", nargs="?", help="an image or a video to open (default: a bundled sample)")
    gui.add_argument("--text", metavar="SENTENCE", help="a sentence to translate in the window instead")
    return parser, sub


def build_parser() -> argparse.ArgumentParser:
    parser, sub = window_parser()
    for module in MODULES:
        import_module(f"{__name__}.{module}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args, unknown = None, []
    if not argv or argv[0] == "gui":  # the window's command: none of the headless commands' modules
        args, unknown = window_parser()[0].parse_known_args(argv or ["gui"])
    if args is None or unknown:  # a headless command, or a mistake: the error then names every command
        args = build_parser().parse_args(argv)
    try:
        if args.command == "gui":
            from ..app import run

            return run(args.file, text=args.text)
        with one_line_warnings():  # torch, numpy, matplotlib... warnings: one escaped line each
            return COMMANDS[args.command](args)
    except AttnViewerError as e:
        print(f"attnviewer: error: {printable(e)}", file=sys.stderr)  # a name's odd bytes as \xNN, one line
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("attnviewer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`attnviewer ... | head`): stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141
    except ImportError as e:
        package = broken_package(e)
        if package is None:  # (ours: a bug, main_entry's internal error)
            raise
        print(f"attnviewer: error: {broken_install(package, e)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except MemoryError:
        print("attnviewer: error: out of memory (try a smaller input, batch or model)", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as e:  # a full disk, a folder we may not write, a device gone: the system's own words
        where = f": {printable(e.filename)}" if getattr(e, "filename", None) else ""
        print(f"attnviewer: error: {printable(e.strerror or first_line(e))}{where}", file=sys.stderr)
        return EXIT_USER_ERROR


def main_entry() -> None:
    """Console script: `attnviewer ...`. A bug of ours is one line too (the traceback with
    ATTNVIEWER_DEBUG=1); the tests call main() and see it whole."""
    import os

    try:
        code = main()
    except Exception as e:
        if os.environ.get("ATTNVIEWER_DEBUG"):
            raise
        print(f"attnviewer: internal error: {type(e).__name__}: {printable(first_line(e))} "
              "(a bug: please report it; ATTNVIEWER_DEBUG=1 shows where)", file=sys.stderr)
        code = 70
    sys.exit(code)


if __name__ == "__main__":
    main_entry()
