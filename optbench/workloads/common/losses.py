"""Loss helpers: AlgoPerf's loss dict (``summed``, ``n_valid_examples``, ``per_example``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def loss_dict(per_example: torch.Tensor, n_valid: torch.Tensor) -> dict[str, torch.Tensor]:
    """AlgoPerf's loss dict of unreduced (already masked) losses and their number of valid
    examples: ``summed``, ``n_valid_examples`` and ``per_example``."""
    return {"summed": per_example.sum(), "n_valid_examples": n_valid, "per_example": per_example}


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
    return loss_dict(per_example, n_valid)


def token_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Unreduced softmax cross-entropy per token, shaped like ``labels`` (``logits`` has one more
    dimension, the vocabulary), smoothed by ``label_smoothing`` over the vocabulary and computed
    in float32 (AlgoPerf's ``wmt``)."""
    return F.cross_entropy(
        logits.flatten(0, -2).float(),
        labels.flatten().long(),
        reduction="none",
        label_smoothing=label_smoothing,
    ).view(labels.shape)


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


def ctc_per_utterance(
    label_batch: tuple[torch.Tensor, torch.Tensor],
    logits_batch: tuple[torch.Tensor, torch.Tensor],
    zero_infinity: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The CTC loss of each utterance (blank 0, log-softmax in float32) from AlgoPerf's
    ``(values, paddings)`` pairs of targets and logits, and the target lengths."""
    targets, target_paddings = label_batch
    logits, logit_paddings = logits_batch
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    input_lengths = (1 - logit_paddings).sum(dim=1).long()
    target_lengths = (1 - target_paddings).sum(dim=1).long()
    per_utterance = F.ctc_loss(
        log_probs.transpose(0, 1),
        targets.long(),
        input_lengths,
        target_lengths,
        blank=0,
        reduction="none",
        zero_infinity=zero_infinity,
    )
    return per_utterance, target_lengths
