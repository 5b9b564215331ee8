"""Exact capping: stop a trial once it can no longer change its study's score.

Under external tuning a study's time on a workload is that of its best trial: the smallest
time-to-target (optbench's scoring) or the smallest eval index of first reaching the target,
ties to the lower trial number (AlgoPerf's). A trial run after others of its study can win only by
reaching the target *before* the best of them on the mode's own measure. So once it has made as
many evals as the fewest any earlier trial needed, and its submission time has reached the
smallest time any earlier trial needed, nothing it does can change a score under either mode:
the runner stops it there (``stop_reason: capped``, :mod:`optbench.runner`).

Only completed trials without flags set the cap (``optbench score --strict`` scores a flagged
trial as never reaching the target, so it must not cut another short). A trial with a higher
number than the one being capped (finished first in an earlier, interrupted run) loses a tie of
eval indices to it, so it lets the capped trial make one eval more.
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
    trial_dir = Path(trial_dir)
    summary = results.read_json(Path(trial_dir) / "result.json")
    if not summary or summary.get("status") != "completed" or summary.get("flags"):
        return None
    if not summary.get("reached_target"):
        return None
    rows = results.read_eval_measurements(Path(trial_dir) / "eval_measurements.csv")
    steps = summary["steps_to_target"]
    index = next((i for i, row in enumerate(rows) if row.get("global_step") == steps), None)
    return None if index is None else (float(summary["time_to_target"]), index)


def trial_number(trial_dir: Path) -> int:
    """The number of a ``trial_<n>`` folder."""
    return int(Path(trial_dir).name.rsplit("_", 1)[1])


def study_cap(trial_dirs: Iterable[Path], trial: int) -> Cap | None:
    """The cap for trial number ``trial`` of a study whose other trials are in ``trial_dirs``."""
    reached = []
    for other in trial_dirs:
        hit = reached_by(other)
        if hit is not None and trial_number(other) != trial:
            time, index = hit
            reached.append((time, index + (trial_number(other) > trial)))
    return best_of(reached)


def cap_for(trial_dir: Path) -> Cap | None:
    """The cap for the trial in ``trial_dir`` from its study's other trials (its siblings)."""
    trial_dir = Path(trial_dir)
    siblings = [
        p
        for p in trial_dir.parent.glob("trial_*")
        if p != trial_dir and p.is_dir() and p.name.removeprefix("trial_").isdigit()
    ]
    return study_cap(siblings, trial_number(trial_dir))
