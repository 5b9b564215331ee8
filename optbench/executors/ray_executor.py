"""Runs each trial as a task on a Ray cluster (``optbench tune --executor ray``; see
docs/CLUSTER.md).

One trial is one Ray task (``num_cpus`` CPUs, one GPU when the trial's device is CUDA) in a
fresh worker process (``max_calls=1``, as the process executor's fresh process per trial). The
task calls :func:`optbench.executors.base.execute`, so the trial runs supervised (its submission
in a spawned child of the Ray worker) and writes its files, atomically, into its folder of the
experiment directory: that folder must be on a file system every node shares. A task whose worker
process died (killed, out of memory, its node lost) is retried once, resuming from the trial's
checkpoint if it has one; lost again, the trial is recorded as failed. Ray is an optional
dependency: ``pip install 'optbench[ray]'``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

from optbench import results
from optbench.errors import UserError
from optbench.executors.base import (
    TrialInterrupted,
    default_wall_limit,
    execute,
    record_crash,
    record_failure,
)
from optbench.tuning import TrialSpec, is_finished

# Ray's errors (ray.exceptions) that end one trial: its worker process died or its node was
# lost (both retried first), Ray's memory monitor killed it, or the task could not run there. Any
# other error (the cluster itself is gone) stops the study.
_LOST = ("WorkerCrashedError", "NodeDiedError")
_TRIAL_FAILURES = (
    *_LOST,
    "OutOfMemoryError",
    "OutOfDiskError",
    "RayTaskError",
    "TaskUnschedulableError",
    "RuntimeEnvSetupError",
)
INTERRUPT_WAIT_SEC = 30.0


def require_ray() -> Any:
    """The ``ray`` module, or a one-line error naming the extra that installs it."""
    try:
        import ray
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "ray":
            raise UserError(f"ray failed to import: {exc}") from None
        raise UserError(
            "--executor ray needs 'ray', which this environment lacks: pip install 'optbench[ray]'"
        ) from None
    return ray


def address_arg(text: str) -> str:
    """argparse type of ``--address``: ``auto``, ``local`` or ``HOST:PORT``."""
    import argparse

    if text in ("auto", "local"):
        return text
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(
            f"expected auto, local or HOST:PORT (a Ray head node's address), got {text!r}"
        )
    return text


def check_reachable(where: str | None, timeout: float = 10.0) -> None:
    """A one-line error unless something listens at ``HOST:PORT`` (``ray.init`` itself would
    retry an unreachable address for minutes)."""
    if where is None or where in ("auto", "local"):
        return
    host, _, port = where.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise UserError(
            f"no Ray cluster answers at {where} ({exc.strerror or exc}): start one with "
            "`ray start --head`, or pass its head node's HOST:PORT to --address"
        ) from None


def _on_cuda(spec: TrialSpec) -> bool:
    return str(spec.workload_options.get("device") or "cpu").startswith("cuda")


def _connection_failure(where: str | None, exc: BaseException) -> str:
    """The one-line error for a cluster ``ray.init`` could not join, with the likely fix: Ray
    turns token authentication on for a cluster whose head found a token in ``~/.ray``, and a
    driver given an explicit address uses it only when told to (``RAY_AUTH_MODE=token``)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    hint = ""
    if where not in (None, "auto", "local") and "RAY_AUTH_MODE" not in os.environ:
        hint = (
            "; if the cluster uses token authentication, set RAY_AUTH_MODE=token and its token "
            "(RAY_AUTH_TOKEN, or ~/.ray/auth_token: `ray get-auth-token` on the head node)"
        )
    return f"cannot connect to a Ray cluster at {where or 'the default address'}: {first}{hint}"


def task_options(spec: TrialSpec, num_cpus: float) -> dict[str, Any]:
    """The Ray resources of ``spec``'s task: ``num_cpus`` CPUs, and one GPU for a CUDA trial."""
    return {"num_cpus": num_cpus, "num_gpus": 1 if _on_cuda(spec) else 0}


def _hang(spec: TrialSpec, limit: float) -> None:
    """Past the wall-clock limit: record the hang, then end this worker process (and with it the
    trial's own worker, which dies with its parent). Ray's retry finds the record and returns it."""
    if not is_finished(spec):
        record_failure(spec, f"hang: exceeded the wall-clock limit of {limit:.0f} s")
        os._exit(3)


def run_trial_task(spec: TrialSpec, wall_limit: float, threads: int | None = None) -> dict:
    """The body of a trial's Ray task: run ``spec`` in this worker, supervised, within
    ``wall_limit`` seconds, with ``threads`` CPU threads (the task's CPUs; the trial's own
    processes inherit them); its ``result.json`` content (a crash recorded as its failure)."""
    if is_finished(spec):  # a retry after the result was written: the record is final
        return results.read_json(Path(spec.trial_dir) / "result.json")
    if threads is not None:
        from optbench import profiles

        profiles.set_threads(threads)
    if _on_cuda(spec):
        # Ray gives the task its GPU as the only visible one: cuda:N would name another.
        spec = replace(spec, workload_options={**spec.workload_options, "device": "cuda"})
    watchdog = threading.Timer(wall_limit, _hang, (spec, wall_limit))
    watchdog.daemon = True
    watchdog.start()
    try:
        return execute(spec)
    except BaseException as exc:  # includes SystemExit
        return record_crash(spec, exc)
    finally:
        watchdog.cancel()


