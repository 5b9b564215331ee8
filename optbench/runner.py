"""One timed trial: train a submission on a workload until target, budget or step cap.

The timing rules (ALGOPERF.md §4) live here and only here:

* not timed: loading data, building the model, ``init_optimizer_state`` (the clock starts after);
* timed ("submission time"): ``data_selection`` + ``update_params`` of every step, and
  ``prepare_for_eval``; each timestamp is taken after a device synchronisation;
* not timed: evaluation and logging (accumulated separately);
* an eval is due once ``eval_period_time_sec`` of submission time has passed since the last one
  (and after the first step, as AlgoPerf does); the budget is checked before every eval, so no eval
  happens past the budget;
* training ends when the budget is spent, when both validation and test targets are reached, on
  ``TrainingCompleteError`` (one final eval follows, if budget remains) or at the step cap;
* checkpoints (:mod:`optbench.checkpoint`) are written after evals, untimed; a resumed trial
  continues from the last one with the submission time it had then (the time lost since is not
  counted, as in AlgoPerf) and ``preemption_count`` one higher.

Time-to-target is the submission time at the first eval whose validation metric meets the target.
"""

from __future__ import annotations

import math
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from optbench import batch_rule, checkpoint, integrity, prng, results
from optbench.compat import environment
from optbench.errors import UserError
from optbench.spec import Workload
from optbench.submission import Submission
from optbench.timing import Clock


