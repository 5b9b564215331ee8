"""Runs each trial in its own worker process (the default executor).

A crash, a kill (e.g. by the out-of-memory killer), ``sys.exit`` or a hang past the wall-clock
limit ends only that worker: the trial is recorded as failed with its reason and the study goes on.
"""

from __future__ import annotations

import multiprocessing
import signal
import traceback

from optbench import results
from optbench.executors.base import execute, record_failure
from optbench.tuning import TrialSpec


def _worker(spec: TrialSpec, progress: bool, memory_limit_bytes: int | None) -> None:
    # Ctrl-C is the parent's to handle (it kills this process); an interrupted trial must never
    # be recorded as a result.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_limit_bytes is not None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    try:
        execute(spec, progress=progress)
    except BaseException as exc:  # includes SystemExit from a submission
        record_failure(
            spec,
            f"crashed: {type(exc).__name__}: {exc}",
            "".join(traceback.format_exception(exc)[-6:]),
        )
        raise SystemExit(3) from None


class LocalProcessExecutor:
    """One fresh ``spawn``-ed process per trial, killed past ``wall_limit(spec)`` seconds.

    The default wall-clock limit is ``3 x budget + 120 s`` (set-up, evals and data preparation are
    not submission time, so the wall clock runs ahead of the budget). ``memory_limit_gb`` caps
    the worker's address space, so a trial that exhausts it fails alone (MemoryError) instead of
    waking the machine's out-of-memory killer.
    """

    def __init__(
        self,
        progress: bool = False,
        wall_limit_sec: float | None = None,
        wall_factor: float = 3.0,
        wall_margin_sec: float = 120.0,
        memory_limit_gb: float | None = None,
    ) -> None:
        self.progress = progress
        self.wall_limit_sec = wall_limit_sec
        self.wall_factor = wall_factor
        self.wall_margin_sec = wall_margin_sec
        self.memory_limit_bytes = int(memory_limit_gb * 2**30) if memory_limit_gb else None
        self._context = multiprocessing.get_context("spawn")

    def wall_limit(self, spec: TrialSpec) -> float:
        if self.wall_limit_sec is not None:
            return self.wall_limit_sec
        from optbench.workloads.base import settings_for

        budget = settings_for(spec.workload, spec.size).max_allowed_runtime_sec
        return self.wall_factor * budget * spec.budget_scale + self.wall_margin_sec

    def run(self, spec: TrialSpec) -> dict:
        limit = self.wall_limit(spec)
        # Not a daemon: a trial may start processes of its own (speech data preparation does).
        # So that it never outlives this call, it is killed on any way out of the wait.
        process = self._context.Process(
            target=_worker, args=(spec, self.progress, self.memory_limit_bytes), daemon=False
        )
        process.start()
        try:
            process.join(limit)
            hung = process.is_alive()
        finally:
            if process.is_alive():
                process.kill()
                process.join()
        result_path = f"{spec.trial_dir}/result.json"
        if hung:
            return record_failure(spec, f"hang: exceeded the wall-clock limit of {limit:.0f} s")
        summary = results.read_json(result_path)
        if summary is not None:
            return summary
        code = process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            hint = " (possibly out of memory)" if -code == signal.SIGKILL else ""
            return record_failure(spec, f"worker killed by {name}{hint}")
        return record_failure(spec, f"worker exited with status {code} and left no result")
