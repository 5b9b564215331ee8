"""What AlgoPerf's ImageNet workloads share: the data (:mod:`optbench.data.imagenet`), softmax
cross-entropy with label smoothing, accuracy, and the size ``full``.

- **Splits**: train (1,281,167 images), validation (ImageNet's 50,000 val images) and test
  (ImageNet-v2, 10,000); eval-train is a fixed subset of train (the first
  ``num_eval_train_examples`` of a seed-0 permutation), which is AlgoPerf's validation size
  rounded up to a multiple of its eval batch size (50,176 for the ResNet, 51,200 for the ViT),
  read with the eval preprocessing.
- **Input queue**: the training images in a fresh torch permutation per epoch (the one input
  queue of every workload, :func:`~optbench.workloads.input_queue.batch_indices`), decoded and
  augmented while the previous batch trains, normalised on the workload's device by AlgoPerf's
  mean ``(0.485, 0.456, 0.406) x 255`` and standard deviation ``(0.229, 0.224, 0.225) x 255``.
  Workloads with ``mixup_and_randaugment`` (the ViTs, as in AlgoPerf) add RandAugment per image
  and mixup per batch (a Beta(0.2, 0.2) weight mixes each example with the previous one of the
  batch; targets become the mixed one-hot vectors).
- **Loss**: softmax cross-entropy per example with optional label smoothing (AlgoPerf's
  ``F.cross_entropy(..., label_smoothing=...)``), on integer labels or on mixed one-hot targets.
- **Metrics**: ``accuracy`` (top-1; AlgoPerf's targets are ``1 - error rate``) and ``loss``
  (cross-entropy without smoothing), on every split.

**Size.** These workloads have the one size ``full`` (AlgoPerf's ImageNet, its targets and
budgets), listed in ``sizes``. Until :class:`~optbench.workloads.base.TorchWorkload` knows
per-workload sizes, the constructor checks the size itself.

**``reduced``** (tests only): a narrow, shallow network (``ResNetConfig.reduced``,
``ViTConfig.reduced``) and any number of classes and images, so that a test can train a step on
a few generated JPEGs in the real layout; ImageNet's folder names and split sizes are checked
only without it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from optbench import prng, spec
from optbench.data import imagenet
from optbench.workloads.full_size import FULL, FullSizeWorkload
from optbench.workloads.input_queue import batch_indices
from optbench.workloads.targets import Settings

MIXUP_ALPHA = 0.2


class ImageNetWorkload(FullSizeWorkload):
    """AlgoPerf's ImageNet classification (see the module docstring); subclasses name the
    ``network`` class and its ``config`` (a variant changes the config)."""

    target_metric_name = "accuracy"
    loss_type = spec.LossType.SOFTMAX_CROSS_ENTROPY
    data_source = (
        "ImageNet ILSVRC-2012 (train/val JPEGs as AlgoPerf's dataset_setup.py leaves them for "
        "PyTorch); test: ImageNet-v2 matched frequency (TFDS records)"
    )
    # Examples per eval batch on one device: the metrics do not depend on it. AlgoPerf's own
    # (global, over 8 GPUs) sets only the eval-train size.
    eval_batch_size = 256
    algoperf_eval_batch_size: ClassVar[int] = 1024
    mixup_and_randaugment: ClassVar[bool] = False
    extra_properties: ClassVar[dict[str, str]] = {"reduced": "reduced"}
    network: ClassVar[Callable[[Any], nn.Module]]
    config: ClassVar[Any]

    def __init__(
        self,
        size: str = FULL,
        *,
        data_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
        allow_download: bool = False,
        device: str | torch.device = "cpu",
        settings: Settings | None = None,
        reduced: bool = False,
    ) -> None:
        super().__init__(  # a one-line error for any size but full
            size,
            data_dir=data_dir,
            cache_dir=cache_dir,
            allow_download=allow_download,
            device=device,
            settings=settings,
        )
        self.reduced = reduced

    def _build_model(self) -> nn.Module:
        return self.network(self.config.reduced() if self.reduced else self.config)

    # --- data ---------------------------------------------------------------------------------
    def load_data(self) -> None:
        """Index the splits (file names and labels; images are read as batches need them)."""
        if self._splits is None:
            self._splits = imagenet.load_splits(self._data_dir, full=not self.reduced)
            train = self._splits["train"]
            self.data_provenance = {
                "root": str(train.root.parent),
                "classes": len(train.classes),
                **{f"{split}_examples": len(self._splits[split]) for split in self._splits},
            }

    @property
    def train_mean(self) -> tuple[float, float, float]:
        return imagenet.MEAN_RGB

    @property
    def train_stddev(self) -> tuple[float, float, float]:
        return imagenet.STDDEV_RGB

    def _eval_ids(self, split: str) -> np.ndarray:
        """The examples an eval of ``split`` reads: eval-train's fixed subset of train (sorted),
        every example otherwise."""
        if split != "eval_train":
            return np.arange(self._split_size(split))
        order = torch.randperm(self.num_train_examples, generator=torch.Generator().manual_seed(0))
        return np.sort(order[: self.num_eval_train_examples].numpy())

    def _normalise(self, images: torch.Tensor) -> torch.Tensor:
        """``(n, 224, 224, 3)`` pixels (0-255) as normalised ``(n, 3, 224, 224)`` float32 on the
        workload's device."""
        x = images.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float()
        mean = torch.tensor(imagenet.MEAN_RGB, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(imagenet.STDDEV_RGB, device=self.device).view(1, 3, 1, 1)
        return ((x - mean) / std).contiguous()

    def _batches(self, jobs: Iterator[imagenet.BatchJob]) -> Iterator[dict[str, torch.Tensor]]:
        pin = self.device.type == "cuda"
        for images, labels in imagenet.Prefetcher(jobs, pin_memory=pin):
            yield {"inputs": self._normalise(images), "targets": labels.to(self.device)}

    def _train_job(self, ids: np.ndarray, seed: int, batch: int) -> imagenet.BatchJob:
        source, randaugment = self._split("train"), self.mixup_and_randaugment

        def example(k: int) -> tuple[np.ndarray, int]:
            image, label = source.example(int(ids[k]))
            rng = np.random.default_rng([seed, batch, k])
            return imagenet.train_crop(image, rng, randaugment), label

        return imagenet.BatchJob(len(ids), example)

    def _eval_job(self, split: str, ids: np.ndarray) -> imagenet.BatchJob:
        source = self._split(split)
        crop = imagenet.tf_eval_crop if split == "test" else imagenet.eval_crop

        def example(k: int) -> tuple[np.ndarray, int]:
            image, label = source.example(int(ids[k]))
            return crop(image), label

        dtype = torch.float32 if split == "test" else torch.uint8
        return imagenet.BatchJob(len(ids), example, dtype)

    def _queue(
        self, data_rng: spec.RandomState, split: str, global_batch_size: int
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Training batches, forever (see the module docstring); another split's batches in
        order with its eval preprocessing, repeated forever."""
        if split != "train":
            return self._repeated_eval_batches(split, global_batch_size)
        return TrainQueue(self, data_rng, global_batch_size)

    def synthetic_batch(self, batch_size: int, seed: int = 0) -> dict[str, Any]:
        """Random normalised 224 x 224 images and class labels (no mixup or augmentation)."""
        g = torch.Generator().manual_seed(seed)
        batch = {
            "inputs": torch.randn(batch_size, 3, 224, 224, generator=g),
            "targets": torch.randint(0, imagenet.NUM_CLASSES, (batch_size,), generator=g),
        }
        return {k: v.to(self.device) for k, v in batch.items()}

    def _mixup(
        self, batch: dict[str, torch.Tensor], rng: np.random.Generator
    ) -> dict[str, torch.Tensor]:
        """AlgoPerf's mixup: one Beta(0.2, 0.2) weight per batch; each example and its one-hot
        target mixed with those of the previous example (the first with the last)."""
        weight = float(rng.beta(MIXUP_ALPHA, MIXUP_ALPHA))
        inputs, targets = batch["inputs"], F.one_hot(batch["targets"], imagenet.NUM_CLASSES)
        targets = targets.float()
        return {
            "inputs": weight * inputs + (1.0 - weight) * torch.roll(inputs, 1, dims=0),
            "targets": weight * targets + (1.0 - weight) * torch.roll(targets, 1, dims=0),
        }

    def _eval_batches(self, split: str, batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        """The examples an eval of ``split`` reads, ``batch_size`` at a time."""
        ids = self._eval_ids(split)
        source = "train" if split == "eval_train" else split
        spans = range(0, len(ids), batch_size)
        yield from self._batches(self._eval_job(source, ids[s : s + batch_size]) for s in spans)

    def _repeated_eval_batches(
        self, split: str, batch_size: int
    ) -> Iterator[dict[str, torch.Tensor]]:
        while True:
            yield from self._eval_batches(split, batch_size)

    # --- loss and metrics -----------------------------------------------------------------------
    def _per_example_loss(
        self, labels: torch.Tensor, logits: torch.Tensor, label_smoothing: float
    ) -> torch.Tensor:
        """Cross-entropy per example with label smoothing, of integer labels or (mixup) of
        target distributions."""
        target = labels if labels.is_floating_point() else labels.long()
        return F.cross_entropy(logits, target, reduction="none", label_smoothing=label_smoothing)

    def _batch_metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        loss = F.cross_entropy(logits.float(), targets.long(), reduction="sum").item()
        correct = (logits.argmax(dim=-1) == targets).sum().item()
        return {"accuracy": float(correct), "loss": loss if math.isfinite(loss) else math.nan}

    def _eval_split(
        self, split: str, params: torch.nn.Module, model_state: Any, rng: Any, batch_size: int
    ) -> tuple[dict[str, float], int]:
        """Accuracy and loss on one split (sums over its batches divided by its size)."""
        sums = {"accuracy": 0.0, "loss": 0.0}
        for batch in self._eval_batches(split, batch_size):
            logits = self._eval_logits(params, batch, model_state, rng)
            for k, v in self._batch_metrics(logits, batch["targets"]).items():
                sums[k] += v
        n = self._split_size(split)
        return {k: v / n for k, v in sums.items()}, n


class TrainQueue(Iterator[dict[str, torch.Tensor]]):
    """A workload's training batches: the shuffled index batches of ``data_rng`` (the torch
    permutation of :func:`~optbench.workloads.input_queue.batch_indices`), each image augmented
    with draws seeded by ``(augmentation seed, batch number, position)`` and, for the ViTs, each
    batch mixed up with a weight seeded by ``(augmentation seed, batch number)``.

    :meth:`skip` passes over batches without reading their images, so a resumed trial can
    rejoin its queue where it left it at the cost of drawing permutations only."""

    def __init__(
        self, workload: ImageNetWorkload, data_rng: spec.RandomState, batch_size: int
    ) -> None:
        self._workload = workload
        self._seed = prng.to_seed(prng.fold_in(data_rng, 1))  # the shuffle uses data_rng itself
        self._indices = batch_indices(data_rng, workload.num_train_examples, batch_size, "train")
        self._next_batch = 0
        self._batches: Iterator[dict[str, torch.Tensor]] | None = None

    def skip(self, n: int) -> None:
        """Pass over the next ``n`` batches (before the first batch is drawn)."""
        if self._batches is not None:
            raise RuntimeError("TrainQueue.skip must come before the first batch")
        for _ in range(n):
            next(self._indices)
        self._next_batch += n

    def __next__(self) -> dict[str, torch.Tensor]:
        workload, seed = self._workload, self._seed
        if self._batches is None:
            numbered = enumerate(self._indices, start=self._next_batch)
            jobs = (workload._train_job(idx.numpy(), seed, b) for b, idx in numbered)
            self._batches = workload._batches(jobs)
        batch = next(self._batches)
        if workload.mixup_and_randaugment:
            batch = workload._mixup(batch, np.random.default_rng([seed, self._next_batch]))
        self._next_batch += 1
        return batch
