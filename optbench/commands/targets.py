"""``optbench targets``: run the target-setting procedure and (optionally) commit its output."""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path

from optbench import results
from optbench.commands.common import (
    add_workload_args,
    check_writable,
    default_experiment_dir,
    non_negative_int,
    positive_int,
    workload_names,
)
from optbench.executors import InlineExecutor, LocalProcessExecutor
from optbench.target_setting import (
    TARGET_SETTERS,
    calibrate_budget,
    committed_entry,
    measure_train_gap,
    set_targets,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "targets",
        help="set targets and budgets by AlgoPerf's procedure (scaled down)",
        description="Tune AdamW, NadamW, Nesterov and heavy-ball momentum on each workload, "
        "re-run the best, and derive targets and budgets (see optbench/target_setting.py).",
    )
    add_workload_args(p, many=True)
    p.add_argument(
        "--steps",
        type=positive_int,
        metavar="N",
        help="steps of every target-setting run, the new step_hint (default: the committed one)",
    )
    p.add_argument(
        "--evals", type=positive_int, default=16, help="evaluations per target-setting run"
    )
    p.add_argument(
        "--trials", type=non_negative_int, default=1, help="quasi-random points per algorithm"
    )
    p.add_argument(
        "--no-defaults",
        action="store_true",
        help="do not try each algorithm's self-tuning point besides the quasi-random ones",
    )
    p.add_argument("--reruns", type=positive_int, default=3, help="re-runs of the best")
    p.add_argument("--algorithms", nargs="+", default=list(TARGET_SETTERS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--experiment-dir", type=Path, metavar="DIR")
    p.add_argument("--executor", choices=("process", "inline"), default="inline")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument(
        "--skip-budget",
        action="store_true",
        help="set targets only (runs may share a busy machine); calibrate budgets later",
    )
    budget.add_argument(
        "--budgets-only",
        action="store_true",
        help="re-derive only the budgets of the committed targets, timed on this (quiet) machine",
    )
    budget.add_argument(
        "--reruns-only",
        action="store_true",
        help="repeat only the committed re-runs (picked configuration, recorded seeds) to set "
        "train_gap and check the committed targets; targets and budget are kept",
    )
    p.add_argument(
        "--write",
        action="store_true",
        help="write the results into optbench/workloads/targets/<name>.json",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=_main)


def _main(args: argparse.Namespace) -> int:
    names = workload_names(args)
    experiment = args.experiment_dir or default_experiment_dir("targets")
    check_writable(experiment)
    executor = InlineExecutor() if args.executor == "inline" else LocalProcessExecutor()
    options = {
        "data_dir": args.data_dir,
        "cache_dir": args.cache_dir,
        "allow_download": args.download,
        "device": args.device,
    }
    for name in names:
        if args.budgets_only:
            entry = committed_entry(name, args.size)
            entry.update(calibrate_budget(name, args.size, entry, workload_options=options))
        else:
            runs = {  # where and how the procedure runs its trials
                "experiment_dir": experiment / name,
                "executor": executor,
                "evals": args.evals,
                "workload_options": options,
                "progress": not args.no_progress,
            }
            if args.reruns_only:
                entry = measure_train_gap(name, args.size, **runs)
            else:
                entry = set_targets(
                    name,
                    args.size,
                    steps=args.steps,
                    trials=args.trials,
                    include_defaults=not args.no_defaults,
                    reruns=args.reruns,
                    algorithms=tuple(args.algorithms),
                    seed=args.seed,
                    budget=not args.skip_budget,
                    **runs,
                )
        results.write_json(experiment / name / f"targets_{args.size}.json", entry)
        summary = {k: v for k, v in entry.items() if k != "target_setting"}
        print(f"{name} ({args.size}): {json.dumps(summary)}", flush=True)
        check = entry.get("target_setting", {}).get("train_gap_reruns")
        if args.reruns_only and check is not None:
            print(
                f"  re-run targets {json.dumps(check['recomputed_targets'])}, "
                f"equal to the committed ones: {check['matches_committed']}",
                flush=True,
            )
        if args.write:
            path = Path(
                str(resources.files("optbench.workloads").joinpath("targets", f"{name}.json"))
            )
            table = json.loads(path.read_text()) if path.exists() else {}
            table[args.size] = entry
            results.write_json(path, table)
            print(f"  written to {path}")
    return 0
