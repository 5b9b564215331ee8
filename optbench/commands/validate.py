"""``optbench validate``: run submissions on the mini suite and compare optbench's ranking with a
published leaderboard (Kendall tau, Spearman rho, per-workload orders, disagreeing pairs)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from optbench.commands import add_command, common
from optbench.errors import UserError


def register(subparsers: Any) -> None:
    """Add the ``validate`` sub-command."""
    p = add_command(subparsers, "validate")
    p.add_argument(
        "submissions",
        nargs="+",
        help="submissions: baseline names, files, folders holding submission.py, dotted modules",
    )
    p.add_argument(
        "--leaderboard",
        required=True,
        metavar="CSV",
        help="published scores: columns submission,score (or published_score)",
    )
    p.add_argument(
        "--reference-times",
        metavar="CSV",
        help="published per-workload times to target (submission, one column per AlgoPerf "
        "workload), for per-workload order agreement",
    )
    p.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="OURS=THEIRS",
        help="a submission's name on the leaderboard, where it differs (repeatable)",
    )
    p.add_argument("--ruleset", choices=("external", "self"), default="external")
    p.add_argument(
        "--points",
        type=common.positive_int,
        default=5,
        help="search-space points per study (default 5: a v0.5 submission's whole list; on "
        "AlgoPerf's own logs 1 point reverses the order, see docs/VALIDATION.md)",
    )
    p.add_argument("--studies", type=common.positive_int, default=1, help="studies (default 1)")
    common.add_run_args(p, "validate", "base seed of the trials (default 0)")
    common.add_profile_args(p)
    common.add_import_root_arg(p)
    common.add_workload_args(p, many=True)
    p.add_argument("--bootstrap", type=common.non_negative_int, default=1000, metavar="N")
    p.add_argument("--score-only", action="store_true", help="compare what has run; run nothing")
    p.set_defaults(handler=_main)


def _names(pairs: list[str]) -> dict[str, str]:
    names = {}
    for pair in pairs:
        ours, sep, theirs = pair.partition("=")
        if not sep or not ours or not theirs:
            raise UserError(f"--name {pair!r}: expected OURS=THEIRS")
        names[ours] = theirs
    return names


def _run(args: argparse.Namespace, experiment: Path) -> bool:
    """Run the validation's unfinished trials; whether any trial failed."""
    from optbench import profiles, tuning, validation
    from optbench.executors import LocalProcessExecutor
    from optbench.submission import worker_source
    from optbench.submission_source import describe

    loaded = [(worker_source(s), describe(s, args.import_root)) for s in args.submissions]
    common.check_writable(experiment)
    profile = common.trial_profile(args)  # the slot's budgets; one-line errors first
    protocol = validation.Protocol(args.ruleset, args.studies, args.points)
    specs = validation.plan(
        loaded,
        common.workload_names(args),
        protocol,
        experiment,
        size=args.size,
        seed=args.seed,
        import_root=str(args.import_root.resolve()) if args.import_root else None,
        workload_options=common.workload_options(args),
    )
    points = protocol.points if args.ruleset == "external" else 1
    head = (
        f"validate: {len(loaded)} submissions, {protocol.ruleset} tuning, "
        f"{protocol.studies} studies x {points} points"
    )
    common.announce(head, specs, experiment)
    specs = profiles.with_profile(specs, profile)
    executor = LocalProcessExecutor(progress=not args.no_progress)
    with profiles.slot_of(profile, args.device):
        summaries = tuning.run_plan(specs, executor, progress=not args.no_progress, log=print)
    return any(s.get("status") == "failed" for s in summaries)


def _main(args: argparse.Namespace) -> int:
    from optbench import agreement, validation
    from optbench.cli import EXIT_OK, EXIT_TRIAL_FAILED

    published = agreement.read_leaderboard_csv(args.leaderboard)
    reference = (
        agreement.read_reference_times_csv(args.reference_times) if args.reference_times else None
    )
    names = _names(args.name)
    experiment = common.experiment_dir(args, "validate")
    failed = False if args.score_only else _run(args, experiment)
    _, result = validation.compare(
        experiment, published, reference_times=reference, names=names, n_bootstrap=args.bootstrap
    )
    markdown = agreement.to_markdown(result)
    (experiment / "validation.md").write_text(markdown)
    (experiment / "validation.html").write_text(agreement.to_html(result))
    print(markdown)
    print(f"wrote {experiment / 'validation.md'} and {experiment / 'validation.html'}")
    return EXIT_TRIAL_FAILED if failed else EXIT_OK
