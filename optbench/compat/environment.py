"""What AlgoPerf's environment gives a submission, and naming what optbench's cannot give.

AlgoPerf's PyTorch runner initialises ``torch.distributed`` before ``init_optimizer_state``; a
submission may rely on it (Distributed Shampoo's DDP distributor does). optbench runs a trial in
one process, so it initialises a one-rank group (gloo, a file store: no network), and a
submission that needs more ranks, or CUDA where there is none, fails with a one-line reason
that says so instead of a traceback.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist

_DISTRIBUTED = re.compile(
    r"torch\.distributed|process group|world[ _]size|trainers per group|num_trainers|"
    r"\brank\b|init_process_group",
    re.IGNORECASE,
)
_CUDA = re.compile(
    r"not compiled with CUDA|no NVIDIA driver|No CUDA GPUs|CUDA driver|cuda.*not available|"
    r"device type cuda|CUDA error",
    re.IGNORECASE,
)


def ensure_process_group() -> None:
    """Initialise a one-rank ``torch.distributed`` group unless one exists (torchrun's)."""
    if not dist.is_available() or dist.is_initialized():
        return
    store = Path(tempfile.mkdtemp(prefix="optbench-pg-")) / "store"
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=0, world_size=1)


def world_size() -> int:
    """The number of ranks this trial runs on."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def unmet_need(exc: BaseException) -> str | None:
    """A one-line statement of what the submission needs and this run lacks, or None when
    ``exc`` does not look like a missing CUDA device or missing distributed ranks."""
    text = f"{type(exc).__name__}: {exc}"
    if _CUDA.search(text) and not torch.cuda.is_available():
        return "the submission needs CUDA, which this machine lacks: run it where a GPU is"
    if _DISTRIBUTED.search(text):
        wanted = re.search(r"(?:trainers per group|world size|ranks?)\D{0,12}(\d+)", text, re.I)
        count = f"{wanted.group(1)} " if wanted else "more "
        return (
            f"the submission needs {count}torch.distributed ranks (AlgoPerf runs 8); this run has "
            f"{world_size()}"
        )
    return None
