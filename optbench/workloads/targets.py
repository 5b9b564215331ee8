"""The targets registry: each workload's committed targets and budget, per size.

They live in ``targets/<name>.json`` beside this module (one object per size), written by the
target-setting procedure (:mod:`optbench.target_setting`). A variant has its own targets and its
base workload's budget fields (:data:`BASE_BUDGET_FIELDS`).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources
from typing import Any

from optbench.errors import UserError

# smoke and mini: optbench's scaled workloads (each has targets at both); full: AlgoPerf's own
# workloads at AlgoPerf's sizes (their only size). A workload class lists its own in ``sizes``.
SIZES = ("smoke", "mini", "full")
SCALED_SIZES = ("smoke", "mini")

# AlgoPerf: "variants keep the base budget"; so do their step hint, eval period and calibration.
BASE_BUDGET_FIELDS = (
    "max_allowed_runtime_sec",
    "eval_period_time_sec",
    "step_hint",
    "calibration_gflops",
)


@dataclass(frozen=True)
class Settings:
    """Targets, budget and schedule facts of one workload at one size."""

    validation_target_value: float
    test_target_value: float
    max_allowed_runtime_sec: float
    eval_period_time_sec: float
    step_hint: int
    source: str = ""
    min_steps_to_target: int | None = None  # plausibility floor (see optbench.integrity)
    train_gap: float | None = None  # how far train may lag the validation target at target
    calibration_gflops: float | None = None  # speed probe on the calibration machine


@cache
def _targets(name: str) -> dict[str, Any]:
    path = resources.files("optbench.workloads").joinpath("targets", f"{name}.json")
    return json.loads(path.read_text()) if path.is_file() else {}


def targets_table(name: str) -> dict[str, Any]:
    """The committed targets file of workload ``name`` (size -> entry), as a fresh copy."""
    return copy.deepcopy(_targets(name))


def _base_name(name: str) -> str | None:
    from optbench.workloads import WORKLOADS  # the workload registry imports this module

    return getattr(WORKLOADS.get(name), "base_name", None)


def target_entry(name: str, size: str) -> dict[str, Any]:
    """The committed entry of ``name`` at ``size`` as trials see it: a variant's budget fields
    are its base's. A one-line error if none is recorded."""
    entry = _targets(name).get(size)
    if entry is None:
        raise UserError(f"no targets recorded for workload {name!r} at size {size!r}")
    entry = copy.deepcopy(entry)
    base = _base_name(name)
    if base is not None:
        base_entry = _targets(base).get(size, {})
        entry.update({k: base_entry[k] for k in BASE_BUDGET_FIELDS if k in base_entry})
    return entry


def settings_for(name: str, size: str) -> Settings:
    """The committed targets and budget of workload ``name`` at ``size``."""
    entry = target_entry(name, size)
    known = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in entry.items() if k in known})


def targets_digest(name: str, size: str) -> str:
    """A sha256 of the committed entry of ``name`` at ``size`` (as :func:`target_entry`
    returns it, the target-setting record included), over its canonical JSON (sorted keys, no
    whitespace): a runner or scorer can record it and later refuse targets that changed."""
    canonical = json.dumps(target_entry(name, size), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
