"""Tuning rulesets and studies: which trials a submission gets, with which points and seeds.

* External tuning: ``trials`` points per study drawn from the submission's search space; each study
  draws *its own* window of the quasi-random sequence, so the points of different studies are
  distinct (AlgoPerf's code re-draws the same points in every study, so its studies differ only
  by seed). Fixed-point lists are taken in order, the same list in every study.
* Self-tuning: ``hyperparameters=None``, one trial per study, the budget multiplied.

The same points are used for every workload (the search space is workload-agnostic, as in
AlgoPerf). Each trial's seed is a hash of (base seed, workload, study, trial), recorded with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from optbench import presets, results
from optbench.errors import UserError
from optbench.search_space import SearchSpace


@dataclass(frozen=True)
class Ruleset:
    """How many studies and trials, and the budget multiplier, of one tuning ruleset."""

    name: str  # "external" | "self"
    studies: int
    trials: int
    budget_scale: float


def _tuning_presets() -> Mapping[str, Mapping[str, Ruleset]]:
    """The tunable presets of :data:`optbench.presets.PRESETS`, as rulesets (one shared table)."""
    return MappingProxyType(
        {
            name: MappingProxyType(
                {
                    rule: Ruleset(rule, spec.studies, spec.trials, spec.budget_scale)
                    for rule, spec in preset.rulesets.items()
                    if spec.trials is not None
                }
            )
            for name, preset in presets.PRESETS.items()
            if preset.tunable
        }
    )


PRESETS: Mapping[str, Mapping[str, Ruleset]] = _tuning_presets()
DEFAULT_PRESET = "algoperf-v0.6"


def ruleset(
    name: str, preset: str = DEFAULT_PRESET, studies: int | None = None, trials: int | None = None
) -> Ruleset:
    """The ruleset ``name`` of ``preset``, with optional overrides of studies and trials."""
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if name not in PRESETS[preset]:
        raise UserError(f"unknown ruleset {name!r}; choose external or self")
    base = PRESETS[preset][name]
    if name == "self" and trials not in (None, 1):
        raise UserError("the self-tuning ruleset has exactly one trial per study")
    return Ruleset(name, studies or base.studies, trials or base.trials, base.budget_scale)


def trial_seed(base_seed: int, workload: str, study: int, trial: int) -> int:
    """A 31-bit seed determined by (base seed, workload, study, trial)."""
    text = f"optbench/{base_seed}/{workload}/{study}/{trial}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class TrialSpec:
    """Everything a worker process needs to run one trial (picklable, JSON-able)."""

    submission: str  # baseline name or path to a submission file
    submission_name: str
    workload: str
    size: str
    study: int  # 1-based
    trial: int  # 1-based
    seed: int
    hyperparameters: dict[str, Any] | None
    budget_scale: float
    trial_dir: str
    ruleset: str
    workload_options: dict[str, Any] = field(default_factory=dict)
    batch_size: int | None = None
    max_steps: int | None = None
    eval_every_steps: int | None = None
    checkpoint_every_sec: float | None = None
    import_root: str | None = None
    submission_digest: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def plan(
    *,
    submission: str,
    submission_name: str,
    workloads: list[str],
    size: str,
    rules: Ruleset,
    space: SearchSpace | None,
    experiment_dir: Path,
    base_seed: int = 0,
    workload_options: dict[str, Any] | None = None,
    batch_size: int | None = None,
    max_steps: int | None = None,
    eval_every_steps: int | None = None,
    checkpoint_every_sec: float | None = None,
    import_root: str | None = None,
    submission_digest: str = "",
) -> list[TrialSpec]:
    """All trials of all studies, in execution order (study by study, workload by workload)."""
    if rules.name == "external" and space is None:
        raise UserError(
            f"submission {submission_name!r} ships no search space for external "
            "tuning: pass --tuning-search-space FILE"
        )
    specs = []
    for study in range(1, rules.studies + 1):
        if rules.name == "external":
            assert space is not None
            points = space.draw(rules.trials, seed=base_seed, skip=(study - 1) * rules.trials)
        else:
            points = [None]
        for workload in workloads:
            for trial, point in enumerate(points, start=1):
                specs.append(
                    TrialSpec(
                        submission=submission,
                        submission_name=submission_name,
                        workload=workload,
                        size=size,
                        study=study,
                        trial=trial,
                        seed=trial_seed(base_seed, workload, study, trial),
                        hyperparameters=point,
                        budget_scale=rules.budget_scale,
                        trial_dir=str(
                            results.trial_dir(
                                experiment_dir, submission_name, study, workload, trial
                            )
                        ),
                        ruleset=rules.name,
                        workload_options=dict(workload_options or {}),
                        batch_size=batch_size,
                        max_steps=max_steps,
                        eval_every_steps=eval_every_steps,
                        checkpoint_every_sec=checkpoint_every_sec,
                        import_root=import_root,
                        submission_digest=submission_digest,
                    )
                )
    return specs


def check_same_source(trial_dir: str | Path, name: str, digest: str) -> None:
    """Refuse a trial directory written by another source of submission ``name``.

    Names are not identities (every AlgoPerf submission is a ``submission.py``); the digest of
    the source tree recorded in each trial's ``meta_data.json`` is.
    """
    meta = results.read_json(Path(trial_dir) / "meta_data.json")
    if meta is not None and meta.get("submission_digest") != digest:
        raise UserError(
            f"{trial_dir} holds a trial of another source of a submission named {name!r} "
            f"(digest {meta.get('submission_digest') or 'unknown'}, this one {digest}); "
            "use another --experiment-dir"
        )


def is_finished(spec: TrialSpec) -> bool:
    """Whether the trial has a final record (completed or failed): resuming skips it."""
    return (Path(spec.trial_dir) / "result.json").exists()


def run_plan(
    specs: list[TrialSpec],
    executor: Any,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every unfinished trial of ``specs`` with ``executor``; return all trials' results.

    Finished trials (a ``result.json`` exists) are skipped, so re-running after an interruption
    completes the plan without duplicating anything.
    """
    from tqdm.auto import tqdm

    todo = [s for s in specs if not is_finished(s)]
    with tqdm(
        total=len(specs),
        initial=len(specs) - len(todo),
        unit="trial",
        desc="trials",
        disable=not progress,
    ) as bar:
        for spec in todo:
            bar.set_postfix_str(f"study {spec.study}, {spec.workload}, trial {spec.trial}")
            summary = executor.run(spec)
            if summary.get("status") == "failed" and log is not None:
                reason = (summary.get("failure") or "").splitlines()[0]
                log(f"  FAILED study {spec.study} {spec.workload} trial {spec.trial}: {reason}")
            bar.update(1)
    return [results.read_json(Path(s.trial_dir) / "result.json") or {} for s in specs]
