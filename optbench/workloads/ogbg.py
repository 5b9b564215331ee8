"""``ogbg`` (and its variants): AlgoPerf's ogbg-molpcba workload at its own size (``full``).

AlgoPerf's graph network (:mod:`optbench.models.gnn`: 5 message-passing steps of width 256)
predicts the 128 PubChem assay outcomes of every molecule of ogbg-molpcba, read without
TensorFlow from OGB's raw files (:mod:`optbench.data.ogbg`) and batched as AlgoPerf's pipeline
batches them: molecules added to a batch while it stays within 26 x ``b`` atoms, 56 x ``b``
directed bonds and ``b`` molecules, then padded to exactly that size plus one padding graph
(``b``: the batch size, per data-parallel rank). Targets, budget, eval period and step hint are
AlgoPerf's (``targets/ogbg*.json``, sources stated there).

Batches (a dict of tensors, so data-parallel ranks each take a contiguous part): ``inputs`` node
features (nodes, 9) float32, ``edges`` (edges, 3) float32, ``senders`` and ``receivers`` (edges,)
int64, ``n_node`` and ``n_edge`` (graphs,) int64 (AlgoPerf's ``GraphsTuple`` fields under these
names), ``targets`` (graphs, 128) float32 and ``weights`` (graphs, 128) bool (AlgoPerf's PyTorch
dtype), 0/False for unmeasured labels and padding graphs. Logits are (graphs, 128).

Loss (AlgoPerf's ``_binary_cross_entropy_with_mask``): sigmoid cross-entropy per (molecule,
task), labels smoothed to ``(1 - s) y + s / 128``, zero where ``weights`` is False;
``n_valid_examples`` is the number of measured labels. Metrics on eval-train, validation and
test: ``mean_average_precision`` (the average precision of every task over its measured labels,
on float32 sigmoid probabilities as AlgoPerf computes it, tied probabilities one threshold as
sklearn's ``average_precision_score``; tasks without both classes skipped; the mean over the
others), ``loss`` (mean over the measured labels, unsmoothed) and ``accuracy`` (the measured
labels whose logit's sign matches, as AlgoPerf reports it).

Training order: the training molecules in a fresh permutation per epoch (from the data RNG, as
every workload's input queue), the epochs one continuous stream (AlgoPerf: a shuffled, repeated
TFDS stream). Eval-train: a fixed subset of train (the first ``num_eval_train_examples`` of a
seed-0 permutation, AlgoPerf's 43,793), every split evaluated whole, once, in batches of
``eval_batch_size`` graphs.

``test_width`` (test-only, never for results): ``latent_dim`` and every hidden width instead of
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

from optbench import distributed, prng, spec
from optbench.data import ogbg as data
from optbench.data.cache import default_cache_dir
from optbench.data.criteo import prefetch
from optbench.models.gnn import DROPOUT_RATE, GNN, Graphs
from optbench.workloads.common.average_precision import mean_average_precision
from optbench.workloads.common.losses import loss_dict
from optbench.workloads.full_size import FULL, FullSizeWorkload
from optbench.workloads.variants import variant

EVAL_TRAIN_SEED = 0
GRAPH_KEYS = ("inputs", "edges", "senders", "receivers", "n_node", "n_edge")


def _to_torch(batch: Mapping[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v).to(device) for k, v in batch.items()}


class Ogbg(FullSizeWorkload):
    """AlgoPerf's ``ogbg`` at full size (see the module docstring)."""

    name = "ogbg"
    algoperf_name = "ogbg"
    description = "AlgoPerf's GNN (5 message-passing steps, width 256) on ogbg-molpcba, 128 tasks"
    data_source = "ogbg-molpcba (Open Graph Benchmark, from PubChem BioAssay), OGB's raw CSV files"
    target_metric_name = "mean_average_precision"
    loss_type = spec.LossType.SIGMOID_CROSS_ENTROPY
    # Graphs per eval batch: AlgoPerf's 32,768 split over its 8 GPUs (it changes only the cost).
    eval_batch_size = 4096
    activation_fn_name: ClassVar[str] = "relu"
    latent_dim: ClassVar[int] = 256
    hidden_dims: ClassVar[tuple[int, ...]] = (256,)
    num_message_passing_steps: ClassVar[int] = 5
    output_layer = "decoder"
    default_dropout_rate = DROPOUT_RATE

    def __init__(self, size: str = FULL, *, test_width: int | None = None, **kwargs: Any) -> None:
        super().__init__(size, test_width=test_width, **kwargs)
        self._molecules: data.Molecules | None = None

    # --- data ---------------------------------------------------------------------------------
    def _load_splits(self) -> dict[str, np.ndarray]:
        """The molecule ids of every split (eval-train: a fixed subset of train)."""
        root = data.find_root(self._data_dir)
        molecules, self.data_provenance = data.load(root, self._cache_dir or default_cache_dir())
        self._molecules = molecules
        splits = dict(molecules.splits)
        n = min(len(splits["train"]), len(splits["validation"]))
        order = np.random.default_rng(EVAL_TRAIN_SEED).permutation(len(splits["train"]))
        splits["eval_train"] = splits["train"][np.sort(order[:n])]
        return splits

    def _split(self, split: str) -> np.ndarray:
        self.load_data()
        assert self._splits is not None
        return self._splits[split]  # eval-train is a subset of its own

    def _split_size(self, split: str) -> int:
        return len(self._split(split))

    @property
    def num_eval_train_examples(self) -> int:
        return self._split_size("eval_train")

    def _train_chunks(self, data_rng: spec.RandomState) -> Iterator[np.ndarray]:
        """The training molecules, a fresh torch permutation per epoch, forever."""
        ids = self._split("train")
        generator = torch.Generator().manual_seed(prng.to_seed(data_rng))
        while True:
            yield ids[torch.randperm(len(ids), generator=generator).numpy()]

    def _queue(
        self, data_rng: spec.RandomState, split: str, global_batch_size: int
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Training: batches of ``global_batch_size`` graphs at most, padded (one shard per
        data-parallel rank), assembled ahead in a background thread. Other splits: their
        batches in order, repeated (AlgoPerf cycles them too)."""
        if split != "train":
            while True:
                yield from self._eval_batches(split, global_batch_size)
        shards = distributed.world()
        budget = data.Budget.for_batch(global_batch_size, shards)
        self.load_data()
        assert self._molecules is not None
        batches = data.global_batches(self._molecules, self._train_chunks(data_rng), budget, shards)
        for batch in prefetch(batches):
            yield _to_torch(batch, self.device)

    def _eval_batches(self, split: str, batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        """The split's molecules once, in order, in padded batches of ``batch_size`` graphs (of
        fewer for a split smaller than a batch, so that a small split is not padded to a whole
        batch: the metrics are the same)."""
        ids = self._split(split)
        assert self._molecules is not None
        budget = data.Budget.for_batch(min(batch_size, data.graphs_to_hold(self._molecules, ids)))
        for batch in data.global_batches(self._molecules, iter([ids]), budget):
            yield _to_torch(batch, self.device)

    def synthetic_batch(self, batch_size: int, seed: int = 0) -> dict[str, Any]:
        """The first padded batch of random molecule-like graphs (:func:`data.synthetic_molecules`)
        for a batch size of ``batch_size``."""
        molecules = data.synthetic_molecules(batch_size + 1, seed)
        budget = data.Budget.for_batch(batch_size)
        chunks = iter([np.arange(len(molecules))])
        return _to_torch(next(data.global_batches(molecules, chunks, budget)), self.device)

    # --- model, loss, metrics -----------------------------------------------------------------
    def _build_model(self) -> nn.Module:
        width = self.test_width
        return GNN(
            num_outputs=data.NUM_TASKS,
            activation_fn_name=self.activation_fn_name,
            latent_dim=width or self.latent_dim,
            hidden_dims=tuple(width for _ in self.hidden_dims) if width else self.hidden_dims,
            num_message_passing_steps=self.num_message_passing_steps,
        )

    def _forward(self, model: nn.Module, batch: Mapping[str, Any]) -> torch.Tensor:
        """Logits (graphs, 128) of a padded batch of graphs."""
        return model(Graphs(*(batch[k] for k in GRAPH_KEYS)))

    def _per_example_loss(
        self, labels: torch.Tensor, logits: torch.Tensor, label_smoothing: float
    ) -> torch.Tensor:
        """Sigmoid cross-entropy per (graph, task), labels smoothed as AlgoPerf's ogbg:
        ``(1 - s) y + s / num_tasks`` (towards 1/128, not 1/2)."""
        targets = labels.float()
        if label_smoothing:
            targets = (1.0 - label_smoothing) * targets + label_smoothing / targets.shape[-1]
        return F.binary_cross_entropy_with_logits(logits.float(), targets, reduction="none")

    def loss_fn(
        self,
        label_batch: torch.Tensor,
        logits_batch: torch.Tensor,
        mask_batch: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> dict[str, torch.Tensor]:
        """AlgoPerf's ogbg loss dict: ``per_example`` (graphs, 128), zero where ``mask_batch``
        (the batch's ``weights``) is False (a ``torch.where``, so no NaN leaks from masked
        entries); ``n_valid_examples`` the number of unmasked labels (all of them without a
        mask)."""
        per_example = self._per_example_loss(label_batch, logits_batch, label_smoothing)
        if mask_batch is None:
            n_valid = torch.as_tensor(per_example.numel(), device=per_example.device)
        else:
            mask = mask_batch.reshape(per_example.shape).bool()
            per_example = torch.where(mask, per_example, torch.zeros_like(per_example))
            n_valid = mask.sum()
        return loss_dict(per_example, n_valid)

    def _eval_split(
        self, split: str, params: nn.Module, model_state: Any, rng: Any, batch_size: int
    ) -> tuple[dict[str, float], int]:
        """Mean average precision, loss and accuracy over the split's measured labels."""
        out, y, w = self._eval_concatenated(
            split, params, model_state, rng, batch_size, "targets", "weights"
        )
        n_valid = w.sum().item()
        losses = self.loss_fn(y, out, w)["per_example"]
        loss = losses.double().sum().item() / n_valid if n_valid else math.nan
        correct = ((out > 0).float() == y) & w
        probabilities = torch.sigmoid(out).cpu().numpy()
        return {
            "loss": loss if math.isfinite(loss) else math.nan,
            "accuracy": correct.sum().item() / n_valid if n_valid else math.nan,
            "mean_average_precision": mean_average_precision(
                probabilities, y.cpu().numpy(), w.cpu().numpy()
            ),
        }, self._split_size(split)


OgbgGelu = variant(
    Ogbg,
    "gelu",
    "GELU (tanh approximation) instead of ReLU in every MLP",
    activation_fn_name="gelu",
)
OgbgSilu = variant(Ogbg, "silu", "SiLU instead of ReLU in every MLP", activation_fn_name="silu")
OgbgModelSize = variant(
    Ogbg,
    "model_size",
    "latent width 128, hidden widths (256, 256) and 3 message-passing steps",
    latent_dim=128,
    hidden_dims=(256, 256),
    num_message_passing_steps=3,
)
