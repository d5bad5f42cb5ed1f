"""Features computed once to disk, so a large corpus trains without running the frozen encoder
(or decoding a single image) again.

`extract(ids, load, encode, folder, key, row_shape)` is generic: `load(i)` reads item i into an
array (an image's pixels, a clip's frames), on a few threads; `encode(batch)` maps a stack of those
to a stack of feature rows (the frozen encoder). The rows go to a memory-mapped float16 array,
`<folder>/<name>-<digest>.npy` (numpy's .npy format, opened with np.lib.format.open_memmap), with a
JSON sidecar beside it (`.json`) naming what they were made from (`key`: encoder, a digest of its
weights, image size, ...; a digest of the item list; the row shape) and how many rows are done. The
file name holds a digest of all that, so features of other weights or items never mix.

Resumption: rows are filled in order and the sidecar's `done` is rewritten (atomically) every few
seconds and when extraction stops for any reason, Ctrl-C included; the next run with the same key
and items opens the array again and continues at the first undone row.

Bad items: an item whose `load` fails (an unreadable or corrupt image: a MediaError, an OSError,
a decoder's ValueError) gets a row of zeros and is listed in the sidecar's `bad` (row -> reason),
so training skips its examples; extraction never stops for one. FeatureStore.problems() counts them.

Under torchrun, each machine's local rank 0 computes the rows while the other ranks wait at a
barrier, then they all open the finished file: one process writes it, and no rank starts training
before it is complete.

Training reads rows with FeatureStore.rows(indices): only those rows are read from the file, never
the whole corpus.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import AttnViewerError, first_line
from ..files import atomic_path
from ..torchrun import world_from_env
from . import distributed
from .progress import Progress

VERSION = 1
SIDECAR_SECONDS = 5.0  # how often `done` is recorded while extracting
READ_ERRORS = (AttnViewerError, OSError, ValueError)
DEFAULT_FOLDER = Path.home() / ".cache" / "attnviewer" / "features"  # of images and clips alike


def file_key(path: str, sep: str = "\t") -> str:
    """A file's identity in a store: its path, size and modification time, so a file replaced by
    another gets new features, never stale ones (just the path when it cannot be read: the
    extraction then counts it as a bad row)."""
    try:
        st = os.stat(path)
    except OSError:
        return path
    return f"{path}{sep}{st.st_size}{sep}{st.st_mtime_ns}"


def module_digest(module) -> str:
    """A digest of a module's weights (names and bytes): features depend on exactly these."""
    h = hashlib.sha1()
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _digest(x) -> str:
    return hashlib.sha1(json.dumps(x, sort_keys=True).encode()).hexdigest()


@dataclass
class FeatureStore:
    """Feature rows on disk, read-only: rows(indices) reads just those rows."""

    path: Path
    array: np.ndarray  # np.memmap, (N, *row_shape) float16
    bad: dict[int, str]  # row -> why it could not be read

    def __len__(self) -> int:
        return self.array.shape[0]

    def rows(self, indices: Sequence[int]) -> np.ndarray:
        return np.asarray(self.array[np.asarray(indices, dtype=np.int64)], dtype=np.float32)

    def problems(self, what: str = "unreadable item") -> list[str]:
        """One line for the bad rows (with the first few reasons), or none."""
        if not self.bad:
            return []
        first = "; ".join(list(self.bad.values())[:3])
        return [f"{len(self.bad)} {what}{'s' if len(self.bad) != 1 else ''} skipped (e.g. {first})"]


def store_paths(folder: Path, name: str, key: dict, ids: Sequence[str], row_shape: Sequence[int]) -> tuple[Path, Path, dict]:
    meta = {"version": VERSION, "key": key, "items": len(ids), "items_sha1": _digest(list(ids)),
            "row_shape": list(row_shape), "dtype": "float16"}
    stem = f"{name}-{_digest(meta)[:16]}"
    return folder / f"{stem}.npy", folder / f"{stem}.json", meta


def _read_sidecar(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_sidecar(path: Path, meta: dict) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(meta))


