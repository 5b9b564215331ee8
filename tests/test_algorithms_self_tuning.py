"""Each baseline's self-tuning hyperparameters, pinned value for value (and type for type).

Under self-tuning a baseline trains with these alone, so a change to any of them changes every
self-tuning result; they are written out here in full, not rebuilt from the shared points the
modules compose them from.
"""

from __future__ import annotations

import importlib

import pytest

from optbench.algorithms import BASELINES
from optbench.algorithms.hyperparameters import resolve_hyperparameters

NADAMW = {
    "learning_rate": 0.0017486387539278373,
    "one_minus_beta1": 0.06733926164,
    "beta1": 0.93266073836,
    "beta2": 0.9955159689799007,
    "weight_decay": 0.08121616522670176,
    "warmup_factor": 0.02,
    "dropout_rate": 0.1,
    "label_smoothing": 0.0,
}
MOMENTUM = {
    "learning_rate": 0.1,
    "one_minus_beta1": 0.1,
    "beta1": 0.9,
    "weight_decay": 1e-06,
    "warmup_factor": 0.05,
    "end_factor": 0.01,
    "dropout_rate": 0.1,
    "label_smoothing": 0.0,
}
REGULARIZATION = {"warmup_factor": 0.02, "dropout_rate": 0.1, "label_smoothing": 0.0}
RESOLVED = {
    "nadamw": NADAMW,
    "nadamw_rex": NADAMW,
    "adamw": NADAMW,
    "sam": {**NADAMW, "rho": 0.05},
    "momentum": MOMENTUM,
    "nesterov": MOMENTUM,
    "lamb": {
        "learning_rate": 0.005,
        "one_minus_beta1": 0.1,
        "beta1": 0.9,
        "beta2": 0.999,
        "weight_decay": 0.01,
        **REGULARIZATION,
    },
    "adafactor": {
        "learning_rate": 0.0017486387539278373,
        "one_minus_beta1": 0.1,
        "beta1": 0.9,
        "beta2": 0.99,
        "weight_decay": 0.08121616522670176,
        **REGULARIZATION,
    },
    "shampoo": {
        "learning_rate": 0.0017486387539278373,
        "one_minus_beta1": 0.1,
        "beta1": 0.9,
        "beta2": 0.999,
        "weight_decay": 0.08121616522670176,
        "precondition_frequency": 10,
        "start_preconditioning_step": 10,
        **REGULARIZATION,
    },
    "lion": {
        "learning_rate": 0.00035,
        "one_minus_beta1": 0.1,
        "beta1": 0.9,
        "beta2": 0.99,
        "weight_decay": 0.4,
        **REGULARIZATION,
    },
    "adan": {
        "learning_rate": 0.0087,
        "one_minus_beta1": 0.02,
        "beta1": 0.98,
        "beta2": 0.92,
        "one_minus_beta3": 0.01,
        "weight_decay": 0.02,
        **REGULARIZATION,
    },
    "sophia": {
        "learning_rate": 0.00087,
        "one_minus_beta1": 0.035,
        "beta1": 0.965,
        "beta2": 0.99,
        "gamma": 0.01,
        "weight_decay": 0.16,
        "hessian_period": 10,
        **REGULARIZATION,
    },
    "schedule_free_adamw": {
        "learning_rate": 0.0025,
        "one_minus_beta1": 0.1,
        "beta1": 0.9,
        "beta2": 0.9955159689799007,
        "weight_decay": 0.08121616522670176,
        **REGULARIZATION,
    },
    "muon": {
        "learning_rate": 0.0036,
        "momentum": 0.95,
        "one_minus_beta1": 0.1,
        "beta1": 0.9,
        "beta2": 0.95,
        "weight_decay": 0.08121616522670176,
        **REGULARIZATION,
    },
}


def test_every_baseline_has_a_pinned_point():
    assert set(RESOLVED) == set(BASELINES)


@pytest.mark.parametrize("name", sorted(RESOLVED))
def test_self_tuning_hyperparameters_resolve_exactly(name):
    module = importlib.import_module(f"optbench.algorithms.{name}")
    defaults = module.SUBMISSION.extras["defaults"]
    assert defaults == module.SELF_TUNING  # what target setting reads is what trials use
    resolved = vars(resolve_hyperparameters(None, defaults))
    expected = RESOLVED[name]
    assert resolved == expected
    assert {k: type(v) for k, v in resolved.items()} == {k: type(v) for k, v in expected.items()}
