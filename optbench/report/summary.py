"""The closing summary of ``optbench run``: per workload, reached or not, the time to target, and
the committed reference for it; then the HTML report of the run's experiment directory.

The reference of a workload is its committed target-setting record (in the workload's targets
file, next to the target it set): the best of the tuned baselines (AdamW, NadamW, Nesterov,
heavy-ball momentum) was re-run with three seeds, and the target is what those re-runs reached.
Their median steps to target, times the seconds per step measured on the calibration machine,
say how long the target takes a well-tuned baseline; where the re-runs were timed (fmnist_mlp)
their median time is used as measured. Smoke sizes and untimed variants have steps only or no
reference.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optbench.errors import UserError

NO_REFERENCE = "no reference"


@dataclass(frozen=True)
class Reference:
    """How the tuned baseline that set a workload's target reached it."""

    algorithm: str
    steps: float | None  # median steps to target of the re-runs that reached it
    seconds: float | None  # measured median, or steps x calibration seconds per step
    measured: bool  # seconds were timed, not derived from steps

    def describe(self) -> str:
        """``nesterov (tuned): 1200 steps, ~50.1 s`` (``=`` for measured seconds)."""
        parts = []
        if self.steps is not None:
            parts.append(f"{self.steps:.0f} steps")
        if self.seconds is not None:
            parts.append(f"{'' if self.measured else '~'}{self.seconds:.1f} s")
        return f"{self.algorithm} (tuned): {', '.join(parts)}"


def reference_from_entry(entry: Mapping[str, Any]) -> Reference | None:
    """The reference in one committed targets entry (one workload at one size), if it has one."""
    record = entry.get("target_setting") or {}
    algorithm = (record.get("picked") or {}).get("algorithm")
    steps = [s for s in record.get("rerun_steps_to_target") or () if s is not None]
    times = [t for t in record.get("rerun_time_to_target") or () if t is not None]
    if algorithm is None or not steps:
        return None
    median_steps = float(statistics.median(steps))
    per_step = entry.get("calibration_seconds_per_step")
    if times:
        return Reference(algorithm, median_steps, float(statistics.median(times)), True)
    seconds = median_steps * per_step if isinstance(per_step, int | float) else None
    return Reference(algorithm, median_steps, seconds, False)


def reference(workload: str, size: str) -> Reference | None:
    """The committed reference of ``workload`` at ``size`` (None where there is none)."""
    from optbench.workloads.base import targets_table

    return reference_from_entry(targets_table(workload).get(size, {}))


def _outcome(result: Any) -> tuple[str, str, str]:
    """(result word, time to target, steps) of one trial."""
    if result.status == "failed":
        return "FAILED", "-", "-"
    if result.reached_target:
        return "reached", f"{result.time_to_target:.1f}", str(result.steps_to_target)
    return "not reached", "-", f"({result.global_step})"


def _versus(result: Any, ref: Reference | None) -> str:
    """The trial's time over the reference's (``0.75x``), where both are known."""
    if ref is None or not ref.seconds or result.status == "failed" or not result.reached_target:
        return ""
    return f"{result.time_to_target / ref.seconds:.2f}x"


def summary_rows(done: Sequence[tuple[str, str, Any]]) -> list[list[str]]:
    """One row per (workload name, size, TrialResult): workload, result, time to target (s),
    steps, flags, reference, time over the reference's."""
    rows = []
    for name, size, result in done:
        ref = reference(name, size)
        word, seconds, steps = _outcome(result)
        rows.append(
            [
                name,
                word,
                seconds,
                steps,
                str(len(result.flags)) if result.flags else "",
                ref.describe() if ref else NO_REFERENCE,
                _versus(result, ref),
            ]
        )
    return rows


HEADER = ["workload", "result", "time (s)", "steps", "flags", "reference", "vs reference"]


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    right = {2, 3, 4, 6}
    return [
        "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in [HEADER, *rows]
    ]


def format_run_summary(submission: str, ruleset: str, done: Sequence[tuple[str, str, Any]]) -> str:
    """The summary a person reads at the end of ``optbench run``."""
    reached = sum(1 for _, _, r in done if r.status != "failed" and r.reached_target)
    failed = sum(1 for _, _, r in done if r.status == "failed")
    flagged = sum(1 for _, _, r in done if r.flags)
    from optbench.presets import RULESET_TITLES

    head = (
        f"Summary: {submission}, {RULESET_TITLES[ruleset]}: {reached} of {len(done)} targets "
        "reached"
        + (f", {failed} trial(s) failed" if failed else "")
        + (f", {flagged} flagged (see the FLAG lines)" if flagged else "")
    )
    notes = [
        "time: submission time at the first eval reaching the target; (steps): run without "
        "reaching it",
        "reference: the tuned baseline whose re-runs set the target (committed targets file),",
        "  median steps to target; ~seconds = those steps x seconds per step at calibration",
    ]
    return "\n".join(["", head, *_table(summary_rows(done)), *notes])


def write_run_report(experiment: str | os.PathLike[str]) -> str:
    """Score ``experiment`` and write its HTML report(s) into it; the line saying where (or why
    not: a report is a convenience and never fails a run)."""
    from optbench import scoring
    from optbench.report import write_report

    experiment = Path(experiment)
    try:
        boards = scoring.score_tree(experiment, n_bootstrap=0)
        paths = []
        for board in boards:
            name = "report.html" if len(boards) == 1 else f"report-{board.ruleset}.html"
            paths.append(write_report(board, experiment / name, f"optbench run: {experiment}"))
    except UserError as exc:
        return f"report not written: {exc}"
    return "report: " + ", ".join(str(p) for p in paths)