def extract(ids: Sequence[str], load: Callable[[int], np.ndarray], encode: Callable[[np.ndarray], np.ndarray],
            folder: str | Path, key: dict, row_shape: Sequence[int], name: str = "features",
            batch: int = 64, workers: int | None = None, log: Callable[[str], None] = print) -> FeatureStore:
    """The features of items 0..len(ids)-1, computed where not already on disk (see the module);
    under torchrun by each machine's local rank 0 while the other ranks wait."""
    world = world_from_env()
    if world.distributed and world.local_rank != 0:
        distributed.barrier(world)
        return _extract(ids, load, encode, folder, key, row_shape, name, batch, workers, lambda line: None)
    store = _extract(ids, load, encode, folder, key, row_shape, name, batch, workers, log)
    distributed.barrier(world)
    return store


def _extract(ids, load, encode, folder, key, row_shape, name, batch, workers, log) -> FeatureStore:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    npy, sidecar, meta = store_paths(folder, name, key, ids, row_shape)
    n = len(ids)
    old = _read_sidecar(sidecar)
    array = None
    if old and {k: old.get(k) for k in meta} == meta and npy.exists():
        try:
            array = np.lib.format.open_memmap(npy, mode="r+")
        except (OSError, ValueError):
            array = None
        if array is not None and array.shape != (n, *row_shape):
            array = None
    if array is None:
        old = None
        array = np.lib.format.open_memmap(npy, mode="w+", dtype=np.float16, shape=(n, *row_shape))
    done = int(old["done"]) if old else 0
    bad = {int(k): v for k, v in old["bad"].items()} if old else {}
    state = dict(meta, done=done, bad={str(k): v for k, v in bad.items()})
    if done < n:
        log(f"{name}: computing {n - done} of {n} rows" + (f" (resuming at row {done})" if done else "")
            + f" into {npy}")
        done = _fill(array, ids, load, encode, done, bad, state, sidecar, batch, workers, log, name)
    elif bad:
        log(f"{name}: all {n} rows on disk ({npy}), {len(bad)} unreadable")
    else:
        log(f"{name}: all {n} rows on disk ({npy})")
    del array  # flushed and closed; training opens it read-only
    return FeatureStore(npy, np.load(npy, mmap_mode="r"), bad)


def load_all(pool: ThreadPoolExecutor, load: Callable[[int], np.ndarray], indices: Sequence[int]) -> list:
    """load(i) for each index on the pool's threads: the array, or the exception of an item that
    could not be read (READ_ERRORS; anything else is a bug and is raised)."""
    def safe_load(i: int):
        try:
            return load(i)
        except READ_ERRORS as e:
            return e

    return list(pool.map(safe_load, indices))


def default_workers() -> int:
    return min(8, os.cpu_count() or 1)


def _fill(array, ids, load, encode, done, bad, state, sidecar, batch, workers, log, name) -> int:
    n = len(ids)
    progress = Progress(n, done, log=log, what=name)
    last = time.monotonic()
    t0, made = time.monotonic(), 0
    try:
        with ThreadPoolExecutor(workers or default_workers()) as pool:
            for start in range(done, n, batch):
                rows = list(range(start, min(start + batch, n)))
                loaded = load_all(pool, load, rows)
                good = [r for r, x in zip(rows, loaded) if not isinstance(x, BaseException)]
                for r, x in zip(rows, loaded):
                    if isinstance(x, BaseException):
                        bad[r] = first_line(x)
                        array[r] = 0
                if good:
                    feats = encode(np.stack([x for x in loaded if not isinstance(x, BaseException)]))
                    array[np.asarray(good)] = np.asarray(feats, dtype=np.float16)
                done = rows[-1] + 1
                made += len(rows)
                progress.advance(len(rows), f"{made / max(time.monotonic() - t0, 1e-9):,.0f}/s")
                if time.monotonic() - last >= SIDECAR_SECONDS:
                    _record(array, state, done, bad, sidecar)
                    last = time.monotonic()
    finally:
        progress.close()
        _record(array, state, done, bad, sidecar)  # also on Ctrl-C: the next run resumes here
    log(f"{name}: {made} rows in {time.monotonic() - t0:.0f} s" + (f", {len(bad)} unreadable" if bad else ""))
    return done


def _record(array, state: dict, done: int, bad: dict, sidecar: Path) -> None:
    array.flush()
    state.update(done=done, bad={str(k): v for k, v in sorted(bad.items())})
    _write_sidecar(sidecar, state)
