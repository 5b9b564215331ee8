"""``fmnist_mlp``: an MLP on Fashion-MNIST, the analogue of AlgoPerf's ``mnist`` dev workload."""

from __future__ import annotations

from torch import nn

from optbench.workloads.common.fashion_mnist import FashionMnistWorkload

# size -> hidden width
_WIDTH = {"smoke": 64, "mini": 256}


class FashionMnistMlp(FashionMnistWorkload):
    """784-H-H-10 ReLU MLP with dropout (H=256; 64 at the smoke size) on standardised pixels."""

    name = "fmnist_mlp"
    algoperf_name = "mnist"
    description = "MLP (784-256-256-10, ReLU) on Fashion-MNIST"
    output_layer = "6"  # index of the last Linear in the Sequential
    flatten = True
    activation: type[nn.Module] = nn.ReLU

    def _build_model(self) -> nn.Module:
        width = _WIDTH[self.size]
        return nn.Sequential(
            nn.Linear(784, width),
            self.activation(),
            nn.Dropout(0.0),
            nn.Linear(width, width),
            self.activation(),
            nn.Dropout(0.0),
            nn.Linear(width, 10),
        )
