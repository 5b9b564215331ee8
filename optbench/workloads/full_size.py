"""What AlgoPerf's own workloads at their own size share (``--size full``).

Each has the one size ``full``; a test-only ``test_width`` (never for results, recorded in
``meta_data.json``) that shrinks its network so that CI runs a step on a CPU; splits too large
to hold on the device, so batches are read, assembled and moved one at a time; and AlgoPerf's
eval-train size: the validation size rounded up to whole eval batches, at most the training set.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from optbench.workloads.split_object import SplitObjectWorkload

FULL = "full"


class FullSizeWorkload(SplitObjectWorkload):
    """A workload at AlgoPerf's own size (see the module docstring): its splits are objects it
    reads batches from (:class:`SplitObjectWorkload`)."""

    sizes: ClassVar[tuple[str, ...]] = (FULL,)
    extra_properties: ClassVar[dict[str, str]] = {"test_width": "test_width"}
    # The eval batch AlgoPerf's eval-train size is rounded to (None: ``eval_batch_size``).
    algoperf_eval_batch_size: ClassVar[int | None] = None

    def __init__(self, size: str = FULL, *, test_width: int | None = None, **kwargs: Any) -> None:
        super().__init__(size, **kwargs)  # a one-line error for any size but full
        self.test_width = test_width

    @property
    def num_eval_train_examples(self) -> int:
        """AlgoPerf's: the validation size rounded up to whole eval batches (at most train)."""
        batch = self.algoperf_eval_batch_size or self.eval_batch_size
        rounded = math.ceil(self.num_validation_examples / batch) * batch
        return min(rounded, self.num_train_examples)
