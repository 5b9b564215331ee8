"""Mean average precision over binary tasks with masked labels (AlgoPerf's ``ogbg`` metric, which
is OGB's for ogbg-molpcba), shared by ``molecules_gnn`` and ``ogbg``."""

from __future__ import annotations

import math

import numpy as np


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision of one task (as ``sklearn.metrics.average_precision_score``; tied scores
    form one threshold); NaN without both positives and negatives."""
    positives = int(labels.sum())
    if positives == 0 or positives == len(labels):
        return math.nan
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    tp = np.cumsum(labels)
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tp = tp[last_of_tie]
    precision = tp / (last_of_tie + 1)
    recall = tp / positives
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def mean_average_precision(logits: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> float:
    """Mean over tasks of the average precision on unmasked labels (tasks without both classes
    are skipped, as AlgoPerf's ogbg does)."""
    aps = []
    for task in range(labels.shape[1]):
        keep = weights[:, task] > 0
        ap = average_precision(logits[keep, task], labels[keep, task])
        if not math.isnan(ap):
            aps.append(ap)
    return float(np.mean(aps)) if aps else math.nan
