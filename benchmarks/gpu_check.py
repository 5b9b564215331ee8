"""CUDA check: every smoke workload and every baseline trains on the GPU through the runner.

Usage (on a machine with a CUDA device; data from --data-dir / --cache-dir as prepared elsewhere):

    python benchmarks/gpu_check.py --data-dir DIR --cache-dir DIR [--out results.json]

For each smoke workload (NadamW) and each baseline (on fmnist_mlp smoke): whether the target was
reached, submission time, steps, and that the model lives on the GPU. Also one fmnist_mlp mini
trial of NadamW for a time-to-target on this GPU.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback

import torch

from optbench.algorithms import BASELINES
from optbench.runner import run_trial
from optbench.submission import load_submission
from optbench.workloads import WORKLOADS, get_workload


def trial(name: str, size: str, submission: str, args) -> dict:
    data_dir = args.data_dir if name.startswith("fmnist") else None
    start = time.time()
    try:
        workload = get_workload(
            name, size, device="cuda", data_dir=data_dir, cache_dir=args.cache_dir
        )
        result = run_trial(workload, load_submission(submission), seed=0, probe_speed=False)
        on_gpu = all(p.device.type == "cuda" for p in workload._model.parameters())
        return {
            "workload": name,
            "size": size,
            "submission": submission,
            "status": result.status,
            "reached": result.reached_target,
            "time_to_target": result.time_to_target,
            "steps": result.global_step,
            "submission_time": result.submission_time,
            "on_gpu": on_gpu,
            "failure": result.failure,
            "wall": time.time() - start,
        }
    except Exception as exc:  # report and go on: this is a survey
        return {
            "workload": name,
            "size": size,
            "submission": submission,
            "status": "error",
            "failure": "".join(traceback.format_exception(exc)[-3:]),
            "wall": time.time() - start,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--cache-dir")
    parser.add_argument("--out", default="gpu_check.json")
    args = parser.parse_args()
    print(torch.__version__, torch.cuda.get_device_name(0), flush=True)
    rows = [trial(name, "smoke", "nadamw", args) for name in WORKLOADS]
    rows += [trial("fmnist_mlp", "smoke", name, args) for name in BASELINES]
    rows.append(trial("fmnist_mlp", "mini", "nadamw", args))
    for row in rows:
        print(json.dumps({k: v for k, v in row.items() if k != "failure"}), flush=True)
        if row.get("failure"):
            print("   ", row["failure"].strip().splitlines()[-1], flush=True)
    with open(args.out, "w") as handle:
        json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
