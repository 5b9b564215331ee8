"""PyTorch workloads: the shared machinery behind every optbench workload.

A concrete workload supplies its data (``_load_splits``), its model (``_build_model``) and its
metrics; this base class turns them into AlgoPerf's Workload API: ``init_model_fn``, ``model_fn``,
``loss_fn``, ``_build_input_queue``, ``eval_model``, parameter shapes and types, targets and budget.
Targets and budgets are read from ``targets/<name>.json`` (written by the target-setting
procedure).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from optbench import prng, spec
from optbench.errors import UserError
from optbench.workloads.input_queue import batch_indices
from optbench.workloads.targets import (  # re-exported: callers import them from here
    BASE_BUDGET_FIELDS,
    Settings,
    settings_for,
    targets_table,
)

SIZES = ("smoke", "mini")

__all__ = [
    "BASE_BUDGET_FIELDS",
    "SIZES",
    "ClassificationWorkload",
    "Settings",
    "SplitObjectWorkload",
    "TorchWorkload",
    "masked_loss",
    "parameter_types",
    "settings_for",
    "targets_table",
]


def masked_loss(
    per_example: torch.Tensor, mask_batch: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """AlgoPerf's loss dict from unreduced losses: masked entries zeroed, ``n_valid_examples`` =
    the number of unmasked entries (all of them without a mask)."""
    if mask_batch is not None:
        mask = mask_batch.reshape(per_example.shape)
        per_example = per_example * mask
        n_valid = mask.sum()
    else:
        n_valid = torch.as_tensor(per_example.numel(), device=per_example.device)
    return {"summed": per_example.sum(), "n_valid_examples": n_valid, "per_example": per_example}


_NORM_TYPES = {
    nn.BatchNorm1d: (spec.ParameterType.BATCH_NORM_SCALE, spec.ParameterType.BATCH_NORM_BIAS),
    nn.BatchNorm2d: (spec.ParameterType.BATCH_NORM_SCALE, spec.ParameterType.BATCH_NORM_BIAS),
    nn.LayerNorm: (spec.ParameterType.LAYER_NORM_SCALE, spec.ParameterType.LAYER_NORM_BIAS),
    nn.GroupNorm: (spec.ParameterType.LAYER_NORM_SCALE, spec.ParameterType.LAYER_NORM_BIAS),
}


def parameter_types(model: nn.Module) -> dict[str, spec.ParameterType]:
    """AlgoPerf parameter types, read from the module each parameter belongs to."""
    types: dict[str, spec.ParameterType] = {}
    for module_name, module in model.named_modules():
        for param_name, _ in module.named_parameters(recurse=False):
            key = f"{module_name}.{param_name}" if module_name else param_name
            is_bias = param_name.endswith("bias")
            if type(module) in _NORM_TYPES:
                scale, bias = _NORM_TYPES[type(module)]
                types[key] = bias if is_bias else scale
            elif isinstance(module, nn.Embedding):
                types[key] = spec.ParameterType.EMBEDDING
            elif isinstance(module, nn.MultiheadAttention):
                types[key] = (
                    spec.ParameterType.ATTENTION_BIAS
                    if is_bias
                    else spec.ParameterType.ATTENTION_QKV
                )
            elif isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d) and not is_bias:
                types[key] = spec.ParameterType.CONV_WEIGHT
            else:
                types[key] = spec.ParameterType.BIAS if is_bias else spec.ParameterType.WEIGHT
    return types


class TorchWorkload(spec.Workload):
    """Base of optbench's PyTorch workloads (see the module docstring)."""

    name: ClassVar[str]
    algoperf_name: ClassVar[str]  # the AlgoPerf workload this one mirrors (for get_batch_size)
    base_name: ClassVar[str | None] = None  # for a variant: the workload it varies
    description: ClassVar[str] = ""
    data_source: ClassVar[str] = ""
    synthetic_data: ClassVar[bool] = False
    output_layer: ClassVar[str] = ""  # name prefix of the output layer's parameters

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
        if size not in SIZES:
            raise UserError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
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
    def _load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``{'train' | 'validation' | 'test': (inputs, targets)}`` as CPU tensors."""
        raise NotImplementedError

    def _build_model(self) -> nn.Module:
        raise NotImplementedError

    def _batch_metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """Metrics *summed* over a batch; ``eval_model`` divides by the number of examples."""
        raise NotImplementedError

    # --- data ---------------------------------------------------------------------------------
    def load_data(self) -> None:
        """Load (or prepare and cache) the data; the runner calls this before the clock starts."""
        if self._splits is None:
            splits = self._load_splits()
            self._splits = {
                k: (x.to(self.device), y.to(self.device)) for k, (x, y) in splits.items()
            }

    def _split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        self.load_data()
        assert self._splits is not None
        if split == "eval_train":
            x, y = self._splits["train"]
            return x[: self.num_eval_train_examples], y[: self.num_eval_train_examples]
        return self._splits[split]

    def _build_input_queue(
        self,
        data_rng: spec.RandomState,
        split: str,
        data_dir: str | None = None,
        global_batch_size: int = 128,
        **kwargs: Any,
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Shuffled batches of ``split`` forever, reshuffled each epoch (partial batch dropped)."""
        x, y = self._split(split)
        for idx in batch_indices(data_rng, len(x), global_batch_size, split):
            idx = idx.to(self.device)
            yield {"inputs": x[idx], "targets": y[idx]}

    @property
    def num_train_examples(self) -> int:
        return len(self._split("train")[0])

    @property
    def num_validation_examples(self) -> int:
        return len(self._split("validation")[0])

    @property
    def num_test_examples(self) -> int:
        return len(self._split("test")[0])

    @property
    def num_eval_train_examples(self) -> int:
        return min(self.num_validation_examples, len(self._split("train")[0]))

    @property
    def eval_batch_size(self) -> int:
        """Examples per eval batch. It changes only the cost of an evaluation, never its metrics;
        workloads override it with the fastest size that ``benchmarks/eval_cost.py
        --batch-sizes`` measured on two CPU cores (benchmarks/RESULTS.md)."""
        return 1024

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

    # --- targets and budget -------------------------------------------------------------------
    @property
    def validation_target_value(self) -> float:
        return self._settings.validation_target_value

    @property
    def test_target_value(self) -> float:
        return self._settings.test_target_value

    @property
    def max_allowed_runtime_sec(self) -> float:
        return self._settings.max_allowed_runtime_sec

    @property
    def eval_period_time_sec(self) -> float:
        return self._settings.eval_period_time_sec

    @property
    def step_hint(self) -> int:
        return self._settings.step_hint

    # --- model --------------------------------------------------------------------------------
    def init_model_fn(
        self,
        rng: spec.RandomState,
        dropout_rate: float | None = None,
        aux_dropout_rate: float | None = None,
    ) -> tuple[nn.Module, None]:
        """Build the model from ``rng`` (deterministic per key); returns ``(model, None)``."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(prng.to_seed(rng))
            model = self._build_model()
        self._dropout_rate = float(dropout_rate or 0.0)
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

    def _eval_split(
        self, split: str, params: nn.Module, model_state: Any, rng: Any, batch_size: int
    ) -> tuple[dict[str, float], int]:
        """Metrics (unprefixed) on one split and its number of examples: means of the per-batch
        sums of :meth:`_batch_metrics`."""
        x, y = self._split(split)
        sums: dict[str, float] = {}
        for start in range(0, len(x), batch_size):
            batch = {"inputs": x[start : start + batch_size]}
            logits = self._eval_logits(params, batch, model_state, rng)
            targets = y[start : start + batch_size]
            for k, v in self._batch_metrics(logits, targets).items():
                sums[k] = sums.get(k, 0.0) + v
        return {k: v / len(x) for k, v in sums.items()}, len(x)

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
        }


class ClassificationWorkload(TorchWorkload):
    """Softmax cross-entropy classification scored by accuracy."""

    @property
    def target_metric_name(self) -> str:
        return "accuracy"

    @property
    def loss_type(self) -> spec.LossType:
        return spec.LossType.SOFTMAX_CROSS_ENTROPY

    def loss_fn(
        self,
        label_batch: torch.Tensor,
        logits_batch: torch.Tensor,
        mask_batch: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> dict[str, torch.Tensor]:
        """Cross-entropy with optional label smoothing and mask (AlgoPerf's return dict)."""
        per_example = F.cross_entropy(
            logits_batch, label_batch.long(), reduction="none", label_smoothing=label_smoothing
        )
        return masked_loss(per_example, mask_batch)

    def _batch_metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        loss = F.cross_entropy(logits.float(), targets.long(), reduction="sum").item()
        correct = (logits.argmax(dim=-1) == targets).sum().item()
        if not math.isfinite(loss):
            loss = math.nan
        return {"accuracy": float(correct), "loss": float(loss)}


class SplitObjectWorkload(TorchWorkload):
    """A workload whose splits are objects with ``len()`` and ``batch(indices)`` (graphs, padded
    sequences) instead of ``(inputs, targets)`` tensors; ``load_data`` fills ``self._splits``.
    The eval-train split is the first ``num_eval_train_examples`` of train."""

    def _split(self, split: str) -> Any:
        self.load_data()
        assert self._splits is not None
        return self._splits["train" if split == "eval_train" else split]

    def _split_size(self, split: str) -> int:
        if split == "eval_train":
            return self.num_eval_train_examples
        return len(self._split(split))

    @property
    def num_train_examples(self) -> int:
        return len(self._split("train"))

    @property
    def num_validation_examples(self) -> int:
        return len(self._split("validation"))

    @property
    def num_test_examples(self) -> int:
        return len(self._split("test"))

    @property
    def num_eval_train_examples(self) -> int:
        return min(self.num_validation_examples, self.num_train_examples)

    def _build_input_queue(
        self,
        data_rng: spec.RandomState,
        split: str,
        data_dir: str | None = None,
        global_batch_size: int = 128,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """``split.batch(indices)`` of shuffled batches forever, reshuffled each epoch (the last
        partial batch dropped); indices are numpy int64 arrays."""
        data, n = self._split(split), self._split_size(split)
        for idx in batch_indices(data_rng, n, global_batch_size, split):
            yield data.batch(idx.numpy())

    def _eval_order(self, split: str) -> np.ndarray:
        """The order in which an eval walks the split's examples (metrics are sums, so any order
        gives the same values): index order."""
        return np.arange(self._split_size(split))

    def _eval_batches(self, split: str, batch_size: int) -> Iterator[Any]:
        """The split's examples in :meth:`_eval_order`, ``batch_size`` at a time."""
        data, order = self._split(split), self._eval_order(split)
        for start in range(0, len(order), batch_size):
            yield data.batch(order[start : start + batch_size])
