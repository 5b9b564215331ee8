"""TorchWorkload: AlgoPerf's Workload API on top of a workload's splits and model.

A concrete workload supplies its data (``_load_splits``), its model (``_build_model``), its loss
(``_per_example_loss``, or the whole of ``loss_fn``) and its metrics (``_batch_metrics``, or the
whole of ``_eval_split``), and sets ``target_metric_name``, ``loss_type`` and ``eval_batch_size``
as class attributes. This class turns them into ``init_model_fn``, ``model_fn``,
``_build_input_queue``, ``eval_model``, the split sizes, parameter shapes and types, and the
targets and budget of the targets registry (:mod:`optbench.workloads.targets`).

Here a split is an ``(inputs, targets)`` pair of tensors; a
:class:`~optbench.workloads.split_object.SplitObjectWorkload` has split objects instead (graphs,
padded sequences). Both draw their training batches from
:func:`~optbench.workloads.input_queue.batch_indices` and evaluate batch by batch through
:meth:`TorchWorkload._batch`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from optbench import prng, spec
from optbench.errors import UserError
from optbench.workloads.common.losses import masked_loss
from optbench.workloads.input_queue import batch_indices
from optbench.workloads.param_types import parameter_types
from optbench.workloads.targets import (
    BASE_BUDGET_FIELDS,
    SCALED_SIZES,
    SIZES,
    Settings,
    settings_for,
    targets_table,
)

# Besides TorchWorkload, names that callers import from this module (they live in the modules
# imported above, and SplitObjectWorkload and ClassificationWorkload in theirs: see __getattr__).
__all__ = [
    "BASE_BUDGET_FIELDS",
    "SIZES",
    "Settings",
    "TorchWorkload",
    "masked_loss",
    "parameter_types",
    "settings_for",
    "targets_table",
]


def _split_size_property(split: str) -> property:
    return property(lambda self: self._split_size(split), doc=f"Examples in the {split} split.")


def _setting_property(field: str) -> property:
    return property(lambda self: getattr(self._settings, field), doc=f"The committed {field}.")


class TorchWorkload(spec.Workload):
    """Base of optbench's PyTorch workloads (see the module docstring)."""

    sizes: ClassVar[tuple[str, ...]] = SCALED_SIZES  # AlgoPerf's own workloads: ("full",)

    name: ClassVar[str]
    algoperf_name: ClassVar[str]  # the AlgoPerf workload this one mirrors (for get_batch_size)
    base_name: ClassVar[str | None] = None  # for a variant: the workload it varies
    description: ClassVar[str] = ""
    data_source: ClassVar[str] = ""
    synthetic_data: ClassVar[bool] = False
    output_layer: ClassVar[str] = ""  # name prefix of the output layer's parameters
    # Examples per eval batch. It changes only the cost of an evaluation, never its metrics;
    # workloads set the size that evaluated fastest on two CPU cores (benchmarks/eval_cost.py
    # --batch-sizes).
    eval_batch_size: ClassVar[int] = 1024
    default_dropout_rate: ClassVar[float] = 0.0  # when init_model_fn is given none
    # More facts for properties(): name in meta_data.json -> attribute of the workload.
    extra_properties: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        size: str = "mini",
        *,
        data_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
        allow_download: bool = False,
        device: str | torch.device = "cpu",
        settings: Settings | None = None,
    ) -> None:
        if size not in self.sizes:
            sizes = ", ".join(self.sizes)
            raise UserError(f"workload {self.name!r} has no size {size!r}; choose one of {sizes}")
        self.size = size
        self.device = torch.device(device)
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._allow_download = allow_download
        self._settings = settings or settings_for(self.name, size)
        self._splits: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None
        self.data_provenance: dict[str, Any] = {}
        self._model: nn.Module | None = None
        self._dropout_rate = 0.0

    # --- what a concrete workload supplies ----------------------------------------------------
    def _load_splits(self) -> dict[str, Any]:
        """``{'train' | 'validation' | 'test': (inputs, targets)}`` as CPU tensors."""
        raise NotImplementedError

    def _build_model(self) -> nn.Module:
        raise NotImplementedError

    def _batch_metrics(self, logits: Any, targets: torch.Tensor) -> dict[str, float]:
        """Metrics *summed* over a batch; ``eval_model`` divides by the number of examples."""
        raise NotImplementedError

    # --- data ---------------------------------------------------------------------------------
    def load_data(self) -> None:
        """Load (or prepare and cache) the data; the runner calls this before the clock starts."""
        if self._splits is None:
            self._splits = {k: self._to_device(v) for k, v in self._load_splits().items()}

    def _to_device(self, split: Any) -> Any:
        x, y = split
        return x.to(self.device), y.to(self.device)

    def _split(self, split: str) -> Any:
        """The data of ``split``; ``eval_train`` is the first ``num_eval_train_examples`` of
        train."""
        self.load_data()
        assert self._splits is not None
        if split == "eval_train":
            x, y = self._splits["train"]
            return x[: self.num_eval_train_examples], y[: self.num_eval_train_examples]
        return self._splits[split]

    def _split_size(self, split: str) -> int:
        return len(self._split(split)[0])

    def _batch(self, split: str, idx: torch.Tensor) -> Any:
        """The examples ``idx`` (a CPU int64 tensor) of ``split`` as one batch."""
        x, y = self._split(split)
        idx = idx.to(self.device)
        return {"inputs": x[idx], "targets": y[idx]}

    def _build_input_queue(
        self,
        data_rng: spec.RandomState,
        split: str,
        data_dir: str | None = None,
        global_batch_size: int = 128,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """AlgoPerf's input-pipeline entry point: :meth:`_queue`'s batches."""
        return self._queue(data_rng, split, global_batch_size)

    def _queue(
        self, data_rng: spec.RandomState, split: str, global_batch_size: int
    ) -> Iterator[Any]:
        """Shuffled batches of ``split`` forever, reshuffled each epoch (partial batch dropped);
        training batches pass through :meth:`_augment_train`."""
        indices = batch_indices(data_rng, self._split_size(split), global_batch_size, split)
        batches = (self._batch(split, idx) for idx in indices)
        yield from self._augment_train(batches, data_rng) if split == "train" else batches

    def _augment_train(self, batches: Iterator[Any], data_rng: spec.RandomState) -> Iterator[Any]:
        """The training batches as the model sees them (a workload may transform them, with
        randomness drawn from ``data_rng``): unchanged."""
        return batches

    num_train_examples = _split_size_property("train")
    num_validation_examples = _split_size_property("validation")
    num_test_examples = _split_size_property("test")

    @property
    def num_eval_train_examples(self) -> int:
        return min(self.num_validation_examples, self.num_train_examples)

    @property
    def train_mean(self) -> Any:
        """Mean used to standardise inputs (``_mean`` set while loading; 0 if none)."""
        self.load_data()
        return getattr(self, "_mean", 0.0)

    @property
    def train_stddev(self) -> Any:
        """Standard deviation used to standardise inputs (``_std``; 1 if none)."""
        self.load_data()
        return getattr(self, "_std", 1.0)

    # --- targets and budget (the targets registry's settings) ---------------------------------
    validation_target_value = _setting_property("validation_target_value")
    test_target_value = _setting_property("test_target_value")
    max_allowed_runtime_sec = _setting_property("max_allowed_runtime_sec")
    eval_period_time_sec = _setting_property("eval_period_time_sec")
    step_hint = _setting_property("step_hint")

    # --- loss ---------------------------------------------------------------------------------
    def loss_fn(
        self,
        label_batch: Any,
        logits_batch: Any,
        mask_batch: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> dict[str, torch.Tensor]:
        """AlgoPerf's loss dict of :meth:`_per_example_loss`: masked entries zeroed,
        ``n_valid_examples`` the number of unmasked entries."""
        per_example = self._per_example_loss(label_batch, logits_batch, label_smoothing)
        return masked_loss(per_example, mask_batch)

    def _per_example_loss(
        self, labels: torch.Tensor, logits: torch.Tensor, label_smoothing: float
    ) -> torch.Tensor:
        """The unreduced loss of a batch (per example, or per token or task)."""
        raise NotImplementedError

    def synthetic_batch(self, batch_size: int, seed: int = 0) -> dict[str, Any]:
        """A training batch of random inputs and targets with the shapes and dtypes of real ones,
        on this workload's device: what ``benchmarks/full_speed.py`` times steps on where the
        data is not at hand. Only the full-size workloads define it."""
        raise NotImplementedError(f"{self.name} has no synthetic batches")

    # --- model --------------------------------------------------------------------------------
    def init_model_fn(
        self,
        rng: spec.RandomState,
        dropout_rate: float | None = None,
        aux_dropout_rate: float | None = None,
    ) -> tuple[nn.Module, None]:
        """Build the model from ``rng`` (deterministic per key); returns ``(model, None)``. The
        dropout rate is ``dropout_rate``, else the workload's ``default_dropout_rate``."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(prng.to_seed(rng))
            model = self._build_model()
        self._dropout_rate = float(
            self.default_dropout_rate if dropout_rate is None else dropout_rate
        )
        self._model = model.to(self.device)
        return self._model, None

    def _model_or_fail(self) -> nn.Module:
        if self._model is None:
            raise RuntimeError("call init_model_fn before asking for parameter shapes or types")
        return self._model

    @property
    def param_shapes(self) -> dict[str, spec.ShapeTuple]:
        return {k: spec.ShapeTuple(p.shape) for k, p in self._model_or_fail().named_parameters()}

    @property
    def model_params_types(self) -> dict[str, spec.ParameterType]:
        return parameter_types(self._model_or_fail())

    def is_output_params(self, param_key: str) -> bool:
        return bool(self.output_layer) and param_key.startswith(self.output_layer + ".")

    def _set_mode(
        self,
        model: nn.Module,
        mode: spec.ForwardPassMode,
        update_batch_norm: bool,
        dropout_rate: float | None,
    ) -> bool:
        """Put ``model`` in train or eval mode, freeze BatchNorm statistics unless
        ``update_batch_norm``, and set the dropout rate (``dropout_rate`` as in AlgoPerf v0.6, else
        the rate given at init as in v0.5). Returns whether the pass is a training pass.

        Runs inside every timed step, so the dropout modules are only visited when the rate
        changes."""
        training = mode == spec.ForwardPassMode.TRAIN
        model.train(training)
        if training and not update_batch_norm:
            for module in model.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        rate = self._dropout_rate if dropout_rate is None else float(dropout_rate)
        if getattr(model, "_optbench_dropout_rate", None) != rate:
            for module in model.modules():
                if isinstance(module, nn.Dropout):
                    module.p = rate
            model._optbench_dropout_rate = rate
        return training

    def model_fn(
        self,
        params: nn.Module,
        augmented_and_preprocessed_input_batch: Mapping[str, torch.Tensor],
        model_state: Any,
        mode: spec.ForwardPassMode,
        rng: spec.RandomState,
        update_batch_norm: bool,
        use_running_average_bn: bool | None = None,
        dropout_rate: float | None = None,
    ) -> tuple[torch.Tensor, Any]:
        """Forward pass; ``dropout_rate`` (AlgoPerf v0.6) overrides the rate set at init (v0.5)."""
        model = params
        training = self._set_mode(model, mode, update_batch_norm, dropout_rate)
        context = contextlib.nullcontext() if training else torch.no_grad()
        with context:
            logits = self._forward(model, augmented_and_preprocessed_input_batch)
        return logits, model_state

    def _forward(self, model: nn.Module, batch: Mapping[str, Any]) -> torch.Tensor:
        """The model applied to a batch (its ``inputs``, unless a workload needs more of it)."""
        return model(batch["inputs"])

    # --- evaluation ---------------------------------------------------------------------------
    def eval_model(
        self,
        global_batch_size: int,
        params: nn.Module,
        model_state: Any,
        rng: spec.RandomState,
        data_dir: str | None = None,
        imagenet_v2_data_dir: str | None = None,
        global_step: int = 0,
    ) -> dict[str, float]:
        """Loss and metrics on eval-train (a fixed train subset), validation and test, in batches
        of ``global_batch_size`` examples (the runner passes :attr:`eval_batch_size`). Metrics are
        sums over examples, so the batch size changes only the cost (and float rounding)."""
        results: dict[str, float] = {}
        for split, prefix in (
            ("eval_train", "train"),
            ("validation", "validation"),
            ("test", "test"),
        ):
            metrics, n = self._eval_split(split, params, model_state, rng, global_batch_size)
            results.update({f"{prefix}/{k}": v for k, v in metrics.items()})
            if prefix != "train":
                results[f"{prefix}/num_examples"] = n
        return results

    def _eval_logits(
        self, params: nn.Module, batch: Mapping[str, Any], model_state: Any, rng: Any
    ) -> Any:
        return self.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL, rng, False)[0]

    def _eval_order(self, split: str) -> torch.Tensor:
        """The order in which an eval walks the split's examples (metrics are sums, so any order
        gives the same values): index order."""
        return torch.arange(self._split_size(split))

    def _eval_batches(self, split: str, batch_size: int) -> Iterator[Any]:
        """The split's examples in :meth:`_eval_order`, ``batch_size`` at a time."""
        order = self._eval_order(split)
        for start in range(0, len(order), batch_size):
            yield self._batch(split, order[start : start + batch_size])

    def _eval_concatenated(
        self,
        split: str,
        params: nn.Module,
        model_state: Any,
        rng: Any,
        batch_size: int,
        *fields: str,
    ) -> tuple[torch.Tensor, ...]:
        """The split's logits (float32), then each of its batches' ``fields``, concatenated over
        its eval batches: for metrics that are not sums over batches (mean average precision)."""
        logits: list[torch.Tensor] = []
        columns: dict[str, list[torch.Tensor]] = {field: [] for field in fields}
        for batch in self._eval_batches(split, batch_size):
            logits.append(self._eval_logits(params, batch, model_state, rng).float())
            for field in fields:
                columns[field].append(batch[field])
        return torch.cat(logits), *(torch.cat(columns[field]) for field in fields)

    def _eval_split(
        self, split: str, params: nn.Module, model_state: Any, rng: Any, batch_size: int
    ) -> tuple[dict[str, float], int]:
        """Metrics (unprefixed) on one split and its number of examples: the per-batch sums of
        :meth:`_batch_metrics` over the split, divided by its size."""
        sums: dict[str, float] = {}
        for batch in self._eval_batches(split, batch_size):
            logits = self._eval_logits(params, batch, model_state, rng)
            for k, v in self._batch_metrics(logits, batch["targets"]).items():
                sums[k] = sums.get(k, 0.0) + v
        n = self._split_size(split)
        return {k: v / n for k, v in sums.items()}, n

    # --- description --------------------------------------------------------------------------
    def properties(self) -> dict[str, Any]:
        """The facts written to a trial's ``meta_data.json`` and shown by ``optbench list``."""
        return {
            "name": self.name,
            "size": self.size,
            "mirrors": self.algoperf_name,
            "base_workload": self.base_name,
            "description": self.description,
            "data_source": self.data_source,
            "synthetic_data": self.synthetic_data,
            "target_metric_name": self.target_metric_name,
            "metric_higher_is_better": self.metric_higher_is_better,
            "validation_target_value": self.validation_target_value,
            "test_target_value": self.test_target_value,
            "max_allowed_runtime_sec": self.max_allowed_runtime_sec,
            "eval_period_time_sec": self.eval_period_time_sec,
            "step_hint": self.step_hint,
            "targets_source": self._settings.source,
            "min_steps_to_target": self._settings.min_steps_to_target,
            "train_gap": self._settings.train_gap,
            "calibration_gflops": self._settings.calibration_gflops,
            **{key: getattr(self, attribute) for key, attribute in self.extra_properties.items()},
        }


def __getattr__(name: str) -> Any:
    """The workload kinds built on this class, for callers that import them from here (they
    live in their own modules, which import this one)."""
    if name == "SplitObjectWorkload":
        from optbench.workloads.split_object import SplitObjectWorkload

        return SplitObjectWorkload
    if name == "ClassificationWorkload":
        from optbench.workloads.common.classification import ClassificationWorkload

        return ClassificationWorkload
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
