"""AlgoPerf's target-setting procedure, scaled down, as code anyone can re-run.

AlgoPerf: tune four standard algorithms (AdamW, NadamW, Nesterov, heavy-ball momentum), re-run the
best configuration many times, take the median best validation value as the target, and derive the
budget from the target-setting runs; a workload's ``step_hint`` is the length of those runs. Here,
per workload and size:

1. **Search**: for each algorithm, its self-tuning point (``include_defaults``) and ``trials``
   quasi-random points of its search space, each trained for exactly ``steps`` steps (targets
   switched off, the LR schedule's ``step_hint`` = ``steps``), evaluated every ``steps / evals``.
2. **Re-runs**: the configuration with the best validation metric over all algorithms is re-run
   with ``reruns`` new seeds.
3. **Targets**: validation (test) target = median over the re-runs of each run's best validation
   (test) value. ``min_steps_to_target`` (the plausibility floor of :mod:`optbench.integrity`)
   is a quarter of the fewest steps any re-run needed.
4. **Budget** (:func:`calibrate_budget`): the most steps a re-run needed to reach the target,
   times this machine's seconds per step of the picked configuration (median of three short
   timed runs), divided by 0.75 (the target-setting run needs at most 75% of the budget), rounded
   up to 5 s.

A workload variant goes through steps 1-3 on its own (AlgoPerf: "the same target-setting
procedure") for its base's ``step_hint`` steps, and keeps its base's budget, step hint and eval
period: its entry holds neither.

Steps 1-3 count steps, not seconds, so the targets do not depend on how fast or how busy the
machine is (runs may share it); only step 4 needs a quiet machine, and it can be re-done alone on
another machine (``optbench targets --budgets-only``). Everything (points, seeds, per-run
results, machine, date, speed probe) is recorded with the targets so they can be audited.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import statistics
import time
from pathlib import Path
from typing import Any

from optbench import integrity, results, tuning
from optbench.algorithms.recipe import search_space_file
from optbench.errors import UserError
from optbench.search_space import as_hyperparameters
from optbench.search_space import load as load_space
from optbench.workloads import get_workload, workload_class
from optbench.workloads.base import BASE_BUDGET_FIELDS, Settings, settings_for, targets_table

TARGET_SETTERS = ("adamw", "nadamw", "nesterov", "momentum")
BUDGET_FRACTION = 0.75  # the target-setting run needs at most this share of the budget
CALIBRATION_FIELDS = ("calibration_gflops", "calibration_seconds_per_step")  # of the budget


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


def _self_tuning_point(algorithm: str) -> dict[str, Any]:
    return dict(importlib.import_module(f"optbench.algorithms.{algorithm}").SELF_TUNING)


def set_targets(
    name: str,
    size: str,
    *,
    experiment_dir: Path,
    executor: Any,
    steps: int | None = None,
    evals: int = 16,
    trials: int = 1,
    include_defaults: bool = True,
    reruns: int = 3,
    algorithms: tuple[str, ...] = TARGET_SETTERS,
    seed: int = 0,
    workload_options: dict[str, Any] | None = None,
    budget: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the procedure for one workload at one size; returns the targets-file entry.

    ``steps`` defaults to the workload's committed ``step_hint``. With ``budget=False`` the
    budget is left as committed (calibrate it later, on a quiet machine, with
    :func:`calibrate_budget`). A variant trains its base's ``step_hint`` steps and its entry
    leaves out the base's fields (:data:`~optbench.workloads.base.BASE_BUDGET_FIELDS`).
    """
    options = dict(workload_options or {})
    current = settings_for(name, size)
    probe = get_workload(name, size, **options)
    base = probe.base_name
    if base is not None and steps not in (None, current.step_hint):
        raise UserError(
            f"{name} is a variant of {base}: it trains its base's step_hint "
            f"({current.step_hint} steps at size {size}); leave out --steps"
        )
    steps = steps or current.step_hint
    higher = probe.metric_higher_is_better
    unreachable = math.inf if higher else -math.inf
    search_settings = Settings(
        validation_target_value=unreachable,
        test_target_value=unreachable,
        max_allowed_runtime_sec=math.inf,
        eval_period_time_sec=current.eval_period_time_sec,
        step_hint=steps,
        source="target-setting search",
    )
    options_with = {**options, "settings": search_settings}
    key, test_key = f"validation/{probe.target_metric_name}", f"test/{probe.target_metric_name}"
    common = dict(
        workloads=[name],
        size=size,
        base_seed=seed,
        workload_options=options_with,
        max_steps=steps,
        eval_every_steps=max(1, steps // evals),
        checkpoint_every_sec=30.0,  # a killed `optbench targets` resumes mid-run
    )

    search_specs: list[tuning.TrialSpec] = []
    for algorithm in algorithms:

        def algorithm_plan(n: int, algorithm: str = algorithm) -> list[tuning.TrialSpec]:
            return tuning.plan(
                submission=algorithm,
                submission_name=algorithm,
                rules=tuning.Ruleset("external", studies=1, trials=n, budget_scale=1.0),
                space=load_space(search_space_file(algorithm)),
                experiment_dir=experiment_dir / "search",
                **common,
            )

        specs = algorithm_plan(trials) if trials else []
        if include_defaults:  # the self-tuning point, as trial 0 of the same study
            specs.insert(
                0,
                dataclasses.replace(
                    algorithm_plan(1)[0],
                    trial=0,
                    seed=tuning.trial_seed(seed, name, 1, 0),
                    hyperparameters=_self_tuning_point(algorithm),
                    trial_dir=str(
                        results.trial_dir(experiment_dir / "search", algorithm, 1, name, 0)
                    ),
                ),
            )
        search_specs += specs
    tuning.run_plan(search_specs, executor, progress=progress)
    searched = [
        {
            "algorithm": spec.submission_name,
            "trial": spec.trial,
            "hyperparameters": spec.hyperparameters,
            "seed": spec.seed,
            "best_validation": _best(_rows(spec), key, higher),
        }
        for spec in search_specs
    ]
    pick = (max if higher else min)(searched, key=lambda s: s["best_validation"])
    picked_spec = next(
        s
        for s in search_specs
        if s.submission_name == pick["algorithm"] and s.trial == pick["trial"]
    )
    rerun_specs = [
        dataclasses.replace(
            picked_spec,
            study=k,
            seed=tuning.trial_seed(seed + 1, name, k, 1),
            trial_dir=str(
                results.trial_dir(experiment_dir / "reruns", pick["algorithm"], k, name, 1)
            ),
        )
        for k in range(1, reruns + 1)
    ]
    tuning.run_plan(rerun_specs, executor, progress=progress)
    rerun_rows = [_rows(spec) for spec in rerun_specs]
    bests = [_best(rows, key, higher) for rows in rerun_rows]
    test_bests = [_best(rows, test_key, higher) for rows in rerun_rows]
    target = statistics.median(bests)
    reached = [_first_reaching(rows, key, target, higher) for rows in rerun_rows]
    reaching_steps = [r[1] for r in reached if r is not None]
    environment = results.environment()
    entry = {
        "validation_target_value": round(target, 6),
        "test_target_value": round(statistics.median(test_bests), 6),
        "max_allowed_runtime_sec": current.max_allowed_runtime_sec,
        "eval_period_time_sec": current.eval_period_time_sec,
        "step_hint": steps,
        "min_steps_to_target": max(1, min(reaching_steps) // 4),
        "source": (
            f"optbench targets (target_setting.py): {len(algorithms)} algorithms x "
            f"({'self-tuning point + ' if include_defaults else ''}{trials} quasi-random "
            f"point(s)) of {steps} steps, {reruns} re-runs of the best; "
            f"{time.strftime('%Y-%m-%d')} on {environment['processor']} "
            f"({environment['cpu_count']} cores)"
        ),
        "target_setting": {
            "algorithms": list(algorithms),
            "steps": steps,
            "eval_every_steps": common["eval_every_steps"],
            "search": searched,
            "picked": pick,
            "rerun_seeds": [s.seed for s in rerun_specs],
            "rerun_best_validation": bests,
            "rerun_best_test": test_bests,
            "rerun_steps_to_target": [r[1] if r else None for r in reached],
            "steps_needed": max(reaching_steps),
            "environment": environment,
        },
    }
    if base is not None:
        entry = {k: v for k, v in entry.items() if k not in BASE_BUDGET_FIELDS}
        entry["source"] += f"; budget, step hint and eval period: {base}'s"
    elif budget:
        entry.update(calibrate_budget(name, size, entry, workload_options=options))
    else:  # the committed budget stays, and with it the speed it was timed at
        committed = targets_table(name).get(size, {})
        entry.update({k: committed[k] for k in CALIBRATION_FIELDS if k in committed})
    return entry


def seconds_per_step(
    name: str,
    size: str,
    algorithm: str,
    hyperparameters: dict[str, Any] | None,
    *,
    workload_options: dict[str, Any] | None = None,
    steps: int = 30,
    repeats: int = 3,
) -> float:
    """Median over ``repeats`` short runs of the submission time per step after the first 10
    (which include warm-up), of ``algorithm`` at ``hyperparameters`` on this machine."""
    from optbench.runner import run_trial
    from optbench.submission import load_submission

    current = settings_for(name, size)
    unlimited = dataclasses.replace(current, max_allowed_runtime_sec=math.inf)
    hp = as_hyperparameters(hyperparameters) if hyperparameters is not None else None
    measured = []
    for _ in range(repeats):
        workload = get_workload(name, size, settings=unlimited, **(workload_options or {}))
        result = run_trial(
            workload,
            load_submission(algorithm),
            hyperparameters=hp,
            max_steps=steps,
            probe_speed=False,
            eval_every_steps=10,
        )
        score = {int(r["global_step"]): r["score"] for r in result.eval_rows}
        measured.append((score[steps] - score[10]) / (steps - 10))
    return statistics.median(measured)


def calibrate_budget(
    name: str,
    size: str,
    entry: dict[str, Any],
    *,
    workload_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Budget fields for a targets entry from its recorded target-setting runs, timed here."""
    record = entry["target_setting"]
    pick = record["picked"]
    per_step = seconds_per_step(
        name, size, pick["algorithm"], pick["hyperparameters"], workload_options=workload_options
    )
    seconds = record["steps_needed"] * per_step
    return {
        "max_allowed_runtime_sec": 5.0 * math.ceil(seconds / BUDGET_FRACTION / 5.0),
        "calibration_gflops": round(integrity.speed_probe(), 1),
        "calibration_seconds_per_step": round(per_step, 5),
    }


def committed_entry(name: str, size: str) -> dict[str, Any]:
    """The committed targets entry of ``name`` at ``size``, with its target-setting record."""
    base = workload_class(name).base_name
    if base is not None:
        raise UserError(f"{name} is a variant: it has {base}'s budget; time {base} instead")
    entry = targets_table(name).get(size)
    if not entry or "steps_needed" not in entry.get("target_setting", {}):
        raise UserError(
            f"{name} ({size}) has no recorded step-based target-setting runs to time: "
            "run `optbench targets` for it first"
        )
    return dict(entry)


def _rows(spec: tuning.TrialSpec) -> list[dict[str, float]]:
    path = Path(spec.trial_dir) / "eval_measurements.csv"
    return results.read_eval_measurements(path) if path.exists() else []
