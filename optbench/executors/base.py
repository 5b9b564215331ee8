"""The executor interface and what every executor shares: running one TrialSpec."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Protocol

from optbench import results
from optbench.tuning import TrialSpec


class Executor(Protocol):
    """Runs trials; after ``run(spec)`` returns, ``spec.trial_dir`` holds a ``result.json``."""

    def run(self, spec: TrialSpec) -> dict:
        """Run one trial and return its ``result.json`` content."""
        ...


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
            resume=resume,
            meta={**spec.meta, "ruleset": spec.ruleset, "study": spec.study, "trial": spec.trial},
        )
    except UserError as exc:
        return record_failure(spec, f"setup failed: {exc}")
    return result.summary()
