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
    positive_float,
    positive_int,
    workload_names,
)
from optbench.executors import InlineExecutor, LocalProcessExecutor
from optbench.target_setting import TARGET_SETTERS, set_targets


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "targets",
        help="set targets and budgets by AlgoPerf's procedure (scaled down)",
        description="Tune AdamW, NadamW, Nesterov and heavy-ball momentum on each workload, "
        "re-run the best, and derive targets and budgets (see optbench/target_setting.py).",
    )
    add_workload_args(p, many=True)
    p.add_argument(
        "--search-budget",
        type=positive_float,
        required=True,
        metavar="SEC",
        help="submission time of each search trial",
    )
    p.add_argument("--trials", type=positive_int, default=3, help="points per algorithm")
    p.add_argument("--reruns", type=positive_int, default=3, help="re-runs of the best")
    p.add_argument("--algorithms", nargs="+", default=list(TARGET_SETTERS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--experiment-dir", type=Path, metavar="DIR")
    p.add_argument("--executor", choices=("process", "inline"), default="inline")
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
        entry = set_targets(
            name,
            args.size,
            experiment_dir=experiment / name,
            executor=executor,
            search_budget_sec=args.search_budget,
            trials=args.trials,
            reruns=args.reruns,
            algorithms=tuple(args.algorithms),
            seed=args.seed,
            workload_options=options,
            progress=not args.no_progress,
        )
        results.write_json(experiment / name / f"targets_{args.size}.json", entry)
        summary = {k: v for k, v in entry.items() if k != "target_setting"}
        print(f"{name} ({args.size}): {json.dumps(summary)}", flush=True)
        if args.write:
            path = Path(
                str(resources.files("optbench.workloads").joinpath("targets", f"{name}.json"))
            )
            table = json.loads(path.read_text()) if path.exists() else {}
            table[args.size] = entry
            results.write_json(path, table)
            print(f"  written to {path}")
    return 0
