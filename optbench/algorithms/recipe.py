"""``make_submission``: a torch.optim-style optimizer and a schedule as a full AlgoPerf submission.

A baseline is then a recipe: which optimizer, which schedule, which self-tuning defaults, which
search space. The generated ``update_params`` runs one forward/backward pass through the workload's
``model_fn`` and ``loss_fn`` (mean loss over valid examples, optional label smoothing, dropout and
gradient clipping), then one optimizer and one scheduler step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from optbench import spec
from optbench.algorithms import schedules
from optbench.algorithms.batch_sizes import batch_size_for
from optbench.algorithms.hyperparameters import resolve_hyperparameters
from optbench.submission_api import Submission

SEARCH_SPACES = Path(__file__).resolve().parent / "search_spaces"
OptimizerFactory = Callable[[nn.Module, Any, spec.Workload], torch.optim.Optimizer]


def search_space_file(name: str) -> Path:
    """The AlgoPerf-format search space shipped for baseline ``name``."""
    return SEARCH_SPACES / f"{name}.json"


@dataclass(frozen=True)
class Recipe:
    """AlgoPerf's submission functions for one optimizer and schedule (the arguments of
    :func:`make_submission`); its methods keep AlgoPerf's signatures."""

    optimizer: OptimizerFactory
    defaults: Mapping[str, Any]
    schedule: schedules.ScheduleFactory | None
    batch_sizes: Mapping[str, int]
    grad_clip_norm: float | None
    closure: bool
    create_graph: bool
    switch_modes: bool

    def get_batch_size(self, workload_name: str) -> int:
        return batch_size_for(workload_name, dict(self.batch_sizes))

    def init_optimizer_state(self, workload, model_params, model_state, hyperparameters, rng):
        del model_state, rng
        hp = resolve_hyperparameters(hyperparameters, self.defaults)
        opt = self.optimizer(model_params, hp, workload)
        scheduler = None
        if self.schedule is not None:
            multiplier = self.schedule(hp, workload.step_hint)
            scheduler = torch.optim.lr_scheduler.LambdaLR(opt, multiplier)
        return {"optimizer": opt, "hp": hp, "scheduler": scheduler}

    def update_params(
        self,
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
        del current_params_types, hyperparameters, loss_type, eval_results, global_step
        model, hp, opt = (
            current_param_container,
            optimizer_state["hp"],
            optimizer_state["optimizer"],
        )
        if self.switch_modes:
            opt.train()

        def gradients():
            return self._gradients(opt, workload, model, model_state, batch, rng, hp)

        _, new_model_state = gradients()
        clip = getattr(hp, "grad_clip", self.grad_clip_norm)
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)
        if self.closure:  # the optimizer re-evaluates loss and gradients where it needs them
            opt.step(lambda: gradients()[0])
        else:
            opt.step()
        if optimizer_state["scheduler"] is not None:
            optimizer_state["scheduler"].step()
        return optimizer_state, model, new_model_state

    def data_selection(
        self,
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
        self,
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
        if self.switch_modes:
            optimizer_state["optimizer"].eval()
        return optimizer_state, current_param_container, model_state

    def _gradients(self, opt, workload, model, model_state, batch, rng, hp):
        """Zero the gradients, then the mean training loss on ``batch`` and its gradients."""
        opt.zero_grad(set_to_none=True)
        loss, new_model_state = self._loss(workload, model, model_state, batch, rng, hp)
        self._backward(model, loss)
        return loss, new_model_state

    @staticmethod
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
        summed, count = losses["summed"], losses["n_valid_examples"]
        if torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
            # As AlgoPerf's reference submissions: the global batch's mean loss, however the
            # valid examples (tokens, graphs) fall between the ranks.
            from torch.distributed import nn as distributed_nn

            count = torch.as_tensor(count, dtype=summed.dtype, device=summed.device)
            summed, count = distributed_nn.all_reduce(summed), distributed_nn.all_reduce(count)
        return summed / count, new_state

    def _backward(self, model, loss):
        if not self.create_graph:
            loss.backward()
            return
        # autograd.grad, as torch advises over backward(create_graph=True); the graph the
        # gradients hold is released by zero_grad(set_to_none=True) at the next update.
        params = [p for p in model.parameters() if p.requires_grad]
        grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
        for p, g in zip(params, grads, strict=True):
            p.grad = g


def make_submission(
    name: str,
    optimizer: OptimizerFactory,
    *,
    defaults: Mapping[str, Any],
    schedule: schedules.ScheduleFactory | str | None = schedules.warmup_cosine,
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
      schedule: ``schedule(hp, step_hint) -> multiplier(step)``, or the name of one in
        :data:`optbench.algorithms.schedules.SCHEDULES`; None for no LR schedule.
      batch_sizes: per-workload batch sizes overriding :data:`DEFAULT_BATCH_SIZES`.
      grad_clip_norm: clip the global gradient norm (``hp.grad_clip`` overrides it).
      closure: pass a closure that re-evaluates loss and gradients to ``optimizer.step``
        (SAM-style methods).
      create_graph: keep the graph of the gradients (``p.grad`` gets a ``grad_fn``) so that the
        optimizer can take Hessian-vector products (Sophia-H's Hutchinson estimates).
      switch_modes: call ``optimizer.train()`` before updates and ``optimizer.eval()`` in
        ``prepare_for_eval`` (Schedule-Free-style methods that evaluate at another point).
    """
    recipe = Recipe(
        optimizer=optimizer,
        defaults=dict(defaults),
        schedule=schedules.named(schedule) if isinstance(schedule, str) else schedule,
        batch_sizes=dict(batch_sizes or {}),
        grad_clip_norm=grad_clip_norm,
        closure=closure,
        create_graph=create_graph,
        switch_modes=switch_modes,
    )
    space = search_space_file(name)
    return Submission.of(
        recipe,
        name,
        prepare_for_eval=recipe.prepare_for_eval if switch_modes else None,
        search_space_path=space if space.exists() else None,
        source=f"optbench.algorithms.{name}",
        extras={"defaults": dict(defaults)},
    )