@dataclass
class TrialResult:
    """What one trial produced (also written to ``result.json``)."""

    status: str  # "completed" or "failed"
    stop_reason: str  # target | budget | training_complete | step_cap | diverged | error
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

    def summary(self) -> dict[str, Any]:
        """The JSON-able fields (no eval rows, no paths)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("eval_rows", "trial_dir")}


class SubmissionFailed(Exception):
    """A submission function raised: the trial is recorded as failed with this reason."""


class ContractViolation(SubmissionFailed):
    """A submission function returned something the API does not allow."""


def _is_training_complete(exc: BaseException) -> bool:
    # By name, so the class of a real `algoperf.spec` (if installed) is honoured too.
    return type(exc).__name__ == "TrainingCompleteError"


def resolve_batch_size(workload: Workload, submission: Submission) -> int:
    """The batch size ``submission`` trains with on ``workload`` (:mod:`optbench.batch_rule`)."""
    return batch_rule.choose(workload, submission.get_batch_size).used


def _call(what: str, fn, **kwargs):
    try:
        return fn(**kwargs)
    except Exception as exc:
        if _is_training_complete(exc):
            raise
        tail = "".join(traceback.format_exception(exc)[-6:])
        need = environment.unmet_need(exc)
        first = f"{what} raised {type(exc).__name__}: {exc}".splitlines()[0]
        headline = f"{need} ({first})" if need else first
        raise SubmissionFailed(f"{headline}\n{tail}") from exc


def _update_return(what: str, value: Any) -> tuple[Any, Any, Any]:
    if not isinstance(value, tuple | list) or len(value) != 3:
        got = f"a {len(value)}-tuple" if isinstance(value, tuple | list) else type(value).__name__
        raise ContractViolation(
            f"{what} must return (optimizer_state, params, model_state), got {got}"
        )
    if not isinstance(value[1], torch.nn.Module):
        raise ContractViolation(
            f"{what} must return the model (a torch.nn.Module) as params, got "
            f"{type(value[1]).__name__}"
        )
    return tuple(value)


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


def run_trial(
    workload: Workload,
    submission: Submission,
    *,
    hyperparameters: Any = None,
    seed: int = 0,
    trial_dir: str | Path | None = None,
    budget_scale: float = 1.0,
    max_steps: int | None = None,
    batch_size: int | None = None,
    progress: bool = False,
    meta: dict[str, Any] | None = None,
    probe_speed: bool = True,
    eval_every_steps: int | None = None,
    checkpoint_every_sec: float | None = None,
    resume: bool = False,
) -> TrialResult:
    """Run one timed trial (see the module docstring for the rules); write it to ``trial_dir``.

    ``hyperparameters`` is the namedtuple of one search-space point, or None (self-tuning).
    The submission sees the workload through :class:`optbench.integrity.WorkloadView`.
    ``eval_every_steps`` replaces the time-based eval period by a step-based one (evals at step 1
    and every N steps): curves then do not depend on machine speed, for reproducibility checks.
    ``checkpoint_every_sec`` (wall seconds; 0: after every eval; None: never) saves a checkpoint
    into ``trial_dir`` after an eval; ``resume`` continues from the checkpoint found there, if it
    was written for this very trial (otherwise the trial starts afresh).
    """
    _arguments = {k: v for k, v in locals().items() if k != "resume"}  # to start afresh
    if budget_scale <= 0:
        raise UserError(f"--budget-scale must be positive, got {budget_scale}")
    if max_steps is not None and max_steps <= 0:
        raise UserError(f"max_steps must be positive, got {max_steps}")
    if eval_every_steps is not None and eval_every_steps <= 0:
        raise UserError(f"eval_every_steps must be positive, got {eval_every_steps}")
    if checkpoint_every_sec is not None and checkpoint_every_sec < 0:
        raise UserError(f"checkpoint_every_sec must be >= 0, got {checkpoint_every_sec}")
    budget = workload.max_allowed_runtime_sec * budget_scale
    out = Path(trial_dir) if trial_dir is not None else None

    # --- untimed set-up ------------------------------------------------------------------------
    if hasattr(workload, "load_data"):
        workload.load_data()
    speed_before = integrity.speed_probe() if probe_speed else None
    view = integrity.WorkloadView(workload)
    batch_choice = batch_rule.choose(
        workload, submission.get_batch_size, batch_size, workload.num_train_examples
    )
    global_batch_size = batch_choice.used
    torch.manual_seed(seed)
    rng, data_rng, opt_init_rng, model_init_rng = prng.split(prng.key(seed), 4)
    dropout = getattr(hyperparameters, "dropout_rate", None)
    model, model_state = workload.init_model_fn(model_init_rng, dropout_rate=dropout)
    params_types = workload.model_params_types
    eval_rows: list[dict[str, float]] = []
    eval_results: list[tuple[int, dict[str, float]]] = []
    preemption_count = 0  # one higher on resume, below

    point = hyperparameters._asdict() if hasattr(hyperparameters, "_asdict") else hyperparameters
    identity = {
        "submission": submission.name,
        "submission_digest": submission.digest,
        "workload": workload.name,
        "seed": seed,
        "hyperparameters": point,
        "batch_size": global_batch_size,
        "budget_sec": budget,
        "max_steps": max_steps,
        "eval_every_steps": eval_every_steps,
    }
    saved = checkpoint.load(out, identity) if out is not None and resume else None
    if out is not None and saved is None:
        checkpoint.remove(out)  # a stale one from another trial or an earlier attempt
        results.write_json(out / "hparams.json", point)
        results.write_json(
            out / "meta_data.json",
            {
                "submission": submission.name,
                "submission_source": submission.source,
                "submission_digest": submission.digest,
                "batch_size_choice": batch_choice.to_json(),
                "seed": seed,
                "batch_size": global_batch_size,
                "budget_sec": budget,
                "budget_scale": budget_scale,
                "max_steps": max_steps,
                "eval_every_steps": eval_every_steps,
                "workload": {**getattr(workload, "properties", dict)(), "budget_sec": budget},
                "data": getattr(workload, "data_provenance", {}),
                "environment": results.environment(),
                **(meta or {}),
            },
        )

    def finish(status, stop_reason, step, submission_time, failure=None):
        first = next((row for row in eval_rows if row.get("_reached")), None)
        batches = first.get("_batches") if first else None
        for row in eval_rows:
            row.pop("_reached", None)
            row.pop("_batches", None)
        props = getattr(workload, "properties", dict)()
        flags = integrity.plausibility_flags(
            eval_rows,
            int(first["global_step"]) if first else None,
            workload.target_metric_name,
            workload.metric_higher_is_better,
            workload.validation_target_value,
            props.get("min_steps_to_target"),
            props.get("train_gap"),
            batches_to_target=batches,
        )
        speeds = None
        if speed_before is not None:
            speeds = (speed_before, integrity.speed_probe())
            flags += integrity.speed_flags(speeds, props.get("calibration_gflops"))
        result = TrialResult(
            status=status,
            stop_reason=stop_reason,
            reached_target=first is not None,
            time_to_target=first["score"] if first else None,
            steps_to_target=int(first["global_step"]) if first else None,
            global_step=step,
            submission_time=submission_time,
            budget_sec=budget,
            batch_size=global_batch_size,
            failure=failure,
            flags=flags,
            speed_probe_gflops=speeds,
            preemption_count=preemption_count,
            eval_rows=eval_rows,
            trial_dir=out,
        )
        if out is not None:
            if failure:
                (out / "error.txt").write_text(failure)
            results.write_json(out / "result.json", result.summary())
            checkpoint.remove(out)
        return result

    environment.ensure_process_group()  # AlgoPerf initialises torch.distributed before this call
    try:
        optimizer_state = _call(
            "init_optimizer_state",
            submission.init_optimizer_state,
            workload=view,
            model_params=model,
            model_state=model_state,
            hyperparameters=hyperparameters,
            rng=opt_init_rng,
        )
    except SubmissionFailed as exc:
        return finish("failed", "error", 0, 0.0, str(exc))
    input_queue = checkpoint.CountingQueue(
        workload._build_input_queue(data_rng, "train", None, global_batch_size)
    )
    extra = {}
    train_state: dict[str, Any] = {
        "accumulated_submission_time": 0.0,
        "accumulated_eval_time": 0.0,
        "accumulated_logging_time": 0.0,
        "last_eval_submission_time": -math.inf,
        "validation_goal_reached": False,
        "test_goal_reached": False,
        "training_complete": False,
    }
    if submission.update_params_takes_train_state:
        extra["train_state"] = types.MappingProxyType(train_state)

    bar = tqdm(
        total=round(budget, 1),
        unit="s",
        disable=not progress,
        leave=True,
        mininterval=0.5,
        desc=f"{submission.name} on {workload.name}",
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.0f}s sub. time "
        "[{elapsed}<{remaining}{postfix}]",
    )
    metric_key = f"validation/{workload.target_metric_name}"

    # --- the timed loop ------------------------------------------------------------------------
    clock = Clock(getattr(workload, "device", torch.device("cpu")))
    global_step = 0
    duration_before = 0.0
    if saved is not None:
        try:
            model.load_state_dict(saved["model"])
            optimizer_state = checkpoint.restore_optimizer_state(
                optimizer_state, saved["optimizer_state"]
            )
        except Exception:  # the submission's state no longer fits: start afresh
            return run_trial(**_arguments, resume=False)
        model_state = saved["model_state"]
        train_state.update(saved["train_state"])
        eval_rows[:] = saved["eval_rows"]
        eval_results[:] = saved["eval_results"]
        global_step = saved["global_step"]
        preemption_count = saved["preemption_count"] + 1
        speed_before = saved["speed_before"]
        duration_before = saved["total_duration"]
        input_queue = checkpoint.resumed_queue(input_queue, saved["batches_drawn"])
        _write_rows(out, eval_rows)  # drops rows evaluated after the checkpoint
        bar.update(round(train_state["accumulated_submission_time"], 1))
        checkpoint.set_rng_states(saved["rng_states"])
    stop_reason = "budget"
    step_rngs = prng.split(prng.fold_in(rng, global_step), 4)
    global_start = clock.now() - duration_before
    last_step_end = clock.now()
    last_checkpoint = last_step_end
    try:
        while True:
            select_rng, update_rng, prep_rng, eval_rng = step_rngs
            batch = _call(
                "data_selection",
                submission.data_selection,
                workload=view,
                input_queue=input_queue,
                optimizer_state=optimizer_state,
                current_param_container=model,
                model_state=model_state,
                hyperparameters=hyperparameters,
                global_step=global_step,
                rng=select_rng,
            )
            try:
                optimizer_state, model, model_state = _update_return(
                    "update_params",
                    _call(
                        "update_params",
                        submission.update_params,
                        workload=view,
                        current_param_container=model,
                        current_params_types=params_types,
                        model_state=model_state,
                        hyperparameters=hyperparameters,
                        batch=batch,
                        loss_type=workload.loss_type,
                        optimizer_state=optimizer_state,
                        eval_results=eval_results,
                        global_step=global_step,
                        rng=update_rng,
                        **extra,
                    ),
                )
            except Exception as exc:
                if not _is_training_complete(exc):
                    raise
                train_state["training_complete"] = True
                stop_reason = "training_complete"
            global_step += 1
            if max_steps is not None and global_step >= max_steps:
                train_state["training_complete"] = True
                stop_reason = "step_cap"
            step_end = clock.now()
            train_state["accumulated_submission_time"] += step_end - last_step_end
            submission_time = train_state["accumulated_submission_time"]

            if eval_every_steps is None:
                due = (
                    submission_time - train_state["last_eval_submission_time"]
                    >= workload.eval_period_time_sec
                )
            else:
                due = global_step == 1 or global_step % eval_every_steps == 0
            if (due or train_state["training_complete"]) and submission_time < budget:
                if submission.prepare_for_eval is not None:
                    del batch
                    prep_start = clock.now()
                    optimizer_state, model, model_state = _update_return(
                        "prepare_for_eval",
                        _call(
                            "prepare_for_eval",
                            submission.prepare_for_eval,
                            workload=view,
                            current_param_container=model,
                            current_params_types=params_types,
                            model_state=model_state,
                            hyperparameters=hyperparameters,
                            loss_type=workload.loss_type,
                            optimizer_state=optimizer_state,
                            eval_results=eval_results,
                            global_step=global_step,
                            rng=prep_rng,
                        ),
                    )
                    train_state["accumulated_submission_time"] += clock.now() - prep_start
                    submission_time = train_state["accumulated_submission_time"]
                if submission_time < budget:  # budget checked before every eval
                    eval_start = clock.now()
                    metrics = workload.eval_model(
                        workload.eval_batch_size,
                        model,
                        model_state,
                        eval_rng,
                        None,
                        None,
                        global_step,
                    )
                    eval_end = clock.now()
                    train_state["accumulated_eval_time"] += eval_end - eval_start
                    train_state["last_eval_submission_time"] = submission_time
                    reached = workload.has_reached_validation_target(metrics)
                    train_state["validation_goal_reached"] |= reached
                    train_state["test_goal_reached"] |= workload.has_reached_test_target(metrics)
                    row = {
                        **metrics,
                        "accumulated_submission_time": submission_time,
                        "accumulated_eval_time": train_state["accumulated_eval_time"],
                        "accumulated_logging_time": train_state["accumulated_logging_time"],
                        "global_step": global_step,
                        "preemption_count": preemption_count,
                        "score": submission_time,
                        "total_duration": eval_end - global_start,
                    }
                    # Batches drawn, not calls, measure progress: a submission may take many
                    # optimizer steps in one update_params call (lawa_queue does).
                    eval_rows.append({**row, "_reached": reached, "_batches": input_queue.drawn})
                    eval_results.append((global_step, dict(metrics)))
                    log_start = clock.now()
                    if out is not None:
                        _write_rows(out, eval_rows)
                    bar.set_postfix_str(
                        f"step {global_step}, {metric_key} {metrics[metric_key]:.4f}",
                        refresh=False,
                    )
                    train_state["accumulated_logging_time"] += clock.now() - log_start
                    divergence = _diverged(metrics)
                    if divergence:
                        bar.close()
                        return finish(
                            "failed",
                            "diverged",
                            global_step,
                            submission_time,
                            f"{divergence} at step {global_step}",
                        )
                    if train_state["validation_goal_reached"] and train_state["test_goal_reached"]:
                        stop_reason = "target"
                        break
            if train_state["training_complete"]:
                break
            if submission_time >= budget:
                stop_reason = "budget"
                break
            if (
                out is not None
                and checkpoint_every_sec is not None
                and eval_rows
                and eval_rows[-1]["global_step"] == global_step
                and clock.now() - last_checkpoint >= checkpoint_every_sec
            ):
                save_start = clock.now()
                checkpoint.save(
                    out,
                    {
                        "identity": identity,
                        "model": model.state_dict(),
                        "model_state": model_state,
                        "optimizer_state": checkpoint.optimizer_state_to_save(optimizer_state),
                        "train_state": dict(train_state),
                        "eval_rows": eval_rows,
                        "eval_results": eval_results,
                        "global_step": global_step,
                        "preemption_count": preemption_count,
                        "speed_before": speed_before,
                        "total_duration": clock.now() - global_start,
                        "batches_drawn": input_queue.drawn,
                        "rng_states": checkpoint.rng_states(),
                    },
                )
                last_checkpoint = clock.now()
                train_state["accumulated_logging_time"] += last_checkpoint - save_start
            bar.update(round(submission_time, 1) - bar.n)
            step_rngs = prng.split(prng.fold_in(rng, global_step), 4)
            last_step_end = clock.now()
    except SubmissionFailed as exc:
        bar.close()
        return finish(
            "failed",
            "contract" if isinstance(exc, ContractViolation) else "error",
            global_step,
            train_state["accumulated_submission_time"],
            str(exc),
        )
    bar.update(round(train_state["accumulated_submission_time"], 1) - bar.n)
    bar.close()
    return finish("completed", stop_reason, global_step, train_state["accumulated_submission_time"])
