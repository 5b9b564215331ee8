"""One timed trial: train a submission on a workload until target, budget or step cap.

The runner is the trial's supervisor: it owns the clock, the budget, the evaluation and every
file; the submission runs in a worker (:mod:`optbench.trial_worker`), in a process of its own
when it was loaded from source. The timing rules live here and only here:

* not timed: loading data, building the model, ``init_optimizer_state`` (the clock starts after);
  the parameters must come out of ``init_optimizer_state`` as the workload initialised them;
* timed ("submission time"): ``data_selection`` + ``update_params`` of every step, and
  ``prepare_for_eval``. The runner times each stretch of steps with its own clock, from the
  request it sends the worker to the answer (the worker synchronises its device before
  answering); between stretches the worker is paused (SIGSTOP), so none of its threads runs
  untimed;
* not timed: evaluation (of a snapshot of the parameters, with the workload's own model and
  metric code, in the runner's process) and logging (accumulated separately);
* an eval is due once ``eval_period_time_sec`` of submission time has passed since the last one
  (and after the first step, as AlgoPerf does); the budget is checked before every eval, so no eval
  happens past the budget;
* training ends when the budget is spent, when both validation and test targets are reached, on
  ``TrainingCompleteError`` (one final eval follows, if budget remains) or at the step cap;
* a trial given a cap (``cap_sec``, ``cap_evals``: the best time-to-target and the fewest evals
  to target of the trials of its study already run) ends once it has made ``cap_evals`` evals and
  its submission time reaches ``cap_sec``, as if its budget were spent (``capped``): a target
  reached after both could win its study by neither time (optbench's scoring) nor eval index
  (AlgoPerf's), so no score changes;
* checkpoints (:mod:`optbench.checkpoint`) are written after evals, untimed; a resumed trial
  continues from the last one with the submission time it had then (the time lost since is not
  counted, as in AlgoPerf) and ``preemption_count`` one higher.

Time-to-target is the submission time at the first eval whose validation metric meets the target.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from optbench import batch_rule, checkpoint, distributed, integrity, prng, results
from optbench.errors import UserError
from optbench.spec import Workload
from optbench.submission import Submission
from optbench.timing import Clock
from optbench.trial_worker import (
    ContractViolation,
    InlineWorker,
    Order,
    ProcessWorker,
    Setup,
    SubmissionFailed,
)

__all__ = ["ContractViolation", "SubmissionFailed", "TrialResult", "run_trial"]

# How often (wall seconds) a running worker hands back, so the progress bar moves.
TICK_SEC = 2.0
# How long past the budget a worker may take to answer before it is killed.
OVERRUN_GRACE_SEC = 60.0


@dataclass
class TrialResult:
    """What one trial produced (also written to ``result.json``)."""

    status: str  # "completed" or "failed"
    stop_reason: str  # target | budget | capped | training_complete | step_cap | diverged | error
    reached_target: bool
    time_to_target: float | None
    steps_to_target: int | None
    global_step: int
    submission_time: float
    budget_sec: float
    batch_size: int
    failure: str | None = None
    flags: list[str] = field(default_factory=list)
    speed_probe_gflops: tuple[float, float] | None = None
    preemption_count: int = 0
    eval_rows: list[dict[str, float]] = field(default_factory=list)
    trial_dir: Path | None = None
    supervised: bool = False
    # Wall seconds of the trial's phases in its process: set-up (data, model, worker, speed
    # probe), loop (timed steps, evals, checkpoints), finish (end probe). Where a verdict's time
    # goes; never scored.
    wall_sec: dict[str, float] | None = None

    def summary(self) -> dict[str, Any]:
        """The JSON-able fields (no eval rows, no paths)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("eval_rows", "trial_dir")}


