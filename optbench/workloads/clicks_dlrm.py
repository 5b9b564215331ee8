"""``clicks_dlrm``: a DLRM-style model on SYNTHETIC click logs, the analogue of AlgoPerf's
``criteo1tb`` (DLRM-small on Criteo 1TB); variant ``clicks_dlrm_layernorm`` mirrors
``criteo1tb_layernorm``.

The data are generated (:mod:`optbench.data.clicks`), not real clicks: the true click
probabilities are known, so the Bayes-optimal validation log loss is recorded in
``data_provenance`` (``validation_bayes_log_loss``) and in the properties
(``bayes_log_loss_validation``). The inputs are one int16 tensor per example as in AlgoPerf's
Criteo pipeline (13 dense counts, then 26 categorical ids); the model takes ``log1p`` of the
counts. Loss and metric: sigmoid binary
cross-entropy (log loss, lower is better).
"""

from __future__ import annotations

import itertools
import math
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from optbench import spec
from optbench.data import clicks
from optbench.workloads.base import TorchWorkload
from optbench.workloads.common.losses import sigmoid_cross_entropy
from optbench.workloads.variants import variant

# size -> (train, validation, test examples, embedding width, bottom MLP, top MLP)
_SIZES = {
    "smoke": (50_000, 10_000, 10_000, 4, (16,), (32,)),
    "mini": (2_000_000, 100_000, 100_000, 16, (64, 32), (128, 64)),
}


def _mlp(widths: list[int], layernorm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for w_in, w_out in itertools.pairwise(widths):
        layers.append(nn.Linear(w_in, w_out))
        if layernorm:
            layers.append(nn.LayerNorm(w_out))
        layers.append(nn.ReLU())
    return layers


class Dlrm(nn.Module):
    """DLRM: one embedding per categorical field, a bottom MLP on the dense features (to the
    embedding width), pairwise dot products of all 27 vectors, a top MLP on [dots, bottom output].

    Embedding rows of field ``f`` start uniform in +-1/sqrt(vocab_f) (the DLRM reference init).
    """

    def __init__(
        self,
        vocab_sizes: tuple[int, ...],
        num_dense: int,
        dim: int,
        bottom: tuple[int, ...],
        top: tuple[int, ...],
        layernorm: bool = False,
    ) -> None:
        super().__init__()
        self.num_dense = num_dense
        offsets = np.concatenate([[0], np.cumsum(vocab_sizes)[:-1]])
        self.register_buffer("offsets", torch.as_tensor(offsets, dtype=torch.long))
        # One table for all fields (row offset per field): one gather instead of 26.
        self.embedding = nn.Embedding(int(sum(vocab_sizes)), dim)
        with torch.no_grad():
            for start, vocab in zip(offsets, vocab_sizes, strict=True):
                bound = 1.0 / math.sqrt(vocab)
                self.embedding.weight[start : start + vocab].uniform_(-bound, bound)
        self.bottom = nn.Sequential(*_mlp([num_dense, *bottom, dim], layernorm))
        n_vectors = len(vocab_sizes) + 1
        self.register_buffer("pairs", torch.triu_indices(n_vectors, n_vectors, offset=1))
        n_top = n_vectors * (n_vectors - 1) // 2 + dim
        self.top = nn.Sequential(*_mlp([n_top, *top], layernorm), nn.Dropout(0.0))
        self.head = nn.Linear(top[-1], 1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        dense = torch.log1p(inputs[:, : self.num_dense].float())
        ids = inputs[:, self.num_dense :].long() + self.offsets
        bottom = self.bottom(dense)
        vectors = torch.cat([bottom.unsqueeze(1), self.embedding(ids)], dim=1)
        dots = torch.bmm(vectors, vectors.transpose(1, 2))[:, self.pairs[0], self.pairs[1]]
        return self.head(self.top(torch.cat([dots, bottom], dim=1)))


class ClicksDlrm(TorchWorkload):
    """DLRM (26 fields x 16-d embeddings, bottom 13-64-32-16, top 367-128-64-1) on 2M synthetic
    impressions."""

    name = "clicks_dlrm"
    algoperf_name = "criteo1tb"
    description = "DLRM (26x16-d embeddings, dot interaction) on SYNTHETIC click logs"
    data_source = "SYNTHETIC: optbench.data.clicks generative model v1 (Zipf ids, latent factors)"
    synthetic_data = True
    output_layer = "head"
    target_metric_name = "loss"
    loss_type = spec.LossType.SIGMOID_CROSS_ENTROPY
    eval_batch_size = 4096
    extra_properties: ClassVar[dict[str, str]] = {"bayes_log_loss_validation": "bayes_log_loss"}
    layernorm: ClassVar[bool] = False

    def _load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        n_train, n_val, n_test = _SIZES[self.size][:3]
        arrays, self.data_provenance = clicks.load(n_train, n_val, n_test, self._cache_dir)
        splits = {}
        for split in ("train", "validation", "test"):
            inputs = np.concatenate([arrays[f"{split}_dense"], arrays[f"{split}_ids"]], axis=1)
            splits[split] = (
                torch.from_numpy(inputs),
                torch.from_numpy(arrays[f"{split}_y"].astype(np.float32)),
            )
        return splits

    @property
    def bayes_log_loss(self) -> float:
        """Expected log loss of the true click probabilities on the validation split."""
        self.load_data()
        return float(self.data_provenance["validation_bayes_log_loss"])

    def _build_model(self) -> nn.Module:
        dim, bottom, top = _SIZES[self.size][3:]
        return Dlrm(
            clicks.VOCAB_SIZES, clicks.NUM_DENSE, dim, bottom, top, layernorm=self.layernorm
        )

    def _per_example_loss(
        self, labels: torch.Tensor, logits: torch.Tensor, label_smoothing: float
    ) -> torch.Tensor:
        """Sigmoid cross-entropy as AlgoPerf's ``criteo1tb``: labels smoothed towards 1/2 by
        ``label_smoothing``; shape ``(B,)``."""
        return sigmoid_cross_entropy(logits.reshape(-1), labels.reshape(-1), label_smoothing)

    def _batch_metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        loss = F.binary_cross_entropy_with_logits(
            logits.reshape(-1).float(), targets.float(), reduction="sum"
        ).item()
        return {"loss": loss if math.isfinite(loss) else math.nan}


ClicksDlrmLayernorm = variant(
    ClicksDlrm,
    "layernorm",
    "LayerNorm after every hidden linear layer of both MLPs",
    layernorm=True,
)
