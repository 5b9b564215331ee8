"""``fmnist_mlp``: an MLP on Fashion-MNIST, the analogue of AlgoPerf's ``mnist`` dev workload."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from optbench.data import fashion_mnist
from optbench.workloads.base import ClassificationWorkload

# size -> (train examples used, validation examples, test examples, hidden width)
_SIZES = {"smoke": (5_000, 1_000, 1_000, 64), "mini": (55_000, 5_000, 10_000, 256)}


class FashionMnistMlp(ClassificationWorkload):
    """784-H-H-10 ReLU MLP with dropout (H=256; 64 at the smoke size), batch-normalised inputs."""

    name = "fmnist_mlp"
    algoperf_name = "mnist"
    description = "MLP (784-256-256-10, ReLU) on Fashion-MNIST"
    data_source = "Fashion-MNIST (Debian dataset-fashion-mnist, MIT)"
    output_layer = "6"  # index of the last Linear in the Sequential
    activation: type[nn.Module] = nn.ReLU

    def _load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        arrays, self.data_provenance = fashion_mnist.load(
            self._data_dir, self._cache_dir, self._allow_download
        )
        n_train, n_val, n_test, _ = _SIZES[self.size]
        train_x = torch.from_numpy(np.array(arrays["train_x"][:n_train], np.float32)).div_(255.0)
        self._mean, self._std = train_x.mean().item(), train_x.std().item()

        def prep(x, y, n):
            x = (
                torch.from_numpy(np.array(x[:n], np.float32))
                .div_(255.0)
                .sub_(self._mean)
                .div_(self._std)
            )
            return x.reshape(len(x), -1), torch.from_numpy(np.array(y[:n], np.int64))

        return {
            "train": prep(arrays["train_x"], arrays["train_y"], n_train),
            "validation": prep(arrays["validation_x"], arrays["validation_y"], n_val),
            "test": prep(arrays["test_x"], arrays["test_y"], n_test),
        }

    def _build_model(self) -> nn.Module:
        width = _SIZES[self.size][3]
        return nn.Sequential(
            nn.Linear(784, width),
            self.activation(),
            nn.Dropout(0.0),
            nn.Linear(width, width),
            self.activation(),
            nn.Dropout(0.0),
            nn.Linear(width, 10),
        )
