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

import difflib
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from optbench import presets, results
from optbench.errors import UserError

if TYPE_CHECKING:  # search_space imports scipy, which ``optbench --help`` does not need
    from optbench.search_space import SearchSpace
    from optbench.submission import Submission


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
    meta: dict[str, Any] = field(default_factory=dict)  # more meta_data.json fields (profile)
    cap_sec: float | None = None  # the study's best so far (optbench.capping), set at submit
    cap_evals: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# TrialSpec fields that :func:`plan` passes through unchanged to every trial.
TRIAL_OPTIONS = (
    "batch_size",
    "max_steps",
    "eval_every_steps",
    "checkpoint_every_sec",
    "import_root",
    "submission_digest",
    "meta",
)


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
    **options: Any,
) -> list[TrialSpec]:
    """All trials of all studies, in execution order (study by study, workload by workload).

    ``options`` are the :data:`TRIAL_OPTIONS` fields of :class:`TrialSpec` (``batch_size``,
    ``max_steps``, ...), the same for every trial.
    """
    unknown = sorted(set(options) - set(TRIAL_OPTIONS))
    if unknown:
        raise TypeError(f"plan() got unknown options {unknown}; known: {TRIAL_OPTIONS}")
    if rules.name == "external" and space is None:
        raise UserError(
            f"submission {submission_name!r} ships no search space for external "
            "tuning: pass --tuning-search-space FILE"
        )
    shared = {
        "submission": submission,
        "submission_name": submission_name,
        "size": size,
        "budget_scale": rules.budget_scale,
        "ruleset": rules.name,
        "workload_options": dict(workload_options or {}),
        **options,
    }
    specs = []
    for study in range(1, rules.studies + 1):
        points: list[dict[str, Any] | None] = [None]
        if rules.name == "external":
            assert space is not None
            points = space.draw(rules.trials, seed=base_seed, skip=(study - 1) * rules.trials)
        for workload in workloads:
            for trial, point in enumerate(points, start=1):
                where = trial_directory(experiment_dir, submission_name, study, workload, trial)
                specs.append(
                    TrialSpec(
                        **shared,
                        workload=workload,
                        study=study,
                        trial=trial,
                        seed=trial_seed(base_seed, workload, study, trial),
                        hyperparameters=point,
                        trial_dir=str(where),
                    )
                )
    return specs


def trial_directory(
    experiment_dir: str | Path, submission: str, study: int, workload: str, trial: int
) -> Path:
    """The folder of one trial (:func:`optbench.results.trial_dir`), refused unless it lies
    inside ``experiment_dir``: a submission's name becomes a folder name, and one such as
    ``../../x`` would file its trials elsewhere."""
    if submission in ("", ".", "..") or any(c in submission for c in "/\\\0"):
        raise UserError(
            f"submission name {submission!r} cannot be a folder name (its trials are filed "
            "under it): name the submission without '/', '\\' or '..'"
        )
    if study < 1 or trial < 1:
        raise UserError(f"study and trial numbers start at 1, got study {study}, trial {trial}")
    path = results.trial_dir(experiment_dir, submission, study, workload, trial)
    if not path.resolve().is_relative_to(Path(experiment_dir).resolve()):
        raise UserError(f"trial folder {path} would lie outside {experiment_dir}")
    return path


def check_known_names(names: Iterable[str], known: Iterable[str], what: str, where: str) -> None:
    """A one-line error for the first of ``names`` not in ``known`` (``where: 'x' is not
    <what>``), suggesting the closest known name: a misspelt key is otherwise ignored."""
    known = sorted(set(known))
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
            raise UserError(f"{where}: {name!r} is not {what}; {hint}")


# The keys of one dimension of a search space (AlgoPerf's tuning_search_space.json format).
DIMENSION_KEYS = ("min", "max", "scaling", "feasible_points")
# Hyperparameters that make_submission's recipe reads when present, besides a baseline's
# defaults (model dropout, label smoothing, gradient clipping, the warm-up/cosine schedule).
RECIPE_OPTIONAL_HYPERPARAMETERS = (
    "dropout_rate",
    "label_smoothing",
    "grad_clip",
    "warmup_factor",
    "end_factor",
)


