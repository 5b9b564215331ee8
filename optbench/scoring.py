"""AlgoPerf scoring: time to target, performance profiles, benchmark score, speed-ups.

The pipeline, in the order the rules apply (see ``docs/SCORING.md`` for the long form):

1. **Trial**: the time of a trial is the ``score`` column (AlgoPerf's accumulated submission
   time) at the first eval whose validation target metric reaches the target: ``>=`` for a
   maximised metric, ``<=`` for a minimised one (the official scorer uses ``operator.ge`` /
   ``operator.le``). NaN never reaches. A trial that never reaches is infinite; so is an optbench
   trial whose ``result.json`` says ``failed`` or is missing.
2. **Study**: the best trial of the study; infinite when no trial reaches.
3. **Workload**: ``np.median`` over the studies present, infinities included (so a majority of
   failed studies gives infinity). A study with no trial directory at all is absent, not
   infinite, exactly as in the official scorer; missing studies/trials are reported as warnings.
4. **Rules**, over the table submissions x (base + held-out workloads), in this order:
   (1) a held-out variant becomes infinite where its base is infinite; (2) every time above
   4x the column's fastest becomes infinite; (3) a base becomes infinite where its held-out
   variant is infinite. Only the base columns are scored. A workload a submission never ran
   counts as infinite.
5. **Profile**: ratio r = t / fastest t of the column; rho(tau) = share of the base workloads
   with r <= tau, on ``np.linspace(1, 4, 100)``; score = trapezoid area / (4 - 1).
6. **Speed-up** against a baseline submission: geometric mean over the base workloads of
   t / t_baseline (the official ``compute_speedups.py`` quantity, reported as ``time_ratio``;
   ``speedup`` = 1 / time_ratio), infinite times replaced by the workload's budget for the
   leaderboard's ruleset: the external budget times the ruleset's multiplier (self-tuning: 3x
   in v0.5, 1.5x in v0.6), plus one second under the ``algoperf-*`` presets, as the official
   script does.

A log tree is scored per tuning ruleset, read from AlgoPerf's ``external_tuning/`` and
``self_tuning/`` folders (or optbench's meta data, or given); :func:`score_tree` gives one
leaderboard per ruleset. The presets (:mod:`optbench.presets`) carry each version's targets,
budgets, studies and trials per ruleset. A scored workload that no submission ran is an error
unless explicitly left out (the scores are then over the workloads present).

Two modes differ only where the official scorer is, in our view, wrong:

``mode="algoperf"`` follows the official ``scoring/performance_profile.py`` of
mlcommons/submissions_algorithms:

* within a study it picks the trial whose *eval index* of first reaching the target is the
  smallest and uses that trial's time at that eval, which is not always the smallest time
  (trials evaluate at different moments); ties on the index go to the lowest trial number.
  The official code takes the first trial in ``os.listdir`` order, which depends on the
  filesystem, so where tied trials reached the target at different times the official result
  is not determined by the logs: every such study is reported (:func:`order_ties`) with the
  scores under each resolution (:func:`tie_scores`);
* a trial directory without ``eval_measurements.csv`` is skipped silently;
* with no declared held-out workloads, every other variant column present in the logs is
  still run through rules (1) and (3) against its base.

``mode="optbench"`` (the default) corrects these: the study time is the truly smallest time
to target over its trials; a trial without measurements counts as a failed trial (so it
still makes its study exist); only declared held-out variants take part in the variant rule.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import re
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optbench import presets, profiles
from optbench.errors import UserError
from optbench.results import file_digests

MODES = ("algoperf", "optbench")
TIME_COLUMN = "score"
FALLBACK_TIME_COLUMN = "accumulated_submission_time"
MEASUREMENTS_FILE = "eval_measurements.csv"
OPTBENCH_META_FILE = "meta_data.json"
# AlgoPerf writes meta_data_<preemption count>.json; the first run of a trial writes _0.
ALGOPERF_META_FILE = "meta_data_0.json"
ALGOPERF_META = "algoperf"
TAU_MIN = 1.0
TAU_MAX = 4.0
NUM_TAUS = 100
FOUR_X = 4.0

# AlgoPerf's name rule (performance_profile.check_if_minimized): minimised names are tried first.
MINIMIZED_METRICS = ("ce_loss", "error_rate", "ctc_loss", "wer", "l1_loss", "loss")
MAXIMIZED_METRICS = ("mean_average_precision", "ssim", "accuracy", "bleu")
# optbench extension for names the official rule rejects (finewebedu_lm's perplexity).
EXTRA_MINIMIZED_METRICS = ("ppl", "perplexity")

_STUDY_RE = re.compile(r"study_(\d+)$")
_TRIAL_RE = re.compile(r"trial_(\d+)$")
_WORKLOAD_RE = re.compile(r"(.+)_(jax|pytorch)$")
_ARRAY_COLUMNS = ("time", "accumulated_submission_time", "global_step")
FLAG_TARGET_DIFFERS = "target differs from the committed one"
FLAG_ALTERED = "results altered after the run"
_TRIAL_KEYS = (
    "submission",
    "workload",
    "study",
    "trial",
    "framework",
    "order",
    "status",
    "reason",
    "has_evals",
)


# --------------------------------------------------------------------------------------------
# Presets and targets
# --------------------------------------------------------------------------------------------
Preset = presets.Preset
PRESETS = presets.PRESETS
V05_BUDGETS = presets.V05_BUDGETS
RULESETS = presets.RULESETS


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (see :mod:`optbench.presets`); UserError when unknown."""
    return presets.get(name)


def is_minimized(metric: str) -> bool:
    """Whether a metric is minimised, by AlgoPerf's name rule (``validation/`` prefix optional).

    Names starting with ce_loss, error_rate, ctc_loss, wer, l1_loss or loss are minimised (tried
    first), mean_average_precision, ssim, accuracy and bleu maximised; ``best_``/``final_`` are
    ignored. ppl/perplexity (minimised) extend the official list.
    """
    name = metric.split("/", 1)[1] if "/" in metric else metric
    for prefix in ("best_", "final_"):
        name = name.replace(prefix, "")
    for candidates, minimized in (
        (MINIMIZED_METRICS, True),
        (MAXIMIZED_METRICS, False),
        (EXTRA_MINIMIZED_METRICS, True),
    ):
        if any(name.startswith(c) for c in candidates):
            return minimized
    raise UserError(f"cannot tell whether metric {metric!r} is minimised; give its goal")


@dataclass(frozen=True)
class WorkloadTarget:
    """The validation target of one workload (name without framework suffix)."""

    name: str
    metric: str
    value: float
    minimize: bool
    step_hint: int | None = None
    budget_sec: float | None = None
    base_workload: str | None = None

    @property
    def column(self) -> str:
        """The eval_measurements.csv column holding the target metric."""
        return f"validation/{self.metric}"


@dataclass(frozen=True)
class Targets:
    """Targets of every known workload plus the scored (base) and held-out workload lists.

    ``base_workloads``/``held_out_workloads`` are ``None`` when the source did not say; they
    are then filled from the experiment by :func:`resolve_targets`. ``committed``: the
    workloads whose target is the one optbench commits (:func:`committed_target`), against
    which their trials' recorded targets are checked.
    """

    workloads: Mapping[str, WorkloadTarget]
    base_workloads: tuple[str, ...] | None = None
    held_out_workloads: tuple[str, ...] | None = None
    source: str = ""
    committed: tuple[str, ...] = ()  # workloads whose target is optbench's committed one

    def get(self, workload: str) -> WorkloadTarget:
        """The target of ``workload``; UserError when there is none."""
        try:
            return self.workloads[workload]
        except KeyError:
            raise UserError(f"no target for workload {workload!r} in {self.source}") from None

    def base_of(self, workload: str) -> str:
        """The base workload of a variant: declared, else the longest base name prefix."""
        target = self.workloads.get(workload)
        if target is not None and target.base_workload:
            return target.base_workload
        bases = sorted(self.base_workloads or (), key=len, reverse=True)
        for base in bases:
            if workload == base or workload.startswith(base + "_"):
                return base
        return workload


