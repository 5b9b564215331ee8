"""Every learning-rate schedule against its formula, at exact values, alone and as the rate
``make_submission`` gives the optimizer step by step."""

from __future__ import annotations

import inspect
import math
import types

import pytest
import torch
from toy import ToyWorkload

from optbench.algorithms import make_submission, schedules

# Warmup 0.04 * step_hint 100 = 4 steps, so z = (step - 4) / 96: 0.25 at step 28, 0.5 at 52,
# 0.75 at 76. The multipliers at steps 0, 3, 4, 28, 52, 76, 100 and 101.
STEPS = (0, 3, 4, 28, 52, 76, 100, 101)
WARMUP = (0.25, 1.0, 1.0)
EXPECTED = {
    "constant": (*WARMUP, 1.0, 1.0, 1.0, 1.0, 1.0),
    # (1 + cos(pi z)) / 2
    "warmup_cosine": (*WARMUP, (2 + math.sqrt(2)) / 4, 0.5, (2 - math.sqrt(2)) / 4, 0.0, 0.0),
    # 1 - z (end_factor 0)
    "warmup_linear_decay": (*WARMUP, 0.75, 0.5, 0.25, 0.0, 0.0),
    # REX: (1 - z) / (1/2 + (1 - z)/2) = 2 (1 - z) / (2 - z)
    "rex": (*WARMUP, 6 / 7, 2 / 3, 2 / 5, 0.0, 0.0),
}
LEARNING_RATE = 0.1


def test_every_schedule_is_named_and_has_expected_values():
    factories = {
        name
        for name, f in vars(schedules).items()
        if inspect.isfunction(f)
        and not name.startswith("_")
        and f.__module__ == schedules.__name__
        and list(inspect.signature(f).parameters) == ["hp", "step_hint"]
    }
    assert factories == set(schedules.SCHEDULES) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_multipliers_at_exact_steps(name):
    multiplier = schedules.named(name)(types.SimpleNamespace(warmup_factor=0.04), 100)
    assert [multiplier(step) for step in STEPS] == pytest.approx(EXPECTED[name], abs=1e-15)


def test_rex_is_the_papers_profile_without_warmup():
    """Chen et al.: lr_t = lr_0 (1 - z) / (1/2 + (1 - z)/2), z = t / T; 0 from T on."""
    multiplier = schedules.rex(types.SimpleNamespace(), 10)
    for t in range(11):
        z = t / 10
        assert multiplier(t) == pytest.approx((1 - z) / (0.5 + 0.5 * (1 - z)), abs=1e-15)
    assert [multiplier(t) for t in (0, 5, 8, 9, 10, 11)] == pytest.approx(
        [1.0, 2 / 3, 1 / 3, 2 / 11, 0.0, 0.0], abs=1e-15
    )


def test_linear_decay_ends_at_end_factor_and_constant_without_warmup_is_one():
    linear = schedules.warmup_linear_decay(types.SimpleNamespace(end_factor=0.01), 10)
    assert [linear(t) for t in (0, 5, 10, 20)] == pytest.approx([1.0, 0.505, 0.01, 0.01])
    constant = schedules.constant(types.SimpleNamespace(), 10)
    assert [constant(t) for t in (0, 1, 10, 50)] == [1.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_make_submission_steps_the_named_schedule(name):
    submission = make_submission(
        "scheduled_sgd",
        lambda model, hp, workload: torch.optim.SGD(model.parameters(), lr=hp.learning_rate),
        defaults={"learning_rate": LEARNING_RATE, "warmup_factor": 0.04},
        schedule=name,
    )
    workload = ToyWorkload()
    assert workload.step_hint == 100
    model, _ = workload.init_model_fn(None)
    state = submission.init_optimizer_state(workload, model, None, None, None)
    batches = workload._build_input_queue(None, "train", global_batch_size=8)
    rates = []
    for step in range(max(STEPS) + 1):
        rates.append(state["optimizer"].param_groups[0]["lr"])
        state, model, _ = submission.update_params(
            workload, model, None, None, None, next(batches), None, state, [], step, None
        )
    expected = [LEARNING_RATE * m for m in EXPECTED[name]]
    assert [rates[step] for step in STEPS] == pytest.approx(expected, abs=1e-15)


def test_an_unknown_schedule_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown schedule 'cosine'; known: constant, warmup_"):
        make_submission("x", lambda model, hp, workload: None, defaults={}, schedule="cosine")
