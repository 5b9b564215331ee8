"""``optbench run``: one timed trial of a submission on each named workload, then a summary
against the committed reference times and an HTML report."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optbench.commands import add_command, common
from optbench.errors import UserError

if TYPE_CHECKING:  # imported by the handler only: they import torch
    from optbench.runner import TrialResult
    from optbench.spec import Workload
    from optbench.submission import Submission
    from optbench.submission_source import SubmissionSource


def register(subparsers: Any) -> None:
    """Add the ``run`` sub-command."""
    p = add_command(subparsers, "run")
    common.add_submission_args(p, default="nadamw")
    common.add_workload_args(p, many=False)
    p.add_argument(
        "--ruleset",
        choices=("auto", "external", "self"),
        default="auto",
        help="self: hyperparameters=None, budget x1.5 (AlgoPerf v0.6); external: a "
        "search-space point; auto (default): external if a search space is given or ships "
        "beside a submission file, else self",
    )
    common.add_search_space_arg(p, "AlgoPerf-format tuning_search_space.json")
    p.add_argument(
        "--hparams-index",
        type=common.non_negative_int,
        default=0,
        metavar="K",
        help="which point of the search space to use (default 0; the trial is trial_<K+1>)",
    )
    common.add_run_args(p, "run", "trial seed (default 0)")
    p.add_argument(
        "--budget-scale",
        type=common.positive_float,
        default=1.0,
        metavar="X",
        help="multiply the workload's time budget by X",
    )
    common.add_trial_limit_args(p)
    common.add_checkpoint_args(p)
    common.add_profile_args(p)
    p.add_argument(
        "--nproc-per-node",
        type=common.positive_int,
        default=1,
        metavar="N",
        help="data-parallel over N ranks of this machine under torchrun (gloo on the CPU, NCCL "
        "on GPUs), as AlgoPerf's PyTorch runner; unsupervised",
    )
    p.add_argument(
        "--no-report", action="store_true", help="do not write the HTML report at the end"
    )
    p.set_defaults(handler=_main)


def hyperparameters_for(
    args: argparse.Namespace, submission: Submission | SubmissionSource
) -> tuple[Any, str]:
    """The trial's hyperparameters (namedtuple) and ruleset: (None, "self") under self-tuning."""
    from optbench import search_space, tuning

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
    space = tuning.search_space_of(submission, space_path)
    if space is None:
        raise UserError(
            f"submission {submission.name!r} ships no search space: pass --tuning-search-space FILE"
        )
    point = space.point(args.hparams_index, seed=0)
    return search_space.as_hyperparameters(point), "external"


def _target(workload: Workload) -> str:
    sign = ">=" if workload.metric_higher_is_better else "<="
    return f"validation/{workload.target_metric_name} {sign} {workload.validation_target_value}"


def describe(result: TrialResult, workload: Workload) -> str:
    """The closing line of a trial, and one line per flag the runner raised on it."""
    if result.status == "failed":
        reason = (result.failure or "").splitlines()[0]
        line = f"{workload.name}: trial FAILED ({reason})"
    elif result.reached_target:
        line = (
            f"{workload.name}: time-to-target {result.time_to_target:.2f} s "
            f"(step {result.steps_to_target}; target {_target(workload)})"
        )
    else:
        line = (
            f"{workload.name}: target not reached ({_target(workload)}; stopped by "
            f"{result.stop_reason} after {result.submission_time:.1f} s, {result.global_step} "
            "steps)"
        )
    lines = [f"{line}; trial dir: {result.trial_dir}"]
    lines += [f"  FLAG {workload.name}: {flag}" for flag in result.flags]
    return "\n".join(lines)


def _trial_dirs(args: argparse.Namespace, experiment: Path, submission, workloads) -> list[Path]:
    """Each workload's trial folder (``trial_<K+1>`` of study 1)."""
    from optbench import tuning

    return [
        tuning.trial_directory(experiment, submission.name, 1, w.name, args.hparams_index + 1)
        for w in workloads
    ]


def _check_trials(trials: list[Path], submission) -> None:
    """Refuse trial folders holding another source's trial or a finished trial."""
    from optbench import tuning

    for trial in trials:
        tuning.check_same_source(trial, submission.name, submission.digest)
        if (trial / "result.json").exists():
            raise UserError(
                f"{trial} already holds a finished trial; choose another "
                "--experiment-dir or --hparams-index"
            )


def _run(
    args: argparse.Namespace, submission, hyperparameters, ruleset: str, pairs, profile
) -> list:
    """Run each (workload, trial folder) in turn, in ``profile``'s slot, printing its line;
    the results."""
    from optbench import profiles

    with profiles.slot_of(profile, args.device):
        return [
            _run_one(args, submission, hyperparameters, ruleset, pair, profile) for pair in pairs
        ]


def _run_one(args: argparse.Namespace, submission, hyperparameters, ruleset: str, pair, profile):
    """One trial of :func:`_run`, its line printed: (workload name, size, result)."""
    from optbench import tuning
    from optbench.runner import run_trial

    workload, trial = pair
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
        meta={
            "ruleset": ruleset,
            "study": 1,
            "trial": args.hparams_index + 1,
            "profile": profile.identity(),
        },
    )
    if result.stop_reason == "contract":  # the submission breaks the API: bad input
        raise UserError(f"submission {submission.name!r}: {result.failure}")
    print(describe(result, workload), flush=True)
    return workload.name, workload.size, result


def _without_nproc(argv: list[str]) -> list[str]:
    """``argv`` without its ``--nproc-per-node`` option (what each rank runs)."""
    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == "--nproc-per-node":
            skip = True
        elif not word.startswith("--nproc-per-node="):
            kept.append(word)
    return kept


def _main(args: argparse.Namespace) -> int:
    from optbench import distributed, trial_lock
    from optbench.cli import EXIT_OK, EXIT_TRIAL_FAILED
    from optbench.report import summary
    from optbench.submission_source import describe as describe_submission

    if args.nproc_per_node > 1 and not distributed.launched():
        return distributed.relaunch(_without_nproc(args.argv), args.nproc_per_node)
    names = common.workload_names(args)
    profile = common.trial_profile(args)
    # Never imported here: the trial's worker process imports it (the supervised trial).
    submission = describe_submission(args.submission, args.import_root)
    hyperparameters, ruleset = hyperparameters_for(args, submission)
    experiment = common.experiment_dir(args, "run")
    workloads = [common.make_workload(name, args, profile) for name in names]
    trials = _trial_dirs(args, experiment, submission, workloads)
    if distributed.rank() != 0:  # rank 0 checks, locks, prints and writes
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        pairs = zip(workloads, trials, strict=True)
        _run(args, submission, hyperparameters, ruleset, pairs, profile)
        return EXIT_OK
    common.check_writable(experiment)
    _check_trials(trials, submission)
    with trial_lock.holding(trials):
        _check_trials(trials, submission)  # again: another process may have run them meanwhile
        pairs = zip(workloads, trials, strict=True)
        done = _run(args, submission, hyperparameters, ruleset, pairs, profile)
    print(summary.format_run_summary(submission.name, ruleset, done), flush=True)
    if not args.no_report:
        print(summary.write_run_report(experiment), flush=True)
    failed = any(result.status == "failed" for _, _, result in done)
    return EXIT_TRIAL_FAILED if failed else EXIT_OK
