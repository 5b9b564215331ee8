"""The target-setting procedure: its output follows from its recorded runs."""

from __future__ import annotations

import math
import statistics

from optbench.executors import InlineExecutor
from optbench.target_setting import set_targets


def test_targets_follow_from_the_recorded_reruns(tmp_path):
    entry = set_targets(
        "fmnist_mlp",
        "smoke",
        experiment_dir=tmp_path,
        executor=InlineExecutor(),
        search_budget_sec=0.5,
        trials=1,
        reruns=3,
        algorithms=("nadamw", "momentum"),
    )
    record = entry["target_setting"]
    assert len(record["search"]) == 2
    picked = record["picked"]
    assert picked["best_validation"] == max(s["best_validation"] for s in record["search"])
    assert entry["validation_target_value"] == round(
        statistics.median(record["rerun_best_validation"]), 6
    )
    times = [t for t in record["rerun_time_to_target"] if t is not None]
    assert len(times) >= 2  # the median run and those above it reach the median best
    assert entry["max_allowed_runtime_sec"] >= statistics.median(times) / 0.75
    assert entry["max_allowed_runtime_sec"] % 5 == 0
    steps = [s for s in record["rerun_steps_to_target"] if s is not None]
    assert entry["min_steps_to_target"] == max(1, min(steps) // 4)
    assert len(set(record["rerun_seeds"])) == 3
    assert entry["step_hint"] >= 10 and math.isfinite(entry["calibration_gflops"])
