"""Runs each trial in its own worker process (the default executor), ``jobs`` at a time.

A crash, a kill (e.g. by the out-of-memory killer), ``sys.exit`` or a hang past the wall-clock
limit ends only that worker: the trial is recorded as failed with its reason and the study goes on.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from optbench import results
from optbench.executors.base import (
    TrialInterrupted,
    default_wall_limit,
    execute,
    record_crash,
    record_failure,
)
from optbench.tuning import TrialSpec


def _worker(
    spec: TrialSpec,
    progress: bool,
    memory_limit_bytes: int | None,
    slot: tuple[int, int] | None = None,
) -> None:
    # Ctrl-C is the parent's to handle (it kills this process); an interrupted trial must never
    # be recorded as a result.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if slot is not None:  # its own CPUs, which the submission's worker process inherits
        from optbench import profiles

        profiles.pin_slot(*slot)
    if memory_limit_bytes is not None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    try:
        execute(spec, progress=progress)
    except BaseException as exc:  # includes SystemExit from a submission
        record_crash(spec, exc)
        raise SystemExit(3) from None


class LocalProcessExecutor:
    """One fresh ``spawn``-ed process per trial, killed past ``wall_limit(spec)`` seconds.

    The default wall-clock limit is ``3 x budget + 120 s`` (set-up, evals and data preparation are
    not submission time, so the wall clock runs ahead of the budget). ``memory_limit_gb`` caps
    the worker's address space, so a trial that exhausts it fails alone (MemoryError) instead of
    waking the machine's out-of-memory killer. ``jobs`` trials run at once (``submit``; each
    watched by a thread of this process); the default 1 runs them one after the other, as
    ``run`` does. With ``slot_threads`` T, each trial's process is pinned to its own slot of T
    CPUs (:func:`optbench.profiles.pin_slot`, slots 0..jobs-1, each used by one trial at a
    time). A trial's own progress bar is shown only with ``jobs=1`` (several would overwrite
    each other).
    """

    def __init__(
        self,
        progress: bool = False,
        wall_limit_sec: float | None = None,
        wall_factor: float = 3.0,
        wall_margin_sec: float = 120.0,
        memory_limit_gb: float | None = None,
        jobs: int = 1,
        slot_threads: int | None = None,
    ) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {jobs}")
        self.progress = progress and jobs == 1
        self.wall_limit_sec = wall_limit_sec
        self.wall_factor = wall_factor
        self.wall_margin_sec = wall_margin_sec
        self.memory_limit_bytes = int(memory_limit_gb * 2**30) if memory_limit_gb else None
        self.jobs = jobs
        self.slot_threads = slot_threads
        self._free_slots: queue.SimpleQueue[int] = queue.SimpleQueue()
        for slot in range(jobs):
            self._free_slots.put(slot)
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._live: set[Any] = set()  # the running worker processes
        self._interrupted = False
        self._pool: ThreadPoolExecutor | None = None

    @property
    def capacity(self) -> int:
        """Trials in flight at once: ``jobs``."""
        return self.jobs

    def wall_limit(self, spec: TrialSpec) -> float:
        """The wall-clock seconds after which ``spec``'s worker is killed as hung."""
        if self.wall_limit_sec is not None:
            return self.wall_limit_sec
        return default_wall_limit(spec, self.wall_factor, self.wall_margin_sec)

    def submit(self, spec: TrialSpec) -> Future[dict]:
        """Start ``spec`` in a worker process (once one of the ``jobs`` slots is free)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="optbench-trial")
        return self._pool.submit(self.run, spec)

    def run(self, spec: TrialSpec) -> dict:
        """Run ``spec`` in a worker process and wait for it; its ``result.json`` content.

        Raises :class:`TrialInterrupted` if :meth:`interrupt` ended the worker before the trial
        wrote its result (nothing is recorded then).
        """
        slot = self._free_slots.get()
        try:
            process, hung = self._watch(spec, slot)
        finally:
            self._free_slots.put(slot)
        return self._outcome(spec, process, hung, self.wall_limit(spec))

    def _watch(self, spec: TrialSpec, slot: int) -> tuple[Any, bool]:
        """Start ``spec``'s worker (in ``slot``) and wait for it, at most its wall-clock limit;
        the ended process, and whether it hung."""
        pin = (slot, self.slot_threads) if self.slot_threads is not None else None
        # Not a daemon: a trial may start processes of its own (speech data preparation does).
        # So that it never outlives this call, it is killed on any way out of the wait.
        process = self._context.Process(
            target=_worker,
            args=(spec, self.progress, self.memory_limit_bytes, pin),
            daemon=False,
        )
        with self._lock:
            if self._interrupted:
                raise TrialInterrupted(spec.trial_dir)
            process.start()
            self._live.add(process)
        try:
            process.join(self.wall_limit(spec))
            hung = process.is_alive()
        finally:
            if process.is_alive():
                process.kill()
                process.join()
            with self._lock:
                self._live.discard(process)
        return process, hung

    def _outcome(self, spec: TrialSpec, process: Any, hung: bool, limit: float) -> dict:
        """The trial's record, or the failure its ended worker gets (none if interrupted)."""
        if hung:
            return record_failure(spec, f"hang: exceeded the wall-clock limit of {limit:.0f} s")
        summary = results.read_json(f"{spec.trial_dir}/result.json")
        if summary is not None:
            return summary
        if self._interrupted:
            raise TrialInterrupted(spec.trial_dir)
        code = process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            hint = " (possibly out of memory)" if -code == signal.SIGKILL else ""
            return record_failure(spec, f"worker killed by {name}{hint}")
        return record_failure(spec, f"worker exited with status {code} and left no result")

    def interrupt(self) -> None:
        """Kill every running worker (their trials are not recorded) and start no more."""
        with self._lock:
            self._interrupted = True
            for process in self._live:
                process.kill()
        self.close()

    def close(self) -> None:
        """Wait for the trials in flight (after :meth:`interrupt`: for their threads to end)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=self._interrupted)
