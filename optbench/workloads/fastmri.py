"""``fastmri`` (and its variants): AlgoPerf's fastMRI workload at its own size (``full``).

AlgoPerf's U-Net (32 channels, 4 poolings; :mod:`optbench.models.unet`) reconstructs 4x
undersampled single-coil knee slices of the real fastMRI data (:mod:`optbench.data.fastmri`,
read from the ``.h5`` files AlgoPerf's ``dataset_setup.py`` leaves). Loss: mean absolute error
per slice (L1, no label smoothing, as AlgoPerf). Metric: SSIM as AlgoPerf's PyTorch workload
computes it (:func:`ssim`). Targets, budget, eval period and step hint are AlgoPerf's
(``targets/fastmri*.json``, sources stated there).

Batches: ``inputs`` and ``targets`` (B, 320, 320), and ``mean``, ``std``, ``volume_max`` (B,)
(the SSIM de-normalises with them), as AlgoPerf's input pipeline.

``test_width`` (test-only, never for results): the U-Net's base channel count instead of
AlgoPerf's, so that CI runs a training step on a CPU; a trial records it in ``meta_data.json``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from optbench import prng, spec
from optbench.data import fastmri as data
from optbench.models.unet import UNet
from optbench.workloads.full_size import FullSizeWorkload
from optbench.workloads.input_queue import batch_indices
from optbench.workloads.variants import variant

SSIM_WINDOW, SSIM_K1, SSIM_K2 = 7, 0.01, 0.03
EVAL_TRAIN_SEED = 0  # eval-train: a fixed permutation of train, masks of data seed 0


def structural_similarity(
    x: torch.Tensor, y: torch.Tensor, data_range: torch.Tensor
) -> torch.Tensor:
    """Per-image mean SSIM of (B, H, W) images, as AlgoPerf's ``structural_similarity`` (from
    skimage): 7x7 uniform windows, k1 0.01, k2 0.03, sample covariances, averaged over the
    windows that lie inside the image (AlgoPerf filters with symmetric padding, then drops the
    3-pixel border: the same windows)."""
    c1 = ((SSIM_K1 * data_range) ** 2)[:, None, None]
    c2 = ((SSIM_K2 * data_range) ** 2)[:, None, None]
    n = SSIM_WINDOW**2
    cov_norm = n / (n - 1)

    def mean(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(t[:, None], SSIM_WINDOW, stride=1)[:, 0]

    ux, uy = mean(x), mean(y)
    vx = cov_norm * (mean(x * x) - ux * ux)
    vy = cov_norm * (mean(y * y) - uy * uy)
    vxy = cov_norm * (mean(x * y) - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2))


def ssim(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    volume_max: torch.Tensor,
) -> torch.Tensor:
    """AlgoPerf's fastMRI SSIM per example: outputs and targets de-normalised (``x * std +
    mean``), data range the volume's maximum (1 where it is 0), clipped to [-1, 1]."""
    volume_max = torch.where(volume_max == 0, torch.ones_like(volume_max), volume_max)
    scale, shift = std[:, None, None], mean[:, None, None]
    s = structural_similarity(outputs * scale + shift, targets * scale + shift, volume_max)
    return s.clamp(-1.0, 1.0)


