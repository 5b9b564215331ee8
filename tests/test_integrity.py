"""Rules enforced: the workload view, plausibility flags, the speed probe; cheating submissions."""

from __future__ import annotations

import dataclasses

import pytest
from toy import ToyWorkload, toy_submission

from optbench import integrity
from optbench.runner import run_trial
from optbench.submission import load_submission
from optbench.workloads import get_workload
from optbench.workloads.base import settings_for


def test_view_exposes_the_submission_api_only():
    workload = ToyWorkload()
    view = integrity.WorkloadView(workload)
    assert view.step_hint == 100 and view.target_metric_name == "accuracy"
    assert view.param_shapes == workload.param_shapes
    for forbidden in ("eval_model", "_build_input_queue", "evals", "_budget", "__dict__"):
        with pytest.raises(AttributeError, match="may not use"):
            getattr(view, forbidden)
    with pytest.raises(AttributeError, match="read-only"):
        view.step_hint = 5
    assert not hasattr(view.model_fn, "__self__")  # no bound method leading to the workload


@pytest.mark.parametrize(
    "attack",
    [
        "workload.eval_model(1, current_param_container, None, None)",
        "workload._build_input_queue(None, 'validation', None, 8)",
        "workload._split('validation')",
    ],
)
def test_cheating_submission_cannot_reach_evaluation_or_held_out_data(tmp_path, attack):
    sub = toy_submission()
    honest = sub.update_params

    def update_params(workload, current_param_container, **kwargs):
        eval(attack)  # the attempted access
        return honest(workload=workload, current_param_container=current_param_container, **kwargs)

    sub.update_params = update_params
    result = run_trial(ToyWorkload(), sub, trial_dir=tmp_path, probe_speed=False)
    assert result.status == "failed" and "may not use workload." in result.failure


def test_implausibly_fast_target_is_flagged(tmp_path):
    workload = get_workload("fmnist_mlp", "smoke")
    base = settings_for("fmnist_mlp", "smoke")
    workload._settings = dataclasses.replace(base, min_steps_to_target=100_000)
    result = run_trial(workload, load_submission("nadamw"), trial_dir=tmp_path)
    assert result.reached_target
    assert any(flag.startswith("implausibly fast") for flag in result.flags)
    honest = run_trial(get_workload("fmnist_mlp", "smoke"), load_submission("nadamw"))
    assert not any(flag.startswith("implausibly fast") for flag in honest.flags)


def test_validation_at_target_with_train_far_behind_is_flagged():
    rows = [{"global_step": 10, "train/accuracy": 0.5, "validation/accuracy": 0.9}]
    flags = integrity.plausibility_flags(rows, 10, "accuracy", True, 0.9, None, 0.1)
    assert len(flags) == 1 and flags[0].startswith("inconsistent")
    rows = [{"global_step": 10, "train/loss": 1.0, "validation/loss": 0.3}]
    assert integrity.plausibility_flags(rows, 10, "loss", False, 0.3, None, 0.5)
    assert not integrity.plausibility_flags(rows, 10, "loss", False, 0.3, None, 1.0)
    assert not integrity.plausibility_flags(rows, None, "loss", False, 0.3, 5, 0.1)


def test_speed_probe_and_flags():
    gflops = integrity.speed_probe(seconds=0.05)
    assert gflops > 0.1
    assert integrity.speed_flags((100.0, 100.0), 120.0) == []
    slow = integrity.speed_flags((50.0, 52.0), 120.0)
    assert len(slow) == 1 and slow[0].startswith("slow machine")
    drop = integrity.speed_flags((100.0, 40.0), None)
    assert len(drop) == 1 and drop[0].startswith("machine slowed")


def test_the_step_floor_counts_batches_not_calls():
    # A submission taking 20 optimizer steps per update_params call (lawa_queue does) reaches the
    # target at "step" 5 after 100 batches: not implausibly fast against a floor of 50 steps.
    rows = [{"global_step": 5, "validation/accuracy": 0.9}]
    args = (rows, 5, "accuracy", True, 0.8, 50, None)
    assert integrity.plausibility_flags(*args, batches_to_target=100) == []
    assert integrity.plausibility_flags(*args, batches_to_target=40)[0].startswith(
        "implausibly fast: target reached after 40 batches (step 5)"
    )


def test_update_params_returning_no_model_is_a_contract_violation():
    sub = toy_submission()
    honest = sub.update_params

    def update_params(**kwargs):
        optimizer_state, _, model_state = honest(**kwargs)
        return optimizer_state, None, model_state

    sub.update_params = update_params
    result = run_trial(ToyWorkload(), sub, probe_speed=False)
    assert (result.status, result.stop_reason) == ("failed", "contract")
    assert "must return the model (a torch.nn.Module) as params, got NoneType" in result.failure