def _target_from_spec(name: str, spec: Any, where: str) -> WorkloadTarget:
    if not isinstance(spec, Mapping):
        raise UserError(f"malformed targets in {where}: entry {name!r} is not an object")
    metric = spec.get("target_metric_name")
    value = spec.get("validation_target_value")
    if not isinstance(metric, str) or not isinstance(value, int | float) or isinstance(value, bool):
        raise UserError(
            f"malformed targets in {where}: {name!r} needs target_metric_name (string) and "
            "validation_target_value (number)"
        )
    if not math.isfinite(value):  # NaN never compares as reached; inf always would
        raise UserError(
            f"malformed targets in {where}: {name!r} validation_target_value must be a finite "
            f"number, got {value}"
        )
    goal = spec.get("target_metric_goal")
    higher = spec.get("metric_higher_is_better")
    if goal is not None:
        if goal not in ("minimize", "maximize"):
            raise UserError(f"malformed targets in {where}: {name!r} has goal {goal!r}")
        minimize = goal == "minimize"
    elif higher is not None:
        minimize = not bool(higher)
    else:
        try:
            minimize = is_minimized(metric)
        except UserError as exc:
            raise UserError(f"{exc} (workload {name!r} in {where})") from None
    budget = spec.get("max_allowed_runtime_sec")
    step_hint = spec.get("step_hint")
    return WorkloadTarget(
        name=name,
        metric=metric.removeprefix("validation/"),
        value=float(value),
        minimize=minimize,
        step_hint=int(step_hint) if isinstance(step_hint, int | float) else None,
        budget_sec=float(budget) if isinstance(budget, int | float) else None,
        base_workload=spec.get("base_workload") or None,
    )


