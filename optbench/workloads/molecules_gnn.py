"""``molecules_gnn``: a message-passing GNN predicting 32 binary molecular properties (MOSES +
RDKit), the analogue of AlgoPerf's ``ogbg`` (GNN on ogbg-molpcba, sigmoid cross-entropy, mean
average precision over tasks, masked labels).

Batches: ``inputs`` node features (nodes, 22), ``edge_index`` (2, edges) into the batch's nodes,
``edge_features`` (edges, 6), ``node_graph`` (nodes,) the graph of each node, ``targets`` (B, 32)
0/1 and ``weights`` (B, 32) 0/1 (0 = masked label). As in AlgoPerf's ogbg, ``loss_fn`` returns
per-(example, task) losses and counts the unmasked labels as ``n_valid_examples``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from optbench import spec
from optbench.data import molecules
from optbench.workloads.common.average_precision import mean_average_precision
from optbench.workloads.common.losses import sigmoid_cross_entropy
from optbench.workloads.split_object import SplitObjectWorkload
from optbench.workloads.variants import variant

# size -> (train, validation, test molecules, hidden width, message-passing layers)
_SIZES = {"smoke": (2_000, 500, 500, 32, 2), "mini": (20_000, 2_000, 2_000, 128, 4)}
_NUM_TASKS = len(molecules.TASKS)


class _GinLayer(nn.Module):
    """GINE-style message passing: h' = h + MLP(h + sum_j relu(h_j + W e_ij))."""

    def __init__(self, width: int, activation: type[nn.Module]) -> None:
        super().__init__()
        self.edge = nn.Linear(molecules.EDGE_FEATURES, width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 2 * width),
            nn.LayerNorm(2 * width),
            activation(),
            nn.Linear(2 * width, width),
        )
        self.norm = nn.LayerNorm(width)
        self.act = activation()
        self.dropout = nn.Dropout(0.0)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, edge_feats: torch.Tensor):
        src, dst = edge_index
        messages = F.relu(h[src] + self.edge(edge_feats))
        aggregated = torch.zeros_like(h).index_add_(0, dst, messages)
        return h + self.dropout(self.act(self.norm(self.mlp(h + aggregated))))


class GinNet(nn.Module):
    """Node encoder, ``depth`` GINE layers, sum + mean pooling per graph, MLP head to the tasks."""

    def __init__(self, width: int, depth: int, activation: type[nn.Module]) -> None:
        super().__init__()
        self.encoder = nn.Linear(molecules.NODE_FEATURES, width)
        self.layers = nn.ModuleList(_GinLayer(width, activation) for _ in range(depth))
        self.head = nn.Sequential(nn.Linear(2 * width, width), activation(), nn.Dropout(0.0))
        self.output = nn.Linear(width, _NUM_TASKS)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        h = self.encoder(batch["inputs"])
        for layer in self.layers:
            h = layer(h, batch["edge_index"], batch["edge_features"])
        graph, n = batch["node_graph"], len(batch["targets"])
        summed = h.new_zeros(n, h.shape[1]).index_add_(0, graph, h)
        counts = torch.bincount(graph, minlength=n).clamp_min(1).unsqueeze(1).to(h.dtype)
        # Sum pooling scaled down (molecules have ~20-30 atoms) keeps the head's input O(1).
        pooled = torch.cat([summed / 16.0, summed / counts], dim=1)
        return self.output(self.head(pooled))


