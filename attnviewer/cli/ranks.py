"""Which share of a folder this process captions when several run at once (under torchrun).

`torchrun` (python -m torch.distributed.run) starts one process per rank with RANK, WORLD_SIZE and
LOCAL_RANK in its environment (read by torchrun.world_from_env, needing only NEEDS).
The ranks of `attnviewer caption DIR --out OUTDIR` never talk to each other (no process group): an
image belongs to the rank given by a stable hash (SHA-256) of its output name, modulo WORLD_SIZE.
So:
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

from ..torchrun import RANK_KEYS, World, world_from_env

# The ranks never meet, so torchrun's rendezvous variables (MASTER_ADDR, MASTER_PORT) are not needed
NEEDS = RANK_KEYS


def owner(name: str, world: int) -> int:
    """The rank (0..world-1) that writes the outputs called `name` (an output stem)."""
    digest = hashlib.sha256(os.fsencode(name)).digest()
    return int.from_bytes(digest[:8], "big") % world


def label(world: World) -> str:
    """'rank 1 of 4: ' in front of the summary lines of a rank; nothing when alone."""
    return f"rank {world.rank} of {world.size}: " if world.distributed else ""


def another_rank() -> bool:
    """True in every process but rank 0 under torchrun: for one input (caption IMAGE, video CLIP,
    translate "..."), rank 0 alone decodes and writes; N writers of one file would be waste."""
    return not world_from_env(needs=NEEDS).main
