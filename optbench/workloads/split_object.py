"""Workloads whose splits are objects (graphs, padded sequences) rather than tensor pairs."""

from __future__ import annotations

from typing import Any

import torch

from optbench.workloads.base import TorchWorkload


class SplitObjectWorkload(TorchWorkload):
    """A workload whose ``_load_splits`` returns, per split, an object with ``len()`` and
    ``batch(indices)`` (indices a numpy int64 array) that assembles batches on the workload's
    device. Batches are drawn, and evaluated, as for any :class:`TorchWorkload`; the eval-train
    split is the first ``num_eval_train_examples`` of train."""

    def _to_device(self, split: Any) -> Any:
        return split  # a split object places its batches itself

    def _split(self, split: str) -> Any:
        self.load_data()
        assert self._splits is not None
        return self._splits["train" if split == "eval_train" else split]

    def _split_size(self, split: str) -> int:
        if split == "eval_train":
            return self.num_eval_train_examples
        return len(self._split(split))

    def _batch(self, split: str, idx: torch.Tensor) -> Any:
        return self._split(split).batch(idx.numpy())
