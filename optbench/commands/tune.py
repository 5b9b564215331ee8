"""``optbench tune``: the studies of one submission under a tuning ruleset."""

from __future__ import annotations

import argparse
import contextlib
import math
from pathlib import Path
from typing import Any

from optbench import __version__, profiles, results, tuning
from optbench.commands import add_command, common
from optbench.errors import UserError

EXPERIMENT_FILE = "optbench_experiment.json"


def register(subparsers: Any) -> None:
    """Add the ``tune`` sub-command."""
    p = add_command(subparsers, "tune")
    common.add_submission_args(p, default=None)
    p.add_argument("--ruleset", choices=("external", "self"), default="external")
    common.add_workload_args(p, many=True)
    p.add_argument(
        "--preset",
        choices=tuple(tuning.PRESETS),
        default=tuning.DEFAULT_PRESET,
        help="studies, trials and budget multiplier of AlgoPerf v0.6 (default) or v0.5",
    )
    for what in ("studies", "trials"):
        p.add_argument(
            f"--{what}", type=common.positive_int, help=f"number of {what} (default: preset)"
        )
    common.add_search_space_arg(p, "search space (default: the one the submission ships)")
    p.add_argument(
        "--no-capping",
        action="store_true",
        help="run every trial to its end, even past its study's best time-to-target (capping "
        "changes no score; its trials just stop early)",
    )
    common.add_run_args(p, "tune", "base seed of points and trial seeds")
    _add_executor_args(p)
    p.add_argument(
        "--wall-limit",
        type=common.positive_float,
        metavar="SEC",
        help="kill a trial after SEC wall-clock seconds (default 3 x budget + 120 s)",
    )
    p.add_argument(
        "--memory-limit",
        type=common.positive_float,
        metavar="GB",
        help="cap each trial worker's memory (address space) at GB gibibytes",
    )
    common.add_trial_limit_args(p)
    common.add_checkpoint_args(p)
    common.add_profile_args(p, slots=True)
    p.set_defaults(handler=_main)


def _add_executor_args(p: argparse.ArgumentParser) -> None:
    """--executor and --address."""
    from optbench.executors.ray_executor import address_arg

    p.add_argument(
        "--executor",
        choices=("process", "inline", "ray"),
        default="process",
        help="process (default): each trial in its own worker process; inline: in "
        "this process (no isolation; debugging); ray: each trial a task on a Ray cluster "
        "(pip install 'optbench[ray]'; see docs/CLUSTER.md)",
    )
    p.add_argument(
        "--address",
        type=address_arg,
        metavar="auto|local|HOST:PORT",
        help="with --executor ray: the cluster (auto: the one this machine belongs to; "
        "HOST:PORT: its head node; local: a new one here; default: RAY_ADDRESS or the cluster "
        "running here, else a new local one)",
    )


def _check_executor_args(args: argparse.Namespace) -> None:
    """Options that only some executors take: a one-line error instead of being ignored."""
    if args.address is not None and args.executor != "ray":
        raise UserError("--address names a Ray cluster: it applies to --executor ray only")
    if args.executor == "ray" and args.memory_limit is not None:
        raise UserError(
            "--memory-limit applies to --executor process only (under Ray, each node's memory "
            "monitor ends a task that exhausts the node's memory)"
        )
    if args.executor == "ray" and args.jobs != 1:
        raise UserError(
            "--jobs applies to --executor process only: under Ray, the cluster's CPUs decide "
            "how many trials run at once (--threads-per-trial CPUs each)"
        )


def _check_experiment(path: Path, config: dict) -> None:
    """Refuse to mix runs of another optbench version, size, seed or hardware profile in one
    directory (an experiment recording no profile ran under the default one)."""
    recorded = results.read_json(path / EXPERIMENT_FILE)
    if recorded is None:
        results.write_json(path / EXPERIMENT_FILE, config)
        return
    recorded = {"profile": profiles.label(profiles.default_profile()), **recorded}
    for key in ("optbench_version", "size", "seed", "preset", "profile"):
        if recorded.get(key) != config[key]:
            raise UserError(
                f"{path} holds an experiment with {key}={recorded.get(key)!r}, not "
                f"{config[key]!r}; use another --experiment-dir"
            )


