"""``criteo1tb`` (and its variants): AlgoPerf's Criteo 1TB workload at its own size (``full``).

AlgoPerf's DLRM-small (:mod:`optbench.models.dlrm`) predicts clicks on the real Criteo 1TB logs,
streamed from the day files AlgoPerf's ``dataset_setup.py`` leaves (:mod:`optbench.data.criteo`,
with AlgoPerf's preprocessing: log-transformed counts, hashed categorical ids). Loss and metric:
sigmoid binary cross-entropy (log loss, lower is better; AlgoPerf ignores label smoothing here).
Targets, budget, eval period and step hint are AlgoPerf's (``targets/criteo1tb*.json``, sources
stated there).

Batches: ``inputs`` (B, 39) float32 (13 transformed counts, 26 hashed ids) and ``targets`` (B,).
Training reads the training files in a fresh random order each epoch, lines in file order (as
AlgoPerf's pipeline, which shuffles files, not lines), parsed ahead in a background thread; an
evaluation reads its files in order (eval-train: the first ``num_eval_train_examples`` lines of
the training files in a fixed random order).

``test_width`` (test-only, never for results): the embedding width instead of 128, with the MLPs
scaled by the same factor and AlgoPerf's test vocabulary (65,536 rows), so that CI runs a
training step on a CPU; a trial records it in ``meta_data.json``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from optbench import prng, spec
from optbench.data import criteo as data
from optbench.data.cache import default_cache_dir
from optbench.errors import UserError
from optbench.models.dlrm import DlrmResNet, DlrmSmall
from optbench.workloads.common.losses import sigmoid_cross_entropy
from optbench.workloads.full_size import FullSizeWorkload
from optbench.workloads.variants import variant

TEST_VOCAB_SIZE = 32 * 128 * 16  # AlgoPerf's Criteo1TbDlrmSmallTestWorkload vocabulary
EVAL_TRAIN_SEED = 0


class Criteo1tb(FullSizeWorkload):
    """AlgoPerf's ``criteo1tb`` at full size (see the module docstring)."""

    name = "criteo1tb"
    algoperf_name = "criteo1tb"
    description = "AlgoPerf's DLRM-small on Criteo 1TB click logs"
    data_source = "Criteo 1TB click logs (Criteo AI Lab), day files as AlgoPerf's setup leaves them"
    target_metric_name = "loss"
    loss_type = spec.LossType.SIGMOID_CROSS_ENTROPY
    eval_batch_size = 8192  # AlgoPerf's (PyTorch)
    vocab_size: ClassVar[int] = 32 * 128 * 1024  # 4,194,304
    mlp_bottom_dims: ClassVar[tuple[int, ...]] = (512, 256, 128)
    mlp_top_dims: ClassVar[tuple[int, ...]] = (1024, 1024, 512, 256, 1)
    embed_dim: ClassVar[int] = 128
    use_layer_norm: ClassVar[bool] = False
    use_resnet: ClassVar[bool] = False
    embedding_init_multiplier: ClassVar[float | None] = None
    output_layer = "top_mlp.9"

    # --- data ---------------------------------------------------------------------------------
    def _load_splits(self) -> dict[str, Any]:
        """Per split, its files and their number of lines (counted once per file, cached)."""
        root = data.find_root(self._data_dir)
        cache_dir = self._cache_dir or default_cache_dir()
        splits = {}
        for split in ("train", "validation", "test"):
            files = data.split_files(root, split)
            splits[split] = (files, data.count_lines(files, cache_dir))
            if not splits[split][1]:
                raise UserError(f"the {split} files in {root} are empty: {data.SETUP_STEP}")
        self.data_provenance = {
            "root": str(root),
            "train_days": sorted({int(p.name.split("_")[1]) for p in splits["train"][0]}),
            **{f"{s}_files": len(splits[s][0]) for s in splits},
            **{f"{s}_examples": splits[s][1] for s in splits},
        }
        return splits

    def _split_size(self, split: str) -> int:
        if split == "eval_train":
            return self.num_eval_train_examples
        return self._split(split)[1]

    def _files_in_order(self, seed: int, epoch: int) -> list[Path]:
        files = self._split("train")[0]
        order = np.random.default_rng([seed, epoch]).permutation(len(files))
        return [files[i] for i in order]

    def _stream(self, files: Any, batch_size: int, drop_last: bool) -> Iterator[dict[str, Any]]:
        for inputs, targets in data.prefetch(data.batches(files, batch_size, drop_last)):
            yield {
                "inputs": torch.from_numpy(inputs).to(self.device),
                "targets": torch.from_numpy(targets).to(self.device),
            }

    def _queue(
        self, data_rng: spec.RandomState, split: str, global_batch_size: int
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Training: epochs over the training files in a fresh random order (from ``data_rng``),
        whole batches only. Other splits: their batches in order, repeated."""
        if split != "train":
            while True:
                yield from self._eval_batches(split, global_batch_size)
        if global_batch_size > self.num_train_examples:
            raise UserError(
                f"batch size {global_batch_size} exceeds the {self.num_train_examples} train "
                "examples"
            )
        seed, epoch = prng.to_seed(data_rng), 0
        while True:
            files = self._files_in_order(seed, epoch)
            yield from self._stream(files, global_batch_size, drop_last=True)
            epoch += 1

    def _eval_batches(self, split: str, batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        if split != "eval_train":
            yield from self._stream(self._split(split)[0], batch_size, drop_last=False)
            return
        left = self.num_eval_train_examples
        files = self._files_in_order(EVAL_TRAIN_SEED, 0)
        for batch in self._stream(files, batch_size, drop_last=False):
            if left <= 0:
                return
            yield {k: v[:left] for k, v in batch.items()}
            left -= len(batch["targets"])

    def synthetic_batch(self, batch_size: int, seed: int = 0) -> dict[str, Any]:
        """Random transformed counts, hashed ids within the model's vocabulary, and clicks."""
        g = torch.Generator().manual_seed(seed)
        vocab = TEST_VOCAB_SIZE if self.test_width else self.vocab_size
        dense = torch.log1p(torch.randint(0, 1000, (batch_size, data.NUM_DENSE), generator=g))
        ids = torch.randint(0, vocab, (batch_size, data.NUM_SPARSE), generator=g)
        batch = {
            "inputs": torch.cat([dense, ids.float()], dim=1),
            "targets": torch.randint(0, 2, (batch_size,), generator=g).float(),
        }
        return {k: v.to(self.device) for k, v in batch.items()}

    # --- model, loss, metrics -----------------------------------------------------------------
    def _build_model(self) -> nn.Module:
        scale = (self.test_width or self.embed_dim) / self.embed_dim
        vocab = TEST_VOCAB_SIZE if self.test_width else self.vocab_size

        def dims(widths: tuple[int, ...]) -> tuple[int, ...]:
            return tuple(max(1, round(w * scale)) for w in widths)

        common = {
            "vocab_size": vocab,
            "mlp_bottom_dims": dims(self.mlp_bottom_dims),
            "mlp_top_dims": (*dims(self.mlp_top_dims[:-1]), 1),
            "embed_dim": round(self.embed_dim * scale),
        }
        if self.use_resnet:
            return DlrmResNet(**common)
        return DlrmSmall(
            **common,
            use_layer_norm=self.use_layer_norm,
            embedding_init_multiplier=self.embedding_init_multiplier,
        )

    def _per_example_loss(
        self, labels: torch.Tensor, logits: torch.Tensor, label_smoothing: float
    ) -> torch.Tensor:
        """Sigmoid cross-entropy per example, shape (B,); no label smoothing (as AlgoPerf)."""
        return sigmoid_cross_entropy(logits.reshape(-1), labels.reshape(-1))

    def _eval_split(
        self, split: str, params: nn.Module, model_state: Any, rng: Any, batch_size: int
    ) -> tuple[dict[str, float], int]:
        """Log loss averaged over the split's examples (summed in float64, as AlgoPerf)."""
        total, n = 0.0, 0
        for batch in self._eval_batches(split, batch_size):
            logits = self._eval_logits(params, batch, model_state, rng)
            per_example = self.loss_fn(batch["targets"], logits)["per_example"]
            total += per_example.double().sum().item()
            n += len(per_example)
        return {"loss": total / n if math.isfinite(total) else math.nan}, n


Criteo1tbLayernorm = variant(
    Criteo1tb,
    "layernorm",
    "LayerNorm after every hidden layer and on the embedded categorical vectors",
    use_layer_norm=True,
    output_layer="top_mlp.13",
)
Criteo1tbResnet = variant(
    Criteo1tb,
    "resnet",
    "residual bottom (256, 256, 256) and top (256, 256, 256, 256, 1) MLPs, no dot interaction",
    use_resnet=True,
    mlp_bottom_dims=(256, 256, 256),
    mlp_top_dims=(256, 256, 256, 256, 1),
    output_layer="top_mlp.4.module.0",
)
Criteo1tbEmbedInit = variant(
    Criteo1tb,
    "embed_init",
    "embedding scale 1.0 instead of 1/sqrt(vocab)",
    embedding_init_multiplier=1.0,
)
