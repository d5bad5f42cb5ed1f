"""Importing torch (and the model code) without stalling the window; no Qt here.

The app starts this thread as the process starts (start_early); it waits for the window's first
paint (window_painted), so the input shows at once, then imports the header check, maps torch's
shared libraries (without the GIL), imports torch and the model code, while the engine thread
reads the input (a video's packets listed, its frames decoded). Mapping the libraries while the
window was still importing its own was tried: the C library maps one library at a time, so the
window's imports waited for torch's (window shown 1.1-1.7x later). The engine thread's import
then finds torch imported (or waits for the import under way: one import at a time, never a
half-imported module handed out); a job that asks first imports it itself.
"""
from __future__ import annotations

import gc
import os
import threading

from .loader_lock import LIBRARIES

EARLY_THREAD = "attnviewer-early-import"
# What the engine imports for a first job of any kind: the checkpoint's header check (pydantic),
# the models and the search. Each is imported quietly in turn after torch, one thread at a time:
# two threads importing pydantic at once (the engine's read checking a header while another thread
# loaded a model) failed with "partially initialized module 'pydantic._internal._validators'".
HEADER_CHECK = "attnviewer.models.header"
MODEL_MODULES = (HEADER_CHECK, "attnviewer.pipeline", "attnviewer.models.registry", "attnviewer.models.checkpoint",
                 "safetensors.torch", "attnviewer.decoding.search", "attnviewer.models.captioner",
                 "attnviewer.models.video_captioner", "attnviewer.models.translator")
# One import at a time of torch, and one of the model code: the engine's read checks a header while
# torch is imported by the early thread (they share no package), never two threads on the same one.
_TORCH, _MODEL_CODE = threading.RLock(), threading.RLock()
_count_lock = threading.Lock()
_running = 0  # quiet imports under way (the GUI's collector waits then)
_window_painted = threading.Event()  # the window's first paint is done
WAIT_S = 20.0  # the most the early import waits for the first paint (then it goes on regardless)


def window_painted() -> None:
    """Said by the app after the window's first paint: the import may start."""
    _window_painted.set()


def importing() -> bool:
    """Whether a quiet import is under way (its garbage must not be collected meanwhile)."""
    return _running > 0


def _under_way(step: int) -> None:
    global _running
    with _count_lock:
        _running += step


def load_torch_libraries() -> list[str]:
    """Map torch's shared libraries (libtorch_cpu and the rest, hundreds of MB) before `import
    torch`, through the C library's dlopen, which ctypes calls with the GIL released: their
    relocation and static constructors (0.3 s on a quiet machine, over 1 s on a loaded one) then
    no longer stall the window, and the import finds them mapped. Same libraries, same order and
    flags as torch's own import (its global dependencies, then its extension). Linux only; any
    failure is left to the import to report. Returns the paths mapped."""
    import ctypes
    import importlib.machinery
    import importlib.util
    import sys
    from pathlib import Path

    if not sys.platform.startswith("linux") or "torch" in sys.modules:
        return []
    try:
        spec = importlib.util.find_spec("torch")
        folder = Path(spec.origin).parent
        dlopen = ctypes.CDLL(None).dlopen
    except (ImportError, AttributeError, TypeError, OSError):
        return []
    dlopen.restype, dlopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_int]
    extension = next((folder / f"_C{s}" for s in importlib.machinery.EXTENSION_SUFFIXES
                      if (folder / f"_C{s}").exists()), None)
    wanted = [(folder / "lib" / "libtorch_global_deps.so", os.RTLD_GLOBAL | os.RTLD_NOW),
              (extension, sys.getdlopenflags())]
    with LIBRARIES:  # no decoder starts its threads meanwhile (they would wait holding the GIL)
        return [str(path) for path, flags in wanted if path is not None and dlopen(os.fsencode(path), flags)]


def import_torch():
    """Import torch with the garbage collector paused: its import allocates so much that full
    collections (100+ ms each, holding the GIL) would stall the window several times."""
    return quiet_import("torch", load_torch_libraries)


def quiet_import(name: str, before=None):
    """Import a large package on this thread with the garbage collector paused, and keep what it
    built out of later collections: a full collection run here would hold the GIL (the window
    stalls) and would free whatever Qt objects wait in cycles on the wrong thread."""
    import importlib
    import sys

    with _TORCH if name == "torch" else _MODEL_CODE:  # another thread's import: wait for it, whole
        if name not in sys.modules:
            was_enabled = gc.isenabled()
            gc.disable()  # before the libraries: other threads allocate while they load without the GIL
            _under_way(1)
            try:
                if before is not None:
                    before()
                importlib.import_module(name)
            finally:
                gc.freeze()
                _under_way(-1)
                if was_enabled and not importing():
                    gc.enable()
        return sys.modules[name]


def import_model_code() -> None:
    """The model code (MODEL_MODULES), each module imported quietly, one thread at a time."""
    for name in MODEL_MODULES:
        quiet_import(name)


def _import_early() -> None:
    try:
        _window_painted.wait(WAIT_S)
        quiet_import(HEADER_CHECK)  # first: the engine's read of the input checks the model's header
        import_torch()  # (its libraries mapped first, the GIL released)
        import_model_code()
    except Exception:  # (ImportError, a broken install): the engine's own import reports it in the window
        pass


def start_early() -> threading.Thread:
    """Start importing torch and the model code now, on a thread of its own (see the module's
    docstring). Returns the thread (a daemon: it never keeps the process alive)."""
    thread = threading.Thread(target=_import_early, name=EARLY_THREAD, daemon=True)
    thread.start()
    return thread
