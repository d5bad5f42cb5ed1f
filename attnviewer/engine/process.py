"""Where the engine runs: a process of its own (the app), or a thread of the window's process
(ATTNVIEWER_ENGINE=thread: tests that change the engine's code in their own process, a debugger).
No Qt here: the app starts the engine's process before it imports Qt and the window (start_early),
so that torch's import (2-3 s) runs beside theirs (0.7-0.9 s).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

HOST_ENV = "ATTNVIEWER_ENGINE"  # "process" (the default) or "thread"
HOST_THREAD = "attnviewer-engine"
_early: "tuple[Connection, _Process] | None" = None  # started by start_early, taken by the first engine


def in_thread() -> bool:
    return os.environ.get(HOST_ENV) == "thread"


def start(thread: bool, first: str | None = None) -> "tuple[Connection, _Process | _Thread]":
    """The window's end of the connection, and the engine at the other end (the one start_early
    started, if any). `first`: the input the window will open first, if known (see host.main)."""
    global _early
    if not thread and _early is not None:
        started, _early = _early, None
        return started
    ours, theirs = socket.socketpair()
    if not thread:
        try:
            engine = _Process(theirs, first)
        finally:
            theirs.close()  # the engine's process holds its own copy: its end closes when it ends
    from multiprocessing.connection import Connection  # (9 ms: once the engine's process is started)

    here = Connection(ours.detach())
    return here, (_Thread(Connection(theirs.detach())) if thread else engine)


def start_early(first: str | None = None) -> None:
    """Start the engine's process now, for the window made next (its engine takes it); `first`:
    the file the window will open first (the app's command line), if any."""
    global _early
    if _early is None and not in_thread():
        _early = start(thread=False, first=first)


# The engine's interpreter runs this: not `-m`, which puts the folder the app was started from first
# on the module path (a user's signal.py or queue.py there replaced the standard one in the engine).
BOOT = "import sys; del sys.path[0]; from attnviewer.engine.host import main; main(sys.argv[1:])"


class _Process:
    """The engine in a process of its own: attnviewer.engine.host's main(FD [FIRST]), FD its end of
    the connection (not multiprocessing's spawn: that runs the starting program's main module
    again). The same attnviewer as the window's: its folder goes first on the module path, unless it
    is where installed packages are found anyway (ahead of the standard library, they could hide
    a part of it)."""

    def __init__(self, theirs: socket.socket, first: str | None = None):
        import site

        package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
        installed = {os.path.realpath(p) for p in site.getsitepackages() + [site.getusersitepackages()]}
        env = dict(os.environ)
        if package_parent not in installed:  # (a checkout, or an editable install)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))
        argv = [sys.executable, "-c", BOOT, str(theirs.fileno())] + ([first] if first else [])
        self.popen = subprocess.Popen(argv, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=env)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait(self, seconds: float) -> int | None:
        """Its exit code, once it has ended within `seconds`; None if it still runs."""
        try:
            return self.popen.wait(seconds)
        except subprocess.TimeoutExpired:
            return None

    def end(self) -> None:
        self.popen.terminate()
        if self.wait(1.0) is None:
            self.popen.kill()
            self.popen.wait()


class _Thread:
    """The engine on a thread of the window's process."""

    def __init__(self, conn: Connection):
        from . import host

        # What the engine reads with is imported here, before its thread starts, as its own process
        # does: PySide's import hook looks at the source of each module imported once Qt is in the
        # process (inspect.getsource, which asks a module for __wrapped__), and pydantic's modules
        # answer that by importing one of theirs: pydantic imported on the engine's thread beside
        # the window's imports failed a first job, now and then, with "partially initialized
        # module 'pydantic._internal._validators'".
        host.import_reading()
        self.thread = threading.Thread(target=host.serve, args=(conn,), name=HOST_THREAD, daemon=True)
        self.thread.start()

    def alive(self) -> bool:
        return self.thread.is_alive()

    def wait(self, seconds: float) -> int | None:
        self.thread.join(seconds)
        return None

    def end(self) -> None:
        self.thread.join()  # a thread cannot be ended: its job stops at its next word, a load at its end
