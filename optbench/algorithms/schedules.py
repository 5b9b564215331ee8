"""Learning-rate schedules as multipliers of the base rate: ``schedule(hp, step_hint)(step)``.

``step`` counts optimizer updates from 0 (the multiplier used for the first update is at step 0).
Each schedule warms up linearly over ``hp.warmup_factor * step_hint`` steps (none without the
key), then follows its profile; :data:`SCHEDULES` names them for ``make_submission(schedule=)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

Multiplier = Callable[[int], float]
ScheduleFactory = Callable[[Any, int], Multiplier]


def _warmup_steps(hp: Any, step_hint: int) -> int:
    return int(getattr(hp, "warmup_factor", 0.0) * step_hint)


def warmup(step: int, warmup_steps: int) -> float:
    """Linear warmup: (step + 1) / warmup_steps, reaching 1 at the last warmup step."""
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0


def _after_warmup(hp: Any, step_hint: int, profile: Callable[[float], float]) -> Multiplier:
    """Warmup, then ``profile(z)`` with ``z`` in [0, 1] the fraction of the remaining steps done
    (1 from ``step_hint`` on)."""
    w = _warmup_steps(hp, step_hint)
    decay = max(step_hint - w, 1)

    def multiplier(step: int) -> float:
        if step < w:
            return warmup(step, w)
        return profile(min((step - w) / decay, 1.0))

    return multiplier


def constant(hp: Any, step_hint: int) -> Multiplier:
    """No decay: 1 after the warmup."""
    return _after_warmup(hp, step_hint, lambda z: 1.0)


def warmup_cosine(hp: Any, step_hint: int) -> Multiplier:
    """AlgoPerf's schedule: cosine decay ``(1 + cos(pi z)) / 2`` to 0 at ``step_hint``; 0 after it
    (AlgoPerf's torch CosineAnnealingLR would rise again)."""
    return _after_warmup(hp, step_hint, lambda z: 0.5 * (1.0 + math.cos(math.pi * z)))


def warmup_linear_decay(hp: Any, step_hint: int) -> Multiplier:
    """Linear decay ``1 - (1 - end) z`` to ``end = hp.end_factor`` (default 0) at ``step_hint``:
    the schedule of AlgoPerf's momentum baselines."""
    end = float(getattr(hp, "end_factor", 0.0))
    return _after_warmup(hp, step_hint, lambda z: 1.0 - (1.0 - end) * z)


def rex(hp: Any, step_hint: int) -> Multiplier:
    """REX (Chen et al., 2022, "REX: Revisiting Budgeted Training with an Improved Schedule"):
    ``(1 - z) / (1/2 + (1 - z) / 2)``, sampled at every step as in the paper; 0 at ``step_hint``."""
    return _after_warmup(hp, step_hint, lambda z: (1.0 - z) / (0.5 + 0.5 * (1.0 - z)))


SCHEDULES: Mapping[str, ScheduleFactory] = MappingProxyType(
    {
        "constant": constant,
        "warmup_cosine": warmup_cosine,
        "warmup_linear_decay": warmup_linear_decay,
        "rex": rex,
    }
)


def named(name: str) -> ScheduleFactory:
    """The schedule called ``name`` in :data:`SCHEDULES`."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; known: {', '.join(SCHEDULES)}")
    return SCHEDULES[name]
