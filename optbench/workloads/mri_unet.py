"""``mri_unet``: U-Net reconstruction of undersampled brain MRI slices, the analogue of AlgoPerf's
``fastmri`` (U-Net with instance norm, L1 loss, SSIM).

Data (:mod:`optbench.data.mri`): Colin27 T1 slices; the input is the magnitude of the zero-filled
reconstruction under a random 4x Cartesian mask (drawn afresh for every training batch, fixed per
example for validation and test); the target is the fully sampled slice (maximum 1).
Batches: ``inputs`` and ``targets`` (B, 1, R, R).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from optbench import prng, spec
from optbench.data import mri
from optbench.workloads.base import TorchWorkload
from optbench.workloads.variants import variant

# size -> (volume file, resolution, base channels, pooling levels)
_SIZES = {"smoke": ("ch2.nii.gz", 32, 8, 2), "mini": ("ch2better.nii.gz", 64, 16, 3)}
SSIM_WINDOW, SSIM_K1, SSIM_K2 = 7, 0.01, 0.03


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: torch.Tensor | float = 1.0):
    """Per-example SSIM of (B, 1, H, W) images: 7x7 uniform window, k1 = 0.01, k2 = 0.03 and
    sample covariances, as fastMRI's evaluation (skimage ``structural_similarity``); the mean
    over the valid (unpadded) windows of each image."""
    data_range = torch.as_tensor(data_range, dtype=pred.dtype, device=pred.device)
    data_range = data_range.reshape(-1, 1, 1, 1)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    n = SSIM_WINDOW**2
    cov_norm = n / (n - 1)

    def mean(x):
        return F.avg_pool2d(x, SSIM_WINDOW, stride=1)

    ux, uy = mean(pred), mean(target)
    vx = cov_norm * (mean(pred * pred) - ux * ux)
    vy = cov_norm * (mean(target * target) - uy * uy)
    vxy = cov_norm * (mean(pred * target) - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3))


class LeakyReLU(nn.LeakyReLU):
    """Leaky ReLU with fastMRI's negative slope 0.2."""

    def __init__(self) -> None:
        super().__init__(0.2)


