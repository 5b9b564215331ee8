"""optbench: how fast do training algorithms reach a fixed quality? (AlgoPerf-compatible).

The public API, importable from here; each name is loaded on first use, so ``import optbench``
does not import torch::

    import optbench

    workload = optbench.get_workload("fmnist_mlp", "smoke")
    # A SubmissionSource runs supervised (its code imported in a worker process only); a
    # Submission object (load_submission, make_submission) runs in this process.
    result = optbench.run_trial(workload, optbench.describe_submission("nadamw"), trial_dir="exp/t")
    board = optbench.score_experiment("exp/")
    optbench.write_report(board, "report.html")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> the module defining it
_API: dict[str, str] = {
    # running trials
    "run_trial": "optbench.runner",
    "TrialResult": "optbench.runner",
    # workloads
    "get_workload": "optbench.workloads",
    "WORKLOADS": "optbench.workloads",
    "DEFAULT_SUITE": "optbench.workloads",
    # submissions
    "Submission": "optbench.submission",
    "load_submission": "optbench.submission",
    "SubmissionSource": "optbench.submission_source",
    "describe_submission": "optbench.submission_source",
    "make_submission": "optbench.algorithms",
    "BASELINES": "optbench.algorithms",
    # tuning
    "ruleset": "optbench.tuning",
    "plan": "optbench.tuning",
    "run_plan": "optbench.tuning",
    # scoring and reporting
    "Leaderboard": "optbench.scoring",
    "load_experiment": "optbench.scoring",
    "score_experiment": "optbench.scoring",
    "score_tree": "optbench.scoring",
    "write_report": "optbench.report",
    # errors
    "UserError": "optbench.errors",
}

# public names that differ from the defining module's
_ALIASES = {"describe_submission": "describe"}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first access (and keep it)."""
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'optbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _ALIASES.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
