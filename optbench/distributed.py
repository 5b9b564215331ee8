"""Data-parallel trials under ``torchrun``, as AlgoPerf's PyTorch runner runs them.

``optbench run --nproc-per-node N`` starts N ranks (:func:`relaunch`); each runs the same trial:

* ``torch.distributed`` is initialised (NCCL on GPUs, gloo on the CPU) before
  ``init_optimizer_state``, so submissions that build distributed optimizers find it;
* every rank draws the same global batch from the same-seeded input queue and trains on its own
  contiguous shard of it (:class:`ShardedQueue`); the model is wrapped in
  ``DistributedDataParallel``, which averages gradients over ranks, so N ranks compute what one
  process computes on the whole global batch;
* rank 0's clock is the trial's: every stop (eval due, budget, tick) is rank 0's decision,
  broadcast after each step (:func:`agree`), and its accumulated submission time is shared after
  each stretch, so every rank takes the same decisions;
* rank 0 evaluates (the whole validation and test splits, untimed) and shares the metrics;
  only rank 0 writes the trial's files.

Ranks run their submission in their own process (the trial is not supervised: see
docs/RELIABILITY.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.distributed as dist

from optbench.errors import UserError


def launched() -> bool:
    """Whether this process is one of several ranks started by torchrun."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def rank() -> int:
    """This process's rank (0 outside torchrun)."""
    return int(os.environ.get("RANK", "0"))


def world() -> int:
    """The number of ranks (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def init(device: torch.device) -> None:
    """Join the ranks' process group (once)."""
    if launched() and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend, init_method="env://")


def _part(value: Any, index: int, count: int) -> Any:
    """Rank ``index``'s contiguous part of a tensor (first dimension), of each tensor of a tuple
    or list (the speech workloads' ``(values, paddings)`` pairs), or ``value`` itself."""
    if isinstance(value, tuple | list):
        return type(value)(_part(v, index, count) for v in value)
    if isinstance(value, torch.Tensor) and value.dim() > 0:
        size = value.shape[0]
        if size % count:
            raise UserError(f"a global batch of {size} does not split into {count} ranks")
        step = size // count
        return value[index * step : (index + 1) * step]
    return value


def shard(batch: Any, index: int, count: int) -> Any:
    """Rank ``index``'s contiguous part of every tensor of a global batch (a dict of tensors, or
    of tuples of tensors)."""
    if not isinstance(batch, dict):
        raise UserError(
            "data-parallel trials need batches that are dicts of tensors; this workload's are "
            f"{type(batch).__name__}"
        )
    return {key: _part(value, index, count) for key, value in batch.items()}


class ShardedQueue:
    """The global batches of ``queue``, each cut to this rank's shard."""

    def __init__(self, queue: Iterator[Any], index: int, count: int) -> None:
        self._queue, self._index, self._count = queue, index, count

    def __iter__(self) -> ShardedQueue:
        return self

    def __next__(self) -> Any:
        return shard(next(self._queue), self._index, self._count)


def agree(code: int) -> int:
    """Rank 0's ``code`` on every rank (a stop decision after each step)."""
    if not launched():
        return code
    value = torch.tensor([code], dtype=torch.int64)
    dist.broadcast(value, src=0)
    return int(value.item())


def share(obj: Any) -> Any:
    """Rank 0's ``obj`` (any picklable value) on every rank."""
    if not launched():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def relaunch(argv: Sequence[str], nproc: int) -> int:
    """Run ``optbench`` with ``argv`` as ``nproc`` ranks of one node under torchrun; its exit
    status (rank failures included)."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "optbench",
        *argv,
    ]
    return subprocess.call(command)
