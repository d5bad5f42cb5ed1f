"""Python warnings raised while a command runs (torch at model load, numpy, matplotlib's missing
glyphs, Pillow, PyAV...) reach the user as one escaped line each on stderr,
`attnviewer: warning: ...`, never as Python's two-line dump with a source line. Which warnings
show, and how often, stays Python's choice (its filters: each once per place by default)."""
from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager

from ..errors import warning_line


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """warnings.showwarning for the commands: one line on stderr."""
    try:
        print(f"attnviewer: warning: {warning_line(message, category)}", file=file or sys.stderr, flush=True)
    except (OSError, ValueError):  # stderr closed: a warning is not worth a crash
        pass


@contextmanager
def one_line_warnings():
    """While a command runs, warnings are shown by show_warning; the caller's way comes back after."""
    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        yield
