"""AlgoPerf's target-setting procedure, scaled down, as code anyone can re-run.

AlgoPerf: tune four standard algorithms (AdamW, NadamW, Nesterov, heavy-ball momentum) with many
trials, re-run the best configuration many times, take the median best validation value as the
target, and derive the budget from the target-setting runs. Here, per workload and size:

1. **Search**: ``trials`` quasi-random points of each algorithm's search space, each trained for a
   fixed ``search_budget_sec`` of submission time (targets switched off, so no run stops early),
   with the LR schedule's ``step_hint`` set to the steps that budget allows.
2. **Re-runs**: the configuration with the best validation metric over all algorithms is re-run
   with ``reruns`` new seeds.
3. **Targets**: validation (test) target = median over the re-runs of each run's best validation
   (test) value.
4. **Budget**: the median re-run's time-to-target divided by 0.75 (the target-setting run needs at
   most 75% of the budget), rounded up to 5 s. ``min_steps_to_target`` (the plausibility floor of
   :mod:`optbench.integrity`) is a quarter of the fewest steps any re-run needed.

Everything (points, seeds, per-run results, machine, date, speed probe) is recorded with the
targets so they can be audited and re-derived on another machine.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from pathlib import Path
from typing import Any

from optbench import integrity, results, tuning
from optbench.algorithms.recipe import search_space_file
from optbench.search_space import load as load_space
from optbench.workloads import get_workload
from optbench.workloads.base import Settings, settings_for

TARGET_SETTERS = ("adamw", "nadamw", "nesterov", "momentum")


def _best(rows: list[dict[str, float]], key: str, higher: bool) -> float:
    values = [r[key] for r in rows if key in r and math.isfinite(r[key])]
    if not values:
        return -math.inf if higher else math.inf
    return max(values) if higher else min(values)


def _first_reaching(rows, key, target, higher) -> tuple[float, int] | None:
    for r in rows:
        value = r.get(key, math.nan)
        if (value >= target) if higher else (value <= target):
            return r["score"], int(r["global_step"])
    return None


def _probe_step_hint(name: str, size: str, options: dict, settings: Settings) -> int:
    """Steps of NadamW that fit in ``budget`` seconds, from a short timed probe."""
    from optbench.runner import run_trial
    from optbench.submission import load_submission

    unlimited = dataclasses.replace(settings, max_allowed_runtime_sec=math.inf)
    workload = get_workload(name, size, settings=unlimited, **options)
    result = run_trial(
        workload, load_submission("nadamw"), max_steps=40, probe_speed=False, eval_every_steps=10
    )
    rows = {int(r["global_step"]): r["score"] for r in result.eval_rows}
    seconds_per_step = (rows[40] - rows[10]) / 30  # after warm-up
    return max(int(settings.max_allowed_runtime_sec / seconds_per_step), 10)


def set_targets(
    name: str,
    size: str,
    *,
    experiment_dir: Path,
    executor: Any,
    search_budget_sec: float,
    trials: int = 3,
    reruns: int = 3,
    algorithms: tuple[str, ...] = TARGET_SETTERS,
    seed: int = 0,
    workload_options: dict[str, Any] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the procedure for one workload at one size; returns the targets-file entry."""
    options = dict(workload_options or {})
    current = settings_for(name, size)
    higher = get_workload(name, size, **options).metric_higher_is_better
    unreachable = math.inf if higher else -math.inf
    search_settings = Settings(
        validation_target_value=unreachable,
        test_target_value=unreachable,
        max_allowed_runtime_sec=search_budget_sec,
        eval_period_time_sec=current.eval_period_time_sec,
        step_hint=1,
        source="target-setting search",
    )
    step_hint = _probe_step_hint(name, size, options, search_settings)
    search_settings = dataclasses.replace(search_settings, step_hint=step_hint)
    options_with = {**options, "settings": search_settings}
    rules = tuning.Ruleset("external", studies=1, trials=trials, budget_scale=1.0)
    metric = get_workload(name, size, settings=search_settings, **options).target_metric_name
    key, test_key = f"validation/{metric}", f"test/{metric}"

    search_specs = []
    for algorithm in algorithms:
        search_specs += tuning.plan(
            submission=algorithm,
            submission_name=algorithm,
            workloads=[name],
            size=size,
            rules=rules,
            space=load_space(search_space_file(algorithm)),
            experiment_dir=experiment_dir / "search",
            base_seed=seed,
            workload_options=options_with,
        )
    tuning.run_plan(search_specs, executor, progress=progress)
    searched = []
    for spec in search_specs:
        rows = _rows(spec)
        searched.append(
            {
                "algorithm": spec.submission_name,
                "trial": spec.trial,
                "hyperparameters": spec.hyperparameters,
                "seed": spec.seed,
                "best_validation": _best(rows, key, higher),
            }
        )
    pick = (max if higher else min)(searched, key=lambda s: s["best_validation"])

    rerun_specs = [
        dataclasses.replace(
            spec,
            study=k + 1,
            seed=tuning.trial_seed(seed + 1, name, k + 1, 1),
            trial_dir=str(
                results.trial_dir(experiment_dir / "reruns", pick["algorithm"], k + 1, name, 1)
            ),
        )
        for k, spec in enumerate(
            [
                s
                for s in search_specs
                if s.submission_name == pick["algorithm"] and s.trial == pick["trial"]
            ]
            * reruns
        )
    ]
    tuning.run_plan(rerun_specs, executor, progress=progress)
    rerun_rows = [_rows(spec) for spec in rerun_specs]
    bests = [_best(rows, key, higher) for rows in rerun_rows]
    test_bests = [_best(rows, test_key, higher) for rows in rerun_rows]
    target = statistics.median(bests)
    test_target = statistics.median(test_bests)
    reached = [_first_reaching(rows, key, target, higher) for rows in rerun_rows]
    times = sorted(r[0] for r in reached if r is not None)
    steps = [r[1] for r in reached if r is not None]
    median_time = statistics.median(times)
    budget = 5.0 * math.ceil(median_time / 0.75 / 5.0)
    return {
        "validation_target_value": round(target, 6),
        "test_target_value": round(test_target, 6),
        "max_allowed_runtime_sec": budget,
        "eval_period_time_sec": current.eval_period_time_sec,
        "step_hint": step_hint,
        "min_steps_to_target": max(1, min(steps) // 4),
        "calibration_gflops": round(integrity.speed_probe(), 1),
        "source": (
            f"optbench targets (target_setting.py): {len(algorithms)} algorithms x {trials} "
            f"trials of {search_budget_sec:g} s, {reruns} re-runs of the best; "
            f"{time.strftime('%Y-%m-%d')} on {results.environment()['processor']} "
            f"({results.environment()['cpu_count']} cores)"
        ),
        "target_setting": {
            "algorithms": list(algorithms),
            "search": searched,
            "picked": pick,
            "rerun_seeds": [s.seed for s in rerun_specs],
            "rerun_best_validation": bests,
            "rerun_best_test": test_bests,
            "rerun_time_to_target": [r[0] if r else None for r in reached],
            "rerun_steps_to_target": [r[1] if r else None for r in reached],
            "environment": results.environment(),
        },
    }


def _rows(spec: tuning.TrialSpec) -> list[dict[str, float]]:
    path = Path(spec.trial_dir) / "eval_measurements.csv"
    return results.read_eval_measurements(path) if path.exists() else []