def load_search_space(path: str | Path) -> SearchSpace:
    """Read a ``tuning_search_space.json``; a one-line error for a malformed file or a key a
    dimension does not have (``scalling``: the range would silently be linear)."""
    from optbench import search_space

    space = search_space.load(path)
    raw = json.loads(Path(path).read_text())
    if isinstance(raw, Mapping):
        for name, spec in raw.items():
            check_known_names(spec, DIMENSION_KEYS, "a key of a dimension", f"{path}: {name!r}")
    return space


def search_space_of(submission: Submission, path: str | Path | None) -> SearchSpace | None:
    """The search space at ``path`` (``--tuning-search-space``), else the one the submission
    ships, else None; its hyperparameter names checked by :func:`check_hyperparameter_names`."""
    path = path if path is not None else submission.search_space_path
    if path is None:
        return None
    space = load_search_space(path)
    check_hyperparameter_names(space, submission, str(path))
    return space


def check_hyperparameter_names(space: SearchSpace, submission: Submission, where: str) -> None:
    """Refuse a hyperparameter the submission never reads (``learnin_rate``).

    Only a submission built by :func:`optbench.algorithms.make_submission` declares what it
    reads (its defaults and the recipe's optional keys); an AlgoPerf submission reads
    ``hyperparameters.<name>`` itself, so its names cannot be checked before it runs.
    """
    defaults = submission.extras.get("defaults")
    if not defaults:
        return
    known = [*defaults, *RECIPE_OPTIONAL_HYPERPARAMETERS]
    points = space.fixed_points if space.fixed_points is not None else [space.dims or {}]
    for point in points:
        check_known_names(point, known, f"a hyperparameter of {submission.name!r}", where)


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


def was_interrupted(summary: Mapping[str, Any] | None) -> bool:
    """Whether a failed trial's record says only that the user interrupted it (Ctrl-C): a
    worker process that catches KeyboardInterrupt records it as a crash."""
    failure = (summary or {}).get("failure") or ""
    return (summary or {}).get("status") == "failed" and "KeyboardInterrupt" in failure.split(
        "\n", 1
    )[0]


def forget_interrupted(spec: TrialSpec) -> None:
    """Remove the record of a trial the user interrupted, so that resuming runs it again (from
    its checkpoint, which is kept) instead of skipping it as failed."""
    out = Path(spec.trial_dir)
    if was_interrupted(results.read_json(out / "result.json")):
        (out / "result.json").unlink(missing_ok=True)
        (out / "error.txt").unlink(missing_ok=True)


def _submit(executor: Any, spec: TrialSpec) -> Future[dict[str, Any]]:
    """``executor.submit(spec)``; an executor with ``run`` only runs the trial now, here."""
    from optbench.executors.base import run_now

    submit = getattr(executor, "submit", None)
    return submit(spec) if submit is not None else run_now(executor.run, spec)


def _summary(spec: TrialSpec, future: Future[dict[str, Any]]) -> dict[str, Any]:
    """The finished trial's summary; an interrupted trial (Ctrl-C in this process or in the
    trial's worker) raises KeyboardInterrupt and leaves no result behind."""
    from optbench.executors.base import TrialInterrupted

    try:
        summary = future.result()
    except (TrialInterrupted, CancelledError):
        summary = None
    if summary is None or was_interrupted(summary):
        forget_interrupted(spec)
        raise KeyboardInterrupt
    return summary


def _describe(running: Iterable[TrialSpec]) -> str:
    """The progress bar's note on the trials in flight: the first (in plan order) and how many
    more."""
    first, *more = running
    text = f"study {first.study}, {first.workload}, trial {first.trial}"
    return f"{text} (+{len(more)} more)" if more else text


def _capped(spec: TrialSpec) -> TrialSpec:
    """``spec`` with the cap its study's finished trials set (unchanged without one)."""
    from optbench import capping

    cap = capping.cap_for(Path(spec.trial_dir))
    return spec if cap is None else replace(spec, cap_sec=cap.sec, cap_evals=cap.evals)