def read_json_file(path: str | os.PathLike[str], what: str) -> Any:
    """The decoded JSON of a ``what`` file (``targets``, ``budgets``); a one-line error when it
    is missing or malformed."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{what} file not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"malformed {what} file {path}: {exc}") from None


def load_targets(path: str | os.PathLike[str]) -> Targets:
    """Read a targets JSON (AlgoPerf ``workload_targets*.json`` format).

    ``{"workloads": {name: {target_metric_name, validation_target_value, step_hint,
    [target_metric_goal], [max_allowed_runtime_sec]}}, "base_workloads": [...],
    "held_out_workloads": [...]}``; the two lists are optional.
    """
    path = Path(path)
    raw = read_json_file(path, "targets")
    if not isinstance(raw, Mapping) or not isinstance(raw.get("workloads"), Mapping):
        raise UserError(f"malformed targets file {path}: no 'workloads' object")
    where = str(path)
    workloads = {
        name: _target_from_spec(name, spec, where) for name, spec in raw["workloads"].items()
    }
    lists: dict[str, tuple[str, ...] | None] = {}
    for key in ("base_workloads", "held_out_workloads"):
        value = raw.get(key)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            raise UserError(f"malformed targets file {path}: {key} is not a list of names")
        missing = [w for w in value or () if w not in workloads]
        if missing:
            raise UserError(f"malformed targets file {path}: {key} lack targets: {missing}")
        lists[key] = tuple(value) if value is not None else None
    return Targets(workloads, lists["base_workloads"], lists["held_out_workloads"], where)


def _prefix_base(name: str, names: Sequence[str]) -> str | None:
    """The longest other name in ``names`` that ``name`` extends with ``_...``, if any."""
    candidates = [n for n in names if n != name and name.startswith(n + "_")]
    return max(candidates, key=len) if candidates else None


def committed_target(workload: str, size: str) -> WorkloadTarget | None:
    """The target optbench commits for one of its workloads at ``size`` (metric, value and
    direction, from the workload registry); None for a workload it does not know."""
    try:
        from optbench.workloads import WORKLOADS
        from optbench.workloads.base import settings_for
    except ImportError:  # pragma: no cover - a broken installation scores by the logs alone
        return None
    cls = WORKLOADS.get(workload)
    if cls is None:
        return None
    try:
        settings = settings_for(workload, size)
        facts = cls.__new__(cls)  # metric name and direction are class facts: no data loaded
        metric, higher = facts.target_metric_name, facts.metric_higher_is_better
    except (UserError, AttributeError, TypeError):
        return None
    return WorkloadTarget(workload, metric, float(settings.validation_target_value), not higher)


def _optbench_size(meta: Any) -> str | None:
    """The size an optbench trial ran at (its meta_data.json), None for other logs."""
    if not isinstance(meta, Mapping) or meta.get("format") == ALGOPERF_META:
        return None
    size = (meta.get("workload") or {}).get("size")
    return size if isinstance(size, str) else None


def _committed_targets(trials: pd.DataFrame) -> dict[str, WorkloadTarget]:
    """The committed target of every optbench workload the trials ran (by the size they
    record); a workload run at two sizes cannot be scored against one target."""
    sizes: dict[str, set[str]] = {}
    for row in trials.itertuples(index=False):
        size = _optbench_size(row.meta)
        if size is not None:
            sizes.setdefault(row.workload, set()).add(size)
    committed = {}
    for workload, found in sizes.items():
        if len(found) > 1:
            raise UserError(
                f"the trials of {workload} ran at sizes {', '.join(sorted(found))}: score each "
                "size's experiment directory apart"
            )
        target = committed_target(workload, found.pop())
        if target is not None:
            committed[workload] = target
    return committed


def targets_from_metadata(trials: pd.DataFrame, held_out: bool = True) -> Targets:
    """Targets read from the meta data beside each trial.

    optbench's ``meta_data.json`` declares each workload's base (``base_workload``: null for a
    base) and ``held_out`` flag; variants flagged ``held_out`` are held-out workloads when
    ``held_out`` is true (else they are reported but not scored). The target of an optbench
    workload is the committed one (:func:`committed_target`), whatever a trial's meta data
    says: a trial recording another is flagged (:func:`target_flags`). AlgoPerf's
    ``meta_data_0.json`` says neither, so there a workload whose name extends another
    workload's of the same logs (``ogbg_gelu`` next to ``ogbg``) is that workload's variant.
    """
    committed = _committed_targets(trials)
    workloads: dict[str, WorkloadTarget] = {}
    flagged: set[str] = set()
    from_algoperf: set[str] = set()
    for row in trials.itertuples(index=False):
        if row.workload in workloads or not isinstance(row.meta, Mapping):
            continue
        spec = row.meta.get("workload")
        if not isinstance(spec, Mapping):
            raise UserError(f"malformed meta_data.json in {row.path}: no 'workload' object")
        target = committed.get(row.workload)
        if target is not None:  # only the budget and the base/held-out facts come from the logs
            spec = {
                **spec,
                "target_metric_name": target.metric,
                "metric_higher_is_better": not target.minimize,
                "validation_target_value": target.value,
            }
        workloads[row.workload] = _target_from_spec(row.workload, spec, f"{row.path}")
        if row.meta.get("format") == ALGOPERF_META:
            from_algoperf.add(row.workload)
        if spec.get("held_out") and spec.get("base_workload"):
            flagged.add(row.workload)
    for name in from_algoperf:
        base = _prefix_base(name, list(workloads))
        if base is not None:
            workloads[name] = replace(workloads[name], base_workload=base)
    bases = tuple(sorted(w for w, t in workloads.items() if t.base_workload is None))
    held = tuple(sorted(flagged)) if held_out else ()
    source = "meta_data_0.json (AlgoPerf)" if from_algoperf else "meta_data.json"
    if committed:
        source += " and the committed targets of optbench's workloads"
    return Targets(workloads, bases, held, source, tuple(sorted(committed)))


def _describe_target(metric: Any, value: Any, minimize: bool) -> str:
    return f"validation/{metric} {'<=' if minimize else '>='} {value}"


def target_flags(trials: pd.DataFrame, targets: Targets) -> dict[int, str]:
    """:data:`FLAG_TARGET_DIFFERS` for each optbench trial (by ``order``) whose meta_data.json
    records a target other than the committed one its workload is scored against."""
    flags = {}
    for row in trials.itertuples(index=False):
        spec = row.meta.get("workload") if _optbench_size(row.meta) else None
        if row.workload not in targets.committed or not isinstance(spec, Mapping):
            continue
        target = targets.workloads[row.workload]
        recorded = (
            spec.get("target_metric_name"),
            spec.get("validation_target_value"),
            not spec.get("metric_higher_is_better", not target.minimize),
        )
        if recorded != (target.metric, target.value, target.minimize):
            flags[row.order] = (
                f"{FLAG_TARGET_DIFFERS} (recorded {_describe_target(*recorded)}, committed "
                f"{_describe_target(target.metric, target.value, target.minimize)})"
            )
    return flags


def preset_targets(preset: Preset) -> Targets | None:
    """The targets a preset carries (AlgoPerf's frozen ones), or None when it has none."""
    if preset.base_workloads is None:
        return None
    workloads = {
        name: WorkloadTarget(
            name=name,
            metric=spec.metric,
            value=spec.value,
            minimize=is_minimized(spec.metric),
            step_hint=spec.step_hint,
            budget_sec=preset.budgets.get(name),
        )
        for name, spec in preset.targets.items()
    }
    return Targets(
        workloads,
        tuple(preset.base_workloads),
        tuple(preset.held_out_workloads),
        f"preset {preset.name}",
    )


def run_budgets(trials: pd.DataFrame) -> dict[str, float]:
    """Budget (s) each workload's optbench trials ran under (``budget_sec`` of meta_data.json).

    That budget includes the ruleset's and the command line's multipliers, so it is the time
    a trial that never reaches the target was given. The largest per workload is kept.
    """
    found: dict[str, float] = {}
    for row in trials.itertuples(index=False):
        meta = row.meta
        if not isinstance(meta, Mapping) or meta.get("format") == ALGOPERF_META:
            continue
        budget = meta.get("budget_sec")
        if isinstance(budget, int | float) and not isinstance(budget, bool) and budget > 0:
            found[row.workload] = max(float(budget), found.get(row.workload, 0.0))
    return found


def check_one_profile(trials: pd.DataFrame) -> None:
    """Refuse to rank optbench trials run under different hardware profiles together (their
    budgets, and so their times past a missed target, are seconds of different slots); a
    trial recording no profile ran under the default one (:mod:`optbench.profiles`)."""
    found: dict[str, tuple[str, str]] = {}  # digest -> (name, a trial folder)
    for row in trials.itertuples(index=False):
        if _optbench_size(row.meta) is None:  # not optbench's meta data (AlgoPerf logs)
            continue
        name, digest = profiles.recorded_digest(row.meta)
        found.setdefault(digest, (name, str(row.path)))
    if len(found) > 1:
        (d1, (n1, p1)), (d2, (n2, p2)) = list(found.items())[:2]
        raise UserError(
            f"trials of different hardware profiles cannot be ranked together: {n1} (sha256 "
            f"{d1[:12]}) in {p1}, {n2} (sha256 {d2[:12]}) in {p2}; score each profile's "
            "trials apart"
        )


def resolve_targets(trials: pd.DataFrame, targets: Targets | None, preset: Preset) -> Targets:
    """Complete targets for an experiment.

    Targets: ``targets`` (a file) if given, else the preset's, else the logs' meta data.
    Missing lists are filled from the meta data or the workloads present; a workload's
    external-tuning budget comes from the targets file, else the preset, else the meta data.
    """
    has_meta = trials["meta"].map(lambda m: isinstance(m, Mapping)).any()
    meta = targets_from_metadata(trials, preset.held_out_from_metadata) if has_meta else None
    if targets is None:
        targets = preset_targets(preset) or meta
    if targets is None:
        raise UserError(
            "no targets: pass a targets file (--targets) or an AlgoPerf preset "
            "(--preset algoperf-v0.6) for logs without meta data"
        )
    workloads = dict(targets.workloads)
    for name, target in workloads.items():
        if target.budget_sec is not None:
            continue
        budget = preset.budgets.get(name)
        extra = meta.workloads.get(name) if meta is not None else None
        if budget is None and extra is not None:
            budget = extra.budget_sec
        if budget is not None:
            workloads[name] = replace(target, budget_sec=float(budget))
    held = targets.held_out_workloads
    if held is None:
        held = meta.held_out_workloads if meta is not None else ()
    bases = targets.base_workloads
    if bases is None:
        present = set(trials["workload"])
        bases = tuple(
            sorted(
                w
                for w in present
                if w in workloads and w not in held and workloads[w].base_workload is None
            )
        )
    if not bases:
        raise UserError(f"no base workload to score (targets from {targets.source})")
    return Targets(workloads, tuple(bases), tuple(held), targets.source, targets.committed)


# --------------------------------------------------------------------------------------------
# Reading an experiment directory
# --------------------------------------------------------------------------------------------
def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _has_studies(path: Path) -> bool:
    return any(_STUDY_RE.match(p.name) for p in _subdirs(path))


def _submission_dirs(root: Path) -> list[Path]:
    """Submission folders under ``root``, descending a chain of single subfolders if needed."""
    current = root
    for _ in range(8):
        if _has_studies(current):
            return [current]
        children = _subdirs(current)
        with_studies = [c for c in children if _has_studies(c)]
        if with_studies:
            return with_studies
        if len(children) != 1:
            break
        current = children[0]
    return []


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UserError(f"malformed {path.name} in {path.parent}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"malformed {path.name} in {path.parent}: not an object")
    return data


def _wanted_column(name: str) -> bool:
    return name in (TIME_COLUMN, FALLBACK_TIME_COLUMN, "global_step") or (
        name.startswith("validation/") and name != "validation/num_examples"
    )


def _columns_of(frame: pd.DataFrame) -> tuple[dict[str, np.ndarray] | None, str]:
    columns = {c: pd.to_numeric(frame[c], errors="coerce").to_numpy(float) for c in frame}
    return _with_time(columns)


def _with_time(columns: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray] | None, str]:
    time = columns.get(TIME_COLUMN, columns.get(FALLBACK_TIME_COLUMN))
    if time is None:
        return None, f"{MEASUREMENTS_FILE} has no {TIME_COLUMN!r} column"
    columns["time"] = time
    return columns, ""


def _csv(text: str, **options: Any) -> pd.DataFrame:
    """read_csv that refuses ragged rows (pandas would silently shift a first long row)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        return pd.read_csv(io.StringIO(text), usecols=_wanted_column, index_col=False, **options)


def _parse_one(text: str) -> tuple[dict[str, np.ndarray] | None, str]:
    try:
        frame = _csv(text)
    except (pd.errors.ParserWarning, ValueError) as exc:  # pandas' parse errors included
        return None, f"unreadable {MEASUREMENTS_FILE}: {str(exc).splitlines()[0]}"
    return _columns_of(frame)


def _parse_group(header: str, bodies: list[str], rows: list[int]) -> list[dict] | None:
    """Parse files sharing a header in one read_csv call; None if the row counts disagree."""
    try:
        frame = _csv(header + "\n" + "".join(bodies), dtype=float)
    except (pd.errors.ParserWarning, ValueError):
        return None
    if len(frame) != sum(rows):
        return None
    values = frame.to_numpy(dtype=float)
    chunks = np.split(values, np.cumsum(rows)[:-1])
    return [{c: chunk[:, j] for j, c in enumerate(frame.columns)} for chunk in chunks]


def _odd_rows(header: str, body: str) -> str:
    """What is wrong with the lines of an eval_measurements.csv body ("" when nothing is).

    Every line has as many fields as the header and ends with a newline (AlgoPerf and optbench
    both write it so). A line of fewer fields was cut short and reads as NaN, which silently
    turns a reached target into "never"; a last line without its newline may have been cut
    inside a number. Such files are read as they are (as AlgoPerf's scorer reads them) and
    their trials flagged.
    """
    if not body or '"' in body:
        return ""
    fields = header.count(",")
    lines = body.splitlines()
    odd = [
        (n, line.count(",")) for n, line in enumerate(lines) if line and line.count(",") != fields
    ]
    problems = [f"line {n + 2} has {commas + 1} of {fields + 1} fields" for n, commas in odd[:1]]
    if not body.endswith("\n"):
        problems.append("its last line has no newline")
    if not problems:
        return ""
    return f"{MEASUREMENTS_FILE} is cut short or malformed ({', '.join(problems)})"


@dataclass(frozen=True)
class _Measured:
    """One eval_measurements.csv: its columns (None if unreadable), why not, and what was
    wrong with the rows that were read (a flag)."""

    columns: dict[str, np.ndarray] | None
    reason: str = ""
    problem: str = ""


def _read_measurements(paths: Sequence[Path]) -> list[_Measured]:
    """The needed columns of many eval_measurements.csv files (see :class:`_Measured`).

    Files with the same header are parsed together (thousands of small CSVs load in about a
    second); a group that does not parse cleanly falls back to one file at a time.
    """
    found: list[_Measured] = [_Measured(None)] * len(paths)
    problems: dict[int, str] = {}
    groups: dict[str, list[tuple[int, str]]] = {}
    for i, path in enumerate(paths):
        try:
            text = path.read_text()
        except FileNotFoundError:
            found[i] = _Measured(None, f"no {MEASUREMENTS_FILE}")
            continue
        except (OSError, UnicodeDecodeError) as exc:
            found[i] = _Measured(None, f"unreadable {MEASUREMENTS_FILE}: {exc}")
            continue
        header, _, body = text.partition("\n")
        problems[i] = _odd_rows(header, body)
        if body and not body.endswith("\n"):
            body += "\n"
        groups.setdefault(header.strip(), []).append((i, body))
    for header, members in groups.items():
        bodies = [body for _, body in members]
        parsed = _parse_group(header, bodies, [body.count("\n") for body in bodies])
        for k, (i, body) in enumerate(members):
            columns, reason = _with_time(parsed[k]) if parsed else _parse_one(header + "\n" + body)
            found[i] = _Measured(columns, reason, problems[i])
    return found


def _algoperf_meta(trial_dir: Path, workload: str) -> dict[str, Any] | None:
    """AlgoPerf's ``meta_data_0.json`` (trial folder, else workload folder) in optbench's shape.

    AlgoPerf stores the workload's properties flat (``workload.target_metric_name``,
    ``workload.validation_target_value``, ``workload.max_allowed_runtime_sec``, ...); they
    become ``{"workload": {...}, "format": "algoperf"}``. None when there is no such file or it
    names no target.
    """
    for folder in (trial_dir, trial_dir.parent):
        raw = _read_json(folder / ALGOPERF_META_FILE)
        if raw is not None:
            break
    else:
        return None
    props = {k.removeprefix("workload."): v for k, v in raw.items() if k.startswith("workload.")}
    if "target_metric_name" not in props or "validation_target_value" not in props:
        return None
    props.update(name=workload, base_workload=None, held_out=False)
    return {"workload": props, "format": ALGOPERF_META}


def _result_flags(trial_dir: Path, result: Mapping[str, Any] | None) -> list[str]:
    """The flags the runner recorded in ``result.json``, and :data:`FLAG_ALTERED` when the
    files it recorded digests of (``files_sha256``) no longer match them."""
    if result is None:
        return []
    flags = [str(f) for f in result.get("flags") or () if f]
    recorded = result.get("files_sha256")
    if isinstance(recorded, Mapping) and recorded:
        names = [n for n in recorded if isinstance(n, str) and Path(n).name == n]
        now = file_digests(trial_dir, names)
        changed = sorted(str(n) for n, digest in recorded.items() if now.get(n) != digest)
        if changed:
            flags.append(f"{FLAG_ALTERED} ({', '.join(changed)} changed)")
    return flags


def _status(result: Mapping[str, Any] | None, ours: bool, measured: _Measured) -> tuple[str, str]:
    """A trial's status (ok or failed) and the reason it failed."""
    status = "ok" if measured.columns is not None else "failed"
    reason = measured.reason
    if result is not None and result.get("status") not in (None, "completed"):
        failure = str(result.get("failure") or "").split("\n", 1)[0]
        status, reason = "failed", str(result.get("reason") or failure or result.get("status"))
    elif result is None and ours and status == "ok":
        status, reason = "failed", "no result.json (crashed or unfinished)"
    return status, reason


def _trial_record(
    submission: str, study: int, wl_dir: Path, trial_dir: Path, measured: _Measured
) -> dict[str, Any]:
    match = _WORKLOAD_RE.match(wl_dir.name)
    workload, framework = (match.group(1), match.group(2)) if match else (wl_dir.name, "")
    meta = _read_json(trial_dir / OPTBENCH_META_FILE)
    ours = meta is not None
    if not ours:
        meta = _algoperf_meta(trial_dir, workload)
    result = _read_json(trial_dir / "result.json")
    status, reason = _status(result, ours, measured)
    flags = _result_flags(trial_dir, result) + ([measured.problem] if measured.problem else [])
    record: dict[str, Any] = {
        "submission": submission,
        "study": study,
        "workload": workload,
        "framework": framework,
        "trial": int(_TRIAL_RE.match(trial_dir.name).group(1)),
        "path": str(trial_dir),
        "status": status,
        "reason": reason,
        "has_evals": measured.columns is not None,
        "meta": meta,
        "flags": flags,
    }
    record.update(measured.columns or {})
    return record


def load_experiment(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read every trial of an experiment directory in AlgoPerf's layout.

    ``path/<submission>/study_<k>/<workload>_<framework>/trial_<i>/eval_measurements.csv``;
    ``path`` may also be one submission folder, or a folder above the submissions reached
    through single subfolders (e.g. ``logs/`` above ``external_tuning/``). One row per trial:
    submission, study, workload (framework suffix removed), framework, trial, path, status
    (``ok``/``failed``), reason, has_evals, meta (optbench's meta_data.json, or AlgoPerf's
    meta_data_0.json reshaped by :func:`_algoperf_meta`, or None), and one numpy array per eval
    column: ``time`` (the ``score`` column), accumulated_submission_time, global_step
    and every ``validation/<metric>`` (None where absent); ``order`` numbers the rows in that
    sorted order (the tie-break of ``mode="algoperf"``, see :func:`study_times`).
    """
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"experiment directory not found: {root}")
    found = []
    for sub_dir in _submission_dirs(root):
        for study_dir in _subdirs(sub_dir):
            study = _STUDY_RE.match(study_dir.name)
            if not study:
                continue
            for wl_dir in _subdirs(study_dir):
                for trial_dir in _subdirs(wl_dir):
                    if _TRIAL_RE.match(trial_dir.name):
                        found.append((sub_dir.name, int(study.group(1)), wl_dir, trial_dir))
    measured = _read_measurements([trial / MEASUREMENTS_FILE for *_, trial in found])
    records = [_trial_record(*where, m) for where, m in zip(found, measured, strict=True)]
    if not records:
        raise UserError(
            f"no trials found under {root} (expected <submission>/study_<k>/"
            f"<workload>_<framework>/trial_<i>/{MEASUREMENTS_FILE})"
        )
    frame = pd.DataFrame.from_records(records)
    for column in _ARRAY_COLUMNS:
        if column not in frame:
            frame[column] = None
    frame = frame.astype({c: object for c in frame.columns if c.startswith("validation/")})
    keys = ["submission", "workload", "study", "trial", "framework"]
    frame = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    frame["order"] = np.arange(len(frame))
    return frame


def find_rulesets(path: str | os.PathLike[str]) -> dict[str, Path]:
    """Where each tuning ruleset's logs lie, read from AlgoPerf's folder names.

    ``path`` itself or its nearest ancestor named ``external_tuning``/``self_tuning`` gives its
    ruleset; otherwise those folders are looked for below ``path``, descending through single
    subfolders (``previous_leaderboards/algoperf_v05/logs/``) but not into an experiment.
    Empty when the tree does not say.
    """
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"experiment directory not found: {root}")
    by_folder = {folder: name for name, folder in presets.RULESET_FOLDERS.items()}
    for folder in (root, *root.resolve().parents):
        if folder.name in by_folder:
            return {by_folder[folder.name]: root}
    current = root
    for _ in range(8):
        children = _subdirs(current)
        named = {by_folder[c.name]: c for c in children if c.name in by_folder}
        if named:
            return {name: named[name] for name in presets.RULESETS if name in named}
        if _has_studies(current) or len(children) != 1:
            break
        current = children[0]
    return {}


def meta_rulesets(trials: pd.DataFrame) -> list[str]:
    """The rulesets optbench's meta_data.json files record (``ruleset``), in RULESETS order."""
    found = {
        m.get("ruleset")
        for m in trials["meta"]
        if isinstance(m, Mapping) and m.get("format") != ALGOPERF_META
    }
    return [name for name in presets.RULESETS if name in found]


# --------------------------------------------------------------------------------------------
# Trials -> studies -> workloads
# --------------------------------------------------------------------------------------------
def time_to_target(
    values: Sequence[float] | np.ndarray,
    times: Sequence[float] | np.ndarray,
    target: float,
    minimize: bool,
) -> tuple[int, float]:
    """Eval index and time of the first eval reaching ``target``; ``(-1, inf)`` if none does."""
    values = np.asarray(values, dtype=float)
    hit = values <= target if minimize else values >= target
    if not hit.any():
        return -1, math.inf
    index = int(np.argmax(hit))
    return index, float(np.asarray(times, dtype=float)[index])


def trial_times(
    trials: pd.DataFrame, targets: Targets, not_reached: Collection[int] = ()
) -> pd.DataFrame:
    """Per-trial time to target (inf if never reached or failed) and its eval index (-1).

    Trials of workloads without a target are left out; a trial whose measurements lack the
    target metric's column failed (a workload none of whose trials has it is an error, see
    :func:`check_target_columns`); the trials numbered ``not_reached`` (``order``) count as
    never reaching the target (flagged trials under ``strict``). Columns: submission,
    workload, study, trial, framework, order, status, reason, has_evals, eval_index, time.
    """
    rows = []
    excluded = set(not_reached)
    for row in trials.to_dict("records"):
        target = targets.workloads.get(row["workload"])
        if target is None:
            continue
        index, time = -1, math.inf
        entry = {k: row[k] for k in _TRIAL_KEYS}
        values = row.get(target.column)
        if row["status"] == "ok" and not isinstance(values, np.ndarray):
            entry.update(status="failed", reason=f"no {target.column} in {MEASUREMENTS_FILE}")
        elif row["status"] == "ok" and row["order"] not in excluded:
            index, time = time_to_target(values, row["time"], target.value, target.minimize)
        entry.update(eval_index=index, time=time)
        rows.append(entry)
    return pd.DataFrame(rows, columns=[*_TRIAL_KEYS, "eval_index", "time"])


def check_target_columns(trials: pd.DataFrame, targets: Targets) -> None:
    """A one-line error for a workload none of whose measured trials has its target metric's
    column (a misspelt metric in a targets file would make every trial "never")."""
    measured = trials[trials["has_evals"].astype(bool)]
    for workload, group in measured.groupby("workload"):
        target = targets.workloads.get(str(workload))
        if target is None or (target.column in group and group[target.column].notna().any()):
            continue
        have = sorted(
            c for c in group.columns if c.startswith("validation/") and group[c].notna().any()
        )
        raise UserError(
            f"no trial of {workload} has {target.column}, its target metric (targets from "
            f"{targets.source}); its eval_measurements.csv hold {', '.join(have) or 'none'}"
        )


FLAG_COLUMNS = ("submission", "workload", "study", "trial", "flag")
FAILURE_COLUMNS = ("submission", "study", "workload", "trial", "reason")


def trial_flags(trials: pd.DataFrame, targets: Targets) -> pd.DataFrame:
    """One row per flag of a scored trial: the runner's (result.json), an altered or truncated
    file's, and a recorded target other than the committed one. Columns: FLAG_COLUMNS and
    ``order`` (the trial's row in ``trials``)."""
    by_target = target_flags(trials, targets)
    rows = []
    for row in trials.itertuples(index=False):
        if row.workload not in targets.workloads:
            continue
        extra = [by_target[row.order]] if row.order in by_target else []
        for flag in [*row.flags, *extra]:
            rows.append(
                {
                    "submission": row.submission,
                    "workload": row.workload,
                    "study": row.study,
                    "trial": row.trial,
                    "flag": flag,
                    "order": row.order,
                }
            )
    return pd.DataFrame(rows, columns=[*FLAG_COLUMNS, "order"])


def study_times(trials_times: pd.DataFrame, mode: str = "optbench") -> pd.DataFrame:
    """Best trial per (submission, workload, study): columns time, trial (-1 if none), n_trials.

    ``algoperf``: the trial with the smallest eval index of first reaching the target, trials
    without measurements ignored; ties go to the smallest ``order`` (the official code takes the
    first trial in ``os.listdir`` order, which depends on the filesystem; :func:`load_experiment`
    numbers trials by trial number, and a caller may renumber them). ``optbench``: smallest
    time.
    """
    _check_mode(mode)
    frame = trials_times
    if mode == "algoperf":
        frame = frame[frame["has_evals"].astype(bool)]
    keys = ["submission", "workload", "study"]
    counts = frame.groupby(keys).size().rename("n_trials")
    order = ["eval_index", "order"] if mode == "algoperf" else ["time", "order"]
    reached = frame[frame["eval_index"] >= 0].sort_values([*keys, *order], kind="stable")
    best = reached.drop_duplicates(keys).set_index(keys)[["time", "trial"]]
    table = best.reindex(counts.index)
    table["time"] = table["time"].fillna(math.inf)
    table["trial"] = table["trial"].fillna(-1).astype(int)
    table["n_trials"] = counts
    columns = [*keys, "time", "trial", "n_trials"]
    return table.reset_index().reindex(columns=columns)


def workload_times(studies: pd.DataFrame) -> pd.DataFrame:
    """Median over studies (``np.median``, infinities included): submissions x workloads.

    NaN marks a workload a submission has no study for.
    """
    medians = studies.groupby(["submission", "workload"])["time"].agg(
        lambda s: float(np.median(s.to_numpy(float)))
    )
    table = medians.unstack("workload")
    table.columns.name = None
    table.index.name = "submission"
    return table.sort_index().reindex(sorted(table.columns), axis=1)


# --------------------------------------------------------------------------------------------
# Ties that the official scorer resolves by directory order
# --------------------------------------------------------------------------------------------
TIE_COLUMNS = ("submission", "workload", "study", "eval_index", "trials", "times", "chosen")
MAX_TIE_SCENARIOS = 64
AS_SCORED = "as scored (lowest trial number first)"


def order_ties(trials_times: pd.DataFrame) -> pd.DataFrame:
    """Studies whose ``algoperf``-mode time depends on the order trials are listed in.

    The official scorer takes, among the trials that first reach the target at the same
    (smallest) eval index, the first one ``os.listdir`` returns; when those trials reached it
    at different times, the study's time depends on the filesystem. One row per such study:
    submission, workload, study, eval_index, trials and times (tuples, in ``order``), and
    ``chosen``, the trial :func:`study_times` takes (the first in ``order``).
    """
    frame = trials_times[trials_times["has_evals"].astype(bool) & (trials_times["eval_index"] >= 0)]
    keys = ["submission", "workload", "study"]
    if frame.empty:
        return pd.DataFrame(columns=TIE_COLUMNS)
    first = frame.groupby(keys)["eval_index"].transform("min")
    tied = frame[frame["eval_index"] == first].sort_values([*keys, "order"], kind="stable")
    rows = []
    for (sub, wl, study), group in tied.groupby(keys, sort=True):
        if group["time"].nunique() < 2:
            continue
        rows.append(
            {
                "submission": sub,
                "workload": wl,
                "study": int(study),
                "eval_index": int(group["eval_index"].iloc[0]),
                "trials": tuple(int(t) for t in group["trial"]),
                "times": tuple(float(t) for t in group["time"]),
                "chosen": int(group["trial"].iloc[0]),
            }
        )
    return pd.DataFrame(rows, columns=TIE_COLUMNS)


def _tie_choices(ties: pd.DataFrame) -> list[list[tuple[int, float]]]:
    """Per tied study, its distinct outcomes (trial, time), the scored one first."""
    choices = []
    for row in ties.itertuples(index=False):
        seen: dict[float, int] = {}
        for trial, time in zip(row.trials, row.times, strict=True):
            seen.setdefault(time, trial)
        choices.append([(trial, time) for time, trial in seen.items()])
    return choices


def tie_combinations(ties: pd.DataFrame) -> int:
    """How many ways the order-dependent ``ties`` can be resolved (product over studies)."""
    return math.prod(len(c) for c in _tie_choices(ties))


def _tie_scenarios(ties: pd.DataFrame, choices: list[list[tuple[int, float]]]) -> list[tuple]:
    """Which outcome of every tied study each scenario takes (0: the scored one).

    Every combination when there are at most MAX_TIE_SCENARIOS; else the scored order and, one
    (submission, workload) cell at a time, every combination of that cell's tied studies (one
    study at a time if those are too many as well).
    """
    ranges = [range(len(c)) for c in choices]
    if math.prod(len(r) for r in ranges) <= MAX_TIE_SCENARIOS:
        return list(itertools.product(*ranges))
    scenarios = [(0,) * len(choices)]
    cells: dict[tuple[str, str], list[int]] = {}
    for i, tie in enumerate(ties.itertuples(index=False)):
        cells.setdefault((tie.submission, tie.workload), []).append(i)
    for members in cells.values():
        if math.prod(len(ranges[i]) for i in members) <= MAX_TIE_SCENARIOS:
            picks = list(itertools.product(*(ranges[i] for i in members)))[1:]
        else:
            picks = [
                tuple(k if j == i else 0 for j in members) for i in members for k in ranges[i][1:]
            ]
        for pick in picks:
            scenario = [0] * len(choices)
            for i, k in zip(members, pick, strict=True):
                scenario[i] = k
            scenarios.append(tuple(scenario))
    return scenarios


def tie_scores(
    study_table: pd.DataFrame,
    ties: pd.DataFrame,
    times: pd.DataFrame,
    targets: Targets,
    mode: str = "algoperf",
) -> pd.DataFrame:
    """Every submission's score under each resolution of the order-dependent ``ties``.

    ``study_table`` and ``times`` are the scored :func:`study_times` and median table. Rows:
    the scored order first, then one per other resolution that changes a median time, named
    by the outcomes that differ from the scored order (``sub/workload study_k: trial_i``);
    columns: submissions. All resolutions are tried when :func:`tie_combinations` is at most
    MAX_TIE_SCENARIOS, else every resolution of one (submission, workload) cell at a time.
    """
    if ties.empty:
        return pd.DataFrame(columns=list(times.index), dtype=float)
    choices = _tie_choices(ties)
    indexed = study_table.set_index(["submission", "workload", "study"])["time"]
    cells = sorted({(t.submission, t.workload) for t in ties.itertuples(index=False)})
    rows, names, seen = [], [], set()
    for scenario in _tie_scenarios(ties, choices):
        studies = indexed.copy()
        changed = []
        for tie, options, pick in zip(ties.itertuples(index=False), choices, scenario, strict=True):
            trial, time = options[pick]
            studies.loc[(tie.submission, tie.workload, tie.study)] = time
            if pick:
                changed.append(f"{tie.submission}/{tie.workload} study_{tie.study}: trial_{trial}")
        medians = tuple(float(np.median(studies.loc[cell].to_numpy(float))) for cell in cells)
        if medians in seen:
            continue
        seen.add(medians)
        table = times.copy()
        for (sub, wl), median in zip(cells, medians, strict=True):
            table.loc[sub, wl] = median
        scored = apply_scoring_rules(table, targets, mode)
        profiles = performance_profiles(scored, len(targets.base_workloads or ()))
        rows.append(benchmark_scores(profiles))
        names.append("; ".join(changed) or AS_SCORED)
    return pd.DataFrame(rows, index=names).rename_axis("resolution")


# --------------------------------------------------------------------------------------------
# Rules, profiles, scores (numpy core shared by the point estimate and the bootstrap)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Rules:
    columns: tuple[str, ...]  # base workloads then rule-bearing variants
    num_base: int
    pairs: tuple[tuple[int, int], ...]  # (variant column, base column)


def _rules(targets: Targets, workloads: Sequence[str], mode: str) -> _Rules:
    bases = tuple(targets.base_workloads or ())
    variants = [w for w in targets.held_out_workloads or () if w not in bases]
    if mode == "algoperf" and not variants:  # the official loop runs over every other column
        variants = [w for w in workloads if w not in bases and targets.base_of(w) in bases]
    columns = bases + tuple(variants)
    pairs = []
    for i, variant in enumerate(variants, start=len(bases)):
        base = targets.base_of(variant)
        if base in bases:
            pairs.append((i, bases.index(base)))
    return _Rules(columns, len(bases), tuple(pairs))


def _scored_array(times: np.ndarray, rules: _Rules) -> np.ndarray:
    """Apply the variant and 4x rules to ``(..., S, C)`` times; return base ``(..., S, B)``."""
    t = np.where(np.isnan(times), np.inf, times)
    for v, b in rules.pairs:
        t[..., v] = np.where(np.isinf(t[..., b]), np.inf, t[..., v])
    best = t.min(axis=-2, keepdims=True)
    t = np.where(t > FOUR_X * best, np.inf, t)
    for v, b in rules.pairs:
        t[..., b] = np.where(np.isinf(t[..., v]), np.inf, t[..., b])
    return t[..., : rules.num_base]


def _ratios(base_times: np.ndarray) -> np.ndarray:
    best = base_times.min(axis=-2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = base_times / best
    return np.where(np.isfinite(base_times) & (base_times == best), 1.0, ratio)


def _profile_array(base_times: np.ndarray, num_base: int, taus: np.ndarray) -> np.ndarray:
    ratio = _ratios(base_times)
    return (ratio[..., None] <= taus).sum(axis=-2) / num_base


def _score_array(profiles: np.ndarray, taus: np.ndarray) -> np.ndarray:
    return np.trapezoid(profiles, x=taus, axis=-1) / (taus[-1] - taus[0])


def default_taus() -> np.ndarray:
    """The official grid: 100 points, linear, tau in [1, 4]."""
    return np.linspace(TAU_MIN, TAU_MAX, NUM_TAUS)


def _table_array(times: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    return times.reindex(columns=list(columns)).to_numpy(dtype=float)


def apply_scoring_rules(
    times: pd.DataFrame, targets: Targets, mode: str = "optbench"
) -> pd.DataFrame:
    """Base-workload times after AlgoPerf's held-out variant rule and 4x rule.

    ``times`` is submissions x workloads (NaN = not run, treated as infinite). ``targets`` must
    have its base and held-out lists (see :func:`resolve_targets`).
    """
    _check_mode(mode)
    rules = _rules(targets, list(times.columns), mode)
    scored = _scored_array(_table_array(times, rules.columns), rules)
    return pd.DataFrame(scored, index=times.index, columns=list(rules.columns[: rules.num_base]))


def performance_profiles(
    scored_times: pd.DataFrame,
    num_base_workloads: int | None = None,
    taus: np.ndarray | None = None,
) -> pd.DataFrame:
    """rho(tau) per submission: share of base workloads whose time ratio to the best is <= tau.

    Columns are the tau values (default: 100 points on [1, 4]); the denominator is
    ``num_base_workloads`` (default: the number of columns).
    """
    taus = default_taus() if taus is None else np.asarray(taus, dtype=float)
    num = num_base_workloads or scored_times.shape[1]
    rho = _profile_array(scored_times.to_numpy(dtype=float), num, taus)
    return pd.DataFrame(rho, index=scored_times.index, columns=taus)


def benchmark_scores(profiles: pd.DataFrame) -> pd.Series:
    """Trapezoid area under each profile divided by the tau range: a score in [0, 1]."""
    taus = profiles.columns.to_numpy(dtype=float)
    return pd.Series(_score_array(profiles.to_numpy(dtype=float), taus), index=profiles.index)


def speedups(
    times: pd.DataFrame,
    baseline: str,
    base_workloads: Sequence[str],
    budgets: Mapping[str, float],
    budget_pad_sec: float = 0.0,
) -> pd.DataFrame:
    """Geometric-mean time ratio to ``baseline`` over the base workloads.

    ``times`` are the median times before the scoring rules (as the official
    ``compute_speedups.py``); an infinite or missing time becomes the workload's budget plus
    ``budget_pad_sec``. Columns: ``time_ratio`` (< 1: faster than the baseline) and
    ``speedup`` = 1 / time_ratio. NaN where a needed budget is unknown.
    """
    if baseline not in times.index:
        known = ", ".join(map(str, times.index))
        raise UserError(f"unknown baseline submission {baseline!r} (known: {known})")
    table = times.reindex(columns=list(base_workloads)).astype(float)
    filled = table.copy()
    for workload in table.columns:
        column = table[workload]
        never = ~np.isfinite(column.to_numpy())
        if never.any():
            budget = budgets.get(workload)
            fill = float(budget) + budget_pad_sec if budget is not None else np.nan
            filled.loc[never, workload] = fill
    logs = np.log(filled.to_numpy() / filled.loc[[baseline]].to_numpy())
    ratio = np.exp(logs.mean(axis=1))
    return pd.DataFrame({"time_ratio": ratio, "speedup": 1.0 / ratio}, index=table.index)


# --------------------------------------------------------------------------------------------
# Bootstrap over studies
# --------------------------------------------------------------------------------------------
@dataclass
class BootstrapResult:
    """Bootstrap replicates: ``scores`` (n, S) and raw median ``times`` (n, S, W)."""

    submissions: list[str]
    workloads: list[str]
    scores: np.ndarray
    times: np.ndarray

    def score_interval(self, level: float = 0.95) -> pd.DataFrame:
        """Percentile interval per submission (outward-rounded): columns ci_low, ci_high."""
        low, high = _percentiles(self.scores, level)
        return pd.DataFrame({"ci_low": low, "ci_high": high}, index=self.submissions)

    def time_interval(self, level: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Percentile interval of every median time: (low, high), submissions x workloads."""
        low, high = _percentiles(self.times, level)
        frame = {"index": self.submissions, "columns": self.workloads}
        return pd.DataFrame(low, **frame), pd.DataFrame(high, **frame)


def _percentiles(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Outward-rounded percentile interval (no interpolation, so infinities stay exact)."""
    tail = (1.0 - level) / 2.0 * 100.0
    low = np.percentile(samples, tail, axis=0, method="lower")
    high = np.percentile(samples, 100.0 - tail, axis=0, method="higher")
    return low, high


def bootstrap(
    studies: pd.DataFrame,
    targets: Targets,
    mode: str = "optbench",
    n_bootstrap: int = 1000,
    seed: int = 0,
    taus: np.ndarray | None = None,
) -> BootstrapResult:
    """Resample studies with replacement per submission x workload and rescore everything.

    Each replicate draws as many studies as were run, takes the median, applies the rules and
    recomputes the whole score table, so the spread reflects seed-to-seed variation only.
    Deterministic for a seed.
    """
    _check_mode(mode)
    if n_bootstrap < 1:
        raise UserError("the number of bootstrap samples must be at least 1")
    taus = default_taus() if taus is None else np.asarray(taus, dtype=float)
    submissions = sorted(studies["submission"].unique())
    workloads = sorted(studies["workload"].unique())
    rules = _rules(targets, workloads, mode)
    rng = np.random.default_rng(seed)
    medians = np.full((n_bootstrap, len(submissions), len(workloads)), np.nan)
    grouped = studies.groupby(["submission", "workload"], sort=True)["time"]
    for (sub, wl), series in grouped:
        values = series.to_numpy(float)
        draws = rng.integers(0, len(values), size=(n_bootstrap, len(values)))
        i, j = submissions.index(sub), workloads.index(wl)
        medians[:, i, j] = np.median(values[draws], axis=1)
    index = [workloads.index(c) if c in workloads else -1 for c in rules.columns]
    table = np.full((n_bootstrap, len(submissions), len(rules.columns)), np.nan)
    for k, col in enumerate(index):
        if col >= 0:
            table[..., k] = medians[..., col]
    base = _scored_array(table, rules)
    scores = _score_array(_profile_array(base, rules.num_base, taus), taus)
    return BootstrapResult(submissions, workloads, scores, medians)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise UserError(f"unknown scoring mode {mode!r} (choose from {', '.join(MODES)})")


# --------------------------------------------------------------------------------------------
# The whole thing
# --------------------------------------------------------------------------------------------
@dataclass
class Leaderboard:
    """Everything the ``score`` command prints and the report draws.

    ``scores``: index submission (best first), columns score, ci_low, ci_high, time_ratio,
    speedup (NaN without a baseline or bootstrap). ``times``: median time to target per
    submission x workload before the rules (inf: never reached; NaN: never run), with
    bootstrap bounds ``time_ci_low``/``time_ci_high``. ``scored_times``: base workloads after
    the rules. ``profiles``: rho per submission x tau. ``study_times``/``trial_times``: the
    lower levels. ``failures``: submission, study, workload, trial, reason. ``trials``: the
    loaded experiment (eval curves included). ``ruleset``: external or self. ``budgets``: the
    seconds that replaced never-reached times in the speed-ups. ``missing_workloads``: base
    or held-out workloads nobody ran, left out on request. ``ties``/``tie_scores``: see
    :func:`order_ties` and :func:`tie_scores` (algoperf mode only; empty otherwise).
    ``flags``: one row per flag of a scored trial (:func:`trial_flags`); under ``strict``
    flagged trials counted as never reaching the target.
    """

    preset: str
    mode: str
    baseline: str | None
    targets: Targets
    scores: pd.DataFrame
    times: pd.DataFrame
    time_ci_low: pd.DataFrame
    time_ci_high: pd.DataFrame
    scored_times: pd.DataFrame
    profiles: pd.DataFrame
    study_times: pd.DataFrame
    trial_times: pd.DataFrame
    failures: pd.DataFrame
    trials: pd.DataFrame
    warnings: list[str]
    n_bootstrap: int
    seed: int
    ruleset: str = "external"
    budgets: dict[str, float] = field(default_factory=dict)
    missing_workloads: tuple[str, ...] = ()
    ties: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TIE_COLUMNS))
    tie_scores: pd.DataFrame = field(default_factory=pd.DataFrame)
    flags: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FLAG_COLUMNS))
    strict: bool = False

    @property
    def submissions(self) -> list[str]:
        """Submissions, best score first."""
        return list(self.scores.index)

    @property
    def base_workloads(self) -> tuple[str, ...]:
        """The scored workloads."""
        return tuple(self.targets.base_workloads or ())

    @property
    def held_out_workloads(self) -> tuple[str, ...]:
        """Held-out variants taking part in the variant rule."""
        return tuple(self.targets.held_out_workloads or ())

    @property
    def reported_workloads(self) -> list[str]:
        """Base then held-out workloads present in the times table."""
        wanted = [*self.base_workloads, *self.held_out_workloads]
        return [w for w in wanted if w in self.times.columns]

    def to_frame(self) -> pd.DataFrame:
        """One row per submission: submission, score, ci_low, ci_high, [time_ratio, speedup],
        then ``<workload>_time``, ``<workload>_ci_low``, ``<workload>_ci_high``."""
        frame = self.scores.copy()
        if self.baseline is None:
            frame = frame.drop(columns=["time_ratio", "speedup"])
        for workload in self.reported_workloads:
            frame[f"{workload}_time"] = self.times[workload]
            frame[f"{workload}_ci_low"] = self.time_ci_low[workload]
            frame[f"{workload}_ci_high"] = self.time_ci_high[workload]
        frame.index.name = "submission"
        return frame.reset_index()


def _count_warnings(
    times: pd.DataFrame, rules: presets.RulesetRules, workloads: Sequence[str]
) -> list[str]:
    """Missing runs, and study/trial counts that differ from the ruleset's."""
    notes = []
    studies = times.groupby(["submission", "workload"])["study"].nunique()
    for sub in sorted(times["submission"].unique()):
        for wl in workloads:
            found = int(studies.get((sub, wl), 0))
            if found == 0:
                notes.append(f"{sub}: no runs of {wl} (counted as never reaching the target)")
            elif found != rules.studies:
                notes.append(f"{sub}: {wl} has {found} studies, expected {rules.studies}")
    if rules.trials is not None:
        per_study = times.groupby(["submission", "workload", "study"])["trial"].count()
        for (sub, wl, study), count in per_study.items():
            if wl in workloads and count != rules.trials:
                notes.append(
                    f"{sub}: {wl} study_{study} has {count} trials, expected {rules.trials}"
                )
    return notes


def ruleset_budgets(
    targets: Targets,
    preset: Preset,
    ruleset: str = "external",
    trials: pd.DataFrame | None = None,
    budgets: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Seconds that replace a never-reached time in the speed-ups of one ruleset's leaderboard.

    As AlgoPerf's ``compute_speedups.py``: the workload's external-tuning budget times the
    ruleset's ``budget_scale`` (self-tuning: 3x in v0.5, 1.5x in v0.6). External budgets come
    from ``targets`` (targets file, else preset, else meta data; see :func:`resolve_targets`).
    The budget optbench trials recorded as run (meta_data.json ``budget_sec``, multipliers
    included) replaces that product; ``budgets`` (external, also scaled) override everything.
    """
    scale = preset.ruleset(ruleset).budget_scale
    merged = {name: float(b) * scale for name, b in preset.budgets.items()}
    for name, target in targets.workloads.items():
        if target.budget_sec is not None:
            merged[name] = target.budget_sec * scale
    if trials is not None:
        merged.update(run_budgets(trials))
    merged.update({name: float(b) * scale for name, b in (budgets or {}).items()})
    return merged


def drop_missing_workloads(
    targets: Targets, times: pd.DataFrame, allow: bool = False
) -> tuple[Targets, tuple[str, ...]]:
    """Refuse (or, with ``allow``, leave out) scored workloads that no submission ran.

    A base workload, or a declared held-out variant, with no trial of any submission would
    otherwise count as never reached by everyone, silently scaling every score by the share
    of workloads present. Returns the targets without them and their names.
    """
    present = set(times.columns[times.notna().any(axis=0)])
    wanted = [*(targets.base_workloads or ()), *(targets.held_out_workloads or ())]
    missing = tuple(w for w in wanted if w not in present)
    if not missing:
        return targets, ()
    if not allow:
        raise UserError(
            f"no submission has runs of {', '.join(missing)} (a scored workload of "
            f"{targets.source}): add its logs, or pass --allow-missing-workloads to score "
            "without it"
        )
    bases = tuple(w for w in targets.base_workloads or () if w not in missing)
    held = tuple(
        w
        for w in targets.held_out_workloads or ()
        if w not in missing and targets.base_of(w) in bases
    )
    if not bases:
        raise UserError(f"no base workload to score: none of {targets.source}'s was run")
    return replace(targets, base_workloads=bases, held_out_workloads=held), missing


def _choose_ruleset(trials: pd.DataFrame, ruleset: str | None, where: str) -> str:
    """The ruleset of trials whose folders do not say it: given, else their meta data."""
    recorded = meta_rulesets(trials)
    if ruleset is not None:
        if recorded and ruleset not in recorded:
            raise UserError(
                f"no trials of the {ruleset} tuning ruleset in {where} (its meta_data.json "
                f"files record {', '.join(recorded)}): choose another --ruleset"
            )
        return ruleset
    if len(recorded) > 1:
        raise UserError(
            f"{where} holds trials of both tuning rulesets (meta_data.json): pass --ruleset "
            "external or self"
        )
    return recorded[0] if recorded else "external"


def _only_ruleset(trials: pd.DataFrame, ruleset: str) -> pd.DataFrame:
    """Trials whose optbench meta data records ``ruleset`` (or records none)."""
    keep = trials["meta"].map(
        lambda m: not isinstance(m, Mapping) or m.get("ruleset") in (None, ruleset)
    )
    kept = trials[keep.astype(bool)].reset_index(drop=True)
    kept["order"] = np.arange(len(kept))
    return kept


def _check_ruleset(ruleset: str | None) -> None:
    if ruleset is not None and ruleset not in presets.RULESETS:
        raise UserError(f"unknown ruleset {ruleset!r}; choose external or self")


def _load_ruleset(path: str | os.PathLike[str], ruleset: str | None) -> tuple[pd.DataFrame, str]:
    """The trials of one ruleset under ``path`` and that ruleset's name."""
    _check_ruleset(ruleset)
    found = find_rulesets(path)
    if not found:
        trials = load_experiment(path)
        chosen = _choose_ruleset(trials, ruleset, str(path))
        return _only_ruleset(trials, chosen), chosen
    if ruleset is None:
        if len(found) > 1:
            raise UserError(
                f"{path} holds both external_tuning/ and self_tuning/: pass --ruleset external "
                "or self (optbench score scores both)"
            )
        ruleset = next(iter(found))
    if ruleset not in found:
        have = ", ".join(f"{presets.RULESET_FOLDERS[r]}/" for r in found)
        raise UserError(
            f"no {presets.RULESET_FOLDERS[ruleset]}/ folder under {path} (it holds {have}): "
            "choose another --ruleset"
        )
    return load_experiment(found[ruleset]), ruleset


def rulesets_in(path: str | os.PathLike[str]) -> list[str]:
    """The tuning rulesets a log tree holds: its folder names, else optbench's meta data.

    ``["external"]`` when nothing says (AlgoPerf logs outside a ruleset folder).
    """
    found = find_rulesets(path)
    if found:
        return list(found)
    return meta_rulesets(load_experiment(path)) or ["external"]


def _intervals(
    per_study: pd.DataFrame,
    targets: Targets,
    mode: str,
    n_bootstrap: int,
    seed: int,
    times: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Bootstrap intervals: of the scores (ci_low, ci_high) and of every median time (low,
    high); NaN throughout when ``n_bootstrap`` is 0."""
    frame = {"index": times.index, "columns": times.columns}
    if not n_bootstrap:
        empty = pd.DataFrame(np.nan, index=times.index, columns=["ci_low", "ci_high"])
        return empty, pd.DataFrame(np.nan, **frame), pd.DataFrame(np.nan, **frame)
    result = bootstrap(per_study, targets, mode, n_bootstrap, seed)
    low, high = result.time_interval()
    return (
        result.score_interval().reindex(times.index),
        low.reindex(**frame),
        high.reindex(**frame),
    )


def _scored_ties(
    per_trial: pd.DataFrame, targets: Targets, workloads: list[str], mode: str
) -> pd.DataFrame:
    """Order-dependent ties (algoperf mode) in the columns the scoring rules read: only those
    can change a score."""
    if mode != "algoperf":
        return pd.DataFrame(columns=TIE_COLUMNS)
    ties = order_ties(per_trial)
    ruled = _rules(targets, workloads, mode).columns
    return ties[ties["workload"].isin(ruled)].reset_index(drop=True)


def _notes(
    trials: pd.DataFrame,
    per_trial: pd.DataFrame,
    targets: Targets,
    rules: Any,
    missing: Sequence[str],
    speed_unknown: bool = False,
    ties: int = 0,
) -> list[str]:
    """Warnings about what was counted: trials per study, untargeted and missing workloads,
    speed-ups without a budget, and ties the official score resolves by directory order."""
    counted = [*(targets.base_workloads or ()), *(targets.held_out_workloads or ())]
    notes = _count_warnings(per_trial, rules, counted)
    untargeted = sorted(set(trials["workload"]) - set(targets.workloads))
    notes += [f"no target for workload {w}: its trials are not scored" for w in untargeted]
    if missing:
        notes.append(
            f"scored without {', '.join(missing)} (no submission ran it): scores are over "
            f"{len(targets.base_workloads or ())} base workloads"
        )
    if speed_unknown:
        notes.append("speed-up unknown where a workload's budget is unknown (pass budgets)")
    if ties:
        notes.append(
            f"{ties} studies have trials reaching the target at the same eval at different "
            "times: the official score depends on directory order (see the ties)"
        )
    return notes


def _load_for_scoring(
    path: str | os.PathLike[str],
    chosen: Preset,
    targets: str | os.PathLike[str] | Targets | None,
    baseline: str | None,
    ruleset: str | None,
) -> tuple[pd.DataFrame, str, Targets]:
    """The trials of one ruleset, its name and the resolved targets; the baseline checked."""
    trials, ruleset = _load_ruleset(path, ruleset)
    check_one_profile(trials)
    if baseline is not None and baseline not in set(trials["submission"]):
        known = ", ".join(sorted(trials["submission"].unique()))
        raise UserError(f"unknown baseline submission {baseline!r} (known: {known})")
    given = load_targets(targets) if isinstance(targets, str | os.PathLike) else targets
    resolved = resolve_targets(trials, given, chosen)
    check_target_columns(trials, resolved)
    return trials, ruleset, resolved


def _per_trial(
    trials: pd.DataFrame, targets: Targets, strict: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-trial times (flagged trials never reach under ``strict``) and the flags."""
    flags = trial_flags(trials, targets)
    per_trial = trial_times(trials, targets, set(flags["order"]) if strict else ())
    if per_trial.empty:
        raise UserError(f"no trial of a workload with a target (targets: {targets.source})")
    return per_trial, flags.drop(columns="order").reset_index(drop=True)


def _score_table(
    times: pd.DataFrame, per_study: pd.DataFrame, targets: Targets, mode: str, options: dict
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Scores (with intervals and speed-ups, best first), the time intervals, the scored times
    and the profiles."""
    scored = apply_scoring_rules(times, targets, mode)
    profiles = performance_profiles(scored, len(targets.base_workloads or ()))
    scores = benchmark_scores(profiles).to_frame("score")
    scores[["ci_low", "ci_high"]], time_low, time_high = _intervals(
        per_study, targets, mode, options["n_bootstrap"], options["seed"], times
    )
    scores["time_ratio"] = np.nan
    scores["speedup"] = np.nan
    if options["baseline"] is not None:
        speed = speedups(
            times,
            options["baseline"],
            targets.base_workloads or (),
            options["budgets"],
            options["budget_pad_sec"],
        )
        scores[["time_ratio", "speedup"]] = speed.reindex(scores.index)
    scores = scores.sort_values("score", ascending=False, kind="stable")
    return scores, time_low, time_high, scored, profiles


def score_experiment(
    path: str | os.PathLike[str],
    preset: str = "default",
    targets: str | os.PathLike[str] | Targets | None = None,
    baseline: str | None = None,
    mode: str | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    budgets: Mapping[str, float] | None = None,
    ruleset: str | None = None,
    allow_missing_workloads: bool = False,
    strict: bool = False,
) -> Leaderboard:
    """Load, score and bootstrap the trials of one tuning ruleset of a log tree.

    ``preset``: ``default``, ``algoperf-v0.5`` or ``algoperf-v0.6`` (:mod:`optbench.presets`);
    ``mode`` overrides the preset's mode; ``targets``: a targets JSON (or :class:`Targets`),
    else the preset's, else each trial's meta data; ``baseline``: submission for the
    speed-ups; ``n_bootstrap`` = 0 skips the intervals; ``budgets``: workload -> external
    budget in seconds, overriding the other budget sources; ``ruleset``: external or self,
    default what the tree's folders (``external_tuning/``, ``self_tuning/``) or optbench's
    meta data say (a tree holding both needs it: :func:`score_tree` scores both);
    ``allow_missing_workloads``: score without scored workloads nobody ran instead of failing;
    ``strict``: flagged trials (:func:`trial_flags`) count as never reaching the target.
    """
    chosen = get_preset(preset)
    mode = mode or chosen.mode
    _check_mode(mode)
    if n_bootstrap < 0:
        raise UserError("the number of bootstrap samples cannot be negative")
    trials, ruleset, resolved = _load_for_scoring(path, chosen, targets, baseline, ruleset)
    per_trial, flags = _per_trial(trials, resolved, strict)
    per_study = study_times(per_trial, mode)
    times = workload_times(per_study)
    resolved, missing = drop_missing_workloads(resolved, times, allow_missing_workloads)
    spent = ruleset_budgets(resolved, chosen, ruleset, trials, budgets)
    options = {
        "n_bootstrap": n_bootstrap,
        "seed": seed,
        "baseline": baseline,
        "budgets": spent,
        "budget_pad_sec": chosen.budget_pad_sec,
    }
    scores, time_low, time_high, scored, profiles = _score_table(
        times, per_study, resolved, mode, options
    )
    ties = _scored_ties(per_trial, resolved, list(times.columns), mode)
    speed_unknown = baseline is not None and bool(scores["time_ratio"].isna().any())
    rules = chosen.ruleset(ruleset)
    notes = _notes(trials, per_trial, resolved, rules, missing, speed_unknown, len(ties))
    failed = per_trial[per_trial["status"] != "ok"]
    return Leaderboard(
        preset=chosen.name,
        mode=mode,
        baseline=baseline,
        targets=resolved,
        scores=scores,
        times=times.reindex(scores.index),
        time_ci_low=time_low.reindex(scores.index),
        time_ci_high=time_high.reindex(scores.index),
        scored_times=scored.reindex(scores.index),
        profiles=profiles.reindex(scores.index),
        study_times=per_study,
        trial_times=per_trial,
        failures=failed[list(FAILURE_COLUMNS)].reset_index(drop=True),
        trials=trials,
        warnings=notes,
        n_bootstrap=n_bootstrap,
        seed=seed,
        ruleset=ruleset,
        budgets=spent,
        missing_workloads=missing,
        ties=ties,
        tie_scores=tie_scores(per_study, ties, times, resolved, mode).reindex(
            columns=list(scores.index)
        ),
        flags=flags,
        strict=strict,
    )


def score_tree(
    path: str | os.PathLike[str], ruleset: str | None = None, **options: Any
) -> list[Leaderboard]:
    """One leaderboard per tuning ruleset of a log tree (external first), or of ``ruleset``.

    ``options`` are :func:`score_experiment`'s. An AlgoPerf ``logs/`` folder holding both
    ``external_tuning/`` and ``self_tuning/`` gives two leaderboards.
    """
    _check_ruleset(ruleset)
    chosen = [ruleset] if ruleset is not None else rulesets_in(path)
    return [score_experiment(path, ruleset=name, **options) for name in chosen]
