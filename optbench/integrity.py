"""Rules enforced rather than only written: what a submission may see, and what looks wrong.

* :class:`WorkloadView` is what a submission receives as ``workload``: the Workload API a
  submission may use (model_fn, loss_fn, shapes, types, step_hint, targets, batch facts), and not
  evaluation, the validation/test data, the input pipeline or the runner's clock. Python offers
  no in-process security boundary, so this stops accidents and makes deliberate access stand out
  (it needs introspection a reviewer will see); a determined cheat is caught by the checks below.
* :func:`plausibility_flags`: a target reached in fewer steps than the workload's declared floor,
  or a validation metric at target while the training metric is far from it, is flagged.
* :func:`speed_probe`: a fixed matmul benchmark run before and after each trial; trials on a
  machine measurably slower than at calibration are flagged.
"""

from __future__ import annotations

from time import perf_counter as _perf_counter
from typing import Any

import torch

# What a submission may read from the workload (AlgoPerf's API for submissions).
ALLOWED = frozenset(
    {
        "name",
        "base_name",
        "algoperf_name",
        "size",
        "device",
        "metrics_logger",
        "model_fn",
        "loss_fn",
        "param_shapes",
        "model_params_types",
        "is_output_params",
        "loss_type",
        "step_hint",
        "max_allowed_runtime_sec",
        "eval_period_time_sec",
        "target_metric_name",
        "validation_target_value",
        "test_target_value",
        "metric_higher_is_better",
        "has_reached_validation_target",
        "has_reached_test_target",
        "num_train_examples",
        "num_eval_train_examples",
        "num_validation_examples",
        "num_test_examples",
        "eval_batch_size",
        "train_mean",
        "train_stddev",
    }
)


class WorkloadView:
    """The workload as a submission sees it (see the module docstring)."""

    __slots__ = ("_get",)

    def __init__(self, workload: Any, fixed: dict[str, Any] | None = None) -> None:
        known = dict(fixed or {})  # facts of splits this process does not hold

        def get(name: str) -> Any:
            return known[name] if name in known else getattr(workload, name)

        object.__setattr__(self, "_get", get)

    def __getattr__(self, name: str) -> Any:
        if name not in ALLOWED:
            raise AttributeError(
                f"a submission may not use workload.{name} (only the submission API: "
                "model_fn, loss_fn, shapes, types, step_hint, targets, batch facts)"
            )
        value = self._get(name)
        if callable(value) and hasattr(value, "__self__"):
            method = value

            def call(*args: Any, **kwargs: Any) -> Any:
                return method(*args, **kwargs)

            call.__doc__ = getattr(method, "__doc__", None)
            return call
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("the workload is read-only for submissions")

    def __repr__(self) -> str:
        return f"WorkloadView({self._get('name')!r})"


def speed_probe(
    seconds: float = 0.3, size: int | None = None, rounds: int = 3, device: Any = "cpu"
) -> float:
    """GFLOP/s of ``size x size`` float32 matmuls on ``device`` (the device the trial trains on:
    a GPU slot's speed is its GPU's, not its CPU's): the best of ``rounds`` rounds of
    ``seconds / rounds`` each (the best round, because the first in a fresh process often runs
    slow while caches and thread pools warm up). ``size``: 512 on a CPU, 4096 on a GPU (a GPU
    needs large products to be timed at its speed rather than at its launch overhead)."""
    device = torch.device(device)
    size = size or (512 if device.type == "cpu" else 4096)
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device)
    b = torch.randn(size, size, generator=generator).to(device)
    torch.mm(a, b)  # warm-up
    best = 0.0
    for _ in range(rounds):
        _synchronize(device)
        count, start = 0, _perf_counter()
        while True:
            torch.mm(a, b)
            count += 1
            _synchronize(device)
            elapsed = _perf_counter() - start
            if elapsed >= seconds / rounds:
                break
        best = max(best, 2.0 * size**3 * count / elapsed / 1e9)
    return best


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plausibility_flags(
    eval_rows: list[dict[str, float]],
    steps_to_target: int | None,
    metric: str,
    higher_is_better: bool,
    target: float,
    min_steps: int | None,
    train_gap: float | None,
    batches_to_target: int | None = None,
) -> list[str]:
    """Reasons a reached target looks implausible (empty if none or if not reached).

    ``min_steps``: fewest steps the workload deems possible (from its target-setting runs),
    compared with ``batches_to_target`` (batches drawn from the input queue) where known, since a
    submission may take several optimizer steps per ``update_params`` call.
    ``train_gap``: how far the train metric may lag the validation target when it is reached
    (train data is what the model fits: a validation score at target with a much worse train
    score suggests validation data leaked into training).
    """
    if steps_to_target is None:
        return []
    flags = []
    progress = steps_to_target if batches_to_target is None else batches_to_target
    if min_steps is not None and progress < min_steps:
        flags.append(
            f"implausibly fast: target reached after {progress} batches (step "
            f"{steps_to_target}), below the workload's floor of {min_steps} steps"
        )
    row = next(r for r in eval_rows if r["global_step"] == steps_to_target)
    train = row.get(f"train/{metric}")
    if train_gap is not None and train is not None:
        lag = (target - train) if higher_is_better else (train - target)
        if lag > train_gap:
            flags.append(
                f"inconsistent: validation {metric} at target but train {metric} "
                f"{train:.4g} lags it by {lag:.3g} (allowed {train_gap})"
            )
    return flags


def speed_flags(
    gflops: tuple[float, float], calibration: float | None, tolerance: float = 0.75
) -> list[str]:
    """Flags for a machine slower than at calibration, or slowing down during the trial."""
    before, after = gflops
    flags = []
    if calibration is not None and min(before, after) < tolerance * calibration:
        flags.append(
            f"slow machine: speed probe {min(before, after):.0f} GFLOP/s, below "
            f"{tolerance:.0%} of the {calibration:.0f} GFLOP/s at calibration"
        )
    if after < tolerance * before:
        flags.append(
            f"machine slowed during the trial: speed probe {before:.0f} -> {after:.0f} GFLOP/s"
        )
    return flags
