"""Mid-trial checkpoints: a trial interrupted after a checkpoint and resumed computes exactly what
the uninterrupted trial computes (time columns and preemption_count aside)."""

from __future__ import annotations

import dataclasses

import pytest

from optbench import checkpoint
from optbench.results import TIME_COLUMNS, read_eval_measurements, read_json
from optbench.runner import run_trial
from optbench.submission import load_submission
from optbench.workloads import get_workload


class Preempted(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing in the runner records it."""


def _interrupted_at(submission, step: int):
    def update_params(*, global_step, **kwargs):
        if global_step == step:
            raise Preempted
        return submission.update_params(global_step=global_step, **kwargs)

    return dataclasses.replace(submission, update_params=update_params)


def _values(rows):
    return [
        {k: v for k, v in r.items() if k not in TIME_COLUMNS or k == "global_step"} for r in rows
    ]


TRIAL = dict(seed=3, max_steps=60, eval_every_steps=10, probe_speed=False)


@pytest.mark.parametrize(
    "workload_name, submission_name",
    [
        ("fmnist_mlp", "nadamw"),  # dropout: the torch RNG state must be restored
        ("fmnist_mlp", "schedule_free_adamw"),  # train/eval modes live in the optimizer state
        ("fmnist_resnet", "momentum"),  # BatchNorm buffers, a LambdaLR schedule
    ],
)
def test_resume_continues_exactly(tmp_path, workload_name, submission_name):
    submission = load_submission(submission_name)
    reference = run_trial(
        get_workload(workload_name, "smoke"), submission, trial_dir=tmp_path / "ref", **TRIAL
    )
    assert reference.preemption_count == 0

    trial = tmp_path / "killed"
    with pytest.raises(Preempted):  # interrupted at step 36: the last checkpoint is step 30's
        run_trial(
            get_workload(workload_name, "smoke"),
            _interrupted_at(submission, 35),
            trial_dir=trial,
            checkpoint_every_sec=0,
            **TRIAL,
        )
    assert (trial / checkpoint.FILENAME).exists() and not (trial / "result.json").exists()
    before = read_eval_measurements(trial / "eval_measurements.csv")
    assert [r["global_step"] for r in before] == [1, 10, 20, 30]

    resumed = run_trial(
        get_workload(workload_name, "smoke"),
        submission,
        trial_dir=trial,
        checkpoint_every_sec=0,
        resume=True,
        **TRIAL,
    )
    rows = read_eval_measurements(trial / "eval_measurements.csv")
    assert _values(rows) == _values(reference.eval_rows)
    assert len(rows) > 4  # it went on past the checkpoint (to the step cap or the target)
    assert [r["preemption_count"] for r in rows] == [0] * 4 + [1] * (len(rows) - 4)
    # the submission time up to the checkpoint is kept; the lost step 31-35 time is not counted
    assert [r["score"] for r in rows[:4]] == [r["score"] for r in before]
    assert resumed.preemption_count == 1 == read_json(trial / "result.json")["preemption_count"]
    assert resumed.global_step == reference.global_step
    assert not (trial / checkpoint.FILENAME).exists()  # removed once the result is final


def test_a_checkpoint_of_another_trial_is_not_used(tmp_path):
    submission = load_submission("nadamw")
    with pytest.raises(Preempted):
        run_trial(
            get_workload("fmnist_mlp", "smoke"),
            _interrupted_at(submission, 25),
            trial_dir=tmp_path / "t",
            checkpoint_every_sec=0,
            **TRIAL,
        )
    other = {**TRIAL, "seed": 4}
    fresh = run_trial(
        get_workload("fmnist_mlp", "smoke"), submission, trial_dir=tmp_path / "fresh", **other
    )
    resumed = run_trial(
        get_workload("fmnist_mlp", "smoke"),
        submission,
        trial_dir=tmp_path / "t",
        checkpoint_every_sec=0,
        resume=True,
        **other,
    )
    assert resumed.preemption_count == 0
    assert _values(resumed.eval_rows) == _values(fresh.eval_rows)


def test_no_checkpoint_before_the_period_has_passed(tmp_path):
    with pytest.raises(Preempted):
        run_trial(
            get_workload("fmnist_mlp", "smoke"),
            _interrupted_at(load_submission("nadamw"), 45),
            trial_dir=tmp_path,
            checkpoint_every_sec=3600,
            **TRIAL,
        )
    assert not (tmp_path / checkpoint.FILENAME).exists()  # too short a trial: restarts cleanly
