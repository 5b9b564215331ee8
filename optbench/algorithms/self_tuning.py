"""The self-tuning points the baselines share: AlgoPerf's NadamW point and the regularization
every baseline trains with.

AlgoPerf's self-tuning NadamW submission trains every workload with one point; baselines without
a published point of their own start from it and change what their method needs (a module's
docstring says why each change).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Dropout 0.1 and no label smoothing: AlgoPerf's NadamW self-tuning point, for every baseline.
REGULARIZATION: Mapping[str, float] = MappingProxyType(
    {"dropout_rate": 0.1, "label_smoothing": 0.0}
)

# AlgoPerf's self-tuning NadamW point, with linear warmup over 2% of ``step_hint``.
NADAMW: Mapping[str, float] = MappingProxyType(
    {
        "learning_rate": 1.7486387539278373e-3,
        "one_minus_beta1": 0.06733926164,
        "beta2": 0.9955159689799007,
        "weight_decay": 0.08121616522670176,
        "warmup_factor": 0.02,
        **REGULARIZATION,
    }
)


def nadamw(**changes: float) -> dict[str, float]:
    """A fresh copy of NadamW's self-tuning point with ``changes`` made (or keys added)."""
    return {**NADAMW, **changes}


def with_regularization(**point: float) -> dict[str, float]:
    """``point`` with :data:`REGULARIZATION` added, for a point owing nothing to NadamW's."""
    return {**point, **REGULARIZATION}
