"""The executor interface and what every executor shares: running one TrialSpec.

An executor runs trials either synchronously (``run(spec) -> dict``) or asynchronously
(``submit(spec) -> Future``, in the style of :mod:`concurrent.futures`), so that
:func:`optbench.tuning.run_plan` can keep several trials in flight (``capacity`` of them) and
collect each as it completes. Whichever way, the trial itself writes its ``result.json``
(atomically); an executor only records a failure for a trial that could not write one.
"""

from __future__ import annotations

import shutil
import traceback
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from optbench import results
from optbench.tuning import TrialSpec

if TYPE_CHECKING:
    from collections.abc import Callable


class TrialInterrupted(Exception):
    """A trial ended by an interruption (Ctrl-C, :meth:`Executor.interrupt`): it left no
    result, and none may be recorded for it (resuming runs it again)."""


class Executor(Protocol):
    """Runs trials; once a trial is done, ``spec.trial_dir`` holds its ``result.json``.

    ``capacity`` is how many trials :func:`optbench.tuning.run_plan` keeps submitted at once.
    ``interrupt`` ends every trial in flight without recording any of them (Ctrl-C); ``close``
    releases what the executor holds (processes, threads, a cluster connection).
    """

    capacity: int

    def run(self, spec: TrialSpec) -> dict:
        """Run one trial and return its ``result.json`` content."""
        ...

    def submit(self, spec: TrialSpec) -> Future[dict]:
        """Start one trial; the future's result is its ``result.json`` content (or it raises
        :class:`TrialInterrupted`)."""
        ...

    def interrupt(self) -> None:
        """End every trial in flight at once; none of them is recorded."""
        ...

    def close(self) -> None:
        """Release the executor's resources (it is not used afterwards)."""
        ...


def run_now(run: Callable[[TrialSpec], dict], spec: TrialSpec) -> Future[dict]:
    """``run(spec)`` in this thread, as an already finished future: how a synchronous executor
    submits. Ctrl-C is not captured in the future: it propagates at once, as from ``run``."""
    future: Future[dict] = Future()
    future.set_running_or_notify_cancel()
    try:
        future.set_result(run(spec))
    except Exception as exc:
        future.set_exception(exc)
    return future


def default_wall_limit(spec: TrialSpec, factor: float = 3.0, margin_sec: float = 120.0) -> float:
    """``factor x budget + margin`` seconds: the wall-clock limit of a trial (set-up, evals and
    data preparation are not submission time, so the wall clock runs ahead of the budget). The
    budget is the one the trial gets: its hardware profile's, else the committed one."""
    from optbench.workloads.targets import settings_for

    settings = spec.workload_options.get("settings") or settings_for(spec.workload, spec.size)
    budget = settings.max_allowed_runtime_sec
    return factor * budget * spec.budget_scale + margin_sec


def record_failure(spec: TrialSpec, reason: str, detail: str = "") -> dict:
    """Write a failed ``result.json`` (and ``error.txt``) for a trial that produced none."""
    out = Path(spec.trial_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "status": "failed",
        "stop_reason": "error",
        "reached_target": False,
        "time_to_target": None,
        "failure": reason,
    }
    (out / "error.txt").write_text(reason + ("\n" + detail if detail else "") + "\n")
    results.write_json(out / "result.json", summary)
    return summary


def record_crash(spec: TrialSpec, exc: BaseException) -> dict:
    """:func:`record_failure` for an exception that escaped a trial (its traceback's tail in
    ``error.txt``): the one wording every executor uses for a crash."""
    return record_failure(
        spec,
        f"crashed: {type(exc).__name__}: {exc}",
        "".join(traceback.format_exception(exc)[-6:]),
    )


def execute(spec: TrialSpec, progress: bool = False) -> dict:
    """Run ``spec`` in this process (what every executor's worker calls)."""
    from optbench import checkpoint, search_space
    from optbench.errors import UserError
    from optbench.runner import run_trial
    from optbench.submission_source import describe
    from optbench.workloads import get_workload

    out = Path(spec.trial_dir)
    resume = (out / checkpoint.FILENAME).exists()
    if out.exists() and not resume:
        shutil.rmtree(out)  # an unfinished earlier attempt: start the trial afresh
    try:
        submission = describe(spec.submission, spec.import_root)  # imported by the trial's worker
        if spec.submission_digest and submission.digest != spec.submission_digest:
            raise UserError(
                f"the source of {spec.submission_name!r} changed since the study was planned "
                f"(digest {submission.digest}, planned {spec.submission_digest})"
            )
        workload = get_workload(spec.workload, spec.size, **spec.workload_options)
        hp = (
            search_space.as_hyperparameters(spec.hyperparameters)
            if spec.hyperparameters is not None
            else None
        )
        result = run_trial(
            workload,
            submission,
            hyperparameters=hp,
            seed=spec.seed,
            trial_dir=out,
            budget_scale=spec.budget_scale,
            max_steps=spec.max_steps,
            batch_size=spec.batch_size,
            progress=progress,
            eval_every_steps=spec.eval_every_steps,
            checkpoint_every_sec=spec.checkpoint_every_sec,
            cap_sec=spec.cap_sec,
            cap_evals=spec.cap_evals,
            resume=resume,
            meta={**spec.meta, "ruleset": spec.ruleset, "study": spec.study, "trial": spec.trial},
        )
    except UserError as exc:
        return record_failure(spec, f"setup failed: {exc}")
    return result.summary()
