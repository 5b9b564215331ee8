"""What does supervision cost? Steps per second of the supervised trial against the unsupervised
one, side by side, per workload.

For each workload, the same trial (NadamW's self-tuning point, seed 0, the workload's own eval
period, a step cap) runs R times in each mode, interleaved: (a) unsupervised, the submission in
the runner's process; (b) supervised, the submission in a worker process paused while the runner
evaluates. Each trial of either mode starts in a fresh process, as every trial of `optbench
tune` does: a process that has already trained the model has its kernels compiled (oneDNN's
convolutions, cuBLAS handles), which would make a warm unsupervised trial look faster than any
trial really is (mri_unet: 4.7 steps/s warm, 3.9-4.1 fresh). Both record steps / submission
time; the ratio supervised / unsupervised of the medians is the supervision's cost on the timed
work (the goal: at least 0.98 everywhere). Usage:

    python benchmarks/runner_overhead.py [--workloads fmnist_mlp speech_lstm ...] [--size mini]
        [--seconds 20] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
from concurrent.futures import ProcessPoolExecutor

from optbench.runner import run_trial
from optbench.submission_source import describe
from optbench.workloads import DEFAULT_SUITE, get_workload


def trial_speed(workload, source, supervised: bool, steps: int) -> float:
    """Steps per second of submission time of one capped trial, run in a fresh process."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_trial_speed, workload, source, supervised, steps).result()


def _trial_speed(workload, source, supervised: bool, steps: int) -> float:
    workload.load_data()
    result = run_trial(
        workload,
        source if supervised else source(),
        supervised=supervised,
        max_steps=steps,
        probe_speed=False,
        budget_scale=100.0,  # the step cap ends the trial, not the budget
    )
    if result.status != "completed":
        raise SystemExit(f"{workload.name}: {result.failure}")
    return result.global_step / result.submission_time


def measure(name: str, size: str, seconds: float, repeats: int, device: str) -> dict[str, float]:
    """Median steps/s of each mode, interleaved ``repeats`` times."""
    workload = get_workload(name, size, device=device)  # its data are loaded in each trial
    source = describe("nadamw")
    steps = max(20, round(seconds * trial_speed(workload, source, False, 50)))
    plain, supervised = [], []
    for _ in range(repeats):
        plain.append(trial_speed(workload, source, False, steps))
        supervised.append(trial_speed(workload, source, True, steps))
    return {
        "steps": steps,
        "unsupervised": statistics.median(plain),
        "supervised": statistics.median(supervised),
        "runs_unsupervised": plain,
        "runs_supervised": supervised,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(DEFAULT_SUITE))
    parser.add_argument("--size", default="mini")
    parser.add_argument("--seconds", type=float, default=20.0, help="per trial, roughly")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(f"{'workload':<18} {'steps':>6} {'unsup. steps/s':>15} {'sup. steps/s':>13} {'ratio':>6}")
    for name in args.workloads:
        m = measure(name, args.size, args.seconds, args.repeats, args.device)
        ratio = m["supervised"] / m["unsupervised"]
        runs = " ".join(
            f"{a:.1f}/{b:.1f}"
            for a, b in zip(m["runs_unsupervised"], m["runs_supervised"], strict=True)
        )
        print(
            f"{name:<18} {m['steps']:>6} {m['unsupervised']:>15.2f} {m['supervised']:>13.2f} "
            f"{ratio:>6.3f}   runs (unsup/sup): {runs}",
            flush=True,
        )


if __name__ == "__main__":
    main()
