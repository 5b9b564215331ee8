"""``optbench score DIR``: the AlgoPerf leaderboard of an experiment directory."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from optbench import presets, scoring
from optbench.commands import add_command
from optbench.errors import UserError

MAX_WARNINGS = 20
RULESET_TITLES = presets.RULESET_TITLES


def add_scoring_arguments(parser: argparse.ArgumentParser) -> None:
    """The options ``score`` and ``report`` share."""
    parser.add_argument(
        "directory",
        help="experiment directory (folder of submission folders) or AlgoPerf log tree (logs/ "
        "holding external_tuning/ and self_tuning/)",
    )
    parser.add_argument(
        "--preset",
        default="default",
        choices=sorted(scoring.PRESETS),
        help="scoring rules, targets and budgets: default (optbench's), algoperf-v0.5 or "
        "algoperf-v0.6",
    )
    parser.add_argument(
        "--ruleset",
        choices=scoring.RULESETS,
        help="score only this tuning ruleset (default: what the log tree says; a tree with "
        "external_tuning/ and self_tuning/ gives both leaderboards)",
    )
    parser.add_argument(
        "--allow-missing-workloads",
        action="store_true",
        help="score without scored workloads that no submission ran (over those present) "
        "instead of failing",
    )
    parser.add_argument("--targets", help="targets JSON (AlgoPerf workload_targets format)")
    parser.add_argument("--baseline", help="submission to compute speed-ups against")
    parser.add_argument(
        "--mode", choices=scoring.MODES, help="override the preset's mode (algoperf|optbench)"
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="N",
        help="bootstrap samples over studies for the 95%% intervals (0: none; default 1000)",
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument(
        "--budgets",
        help="JSON mapping workload -> external-tuning budget in seconds (self-tuning: times "
        "the preset's factor)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="score flagged trials (implausibly fast, slow machine, files altered after the "
        "run, another target than the committed one, ...) as never reaching the target",
    )


def register(subparsers: Any) -> None:
    """Add the ``score`` sub-command."""
    p = add_command(subparsers, "score")
    add_scoring_arguments(p)
    p.add_argument("--csv", metavar="OUT", help="also write one row per submission to this CSV")
    p.set_defaults(handler=_main)


def load_budgets(path: str | None) -> dict[str, float] | None:
    """Read a ``{workload: seconds}`` JSON file; UserError when malformed."""
    if path is None:
        return None
    raw = scoring.read_json_file(path, "budgets")
    if not isinstance(raw, Mapping) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in raw.values()
    ):
        raise UserError(f"malformed budgets file {path}: expected {{workload: seconds > 0}}")
    return {str(k): float(v) for k, v in raw.items()}


def _scoring_options(args: argparse.Namespace) -> dict:
    """:func:`optbench.scoring.score_experiment`'s options from the shared arguments."""
    return {
        "preset": args.preset,
        "targets": args.targets,
        "baseline": args.baseline,
        "mode": args.mode,
        "n_bootstrap": args.bootstrap,
        "seed": args.seed,
        "budgets": load_budgets(args.budgets),
        "allow_missing_workloads": args.allow_missing_workloads,
        "strict": args.strict,
    }


def leaderboards_from_args(args: argparse.Namespace) -> list[scoring.Leaderboard]:
    """One leaderboard per tuning ruleset of the directory (or of ``--ruleset``)."""
    return scoring.score_tree(args.directory, ruleset=args.ruleset, **_scoring_options(args))


def leaderboard_from_args(args: argparse.Namespace) -> scoring.Leaderboard:
    """The leaderboard of one ruleset (``--ruleset``, else the only one the tree holds)."""
    return scoring.score_experiment(args.directory, ruleset=args.ruleset, **_scoring_options(args))


