"""Every baseline, with its self-tuning defaults, trains fmnist_mlp (smoke size) to its target
within the budget, through the timed runner as a real trial would.

The trials run with one intra-op thread: the smoke model is far too small to gain from more, and
on a shared 2-core machine a second spinning OpenMP thread can slow each matmul a hundredfold,
which would spend the (wall-clock) budget on waiting rather than on the algorithm.
"""

from __future__ import annotations

import math

import pytest
from checks import one_torch_thread

from optbench.algorithms import BASELINES
from optbench.algorithms.batch_sizes import DEFAULT_BATCH_SIZES
from optbench.runner import run_trial
from optbench.submission import load_submission
from optbench.workloads import get_workload


@pytest.fixture(scope="module")
def workload():
    with one_torch_thread():
        smoke = get_workload("fmnist_mlp", "smoke")
        smoke.load_data()
        yield smoke


@pytest.mark.parametrize("name", BASELINES)
def test_batch_sizes_come_from_the_shared_table(name):
    submission = load_submission(name)
    for workload_name, size in DEFAULT_BATCH_SIZES.items():
        assert submission.get_batch_size(workload_name) == size
    with pytest.raises(ValueError):
        submission.get_batch_size("no_such_workload")


@pytest.mark.parametrize("name", BASELINES)
def test_self_tuning_defaults_reach_the_smoke_target(name, workload):
    result = run_trial(workload, load_submission(name), seed=0)
    assert result.status == "completed", result.failure
    assert result.reached_target, (
        f"{name} stopped ({result.stop_reason}) at step {result.global_step} without reaching "
        f"validation accuracy {workload.validation_target_value}"
    )
    assert result.time_to_target is not None and result.time_to_target <= result.budget_sec
    assert math.isfinite(result.eval_rows[-1]["validation/loss"])
