"""Word error rate of CTC outputs: greedy (best-path) decoding and edit distances."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import torch


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Levenshtein distance between two token (or word) sequences."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def greedy_decode(logits: torch.Tensor, paddings: torch.Tensor) -> list[list[int]]:
    """CTC best-path decoding: argmax per frame, merge repeats, drop blanks (0) and padding."""
    best = logits.argmax(dim=-1).masked_fill(paddings > 0, 0).cpu().numpy()
    out = []
    for row in best:
        keep = np.r_[True, row[1:] != row[:-1]] & (row != 0)
        out.append(row[keep].tolist())
    return out


def word_errors(hypotheses: list[list[int]], references: list[list[int]]) -> tuple[int, int]:
    """Total word edits and reference words (corpus WER = edits / words)."""
    edits = sum(edit_distance(h, r) for h, r in zip(hypotheses, references, strict=True))
    return edits, sum(len(r) for r in references)
