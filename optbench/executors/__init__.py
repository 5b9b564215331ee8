"""Executors run trials. Each records its trial's outcome in the trial directory, failures too."""

from optbench.executors.base import Executor, TrialInterrupted, record_failure
from optbench.executors.inline import InlineExecutor
from optbench.executors.local import LocalProcessExecutor
from optbench.executors.ray_executor import RayExecutor

__all__ = [
    "Executor",
    "InlineExecutor",
    "LocalProcessExecutor",
    "RayExecutor",
    "TrialInterrupted",
    "record_failure",
]
