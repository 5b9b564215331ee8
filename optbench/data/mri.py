"""2-D slices of a real T1-weighted brain MRI, with Cartesian k-space undersampling masks.

Source: the Colin27 single-subject T1 template shipped by Debian's ``mricron-data``
(``/usr/share/mricron/templates/ch2better.nii.gz``: 0.5 mm, 301 x 370 x 316; ``ch2.nii.gz``:
1 mm, 181 x 217 x 181; BSD-style licence of MRIcron), read with ``nibabel``. Slices are taken in
all three orientations, zero-padded to a square, area-downsampled to ``resolution`` pixels and
scaled so that each slice's maximum is 1; slices with under 15% of the pixels in the head are
dropped.

Fixed split, by slabs: along each axis, consecutive blocks of 16 slices go to train, train,
train, validation, train, train, train, test (repeating), and the 2 slices on either side of
every boundary between a training and an evaluation block are dropped, so that evaluation slices
are at least 5 slices from any training slice. Every region of the brain appears in every split.

Undersampling (fastMRI's random Cartesian mask): a fraction ``CENTER_FRACTION`` (8%) of the
phase-encoding columns around k = 0 is always kept; the other columns are kept at random with the
probability that makes the expected acceleration ``ACCELERATION`` (4x). Training masks are drawn
afresh for every batch (by the workload); validation and test masks are fixed per example (drawn
here, seed 0 and seed 1).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from optbench.data.cache import cached_arrays, default_cache_dir
from optbench.errors import UserError

TEMPLATES = Path("/usr/share/mricron/templates")
ACCELERATION = 4
CENTER_FRACTION = 0.08
BLOCK = 16
PATTERN = ("train", "train", "train", "validation", "train", "train", "train", "test")
GAP = 2
MIN_HEAD_FRACTION = 0.15


def random_masks(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    """``n`` random Cartesian column masks ``(n, width)`` (fastMRI's RandomMaskFunc, 4x, 8%)."""
    num_low = round(width * CENTER_FRACTION)
    prob = (width / ACCELERATION - num_low) / (width - num_low)
    masks = rng.random((n, width)) < prob
    start = (width - num_low + 1) // 2
    masks[:, start : start + num_low] = True
    return masks


def zero_filled(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Magnitude of the zero-filled reconstruction of ``images`` (N, H, W) under column masks."""
    kspace = np.fft.fftshift(np.fft.fft2(images), axes=(-2, -1))
    kspace = kspace * masks[:, None, :]
    return np.abs(np.fft.ifft2(np.fft.ifftshift(kspace, axes=(-2, -1)))).astype(np.float32)


def _slices(volume: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All slices in three orientations, downsampled; with their axis and index."""
    import torch
    import torch.nn.functional as F

    images, axes, indices = [], [], []
    vol = torch.from_numpy(volume.astype(np.float32))
    for axis in range(3):
        moved = vol.movedim(axis, 0)
        h, w = moved.shape[1:]
        side = max(h, w)
        padded = F.pad(
            moved,
            (
                (side - w) // 2,
                side - w - (side - w) // 2,
                (side - h) // 2,
                side - h - (side - h) // 2,
            ),
        )
        small = F.adaptive_avg_pool2d(padded[:, None], resolution)[:, 0]
        head = (small > 0.1 * small.amax()).float().mean(dim=(1, 2))
        for i in range(len(small)):
            if head[i] >= MIN_HEAD_FRACTION:
                images.append(small[i].numpy())
                axes.append(axis)
                indices.append(i)
    return np.stack(images), np.array(axes), np.array(indices)


def _assign(indices: np.ndarray) -> np.ndarray:
    """The split of each slice index (see the module docstring); '' for a dropped slice."""
    block, offset = indices // BLOCK, indices % BLOCK
    split = np.array([PATTERN[b % len(PATTERN)] for b in block])
    edge = (offset < GAP) | (offset >= BLOCK - GAP)
    # A training slice next to an evaluation block is dropped too (both sides of the boundary).
    prev_eval = np.array([PATTERN[(b - 1) % len(PATTERN)] != "train" for b in block])
    next_eval = np.array([PATTERN[(b + 1) % len(PATTERN)] != "train" for b in block])
    drop = (
        (edge & (split != "train"))
        | ((offset < GAP) & prev_eval)
        | ((offset >= BLOCK - GAP) & next_eval)
    )
    split[drop] = ""
    return split


def load(
    volume_file: str, resolution: int, cache_dir: Path | None = None
) -> tuple[dict[str, np.ndarray], dict]:
    """Slices split into train / validation / test: ``({<split>_target, ...}, provenance)``.

    ``<split>_target`` (N, R, R) float32 fully sampled slices (max 1); for validation and test
    also ``<split>_mask`` (N, R) bool and ``<split>_input`` (N, R, R) float32 zero-filled
    reconstructions under that fixed mask.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = TEMPLATES / volume_file

    def prepare() -> tuple[dict[str, np.ndarray], dict]:
        try:
            import nibabel
        except ImportError as exc:
            raise UserError("reading MRI volumes needs nibabel: pip install nibabel") from exc
        if not path.exists():
            raise UserError(f"{path} not found: apt-get install mricron-data")
        start = time.perf_counter()
        volume = np.asarray(nibabel.load(str(path)).dataobj, dtype=np.float32)
        images, axes, indices = _slices(volume, resolution)
        images /= images.max(axis=(1, 2), keepdims=True)
        split = _assign(indices)
        arrays: dict[str, np.ndarray] = {}
        for seed, name in enumerate(("train", "validation", "test")):
            chosen = split == name
            arrays[f"{name}_target"] = images[chosen].astype(np.float32)
            arrays[f"{name}_slice"] = np.stack([axes[chosen], indices[chosen]], axis=1)
            if name != "train":
                masks = random_masks(np.random.default_rng(seed - 1), int(chosen.sum()), resolution)
                arrays[f"{name}_mask"] = masks
                arrays[f"{name}_input"] = zero_filled(arrays[f"{name}_target"], masks)
        provenance = {
            "dataset": (
                f"Colin27 T1 MRI template ({volume_file}), 2-D slices {resolution}x{resolution}"
            ),
            "source": str(path),
            "licence": "BSD-style (MRIcron templates, Debian mricron-data)",
            "synthetic": False,
            "undersampling": (
                f"random Cartesian column masks, {ACCELERATION}x acceleration, "
                f"{CENTER_FRACTION:.0%} centre fraction; fresh per batch for train, fixed "
                "per example for validation and test"
            ),
            "split": (
                f"slabs of {BLOCK} slices per axis: {'/'.join(PATTERN)}, {GAP} slices dropped at "
                "evaluation-block boundaries; sizes "
                + " / ".join(
                    f"{n} {len(arrays[n + '_target'])}" for n in ("train", "validation", "test")
                )
            ),
            "prepare_seconds": round(time.perf_counter() - start, 2),
        }
        return arrays, provenance

    key = f"mri_v1_{Path(volume_file).name.split('.')[0]}_{resolution}"
    return cached_arrays(cache_dir, key, prepare)
