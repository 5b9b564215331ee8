"""Exact capping: stop a trial once it can no longer change its study's score.

Under external tuning a study's time on a workload is that of its best trial: the smallest
time-to-target (optbench's scoring) or the smallest eval index of first reaching the target,
ties to the lower trial number (AlgoPerf's). A trial run after others of its study can win only by
reaching the target *before* the best of them on the mode's own measure. So once it has made as
many evals as the fewest any earlier trial needed, and its submission time has reached the
smallest time any earlier trial needed, nothing it does can change a score under either mode:
the runner stops it there (``stop_reason: capped``, :mod:`optbench.runner`).

Only completed trials without flags set the cap (``optbench score --strict`` scores a flagged
trial as never reaching the target, so it must not cut another short).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from optbench import results


@dataclass(frozen=True)
class Cap:
    """Stop once ``evals`` evals are made and the submission time has reached ``sec``."""

    sec: float
    evals: int


def best_of(reached: Iterable[tuple[float, int]]) -> Cap | None:
    """The cap set by trials that reached the target, given as (time, eval index) pairs."""
    reached = list(reached)
    if not reached:
        return None
    return Cap(sec=min(t for t, _ in reached), evals=min(i for _, i in reached))


def reached_by(trial_dir: Path) -> tuple[float, int] | None:
    """(time-to-target, eval index of first reaching it) of a finished, unflagged, completed
    trial that reached its target; None otherwise."""
    summary = results.read_json(Path(trial_dir) / "result.json")
    if not summary or summary.get("status") != "completed" or summary.get("flags"):
        return None
    if not summary.get("reached_target"):
        return None
    rows = results.read_eval_measurements(Path(trial_dir) / "eval_measurements.csv")
    steps = summary["steps_to_target"]
    index = next((i for i, row in enumerate(rows) if row.get("global_step") == steps), None)
    return None if index is None else (float(summary["time_to_target"]), index)


def study_cap(trial_dirs: Iterable[Path]) -> Cap | None:
    """The cap for a new trial of a study whose other trials are in ``trial_dirs``."""
    return best_of(r for r in map(reached_by, trial_dirs) if r is not None)