class _ConvBlock(nn.Module):
    """Two 3x3 convolutions, each followed by instance norm and activation (fastMRI's block; its
    dropout, 0 by default there, is left out)."""

    def __init__(self, cin: int, cout: int, activation: type[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.GroupNorm(cout, cout),
            activation(),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.GroupNorm(cout, cout),
            activation(),
        )

    def forward(self, x):
        return self.layers(x)


class UNet(nn.Module):
    """fastMRI's U-Net: ``levels`` poolings, channels doubling from ``channels``, transposed-conv
    upsampling, skip connections, 1x1 output convolution (GroupNorm with one group per channel
    is instance norm with learnable scale and shift)."""

    def __init__(self, channels: int, levels: int, activation: type[nn.Module]) -> None:
        super().__init__()
        self.down = nn.ModuleList([_ConvBlock(1, channels, activation)])
        ch = channels
        for _ in range(levels - 1):
            self.down.append(_ConvBlock(ch, ch * 2, activation))
            ch *= 2
        self.bottleneck = _ConvBlock(ch, ch * 2, activation)
        self.up_transpose, self.up_conv = nn.ModuleList(), nn.ModuleList()
        for _ in range(levels):
            self.up_transpose.append(
                nn.Sequential(
                    nn.ConvTranspose2d(ch * 2, ch, 2, stride=2, bias=False),
                    nn.GroupNorm(ch, ch),
                    activation(),
                )
            )
            self.up_conv.append(_ConvBlock(ch * 2, ch, activation))
            ch //= 2
        self.output = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Instance-normalise the input, as fastMRI's data transform does, and undo it at the end.
        mu = x.mean(dim=(1, 2, 3), keepdim=True)
        sd = x.std(dim=(1, 2, 3), keepdim=True) + 1e-6
        h = (x - mu) / sd
        skips = []
        for block in self.down:
            h = block(h)
            skips.append(h)
            h = F.avg_pool2d(h, 2)
        h = self.bottleneck(h)
        for up, conv in zip(self.up_transpose, self.up_conv, strict=True):
            h = conv(torch.cat([up(h), skips.pop()], dim=1))
        return self.output(h) * sd + mu


class MriUnet(TorchWorkload):
    """U-Net (16-128 channels, 3 poolings; 8-32 and 2 at smoke size) on 4x undersampled slices."""

    name = "mri_unet"
    algoperf_name = "fastmri"
    description = "U-Net (3 levels, 16-128 ch, instance norm) reconstructing 4x undersampled MRI"
    data_source = "Colin27 T1 MRI template (Debian mricron-data, BSD-style) read with nibabel"
    output_layer = "output"
    target_metric_name = "ssim"
    loss_type = spec.LossType.MEAN_ABSOLUTE_ERROR
    eval_batch_size = 64
    activation: type[nn.Module] = LeakyReLU

    def _load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        volume, resolution = _SIZES[self.size][:2]
        arrays, self.data_provenance = mri.load(volume, resolution, self._cache_dir)
        # The train inputs are placeholders: _augment_train draws a fresh mask per batch.
        splits = {"train": (arrays["train_target"], arrays["train_target"])}
        for name in ("validation", "test"):
            splits[name] = (arrays[f"{name}_input"], arrays[f"{name}_target"])
        return {
            k: (torch.from_numpy(np.asarray(x))[:, None], torch.from_numpy(np.asarray(y))[:, None])
            for k, (x, y) in splits.items()
        }

    def _split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        if split != "eval_train":
            return super()._split(split)
        # Eval-train: the first training slices under masks fixed once (seed 2).
        if getattr(self, "_eval_train", None) is None:
            _, y = super()._split("train")
            y = y[: self.num_eval_train_examples]
            masks = mri.random_masks(np.random.default_rng(2), len(y), y.shape[-1])
            x = mri.zero_filled(y[:, 0].cpu().numpy(), masks)
            self._eval_train = (torch.from_numpy(x)[:, None].to(self.device), y)
        return self._eval_train

    def _augment_train(self, batches: Iterator[Any], data_rng: spec.RandomState) -> Iterator[Any]:
        """Each training batch's inputs: its slices under a fresh random mask (masks drawn from
        ``data_rng``)."""
        mask_rng = np.random.default_rng(prng.to_seed(data_rng))
        for batch in batches:
            target = batch["targets"]
            masks = torch.from_numpy(mri.random_masks(mask_rng, len(target), target.shape[-1]))
            kspace = torch.fft.fftshift(torch.fft.fft2(target), dim=(-2, -1))
            kspace = kspace * masks[:, None, None, :].to(self.device)
            inputs = torch.fft.ifft2(torch.fft.ifftshift(kspace, dim=(-2, -1))).abs()
            yield {"inputs": inputs.float(), "targets": target}

    def _build_model(self) -> nn.Module:
        _, _, channels, levels = _SIZES[self.size]
        return UNet(channels, levels, self.activation)

    def _per_example_loss(
        self, labels: torch.Tensor, logits: torch.Tensor, label_smoothing: float
    ) -> torch.Tensor:
        """Mean absolute error per example (L1, as AlgoPerf's fastmri; no label smoothing)."""
        return (logits - labels).abs().flatten(1).mean(dim=1)

    def _batch_metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        loss = self.loss_fn(targets, logits.float())["summed"].item()
        data_range = targets.flatten(1).amax(dim=1)
        total = ssim(logits.float(), targets, data_range).sum().item()
        return {
            "ssim": total if math.isfinite(total) else math.nan,
            "loss": loss if math.isfinite(loss) else math.nan,
        }


MriUnetTanh = variant(MriUnet, "tanh", "tanh instead of leaky ReLU throughout", activation=nn.Tanh)
