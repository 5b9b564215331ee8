"""The ``ogbg`` workload on a GPU, without ogbg-molpcba at hand: checks and speeds.

Usage (on the GPU machine; OUT: the folder the JSON goes to):

    OUT=/tmp/out N=40000 python3 benchmarks/ogbg_gpu_check.py
    OUT=/tmp/out DEVICE=cpu N=1500 STEPS=4 WARM=1 BIG=64 python3 benchmarks/ogbg_gpu_check.py

1. the mean average precision against sklearn's ``average_precision_score`` (random logits with
   float32-saturated ties, masks, one-class tasks), where sklearn is installed;
2. ``N`` random molecule-like graphs (:func:`optbench.data.ogbg.synthetic_molecules`) written
   in OGB's raw format (gzipped CSV, a random 80/10/10 split), then parsed and cached by the
   workload, and read again from the cache;
3. training at AlgoPerf's batch of 512 with AdamW: ms per step through the input queue and on
   one fixed batch, and the CPU cost of assembling one batch;
4. an evaluation at 4,096 and at 1,024 graphs per batch (the metrics must agree);
5. CPU and GPU logits of one batch, and the memory of a 32,768-graph (AlgoPerf-size) eval batch.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, os.getcwd())
from optbench import prng, spec
from optbench.data import ogbg as data
from optbench.workloads import get_workload
from optbench.workloads.common.average_precision import mean_average_precision

DEVICE = os.environ.get("DEVICE", "cuda")
OUT = Path(os.environ.get("OUT", "/tmp/out"))
N = int(os.environ.get("N", 40000))
STEPS = int(os.environ.get("STEPS", 60))
WARM = int(os.environ.get("WARM", 10))
BIG = int(os.environ.get("BIG", 32768))
rows: dict = {}


def log(key: str, value) -> None:
    rows[key] = value
    print(key, json.dumps(value), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ogbg_gpu.json").write_text(json.dumps(rows, indent=1))


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def memory_gib() -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if DEVICE == "cuda" else None


def reset_memory() -> None:
    if DEVICE == "cuda":
        torch.cuda.reset_peak_memory_stats()


def check_map() -> None:
    try:
        from sklearn.metrics import average_precision_score
    except ImportError:
        return
    rng = np.random.default_rng(0)
    logits = np.round(rng.normal(0, 3, (5000, 128)), 1).astype(np.float32)
    logits[:50] = 25.0  # sigmoid 1.0 in float32: ties
    labels = (rng.random(logits.shape) < 0.1).astype(np.float32)
    weights = rng.random(logits.shape) < 0.7
    labels[:, 5] = 0
    weights[:, 7] = False
    weights[:3, 7] = True
    probs = torch.sigmoid(torch.from_numpy(logits)).numpy()
    aps = []
    for k in range(labels.shape[1]):
        y, p = labels[weights[:, k], k], probs[weights[:, k], k]
        if 0 < y.sum() < len(y):
            aps.append(average_precision_score(y, p))
    ours = mean_average_precision(probs, labels, weights)
    log("map_vs_sklearn", {"ours": ours, "sklearn": float(np.mean(aps)), "tasks": len(aps)})


def write_molpcba(root: Path) -> data.Molecules:
    start = time.time()
    m = data.synthetic_molecules(N, seed=3)

    def write(name: str, values: np.ndarray, fmt: str | None = None) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame(values)
        frame.to_csv(path, header=False, index=False, compression="gzip", float_format=fmt)

    write("raw/num-node-list.csv.gz", m.num_nodes)
    write("raw/num-edge-list.csv.gz", m.num_edges)
    write("raw/node-feat.csv.gz", m.node_feat.astype(np.int64))
    write("raw/edge-feat.csv.gz", m.edge_feat.astype(np.int64))
    write("raw/edge.csv.gz", m.edge_index)
    write("raw/graph-label.csv.gz", np.where(m.labels < 0, np.nan, m.labels), "%.1f")
    order = np.random.default_rng(1).permutation(N)
    cuts = (int(N * 0.8), int(N * 0.9))
    for name, ids in zip(("train", "valid", "test"), np.split(order, cuts), strict=True):
        write(f"split/scaffold/{name}.csv.gz", ids)
    log("write_files_s", {"molecules": N, "s": round(time.time() - start, 1)})
    return m


def main() -> None:
    gpu = torch.cuda.get_device_name(0) if DEVICE == "cuda" else None
    log("env", {"torch": torch.__version__, "gpu": gpu, "cpus": os.cpu_count()})
    check_map()
    tmp = Path(tempfile.mkdtemp())
    m = write_molpcba(tmp / "ogbg_molpcba")
    cache = tmp / "cache"
    start = time.time()
    w = get_workload("ogbg", "full", data_dir=tmp, cache_dir=cache, device=DEVICE)
    w.load_data()
    parse = time.time() - start
    start = time.time()
    get_workload("ogbg", "full", data_dir=tmp, cache_dir=cache, device=DEVICE).load_data()
    cached = time.time() - start
    log("load_s", {"parse": round(parse, 1), "cached": round(cached, 1), **w.data_provenance})
    assert np.array_equal(w._molecules.node_feat, m.node_feat)
    assert np.array_equal(w._molecules.labels, m.labels)

    model, state = w.init_model_fn(prng.key(0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step(batch: dict) -> float:
        optimizer.zero_grad(set_to_none=True)
        logits, _ = w.model_fn(model, batch, state, spec.ForwardPassMode.TRAIN, None, True)
        loss = w.loss_fn(batch["targets"], logits, batch["weights"], 0.1)
        mean = loss["summed"] / loss["n_valid_examples"]
        mean.backward()
        optimizer.step()
        return mean.detach()

    queue = w._build_input_queue(prng.key(1), "train", None, 512)
    times, waits, graphs = [], [], []
    for i in range(STEPS):
        sync()
        start = time.perf_counter()
        batch = next(queue)
        fetched = time.perf_counter()
        loss = step(batch)
        sync()
        if i >= WARM:
            times.append(time.perf_counter() - start)
            waits.append(fetched - start)
            graphs.append(int(batch["weights"].any(1).sum()))
    fixed_times = []
    for i in range(STEPS - 20):
        sync()
        start = time.perf_counter()
        step(batch)
        sync()
        if i >= WARM:
            fixed_times.append(time.perf_counter() - start)
    chunks = w._train_chunks(prng.key(2))
    batches = data.global_batches(w._molecules, chunks, data.Budget.for_batch(512))
    start = time.perf_counter()
    for _ in range(20):
        next(batches)
    assembly = (time.perf_counter() - start) / 20
    log(
        "train_512",
        {
            "ms_per_step_queue": round(1e3 * float(np.median(times)), 2),
            "ms_queue_wait": round(1e3 * float(np.median(waits)), 2),
            "ms_per_step_fixed": round(1e3 * float(np.median(fixed_times)), 2),
            "ms_cpu_batch_assembly": round(1e3 * assembly, 2),
            "graphs_with_labels_per_batch": float(np.mean(graphs)),
            "loss_last": float(loss),
            "max_mem_gib": memory_gib(),
        },
    )

    reset_memory()
    start = time.time()
    big_batches = w.eval_model(4096, model, state, prng.key(3))
    seconds = time.time() - start
    start = time.time()
    small_batches = w.eval_model(1024, model, state, prng.key(3))
    log(
        "eval",
        {
            "s_4096": round(seconds, 2),
            "s_1024": round(time.time() - start, 2),
            "max_metric_diff": max(abs(big_batches[k] - small_batches[k]) for k in big_batches),
            "results": big_batches,
            "max_mem_gib": memory_gib(),
        },
    )

    cpu = get_workload("ogbg", "full")
    cpu_model, _ = cpu.init_model_fn(prng.key(0))
    cpu_model.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
    mode = spec.ForwardPassMode.EVAL
    here = w.model_fn(model, batch, None, mode, None, False)[0].cpu()
    there = cpu.model_fn(cpu_model, {k: v.cpu() for k, v in batch.items()}, None, mode, None, False)
    diff = float((here - there[0]).abs().max())
    log("cpu_vs_device", {"max_abs_logit_diff": diff, "max_abs_logit": float(there[0].abs().max())})
    reset_memory()
    big = w.synthetic_batch(BIG, seed=5)
    sync()
    start = time.time()
    w.model_fn(model, big, None, mode, None, False)
    sync()
    log(f"eval_batch_{BIG}", {"s": round(time.time() - start, 3), "max_mem_gib": memory_gib()})
    assert math.isfinite(big_batches["validation/mean_average_precision"])


if __name__ == "__main__":
    main()
