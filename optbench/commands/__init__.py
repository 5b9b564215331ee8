"""The sub-commands of ``optbench``, one module each, and their one-line help.

The help lines live here, apart from the modules, so that ``optbench --help`` can list every
command without importing any of them (their handlers import torch and the workloads).
"""

# name -> (module, one-line help); the order is that of ``optbench --help``.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("optbench.commands.run", "run one timed trial (time-to-target)"),
    "tune": ("optbench.commands.tune", "run the studies of a tuning ruleset"),
    "validate": (
        "optbench.commands.validate",
        "compare optbench's ranking of submissions with a published leaderboard",
    ),
    "score": ("optbench.commands.score", "score an experiment directory (AlgoPerf rules)"),
    "report": ("optbench.commands.report", "write an HTML report of an experiment directory"),
    "targets": (
        "optbench.commands.targets",
        "set targets and budgets by AlgoPerf's procedure (scaled down)",
    ),
    "list": ("optbench.commands.list_cmd", "list workloads and baseline submissions"),
}


def help_of(name: str) -> str:
    """The one-line help of command ``name``."""
    return COMMANDS[name][1]