class FastMri(FullSizeWorkload):
    """AlgoPerf's ``fastmri`` at full size (see the module docstring)."""

    name = "fastmri"
    algoperf_name = "fastmri"
    description = "AlgoPerf's U-Net (32 ch, 4 pools) reconstructing 4x undersampled knee MRI"
    data_source = "fastMRI single-coil knee (NYU Langone Health, by data-sharing agreement), .h5"
    target_metric_name = "ssim"
    loss_type = spec.LossType.MEAN_ABSOLUTE_ERROR
    eval_batch_size = 256  # AlgoPerf's
    num_channels: ClassVar[int] = 32
    num_pool_layers: ClassVar[int] = 4
    use_tanh: ClassVar[bool] = False
    use_layer_norm: ClassVar[bool] = False
    output_layer = "up_conv.3.1"

    # --- data ---------------------------------------------------------------------------------
    def _load_splits(self) -> dict[str, Any]:
        root = data.find_root(self._data_dir)
        splits: dict[str, Any] = {"eval_cache": {}}
        for split in ("train", "validation", "test"):
            volumes = [data.read_volume(p) for p in data.split_files(root, split)]
            splits[split] = data.SliceReader(volumes)
        self.data_provenance = {
            "root": str(root),
            **{f"{s}_volumes": len(splits[s].volumes) for s in ("train", "validation", "test")},
            **{f"{s}_slices": len(splits[s]) for s in ("train", "validation", "test")},
        }
        return splits

    def _queue(
        self, data_rng: spec.RandomState, split: str, global_batch_size: int
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Training batches: shuffled slices, reshuffled each epoch, each slice under its own
        mask (fixed per data seed and slice, as AlgoPerf). Other splits: in order, under the
        evaluation mask, repeated."""
        if split != "train":
            while True:
                yield from self._eval_batches(split, global_batch_size)
        reader = self._split("train")
        seed = prng.to_seed(data_rng)
        for idx in batch_indices(data_rng, len(reader), global_batch_size, split):
            yield data.load_batch(reader, idx.tolist(), seed, self.device)

    def _eval_examples(self, split: str) -> dict[str, torch.Tensor]:
        """The preprocessed examples of an eval split (CPU tensors), prepared at the first eval
        and kept: AlgoPerf evaluates the same examples, under the same masks, every time."""
        cache = self._split("eval_cache")
        if split not in cache:
            if split == "eval_train":
                reader, seed = self._split("train"), EVAL_TRAIN_SEED
                order = np.random.default_rng(EVAL_TRAIN_SEED).permutation(len(reader))
                indices = sorted(order[: self.num_eval_train_examples].tolist())
            else:
                reader, seed = self._split(split), None
                indices = list(range(len(reader)))
            parts = [
                data.load_batch(reader, indices[i : i + 64], seed, torch.device("cpu"))
                for i in range(0, len(indices), 64)
            ]
            cache[split] = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        return cache[split]

    def _eval_batches(self, split: str, batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        examples = self._eval_examples(split)
        n = len(examples["targets"])
        for start in range(0, n, batch_size):
            yield {k: v[start : start + batch_size].to(self.device) for k, v in examples.items()}

    # --- model, loss, metrics -----------------------------------------------------------------
    def synthetic_batch(self, batch_size: int, seed: int = 0) -> dict[str, Any]:
        """Random 320 x 320 slices and targets with unit statistics."""
        g = torch.Generator().manual_seed(seed)
        images = torch.randn(2, batch_size, 320, 320, generator=g)
        ones = torch.ones(batch_size)
        batch = {"inputs": images[0], "targets": images[1], "mean": 0 * ones, "std": ones}
        batch["volume_max"] = images[1].amax(dim=(1, 2))
        return {k: v.to(self.device) for k, v in batch.items()}

    def _build_model(self) -> nn.Module:
        return UNet(
            num_channels=self.test_width or self.num_channels,
            num_pool_layers=self.num_pool_layers,
            use_tanh=self.use_tanh,
            use_layer_norm=self.use_layer_norm,
        )

    def _forward(self, model: nn.Module, batch: Mapping[str, Any]) -> torch.Tensor:
        """(B, H, W) slices in, (B, H, W) reconstructions out (AlgoPerf's shapes)."""
        return model(batch["inputs"].unsqueeze(1)).squeeze(1)

    def _per_example_loss(
        self, labels: torch.Tensor, logits: torch.Tensor, label_smoothing: float
    ) -> torch.Tensor:
        """Mean absolute error per slice (AlgoPerf ignores label smoothing here too)."""
        return (logits - labels).abs().mean(dim=(1, 2))

    def _eval_split(
        self, split: str, params: nn.Module, model_state: Any, rng: Any, batch_size: int
    ) -> tuple[dict[str, float], int]:
        """SSIM and L1 loss averaged over the split's slices."""
        sums = {"ssim": 0.0, "loss": 0.0}
        n = 0
        for batch in self._eval_batches(split, batch_size):
            out = self._eval_logits(params, batch, model_state, rng).float()
            sums["loss"] += self.loss_fn(batch["targets"], out)["summed"].item()
            sums["ssim"] += (
                ssim(out, batch["targets"], batch["mean"], batch["std"], batch["volume_max"])
                .sum()
                .item()
            )
            n += len(out)
        return {k: v / n if math.isfinite(v) else math.nan for k, v in sums.items()}, n


FastMriModelSize = variant(
    FastMri,
    "model_size",
    "a U-Net of 64 base channels and 3 poolings",
    num_channels=64,
    num_pool_layers=3,
    output_layer="up_conv.2.1",
)
FastMriTanh = variant(
    FastMri, "tanh", "tanh instead of leaky ReLU throughout the U-Net", use_tanh=True
)
FastMriLayernorm = variant(
    FastMri,
    "layernorm",
    "GroupNorm with one group (layer norm over channels and pixels, learnable per-channel scale "
    "and shift) instead of instance norm in the conv blocks",
    use_layer_norm=True,
)
