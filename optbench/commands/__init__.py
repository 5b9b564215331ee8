"""The sub-commands of ``optbench``, one module each, and their help.

The help lives here, apart from the modules, so that ``optbench --help`` can list every command
without importing any of them (their handlers import torch and the workloads).
"""

from __future__ import annotations

import argparse
from typing import Any

# name -> (module, one-line help, description or None); the order is that of ``optbench --help``.
COMMANDS: dict[str, tuple[str, str, str | None]] = {
    "run": (
        "optbench.commands.run",
        "run one timed trial (time-to-target)",
        "Train a submission on a workload until its target, its budget or a step cap; print "
        "the time-to-target, then a summary and the HTML report.",
    ),
    "tune": (
        "optbench.commands.tune",
        "run the studies of a tuning ruleset",
        "Run studies x trials of a submission on each workload; re-running on the same "
        "directory resumes.",
    ),
    "validate": (
        "optbench.commands.validate",
        "compare optbench's ranking of submissions with a published leaderboard",
        "Run each submission on the suite (a reduced protocol by default), score them with "
        "optbench and compare the order with a published leaderboard. Re-running on the same "
        "--experiment-dir resumes.",
    ),
    "score": (
        "optbench.commands.score",
        "score an experiment directory (AlgoPerf rules)",
        None,
    ),
    "report": (
        "optbench.commands.report",
        "write an HTML report of an experiment directory",
        None,
    ),
    "targets": (
        "optbench.commands.targets",
        "set targets and budgets by AlgoPerf's procedure (scaled down)",
        None,
    ),
    "calibrate": (
        "optbench.commands.calibrate",
        "time this slot's budgets into a hardware profile",
        "Time each workload's target-setting configuration on this device with N CPU threads "
        "and write the slot's hardware profile: budgets that run and tune take with --profile "
        "(see docs/PROFILES.md).",
    ),
    "list": ("optbench.commands.list_cmd", "list workloads and baseline submissions", None),
}


def help_of(name: str) -> str:
    """The one-line help of command ``name``."""
    return COMMANDS[name][1]


def add_command(subparsers: Any, name: str) -> argparse.ArgumentParser:
    """The parser of command ``name``, added to ``subparsers`` with its help and description."""
    _, help_text, description = COMMANDS[name]
    return subparsers.add_parser(name, help=help_text, description=description)
