"""The timing rules (AlgoPerf's), pinned with a toy workload whose evals sleep."""

from __future__ import annotations

import math
import time
from types import MappingProxyType

import pytest
from toy import ToyWorkload, toy_submission

from optbench.results import read_eval_measurements
from optbench.runner import run_trial


def test_eval_time_is_excluded_from_submission_time(tmp_path):
    workload = ToyWorkload(metric=lambda step: 0.0, eval_sleep=0.2, eval_period=0.05, budget=0.4)
    result = run_trial(workload, toy_submission(step_sleep=0.01), trial_dir=tmp_path)
    rows = result.eval_rows
    assert len(rows) >= 4
    last = rows[-1]
    # Each eval sleeps 0.2 s: eval time holds them, submission time does not.
    assert last["accumulated_eval_time"] >= 0.2 * len(rows)
    assert last["accumulated_submission_time"] < 0.4
    assert last["total_duration"] >= last["accumulated_eval_time"] + last["score"] - 1e-6
    assert result.stop_reason == "budget"
    assert result.submission_time >= 0.4  # the budget, not the wall clock, ended training


def test_no_eval_past_the_budget(tmp_path):
    workload = ToyWorkload(metric=lambda step: 0.0, eval_period=0.1, budget=0.35)
    result = run_trial(workload, toy_submission(step_sleep=0.03), trial_dir=tmp_path)
    assert result.eval_rows, "at least the first eval happens"
    assert all(row["score"] < 0.35 for row in result.eval_rows)
    assert result.submission_time >= 0.35
    assert not result.reached_target and result.time_to_target is None


def test_first_eval_reaching_target_defines_time_to_target(tmp_path):
    # Validation target 0.05 is met from step 5 on; the test target only from step 12, so
    # training goes on after the validation target and later evals must not move the time.
    workload = ToyWorkload(
        metric=lambda step: step / 100, eval_period=0.0, validation_target=0.05, test_target=0.12
    )
    result = run_trial(workload, toy_submission(step_sleep=0.005), trial_dir=tmp_path)
    rows = read_eval_measurements(tmp_path / "eval_measurements.csv")
    steps = [int(r["global_step"]) for r in rows]
    assert steps == list(range(1, 13))  # one eval per step (period 0), stop when both reached
    first = next(r for r in rows if r["validation/accuracy"] >= 0.05)
    assert result.steps_to_target == 5
    assert result.time_to_target == pytest.approx(first["score"], rel=1e-12)
    assert result.stop_reason == "target"


def test_training_complete_error_ends_with_one_final_eval(tmp_path):
    workload = ToyWorkload(metric=lambda step: 0.0, eval_period=1e9)
    result = run_trial(workload, toy_submission(raise_at=6), trial_dir=tmp_path)
    # First eval after step 1 (as AlgoPerf), then the period is never reached: the only other
    # eval is the final one triggered by TrainingCompleteError at the 6th update.
    assert workload.evals == [1, 6]
    assert result.stop_reason == "training_complete"
    assert result.status == "completed"


def test_step_cap_stops_with_a_final_eval(tmp_path):
    workload = ToyWorkload(metric=lambda step: 0.0, eval_period=1e9)
    result = run_trial(workload, toy_submission(), trial_dir=tmp_path, max_steps=7)
    assert workload.evals == [1, 7]
    assert result.global_step == 7 and result.stop_reason == "step_cap"


def test_prepare_for_eval_is_timed(tmp_path):
    workload = ToyWorkload(metric=lambda step: 0.0, eval_period=1e9)
    run_trial(workload, toy_submission(prepare_sleep=0.15), trial_dir=tmp_path, max_steps=3)
    rows = read_eval_measurements(tmp_path / "eval_measurements.csv")
    assert len(rows) == 2
    # Two prepare_for_eval calls (before each eval), 0.15 s each, are submission time.
    assert rows[-1]["accumulated_submission_time"] >= 0.3


def test_train_state_only_when_declared_and_read_only(tmp_path):
    seen: list = []
    run_trial(
        ToyWorkload(eval_period=1e9), toy_submission(with_train_state=True, seen=seen), max_steps=3
    )
    assert len(seen) == 3 and isinstance(seen[0], MappingProxyType)
    with pytest.raises(TypeError):
        seen[0]["accumulated_submission_time"] = 0.0  # read-only
    assert seen[-1]["accumulated_submission_time"] > 0
    # Without the parameter, update_params is called without it (would raise TypeError).
    result = run_trial(ToyWorkload(eval_period=1e9), toy_submission(), max_steps=3)
    assert result.status == "completed"


def test_patching_time_inside_a_submission_does_not_change_recorded_time(tmp_path, monkeypatch):
    workload = ToyWorkload(metric=lambda step: 0.0, eval_period=1e9)
    monkeypatch.setattr(time, "perf_counter", lambda: 0.0)
    monkeypatch.setattr(time, "time", lambda: 0.0)
    result = run_trial(workload, toy_submission(step_sleep=0.02), max_steps=10)
    assert result.submission_time >= 0.2


def test_a_raising_submission_is_a_failed_trial_with_reason(tmp_path):
    sub = toy_submission()

    def broken(**kwargs):
        raise ValueError("boom")

    sub.update_params = broken
    result = run_trial(ToyWorkload(), sub, trial_dir=tmp_path)
    assert result.status == "failed" and "ValueError: boom" in result.failure
    assert "boom" in (tmp_path / "error.txt").read_text()


def test_nan_metrics_fail_the_trial_as_diverged(tmp_path):
    result = run_trial(
        ToyWorkload(metric=lambda step: math.nan), toy_submission(), trial_dir=tmp_path
    )
    assert result.status == "failed" and result.stop_reason == "diverged"


def test_a_capped_trial_stops_at_its_cap_and_evaluates_nothing_past_it():
    workload = ToyWorkload(metric=lambda step: 0.0, eval_period=0.05, budget=5.0)
    result = run_trial(workload, toy_submission(step_sleep=0.01), cap_sec=0.3, probe_speed=False)
    assert result.stop_reason == "capped"
    assert 0.3 <= result.submission_time < 0.3 + 0.2
    assert result.eval_rows and all(
        r["accumulated_submission_time"] < 0.3 for r in result.eval_rows
    )


def test_a_cap_above_the_budget_is_the_budget():
    workload = ToyWorkload(metric=lambda step: 0.0, eval_period=0.05, budget=0.2)
    result = run_trial(workload, toy_submission(step_sleep=0.01), cap_sec=9.0, probe_speed=False)
    assert result.stop_reason == "budget"


def test_a_cap_waits_for_the_study_best_eval_count_too():
    workload = ToyWorkload(metric=lambda step: 0.0, eval_period=0.02, budget=5.0)
    submission = toy_submission(step_sleep=0.01)
    result = run_trial(workload, submission, cap_sec=0.05, cap_evals=12, probe_speed=False)
    assert result.stop_reason == "capped"
    assert len(result.eval_rows) == 12  # the 12th eval is the last one that could still win
    assert result.eval_rows[-1]["accumulated_submission_time"] >= 0.05
