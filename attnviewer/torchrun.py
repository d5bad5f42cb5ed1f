"""Which rank this process is, read from torchrun's environment (no torch, no process group).

`torchrun` (python -m torch.distributed.run) starts one process per rank with RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR and MASTER_PORT in its environment. Without them the process runs alone
(a World of size 1). With only some of them set, the run stops with one line naming what is
missing: a half-set environment is a launcher mistake, and guessing the rest would hang waiting
for ranks that never come. world_from_env is the one reader of these variables, for training
(training/distributed.py joins the process group) and for folder captioning (cli/ranks.py), whose
ranks never meet and so need only RANK_KEYS. It sits low, beside the plain data: reading the
environment is not training, and costs nothing (torch is imported only by rank_device).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import SettingsError

TORCHRUN_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
# Enough to tell which rank this is where the ranks never meet (no rendezvous needed)
RANK_KEYS = ("RANK", "WORLD_SIZE")


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def _whole_number(environ, key: str) -> int:
    try:
        return int(environ[key])
    except ValueError:
        raise SettingsError(f"{key}={environ[key]!r} in the environment is not a whole number") from None


def world_from_env(environ=None, needs: tuple[str, ...] = TORCHRUN_KEYS) -> World:
    """The World torchrun describes; World() when none of the variables `needs` names is set;
    SettingsError (one line) when only some are set or their values cannot be right. LOCAL_RANK,
    when not needed and not set, is taken to be RANK (one machine)."""
    environ = os.environ if environ is None else environ
    present = [k for k in needs if environ.get(k, "").strip()]
    if not present:
        return World()
    missing = [k for k in needs if k not in present]
    if missing:
        raise SettingsError(f"{', '.join(present)} set in the environment but not {', '.join(missing)}: "
                            "start the processes with torchrun, or unset these to run alone")
    rank, size = _whole_number(environ, "RANK"), _whole_number(environ, "WORLD_SIZE")
    local = _whole_number(environ, "LOCAL_RANK") if environ.get("LOCAL_RANK", "").strip() else rank
    if size < 1:
        raise SettingsError(f"WORLD_SIZE={size} in the environment: there must be at least one rank")
    if not 0 <= rank < size:
        raise SettingsError(f"RANK={rank} in the environment, but WORLD_SIZE={size} allows ranks 0 to {size - 1}")
    if local < 0:
        raise SettingsError(f"LOCAL_RANK={local} in the environment cannot be negative")
    return World(rank, size, local)


def rank_device(world: World, device: str) -> str:
    """The device of this rank: cuda:LOCAL_RANK for CUDA (ranks share GPUs in turn when there are
    more ranks than GPUs on a machine), the CPU otherwise."""
    import torch

    if not device.startswith("cuda") or not world.distributed:
        return device
    return f"cuda:{world.local_rank % max(torch.cuda.device_count(), 1)}"
