"""Loss helpers: AlgoPerf's loss dict (``summed``, ``n_valid_examples``, ``per_example``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


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


def sigmoid_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Unreduced sigmoid cross-entropy of 0/1 ``labels`` smoothed towards 1/2 by
    ``label_smoothing`` (AlgoPerf's criteo1tb; AlgoPerf's ogbg smooths towards 1/128 instead,
    see :mod:`optbench.workloads.ogbg`), computed in float32."""
    targets = labels.float()
    if label_smoothing:
        targets = targets * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return F.binary_cross_entropy_with_logits(logits.float(), targets, reduction="none")
