"""Data-parallel training under torchrun: which rank this process is, and the process group.

`torchrun` (python -m torch.distributed.run) starts one process per rank with RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR and MASTER_PORT in its environment. Without them the process trains
alone (a World of size 1, no process group). With only some of them set, the run stops with one
line naming what is missing: a half-set environment is a launcher mistake, and guessing the rest
would hang waiting for ranks that never come. world_from_env is the one reader of these variables,
also for folder captioning (cli/ranks.py), whose ranks never meet and so need only RANK and
WORLD_SIZE; this module imports torch only inside the functions that need it, so reading the
environment costs nothing.

The group uses NCCL when the ranks train on CUDA (each on cuda:LOCAL_RANK) and gloo on CPUs.
Rank 0 validates, saves and logs; the others only train (the loop in loop.py decides that).
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

from ..errors import SettingsError

TORCHRUN_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
# Rank 0 (or each machine's local rank 0) may extract features while the others wait at a
# barrier: far longer than torch's default 30 minutes must be allowed for that.
GROUP_TIMEOUT = datetime.timedelta(hours=4)


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


def start(world: World, device: str) -> None:
    """Join the process group (NCCL for CUDA, gloo for CPUs); nothing when training alone."""
    if not world.distributed:
        return
    import torch
    import torch.distributed as dist

    gpu = torch.device(device) if device.startswith("cuda") else None
    if gpu is not None:
        torch.cuda.set_device(gpu)
    # device_id binds the group to this rank's GPU, so a barrier (features extracted by one rank
    # while the others wait) knows where to run, without torch warning that it guessed
    dist.init_process_group("nccl" if gpu is not None else "gloo", rank=world.rank, world_size=world.size,
                            timeout=GROUP_TIMEOUT, device_id=gpu)


def finish(world: World) -> None:
    """Leave the process group (after the last collective)."""
    if not world.distributed:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.distributed:
        import torch.distributed as dist

        dist.barrier()