def _slot_options(args: argparse.Namespace, threads: int) -> dict[str, Any]:
    """The process executor's options for ``--jobs N`` > 1: N trials at once, each trial's
    process pinned to its own ``threads`` CPUs (``optbench.profiles.pin_slot``)."""
    if args.jobs == 1:
        return {}
    if args.executor == "inline":
        raise UserError("--jobs N > 1 runs trials in worker processes: leave out --executor inline")
    return {"jobs": args.jobs, "slot_threads": threads}


def _executor(args: argparse.Namespace, threads: int):
    """The executor ``--executor`` names (ray: connected to its cluster; ``threads`` CPUs per
    trial)."""
    from optbench.executors import InlineExecutor, LocalProcessExecutor

    if args.executor == "ray":
        from optbench.executors.ray_executor import RayExecutor

        return RayExecutor(args.address, num_cpus=threads, wall_limit_sec=args.wall_limit)
    slots = _slot_options(args, threads)
    if args.executor == "inline":
        return InlineExecutor(progress=not args.no_progress)
    return LocalProcessExecutor(
        progress=not args.no_progress,
        wall_limit_sec=args.wall_limit,
        memory_limit_gb=args.memory_limit,
        **slots,
    )


def _plan(args: argparse.Namespace, names: list[str], experiment: Path, profile):
    """The submission and every trial of the studies, with ``profile``'s budgets."""
    from optbench.submission import worker_source
    from optbench.submission_source import describe

    rules = tuning.ruleset(args.ruleset, args.preset, args.studies, args.trials)
    submission = describe(args.submission, args.import_root)  # imported by trial workers only
    space = None
    if rules.name == "external":
        space = tuning.search_space_of(submission, args.tuning_search_space)
    specs = tuning.plan(
        submission=worker_source(args.submission),
        submission_name=submission.name,
        workloads=names,
        size=args.size,
        rules=rules,
        space=space,
        experiment_dir=experiment,
        base_seed=args.seed,
        workload_options=common.workload_options(args),
        batch_size=args.batch_size,
        max_steps=args.max_steps,
        eval_every_steps=args.eval_every_steps,
        checkpoint_every_sec=args.checkpoint_every,
        import_root=str(args.import_root.resolve()) if args.import_root else None,
        submission_digest=submission.digest,
    )
    return submission, rules, profiles.with_profile(specs, profile)


def _main(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from optbench.cli import EXIT_OK, EXIT_TRIAL_FAILED

    _check_executor_args(args)
    names = common.workload_names(args)
    profile = common.trial_profile(args)
    experiment = common.experiment_dir(args, "tune")
    submission, rules, specs = _plan(args, names, experiment, profile)
    with contextlib.closing(_executor(args, profile.threads)) as executor:
        common.check_writable(experiment)
        for spec in specs:
            tuning.check_same_source(spec.trial_dir, submission.name, submission.digest)
        config = {"optbench_version": __version__, "size": args.size, "seed": args.seed}
        _check_experiment(
            experiment, {**config, "preset": args.preset, "profile": profiles.label(profile)}
        )
        head = (
            f"{submission.name}: {rules.name} tuning, {rules.studies} studies x {rules.trials} "
            f"trials x {len(names)} workloads"
        )
        common.announce(head, specs, experiment)
        with profiles.slot_of(profile, args.device, args.jobs):
            summaries = tuning.run_plan(
                specs,
                executor,
                progress=not args.no_progress,
                log=tqdm.write,
                capping=not args.no_capping,
            )
    _print_summary(specs, summaries)
    failed = sum(1 for s in summaries if s.get("status") == "failed")
    print(f"{failed} of {len(specs)} trial(s) failed. Score with: optbench score {experiment}")
    return EXIT_TRIAL_FAILED if failed else EXIT_OK


def _print_summary(specs: list[tuning.TrialSpec], summaries: list[dict]) -> None:
    best: dict[tuple[str, int], float] = {}
    for spec, summary in zip(specs, summaries, strict=True):
        t = summary.get("time_to_target")
        key = (spec.workload, spec.study)
        best[key] = min(best.get(key, math.inf), t if t is not None else math.inf)
    for workload in dict.fromkeys(s.workload for s in specs):
        times = [
            f"{best[(w, k)]:.1f}s" if math.isfinite(best[(w, k)]) else "inf"
            for (w, k) in best
            if w == workload
        ]
        print(f"  {workload}: best time-to-target per study: {', '.join(times)}")
