"""The full-size LibriSpeech workloads on a GPU, without LibriSpeech at hand: checks and speeds.

Usage (on the GPU machine; OUT: the folder the JSON goes to):

    OUT=/tmp/out python3 benchmarks/librispeech_gpu_check.py [WORKLOAD ...]
    OUT=/tmp/out DEVICE=cpu BATCH=2 STEPS=1 python3 benchmarks/librispeech_gpu_check.py

For each workload (default: ``librispeech_conformer`` and ``librispeech_deepspeech``), on the
random batches of ``synthetic_batch`` (AlgoPerf's shapes: 320,000 samples, 256 tokens):

1. the network initialised on the CPU and on the device from the same key (must be equal), and
   the two devices' eval logits, paddings, CTC loss and greedy decoding of one batch of 4;
2. training at AlgoPerf's batch of 256 (``BATCH``) with AdamW, fp32 and TF32: seconds per step
   after one untimed step (``STEPS`` timed) and the peak memory;
3. an eval pass (forward, CTC loss, greedy decoding) at the same batch: seconds and memory.

AlgoPerf's v0.5 logs take 650-840 ms per step at this global batch on 8 V100s (32 per GPU;
``algoperf_v05_ms_per_step.json``).
"""

from __future__ import annotations

import json
import os
import sys
import time

import torch

from optbench import prng, spec
from optbench.workloads import get_workload
from optbench.workloads.common.ctc_metrics import greedy_decode

DEVICE = torch.device(os.environ.get("DEVICE", "cuda"))
BATCH = int(os.environ.get("BATCH", "256"))
STEPS = int(os.environ.get("STEPS", "3"))
OUT = os.environ.get("OUT", "/tmp")
TRAIN, EVAL = spec.ForwardPassMode.TRAIN, spec.ForwardPassMode.EVAL


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def peak_gib() -> float | None:
    if DEVICE.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(DEVICE) / 2**30, 2)


def reset_peak() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.reset_peak_memory_stats(DEVICE)


def to_device(batch: dict) -> dict:
    return {k: tuple(t.to(DEVICE) for t in v) for k, v in batch.items()}


def parity(name: str) -> dict:
    cpu, dev = get_workload(name, "full"), get_workload(name, "full", device=DEVICE)
    m_cpu, _ = cpu.init_model_fn(prng.key(0))
    m_dev, _ = dev.init_model_fn(prng.key(0))
    pairs = zip(m_cpu.state_dict().values(), m_dev.state_dict().values(), strict=True)
    row: dict = {"init_equal": all(torch.equal(a, b.cpu()) for a, b in pairs)}
    batch = cpu.synthetic_batch(4, seed=3)
    (lc, pc), _ = cpu.model_fn(m_cpu, batch, None, EVAL, prng.key(1), False)
    (ld, pd), _ = dev.model_fn(m_dev, to_device(batch), None, EVAL, prng.key(1), False)
    row["logits_max_abs_diff"] = (lc - ld.cpu()).abs().max().item()
    row["logits_max_abs"] = lc.abs().max().item()
    row["paddings_equal"] = torch.equal(pc, pd.cpu())
    row["ctc_loss_cpu_device"] = [
        cpu.loss_fn(batch["targets"], (lc, pc))["summed"].item(),
        dev.loss_fn(to_device(batch)["targets"], (ld, pd))["summed"].item(),
    ]
    row["decoding_equal"] = greedy_decode(lc, pc) == greedy_decode(ld, pd)
    return row


def speed(name: str, tf32: bool) -> dict:
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    workload = get_workload(name, "full", device=DEVICE)
    model, _ = workload.init_model_fn(prng.key(0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = workload.synthetic_batch(BATCH, seed=4)
    row: dict = {"precision": "tf32" if tf32 else "fp32", "batch": BATCH}
    reset_peak()
    times = []
    for step in range(STEPS + 1):
        sync()
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        out, _ = workload.model_fn(model, batch, None, TRAIN, prng.key(step), True)
        loss = workload.loss_fn(batch["targets"], out)
        (loss["summed"] / loss["n_valid_examples"]).backward()
        optimizer.step()
        sync()
        times.append(time.perf_counter() - start)
    row["train_s_per_step"] = round(sum(times[1:]) / max(len(times) - 1, 1), 4)
    row["train_first_step_s"] = round(times[0], 3)
    row["train_peak_gib"] = peak_gib()
    row["train_loss_per_token"] = (loss["summed"] / loss["n_valid_examples"]).item()
    reset_peak()
    sync()
    start = time.perf_counter()
    out, _ = workload.model_fn(model, batch, None, EVAL, prng.key(9), False)
    workload.loss_fn(batch["targets"], out)
    greedy_decode(*out)
    sync()
    row["eval_s_per_batch"] = round(time.perf_counter() - start, 4)
    row["eval_peak_gib"] = peak_gib()
    del model, optimizer, batch, out
    if DEVICE.type == "cuda":
        torch.cuda.empty_cache()
    return row


def main() -> None:
    names = sys.argv[1:] or ["librispeech_conformer", "librispeech_deepspeech"]
    rows = []
    name_of = torch.cuda.get_device_name(DEVICE) if DEVICE.type == "cuda" else "cpu"
    print(f"device {name_of}, torch {torch.__version__}", flush=True)
    for name in names:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        row = {"workload": name, **parity(name)}
        print(json.dumps(row), flush=True)
        rows.append(row)
        for tf32 in (False, True):
            row = {"workload": name, **speed(name, tf32)}
            print(json.dumps(row), flush=True)
            rows.append(row)
        with open(os.path.join(OUT, "librispeech_gpu_check.json"), "w") as stream:
            json.dump(rows, stream, indent=1)


if __name__ == "__main__":
    main()
