"""The target-setting procedure: its output follows from its recorded, step-based runs."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest

from optbench import results, target_setting
from optbench.errors import UserError
from optbench.executors import InlineExecutor
from optbench.target_setting import calibrate_budget, committed_entry, set_targets
from optbench.workloads.base import BASE_BUDGET_FIELDS, settings_for


def _procedure(experiment_dir: Path, **options) -> dict:
    """fmnist_mlp smoke targets; by default from one 20-step NadamW search run and one re-run,
    budget kept."""
    settings = dict(steps=20, evals=2, trials=0, reruns=1, algorithms=("nadamw",), budget=False)
    return set_targets(
        "fmnist_mlp",
        "smoke",
        experiment_dir=experiment_dir,
        executor=InlineExecutor(),
        **{**settings, **options},
    )


def test_targets_follow_from_the_recorded_reruns(tmp_path):
    entry = _procedure(
        tmp_path,
        steps=60,
        evals=6,
        trials=1,
        reruns=3,
        algorithms=("nadamw", "momentum"),
        budget=True,
    )
    record = entry["target_setting"]
    # each algorithm: its self-tuning point (trial 0) and one quasi-random point
    assert [(s["algorithm"], s["trial"]) for s in record["search"]] == [
        ("nadamw", 0),
        ("nadamw", 1),
        ("momentum", 0),
        ("momentum", 1),
    ]
    assert record["search"][0]["hyperparameters"]["learning_rate"] == pytest.approx(1.7486e-3, 1e-3)
    completed = 0
    for run in (tmp_path / "search").rglob("eval_measurements.csv"):
        if results.read_json(run.parent / "result.json")["status"] == "failed":
            continue  # a diverged point stops early (momentum's quasi-random lr is large)
        steps = [int(r["global_step"]) for r in results.read_eval_measurements(run)]
        assert steps == [1, 10, 20, 30, 40, 50, 60]  # exactly `steps` steps, evals every 10
        completed += 1
    assert completed >= 2
    picked = record["picked"]
    assert picked["best_validation"] == max(s["best_validation"] for s in record["search"])
    assert entry["validation_target_value"] == round(
        statistics.median(record["rerun_best_validation"]), 6
    )
    assert entry["step_hint"] == 60
    reached = [s for s in record["rerun_steps_to_target"] if s is not None]
    assert len(reached) >= 2  # the median run and those above it reach the median best
    assert record["steps_needed"] == max(reached)
    assert entry["min_steps_to_target"] == max(1, min(reached) // 4)
    assert len(set(record["rerun_seeds"])) == 3
    seconds = record["steps_needed"] * entry["calibration_seconds_per_step"]
    budget = entry["max_allowed_runtime_sec"]
    assert seconds / 0.75 <= budget < seconds / 0.75 + 5 and budget % 5 == 0
    assert math.isfinite(entry["calibration_gflops"])

    # re-deriving the budget from the record alone gives the same formula's answer
    again = calibrate_budget("fmnist_mlp", "smoke", entry)
    seconds = record["steps_needed"] * again["calibration_seconds_per_step"]
    assert seconds / 0.75 <= again["max_allowed_runtime_sec"] < seconds / 0.75 + 5


def test_budgets_only_needs_a_recorded_procedure():
    with pytest.raises(UserError, match="optbench targets"):
        committed_entry("fmnist_mlp", "smoke")  # hand-set smoke targets: nothing to time


def test_search_runs_are_independent_of_machine_speed(tmp_path: Path):
    """Same seeds, same steps: the recorded search values repeat exactly (they count steps)."""
    a, b = _procedure(tmp_path / "a"), _procedure(tmp_path / "b")
    assert a["target_setting"]["search"] == b["target_setting"]["search"]
    assert a["validation_target_value"] == b["validation_target_value"]


def test_a_kept_budget_keeps_the_speed_it_was_timed_at(tmp_path: Path, monkeypatch):
    """budget=False leaves the committed budget and its calibration fields as they were."""
    committed = {"calibration_gflops": 123.4, "calibration_seconds_per_step": 0.0125}
    monkeypatch.setattr(
        target_setting, "targets_table", lambda name: {"smoke": {"step_hint": 1, **committed}}
    )
    entry = _procedure(tmp_path)
    assert {k: entry[k] for k in committed} == committed
    assert (
        entry["max_allowed_runtime_sec"]
        == settings_for("fmnist_mlp", "smoke").max_allowed_runtime_sec
    )


def test_a_variant_gets_targets_and_keeps_its_base_budget(tmp_path: Path):
    """AlgoPerf: variants go through the same procedure and keep their base's budget."""
    base = settings_for("molecules_gnn", "smoke")
    entry = set_targets(
        "molecules_gnn_gelu",
        "smoke",
        experiment_dir=tmp_path,
        executor=InlineExecutor(),
        evals=4,
        trials=0,
        reruns=1,
        algorithms=("nadamw",),
    )  # budget=True: ignored for a variant, nothing is timed
    assert not set(BASE_BUDGET_FIELDS) & set(entry)
    assert "calibration_seconds_per_step" not in entry
    assert entry["target_setting"]["steps"] == base.step_hint
    assert entry["validation_target_value"] == round(
        entry["target_setting"]["rerun_best_validation"][0], 6
    )
    assert "molecules_gnn's" in entry["source"]
    with pytest.raises(UserError, match="leave out --steps"):
        set_targets(
            "molecules_gnn_gelu",
            "smoke",
            experiment_dir=tmp_path,
            executor=InlineExecutor(),
            steps=base.step_hint + 1,
        )
    with pytest.raises(UserError, match="time molecules_gnn instead"):
        committed_entry("molecules_gnn_gelu", "smoke")
