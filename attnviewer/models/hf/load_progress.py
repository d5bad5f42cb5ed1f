"""Progress and cancel while transformers reads a folder's weights.

from_pretrained reports nothing to its caller, but it walks the model's tensors in one loop that it
wraps in its own progress bar (transformers.core_model_loading.tqdm, "Loading weights"), reading
each tensor from the files as it goes. During a load on this thread that wrapper is replaced by one
that counts the tensors for the caller and stops the loop (LoadCancelled) when the caller says so;
transformers' `finally` then shuts its reading threads down. Elsewhere, and on other threads, the
original wrapper runs untouched. A transformers without that loop gives no progress (the window
then shows a busy bar, as before), never an error.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterable

_local = threading.local()


class LoadCancelled(Exception):
    """The caller stopped the load: nothing half-loaded is kept."""


@contextmanager
def reporting(progress: Callable[[int, int], None] | None = None, cancelled: Callable[[], bool] | None = None):
    """While inside, tensors read by from_pretrained on this thread call progress(done, total);
    cancelled() is asked before each tensor (True: LoadCancelled is raised from the load)."""
    _install()
    outer = getattr(_local, "listener", None)
    _local.listener = (progress, cancelled)
    try:
        yield
    finally:
        _local.listener = outer


def _install() -> None:
    try:
        import transformers.core_model_loading as loading
    except ImportError:
        return
    original = getattr(loading, "tqdm", None)
    if original is None or getattr(original, "attnviewer_counts", False):
        return

    def counted(iterable: Iterable | None = None, *args, **kwargs):
        listener = getattr(_local, "listener", None)
        if listener is None or iterable is None:
            return original(iterable, *args, **kwargs)
        return _counting(iterable, *listener)

    counted.attnviewer_counts = True
    loading.tqdm = counted


def _counting(iterable: Iterable, progress, cancelled):
    try:
        total = len(iterable)  # (the loop walks a dict's items)
    except TypeError:
        total = 0
    done = 0
    for item in iterable:
        if cancelled is not None and cancelled():
            raise LoadCancelled()
        yield item
        done += 1
        if progress is not None:
            progress(done, max(total, done))
