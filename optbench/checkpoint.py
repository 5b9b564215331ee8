"""Mid-trial checkpoints: everything a trial needs to continue exactly where it was saved.

A checkpoint is written (atomically, untimed, as AlgoPerf's) after an evaluation when at least
``every_sec`` of wall time passed since the last one, in two files: the worker's side
(:data:`WORKER_FILENAME`: the model's ``state_dict``, the model state, the submission's optimizer
state, how many batches it drew from its input queue, the torch / numpy / Python RNG states) and
the runner's side (:data:`FILENAME`: the trial's identity, train state, eval rows and the sha256 of
the worker's file, so a worker side replaced after the fact is never resumed from).

The optimizer state is saved as AlgoPerf's PyTorch runner does: every value with a ``state_dict``
(optimizers, LR schedulers) by its ``state_dict``, every other value as itself (pickled). On
resume the runner calls ``init_optimizer_state`` again (untimed) and loads the saved values into
it, rebuilds the input queue with the same seed and skips the batches already drawn, and restores
the RNG states, so the resumed trial computes what the uninterrupted one would have (only time
columns and ``preemption_count`` differ). State a submission keeps outside its optimizer state
(module globals) is not restored: AlgoPerf requires it to live in the optimizer state.

A checkpoint is used only if it was written for the same trial (submission, workload, seed,
hyperparameters, batch size, budget, step cap); anything else starts the trial afresh.
"""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from optbench.atomic import atomic_write_bytes

FILENAME = "checkpoint.pt"
WORKER_FILENAME = "checkpoint_worker.pt"


class CountingQueue:
    """Wraps an input queue and counts the batches drawn from it (to skip them on resume)."""

    def __init__(self, queue: Iterator[Any], drawn: int = 0) -> None:
        self._queue = queue
        self.drawn = drawn

    def __iter__(self) -> CountingQueue:
        return self

    def __next__(self) -> Any:
        batch = next(self._queue)
        self.drawn += 1
        return batch


def resumed_queue(queue: Iterator[Any], drawn: int) -> CountingQueue:
    """``queue`` advanced past the ``drawn`` batches an earlier run of the trial consumed."""
    for _ in range(drawn):
        next(queue)
    return CountingQueue(queue, drawn)


def _portable(value: Any) -> Any:
    return value.state_dict() if hasattr(value, "state_dict") else value


def optimizer_state_to_save(optimizer_state: Any) -> Any:
    """The optimizer state with ``state_dict()`` in place of every object that has one."""
    if isinstance(optimizer_state, Mapping):
        return {key: _portable(value) for key, value in optimizer_state.items()}
    return _portable(optimizer_state)


def restore_optimizer_state(fresh: Any, saved: Any) -> Any:
    """Load ``saved`` into ``fresh`` (the result of a new ``init_optimizer_state``)."""
    if isinstance(fresh, dict) and isinstance(saved, Mapping):
        for key, value in saved.items():
            if hasattr(fresh.get(key), "load_state_dict"):
                fresh[key].load_state_dict(value)
            else:
                fresh[key] = value
        return fresh
    if hasattr(fresh, "load_state_dict"):
        fresh.load_state_dict(saved)
        return fresh
    return saved


def rng_states() -> dict[str, Any]:
    """The global RNG states a training step may draw from."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def set_rng_states(states: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_states` returned."""
    torch.set_rng_state(states["torch"])
    if states.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])


def save_file(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (a kill leaves the old file)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_file(path: Path) -> Any:
    """What :func:`save_file` wrote; None if missing or unreadable (only outside damage, since
    writes are atomic: the trial then starts afresh)."""
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception:
        return None


def save(trial_dir: Path, payload: dict[str, Any]) -> None:
    """Write the runner's side of the trial's checkpoint (the worker wrote its own side, in
    :data:`WORKER_FILENAME`, whose digest ``payload`` records)."""
    save_file(Path(trial_dir) / FILENAME, payload)


def load(trial_dir: Path, identity: Mapping[str, Any]) -> dict[str, Any] | None:
    """The trial's checkpoint if there is a readable one written for ``identity`` whose worker
    side is the file it recorded, else None."""
    payload = load_file(Path(trial_dir) / FILENAME)
    if not isinstance(payload, dict) or payload.get("identity") != dict(identity):
        return None
    worker_side = Path(trial_dir) / WORKER_FILENAME
    if not worker_side.is_file() or file_digest(worker_side) != payload.get("worker_digest"):
        return None
    return payload


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def remove(trial_dir: Path) -> None:
    """Delete the trial's checkpoint (once its final record is written)."""
    (Path(trial_dir) / FILENAME).unlink(missing_ok=True)
    (Path(trial_dir) / WORKER_FILENAME).unlink(missing_ok=True)
