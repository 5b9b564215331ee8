"""ImageNet (ILSVRC-2012) for the full-size workloads: the folders AlgoPerf's ``dataset_setup.py``
leaves for PyTorch, decoded with Pillow and preprocessed as AlgoPerf's PyTorch pipeline does.

**Layout** (AlgoPerf's ``algoperf/datasets/dataset_setup.py --imagenet --framework=pytorch``,
``dataset/dataset_setup.py`` in older checkouts, which builds ``<data_dir>/imagenet/pytorch``;
``--data-dir`` names that folder, or one above it):

- ``train/<wnid>/*.JPEG``: 1,281,167 images of 1,000 classes (the per-class ``<wnid>.tar``
  files the set-up leaves beside the folders are ignored);
- ``val/<wnid>/*.JPEG``: the 50,000 validation images, sorted into class folders by the
  ``valprep.sh`` step;
- ``imagenet_v2/matched-frequency/3.0.0/imagenet_v2-test.tfrecord-*``: ImageNet-v2
  (matched frequency, 10,000 images) as TensorFlow Datasets stores it, AlgoPerf's test split,
  read with :mod:`optbench.data.tfrecord`.

Classes and labels are torchvision ``ImageFolder``'s: the class folders in sorted order, the
images of a class in sorted file-name order (files with an image extension only); ImageNet-v2's
labels index the same sorted list of synsets.

**Preprocessing** (224-pixel crops; pixels stay 0-255, the workload normalises them on its device
by AlgoPerf's mean and standard deviation):

- train: torchvision's ``RandomResizedCrop`` (area 8-100 %, aspect ratio 3/4-4/3, ten tries,
  then a centre crop; bilinear resize) and a horizontal flip with probability 1/2; the ViT adds
  RandAugment (:mod:`optbench.data.randaugment`);
- validation and eval-train: the shorter side resized to 256 (bilinear), a centre 224 crop;
- test (ImageNet-v2): AlgoPerf's TensorFlow pipeline: a centre crop of 224/256 of the shorter
  side, then TensorFlow's bicubic resize to 224 (:func:`tf_bicubic_matrix`), in float.

Images are read as they are needed, by a pool of threads (Pillow releases the GIL while it
decodes and resamples) that works :class:`Prefetcher`'s ``depth`` batches ahead: nothing but
file names and labels is held in memory. Every random draw of a training image comes from a
numpy generator seeded by ``(seed, batch number, position in the batch)``, so the pixels of a
batch never depend on thread scheduling.

A missing or malformed folder or file is a one-line :class:`~optbench.errors.UserError` naming
the path and the ``dataset_setup.py`` step that makes it.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from optbench.data import tfrecord
from optbench.data.data_dir import search_data_dir
from optbench.data.prefetcher import Fill, PoolPrefetcher
from optbench.data.randaugment import rand_augment
from optbench.errors import UserError

TRAIN_EXAMPLES = 1_281_167
VALIDATION_EXAMPLES = 50_000
TEST_EXAMPLES = 10_000  # ImageNet-v2 matched frequency
NUM_CLASSES = 1000
MEAN_RGB = (0.485 * 255, 0.456 * 255, 0.406 * 255)
STDDEV_RGB = (0.229 * 255, 0.224 * 255, 0.225 * 255)
CROP_SIZE = 224
RESIZE_SIZE = 256
SCALE_RANGE = (0.08, 1.0)
RATIO_RANGE = (3.0 / 4.0, 4.0 / 3.0)
# torchvision ImageFolder's extensions.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
V2_DIR = Path("imagenet_v2", "matched-frequency", "3.0.0")
V2_GLOB = "imagenet_v2-test.tfrecord-*"
_WNID = re.compile(r"n\d{8}")

SETUP = "AlgoPerf's dataset_setup.py --imagenet --framework=pytorch"
STEP_TRAIN = (
    f"{SETUP} (step 'Extracting imagenet train data': ILSVRC2012_img_train.tar, then each "
    "class's tar, into train/<wnid>/)"
)
STEP_VAL = (
    f"{SETUP} (step 'Extracting imagenet val data', then valprep.sh, which sorts val/*.JPEG "
    "into val/<wnid>/)"
)
STEP_V2 = (
    f"{SETUP} (download_imagenet_v2: tfds imagenet_v2/matched-frequency:3.0.0, which "
    "setup_imagenet_pytorch moves to imagenet/pytorch/imagenet_v2)"
)


# --- the splits ------------------------------------------------------------------------------
@dataclass
class FolderSplit:
    """The images of one ``ImageFolder`` split: paths relative to ``root`` and labels."""

    root: Path
    classes: list[str]  # the class folders (synsets), sorted: label i is classes[i]
    files: np.ndarray  # bytes "wnid/name"
    labels: np.ndarray  # int16
    step: str  # the dataset_setup.py step that makes this split

    def __len__(self) -> int:
        return len(self.labels)

    def example(self, i: int) -> tuple[Image.Image, int]:
        """Image ``i`` (RGB) and its label."""
        path = self.root / self.files[i].decode()
        return open_image(path, str(path), self.step), int(self.labels[i])


@dataclass
class RecordSplit:
    """The examples of TFRecord shards of ``tf.train.Example`` (``image``, ``label``)."""

    shards: list[Path]
    spans: np.ndarray  # (n, 3) int64: shard, offset, length

    def __len__(self) -> int:
        return len(self.spans)

    def example(self, i: int) -> tuple[Image.Image, int]:
        """Image ``i`` (RGB) and its label."""
        shard, offset, length = (int(v) for v in self.spans[i])
        where = f"{self.shards[shard]} (record at byte {offset - 12})"
        try:
            example = tfrecord.parse_example(tfrecord.read_span(self.shards[shard], offset, length))
            data, label = bytes(example["image"][0]), int(example["label"][0])
        except (tfrecord.TFRecordError, KeyError, IndexError) as exc:
            raise UserError(
                f"{where}: not an image example ({exc}); re-make it with {STEP_V2}"
            ) from None
        return open_image(data, where, STEP_V2), label


def open_image(source: Path | bytes, where: str, step: str) -> Image.Image:
    """The image at ``source`` (a file or encoded bytes) as RGB; a one-line error naming
    ``where`` and the set-up ``step`` if it cannot be decoded."""
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
            return img.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(
            f"{where}: not a readable image ({reason}); re-make it with {step}"
        ) from None


def find_root(data_dir: Path | None) -> Path:
    """The folder holding ``train/`` and ``val/``: ``data_dir`` or ``data_dir/imagenet/pytorch``
    (or ``data_dir/pytorch``)."""
    return search_data_dir(
        data_dir,
        needs=f"ImageNet needs --data-dir: the folder imagenet/pytorch that {SETUP} makes "
        "(holding train/, val/ and imagenet_v2/)",
        folders=("imagenet/pytorch", "pytorch"),
        is_root=lambda root: (root / "train").is_dir(),
        missing=lambda data_dir: (
            f"{data_dir / 'train'} not found (nor {data_dir / 'imagenet' / 'pytorch' / 'train'}): "
            f"made by {STEP_TRAIN}; pass --data-dir DATA/imagenet/pytorch"
        ),
    )


def _class_folders(split_dir: Path, step: str) -> list[str]:
    if not split_dir.is_dir():
        raise UserError(f"{split_dir} not found: made by {step}")
    entries = list(os.scandir(split_dir))
    names = sorted(e.name for e in entries if e.is_dir())
    if not names:
        loose = any(e.name.lower().endswith(IMAGE_EXTENSIONS) for e in entries)
        what = "loose images but no class folders" if loose else "no class folders"
        raise UserError(f"{split_dir} holds {what}: made by {step}")
    return names


def index_folder(split_dir: Path, step: str, classes: list[str] | None = None) -> FolderSplit:
    """The images of an ``ImageFolder`` split; its class folders must be ``classes`` if given."""
    found = _class_folders(split_dir, step)
    if classes is not None and found != classes:
        missing, extra = sorted(set(classes) - set(found)), sorted(set(found) - set(classes))
        raise UserError(
            f"{split_dir}: its class folders differ from train's ({len(missing)} missing, e.g. "
            f"{missing[:1]}; {len(extra)} extra, e.g. {extra[:1]}): made by {step}"
        )
    files: list[bytes] = []
    labels: list[int] = []
    for label, wnid in enumerate(found):
        names = sorted(
            e.name
            for e in os.scandir(split_dir / wnid)
            if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS)
        )
        if not names:
            raise UserError(f"{split_dir / wnid} holds no images: made by {step}")
        files.extend(f"{wnid}/{name}".encode() for name in names)
        labels.extend([label] * len(names))
    return FolderSplit(split_dir, found, np.array(files), np.array(labels, dtype=np.int16), step)


def index_imagenet_v2(root: Path) -> RecordSplit:
    """The records of the ImageNet-v2 shards under ``root``."""
    folder = root / V2_DIR
    shards = sorted(folder.glob(V2_GLOB))
    if not shards:
        raise UserError(f"{folder / V2_GLOB} not found: made by {STEP_V2}")
    spans = []
    for k, shard in enumerate(shards):
        try:
            spans.extend((k, offset, length) for offset, length in tfrecord.record_spans(shard))
        except tfrecord.TFRecordError as exc:
            raise UserError(f"{exc}; re-make it with {STEP_V2}") from None
    return RecordSplit(shards, np.array(spans, dtype=np.int64).reshape(-1, 3))


def _check_count(split: str, where: Path, found: int, expected: int, step: str) -> None:
    if found != expected:
        raise UserError(
            f"{where}: {found:,} {split} images where ImageNet has {expected:,}: "
            f"incomplete; re-make it with {step}"
        )


def load_splits(data_dir: Path | None, full: bool = True) -> dict[str, FolderSplit | RecordSplit]:
    """``train``, ``validation`` and ``test`` of the ImageNet under ``data_dir``. With ``full``,
    the class folders must be ImageNet's 1,000 synsets and the splits ImageNet's sizes."""
    root = find_root(data_dir)
    train = index_folder(root / "train", STEP_TRAIN)
    classes = train.classes
    validation = index_folder(root / "val", STEP_VAL, classes)
    test = index_imagenet_v2(root)
    if full:
        odd = [c for c in classes if not _WNID.fullmatch(c)]
        if len(classes) != NUM_CLASSES or odd:
            raise UserError(
                f"{root / 'train'}: {len(classes)} class folders ({len(odd)} not named like "
                f"n01440764) where ImageNet has {NUM_CLASSES} synsets: made by {STEP_TRAIN}"
            )
        _check_count("train", root / "train", len(train), TRAIN_EXAMPLES, STEP_TRAIN)
        _check_count("validation", root / "val", len(validation), VALIDATION_EXAMPLES, STEP_VAL)
        _check_count("test", root / V2_DIR, len(test), TEST_EXAMPLES, STEP_V2)
    elif len(classes) > NUM_CLASSES:
        raise UserError(f"{root / 'train'}: more than {NUM_CLASSES} class folders")
    return {"train": train, "validation": validation, "test": test}


# --- preprocessing ---------------------------------------------------------------------------
BILINEAR = Image.Resampling.BILINEAR


def eval_crop(img: Image.Image) -> np.ndarray:
    """torchvision's ``Resize(256)`` (shorter side, bilinear) then ``CenterCrop(224)``:
    ``(224, 224, 3)`` uint8."""
    w, h = img.size
    if w <= h:
        size = (RESIZE_SIZE, int(RESIZE_SIZE * h / w))
    else:
        size = (int(RESIZE_SIZE * w / h), RESIZE_SIZE)
    img = img.resize(size, BILINEAR)
    left = round((size[0] - CROP_SIZE) / 2.0)
    top = round((size[1] - CROP_SIZE) / 2.0)
    return np.asarray(img.crop((left, top, left + CROP_SIZE, top + CROP_SIZE)))


def crop_box(width: int, height: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """torchvision's ``RandomResizedCrop.get_params``: ``(top, left, height, width)`` of a crop
    of 8-100 % of the area and aspect ratio 3/4-4/3 (log-uniform), ten tries, else the largest
    centred crop within the ratio range."""
    area = height * width
    log_ratio = (math.log(RATIO_RANGE[0]), math.log(RATIO_RANGE[1]))
    for _ in range(10):
        target_area = area * rng.uniform(*SCALE_RANGE)
        aspect_ratio = math.exp(rng.uniform(*log_ratio))
        w = round(math.sqrt(target_area * aspect_ratio))
        h = round(math.sqrt(target_area / aspect_ratio))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    in_ratio = width / height
    if in_ratio < RATIO_RANGE[0]:
        w, h = width, round(width / RATIO_RANGE[0])
    elif in_ratio > RATIO_RANGE[1]:
        w, h = round(height * RATIO_RANGE[1]), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def train_crop(img: Image.Image, rng: np.random.Generator, randaugment: bool) -> np.ndarray:
    """A random resized 224 crop, flipped with probability 1/2, then (``randaugment``)
    RandAugment: ``(224, 224, 3)`` uint8."""
    top, left, h, w = crop_box(*img.size, rng)
    img = img.crop((left, top, left + w, top + h)).resize((CROP_SIZE, CROP_SIZE), BILINEAR)
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if randaugment:
        img = rand_augment(img, rng)
    return np.asarray(img)


@cache
def _keys_cubic_table(a: float = -0.5, steps: int = 1024) -> np.ndarray:
    """TensorFlow's bicubic coefficient table: Keys' kernel at distances ``t`` and ``1 + t``
    for ``t`` in steps of 1/1024."""
    x = np.arange(steps + 1, dtype=np.float32) / steps
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    x = x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.stack([near, far], axis=1).astype(np.float32)


def tf_bicubic_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The ``(n_out, n_in)`` weights of TensorFlow's ``resize_bicubic`` along one axis (half-pixel
    centres, Keys' kernel a = -0.5 from a 1024-step table, taps outside the image dropped and the
    rest renormalised, no antialiasing)."""
    table = _keys_cubic_table()
    scale = np.float32(n_in) / np.float32(n_out)
    centre = (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    base = np.floor(centre).astype(np.int64)
    offset = np.rint((centre - base) * 1024).astype(np.int64)
    weights = np.stack(
        [table[offset, 1], table[offset, 0], table[1024 - offset, 0], table[1024 - offset, 1]], 1
    )
    taps = base[:, None] + np.arange(-1, 3)[None, :]
    weights = np.where((taps >= 0) & (taps < n_in), weights, 0.0)
    weights = weights / weights.sum(axis=1, keepdims=True)
    matrix = np.zeros((n_out, n_in), dtype=np.float32)
    np.add.at(
        matrix,
        (np.repeat(np.arange(n_out), 4), np.clip(taps, 0, n_in - 1).ravel()),
        weights.ravel(),
    )
    return matrix


def tf_eval_crop(img: Image.Image) -> np.ndarray:
    """AlgoPerf's TensorFlow eval preprocessing (its ImageNet-v2 test split): the centred square of
    224/256 of the shorter side, resized to 224 by TensorFlow's bicubic: ``(224, 224, 3)``
    float32 pixels (unclipped, as TensorFlow leaves them)."""
    pixels = np.asarray(img, dtype=np.float32)
    h, w = pixels.shape[:2]
    crop = int(np.float32(CROP_SIZE / RESIZE_SIZE) * np.float32(min(h, w)))
    top, left = (h - crop + 1) // 2, (w - crop + 1) // 2
    pixels = pixels[top : top + crop, left : left + crop]
    matrix = tf_bicubic_matrix(crop, CROP_SIZE)
    rows = np.tensordot(matrix, pixels, axes=(1, 0))  # (224, crop, 3)
    return np.einsum("ow,hwc->hoc", matrix, rows).astype(np.float32)


# --- batches ---------------------------------------------------------------------------------
Example = Callable[[int], tuple[np.ndarray, int]]


@dataclass
class BatchJob:
    """One batch to decode: ``size`` examples, the ``k``-th made by ``example(k)`` (an
    ``(224, 224, 3)`` array of ``dtype``, and its label)."""

    size: int
    example: Example
    dtype: torch.dtype = torch.uint8


@cache
def thread_pool() -> ThreadPoolExecutor:
    """This process's pool of image-decoding threads (one per CPU, at most 32)."""
    return ThreadPoolExecutor(min(32, os.cpu_count() or 1), thread_name_prefix="optbench-images")


def _fill(images: np.ndarray, labels: np.ndarray, example: Example, start: int, stop: int) -> None:
    for k in range(start, stop):
        images[k], labels[k] = example(k)


class Prefetcher(PoolPrefetcher[BatchJob, tuple[torch.Tensor, torch.Tensor]]):
    """``(images, labels)`` of each job, images ``(n, 224, 224, 3)`` and int64 labels, decoded by
    the thread pool in chunks of ``chunk`` examples while the previous ``depth - 1`` batches are
    consumed."""

    def _thread_pool(self) -> ThreadPoolExecutor:
        return thread_pool()

    def _start(self, job: BatchJob) -> tuple[tuple[torch.Tensor, torch.Tensor], int, Fill]:
        shape = (job.size, CROP_SIZE, CROP_SIZE, 3)
        images = torch.empty(shape, dtype=job.dtype, pin_memory=self._pin)
        labels = torch.empty(job.size, dtype=torch.int64)
        fill = partial(_fill, images.numpy(), labels.numpy(), job.example)
        return (images, labels), job.size, fill
