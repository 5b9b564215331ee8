"""From a trial's hyperparameters to an optimizer's arguments."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any


def resolve_hyperparameters(hyperparameters: Any, defaults: Mapping[str, Any]) -> Any:
    """The defaults overlaid with the trial's hyperparameters (None under self-tuning).

    Keys the search space does not tune keep their default; ``beta1 = 1 - one_minus_beta1``
    is derived when the point gives ``one_minus_beta1``.
    """
    values = dict(defaults)
    if hyperparameters is not None:
        given = (
            hyperparameters._asdict()
            if hasattr(hyperparameters, "_asdict")
            else vars(hyperparameters)
        )
        values.update(given)
    if "one_minus_beta1" in values:
        values["beta1"] = 1.0 - values["one_minus_beta1"]
    return types.SimpleNamespace(**values)


def adam_arguments(hp: Any) -> dict[str, Any]:
    """The arguments every Adam-style optimizer takes, from resolved hyperparameters:
    ``lr=hp.learning_rate``, ``betas=(hp.beta1, hp.beta2)``, ``weight_decay=hp.weight_decay``."""
    return {"lr": hp.learning_rate, "betas": (hp.beta1, hp.beta2), "weight_decay": hp.weight_decay}
