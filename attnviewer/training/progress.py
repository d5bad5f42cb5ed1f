"""Progress of training (or of feature extraction): a bar on a terminal, plain lines otherwise.

On a terminal (stderr a TTY) a rich progress bar on stderr shows the steps done with what the
caller adds (epoch, loss and examples per second while training); lines logged while it runs
(validations) print above it. Elsewhere (a log file, a batch job) a line on stderr every
LINE_SECONDS says the same, so logs stay readable and stdout holds only what the run reports.
`total` is where the run will stop (the caller's --max-steps, not the end of the epochs).
"""
from __future__ import annotations

import sys
import time
from typing import Callable

LINE_SECONDS = 30.0


class Progress:
    def __init__(self, total: int, done: int = 0, enabled: bool = True, log: Callable[[str], None] = print,
                 what: str = "training"):
        self.total, self.done, self.log, self.what = total, done, log, what
        self.enabled = enabled
        self.last_line = time.monotonic()
        self.bar = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn

            self.bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                           console=Console(file=sys.stderr), transient=True)
            self.task = self.bar.add_task(what, total=total, completed=done, info="")
            self.bar.start()

    def advance(self, n: int = 1, info: str = "") -> None:
        """n more done; info (loss, throughput) shown beside the bar or in the line."""
        if not self.enabled:
            return
        self.done += n
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done, info=info)
        elif time.monotonic() - self.last_line >= LINE_SECONDS or self.done == self.total:
            self.last_line = time.monotonic()
            print(f"{self.what} {self.done}/{self.total}" + (f": {info}" if info else ""), file=sys.stderr,
                  flush=True)

    def print(self, line: str) -> None:
        """A line above the bar (or just the line, without one)."""
        if self.bar is not None:
            self.bar.console.print(line, markup=False, highlight=False)
        else:
            self.log(line)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
