"""Checks and helpers that several test modules share."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch

from optbench import prng, spec
from optbench.errors import UserError
from optbench.workloads import get_workload


def one_line_error(load: Callable[..., object], *args: object) -> str:
    """The message of the ``UserError`` that ``load(*args)`` raises, checked to be one line."""
    with pytest.raises(UserError) as info:
        load(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- full-size workloads ---------------------------------------------------------------------
@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """The block on one intra-op torch thread (tiny networks: on a shared machine a second
    thread only spins, waiting for the first), the count restored after it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def meta_network(name: str, parameters: int) -> tuple[Any, torch.nn.Module]:
    """Workload ``name`` at size ``full`` and its network, built on the meta device (no memory)
    and checked to hold ``parameters`` parameters; the workload takes the network as its model,
    so that its parameter shapes and types can be read."""
    workload = get_workload(name, "full")
    with torch.device("meta"):
        model = workload._build_model()
    assert sum(p.numel() for p in model.parameters()) == parameters
    workload._model = model
    return workload, model


def algoperf_targets_and_budget(
    name: str, targets: tuple[float, float], budget: tuple[float, float, int]
) -> Any:
    """Workload ``name`` at size ``full``, checked to have AlgoPerf's (validation, test)
    ``targets``, its ``budget`` (max_allowed_runtime_sec, eval_period_time_sec, step_hint), size
    ``full`` and AlgoPerf as the source of its settings; returned for a family's own checks."""
    w = get_workload(name, "full")
    assert (w.validation_target_value, w.test_target_value) == targets
    assert (w.max_allowed_runtime_sec, w.eval_period_time_sec, w.step_hint) == budget
    assert w.size == "full" and w._settings.source.startswith("AlgoPerf")
    return w


def train_forward(workload: Any, batch_size: int) -> tuple[torch.nn.Module, Any, dict, Any]:
    """``workload``'s model (seed 0) run in training mode, batch norms updated, on the first
    training batch of ``batch_size`` (data seed 1): (model, model state, batch, output)."""
    model, state = workload.init_model_fn(prng.key(0))
    batch = next(workload._build_input_queue(prng.key(1), "train", None, batch_size))
    output, state = workload.model_fn(
        model, batch, state, spec.ForwardPassMode.TRAIN, prng.key(2), update_batch_norm=True
    )
    return model, state, batch, output


def sgd_step(model: torch.nn.Module, loss: Mapping[str, torch.Tensor], lr: float) -> None:
    """One SGD step at ``lr`` down the mean of ``loss`` (what ``loss_fn`` returned), checked to
    change a parameter."""
    before = [p.detach().clone() for p in model.parameters()]
    (loss["summed"] / loss["n_valid_examples"]).backward()
    torch.optim.SGD(model.parameters(), lr=lr).step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def nadamw_two_steps(workload: Any, trial_dir: Path) -> Any:
    """The result of ``nadamw`` on ``workload`` through the real runner (timing, evals, result
    files in ``trial_dir``): 2 steps of batch 2 and an eval after the second, no speed probe;
    checked to have completed both steps."""
    from optbench.runner import run_trial
    from optbench.submission import load_submission

    result = run_trial(
        workload,
        load_submission("nadamw"),
        max_steps=2,
        batch_size=2,
        eval_every_steps=2,
        probe_speed=False,
        trial_dir=trial_dir,
    )
    assert result.status == "completed", result.failure
    assert result.global_step == 2
    return result


# --- submissions that stall ------------------------------------------------------------------
STALLING_SUBMISSION = """
import json, os, pathlib, time
from optbench.algorithms import nadamw

_b = nadamw.SUBMISSION
get_batch_size, data_selection = _b.get_batch_size, _b.data_selection
update_params = _b.update_params
MARKS = pathlib.Path(__file__).parent / "marks"

def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    tag = int(hyperparameters.tag)
    attempt = 1 + len(list(MARKS.glob(f"{{tag}}_*")))
    (MARKS / f"{{tag}}_{{attempt}}").write_text({mark})
    if {stalls}:
        time.sleep({seconds})
    return _b.init_optimizer_state(workload, model_params, model_state, hyperparameters, rng)
"""


def stalling_submission(mark: str, stalls: str, seconds: int) -> str:
    """The source of a submission (nadamw's but for init_optimizer_state) whose trial, tagged by
    its ``tag`` hyperparameter, records each attempt when the untimed init_optimizer_state
    starts: file ``marks/{tag}_{attempt}`` beside the submission (a folder the test makes) holds
    the text that the expression ``mark`` gives. While the expression ``stalls`` (of ``attempt``
    and ``hyperparameters``) holds, the attempt then sleeps ``seconds`` (until something ends
    it)."""
    return STALLING_SUBMISSION.format(mark=mark, stalls=stalls, seconds=seconds)
