"""``optbench list``: the workloads (with targets and budgets) and the baseline submissions."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from optbench.commands import add_command


def register(subparsers: Any) -> None:
    """Add the ``list`` sub-command."""
    p = add_command(subparsers, "list")
    p.set_defaults(handler=_main)


def _main(args: argparse.Namespace) -> int:
    from optbench.algorithms import BASELINES
    from optbench.workloads import WORKLOADS
    from optbench.workloads.base import settings_for

    print("Workloads (target on validation; budget = submission-time limit):")
    for name, cls in WORKLOADS.items():
        variant = f" variant of {cls.base_name}," if cls.base_name else ""
        print(f"  {name:<24} mirrors {cls.algoperf_name},{variant} {cls.description}")
        print(f"  {'':<24} data: {cls.data_source}")
        for size in cls.sizes:
            s = settings_for(name, size)
            print(
                f"  {'':<24} {size:<5}: target {s.validation_target_value} "
                f"(test {s.test_target_value}), budget {s.max_allowed_runtime_sec:g} s, "
                f"step_hint {s.step_hint}"
            )
    print("Baseline submissions (--submission NAME):")
    for name in BASELINES:
        doc = " ".join(
            (importlib.import_module(f"optbench.algorithms.{name}").__doc__ or "").split()
        )
        print(f"  {name:<24} {doc.split('. ')[0].rstrip('.')}")
    return 0
