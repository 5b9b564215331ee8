"""What AlgoPerf's own workloads at their own size share (``--size full``).

Each has the one size ``full``; a test-only ``test_width`` (never for results, recorded in
``meta_data.json``) that shrinks its network so that CI runs a step on a CPU; splits too large
to hold on the device, so batches are read, assembled and moved one at a time; and AlgoPerf's
eval-train size: the validation size rounded up to whole eval batches, at most the training set.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from optbench.workloads.base import TorchWorkload

FULL = "full"


class FullSizeWorkload(TorchWorkload):
    """A workload at AlgoPerf's own size (see the module docstring)."""

    sizes: ClassVar[tuple[str, ...]] = (FULL,)
    extra_properties: ClassVar[dict[str, str]] = {"test_width": "test_width"}
    # The eval batch AlgoPerf's eval-train size is rounded to (None: ``eval_batch_size``).
    algoperf_eval_batch_size: ClassVar[int | None] = None

    def __init__(self, size: str = FULL, *, test_width: int | None = None, **kwargs: Any) -> None:
        super().__init__(size, **kwargs)  # a one-line error for any size but full
        self.test_width = test_width

    def _to_device(self, split: Any) -> Any:
        return split  # batches are assembled and moved one at a time

    def _split(self, split: str) -> Any:
        """The loaded data of ``split``; eval-train reads the training split's."""
        self.load_data()
        assert self._splits is not None
        return self._splits["train" if split == "eval_train" else split]

    def _split_size(self, split: str) -> int:
        if split == "eval_train":
            return self.num_eval_train_examples
        return len(self._split(split))

    @property
    def num_eval_train_examples(self) -> int:
        """AlgoPerf's: the validation size rounded up to whole eval batches (at most train)."""
        batch = self.algoperf_eval_batch_size or self.eval_batch_size
        rounded = math.ceil(self.num_validation_examples / batch) * batch
        return min(rounded, self.num_train_examples)
