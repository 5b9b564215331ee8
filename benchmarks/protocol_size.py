"""How large must a reduced tuning protocol be to recover AlgoPerf's order? Measured on
AlgoPerf's own v0.5 logs, where the full protocol's answer is known.

    python benchmarks/protocol_size.py LOGS/external_tuning TARGETS.json \
        [--submissions baseline schedule_free_adamw cyclic_lr lawa_queue] [--out DIR]

For K points (trials 1..K of each study: AlgoPerf takes a fixed list's points in order) and S
studies (every subset of S of the 5), the submissions are scored by AlgoPerf's rules on the base
workloads, and Kendall's tau between that order and the full protocol's (5 x 5) is recorded.
With ``--out DIR --points K``, the reference of the first K points (scores and per-workload
median times over the 5 studies) is written as CSVs for ``optbench validate --leaderboard`` and
``--reference-times``: a like-for-like reference for a mini-suite run of the same K points.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from optbench import scoring


def score(trials: pd.DataFrame, targets: scoring.Targets) -> tuple[pd.Series, pd.DataFrame]:
    """AlgoPerf-mode scores and per-workload median times of ``trials`` (base workloads)."""
    studies = scoring.study_times(scoring.trial_times(trials, targets), "algoperf")
    times = scoring.workload_times(studies)
    times = times.reindex(columns=list(targets.base_workloads))
    scored = scoring.apply_scoring_rules(times, targets, "algoperf")
    profiles = scoring.performance_profiles(scored, len(targets.base_workloads))
    return scoring.benchmark_scores(profiles), times


def tau(a: pd.Series, b: pd.Series) -> float:
    common = a.index.intersection(b.index)
    return float(stats.kendalltau(a[common], b[common]).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", type=Path, help="AlgoPerf's external_tuning folder")
    parser.add_argument("targets", type=Path, help="workload_targets_v05.json")
    parser.add_argument("--submissions", nargs="*", help="default: all")
    parser.add_argument("--out", type=Path, help="write the first-K-points reference CSVs here")
    parser.add_argument("--points", type=int, default=1, help="K of the written reference")
    args = parser.parse_args()

    trials = scoring.load_experiment(args.logs)
    if args.submissions:
        trials = trials[trials["submission"].isin(args.submissions)]
    loaded = scoring.load_targets(args.targets)
    bases = scoring.Targets(loaded.workloads, loaded.base_workloads, (), loaded.source)
    trials = trials[trials["workload"].isin(bases.base_workloads)]
    full, _ = score(trials, bases)
    print(
        "full protocol (5 points x 5 studies):",
        full.sort_values(ascending=False).round(4).to_dict(),
    )
    studies = sorted(trials["study"].unique())
    print("\n| points K | studies S | subsets | mean tau | min tau | share with tau = 1 |")
    print("|---|---|---|---|---|---|")
    for k in range(1, 6):
        for s in range(1, len(studies) + 1):
            taus = []
            for subset in itertools.combinations(studies, s):
                kept = trials[(trials["trial"] <= k) & trials["study"].isin(subset)]
                taus.append(tau(score(kept, bases)[0], full))
            t = np.array(taus)
            print(
                f"| {k} | {s} | {len(t)} | {t.mean():.3f} | {t.min():.3f} "
                f"| {np.mean(t > 0.999):.2f} |"
            )
    if args.out:
        first, times = score(trials[trials["trial"] <= args.points], bases)
        args.out.mkdir(parents=True, exist_ok=True)
        name = f"first_{args.points}_points"
        first.rename("score").rename_axis("submission").to_csv(args.out / f"scores_{name}.csv")
        times.rename_axis("submission").to_csv(args.out / f"times_{name}.csv")
        ranked = first.sort_values(ascending=False).round(4).to_dict()
        print(f"\nK = {args.points} over all studies: {ranked}")


if __name__ == "__main__":
    main()
