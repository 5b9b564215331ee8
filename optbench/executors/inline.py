"""Runs each trial in the calling process: no isolation, for debugging and fast tests."""

from __future__ import annotations

from concurrent.futures import Future

from optbench.executors.base import execute, record_crash, run_now
from optbench.tuning import TrialSpec


class InlineExecutor:
    """Trials run one after the other in this process; an exception fails only its trial.

    ``submit`` runs the trial before it returns (a finished future): one trial at a time, so
    its progress bar and its debugger session are the only ones on the terminal.
    """

    capacity = 1

    def __init__(self, progress: bool = False) -> None:
        self.progress = progress

    def run(self, spec: TrialSpec) -> dict:
        """Run one trial here; an exception escaping it is recorded as its failure."""
        try:
            return execute(spec, progress=self.progress)
        except Exception as exc:
            return record_crash(spec, exc)

    def submit(self, spec: TrialSpec) -> Future[dict]:
        """Run one trial here, now; its summary as a finished future."""
        return run_now(self.run, spec)

    def interrupt(self) -> None:
        """Nothing runs in the background: Ctrl-C already stopped the trial."""

    def close(self) -> None:
        """Nothing to release."""
