"""Runs each trial in the calling process: no isolation, for debugging and fast tests."""

from __future__ import annotations

import traceback

from optbench.executors.base import execute, record_failure
from optbench.tuning import TrialSpec


class InlineExecutor:
    """Trials run one after the other in this process; an exception fails only its trial."""

    def __init__(self, progress: bool = False) -> None:
        self.progress = progress

    def run(self, spec: TrialSpec) -> dict:
        try:
            return execute(spec, progress=self.progress)
        except Exception as exc:
            return record_failure(
                spec,
                f"crashed: {type(exc).__name__}: {exc}",
                "".join(traceback.format_exception(exc)[-6:]),
            )
