"""``pytorch_setup`` and friends with AlgoPerf's signatures (used by submissions)."""

from __future__ import annotations

import torch
import torch.distributed as dist


def pytorch_setup() -> tuple[bool, int, torch.device, int]:
    """``(USE_PYTORCH_DDP, RANK, DEVICE, N_GPUS)`` as AlgoPerf defines them."""
    use_ddp = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
    rank = dist.get_rank() if use_ddp else 0
    n_gpus = torch.cuda.device_count()
    device = torch.device(f"cuda:{rank}" if n_gpus else "cpu")
    return use_ddp, rank, device, n_gpus


def pytorch_init(use_pytorch_ddp: bool, rank: int, profiler: object = None) -> None:
    """AlgoPerf's process set-up hook; optbench's runner already did the set-up."""
    del use_pytorch_ddp, rank, profiler


def sync_ddp_time(time: float, device: torch.device) -> float:
    """The maximum of ``time`` over ranks (identity on one process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return time
    value = torch.tensor(time, dtype=torch.float64, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return float(value.item())
