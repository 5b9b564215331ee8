"""``optbench run``: one timed trial of a submission on each named workload."""

from __future__ import annotations

import argparse
from pathlib import Path

from optbench import results, search_space, tuning
from optbench.commands.common import (
    add_checkpoint_args,
    add_submission_args,
    add_workload_args,
    check_writable,
    default_experiment_dir,
    make_workload,
    positive_float,
    positive_int,
    seed,
    workload_names,
)
from optbench.errors import UserError
from optbench.runner import TrialResult, run_trial
from optbench.submission import Submission, load_submission


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run",
        help="run one timed trial (time-to-target)",
        description="Train a submission on a workload until its target, "
        "its budget or a step cap; print the time-to-target.",
    )
    add_submission_args(p, default="nadamw")
    add_workload_args(p, many=False)
    p.add_argument(
        "--ruleset",
        choices=("auto", "external", "self"),
        default="auto",
        help="self: hyperparameters=None, budget x1.5 (AlgoPerf v0.6); external: a "
        "search-space point; auto "
        "(default): external if a search space is given or ships beside a submission "
        "file, else self",
    )
    p.add_argument(
        "--tuning-search-space",
        type=Path,
        metavar="FILE",
        help="AlgoPerf-format tuning_search_space.json",
    )
    p.add_argument(
        "--hparams-index",
        type=int,
        default=0,
        metavar="K",
        help="which point of the search space to use (default 0)",
    )
    p.add_argument("--seed", type=seed, default=0, help="trial seed (default 0)")
    p.add_argument(
        "--experiment-dir",
        type=Path,
        metavar="DIR",
        help="where the trial is written (default: experiments/run-<time>)",
    )
    p.add_argument(
        "--budget-scale",
        type=positive_float,
        default=1.0,
        metavar="X",
        help="multiply the workload's time budget by X",
    )
    p.add_argument(
        "--batch-size", type=positive_int, metavar="N", help="override the submission's batch size"
    )
    p.add_argument("--max-steps", type=positive_int, metavar="N", help="step cap")
    p.add_argument(
        "--eval-every-steps",
        type=positive_int,
        metavar="N",
        help="evaluate at step 1 and every N steps instead of every eval period of "
        "submission time (machine-independent curves; not AlgoPerf's rule)",
    )
    add_checkpoint_args(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_main)


def hyperparameters_for(args: argparse.Namespace, submission: Submission):
    """The trial's hyperparameters (namedtuple) under the chosen ruleset, or None (self-tuning)."""
    space_path = args.tuning_search_space
    ruleset = args.ruleset
    if ruleset == "auto":
        external = space_path is not None or (
            submission.search_space_path is not None and not submission.extras.get("defaults")
        )
        ruleset = "external" if external else "self"
    if ruleset == "self":
        if space_path is not None:
            raise UserError("--tuning-search-space needs --ruleset external (or auto)")
        return None, "self"
    space = search_space.load(space_path) if space_path else submission.search_space()
    if space is None:
        raise UserError(
            f"submission {submission.name!r} ships no search space: pass --tuning-search-space FILE"
        )
    point = space.point(args.hparams_index, seed=0)
    return search_space.as_hyperparameters(point), "external"


def describe(result: TrialResult, workload) -> str:
    """The closing line of a trial."""
    target = (
        f"validation/{workload.target_metric_name} "
        f"{'>=' if workload.metric_higher_is_better else '<='} "
        f"{workload.validation_target_value}"
    )
    if result.status == "failed":
        reason = (result.failure or "").splitlines()[0]
        return f"{workload.name}: trial FAILED ({reason}); trial dir: {result.trial_dir}"
    if result.reached_target:
        return (
            f"{workload.name}: time-to-target {result.time_to_target:.2f} s "
            f"(step {result.steps_to_target}; target {target}); trial dir: {result.trial_dir}"
        )
    return (
        f"{workload.name}: target not reached ({target}; stopped by {result.stop_reason} "
        f"after {result.submission_time:.1f} s, {result.global_step} steps); "
        f"trial dir: {result.trial_dir}"
    )


def _main(args: argparse.Namespace) -> int:
    names = workload_names(args)
    submission = load_submission(args.submission, args.import_root)
    hyperparameters, ruleset = hyperparameters_for(args, submission)
    experiment = args.experiment_dir or default_experiment_dir("run")
    workloads = [make_workload(name, args) for name in names]
    check_writable(experiment)
    trial_dirs = []
    for workload in workloads:
        trial = results.trial_dir(
            experiment, submission.name, 1, workload.name, args.hparams_index + 1
        )
        tuning.check_same_source(trial, submission.name, submission.digest)
        if (trial / "result.json").exists():
            raise UserError(
                f"{trial} already holds a finished trial; choose another "
                "--experiment-dir or --hparams-index"
            )
        trial_dirs.append(trial)
    status = 0
    for workload, trial in zip(workloads, trial_dirs, strict=True):
        result = run_trial(
            workload,
            submission,
            hyperparameters=hyperparameters,
            seed=args.seed,
            trial_dir=trial,
            budget_scale=args.budget_scale * tuning.ruleset(ruleset).budget_scale,
            max_steps=args.max_steps,
            batch_size=args.batch_size,
            progress=not args.no_progress,
            eval_every_steps=args.eval_every_steps,
            checkpoint_every_sec=args.checkpoint_every,
            resume=True,  # an earlier, killed run of this trial left a checkpoint
            meta={"ruleset": ruleset, "study": 1, "trial": args.hparams_index + 1},
        )
        if result.stop_reason == "contract":  # the submission breaks the API: bad input
            raise UserError(f"submission {submission.name!r}: {result.failure}")
        print(describe(result, workload), flush=True)
        status = max(status, 1 if result.status == "failed" else 0)
    return status
