"""The process executor's workers may start processes of their own (as speech data preparation
does on a first run): a daemonic worker could not, and every such trial failed."""

from __future__ import annotations

import json

from optbench.cli import main

FORKS = """
from concurrent.futures import ProcessPoolExecutor
from optbench.algorithms import nadamw

_b = nadamw.SUBMISSION
get_batch_size, data_selection = _b.get_batch_size, _b.data_selection
update_params = _b.update_params

def init_optimizer_state(**kwargs):
    with ProcessPoolExecutor(max_workers=1) as pool:
        assert pool.submit(abs, -3).result() == 3
    return _b.init_optimizer_state(**kwargs)
"""


def test_a_trial_worker_can_start_processes(tmp_path):
    (tmp_path / "forks.py").write_text(FORKS)
    exp = tmp_path / "exp"
    argv = [
        "tune", "--submission", str(tmp_path / "forks.py"), "--ruleset", "self", "--studies", "1",
        "--workloads", "fmnist_mlp", "--size", "smoke", "--max-steps", "2", "--no-progress",
        "--experiment-dir", str(exp),
    ]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(next(exp.rglob("result.json")).read_text())
    assert result["status"] == "completed", result.get("failure")
