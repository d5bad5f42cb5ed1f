"""Data-parallel training under torchrun: the process group.

Which rank this process is comes from torchrun's environment, read by ../torchrun.py (World,
world_from_env, rank_device). The group uses NCCL when the ranks train on CUDA (each on
cuda:LOCAL_RANK) and gloo on CPUs. Rank 0 validates, saves and logs; the others only train (the
loop in loop.py decides that). Torch is imported only inside the functions that need it.
"""
from __future__ import annotations

import datetime

from ..torchrun import World

# Rank 0 (or each machine's local rank 0) may extract features while the others wait at a
# barrier: far longer than torch's default 30 minutes must be allowed for that.
GROUP_TIMEOUT = datetime.timedelta(hours=4)


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
