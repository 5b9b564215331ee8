"""What every full-size workload (AlgoPerf's own, ``--size full``) shares: AlgoPerf's batch sizes
apply unscaled, ``full`` is the only size, and a step can be timed on synthetic batches."""

from __future__ import annotations

import pytest
from algoperf_full import BUDGETS, TARGETS
from checks import algoperf_targets_and_budget

from optbench import batch_rule
from optbench.algorithms.batch_sizes import DEFAULT_BATCH_SIZES
from optbench.errors import UserError
from optbench.workloads import get_workload, workload_class, workloads_at
from optbench.workloads.targets import BASE_BUDGET_FIELDS, targets_table

FULL = workloads_at("full")
# AlgoPerf's NadamW baseline batches (its reference submission's get_batch_size), by base; the
# ResNet-50 activation variants use 512.
EXPECTED = {
    "criteo1tb": 262_144,
    "fastmri": 32,
    "imagenet_resnet": 1024,
    "imagenet_vit": 1024,
    "librispeech_conformer": 256,
    "librispeech_deepspeech": 256,
    "ogbg": 512,
    "wmt": 128,
}


def test_the_full_tier_is_algoperfs_eight_workloads_and_their_variants():
    assert {workload_class(n).base_name or n for n in FULL} == set(EXPECTED)
    assert len(FULL) == 32  # 8 bases, 24 variants (AlgoPerf's 18 held-out ones and 6 more)


def test_every_full_workload_has_algoperfs_published_settings():
    assert set(TARGETS) == set(FULL) and set(BUDGETS) == set(EXPECTED)


@pytest.mark.parametrize("name", FULL)
def test_targets_budget_and_metric_are_algoperfs(name):
    base = workload_class(name).base_name or name
    budget, metric, higher_is_better = BUDGETS[base]
    workload = algoperf_targets_and_budget(name, TARGETS[name], budget)
    assert (workload.target_metric_name, workload.metric_higher_is_better) == (
        metric,
        higher_is_better,
    )
    if base != name:  # a variant's file holds its targets only; the budget is its base's
        assert not set(BASE_BUDGET_FIELDS) & set(targets_table(name)["full"])


@pytest.mark.parametrize("name", FULL)
def test_algoperf_batch_sizes_apply_unscaled(name):
    """These names are AlgoPerf's: its NadamW baseline's answers apply as given, asked under
    the variant's own name first, then its base's."""
    asked = []

    def algoperf_nadamw(workload_name: str) -> int:
        asked.append(workload_name)
        if workload_name not in batch_rule.ALGOPERF_NADAMW_BATCH_SIZES:
            raise ValueError(f"Unsupported workload name: {workload_name}.")
        return batch_rule.ALGOPERF_NADAMW_BATCH_SIZES[workload_name]

    workload = workload_class(name)
    choice = batch_rule.choose(workload, algoperf_nadamw)
    base = workload.base_name or name
    expected = 512 if name in ("imagenet_resnet_silu", "imagenet_resnet_gelu") else EXPECTED[base]
    assert (choice.used, choice.answer, choice.scale) == (expected, expected, 1.0)
    assert asked[0] == name
    assert base in DEFAULT_BATCH_SIZES  # optbench's own baselines run here too


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_full_is_the_only_size(name):
    with pytest.raises(UserError, match=f"'{name}' has no size 'mini'; choose one of full"):
        get_workload(name, "mini")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_synthetic_batches_have_the_batch_size_asked(name):
    """``benchmarks/full_speed.py`` times steps on these; built at a test width, no data."""
    options = {"reduced": True} if name.startswith("imagenet") else {"test_width": 4}
    batch = get_workload(name, "full", **options).synthetic_batch(4, seed=0)
    tensors = [t for v in batch.values() for t in (v if isinstance(v, tuple) else (v,))]
    assert tensors and all(t.isfinite().all() for t in tensors if t.is_floating_point())
    rows = batch["targets"][0] if isinstance(batch["targets"], tuple) else batch["targets"]
    assert len(rows) == (5 if name == "ogbg" else 4)  # ogbg: 4 graphs + 1 padding graph