class _GraphSplit:
    """One split's concatenated graphs as tensors, with O(1)-in-Python batch assembly."""

    def __init__(self, arrays: Mapping[str, np.ndarray], prefix: str, device: torch.device):
        def t(name, dtype):
            return torch.from_numpy(np.asarray(arrays[f"{prefix}_{name}"])).to(device, dtype)

        self.nodes = t("node_features", torch.float32)
        self.edges = t("edge_index", torch.long)
        self.edge_feats = t("edge_features", torch.float32)
        self.labels = t("labels", torch.float32)
        self.weights = t("weights", torch.float32)
        self.node_counts = t("node_counts", torch.long)
        self.edge_counts = t("edge_counts", torch.long)
        self.node_start = torch.cumsum(self.node_counts, 0) - self.node_counts
        self.edge_start = torch.cumsum(self.edge_counts, 0) - self.edge_counts

    def __len__(self) -> int:
        return len(self.labels)

    @staticmethod
    def _ranges(starts: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        owner = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)
        offsets = torch.cumsum(counts, 0) - counts
        local = torch.arange(int(counts.sum()), device=counts.device) - offsets[owner]
        return starts[owner] + local, owner

    def batch(self, idx: np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
        """The graphs ``idx`` as one disjoint-union graph (AlgoPerf batch keys plus graph keys)."""
        idx = torch.as_tensor(idx, device=self.node_counts.device)
        node_counts = self.node_counts[idx]
        nodes, node_graph = self._ranges(self.node_start[idx], node_counts)
        edges, edge_graph = self._ranges(self.edge_start[idx], self.edge_counts[idx])
        batch_offsets = torch.cumsum(node_counts, 0) - node_counts
        return {
            "inputs": self.nodes[nodes],
            "edge_index": self.edges[:, edges] + batch_offsets[edge_graph],
            "edge_features": self.edge_feats[edges],
            "node_graph": node_graph,
            "targets": self.labels[idx],
            "weights": self.weights[idx],
        }


class MoleculesGnn(SplitObjectWorkload):
    """GINE network (4 layers, width 128; 2 x 32 at smoke size) on MOSES molecules, 32 tasks."""

    name = "molecules_gnn"
    algoperf_name = "ogbg"
    description = "GIN message-passing network (4 x 128) on MOSES molecules, 32 RDKit-derived tasks"
    data_source = "MOSES SMILES (PyPI molsets 0.3.1, MIT) featurised and labelled with RDKit (BSD)"
    output_layer = "output"
    activation: type[nn.Module] = nn.ReLU

    target_metric_name = "mean_average_precision"
    loss_type = spec.LossType.SIGMOID_CROSS_ENTROPY
    eval_batch_size = 128

    # --- data ---------------------------------------------------------------------------------
    def _load_splits(self) -> dict[str, _GraphSplit]:
        """Featurise (or read from the cache) the molecules of this size."""
        n_train, n_val, n_test = _SIZES[self.size][:3]
        arrays, self.data_provenance = molecules.load(n_train, n_val, n_test, self._cache_dir)
        return {s: _GraphSplit(arrays, s, self.device) for s in ("train", "validation", "test")}

    # --- model --------------------------------------------------------------------------------
    def _build_model(self) -> nn.Module:
        _, _, _, width, depth = _SIZES[self.size]
        return GinNet(width, depth, self.activation)

    def _forward(self, model: nn.Module, batch: Mapping[str, Any]) -> torch.Tensor:
        """Logits (B, 32) of a batch of graphs (the model needs the edges and graph ids too)."""
        return model(batch)

    def _per_example_loss(
        self, labels: torch.Tensor, logits: torch.Tensor, label_smoothing: float
    ) -> torch.Tensor:
        """Sigmoid cross-entropy per (example, task) (AlgoPerf's ogbg; masked by ``weights``)."""
        return sigmoid_cross_entropy(logits, labels, label_smoothing)

    # --- evaluation ---------------------------------------------------------------------------
    def _eval_split(
        self, split: str, params: nn.Module, model_state: Any, rng: Any, batch_size: int
    ) -> tuple[dict[str, float], int]:
        """Mean average precision and mean masked loss."""
        out, y, w = self._eval_concatenated(
            split, params, model_state, rng, batch_size, "targets", "weights"
        )
        losses = self.loss_fn(y, out, w)
        loss = (losses["summed"] / losses["n_valid_examples"]).item()
        return {
            "loss": loss if math.isfinite(loss) else math.nan,
            "mean_average_precision": mean_average_precision(
                out.cpu().numpy(), y.cpu().numpy(), w.cpu().numpy()
            ),
        }, len(y)


MoleculesGnnGelu = variant(
    MoleculesGnn, "gelu", "GELU instead of ReLU in the node MLPs and the head", activation=nn.GELU
)
