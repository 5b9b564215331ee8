"""Learning-rate schedules as multipliers of the base rate: ``schedule(hp, step_hint)(step)``.

``step`` counts optimizer updates from 0 (the multiplier used for the first update is at step 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Multiplier = Callable[[int], float]


def _warmup_steps(hp: Any, step_hint: int) -> int:
    return int(getattr(hp, "warmup_factor", 0.0) * step_hint)


def warmup(step: int, warmup_steps: int) -> float:
    """Linear warmup: (step + 1) / warmup_steps, reaching 1 at the last warmup step."""
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0


def constant(hp: Any, step_hint: int) -> Multiplier:
    """No schedule (after an optional linear warmup of ``hp.warmup_factor * step_hint`` steps)."""
    w = _warmup_steps(hp, step_hint)
    return lambda step: warmup(step, w)


def warmup_cosine(hp: Any, step_hint: int) -> Multiplier:
    """AlgoPerf's schedule: linear warmup over ``hp.warmup_factor * step_hint`` steps, then cosine
    decay to 0 at ``step_hint``; 0 after it (AlgoPerf's torch CosineAnnealingLR would rise
    again)."""
    w = _warmup_steps(hp, step_hint)
    decay = max(step_hint - w, 1)

    def multiplier(step: int) -> float:
        if step < w:
            return warmup(step, w)
        progress = min((step - w) / decay, 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return multiplier


def warmup_linear_decay(hp: Any, step_hint: int) -> Multiplier:
    """Linear warmup, then linear decay to ``hp.end_factor`` (default 0) at ``step_hint``: the
    schedule of AlgoPerf's momentum baselines."""
    w = _warmup_steps(hp, step_hint)
    end = float(getattr(hp, "end_factor", 0.0))
    decay = max(step_hint - w, 1)

    def multiplier(step: int) -> float:
        if step < w:
            return warmup(step, w)
        progress = min((step - w) / decay, 1.0)
        return 1.0 - (1.0 - end) * progress

    return multiplier


def rex(hp: Any, step_hint: int) -> Multiplier:
    """REX (Chen et al., 2022): lr_t = (1 - p) / (1/2 + (1 - p)/2), p = progress after warmup."""
    w = _warmup_steps(hp, step_hint)
    decay = max(step_hint - w, 1)

    def multiplier(step: int) -> float:
        if step < w:
            return warmup(step, w)
        remaining = 1.0 - min((step - w) / decay, 1.0)
        return remaining / (0.5 + 0.5 * remaining)

    return multiplier
