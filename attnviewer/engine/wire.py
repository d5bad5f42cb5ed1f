"""What crosses between the window's process and the engine's: plain data, pickled over one
connection (multiprocessing's), in messages of (name, args). No Qt here.

Two things do not cross as plain pickles:
- a job's or an export's cancel event (each process has its own: the window sends "cancel");
- an input as read (LoadedImage, LoadedClip, Sentence) that was sent before: the engine hands the
  window the very same object when a job re-reads an unchanged input (a re-run with other
  settings), and the window compares inputs by identity (same input: panes kept as they are). The
  engine's side sends a token for an object it sent recently; the window's side hands back the
  object it received then.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

SENT_KEPT = 4  # inputs the engine's side remembers having sent, and so refers back to
RECEIVED_KEPT = SENT_KEPT  # (more would only keep inputs no longer shown: 2048 px images, 12 MB each)


class Cancellable:
    """A dataclass with a `cancel` threading.Event that is not pickled: the receiving process
    makes its own (set there by a "cancel" message)."""

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("cancel", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.cancel = threading.Event()


@dataclass(frozen=True)
class _Kept:
    token: int  # an input sent before under this token


@dataclass(frozen=True)
class _Keep:
    token: int
    value: object  # an input sent whole, to be kept under the token


INPUTS = {"attnviewer.media.images.LoadedImage", "attnviewer.media.frames.LoadedClip", "attnviewer.kinds.text.Sentence"}


def _is_input(value) -> bool:
    return f"{type(value).__module__}.{type(value).__qualname__}" in INPUTS


class Sender:
    """The engine's side: sends (name, args); an input sent recently goes as its token."""

    def __init__(self, conn):
        self.conn = conn
        self._lock = threading.Lock()  # the engine's threads (its worker, a model loader) all send
        self._sent: OrderedDict[int, tuple[int, object]] = OrderedDict()  # id(obj) -> (token, obj)
        self._tokens = 0
        self.gone = False

    def send(self, name: str, *args) -> None:
        """Send one message; nothing once the window's end is closed (it quit: nobody to tell)."""
        with self._lock:
            if self.gone:
                return
            try:
                self.conn.send((name, tuple(self._token(a) for a in args)))
            except (BrokenPipeError, ConnectionResetError, EOFError):
                self.gone = True

    def _token(self, value):
        if not _is_input(value):
            return value
        seen = self._sent.get(id(value))
        if seen is not None and seen[1] is value:
            self._sent.move_to_end(id(value))
            return _Kept(seen[0])
        self._tokens += 1
        self._sent[id(value)] = (self._tokens, value)  # (holding it keeps its id from being reused)
        while len(self._sent) > SENT_KEPT:
            self._sent.popitem(last=False)
        return _Keep(self._tokens, value)


class Receiver:
    """The window's side: a message's args with each input resolved to the object received first."""

    def __init__(self):
        self._kept: OrderedDict[int, object] = OrderedDict()

    def args(self, args: tuple) -> tuple:
        return tuple(self._resolve(a) for a in args)

    def _resolve(self, value):
        if isinstance(value, _Keep):
            self._kept[value.token] = value.value
            while len(self._kept) > RECEIVED_KEPT:
                self._kept.popitem(last=False)
            return value.value
        if isinstance(value, _Kept):
            self._kept.move_to_end(value.token)
            return self._kept[value.token]
        return value
