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
   is a quarter of the fewest steps any re-run needed; ``train_gap`` (its consistency check) is
   set by :func:`train_gap` from how far each re-run's train metric lagged the target at the eval
   where its validation metric first reached it.
4. **Budget** (:func:`calibrate_budget`): the most steps a re-run needed to reach the target,
   times this machine's seconds per step of the picked configuration (median of three short
   timed runs), divided by 0.75 (the target-setting run needs at most 75% of the budget), rounded
   up to 5 s.

A workload variant goes through steps 1-3 on its own (AlgoPerf: "the same target-setting
procedure") for its base's ``step_hint`` steps, and keeps its base's budget, step hint and eval
period: its entry holds neither.

Steps 1-3 count steps, not seconds, so the targets do not depend on how fast or how busy the
machine is (runs may share it); only step 4 needs a quiet machine, and it can be re-done alone on
another machine (``optbench targets --budgets-only``). :func:`measure_train_gap` repeats only the
re-runs of a committed entry (its picked configuration and recorded seeds) to set its
``train_gap`` and check that the re-runs still give the committed targets
(``optbench targets --reruns-only``). Everything (points, seeds, per-run results, machine, date,
speed probe) is recorded with the targets so they can be audited.
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
from optbench.workloads.targets import BASE_BUDGET_FIELDS, Settings, settings_for, targets_table

TARGET_SETTERS = ("adamw", "nadamw", "nesterov", "momentum")
BUDGET_FRACTION = 0.75  # the target-setting run needs at most this share of the budget
CALIBRATION_FIELDS = ("calibration_gflops", "calibration_seconds_per_step")  # of the budget
TARGET_DIGITS = 6  # decimals of a committed target
TRAIN_GAP_MARGIN = 1.5
TRAIN_GAP_EPSILON = 0.01


def _best(rows: list[dict[str, float]], key: str, higher: bool) -> float:
    values = [r[key] for r in rows if key in r and math.isfinite(r[key])]
    if not values:
        return -math.inf if higher else math.inf
    return max(values) if higher else min(values)


def _reaches(value: float, target: float, higher: bool) -> bool:
    return value >= target if higher else value <= target


def _first_reaching(rows, key, target, higher) -> dict[str, float] | None:
    """The first eval row whose ``key`` reaches ``target``, or None."""
    return next((r for r in rows if _reaches(r.get(key, math.nan), target, higher)), None)


def round_target(value: float, higher: bool, digits: int = TARGET_DIGITS) -> float:
    """``value`` rounded to ``digits`` decimals towards the easier side (down if higher is
    better, up otherwise), so that the re-run whose best value is the median still reaches the
    rounded target: a WER of 32 errors in 1,531 words (0.0209014) must meet a target set from
    it, which nearest rounding (0.020901) would not."""
    rounded = round(value, digits)
    if (rounded > value) if higher else (rounded < value):
        rounded = round(rounded + (-1.0 if higher else 1.0) * 10.0**-digits, digits)
    return rounded


def train_lag_at_target(
    rows: list[dict[str, float]], metric: str, target: float, higher: bool
) -> float | None:
    """How far the train metric lags ``target`` at the first eval whose validation metric reaches
    it: ``target - train`` if higher is better, else ``train - target`` (positive: train is worse
    than the target), as :func:`optbench.integrity.plausibility_flags` measures it. None if the
    run never reaches the target or that eval has no finite train metric."""
    row = _first_reaching(rows, f"validation/{metric}", target, higher)
    train = None if row is None else row.get(f"train/{metric}")
    if train is None or not math.isfinite(train):
        return None
    return (target - train) if higher else (train - target)


def train_gap(lags: list[float | None]) -> float | None:
    """The ``train_gap`` of a workload from its re-runs' train lags at target (None: no re-run
    reached the target).

    ``TRAIN_GAP_MARGIN`` times the worst lag (counted as 0 when every re-run's train metric was at
    or past the target), plus ``TRAIN_GAP_EPSILON``. The margin lets another algorithm, which may
    regularise more than the picked one, fit the train data half as much again less at the
    moment it reaches the target; the epsilon, in the metric's own units (one point of accuracy,
    SSIM, mAP or WER; 0.01 nats of loss), covers the eval-train metric's sampling noise when the
    re-runs fit train past the target. A validation leak (training on validation data) shows as a
    train lag well beyond either.
    """
    measured = [lag for lag in lags if lag is not None]
    if not measured:
        return None
    return round(TRAIN_GAP_MARGIN * max(0.0, *measured) + TRAIN_GAP_EPSILON, 6)


def rerun_summary(
    rows_per_run: list[list[dict[str, float]]],
    metric: str,
    higher: bool,
    target: float | None = None,
) -> dict[str, Any]:
    """Step 3 over the re-runs' eval rows: each run's best validation and test values, their
    medians (the targets), and, at ``target`` (default: the median validation best), the steps
    and train lags where each run first reaches it."""
    key = f"validation/{metric}"
    bests = [_best(rows, key, higher) for rows in rows_per_run]
    test_bests = [_best(rows, f"test/{metric}", higher) for rows in rows_per_run]
    target = statistics.median(bests) if target is None else target
    reached = [_first_reaching(rows, key, target, higher) for rows in rows_per_run]
    lags = [train_lag_at_target(rows, metric, target, higher) for rows in rows_per_run]
    return {
        "validation_target_value": round_target(statistics.median(bests), higher),
        "test_target_value": round_target(statistics.median(test_bests), higher),
        "rerun_best_validation": bests,
        "rerun_best_test": test_bests,
        "rerun_steps_to_target": [None if r is None else int(r["global_step"]) for r in reached],
        "rerun_train_lag_at_target": lags,
        "train_gap": train_gap(lags),
    }


def same_targets(got: dict[str, float], expected: dict[str, float | None]) -> bool:
    """Whether recomputed targets equal committed ones up to the last decimal (a committed
    target may have been rounded to the nearest value instead of towards the easier side)."""
    return all(
        expected[k] is not None and abs(got[k] - expected[k]) <= 1.5 * 10.0**-TARGET_DIGITS
        for k in got
    )


def _self_tuning_point(algorithm: str) -> dict[str, Any]:
    return dict(importlib.import_module(f"optbench.algorithms.{algorithm}").SELF_TUNING)


def _plan_options(
    name: str,
    size: str,
    steps: int,
    eval_every_steps: int,
    seed: int,
    options: dict[str, Any],
    higher: bool,
) -> dict[str, Any]:
    """The options of every target-setting trial: exactly ``steps`` steps, the LR schedule's
    ``step_hint`` = ``steps``, targets and time limit switched off."""
    unreachable = math.inf if higher else -math.inf
    search_settings = Settings(
        validation_target_value=unreachable,
        test_target_value=unreachable,
        max_allowed_runtime_sec=math.inf,
        eval_period_time_sec=settings_for(name, size).eval_period_time_sec,
        step_hint=steps,
        source="target-setting search",
    )
    return dict(
        workloads=[name],
        size=size,
        base_seed=seed,
        workload_options={**options, "settings": search_settings},
        max_steps=steps,
        eval_every_steps=eval_every_steps,
        checkpoint_every_sec=30.0,  # a killed `optbench targets` resumes mid-run
    )


def _algorithm_plan(
    algorithm: str, n: int, common: dict[str, Any], experiment_dir: Path
) -> list[tuning.TrialSpec]:
    return tuning.plan(
        submission=algorithm,
        submission_name=algorithm,
        rules=tuning.Ruleset("external", studies=1, trials=n, budget_scale=1.0),
        space=load_space(search_space_file(algorithm)),
        experiment_dir=experiment_dir / "search",
        **common,
    )


def _search_specs(
    name: str,
    algorithms: tuple[str, ...],
    trials: int,
    include_defaults: bool,
    seed: int,
    common: dict[str, Any],
    experiment_dir: Path,
) -> list[tuning.TrialSpec]:
    """Step 1's trials: per algorithm, its self-tuning point as trial 0 (``include_defaults``)
    and ``trials`` quasi-random points of its search space."""
    specs: list[tuning.TrialSpec] = []
    for algorithm in algorithms:
        mine = _algorithm_plan(algorithm, trials, common, experiment_dir) if trials else []
        if include_defaults:
            mine.insert(
                0,
                dataclasses.replace(
                    _algorithm_plan(algorithm, 1, common, experiment_dir)[0],
                    trial=0,
                    seed=tuning.trial_seed(seed, name, 1, 0),
                    hyperparameters=_self_tuning_point(algorithm),
                    trial_dir=str(
                        results.trial_dir(experiment_dir / "search", algorithm, 1, name, 0)
                    ),
                ),
            )
        specs += mine
    return specs


def _rerun_specs(
    picked: tuning.TrialSpec, name: str, seeds: list[int], experiment_dir: Path
) -> list[tuning.TrialSpec]:
    """Step 2's trials: the picked configuration once per seed, as studies 1, 2, ..."""
    return [
        dataclasses.replace(
            picked,
            study=k,
            seed=s,
            trial_dir=str(
                results.trial_dir(experiment_dir / "reruns", picked.submission_name, k, name, 1)
            ),
        )
        for k, s in enumerate(seeds, 1)
    ]


def _run_reruns(specs: list[tuning.TrialSpec], executor: Any, progress: bool) -> list[list]:
    """The re-runs' eval rows; a one-line error if one did not complete (a target from a broken
    curve would be silently wrong)."""
    tuning.run_plan(specs, executor, progress=progress, capping=False)  # whole curves
    for spec in specs:
        result = Path(spec.trial_dir) / "result.json"
        record = results.read_json(result) if result.exists() else {"status": "missing"}
        if record.get("status") != "completed":
            raise UserError(
                f"re-run {spec.trial_dir} did not complete ({record.get('status')}: "
                f"{str(record.get('failure'))[:200]}); remove that folder and run the same "
                "command again (the completed re-runs are kept)"
            )
    return [_rows(spec) for spec in specs]


def _record(spec: tuning.TrialSpec, best: float) -> dict[str, Any]:
    return {
        "algorithm": spec.submission_name,
        "trial": spec.trial,
        "hyperparameters": spec.hyperparameters,
        "seed": spec.seed,
        "best_validation": best,
    }


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
    leaves out the base's fields (:data:`~optbench.workloads.targets.BASE_BUDGET_FIELDS`).
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
    higher, metric = probe.metric_higher_is_better, probe.target_metric_name
    common = _plan_options(name, size, steps, max(1, steps // evals), seed, options, higher)
    search_specs = _search_specs(
        name, algorithms, trials, include_defaults, seed, common, experiment_dir
    )
    tuning.run_plan(search_specs, executor, progress=progress, capping=False)  # whole curves
    searched = [
        _record(spec, _best(_rows(spec), f"validation/{metric}", higher)) for spec in search_specs
    ]
    i_pick = (max if higher else min)(
        range(len(searched)), key=lambda i: searched[i]["best_validation"]
    )
    seeds = [tuning.trial_seed(seed + 1, name, k, 1) for k in range(1, reruns + 1)]
    rerun_specs = _rerun_specs(search_specs[i_pick], name, seeds, experiment_dir)
    summary = rerun_summary(_run_reruns(rerun_specs, executor, progress), metric, higher)
    record = {
        "algorithms": list(algorithms),
        "steps": steps,
        "eval_every_steps": common["eval_every_steps"],
        "search": searched,
        "picked": searched[i_pick],
        "rerun_seeds": seeds,
        **{k: v for k, v in summary.items() if k.startswith("rerun_")},
    }
    entry = _entry(current, summary, record, include_defaults, trials, reruns)
    if base is not None:
        entry = {k: v for k, v in entry.items() if k not in BASE_BUDGET_FIELDS}
        entry["source"] += f"; budget, step hint and eval period: {base}'s"
    elif budget:
        entry.update(calibrate_budget(name, size, entry, workload_options=options))
    else:  # the committed budget stays, and with it the speed it was timed at
        committed = targets_table(name).get(size, {})
        entry.update({k: committed[k] for k in CALIBRATION_FIELDS if k in committed})
    return entry


def _entry(
    current: Settings,
    summary: dict[str, Any],
    record: dict[str, Any],
    include_defaults: bool,
    trials: int,
    reruns: int,
) -> dict[str, Any]:
    """A targets-file entry from step 3's ``summary`` and the procedure's ``record``, the
    committed budget kept (step 4 replaces it)."""
    reaching = [s for s in record["rerun_steps_to_target"] if s is not None]
    environment = results.environment()
    steps = record["steps"]
    return {
        "validation_target_value": summary["validation_target_value"],
        "test_target_value": summary["test_target_value"],
        "max_allowed_runtime_sec": current.max_allowed_runtime_sec,
        "eval_period_time_sec": current.eval_period_time_sec,
        "step_hint": steps,
        "min_steps_to_target": max(1, min(reaching) // 4),
        "train_gap": summary["train_gap"],
        "source": (
            f"optbench targets (target_setting.py): {len(record['algorithms'])} algorithms x "
            f"({'self-tuning point + ' if include_defaults else ''}{trials} quasi-random "
            f"point(s)) of {steps} steps, {reruns} re-runs of the best; "
            f"{time.strftime('%Y-%m-%d')} on {environment['processor']} "
            f"({environment['cpu_count']} cores)"
        ),
        "target_setting": {
            **record,
            "steps_needed": max(reaching),
            "environment": environment,
        },
    }


def measure_train_gap(
    name: str,
    size: str,
    *,
    experiment_dir: Path,
    executor: Any,
    evals: int = 16,
    workload_options: dict[str, Any] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Steps 2-3 again for a committed entry: its picked configuration re-run with its recorded
    seeds, steps and eval period. Returns the entry with ``train_gap`` set at the committed
    validation target, and under ``target_setting.train_gap_reruns`` the re-runs' results and
    whether their targets equal the committed ones (``matches_committed``); the committed
    targets themselves are kept. A hand-set entry (no recorded ``steps``) re-runs ``step_hint``
    steps, evaluated ``evals`` times, and is compared with its ``procedure_*`` targets. The
    re-runs use the torch thread count recorded with the entry (see the comment below)."""
    options = dict(workload_options or {})
    entry = targets_table(name).get(size)
    record = (entry or {}).get("target_setting", {})
    if not {"picked", "rerun_seeds"} <= set(record):
        raise UserError(f"{name} ({size}) has no recorded re-runs to repeat")
    probe = get_workload(name, size, **options)
    higher, metric = probe.metric_higher_is_better, probe.target_metric_name
    steps = record.get("steps") or settings_for(name, size).step_hint
    every = record.get("eval_every_steps") or max(1, steps // evals)
    common = _plan_options(name, size, steps, every, 0, options, higher)
    pick = record["picked"]
    template = dataclasses.replace(
        _algorithm_plan(pick["algorithm"], 1, common, experiment_dir)[0],
        trial=pick["trial"],
        hyperparameters=pick["hyperparameters"],
    )
    specs = _rerun_specs(template, name, list(record["rerun_seeds"]), experiment_dir)
    # Float reductions depend on the thread count: the committed re-runs are repeated exactly only
    # with the torch threads they ran with.
    import torch

    from optbench import profiles

    threads = record.get("environment", {}).get("torch_threads")
    with profiles.pinned(None, threads or torch.get_num_threads()):
        rows = _run_reruns(specs, executor, progress)
        environment = results.environment()  # with the re-runs' thread count
    summary = rerun_summary(rows, metric, higher, target=entry["validation_target_value"])
    recomputed = rerun_summary(rows, metric, higher)
    prefix = "procedure_" if "steps" not in record else ""
    expected = {k: entry.get(prefix + k) for k in ("validation_target_value", "test_target_value")}
    got = {k: recomputed[k] for k in expected}
    record["train_gap_reruns"] = {
        "steps": steps,
        "eval_every_steps": every,
        "rerun_best_validation": summary["rerun_best_validation"],
        "rerun_best_test": summary["rerun_best_test"],
        "rerun_steps_to_target": summary["rerun_steps_to_target"],
        "rerun_train_lag_at_target": summary["rerun_train_lag_at_target"],
        "recomputed_targets": got,
        "matches_committed": same_targets(got, expected),
        "date": time.strftime("%Y-%m-%d"),
        "environment": environment,
    }
    return {**entry, "train_gap": summary["train_gap"], "target_setting": record}


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


def budget_seconds(steps_needed: int, per_step: float) -> float:
    """Step 4's budget: ``steps_needed`` steps at ``per_step`` seconds each, divided by
    :data:`BUDGET_FRACTION` (the target-setting run needs at most 75% of the budget), rounded
    up to 5 s. The one place the formula lives: hardware profiles (:mod:`optbench.profiles`)
    derive their budgets with it too."""
    return 5.0 * math.ceil(steps_needed * per_step / BUDGET_FRACTION / 5.0)


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
    return {
        "max_allowed_runtime_sec": budget_seconds(record["steps_needed"], per_step),
        "calibration_gflops": round(
            integrity.speed_probe(device=(workload_options or {}).get("device", "cpu")), 1
        ),
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
