"""Softmax cross-entropy classification scored by accuracy (the Fashion-MNIST workloads)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from optbench import spec
from optbench.workloads.base import TorchWorkload


class ClassificationWorkload(TorchWorkload):
    """Softmax cross-entropy classification scored by accuracy."""

    target_metric_name = "accuracy"
    loss_type = spec.LossType.SOFTMAX_CROSS_ENTROPY

    def _per_example_loss(
        self, labels: torch.Tensor, logits: torch.Tensor, label_smoothing: float
    ) -> torch.Tensor:
        """Cross-entropy per example, with optional label smoothing."""
        return F.cross_entropy(
            logits, labels.long(), reduction="none", label_smoothing=label_smoothing
        )

    def _batch_metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        loss = F.cross_entropy(logits.float(), targets.long(), reduction="sum").item()
        correct = (logits.argmax(dim=-1) == targets).sum().item()
        if not math.isfinite(loss):
            loss = math.nan
        return {"accuracy": float(correct), "loss": float(loss)}
