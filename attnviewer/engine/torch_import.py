"""Importing torch and the model code on the engine's threads; no Qt here.

One import at a time of torch and one of the model code (never a half-imported module handed to a
second thread), each with the garbage collector paused and what it built frozen afterwards.

History: with the engine on a thread of the window's process, importing torch from the process's
start (to overlap it with the window's start-up) was measured and dropped: the libraries' mapping
and the import's C initialisation held the window's GIL, and the window showed 1.1-1.7x later. In
its own process (engine/host.py) the engine starts the import at once: the window does not feel it.
"""
from __future__ import annotations

import gc
import os
import threading

# What the engine imports for a first job of any kind: the checkpoint's header check (pydantic),
# the models and the search; imported on the engine thread before its model loader thread starts, one
# thread at a time: two threads importing pydantic at once failed a first job with "partially
# initialized module 'pydantic._internal._validators'" (once in 3 video runs).
HEADER_CHECK = "attnviewer.models.header"
MODEL_MODULES = (HEADER_CHECK, "attnviewer.pipeline", "attnviewer.models.registry", "attnviewer.models.checkpoint",
                 "safetensors.torch", "attnviewer.decoding.search", "attnviewer.models.captioner",
                 "attnviewer.models.video_captioner", "attnviewer.models.translator")
_TORCH, _MODEL_CODE = threading.RLock(), threading.RLock()  # one thread at a time imports either
_count_lock = threading.Lock()
_running = 0  # quiet imports under way (the GUI's collector waits then)


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
    no longer stall the engine's other threads (the window's messages, the input's read), and
    the import finds them mapped. Same libraries, same order and
    flags as torch's own import (its global dependencies, then its extension). Linux only; any
    failure is left to the import to report. Returns the paths mapped."""
    import importlib.machinery
    import sys

    ahead = _ahead_of_import("torch")
    if ahead is None:
        return []
    folder, dlopen = ahead
    extension = next((folder / f"_C{s}" for s in importlib.machinery.EXTENSION_SUFFIXES
                      if (folder / f"_C{s}").exists()), None)
    wanted = [(folder / "lib" / "libtorch_global_deps.so", os.RTLD_GLOBAL | os.RTLD_NOW),
              (extension, sys.getdlopenflags())]
    return [str(path) for path, flags in wanted if path is not None and dlopen(path, flags)]


def map_extensions(package: str) -> int:
    """Map every extension module of a package (and the shared libraries they link) through the C
    library's dlopen, which ctypes calls with the GIL released, before the package's import: PyAV's
    import loads FFmpeg's libraries from inside module initialisation, holding the GIL for up to
    18 ms at a stretch (the window stalled while its player opened a clip's first time); mapped
    first, the import's longest hold is 3-4 ms. Linux only; any failure is left to the import to
    report. Returns how many were mapped."""
    import importlib.machinery
    import sys

    ahead = _ahead_of_import(package)
    if ahead is None:
        return 0
    folder, dlopen = ahead
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    modules = sorted(p for p in folder.rglob("*") if p.name.endswith(suffixes))
    return sum(dlopen(path, sys.getdlopenflags()) for path in modules)


def _ahead_of_import(package: str):
    """(the package's folder, dlopen(path, flags) -> mapped?) to map its libraries before its
    import, through the C library's dlopen (ctypes calls it with the GIL released); None where that
    cannot be: not Linux, the package already imported, or not found."""
    import ctypes
    import importlib.util
    import sys
    from pathlib import Path

    if not sys.platform.startswith("linux") or package in sys.modules:
        return None
    try:
        folder = Path(importlib.util.find_spec(package).submodule_search_locations[0])
        dlopen = ctypes.CDLL(None).dlopen
    except (ImportError, AttributeError, TypeError, OSError, IndexError):
        return None
    dlopen.restype, dlopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_int]
    return folder, lambda path, flags: bool(dlopen(os.fsencode(path), flags))


def import_torch():
    """Import torch with the garbage collector paused: its import allocates so much that full
    collections (100+ ms each, holding the GIL) would stall the engine's other threads."""
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


def import_pyav() -> object:
    """PyAV, imported on this thread if no thread did yet (its libraries mapped first, without the
    GIL: the window's first clip does not stall on their loading)."""
    from functools import partial

    return quiet_import("av", partial(map_extensions, "av"))


def import_model_code() -> None:
    """The model code (MODEL_MODULES), each module imported quietly, one thread at a time."""
    for name in MODEL_MODULES:
        quiet_import(name)
