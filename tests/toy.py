"""A toy workload whose metric and eval cost the tests control, for pinning the timing rules."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn

from optbench import spec
from optbench.submission import Submission


class ToyWorkload(spec.Workload):
    """Linear model on random data. ``metric(step)`` gives the eval metric; evals sleep."""

    name = "toy"
    base_name = None
    algoperf_name = "mnist"

    def __init__(
        self,
        metric: Callable[[int], float] = lambda step: step / 100,
        eval_sleep: float = 0.0,
        budget: float = 10.0,
        eval_period: float = 0.0,
        validation_target: float = 0.5,
        test_target: float = 0.5,
    ) -> None:
        self.metric, self.eval_sleep = metric, eval_sleep
        self._budget, self._period = budget, eval_period
        self._val_target, self._test_target = validation_target, test_target
        self.device = torch.device("cpu")
        self.evals: list[int] = []

    target_metric_name = "accuracy"
    validation_target_value = property(lambda self: self._val_target)
    test_target_value = property(lambda self: self._test_target)
    loss_type = spec.LossType.MEAN_SQUARED_ERROR
    num_train_examples = 64
    num_eval_train_examples = 64
    num_validation_examples = 64
    num_test_examples = 64
    eval_batch_size = 64
    train_mean = 0.0
    train_stddev = 1.0
    max_allowed_runtime_sec = property(lambda self: self._budget)
    eval_period_time_sec = property(lambda self: self._period)
    step_hint = 100
    param_shapes = property(lambda self: {"weight": spec.ShapeTuple((1, 4))})
    model_params_types = property(lambda self: {"weight": spec.ParameterType.WEIGHT})

    def is_output_params(self, param_key):
        return True

    def init_model_fn(self, rng, dropout_rate=None, aux_dropout_rate=None):
        return nn.Linear(4, 1, bias=False), None

    def model_fn(
        self,
        params,
        augmented_and_preprocessed_input_batch,
        model_state,
        mode,
        rng,
        update_batch_norm,
        use_running_average_bn=None,
        dropout_rate=None,
    ):
        return params(augmented_and_preprocessed_input_batch["inputs"]), model_state

    def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing=0.0):
        per_example = (logits_batch.squeeze(-1) - label_batch) ** 2
        return {
            "summed": per_example.sum(),
            "n_valid_examples": len(per_example),
            "per_example": per_example,
        }

    def _build_input_queue(self, data_rng, split, data_dir=None, global_batch_size=8, **kw):
        generator = torch.Generator().manual_seed(0)
        while True:
            x = torch.randn(global_batch_size, 4, generator=generator)
            yield {"inputs": x, "targets": x.sum(-1)}

    def eval_model(
        self,
        global_batch_size,
        params,
        model_state,
        rng,
        data_dir=None,
        imagenet_v2_data_dir=None,
        global_step=0,
    ):
        time.sleep(self.eval_sleep)
        self.evals.append(global_step)
        value = self.metric(global_step)
        return {
            f"{split}/{key}": value
            for split in ("train", "validation", "test")
            for key in ("accuracy", "loss")
        }


def toy_submission(
    step_sleep: float = 0.0,
    raise_at: int | None = None,
    prepare_sleep: float | None = None,
    with_train_state: bool = False,
    seen: list | None = None,
) -> Submission:
    """A plain SGD submission whose steps sleep ``step_sleep`` seconds; ``update_params`` declares
    ``train_state`` only ``with_train_state`` (and then appends it to ``seen``)."""

    def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
        return torch.optim.SGD(model_params.parameters(), lr=0.01)

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
    ):  # no train_state: the runner must not pass it
        if raise_at is not None and global_step + 1 >= raise_at:
            raise spec.TrainingCompleteError
        time.sleep(step_sleep)
        optimizer_state.zero_grad()
        logits, _ = workload.model_fn(
            current_param_container, batch, None, spec.ForwardPassMode.TRAIN, None, True
        )
        loss = workload.loss_fn(batch["targets"], logits)
        (loss["summed"] / loss["n_valid_examples"]).backward()
        optimizer_state.step()
        return optimizer_state, current_param_container, None

    def update_params_seeing_train_state(train_state=None, **arguments):
        if seen is not None:
            seen.append(train_state)
        return update_params(**arguments)

    def prepare_for_eval(current_param_container, optimizer_state, model_state, **_):
        time.sleep(prepare_sleep or 0.0)
        return optimizer_state, current_param_container, model_state

    return Submission(
        name="toy_sgd",
        get_batch_size=lambda name: 8,
        init_optimizer_state=init_optimizer_state,
        update_params=update_params_seeing_train_state if with_train_state else update_params,
        data_selection=lambda workload, input_queue, *a, **k: next(input_queue),
        prepare_for_eval=prepare_for_eval if prepare_sleep is not None else None,
    )
