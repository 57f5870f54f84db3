"""Training in several CPU processes (gloo): joining the group, sharing out batches, averaging gradients and
passing values between processes.

Launchers (`torchrun --nproc_per_node N`, or `accelerate launch --multi_gpu --num_processes N`, which on a
machine without GPUs starts N CPU processes) set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT. Each
process trains on its own share of every epoch's batches (`shard`), gradients are averaged before each
optimizer step, and process 0 alone evaluates and writes. With one process every function here is a no-op
or returns its argument, and torch.distributed is never imported.
"""

from __future__ import annotations

import math
import os
from datetime import timedelta
from typing import Any

import numpy as np


def join_processes() -> tuple[int, int]:
    """(rank, number of processes); joins the gloo process group when launched as one of several."""
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        # Long enough for process 0 to evaluate a dev set while the others wait.
        dist.init_process_group("gloo", timeout=timedelta(hours=2))
    return dist.get_rank(), dist.get_world_size()


def shard(order: list[np.ndarray], rank: int, world: int) -> list[np.ndarray]:
    """This process's batches of an epoch: every `world`-th batch from `rank` on, the list first extended
    by its own start so that every process gets as many batches (they must step together).

    Args:
        order: the epoch's batches, the same in every process.
        rank, world: this process and the number of processes.

    >>> shard([0, 1, 2, 3, 4], rank=1, world=2)
    [1, 3, 0]
    """
    if world == 1:
        return order
    total = math.ceil(len(order) / world) * world
    return [order[i % len(order)] for i in range(rank, total, world)]


def broadcast_weights(module: Any) -> None:
    """Give every process process 0's weights (a freshly initialised head may differ between them)."""
    import torch.distributed as dist

    for tensor in module.state_dict().values():
        dist.broadcast(tensor, src=0)


def average_gradients(module: Any, world: int) -> None:
    """Replace each gradient by its mean over the processes: one all-reduce of all gradients at once."""
    import torch
    import torch.distributed as dist

    grads = [p.grad for p in module.parameters() if p.grad is not None]
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= world
    for g, mean in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
        g.copy_(mean.view_as(g))


def gather(value: Any, world: int) -> list[Any]:
    """`value` of every process, by rank (a list of one without other processes)."""
    if world == 1:
        return [value]
    import torch.distributed as dist

    values: list[Any] = [None] * world
    dist.all_gather_object(values, value)
    return values


def from_rank0(value: Any, world: int) -> Any:
    """Process 0's `value`, in every process."""
    if world == 1:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def wait_for_all(world: int) -> None:
    """Return when every process has come here (a no-op for one process)."""
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
