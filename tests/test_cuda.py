"""CUDA paths (skipped without a GPU): device placement and synchronised timestamps."""

from __future__ import annotations

import pytest
import torch

from optbench.runner import run_trial
from optbench.submission import load_submission
from optbench.timing import Clock
from optbench.workloads import get_workload

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_clock_synchronises_before_each_timestamp(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: calls.append(1))
    clock = Clock(torch.device("cuda"))
    clock.now()
    clock.now()
    assert len(calls) == 2


def test_smoke_trial_on_cuda(tmp_path):
    workload = get_workload("fmnist_mlp", "smoke", device="cuda")
    result = run_trial(workload, load_submission("nadamw"), trial_dir=tmp_path, seed=0)
    assert result.status == "completed" and result.reached_target
    model = workload._model
    assert all(p.device.type == "cuda" for p in model.parameters())