def format_seconds(value: float) -> str:
    """Seconds for a table: ``inf`` never reached, ``-`` never run."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if math.isinf(value):
        return "inf"
    return f"{value:.1f}"


def _interval(low: float, high: float, fmt) -> str:
    if math.isnan(low) or math.isnan(high):
        return ""
    return f"[{fmt(low)}, {fmt(high)}]"


def format_leaderboard(board: scoring.Leaderboard) -> str:
    """The leaderboard as plain text: scores, per-workload times, failures, warnings."""
    rules = scoring.get_preset(board.preset).ruleset(board.ruleset)
    trials = "any number of" if rules.trials is None else str(rules.trials)
    lines = [
        f"{RULESET_TITLES[board.ruleset]} ({rules.studies} studies x {trials} trials, budgets "
        f"x{rules.budget_scale:g}): preset {board.preset}, mode {board.mode}, targets from "
        f"{board.targets.source}, {board.n_bootstrap} bootstrap samples (seed {board.seed})",
        f"base workloads: {', '.join(board.base_workloads)}",
    ]
    if board.missing_workloads:
        lines.append(f"left out (nobody ran them): {', '.join(board.missing_workloads)}")
    if board.held_out_workloads:
        lines.append(f"held-out variants: {', '.join(board.held_out_workloads)}")
    rows = []
    for rank, (sub, row) in enumerate(board.scores.iterrows(), start=1):
        entry = {"rank": rank, "submission": sub, "score": f"{row['score']:.4f}"}
        entry["95% CI"] = _interval(row["ci_low"], row["ci_high"], lambda v: f"{v:.4f}")
        if board.baseline is not None:
            speed = row["speedup"]
            entry[f"speed-up vs {board.baseline}"] = "-" if math.isnan(speed) else f"{speed:.3f}x"
        rows.append(entry)
    lines += ["", pd.DataFrame(rows).to_string(index=False)]
    times = board.times[board.reported_workloads].map(format_seconds)
    times.index.name = "submission"
    lines += ["", "median time to target (s; inf: never reached, -: not run):"]
    lines.append(times.to_string())
    if board.n_bootstrap:
        bounds = pd.DataFrame(index=times.index, columns=times.columns)
        for wl in times.columns:
            for sub in times.index:
                low, high = board.time_ci_low.at[sub, wl], board.time_ci_high.at[sub, wl]
                bounds.at[sub, wl] = _interval(low, high, format_seconds)
        lines += ["", "95% bootstrap intervals of those times:", bounds.to_string()]
    lines += format_ties(board)
    lines += format_flags(board)
    if len(board.failures):
        lines += ["", f"failed trials ({len(board.failures)}):"]
        lines.append(board.failures.to_string(index=False))
    else:
        lines += ["", "failed trials: none"]
    if board.warnings:
        lines += ["", f"warnings ({len(board.warnings)}):"]
        lines += [f"  {w}" for w in board.warnings[:MAX_WARNINGS]]
        if len(board.warnings) > MAX_WARNINGS:
            lines.append(f"  ... and {len(board.warnings) - MAX_WARNINGS} more")
    return "\n".join(lines)


def format_flags(board: scoring.Leaderboard) -> list[str]:
    """The flagged trials (submission, workload, study, trial, flag) and how they were scored."""
    if board.flags.empty:
        return ["", "flagged trials: none"]
    how = (
        "scored as never reaching the target (--strict)"
        if board.strict
        else "scored as they ran; --strict scores them as never reaching the target"
    )
    trials = board.flags.groupby(["submission", "workload", "study", "trial"]).ngroups
    return [
        "",
        f"flagged trials ({trials}; {how}):",
        board.flags.to_string(index=False, max_colwidth=120),
    ]


def format_ties(board: scoring.Leaderboard) -> list[str]:
    """The order-dependent ties of an algoperf-mode board and the score under each resolution.

    Only the submissions whose score changes between resolutions are shown.
    """
    if board.ties.empty:
        return []
    ties = board.ties.copy()
    ties["trials"] = ties["trials"].map(lambda ts: ", ".join(map(str, ts)))
    ties["times"] = ties["times"].map(lambda ts: ", ".join(f"{t:.3f}" for t in ts))
    ties = ties.rename(columns={"times": "times (s)", "chosen": "scored trial"})
    lines = [
        "",
        f"order-dependent ties ({len(ties)} studies): trials that first reach the target at the "
        "same eval, at different times; the official scorer takes the first in os.listdir "
        "order, optbench the lowest trial number:",
        ties.to_string(index=False),
    ]
    scores = board.tie_scores
    varying = [c for c in scores.columns if scores[c].nunique() > 1]
    total = scoring.tie_combinations(board.ties)
    if total > scoring.MAX_TIE_SCENARIOS:
        lines.append(
            f"({total} resolutions in all: each submission x workload's were tried with the "
            "others as scored)"
        )
    if not varying:
        exhaustive = total <= scoring.MAX_TIE_SCENARIOS
        lines.append(
            "no score depends on how these ties are resolved"
            if exhaustive
            else "no score changes in the resolutions tried"
        )
        return lines
    shown = scores[varying].map(lambda v: f"{v:.4f}")
    lines += ["score under each resolution (that changes a median time):", shown.to_string()]
    return lines


def _write_csv(boards: list[scoring.Leaderboard], out: Path) -> None:
    """One row per ruleset and submission (``ruleset`` first)."""
    frames = [board.to_frame() for board in boards]
    for board, frame in zip(boards, frames, strict=True):
        frame.insert(0, "ruleset", board.ruleset)
    try:
        pd.concat(frames, ignore_index=True).to_csv(out, index=False)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None


def check_output(path: Path) -> None:
    """A one-line error, before any scoring or printing, for an output file that cannot be
    written (its folder missing or read-only, or a folder in its place)."""
    folder = path.parent
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: no such folder {folder}")
    if path.is_dir() or not os.access(folder, os.W_OK):
        raise UserError(f"cannot write {path}: {'a folder' if path.is_dir() else 'read-only'}")


def _main(args: argparse.Namespace) -> int:
    if args.csv:
        check_output(Path(args.csv))
    boards = leaderboards_from_args(args)
    print("\n\n".join(format_leaderboard(board) for board in boards))
    if args.csv:
        out = Path(args.csv)
        _write_csv(boards, out)
        print(f"\nwrote {out}")
    return 0
