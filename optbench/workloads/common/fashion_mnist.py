"""The Fashion-MNIST workloads' data: standardised images, the same splits for every model."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from optbench.data import fashion_mnist
from optbench.workloads.common.classification import ClassificationWorkload

# size -> (train, validation, test examples): the first ones of each split
SPLIT_SIZES = {"smoke": (5_000, 1_000, 1_000), "mini": (55_000, 5_000, 10_000)}


class FashionMnistWorkload(ClassificationWorkload):
    """Fashion-MNIST classification. Pixels are scaled to [0, 1] and standardised by the mean and
    standard deviation of the train pixels; images are ``(N, 1, 28, 28)``, or ``(N, 784)``
    vectors where ``flatten``; labels int64."""

    data_source = "Fashion-MNIST (Debian dataset-fashion-mnist, MIT)"
    flatten: ClassVar[bool] = False

    def _load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        arrays, self.data_provenance = fashion_mnist.load(
            self._data_dir, self._cache_dir, self._allow_download
        )
        n_train, n_validation, n_test = SPLIT_SIZES[self.size]
        train = torch.from_numpy(np.array(arrays["train_x"][:n_train], np.float32)).div_(255.0)
        self._mean, self._std = train.mean().item(), train.std().item()

        def prep(x: np.ndarray, y: np.ndarray, n: int) -> tuple[torch.Tensor, torch.Tensor]:
            pixels = torch.from_numpy(np.array(x[:n], np.float32)).div_(255.0)
            images = pixels.sub_(self._mean).div_(self._std)
            images = images.reshape(n, -1) if self.flatten else images.unsqueeze(1)
            return images, torch.from_numpy(np.array(y[:n], np.int64))

        return {
            "train": prep(arrays["train_x"], arrays["train_y"], n_train),
            "validation": prep(arrays["validation_x"], arrays["validation_y"], n_validation),
            "test": prep(arrays["test_x"], arrays["test_y"], n_test),
        }
