"""Real AlgoPerf submissions, unchanged (``shared/algoperf_submissions`` beside the repository):
every runnable one completes on all 16 smoke workloads with batch sizes from the rule, and the
one that needs 8 distributed ranks says so in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from optbench import batch_rule, search_space
from optbench.runner import run_trial
from optbench.submission import load_submission
from optbench.workloads import get_workload, workloads_at

SHARED = Path(__file__).resolve().parents[2] / "shared" / "algoperf_submissions"
pytestmark = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"{SHARED} not found (shared/ beside the repository)"
)
RUNNABLE = ("nadamw_baseline", "schedule_free_adamw", "cyclic_lr", "lawa_queue")
SMOKE_SUITE = sorted(n for n in workloads_at("smoke") if n != "fmnist_mlp")


@pytest.fixture(scope="module")
def loaded():
    return {name: load_submission(str(SHARED / name)) for name in RUNNABLE}


@pytest.fixture(scope="module")
def workloads():
    return {}


@pytest.mark.parametrize("workload_name", SMOKE_SUITE)
def test_runnable_submissions_complete_every_smoke_workload(loaded, workloads, workload_name):
    assert len(SMOKE_SUITE) == 16
    workload = workloads.setdefault(workload_name, get_workload(workload_name, "smoke"))
    for name, submission in loaded.items():
        point = search_space.as_hyperparameters(submission.search_space().point(0, seed=0))
        result = run_trial(
            workload, submission, hyperparameters=point, max_steps=2, probe_speed=False
        )
        assert result.status == "completed", f"{name}: {result.failure}"
        assert result.global_step == 2 and result.eval_rows, name
        choice = batch_rule.choose(
            workload, submission.get_batch_size, None, workload.num_train_examples
        )
        assert choice.rule == "algoperf-scaled" and result.batch_size == choice.used
        if name == "nadamw_baseline":  # AlgoPerf's baseline gets optbench's reference batch
            assert choice.used == batch_rule.reference_batch_size(workload) or choice.capped_at


def test_shampoo_needs_eight_ranks_and_says_so(tmp_path):
    root = tmp_path / "checkout"
    team = (
        root
        / "submissions"
        / "submissions_algorithms_v0_5"
        / "AlgoPerf_Team_21"
        / "external_tuning"
    )
    team.mkdir(parents=True)
    (team / "shampoo_submission").symlink_to(SHARED / "shampoo_submission")
    submission = load_submission(str(team / "shampoo_submission"), import_root=root)
    point = search_space.as_hyperparameters(submission.search_space().point(0, seed=0))
    result = run_trial(
        get_workload("fmnist_mlp", "smoke"), submission, hyperparameters=point,
        trial_dir=tmp_path / "trial", probe_speed=False,
    )  # fmt: skip
    assert result.status == "failed"
    assert result.failure.splitlines()[0].startswith(
        "the submission needs 8 torch.distributed ranks (AlgoPerf runs 8); this run has 1"
    )
    assert (tmp_path / "trial" / "result.json").exists()
