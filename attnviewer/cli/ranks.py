"""Which share of a folder this process captions when several run at once (under torchrun).

`torchrun` (python -m torch.distributed.run) starts one process per rank with RANK, WORLD_SIZE and
LOCAL_RANK in its environment. The ranks of `attnviewer caption DIR --out OUTDIR` never talk to
each other (no process group): an image belongs to the rank given by a stable hash (SHA-256) of its
output name, modulo WORLD_SIZE. So:
- each output file has exactly one writer, whatever order the ranks start or finish in;
- who owns an image depends only on its own name, not on the rest of the listing, so ranks that
  list the folder at slightly different moments (a file still being copied in) never both take a
  file or both leave it;
- a rerun, with any number of ranks, skips the outputs that exist whoever made them, so resuming
  with another world size still captions each image once. The price is a share size that varies
  a little (binomially) instead of being exactly equal.
Python's own hash() is salted per process, hence SHA-256.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from ..errors import SettingsError


@dataclass(frozen=True)
class Share:
    rank: int = 0
    world: int = 1
    local_rank: int = 0  # this process's index on its machine: which GPU it uses

    def owns(self, name: str) -> bool:
        return owner(name, self.world) == self.rank

    def label(self) -> str:
        """'rank 1 of 4: ' in front of the summary lines of a share; nothing when alone."""
        return f"rank {self.rank} of {self.world}: " if self.world > 1 else ""


def owner(name: str, world: int) -> int:
    """The rank (0..world-1) that writes the outputs called `name` (an output stem)."""
    digest = hashlib.sha256(os.fsencode(name)).digest()
    return int.from_bytes(digest[:8], "big") % world


def _number(environ, key: str, default: int | None) -> int | None:
    text = environ.get(key)
    if text is None or text.strip() == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise SettingsError(f"{key}={text!r} in the environment is not a whole number") from None


def from_env(environ=None) -> Share:
    """The share of the process, from torchrun's RANK, WORLD_SIZE and LOCAL_RANK; all of it when
    neither is set. SettingsError (one line) for values that cannot be right."""
    environ = os.environ if environ is None else environ
    world = _number(environ, "WORLD_SIZE", None)
    rank = _number(environ, "RANK", None)
    if world is None and rank is None:
        return Share()
    if world is None or rank is None:
        missing = "WORLD_SIZE" if world is None else "RANK"
        raise SettingsError(f"{'RANK' if world is None else 'WORLD_SIZE'} is set in the environment but {missing} "
                            "is not; run under torchrun, or set both")
    if world < 1:
        raise SettingsError(f"WORLD_SIZE={world} in the environment: there must be at least one rank")
    if not 0 <= rank < world:
        raise SettingsError(f"RANK={rank} in the environment, but WORLD_SIZE={world} allows ranks 0 to {world - 1}")
    local = _number(environ, "LOCAL_RANK", rank)
    if local < 0:
        raise SettingsError(f"LOCAL_RANK={local} in the environment cannot be negative")
    return Share(rank, world, local)


def gpu_index(local_rank: int, count: int) -> int:
    """The GPU of a local rank: cuda:LOCAL_RANK; with more processes than GPUs on a machine they
    take turns (local rank 3 of a two-GPU machine shares cuda:1)."""
    return local_rank % count
