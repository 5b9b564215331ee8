"""The training input queue every workload draws its batches from.

One order of examples for every kind of workload: a fresh permutation per epoch from a torch
generator seeded by the data RNG key, cut into whole batches (the last partial batch dropped).
A workload turns each batch of indices into its batch (tensor indexing, or a split object's
``batch(indices)``).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from optbench import prng, spec
from optbench.errors import UserError


def batch_indices(
    data_rng: spec.RandomState, n: int, batch_size: int, split: str = "train"
) -> Iterator[torch.Tensor]:
    """Index batches (CPU int64 tensors of ``batch_size``) of shuffled epochs over ``n`` examples,
    forever, deterministic per ``data_rng``; a one-line error if a batch exceeds the split."""
    if batch_size > n:
        raise UserError(f"batch size {batch_size} exceeds the {n} {split} examples")
    generator = torch.Generator().manual_seed(prng.to_seed(data_rng))
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start : start + batch_size]
