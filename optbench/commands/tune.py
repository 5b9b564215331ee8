"""``optbench tune``: the studies of one submission under a tuning ruleset."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from tqdm.auto import tqdm

from optbench import __version__, results, search_space, tuning
from optbench.commands.common import (
    add_checkpoint_args,
    add_submission_args,
    add_workload_args,
    check_writable,
    default_experiment_dir,
    positive_float,
    positive_int,
    seed,
    workload_names,
)
from optbench.errors import UserError
from optbench.executors import InlineExecutor, LocalProcessExecutor
from optbench.submission import load_submission, worker_source

EXPERIMENT_FILE = "optbench_experiment.json"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "tune",
        help="run the studies of a tuning ruleset",
        description="Run studies x trials of a submission on each workload; "
        "re-running on the same directory resumes.",
    )
    add_submission_args(p, default=None)
    p.add_argument("--ruleset", choices=("external", "self"), default="external")
    add_workload_args(p, many=True)
    p.add_argument(
        "--preset",
        choices=tuple(tuning.PRESETS),
        default=tuning.DEFAULT_PRESET,
        help="studies, trials and budget multiplier of AlgoPerf v0.6 (default) or v0.5",
    )
    p.add_argument("--studies", type=positive_int, help="number of studies (default: preset)")
    p.add_argument("--trials", type=positive_int, help="trials per study (default: preset)")
    p.add_argument(
        "--tuning-search-space",
        type=Path,
        metavar="FILE",
        help="search space (default: the one the submission ships)",
    )
    p.add_argument("--seed", type=seed, default=0, help="base seed of points and trial seeds")
    p.add_argument(
        "--experiment-dir",
        type=Path,
        metavar="DIR",
        help="where trials are written (default: experiments/tune-<time>)",
    )
    p.add_argument(
        "--executor",
        choices=("process", "inline"),
        default="process",
        help="process (default): each trial in its own worker process; inline: in "
        "this process (no isolation; debugging)",
    )
    p.add_argument(
        "--wall-limit",
        type=positive_float,
        metavar="SEC",
        help="kill a trial after SEC wall-clock seconds (default 3 x budget + 120 s)",
    )
    p.add_argument(
        "--memory-limit",
        type=positive_float,
        metavar="GB",
        help="cap each trial worker's memory (address space) at GB gibibytes",
    )
    p.add_argument("--batch-size", type=positive_int, metavar="N")
    p.add_argument("--max-steps", type=positive_int, metavar="N")
    p.add_argument(
        "--eval-every-steps",
        type=positive_int,
        metavar="N",
        help="evaluate at step 1 and every N steps instead of every eval period of "
        "submission time (machine-independent curves; not AlgoPerf's rule)",
    )
    add_checkpoint_args(p)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=_main)


def _check_experiment(path: Path, config: dict) -> None:
    """Refuse to mix runs of another optbench version, size or seed in one directory."""
    recorded = results.read_json(path / EXPERIMENT_FILE)
    if recorded is None:
        results.write_json(path / EXPERIMENT_FILE, config)
        return
    for key in ("optbench_version", "size", "seed", "preset"):
        if recorded.get(key) != config[key]:
            raise UserError(
                f"{path} holds an experiment with {key}={recorded.get(key)!r}, not "
                f"{config[key]!r}; use another --experiment-dir"
            )


def _main(args: argparse.Namespace) -> int:
    names = workload_names(args)
    rules = tuning.ruleset(args.ruleset, args.preset, args.studies, args.trials)
    submission = load_submission(args.submission, args.import_root)
    space = None
    if rules.name == "external":
        space = (
            search_space.load(args.tuning_search_space)
            if args.tuning_search_space
            else submission.search_space()
        )
    experiment = args.experiment_dir or default_experiment_dir("tune")
    options = {
        "data_dir": args.data_dir,
        "cache_dir": args.cache_dir,
        "allow_download": args.download,
        "device": args.device,
    }
    source = worker_source(args.submission)
    specs = tuning.plan(
        submission=source,
        submission_name=submission.name,
        workloads=names,
        size=args.size,
        rules=rules,
        space=space,
        experiment_dir=experiment,
        base_seed=args.seed,
        workload_options=options,
        batch_size=args.batch_size,
        max_steps=args.max_steps,
        eval_every_steps=args.eval_every_steps,
        checkpoint_every_sec=args.checkpoint_every,
        import_root=str(args.import_root.resolve()) if args.import_root else None,
        submission_digest=submission.digest,
    )
    check_writable(experiment)
    for spec in specs:
        tuning.check_same_source(spec.trial_dir, submission.name, submission.digest)
    _check_experiment(
        experiment,
        {
            "optbench_version": __version__,
            "size": args.size,
            "seed": args.seed,
            "preset": args.preset,
        },
    )
    executor = (
        InlineExecutor(progress=not args.no_progress)
        if args.executor == "inline"
        else LocalProcessExecutor(
            progress=not args.no_progress,
            wall_limit_sec=args.wall_limit,
            memory_limit_gb=args.memory_limit,
        )
    )
    todo = [s for s in specs if not tuning.is_finished(s)]
    print(
        f"{submission.name}: {rules.name} tuning, {rules.studies} studies x {rules.trials} "
        f"trials x {len(names)} workloads = {len(specs)} trials ({len(specs) - len(todo)} done "
        f"before); writing to {experiment}",
        flush=True,
    )
    summaries = tuning.run_plan(specs, executor, progress=not args.no_progress, log=tqdm.write)
    _print_summary(specs, summaries)
    failed = sum(1 for s in summaries if s.get("status") == "failed")
    print(f"{failed} of {len(specs)} trial(s) failed. Score with: optbench score {experiment}")
    return 0


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
