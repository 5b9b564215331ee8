"""Data-parallel trials under torchrun: two gloo ranks compute what one process computes on
the same global batch, and write one trial."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch

from optbench import distributed
from optbench.commands.run import _without_nproc
from optbench.errors import UserError
from optbench.results import TIME_COLUMNS, read_eval_measurements

SPACE = {
    "learning_rate": {"feasible_points": [0.002]},
    "one_minus_beta1": {"feasible_points": [0.1]},
    "beta2": {"feasible_points": [0.999]},
    "weight_decay": {"feasible_points": [0.01]},
    "warmup_factor": {"feasible_points": [0.05]},
    "dropout_rate": {"feasible_points": [0.0]},  # no per-rank dropout masks to differ
    "label_smoothing": {"feasible_points": [0.0]},
}


def test_each_rank_takes_its_contiguous_shard():
    batch = {"inputs": torch.arange(8).reshape(4, 2), "targets": torch.arange(4), "n": 3}
    second = distributed.shard(batch, 1, 2)
    assert second["inputs"].tolist() == [[4, 5], [6, 7]]
    assert second["targets"].tolist() == [2, 3]
    assert second["n"] == 3


def test_a_batch_that_does_not_split_is_an_error():
    with pytest.raises(UserError, match="a global batch of 5 does not split into 2 ranks"):
        distributed.shard({"x": torch.zeros(5)}, 0, 2)
    with pytest.raises(UserError, match="dicts of tensors"):
        distributed.shard([torch.zeros(4)], 0, 2)


def test_the_ranks_run_the_command_without_the_nproc_option():
    argv = ["run", "--nproc-per-node", "2", "--seed", "1", "--nproc-per-node=3", "-x"]
    assert _without_nproc(argv) == ["run", "--seed", "1", "-x"]


COUNTING = """
import os
from optbench.algorithms.nadamw import SUBMISSION as S
get_batch_size = S.get_batch_size
init_optimizer_state = S.init_optimizer_state
update_params = S.update_params
def data_selection(workload, input_queue, *args, **kwargs):
    batch = S.data_selection(workload, input_queue, *args, **kwargs)
    with open(os.environ["BATCH_LOG"] + os.environ.get("RANK", "-"), "a") as log:
        log.write(f"{len(batch['targets'])}\\n")
    return batch
"""


def _run(tmp_path, name, *extra):
    submission = tmp_path / "counting.py"
    submission.write_text(COUNTING)
    space = tmp_path / "space.json"
    space.write_text(json.dumps(SPACE))
    experiment = tmp_path / name
    flags = "--workload fmnist_mlp --size smoke --max-steps 6 --eval-every-steps 2 --batch-size 64"
    flags += " --no-progress --no-report --ruleset external"
    command = [
        *(sys.executable, "-m", "optbench", "run", *flags.split()),
        *("--tuning-search-space", str(space), "--experiment-dir", str(experiment)),
        *("--submission", str(submission), *extra),
    ]
    env = {**os.environ, "BATCH_LOG": str(tmp_path / f"{name}-rank")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    trials = sorted(experiment.rglob("eval_measurements.csv"))
    return done.stdout, trials


def test_two_gloo_ranks_reproduce_one_process(tmp_path):
    _, single = _run(tmp_path, "one")
    out, double = _run(tmp_path, "two", "--nproc-per-node", "2")
    assert len(double) == 1  # one trial, written by rank 0
    seen = {p.name: p.read_text().split() for p in tmp_path.glob("*-rank*")}
    assert seen == {"one-rank-": ["64"] * 6, "two-rank0": ["32"] * 6, "two-rank1": ["32"] * 6}
    assert out.count("Summary:") == 1
    meta = json.loads((double[0].parent / "meta_data.json").read_text())
    assert meta["supervised"] is False
    one, two = read_eval_measurements(single[0]), read_eval_measurements(double[0])
    assert [r["global_step"] for r in two] == [1, 2, 4, 6]
    for a, b in zip(one, two, strict=True):
        for key in a.keys() - set(TIME_COLUMNS):
            assert math.isclose(a[key], b[key], rel_tol=1e-5, abs_tol=1e-7), key
