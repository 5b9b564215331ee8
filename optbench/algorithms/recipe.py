"""``make_submission``: a torch.optim-style optimizer and a schedule as a full AlgoPerf submission.

A baseline is then a recipe: which optimizer, which schedule, which self-tuning defaults, which
search space. The generated ``update_params`` runs one forward/backward pass through the workload's
``model_fn`` and ``loss_fn`` (mean loss over valid examples, optional label smoothing, dropout and
gradient clipping), then one optimizer and one scheduler step.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from optbench import spec
from optbench.algorithms.batch_sizes import batch_size_for
from optbench.algorithms.schedules import Multiplier, warmup_cosine
from optbench.submission import Submission

SEARCH_SPACES = Path(__file__).resolve().parent / "search_spaces"
OptimizerFactory = Callable[[nn.Module, Any, spec.Workload], torch.optim.Optimizer]
ScheduleFactory = Callable[[Any, int], Multiplier]


def resolve_hyperparameters(hyperparameters: Any, defaults: Mapping[str, Any]) -> Any:
    """The defaults overlaid with the trial's hyperparameters (None under self-tuning).

    Keys the search space does not tune keep their default; ``beta1 = 1 - one_minus_beta1``
    is derived when the point gives ``one_minus_beta1``.
    """
    values = dict(defaults)
    if hyperparameters is not None:
        given = (
            hyperparameters._asdict()
            if hasattr(hyperparameters, "_asdict")
            else vars(hyperparameters)
        )
        values.update(given)
    if "one_minus_beta1" in values:
        values["beta1"] = 1.0 - values["one_minus_beta1"]
    return types.SimpleNamespace(**values)


def search_space_file(name: str) -> Path:
    """The AlgoPerf-format search space shipped for baseline ``name``."""
    return SEARCH_SPACES / f"{name}.json"


def make_submission(
    name: str,
    optimizer: OptimizerFactory,
    *,
    defaults: Mapping[str, Any],
    schedule: ScheduleFactory | None = warmup_cosine,
    batch_sizes: Mapping[str, int] | None = None,
    grad_clip_norm: float | None = None,
    closure: bool = False,
    create_graph: bool = False,
    switch_modes: bool = False,
) -> Submission:
    """Build a Submission from an optimizer factory ``optimizer(model, hp, workload)``.

    Args:
      name: the baseline's name (also the stem of its search-space file, if shipped).
      defaults: self-tuning hyperparameters; also fill keys a search-space point leaves out.
      schedule: ``schedule(hp, step_hint) -> multiplier(step)``; None for no LR schedule.
      batch_sizes: per-workload batch sizes overriding :data:`DEFAULT_BATCH_SIZES`.
      grad_clip_norm: clip the global gradient norm (``hp.grad_clip`` overrides it).
      closure: pass a closure that re-evaluates loss and gradients to ``optimizer.step``
        (SAM-style methods).
      create_graph: keep the graph of the gradients (``p.grad`` gets a ``grad_fn``) so that the
        optimizer can take Hessian-vector products (Sophia-H's Hutchinson estimates).
      switch_modes: call ``optimizer.train()`` before updates and ``optimizer.eval()`` in
        ``prepare_for_eval`` (Schedule-Free-style methods that evaluate at another point).
    """
    overrides = dict(batch_sizes or {})

    def get_batch_size(workload_name: str) -> int:
        return batch_size_for(workload_name, overrides)

    def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
        del model_state, rng
        hp = resolve_hyperparameters(hyperparameters, defaults)
        opt = optimizer(model_params, hp, workload)
        state = {"optimizer": opt, "hp": hp, "scheduler": None}
        if schedule is not None:
            state["scheduler"] = torch.optim.lr_scheduler.LambdaLR(
                opt, schedule(hp, workload.step_hint)
            )
        return state

    def _loss(workload, model, model_state, batch, rng, hp):
        logits, new_state = workload.model_fn(
            params=model,
            augmented_and_preprocessed_input_batch=batch,
            model_state=model_state,
            mode=spec.ForwardPassMode.TRAIN,
            rng=rng,
            update_batch_norm=True,
            dropout_rate=getattr(hp, "dropout_rate", None),
        )
        losses = workload.loss_fn(
            label_batch=batch["targets"],
            logits_batch=logits,
            mask_batch=batch.get("weights"),
            label_smoothing=getattr(hp, "label_smoothing", 0.0),
        )
        return losses["summed"] / losses["n_valid_examples"], new_state

    def _backward(model, loss):
        if not create_graph:
            loss.backward()
            return
        # autograd.grad, as torch advises over backward(create_graph=True); the graph the
        # gradients hold is released by zero_grad(set_to_none=True) at the next update.
        params = [p for p in model.parameters() if p.requires_grad]
        grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
        for p, g in zip(params, grads, strict=True):
            p.grad = g

    def update_params(
        workload,
        current_param_container,
        current_params_types,
        model_state,
        hyperparameters,
        batch,
        loss_type,
        optimizer_state,
        eval_results,
        global_step,
        rng,
        train_state=None,
    ):
        del current_params_types, loss_type, eval_results, global_step, train_state
        model, hp, opt = (
            current_param_container,
            optimizer_state["hp"],
            optimizer_state["optimizer"],
        )
        if switch_modes:
            opt.train()
        opt.zero_grad(set_to_none=True)
        loss, new_model_state = _loss(workload, model, model_state, batch, rng, hp)
        _backward(model, loss)
        clip = getattr(hp, "grad_clip", grad_clip_norm)
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)
        if closure:

            def reevaluate():
                opt.zero_grad(set_to_none=True)
                again, _ = _loss(workload, model, model_state, batch, rng, hp)
                _backward(model, again)
                return again

            opt.step(reevaluate)
        else:
            opt.step()
        if optimizer_state["scheduler"] is not None:
            optimizer_state["scheduler"].step()
        return optimizer_state, model, new_model_state

    def data_selection(
        workload,
        input_queue,
        optimizer_state,
        current_param_container,
        model_state,
        hyperparameters,
        global_step,
        rng,
    ):
        return next(input_queue)

    def prepare_for_eval(
        workload,
        current_param_container,
        current_params_types,
        model_state,
        hyperparameters,
        loss_type,
        optimizer_state,
        eval_results,
        global_step,
        rng,
    ):
        if switch_modes:
            optimizer_state["optimizer"].eval()
        return optimizer_state, current_param_container, model_state

    space = search_space_file(name)
    return Submission(
        name=name,
        get_batch_size=get_batch_size,
        init_optimizer_state=init_optimizer_state,
        update_params=update_params,
        data_selection=data_selection,
        prepare_for_eval=prepare_for_eval if switch_modes else None,
        search_space_path=space if space.exists() else None,
        source=f"optbench.algorithms.{name}",
        extras={"defaults": dict(defaults)},
    )
