"""fastMRI single-coil knee volumes (``.h5``) as AlgoPerf's ``fastmri`` workload reads them.

Layout, as AlgoPerf's ``dataset_setup.py --fastmri`` leaves it (it extracts the archives and
renames ``singlecoil_*`` to ``knee_singlecoil_*``): ``<data_dir>/knee_singlecoil_train/*.h5`` and
``<data_dir>/knee_singlecoil_val/*.h5`` (``--data-dir`` may also name the folder above, holding
``fastmri/``). One file is one volume: ``kspace`` (slices, 640, W) complex64, ``reconstruction_esc``
(slices, 320, 320) float32 and the attribute ``max`` (the volume's maximum, 0 where absent).
Splits, as AlgoPerf: train = every training volume; validation = the first 100 validation
volumes in sorted file-name order; test = the other validation volumes.

Preprocessing of one slice, as AlgoPerf's input pipeline: the 4x random Cartesian column mask
(:func:`column_mask`: the central ``int(W * 0.08)`` columns, and every other column with
probability ``(W / 4 - n_low) / (W - n_low)``), applied to the k-space; the centred orthonormal
inverse 2-D FFT; a centre crop to the target's 320 x 320; the magnitude; normalisation by that
image's mean and (population) standard deviation, clipped to +-6. The target is normalised by the
same mean and standard deviation and clipped. Training masks depend on the data seed and the
example's index, so an example keeps its mask across epochs (as in AlgoPerf, where the example
index restarts each epoch); every evaluation example is masked with the draw of the fixed seed 0
(AlgoPerf: ``_EVAL_SEED``), so slices of equal width share one mask. The uniform draws come from
numpy, not TensorFlow's stateless generator, so the masks differ from AlgoPerf's bit for bit,
not in distribution.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from optbench.data.data_dir import search_data_dir
from optbench.errors import UserError

TRAIN_DIR, VAL_DIR = "knee_singlecoil_train", "knee_singlecoil_val"
NUM_VALIDATION_VOLUMES = 100  # the first 100 sorted validation volumes; the rest are test
CENTER_FRACTION, ACCELERATION = 0.08, 4.0
KSPACE_ROWS, TARGET_SIZE = 640, 320
EVAL_SEED = 0
CLIP = 6.0
SETUP_STEP = (
    "AlgoPerf's `python3 algoperf/datasets/dataset_setup.py --fastmri` (download with the "
    "knee_singlecoil_{train,val} URLs, then its extract step)"
)
_OPEN_FILES = 64  # h5 files kept open per reader


def h5py_module() -> Any:
    """The ``h5py`` module, or a one-line error naming the extra that installs it."""
    try:
        import h5py
    except ImportError:
        raise UserError(
            "the fastMRI workloads read .h5 files with h5py: pip install 'optbench[mri]'"
        ) from None
    return h5py


def find_root(data_dir: Path | None) -> Path:
    """The folder holding ``knee_singlecoil_train/`` and ``knee_singlecoil_val/``."""

    def missing(data_dir: Path) -> str:
        folder = TRAIN_DIR if not (data_dir / TRAIN_DIR).is_dir() else VAL_DIR
        return f"{data_dir / folder} not found: make it with {SETUP_STEP}"

    return search_data_dir(
        data_dir,
        needs=f"fastmri needs --data-dir: the folder holding {TRAIN_DIR}/ and {VAL_DIR}/, as "
        f"{SETUP_STEP} leaves it",
        folders=("fastmri",),
        is_root=lambda root: (root / TRAIN_DIR).is_dir() and (root / VAL_DIR).is_dir(),
        missing=missing,
    )


def split_files(root: Path, split: str) -> list[Path]:
    """The volumes of ``split`` (train, validation or test) in sorted file-name order."""
    folder = root / (TRAIN_DIR if split == "train" else VAL_DIR)
    paths = sorted(folder.glob("*.h5"))
    if split == "validation":
        paths = paths[:NUM_VALIDATION_VOLUMES]
    elif split == "test":
        paths = paths[NUM_VALIDATION_VOLUMES:]
    if not paths:
        raise UserError(f"{folder} holds no {split} volumes (*.h5): make them with {SETUP_STEP}")
    return paths


@dataclass(frozen=True)
class Volume:
    """One ``.h5`` volume's facts (read from its header, not its data)."""

    path: str
    num_slices: int
    width: int
    volume_max: float


def _bad(path: Path, what: str) -> UserError:
    return UserError(f"{path}: {what}; a fastMRI single-coil file as {SETUP_STEP} leaves it")


def read_volume(path: Path) -> Volume:
    """The facts of one volume; a one-line error if it is not a single-coil knee file."""
    h5py = h5py_module()
    try:
        with h5py.File(path, "r") as f:
            if "kspace" not in f or "reconstruction_esc" not in f:
                raise _bad(path, "no 'kspace' or 'reconstruction_esc' dataset")
            kspace, target = f["kspace"], f["reconstruction_esc"]
            volume_max = float(f.attrs.get("max", 0.0))
            kshape, tshape, kind = kspace.shape, target.shape, kspace.dtype.kind
    except OSError as exc:
        raise _bad(path, f"unreadable as HDF5 ({str(exc).splitlines()[0]})") from None
    slices = kshape[0] if kshape else 0
    if kind != "c" or len(kshape) != 3 or kshape[1] != KSPACE_ROWS or kshape[2] < TARGET_SIZE:
        raise _bad(path, f"kspace is {kshape} {kind!r}, not complex (slices, 640, >= 320)")
    if tuple(tshape) != (slices, TARGET_SIZE, TARGET_SIZE) or slices == 0:
        raise _bad(path, f"reconstruction_esc is {tshape}, not ({slices}, 320, 320)")
    return Volume(str(path), int(slices), int(kshape[2]), volume_max)


