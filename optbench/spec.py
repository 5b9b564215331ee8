"""The AlgoPerf contract: the types, enums and errors a submission sees, and the Workload API.

Names and semantics follow AlgoPerf's ``spec`` module (PyTorch flavour), so a submission written
for AlgoPerf (``from algoperf import spec``) finds everything it uses here under the same name.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Iterator, Mapping
from typing import Any


class LossType(enum.Enum):
    SOFTMAX_CROSS_ENTROPY = 0
    SIGMOID_CROSS_ENTROPY = 1
    MEAN_SQUARED_ERROR = 2
    CTC_LOSS = 3
    MEAN_ABSOLUTE_ERROR = 4


class ForwardPassMode(enum.Enum):
    TRAIN = 0
    EVAL = 1


class ParameterType(enum.Enum):
    WEIGHT = 0
    BIAS = 1
    CONV_WEIGHT = 2
    BATCH_NORM_SCALE = 3
    BATCH_NORM_BIAS = 4
    LAYER_NORM_SCALE = 5
    LAYER_NORM_BIAS = 6
    EMBEDDING = 7
    ATTENTION_Q = 8
    ATTENTION_K = 9
    ATTENTION_V = 10
    ATTENTION_OUT = 11
    ATTENTION_QKV = 12
    ATTENTION_KV = 13
    ATTENTION_BIAS = 14


class TrainingCompleteError(Exception):
    """Raised by a submission's ``update_params`` to end training early (one final eval follows)."""


class ShapeTuple:
    """A parameter's shape, as AlgoPerf hands it to submissions (``.shape_tuple``)."""

    def __init__(self, shape_tuple: tuple[int, ...]) -> None:
        self.shape_tuple = tuple(shape_tuple)

    def __repr__(self) -> str:
        return f"ShapeTuple({self.shape_tuple})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ShapeTuple) and self.shape_tuple == other.shape_tuple

    def __hash__(self) -> int:
        return hash(self.shape_tuple)


# Type aliases with AlgoPerf's names (used in submissions' annotations).
Shape = tuple[int, ...] | ShapeTuple
ParameterKey = str
ParameterShapeTree = dict[ParameterKey, ShapeTuple]
ParameterTypeTree = dict[ParameterKey, ParameterType]
Tensor = Any
ParameterContainer = Any  # in PyTorch: the nn.Module
ModelAuxiliaryState = Any
RandomState = Any
OptimizerState = Any
Hyperparameters = Any
Steps = int
Timing = int
Seed = int
UpdateReturn = tuple[OptimizerState, ParameterContainer, ModelAuxiliaryState]
InitOptimizerFn = Callable[..., OptimizerState]
UpdateParamsFn = Callable[..., UpdateReturn]
PrepareForEvalFn = Callable[..., UpdateReturn]
DataSelectionFn = Callable[..., dict[str, Tensor]]
GetBatchSizeFn = Callable[[str], int]


class Workload(metaclass=abc.ABCMeta):
    """AlgoPerf's Workload API: model, data, loss, metric, targets and budget of one task.

    Subclasses implement the abstract members; the names and signatures are AlgoPerf's, so a
    submission that calls ``workload.model_fn(...)`` or ``workload.loss_fn(...)`` runs unchanged.
    """

    metrics_logger: Any = None  # AlgoPerf submissions may log through it; optbench has none.

    # --- Targets -----------------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def target_metric_name(self) -> str: ...

    @property
    @abc.abstractmethod
    def validation_target_value(self) -> float: ...

    @property
    @abc.abstractmethod
    def test_target_value(self) -> float: ...

    @property
    def metric_higher_is_better(self) -> bool:
        """Whether larger values of the target metric are better (accuracy) or worse (loss)."""
        return self.target_metric_name in {"accuracy", "mean_average_precision", "ssim", "bleu"}

    def _reached(self, value: float, target: float) -> bool:
        return value >= target if self.metric_higher_is_better else value <= target

    def has_reached_validation_target(self, eval_result: Mapping[str, float]) -> bool:
        """True once ``validation/<metric>`` meets the validation target."""
        return self._reached(
            eval_result[f"validation/{self.target_metric_name}"], self.validation_target_value
        )

    def has_reached_test_target(self, eval_result: Mapping[str, float]) -> bool:
        """True once ``test/<metric>`` meets the test target."""
        return self._reached(eval_result[f"test/{self.target_metric_name}"], self.test_target_value)

    # --- Sizes and budget ---------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def loss_type(self) -> LossType: ...

    @property
    @abc.abstractmethod
    def num_train_examples(self) -> int: ...

    @property
    @abc.abstractmethod
    def num_eval_train_examples(self) -> int: ...

    @property
    @abc.abstractmethod
    def num_validation_examples(self) -> int: ...

    @property
    @abc.abstractmethod
    def num_test_examples(self) -> int: ...

    @property
    @abc.abstractmethod
    def eval_batch_size(self) -> int: ...

    @property
    @abc.abstractmethod
    def train_mean(self) -> Any: ...

    @property
    @abc.abstractmethod
    def train_stddev(self) -> Any: ...

    @property
    @abc.abstractmethod
    def max_allowed_runtime_sec(self) -> float: ...

    @property
    @abc.abstractmethod
    def eval_period_time_sec(self) -> float: ...

    @property
    @abc.abstractmethod
    def step_hint(self) -> int: ...

    # --- Parameters -----------------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def param_shapes(self) -> ParameterShapeTree: ...

    @property
    @abc.abstractmethod
    def model_params_types(self) -> ParameterTypeTree: ...

    @abc.abstractmethod
    def is_output_params(self, param_key: ParameterKey) -> bool: ...

    # --- Model, loss, data, eval ---------------------------------------------------------------
    @abc.abstractmethod
    def init_model_fn(
        self,
        rng: RandomState,
        dropout_rate: float | None = None,
        aux_dropout_rate: float | None = None,
    ) -> tuple[ParameterContainer, ModelAuxiliaryState]: ...

    @abc.abstractmethod
    def model_fn(
        self,
        params: ParameterContainer,
        augmented_and_preprocessed_input_batch: dict[str, Tensor],
        model_state: ModelAuxiliaryState,
        mode: ForwardPassMode,
        rng: RandomState,
        update_batch_norm: bool,
        use_running_average_bn: bool | None = None,
        dropout_rate: float | None = None,
    ) -> tuple[Tensor, ModelAuxiliaryState]: ...

    @abc.abstractmethod
    def loss_fn(
        self,
        label_batch: Tensor,
        logits_batch: Tensor,
        mask_batch: Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> dict[str, Tensor]:
        """Returns ``{'summed', 'n_valid_examples', 'per_example'}``."""

    @abc.abstractmethod
    def _build_input_queue(
        self,
        data_rng: RandomState,
        split: str,
        data_dir: str | None,
        global_batch_size: int,
        **kwargs: Any,
    ) -> Iterator[dict[str, Tensor]]: ...

    @abc.abstractmethod
    def eval_model(
        self,
        global_batch_size: int,
        params: ParameterContainer,
        model_state: ModelAuxiliaryState,
        rng: RandomState,
        data_dir: str | None = None,
        imagenet_v2_data_dir: str | None = None,
        global_step: int = 0,
    ) -> dict[str, float]:
        """Returns ``train/…``, ``validation/…`` and ``test/…`` metrics."""