class _PlanRun:
    """The trials of one :func:`run_plan` call in flight: submitted up to the executor's
    ``capacity``, collected as they complete, all ended (and none recorded) on Ctrl-C."""

    def __init__(
        self, executor: Any, bar: Any, log: Callable[[str], None] | None, capping: bool
    ) -> None:
        self.executor, self.bar, self.log, self.capping = executor, bar, log, capping
        self.running: dict[Future[dict[str, Any]], TrialSpec] = {}
        self.submitting: TrialSpec | None = None

    def capacity(self) -> int:
        """Trials to keep in flight (at least 1; an executor may change it as it runs)."""
        return max(1, int(getattr(self.executor, "capacity", 1)))

    def all(self, todo: list[TrialSpec]) -> None:
        """Run ``todo`` to the end; on any exception (Ctrl-C) end the trials in flight first."""
        order = {spec.trial_dir: i for i, spec in enumerate(todo)}
        queue = list(reversed(todo))
        try:
            while queue or self.running:
                while queue and len(self.running) < self.capacity():
                    self._start(queue.pop())
                if not self.running:
                    continue
                done, _ = wait(self.running, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: order[self.running[f].trial_dir]):
                    self._finish(self.running.pop(future), future)
        except BaseException:
            self._interrupt()
            raise

    def _start(self, spec: TrialSpec) -> None:
        if is_finished(spec):  # by another process, before this one took the locks
            self.bar.update(1)
            return
        if self.capping:
            spec = _capped(spec)
        self.submitting = spec
        self.bar.set_postfix_str(_describe([*self.running.values(), spec]))
        self.running[_submit(self.executor, spec)] = spec
        self.submitting = None

    def _finish(self, spec: TrialSpec, future: Future[dict[str, Any]]) -> None:
        summary = _summary(spec, future)
        if summary.get("status") == "failed" and self.log is not None:
            reason = (summary.get("failure") or "").splitlines()[0]
            self.log(f"  FAILED study {spec.study} {spec.workload} trial {spec.trial}: {reason}")
        self.bar.update(1)
        if self.running:
            self.bar.set_postfix_str(_describe(self.running.values()))

    def _interrupt(self) -> None:
        """End every trial in flight; remove any record that says only 'interrupted'."""
        interrupt = getattr(self.executor, "interrupt", None)
        if interrupt is not None and (self.running or self.submitting is not None):
            interrupt()
        for spec in [*self.running.values(), *filter(None, [self.submitting])]:
            forget_interrupted(spec)


def run_plan(
    specs: list[TrialSpec],
    executor: Any,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    capping: bool = True,
) -> list[dict[str, Any]]:
    """Run every unfinished trial of ``specs`` with ``executor``; return all trials' results.

    With ``capping``, a trial stops once it can no longer change its study's score
    (:mod:`optbench.capping`): scores are exactly those of uncapped trials.

    The executor's ``submit`` starts a trial (see :class:`optbench.executors.base.Executor`; one
    with ``run`` only runs each in turn); up to its ``capacity`` trials are in flight at once,
    each collected as it completes (its ``FAILED`` line logged then). Each trial writes its own
    ``result.json``, atomically. Finished trials (a ``result.json`` exists) are skipped, so
    re-running after an interruption completes the plan without duplicating anything. The
    unfinished trials' locks (:mod:`optbench.trial_lock`) are held throughout: a second process
    running the same plan stops at once with a one-line error. On Ctrl-C every trial in flight
    is ended (``executor.interrupt()``) and none of them is recorded.
    """
    from tqdm.auto import tqdm

    from optbench import trial_lock

    todo = [s for s in specs if not is_finished(s)]
    with (
        trial_lock.holding(s.trial_dir for s in todo),
        tqdm(
            total=len(specs),
            initial=len(specs) - len(todo),
            unit="trial",
            desc="trials",
            disable=not progress,
        ) as bar,
    ):
        _PlanRun(executor, bar, log, capping).all(todo)
    return [results.read_json(Path(s.trial_dir) / "result.json") or {} for s in specs]