def column_mask(width: int, uniform: np.ndarray) -> np.ndarray:
    """AlgoPerf's 4x mask over ``width`` k-space columns from ``width`` uniform draws."""
    num_low = int(np.float32(width) * np.float32(CENTER_FRACTION))
    mask = np.zeros(width, dtype=np.float32)
    pad = (width - num_low + 1) // 2
    mask[pad : pad + num_low] = 1.0
    w, low = np.float32(width), np.float32(num_low)
    prob = (w / np.float32(ACCELERATION) - low) / (w - low)  # in float32, as AlgoPerf
    return np.maximum(mask, (uniform < prob).astype(np.float32))


def example_mask(width: int, seed: int | None, index: int) -> np.ndarray:
    """The mask of training example ``index`` under data seed ``seed``; ``seed=None``: the
    evaluation mask (fixed seed 0, the same for every example of this width)."""
    entropy = [EVAL_SEED] if seed is None else [int(seed), int(index)]
    return column_mask(width, np.random.default_rng(entropy).random(width))


def preprocess(
    kspace: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Input image, target and their statistics from (N, 640, W) k-space, (N, 320, 320)
    targets and (N, W) masks, as AlgoPerf's ``_process_example`` (see the module docstring)."""
    masked = kspace * mask[:, None, :].to(kspace.dtype)
    dims = (-2, -1)
    image = torch.fft.ifftshift(masked, dim=dims)
    image = torch.fft.fftshift(torch.fft.ifft2(image, dim=dims, norm="ortho"), dim=dims)
    rows, cols = image.shape[-2:]
    top, left = (rows - TARGET_SIZE) // 2, (cols - TARGET_SIZE) // 2
    image = image[:, top : top + TARGET_SIZE, left : left + TARGET_SIZE].abs()
    mean = image.mean(dim=dims)
    std = image.std(dim=dims, correction=0)
    norm = lambda x: ((x - mean[:, None, None]) / std[:, None, None]).clamp(-CLIP, CLIP)  # noqa: E731
    return {"inputs": norm(image), "targets": norm(target), "mean": mean, "std": std}


class SliceReader:
    """The slices of a list of volumes, addressed by one running index (volume order, then
    slice order), read on demand with a few files kept open. Not picklable (open files): a
    workload keeps it with its data."""

    def __init__(self, volumes: list[Volume]) -> None:
        self.volumes = volumes
        self.starts = np.cumsum([0] + [v.num_slices for v in volumes])
        self._files: collections.OrderedDict[str, Any] = collections.OrderedDict()

    def __len__(self) -> int:
        return int(self.starts[-1])

    def locate(self, index: int) -> tuple[Volume, int]:
        """The volume of running index ``index`` and the slice within it."""
        v = int(np.searchsorted(self.starts, index, side="right")) - 1
        return self.volumes[v], int(index - self.starts[v])

    def _file(self, path: str) -> Any:
        if path not in self._files:
            if len(self._files) >= _OPEN_FILES:
                self._files.popitem(last=False)[1].close()
            self._files[path] = h5py_module().File(path, "r")
        self._files.move_to_end(path)
        return self._files[path]

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray, float, int]:
        """(k-space (640, W) complex64, target (320, 320) float32, volume max, width)."""
        volume, i = self.locate(index)
        f = self._file(volume.path)
        kspace = np.asarray(f["kspace"][i], dtype=np.complex64)
        target = np.asarray(f["reconstruction_esc"][i], dtype=np.float32)
        return kspace, target, volume.volume_max, volume.width

    def close(self) -> None:
        """Close the open files."""
        while self._files:
            self._files.popitem()[1].close()


def load_batch(
    reader: SliceReader, indices: list[int], seed: int | None, device: torch.device
) -> dict[str, torch.Tensor]:
    """A preprocessed batch of the slices ``indices`` on ``device`` (``seed``: see
    :func:`example_mask`): ``inputs``, ``targets`` (B, 320, 320) and ``mean``, ``std``,
    ``volume_max`` (B,). Slices are preprocessed in groups of equal width."""
    rows = [reader.read(i) for i in indices]
    out: dict[str, list[torch.Tensor]] = {k: [] for k in ("inputs", "targets", "mean", "std")}
    order: list[int] = []
    for width in sorted({r[3] for r in rows}):
        group = [j for j, r in enumerate(rows) if r[3] == width]
        order += group
        kspace = torch.from_numpy(np.stack([rows[j][0] for j in group])).to(device)
        target = torch.from_numpy(np.stack([rows[j][1] for j in group])).to(device)
        masks = np.stack([example_mask(width, seed, indices[j]) for j in group])
        for k, v in preprocess(kspace, target, torch.from_numpy(masks).to(device)).items():
            out[k].append(v)
    back = torch.as_tensor(np.argsort(order), device=device)
    batch = {k: torch.cat(v)[back] for k, v in out.items()}
    batch["volume_max"] = torch.tensor([r[2] for r in rows], dtype=torch.float32, device=device)
    return batch
