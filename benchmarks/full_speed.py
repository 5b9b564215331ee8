"""Training speed of AlgoPerf's full-size workloads: steps per second and model FLOPs utilisation.

Usage:

    python benchmarks/full_speed.py [--device cuda] [--precision fp32 tf32 bf16] [--out FILE]
    python benchmarks/full_speed.py --device cpu --reduced      # no GPU: reduced width and batch

Each full-size base workload (``workloads_at("full")``, variants left out) is built on the device
and trained for ``--steps`` timed steps (after ``--warmup`` untimed ones) on the random batches of
its ``synthetic_batch`` at AlgoPerf's NadamW batch size (``ALGOPERF_NADAMW_BATCH_SIZES``): forward,
loss, backward and a NAdamW step, eager (AlgoPerf's runner compiles some models with
``torch.compile``; not here). No input pipeline: this times the model and the optimizer alone.

FLOPs per step: ``torch.utils.flop_counter.FlopCounterMode`` over one step (matrix products and
convolutions, forward and backward; element-wise work and the optimizer are not counted, so this
is the *model* FLOPs of MFU). MFU = FLOPs per step / seconds per step / peak FLOP/s of the
precision used (:data:`PEAKS`, dense, from NVIDIA's H200 SXM datasheet; other GPUs: no MFU unless
``--peak-tflops`` is given). Precisions: ``fp32`` (TF32 off everywhere), ``tf32`` (TF32 on for
matrix products and cuDNN convolutions), ``bf16`` (autocast to bfloat16).

Compared with AlgoPerf's v0.5 logs (``ALGOPERF_V05_MS_PER_STEP``: median ms per step on 8x
V100, read from ``algoperf_v05_ms_per_step.json``): their global batch is split over 8 GPUs, ours
runs on one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from optbench import prng, spec
from optbench.batch_rule import ALGOPERF_NADAMW_BATCH_SIZES
from optbench.optim import NAdamW
from optbench.workloads import WORKLOADS, workloads_at

# Dense peak TFLOP/s of an H200 SXM by precision (NVIDIA H200 datasheet; the sparse figures are
# twice these).
PEAKS = {"NVIDIA H200": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4}}
# AlgoPerf v0.5, 8x V100: median ms per step (NadamW JAX, schedule_free_adamw PyTorch).
V05_SPEEDS = json.loads(Path(__file__).with_name("algoperf_v05_ms_per_step.json").read_text())
ALGOPERF_V05_MS_PER_STEP = {name: tuple(ms) for name, ms in V05_SPEEDS["ms_per_step"].items()}
# How to build a workload small enough for a CPU (--reduced): its test-only width option.
REDUCED_OPTIONS = {"imagenet_resnet": {"reduced": True}, "imagenet_vit": {"reduced": True}}
DEFAULT_REDUCED_OPTIONS = {"test_width": 4}
REDUCED_BATCH = 8


@contextlib.contextmanager
def precision(name: str, device: torch.device) -> Iterator[None]:
    """Run the block in precision ``name`` (see the module docstring), restoring the flags."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = name == "tf32"
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=name == "bf16")
    try:
        with autocast:
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_step(workload: Any, model: Any, state: Any, optimizer: Any, batch: dict) -> Any:
    """One step as a submission takes it: forward in train mode, mean loss, backward, update."""
    optimizer.zero_grad(set_to_none=True)
    logits, state = workload.model_fn(
        model, batch, state, spec.ForwardPassMode.TRAIN, prng.key(0), update_batch_norm=True
    )
    loss = workload.loss_fn(batch["targets"], logits, batch.get("weights"))
    (loss["summed"] / loss["n_valid_examples"]).backward()
    optimizer.step()
    return state


def step_flops(workload: Any, model: Any, state: Any, optimizer: Any, batch: dict) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        train_step(workload, model, state, optimizer, batch)
    return int(counter.get_total_flops())


def measure(name: str, args: argparse.Namespace, mode: str) -> dict[str, Any]:
    """Build ``name`` at full size (or reduced), then time ``args.steps`` steps in ``mode``."""
    device = torch.device(args.device)
    options = REDUCED_OPTIONS.get(name, DEFAULT_REDUCED_OPTIONS) if args.reduced else {}
    workload = WORKLOADS[name]("full", device=device, **options)
    batch_size = REDUCED_BATCH if args.reduced else ALGOPERF_NADAMW_BATCH_SIZES[name]
    model, state = workload.init_model_fn(prng.key(0))
    optimizer = NAdamW(model.parameters(), lr=1e-4, weight_decay=0.0, eps=1e-8)
    batch = workload.synthetic_batch(batch_size, seed=1)
    with precision(mode, device):
        for _ in range(args.warmup):
            state = train_step(workload, model, state, optimizer, batch)
        flops = step_flops(workload, model, state, optimizer, batch)
        synchronize(device)
        start = time.perf_counter()
        for _ in range(args.steps):
            state = train_step(workload, model, state, optimizer, batch)
        synchronize(device)
        seconds = (time.perf_counter() - start) / args.steps
    peak = args.peak_tflops or peak_tflops(device, mode)
    row = {
        "workload": name,
        "precision": mode,
        "batch_size": batch_size,
        "params": sum(p.numel() for p in model.parameters()),
        "ms_per_step": round(seconds * 1e3, 2),
        "steps_per_s": round(1 / seconds, 3),
        "model_gflop_per_step": round(flops / 1e9, 3),
        "achieved_tflops": round(flops / seconds / 1e12, 2),
        "mfu": round(flops / seconds / (peak * 1e12), 4) if peak else None,
        "peak_tflops": peak,
        "algoperf_v05_ms_per_step_8xV100": ALGOPERF_V05_MS_PER_STEP.get(name),
    }
    if device.type == "cuda":
        row["max_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return row


def gpu_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def peak_tflops(device: torch.device, mode: str) -> float | None:
    """The dense peak of ``mode`` on this GPU, where :data:`PEAKS` knows it."""
    found = [v for k, v in PEAKS.items() if gpu_name(device).startswith(k)]
    return found[0].get(mode) if found else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--workloads", nargs="*", help="default: every full-size base workload")
    p.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "tf32", "bf16"])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--reduced", action="store_true", help="test widths and batch 8 (for a CPU)")
    p.add_argument("--peak-tflops", type=float, help="the device's peak for the precision")
    p.add_argument("--out", help="write the rows as JSON here (rewritten after each row)")
    args = p.parse_args()
    names = args.workloads or [n for n in workloads_at("full") if n in ALGOPERF_V05_MS_PER_STEP]
    rows: list[dict[str, Any]] = []
    device = torch.device(args.device)
    print(f"device {device} ({gpu_name(device)}), torch {torch.__version__}")
    for name in names:
        for mode in args.precision:
            try:
                row = measure(name, args, mode)
            except Exception as exc:  # a survey: report and go on to the next workload
                row = {"workload": name, "precision": mode, "error": repr(exc)[:500]}
            finally:
                if args.device.startswith("cuda"):
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.out:
                with open(args.out, "w") as f:
                    json.dump({"torch": torch.__version__, "rows": rows}, f, indent=1)
    if any("error" in r for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