@dataclass
class TrialConfig:
    """How to run a trial (see :func:`run_trial` for each field)."""

    hyperparameters: Any = None
    seed: int = 0
    trial_dir: Path | None = None
    budget_scale: float = 1.0
    max_steps: int | None = None
    batch_size: int | None = None
    progress: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    probe_speed: bool = True
    eval_every_steps: int | None = None
    checkpoint_every_sec: float | None = None
    cap_sec: float | None = None
    cap_evals: int = 0

    def check(self) -> None:
        """One-line errors for values no trial can run with."""
        if not self.budget_scale > 0:
            raise UserError(f"--budget-scale must be positive, got {self.budget_scale}")
        for name in ("max_steps", "eval_every_steps"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise UserError(f"{name} must be positive, got {value}")
        if self.cap_sec is not None and not self.cap_sec >= 0:
            raise UserError(f"cap_sec must be >= 0, got {self.cap_sec}")
        if self.cap_evals < 0:
            raise UserError(f"cap_evals must be >= 0, got {self.cap_evals}")
        if self.checkpoint_every_sec is not None and not self.checkpoint_every_sec >= 0:
            raise UserError(f"checkpoint_every_sec must be >= 0, got {self.checkpoint_every_sec}")


def resolve_batch_size(workload: Workload, submission: Submission) -> int:
    """The batch size ``submission`` trains with on ``workload`` (:mod:`optbench.batch_rule`)."""
    return batch_rule.choose(workload, submission.get_batch_size).used


def run_trial(
    workload: Workload,
    submission: Any,
    *,
    supervised: bool | None = None,
    resume: bool = False,
    **options: Any,
) -> TrialResult:
    """Run one timed trial (see the module docstring for the rules); write it to ``trial_dir``.

    ``submission`` is a :class:`~optbench.submission.Submission`, or a picklable callable that
    loads one (e.g. :class:`optbench.submission_source.SubmissionSource`). ``supervised`` runs the
    submission in a process of its own (default: when it is given as a callable; a Submission
    object built in Python cannot be sent to another process and runs in this one).

    ``options`` are :class:`TrialConfig`'s: ``hyperparameters`` (the namedtuple of one search-space
    point, or None: self-tuning), ``seed``, ``trial_dir``, ``budget_scale``, ``max_steps``,
    ``batch_size``, ``progress``, ``meta`` (extra ``meta_data.json`` fields), ``probe_speed``,
    ``eval_every_steps`` (evals at step 1 and every N steps instead of by time: curves then do not
    depend on machine speed), ``checkpoint_every_sec`` (wall seconds; 0: after every eval; None:
    never), ``cap_sec`` and ``cap_evals`` (the study's best so far: see the module docstring).
    ``resume`` continues from the checkpoint in ``trial_dir``, if it was written for this
    very trial (otherwise the trial starts afresh).
    """
    if options.get("meta") is None:
        options.pop("meta", None)
    config = TrialConfig(**options)
    config.check()
    if config.trial_dir is not None:
        config.trial_dir = Path(config.trial_dir)
    if supervised is None:
        supervised = not isinstance(submission, Submission)
    if distributed.launched():
        # torchrun's ranks each run the submission themselves; only rank 0 writes; no
        # checkpoints (a resumed rank would need every rank's state).
        distributed.init(torch.device(getattr(workload, "device", "cpu")))
        supervised, resume = False, False
        config.checkpoint_every_sec = None
        if distributed.rank() != 0:
            config.trial_dir, config.progress = None, False
        if not isinstance(submission, Submission):
            submission = submission()
    result = Trial(workload, submission, config, supervised).run(resume)
    if result is None:  # the checkpoint no longer fits the submission's state: start afresh
        result = Trial(workload, submission, config, supervised).run(resume=False)
    return result


class Trial:
    """A trial as a loop: set up, timed stretches of steps, maybe eval, maybe checkpoint, finish."""

    def __init__(self, workload: Any, submission: Any, config: TrialConfig, supervised: bool):
        self.workload, self.submission, self.config = workload, submission, config
        self.supervised = supervised
        self.wall_start = time.perf_counter()
        self.budget = workload.max_allowed_runtime_sec * config.budget_scale
        self.out = config.trial_dir
        self.clock = Clock(getattr(workload, "device", torch.device("cpu")))
        self.eval_rows: list[dict[str, Any]] = []
        self.eval_results: list[tuple[int, dict[str, float]]] = []
        self.sent_results = 0
        self.preemption_count = 0
        self.global_step = 0
        self.batches_drawn = 0
        self.train_state: dict[str, Any] = {
            "accumulated_submission_time": 0.0,
            "accumulated_eval_time": 0.0,
            "accumulated_logging_time": 0.0,
            "last_eval_submission_time": -math.inf,
            "validation_goal_reached": False,
            "test_goal_reached": False,
            "training_complete": False,
        }

    # --- the loop ----------------------------------------------------------------------------
    def run(self, resume: bool) -> TrialResult | None:
        """The whole trial; None if ``resume`` found a checkpoint the submission cannot load."""
        self._set_up_runner_side()
        self.worker = (ProcessWorker if self.supervised else InlineWorker)(self._setup())
        try:
            try:
                started = self.worker.request("start")
            except SubmissionFailed as exc:
                return self._finish("failed", "error", str(exc))
            self.batch_choice = started["batch_choice"]
            self._check_initial_parameters(started["params"])
            if not self._begin(resume):
                return None
            return self._loop()
        except SubmissionFailed as exc:
            reason = "contract" if isinstance(exc, ContractViolation) else "error"
            return self._finish("failed", reason, str(exc))
        finally:
            self.worker.close()

    def _loop(self) -> TrialResult:
        ts = self.train_state
        self.bar = self._progress_bar()
        self.wall_loop = time.perf_counter()
        self.start = self.clock.now() - self.duration_before
        last_checkpoint = self.clock.now()
        stop_reason = "budget"
        while True:
            report = self._timed_stretch()
            limit, _ = self._limit()
            if report["stop"] == "eval" and ts["accumulated_submission_time"] < limit:
                metrics = self._evaluate(report)
                divergence = _diverged(metrics)
                if divergence:
                    return self._finish(
                        "failed", "diverged", f"{divergence} at step {self.global_step}"
                    )
                if ts["validation_goal_reached"] and ts["test_goal_reached"]:
                    stop_reason = "target"
                    break
            if report["training_complete"]:
                ts["training_complete"] = True
                capped = self.config.max_steps is not None and (
                    self.global_step >= self.config.max_steps
                )
                stop_reason = "step_cap" if capped else "training_complete"
                break
            limit, end_reason = self._limit()
            if ts["accumulated_submission_time"] >= limit:
                stop_reason = end_reason
                break
            if report["stop"] == "eval" and self._checkpoint_due(last_checkpoint):
                self._save_checkpoint()
                last_checkpoint = self.clock.now()
        return self._finish("completed", stop_reason)

    # --- untimed set-up -----------------------------------------------------------------------
    def _set_up_runner_side(self) -> None:
        """The runner's copy of the data and of the initial model, before the worker starts."""
        config, workload = self.config, self.workload
        if hasattr(workload, "load_data"):
            workload.load_data()
        self.speed_before = (
            integrity.speed_probe(device=workload.device) if config.probe_speed else None
        )
        torch.manual_seed(config.seed)
        self.rng, _, _, model_init_rng = prng.split(prng.key(config.seed), 4)
        dropout = getattr(config.hyperparameters, "dropout_rate", None)
        self.model, _ = workload.init_model_fn(model_init_rng, dropout_rate=dropout)
        self.initial = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def _setup(self) -> Setup:
        counts = {}
        if self.supervised:
            for name in ("num_validation_examples", "num_test_examples", "num_eval_train_examples"):
                if hasattr(self.workload, name):
                    counts[name] = getattr(self.workload, name)
        return Setup(
            workload=self.workload,
            submission=self.submission,
            seed=self.config.seed,
            hyperparameters=self.config.hyperparameters,
            batch_size=self.config.batch_size,
            eval_counts=counts,
            threads=torch.get_num_threads(),
        )

    def _check_initial_parameters(self, params: dict[str, torch.Tensor]) -> None:
        """``init_optimizer_state`` is untimed: training there would be free, so it must leave
        the parameters exactly as the workload initialised them."""
        changed = sorted(
            k
            for k, v in self.initial.items()
            if k not in params or not torch.equal(v.cpu(), params[k])
        )
        if changed or set(params) != set(self.initial):
            raise ContractViolation(
                "init_optimizer_state changed the model's parameters ("
                + ", ".join(changed[:3] or sorted(set(params) ^ set(self.initial))[:3])
                + "); it is untimed, so training must happen in update_params"
            )

    def _identity(self) -> dict[str, Any]:
        config = self.config
        return {
            "submission": self._name(),
            "submission_digest": getattr(self.submission, "digest", ""),
            "workload": self.workload.name,
            "seed": config.seed,
            "hyperparameters": self._point(),
            "batch_size": self.batch_choice["used"],
            "budget_sec": self.budget,
            "max_steps": config.max_steps,
            "eval_every_steps": config.eval_every_steps,
        }

    def _begin(self, resume: bool) -> bool:
        """Resume from a checkpoint, or write the trial's opening files; False if the
        checkpoint's worker side no longer fits the submission."""
        self.duration_before = 0.0
        saved = checkpoint.load(self.out, self._identity()) if self.out and resume else None
        if saved is None:
            if self.out is not None:
                checkpoint.remove(self.out)  # a stale one from another trial or attempt
                results.write_json(self.out / "hparams.json", self._point())
                results.write_json(self.out / "meta_data.json", self._meta_data())
            return True
        answer = self.worker.request("restore", str(self.out / checkpoint.WORKER_FILENAME))
        if not answer["restored"]:
            return False
        self.train_state.update(saved["train_state"])
        self.eval_rows[:] = saved["eval_rows"]
        self.eval_results[:] = saved["eval_results"]
        self.sent_results = len(self.eval_results)  # the worker restored its own copy
        self.global_step = saved["global_step"]
        self.batches_drawn = saved["batches_drawn"]
        self.preemption_count = saved["preemption_count"] + 1
        self.speed_before = saved["speed_before"]
        self.duration_before = saved["total_duration"]
        _write_rows(self.out, self.eval_rows)  # drops rows evaluated after the checkpoint
        return True

    def _meta_data(self) -> dict[str, Any]:
        config, workload = self.config, self.workload
        return {
            "submission": self._name(),
            "submission_source": getattr(self.submission, "source", ""),
            "submission_digest": getattr(self.submission, "digest", ""),
            "supervised": self.supervised,
            "batch_size_choice": self.batch_choice,
            "seed": config.seed,
            "batch_size": self.batch_choice["used"] if self.batch_choice else None,
            "budget_sec": self.budget,
            "budget_scale": config.budget_scale,
            "max_steps": config.max_steps,
            "eval_every_steps": config.eval_every_steps,
            "workload": {**getattr(workload, "properties", dict)(), "budget_sec": self.budget},
            "data": getattr(workload, "data_provenance", {}),
            "targets_digest": _targets_digest(workload),
            "environment": results.environment(),
            **config.meta,
        }

    # --- timed stretches ----------------------------------------------------------------------
    def _timed_stretch(self) -> dict[str, Any]:
        """Let the worker train until an eval is due, the budget ends or a tick; time it."""
        ts = self.train_state
        config = self.config
        spent = ts["accumulated_submission_time"]
        limit, _ = self._limit()
        start = self.clock.now()
        if config.eval_every_steps is None:
            since = spent - ts["last_eval_submission_time"]
            eval_deadline = start + max(0.0, self.workload.eval_period_time_sec - since)
            eval_at_step = None
        else:
            eval_deadline = math.inf
            every = config.eval_every_steps
            eval_at_step = 1 if self.global_step == 0 else (self.global_step // every + 1) * every
        order = Order(
            eval_deadline=eval_deadline,
            budget_deadline=start + limit - spent,
            tick_deadline=start + TICK_SEC,
            eval_at_step=eval_at_step,
            max_steps=config.max_steps,
            train_state=dict(ts),
            new_eval_results=self.eval_results[self.sent_results :],
        )
        self.sent_results = len(self.eval_results)
        timeout = limit - spent + OVERRUN_GRACE_SEC
        try:
            report = self.worker.request("train", order, timeout=timeout)
        except TimeoutError:
            ts["accumulated_submission_time"] += self.clock.now() - start
            raise SubmissionFailed(
                f"the submission ran {OVERRUN_GRACE_SEC:.0f} s past its budget without handing "
                "back (one step longer than that, or a hang)"
            ) from None
        end = self.clock.now()
        self.worker.pause()
        ts["accumulated_submission_time"] = distributed.share(
            ts["accumulated_submission_time"] + end - start
        )  # rank 0's clock is the trial's
        self.global_step = int(report["global_step"])
        self.batches_drawn = int(report["batches_drawn"])
        self.bar.update(round(min(ts["accumulated_submission_time"], self.budget), 1) - self.bar.n)
        return report

    def _limit(self) -> tuple[float, str]:
        """The submission time past which nothing this trial does can count, and why."""
        cap = self.config.cap_sec
        if cap is not None and cap < self.budget and len(self.eval_rows) >= self.config.cap_evals:
            return cap, "capped"
        return self.budget, "budget"

    # --- untimed evaluation -------------------------------------------------------------------
    def _evaluate(self, report: dict[str, Any]) -> dict[str, float]:
        """Evaluate the worker's snapshot with the workload's own model and metric code."""
        ts, workload = self.train_state, self.workload
        try:
            self.model.load_state_dict(report["params"])
        except (RuntimeError, KeyError, TypeError) as exc:
            raise ContractViolation(
                "update_params returned a model whose parameters do not match the workload's: "
                + str(exc).splitlines()[0]
            ) from None
        submission_time = ts["accumulated_submission_time"]
        eval_rng = prng.split(prng.fold_in(self.rng, self.global_step - 1), 4)[3]
        eval_start = self.clock.now()
        metrics = None
        if distributed.rank() == 0:
            metrics = workload.eval_model(
                workload.eval_batch_size,
                self.model,
                report["model_state"],
                eval_rng,
                None,
                None,
                self.global_step,
            )
        metrics = distributed.share(metrics)
        eval_end = self.clock.now()
        ts["accumulated_eval_time"] += eval_end - eval_start
        ts["last_eval_submission_time"] = submission_time
        reached = workload.has_reached_validation_target(metrics)
        ts["validation_goal_reached"] |= reached
        ts["test_goal_reached"] |= workload.has_reached_test_target(metrics)
        row = {
            **metrics,
            "accumulated_submission_time": submission_time,
            "accumulated_eval_time": ts["accumulated_eval_time"],
            "accumulated_logging_time": ts["accumulated_logging_time"],
            "global_step": self.global_step,
            "preemption_count": self.preemption_count,
            "score": submission_time,
            "total_duration": eval_end - self.start,
        }
        # Batches drawn, not calls, measure progress: a submission may take many optimizer
        # steps in one update_params call (lawa_queue does).
        self.eval_rows.append({**row, "_reached": reached, "_batches": self.batches_drawn})
        self.eval_results.append((self.global_step, dict(metrics)))
        log_start = self.clock.now()
        if self.out is not None:
            _write_rows(self.out, self.eval_rows)
        key = f"validation/{workload.target_metric_name}"
        self.bar.set_postfix_str(
            f"step {self.global_step}, {key} {metrics[key]:.4f}", refresh=False
        )
        ts["accumulated_logging_time"] += self.clock.now() - log_start
        return metrics

    # --- checkpoints --------------------------------------------------------------------------
    def _checkpoint_due(self, last: float) -> bool:
        every = self.config.checkpoint_every_sec
        return self.out is not None and every is not None and self.clock.now() - last >= every

    def _save_checkpoint(self) -> None:
        save_start = self.clock.now()
        worker_side = self.out / checkpoint.WORKER_FILENAME
        self.worker.request("save", str(worker_side))
        self.worker.pause()
        checkpoint.save(
            self.out,
            {
                "identity": self._identity(),
                "worker_digest": checkpoint.file_digest(worker_side),
                "train_state": dict(self.train_state),
                "eval_rows": self.eval_rows,
                "eval_results": self.eval_results,
                "global_step": self.global_step,
                "batches_drawn": self.batches_drawn,
                "preemption_count": self.preemption_count,
                "speed_before": self.speed_before,
                "total_duration": self.clock.now() - self.start,
            },
        )
        self.train_state["accumulated_logging_time"] += self.clock.now() - save_start

    # --- the record ---------------------------------------------------------------------------
    def _finish(self, status: str, stop_reason: str, failure: str | None = None) -> TrialResult:
        bar = getattr(self, "bar", None)
        if bar is not None:
            bar.close()
        self.worker.close()  # nothing of the submission runs while the record is written
        finish_start = time.perf_counter()
        first = next((row for row in self.eval_rows if row.get("_reached")), None)
        rows = [{k: v for k, v in r.items() if not k.startswith("_")} for r in self.eval_rows]
        flags, speeds = self._flags(first, rows)
        batch_choice = getattr(self, "batch_choice", None)
        result = TrialResult(
            status=status,
            stop_reason=stop_reason,
            reached_target=first is not None,
            time_to_target=first["score"] if first else None,
            steps_to_target=int(first["global_step"]) if first else None,
            global_step=self.global_step,
            submission_time=self.train_state["accumulated_submission_time"],
            budget_sec=self.budget,
            batch_size=batch_choice["used"] if batch_choice else 0,
            failure=failure,
            flags=flags,
            speed_probe_gflops=speeds,
            preemption_count=self.preemption_count,
            eval_rows=rows,
            trial_dir=self.out,
            supervised=self.supervised,
            wall_sec=self._wall_phases(finish_start),
        )
        if self.out is not None:
            self._write_record(result)
        return result

    def _wall_phases(self, finish_start: float) -> dict[str, float]:
        loop_start = getattr(self, "wall_loop", finish_start)  # a trial may fail before its loop
        phases = {
            "setup": loop_start - self.wall_start,
            "loop": finish_start - loop_start,
            "finish": time.perf_counter() - finish_start,
        }
        return {k: round(v, 3) for k, v in phases.items()}

    def _flags(
        self, first: dict[str, Any] | None, rows: list[dict[str, Any]]
    ) -> tuple[list[str], tuple[float, float] | None]:
        props = getattr(self.workload, "properties", dict)()
        workload = self.workload
        flags = integrity.plausibility_flags(
            rows,
            int(first["global_step"]) if first else None,
            workload.target_metric_name,
            workload.metric_higher_is_better,
            workload.validation_target_value,
            props.get("min_steps_to_target"),
            props.get("train_gap"),
            batches_to_target=first.get("_batches") if first else None,
        )
        speeds = None
        if self.speed_before is not None:
            speeds = (self.speed_before, integrity.speed_probe(device=self.workload.device))
            flags += integrity.speed_flags(speeds, props.get("calibration_gflops"))
        return flags, speeds

    def _write_record(self, result: TrialResult) -> None:
        out = self.out
        if not (out / "meta_data.json").exists():  # failed before the opening files
            self.batch_choice = getattr(self, "batch_choice", None)
            results.write_json(out / "hparams.json", self._point())
            results.write_json(out / "meta_data.json", self._meta_data())
        if result.failure:
            (out / "error.txt").write_text(result.failure)
        summary = result.summary()
        summary["files_sha256"] = results.file_digests(out)
        results.write_json(out / "result.json", summary)
        checkpoint.remove(out)

    # --- small helpers ------------------------------------------------------------------------
    def _name(self) -> str:
        return getattr(self.submission, "name", "")

    def _point(self) -> Any:
        hp = self.config.hyperparameters
        return hp._asdict() if hasattr(hp, "_asdict") else hp

    def _progress_bar(self) -> tqdm:
        bar = tqdm(
            total=round(self.budget, 1),
            unit="s",
            disable=not self.config.progress,
            leave=True,
            mininterval=0.5,
            desc=f"{self._name()} on {self.workload.name}",
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.0f}s sub. time "
            "[{elapsed}<{remaining}{postfix}]",
        )
        bar.update(round(self.train_state["accumulated_submission_time"], 1))
        return bar


def _targets_digest(workload: Any) -> str | None:
    """The digest of the committed targets entry the trial ran against (None for workloads
    outside optbench's registry): ``optbench score`` pins targets by it."""
    from optbench.workloads import WORKLOADS, targets

    if WORKLOADS.get(getattr(workload, "name", None)) is None or not hasattr(workload, "size"):
        return None
    return targets.targets_digest(workload.name, workload.size)


def _write_rows(out: Path, eval_rows: list[dict[str, Any]]) -> None:
    results.write_eval_measurements(
        out / "eval_measurements.csv",
        [{k: v for k, v in r.items() if not k.startswith("_")} for r in eval_rows],
    )


def _diverged(metrics: dict[str, float]) -> str | None:
    for key, value in metrics.items():
        if key.startswith(("validation/", "train/")) and not math.isfinite(value):
            return f"diverged: {key} is {value}"
    return None
