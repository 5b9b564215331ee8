"""Same seed, same machine: identical eval rows (time columns aside), for every smoke workload."""

from __future__ import annotations

import pytest

from optbench.results import TIME_COLUMNS
from optbench.runner import run_trial
from optbench.submission import load_submission
from optbench.workloads import get_workload, workloads_at


def _rows(name: str, seed: int) -> list[dict[str, float]]:
    result = run_trial(
        get_workload(name, "smoke"),
        load_submission("nadamw"),
        seed=seed,
        max_steps=10,
        eval_every_steps=5,
        probe_speed=False,
    )
    return [
        {k: v for k, v in row.items() if k not in TIME_COLUMNS or k == "global_step"}
        for row in result.eval_rows
    ]


@pytest.mark.parametrize("name", sorted(workloads_at("smoke")))
def test_same_seed_same_rows(name):
    first = _rows(name, seed=7)
    assert [row["global_step"] for row in first][:2] == [1, 5]
    assert _rows(name, seed=7) == first
    assert _rows(name, seed=8) != first  # the seed matters
