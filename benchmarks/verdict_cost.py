"""Where a tuning experiment's time went, from its trial records (issue 16).

    python benchmarks/verdict_cost.py EXPERIMENT_DIR [--wall SEC] [--slots N]

Per workload: trials, targets reached, time-to-target (mean and CV over the trials that reached
it), training steps per second of submission time (the slot's speed, whatever the budgets), and
the trials' wall seconds split into set-up (data, model, worker, speed probe), submission
time, evaluation, the rest of the loop (checkpoints, logging, supervision) and finish (end probe),
from each ``result.json``'s ``wall_sec`` and its last eval row. With ``--wall`` (the command's own
wall time, e.g. from ``slots_and_cost.sh``'s walls.txt) and ``--slots`` (trials at once), the
remainder, slots x wall minus the trials' wall, is process start-up, imports and idle slots.

For an experiment run with ``--no-capping`` it also prints what exact capping
(:mod:`optbench.capping`) would have cut: each trial stopped at the first eval row where it has
made as many evals as, and spent as much submission time as, the best earlier trial of its study.
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

from optbench import capping, results

PHASES = ("setup", "submission", "eval", "other loop", "finish")


def trial_costs(trial: Path) -> dict[str, float]:
    """Wall seconds of one trial by phase (see the module docstring)."""
    summary = results.read_json(trial / "result.json")
    rows = results.read_eval_measurements(trial / "eval_measurements.csv")
    wall = summary["wall_sec"]
    evals = rows[-1]["accumulated_eval_time"] if rows else 0.0
    return {
        "setup": wall["setup"],
        "submission": summary["submission_time"],
        "eval": evals,
        "other loop": wall["loop"] - summary["submission_time"] - evals,
        "finish": wall["finish"],
    }


def capping_saving(trial: Path, earlier: list[Path]) -> float:
    """Loop wall seconds that capping would have cut from an uncapped ``trial``."""
    cap = capping.best_of(hit for p in earlier if (hit := capping.reached_by(p)) is not None)
    if cap is None:
        return 0.0
    rows = results.read_eval_measurements(trial / "eval_measurements.csv")
    for index, row in enumerate(rows):
        if index >= cap.evals and row["accumulated_submission_time"] >= cap.sec:
            end = results.read_json(trial / "result.json")["wall_sec"]["loop"]
            return max(0.0, end - row["total_duration"])
    return 0.0


def earlier(a: Path, b: Path) -> bool:
    """Whether trial ``a`` has a lower number than trial ``b`` (sequential runs start it first)."""
    return capping.trial_number(a) < capping.trial_number(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", type=Path)
    parser.add_argument("--wall", type=float, help="the command's wall seconds")
    parser.add_argument("--slots", type=int, default=1, help="trials run at once")
    args = parser.parse_args()

    by_workload: dict[str, list[Path]] = defaultdict(list)
    for record in sorted(args.experiment.rglob("result.json")):
        by_workload[record.parent.parent.name.removesuffix("_pytorch")].append(record.parent)
    header = f"{'workload':<17} {'trials':>6} {'reached':>7} {'ttt mean':>9} {'ttt CV':>7} "
    header += f"{'steps/s':>7} "
    print(header + " ".join(f"{p:>11}" for p in PHASES) + f" {'capped':>6} {'cap saves':>9}")
    totals: dict[str, float] = defaultdict(float)
    flags = 0
    for workload, trials in sorted(by_workload.items()):
        summaries = [results.read_json(t / "result.json") for t in trials]
        ttts = [s["time_to_target"] for s in summaries if s["reached_target"]]
        costs = [trial_costs(t) for t in trials]
        phase = {p: sum(c[p] for c in costs) for p in PHASES}
        saves = sum(
            capping_saving(t, [e for e in trials if e.parent == t.parent and earlier(e, t)])
            for t in trials
        )
        capped = sum(s["stop_reason"] == "capped" for s in summaries)
        flags += sum(bool(s["flags"]) for s in summaries)
        cv = statistics.stdev(ttts) / statistics.mean(ttts) if len(ttts) > 1 else float("nan")
        mean = statistics.mean(ttts) if ttts else float("nan")
        speed = sum(s["global_step"] for s in summaries) / sum(
            s["submission_time"] for s in summaries
        )
        line = (
            f"{workload:<17} {len(trials):>6} {len(ttts):>7} {mean:>9.1f} {cv:>7.1%} {speed:>7.2f} "
        )
        print(line + " ".join(f"{phase[p]:>11.1f}" for p in PHASES) + f" {capped:>6} {saves:>9.1f}")
        for p in PHASES:
            totals[p] += phase[p]
        totals["saves"] += saves
    in_trials = sum(totals[p] for p in PHASES)
    print(
        f"trials' wall {in_trials:.0f} s: "
        + ", ".join(f"{p} {totals[p]:.0f} s ({totals[p] / in_trials:.0%})" for p in PHASES)
    )
    print(f"trials with flags: {flags}; capping would cut {totals['saves']:.0f} s of loop wall")
    if args.wall:
        rest = args.slots * args.wall - in_trials
        print(
            f"command wall {args.wall:.0f} s x {args.slots} slot(s): outside trials "
            f"(start-up, imports, idle slots) {rest:.0f} s ({rest / (args.slots * args.wall):.0%})"
        )


if __name__ == "__main__":
    main()
