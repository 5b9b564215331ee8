"""A data-parallel step of a full-size workload: two gloo ranks, each on its half of a global
batch whose valid tokens fall unevenly between them, take the step one process takes on the
whole batch (issue 18)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from optbench import distributed, prng
from optbench.algorithms.recipe import Recipe
from optbench.workloads import get_workload

WIDTH, BATCH = 16, 4


def _batch(workload) -> dict[str, torch.Tensor]:
    batch = workload.synthetic_batch(BATCH, seed=1)
    batch["weights"][:2, 40:] = 0  # rank 0's rows hold far fewer valid tokens than rank 1's
    return batch


def _step(rank: int, world: int, out: str) -> None:
    """One SGD step of wmt at a test width with the baselines' loss; parameters saved to out."""
    torch.set_num_threads(1)
    workload = get_workload("wmt", "full", test_width=WIDTH)
    model, state = workload.init_model_fn(prng.key(0), dropout_rate=0.0)
    batch = _batch(workload)
    if world > 1:
        init = f"file://{out}.rendezvous"
        dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
        batch = distributed.shard(batch, rank, world)
        model = DistributedDataParallel(model)
    loss, _ = Recipe._loss(workload, model, state, batch, prng.key(2), None)
    loss.backward()
    torch.optim.SGD(model.parameters(), lr=1.0).step()
    if rank == 0:
        torch.save({k: v.detach() for k, v in model.named_parameters()}, out)
    if world > 1:
        dist.destroy_process_group()


def test_two_gloo_ranks_take_the_one_process_step(tmp_path: Path):
    single, ranks = str(tmp_path / "one.pt"), str(tmp_path / "two.pt")
    _step(0, 1, single)
    os.environ.pop("RANK", None)
    mp.spawn(_step, args=(2, ranks), nprocs=2, join=True)
    one, two = torch.load(single), torch.load(ranks)
    two = {k.removeprefix("module."): v for k, v in two.items()}
    assert one.keys() == two.keys()
    start, _ = get_workload("wmt", "full", test_width=WIDTH).init_model_fn(prng.key(0))
    for key, _ in start.named_parameters():
        torch.testing.assert_close(two[key], one[key], rtol=1e-5, atol=1e-6, msg=key)
    assert not torch.equal(one["shared_embedding.weight"], start.shared_embedding.weight)
