"""How much time does the runner add to each timed step? (side by side, one process)

Runs the same submission (NadamW) on the same workload for N steps twice, interleaved R times:
(a) a bare loop calling data_selection + update_params, (b) optbench's runner (timed loop, one eval
at the first and last step). Prints the median per-step time of each and their ratio; the runner's
own overhead per step is the difference. Usage:

    python benchmarks/runner_overhead.py [--workload fmnist_mlp] [--size mini] [--steps 300]
"""

from __future__ import annotations

import argparse
import statistics
import time

from optbench import prng
from optbench.runner import run_trial
from optbench.submission import load_submission
from optbench.workloads import get_workload


def bare_loop(workload, submission, steps: int) -> float:
    model, state = workload.init_model_fn(prng.key(0))
    opt = submission.init_optimizer_state(workload, model, state, None, prng.key(1))
    queue = workload._build_input_queue(prng.key(2), "train", None, 128)
    types = workload.model_params_types
    start = time.perf_counter()
    for step in range(steps):
        batch = submission.data_selection(workload, queue, opt, model, state, None, step, None)
        opt, model, state = submission.update_params(
            workload, model, types, state, None, batch, workload.loss_type, opt, [], step, None
        )
    return (time.perf_counter() - start) / steps


def runner_loop(workload, submission, steps: int) -> float:
    result = run_trial(
        workload,
        submission,
        max_steps=steps,
        probe_speed=False,
        eval_every_steps=10**9,
        batch_size=128,
    )
    return result.submission_time / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="fmnist_mlp")
    parser.add_argument("--size", default="mini")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    workload = get_workload(args.workload, args.size)
    workload.load_data()
    submission = load_submission("nadamw")
    bare, timed = [], []
    for _ in range(args.repeats):
        bare.append(bare_loop(workload, submission, args.steps))
        timed.append(runner_loop(workload, submission, args.steps))
    b, t = statistics.median(bare), statistics.median(timed)
    print(f"{args.workload} ({args.size}), {args.steps} steps x {args.repeats} repeats")
    print(f"bare loop : {b * 1e3:.3f} ms/step (runs: {', '.join(f'{x * 1e3:.2f}' for x in bare)})")
    print(f"runner    : {t * 1e3:.3f} ms/step (runs: {', '.join(f'{x * 1e3:.2f}' for x in timed)})")
    print(f"ratio runner/bare: {t / b:.3f}; overhead {1e6 * (t - b):.0f} us/step")


if __name__ == "__main__":
    main()