class RayExecutor:
    """Trials as Ray tasks on the cluster at ``address`` (``auto``: the one this machine belongs
    to; ``HOST:PORT``: its head node; ``local``: a new one on this machine; None: Ray's default,
    the running cluster ``RAY_ADDRESS`` or this machine names, else a new local one).

    ``capacity`` is how many trials the cluster's CPUs hold at once (read at each submission, so
    nodes joining later are used); Ray queues any more. ``retries`` is how many times a trial
    whose worker process died is run again. The wall-clock limit (default ``3 x budget + 120 s``)
    is kept by the task itself.
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus: float = 1,
        wall_limit_sec: float | None = None,
        wall_factor: float = 3.0,
        wall_margin_sec: float = 120.0,
        retries: int = 1,
    ) -> None:
        check_reachable(address)
        ray = require_ray()
        try:  # Trials' output stays in the workers' logs: this terminal shows the progress.
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        except ConnectionError as exc:
            raise UserError(_connection_failure(address, exc)) from None
        self.ray, self.num_cpus = ray, num_cpus
        self.wall_limit_sec, self.wall_factor = wall_limit_sec, wall_factor
        self.wall_margin_sec, self.retries = wall_margin_sec, retries
        self._task = ray.remote(max_calls=1)(run_trial_task)
        self._failures = tuple(
            getattr(ray.exceptions, name)
            for name in _TRIAL_FAILURES
            if hasattr(ray.exceptions, name)
        )
        self._lock = threading.Lock()
        self._refs: dict[Any, Future[dict]] = {}
        self._interrupted = False

    @property
    def capacity(self) -> int:
        """Trials the cluster's CPUs hold at once (at least 1)."""
        cpus = self.ray.cluster_resources().get("CPU", 0)
        return max(1, int(cpus // self.num_cpus))

    def wall_limit(self, spec: TrialSpec) -> float:
        """The wall-clock seconds after which ``spec``'s task records it as hung."""
        if self.wall_limit_sec is not None:
            return self.wall_limit_sec
        return default_wall_limit(spec, self.wall_factor, self.wall_margin_sec)

    def submit(self, spec: TrialSpec) -> Future[dict]:
        """Submit ``spec`` as a Ray task; the future settles with its ``result.json`` content."""
        options = {**task_options(spec, self.num_cpus), "max_retries": self.retries}
        threads = max(1, int(self.num_cpus))
        ref = self._task.options(**options).remote(spec, self.wall_limit(spec), threads)
        out: Future[dict] = Future()
        out.set_running_or_notify_cancel()
        with self._lock:
            self._refs[ref] = out
        ref.future().add_done_callback(lambda done: self._settle(spec, ref, done, out))
        return out

    def run(self, spec: TrialSpec) -> dict:
        """Run ``spec`` on the cluster and wait for it."""
        return self.submit(spec).result()

    def _settle(self, spec: TrialSpec, ref: Any, done: Future, out: Future[dict]) -> None:
        """Pass the task's outcome to ``out``: its summary, a lost task's recorded failure, or
        :class:`TrialInterrupted` for a task :meth:`interrupt` ended."""
        with self._lock:
            self._refs.pop(ref, None)
        try:
            out.set_result(done.result())
            return
        except BaseException as exc:  # the task's failure, as Ray reports it
            error = exc
        summary = results.read_json(Path(spec.trial_dir) / "result.json")
        if summary is not None:  # written before the worker was lost: the record is final
            out.set_result(summary)
        elif self._interrupted:
            out.set_exception(TrialInterrupted(spec.trial_dir))
        elif isinstance(error, self._failures):
            out.set_result(record_failure(spec, self._reason(error), str(error)))
        else:
            out.set_exception(error)

    def _reason(self, error: BaseException) -> str:
        """The one-line failure of a trial that Ray's ``error`` ended."""
        kind = type(error).__name__
        first = (str(error).strip().splitlines() or [""])[0]
        if isinstance(error, tuple(getattr(self.ray.exceptions, n) for n in _LOST)):
            return f"worker lost {1 + self.retries} times ({kind}): {first}"
        return f"ray task failed ({kind}): {first}"

    def interrupt(self) -> None:
        """End every trial in flight (their workers are killed; nothing is recorded) and wait, a
        while, until they have ended."""
        with self._lock:
            self._interrupted = True
            refs = list(self._refs)
        for ref in refs:
            self.ray.cancel(ref, force=True)
        if refs:
            self.ray.wait(refs, num_returns=len(refs), timeout=INTERRUPT_WAIT_SEC)

    def close(self) -> None:
        """Disconnect from the cluster (one it started, ``local``, ends; any other keeps
        running)."""
        self.ray.shutdown()
