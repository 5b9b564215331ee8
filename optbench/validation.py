"""Does optbench rank submissions as a published leaderboard does? Plan, run and compare.

A validation runs a set of submissions on one suite under one ruleset, scores them with optbench's
rules and compares the ranking with a published one (:mod:`optbench.agreement`). External tuning
may use a reduced protocol: the first ``points`` points of each submission's search space in each
of ``studies`` studies (AlgoPerf v0.5 submissions ship lists of fixed points, taken in order).

Trials run interleaved: study by study, workload by workload, point by point, submission by
submission. A change of machine speed during a long run (this is common on shared machines) then
falls on all submissions of a workload alike instead of on whichever ran last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from optbench import agreement, scoring, tuning
from optbench.errors import UserError
from optbench.submission import Submission


@dataclass(frozen=True)
class Protocol:
    """The (possibly reduced) tuning protocol of a validation."""

    ruleset: str = "external"
    studies: int = 1
    points: int = 5
    preset: str = tuning.DEFAULT_PRESET

    def rules(self) -> tuning.Ruleset:
        trials = self.points if self.ruleset == "external" else None
        return tuning.ruleset(self.ruleset, self.preset, self.studies, trials)


def check_unique_names(submissions: Sequence[Submission]) -> None:
    """Two different sources may not share a name in one experiment (results are filed by name)."""
    seen: dict[str, str] = {}
    for sub in submissions:
        if sub.name in seen and seen[sub.name] != sub.digest:
            raise UserError(
                f"two different submissions are named {sub.name!r}: put them in folders of "
                "different names"
            )
        seen[sub.name] = sub.digest


def interleave(plans: Sequence[Sequence[tuning.TrialSpec]]) -> list[tuning.TrialSpec]:
    """All trials of all submissions in the order (study, workload, trial, submission)."""
    specs = [(i, spec) for i, plan in enumerate(plans) for spec in plan]
    workload_order = {w: k for k, w in enumerate(dict.fromkeys(s.workload for _, s in specs))}
    specs.sort(key=lambda p: (p[1].study, workload_order[p[1].workload], p[1].trial, p[0]))
    return [spec for _, spec in specs]


def plan(
    submissions: Sequence[tuple[str, Submission]],
    workloads: Sequence[str],
    protocol: Protocol,
    experiment_dir: Path,
    *,
    size: str = "mini",
    seed: int = 0,
    import_root: str | None = None,
    workload_options: Mapping | None = None,
) -> list[tuning.TrialSpec]:
    """Every trial of the validation, interleaved; ``submissions`` pairs how each was named on
    the command line (what the workers load) with the loaded submission."""
    check_unique_names([sub for _, sub in submissions])
    rules = protocol.rules()
    plans = []
    for source, sub in submissions:
        space = tuning.search_space_of(sub, None) if rules.name == "external" else None
        specs = tuning.plan(
            submission=source,
            submission_name=sub.name,
            workloads=list(workloads),
            size=size,
            rules=rules,
            space=space,
            experiment_dir=experiment_dir,
            base_seed=seed,
            workload_options=dict(workload_options or {}),
            import_root=import_root,
            submission_digest=sub.digest,
        )
        for spec in specs:
            tuning.check_same_source(spec.trial_dir, sub.name, sub.digest)
        plans.append(specs)
    return interleave(plans)


def algoperf_names(workloads: Sequence[str]) -> dict[str, str]:
    """Mini workload -> the AlgoPerf workload it mirrors."""
    from optbench.workloads import workload_class

    return {w: workload_class(w).algoperf_name for w in workloads}


def compare(
    experiment_dir: Path,
    published: Mapping[str, float],
    *,
    reference_times: pd.DataFrame | None = None,
    names: Mapping[str, str] | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> tuple[scoring.Leaderboard, agreement.Agreement]:
    """Score ``experiment_dir`` with optbench's rules and compare with ``published``."""
    board = scoring.score_experiment(experiment_dir, n_bootstrap=0)
    replicates = None
    if n_bootstrap:
        replicates = scoring.bootstrap(
            board.study_times, board.targets, board.mode, n_bootstrap, seed
        )
    result = agreement.compare(
        board.scores["score"].to_dict(),
        published,
        mini_times=board.times,
        reference_times=reference_times,
        workload_map=algoperf_names([str(w) for w in board.times.columns]),
        replicate_scores=None if replicates is None else np.asarray(replicates.scores),
        replicate_submissions=None if replicates is None else replicates.submissions,
        names=names,
    )
    return board, result
