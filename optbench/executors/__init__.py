"""Executors run trials. Each records its trial's outcome in the trial directory, failures too."""

from optbench.executors.base import Executor, record_failure
from optbench.executors.inline import InlineExecutor
from optbench.executors.local import LocalProcessExecutor

__all__ = ["Executor", "InlineExecutor", "LocalProcessExecutor", "record_failure"]
