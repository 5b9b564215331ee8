"""Wall time of one full evaluation (eval-train, validation, test) per mini workload.

Each workload's evaluation is timed at its own ``eval_batch_size`` and, side by side in the same
process (rounds alternate), at every other batch size given with ``--batch-sizes``; the table
also gives the largest relative difference of any metric from the workload's own batch size
(metrics are sums over examples, so only float rounding may differ). For the speech workloads it
also times batches in index order (the generic ``SplitObjectWorkload._eval_order``) beside the
length-sorted batches they use.

``--in-trial STEPS`` times the evaluations inside short NadamW trials instead (STEPS steps, 8
evals, one trial per batch size and round, alternating): a trained model in a process that has
been training can evaluate slower than a fresh model in a fresh process.

    python benchmarks/eval_cost.py [--workloads NAME ...] [--repeats 3] [--batch-sizes 128 256]
    python benchmarks/eval_cost.py --workloads fmnist_vit --batch-sizes 256 --in-trial 400
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import types

from optbench import prng
from optbench.runner import run_trial
from optbench.submission import load_submission
from optbench.workloads import DEFAULT_SUITE, get_workload, workload_class
from optbench.workloads.base import SplitObjectWorkload
from optbench.workloads.speech_lstm import SpeechCtcWorkload


def time_eval(workload, model, state, batch_size: int) -> tuple[float, dict[str, float]]:
    """Wall seconds and metrics of one ``eval_model`` call."""
    start = time.perf_counter()
    metrics = workload.eval_model(batch_size, model, state, prng.key(0))
    return time.perf_counter() - start, metrics


def largest_relative_difference(a: dict[str, float], b: dict[str, float]) -> float:
    """The largest ``|a - b| / max(|a|, tiny)`` over the metrics of two evaluations."""
    return max(abs(a[k] - b[k]) / max(abs(a[k]), 1e-12) for k in a if math.isfinite(a[k]))


def in_trial_eval_seconds(name: str, batch_size: int, steps: int) -> float:
    """Mean wall seconds per eval inside a NadamW trial of ``steps`` steps (8 evals) run with
    ``batch_size`` as the workload's eval batch size."""
    cls = workload_class(name)
    resized = type(cls.__name__, (cls,), {"eval_batch_size": batch_size})
    result = run_trial(
        resized("mini"),
        load_submission("nadamw"),
        max_steps=steps,
        probe_speed=False,
        eval_every_steps=steps // 8,
    )
    return result.eval_rows[-1]["accumulated_eval_time"] / len(result.eval_rows)


def sizes_to_time(own: int, others: list[int]) -> list[int]:
    """The workload's own eval batch size first, then the other sizes asked for."""
    return [own] + [b for b in others if b != own]


def main_in_trial(args: argparse.Namespace) -> None:
    print("| workload | batch size: seconds per eval inside a NadamW trial (median of rounds) |")
    print("|---|---|")
    for name in args.workloads:
        own = workload_class(name)("mini").eval_batch_size
        sizes = sizes_to_time(own, args.batch_sizes)
        times: dict[int, list[float]] = {b: [] for b in sizes}
        for _ in range(args.repeats):
            for size in sizes:
                times[size].append(in_trial_eval_seconds(name, size, args.in_trial))
        cells = ", ".join(
            f"{b}{' (own)' if b == own else ''}: {statistics.median(v):.2f}"
            for b, v in times.items()
        )
        print(f"| {name} | {cells} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", nargs="+", default=list(DEFAULT_SUITE))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--batch-sizes", nargs="*", type=int, default=[], help="other eval batch sizes to time"
    )
    parser.add_argument("--in-trial", type=int, metavar="STEPS", help="time evals in trials")
    args = parser.parse_args()
    if args.in_trial:
        main_in_trial(args)
        return
    print("| workload | examples per eval | batch size: eval (s, median) | largest metric change |")
    print("|---|---|---|---|")
    for name in args.workloads:
        workload = get_workload(name, "mini")
        workload.load_data()
        model, state = workload.init_model_fn(prng.key(0))
        n = sum(
            (
                workload.num_eval_train_examples,
                workload.num_validation_examples,
                workload.num_test_examples,
            )
        )
        own = workload.eval_batch_size
        sizes = sizes_to_time(own, args.batch_sizes)
        _, reference = time_eval(workload, model, state, own)  # also the warm-up
        times: dict[str, list[float]] = {}
        change = 0.0
        for _ in range(args.repeats):
            for size in sizes:
                seconds, metrics = time_eval(workload, model, state, size)
                times.setdefault(f"{size}{' (own)' if size == own else ''}", []).append(seconds)
                change = max(change, largest_relative_difference(reference, metrics))
            if isinstance(workload, SpeechCtcWorkload):  # the generic order, for one call
                workload._eval_order = types.MethodType(SplitObjectWorkload._eval_order, workload)
                seconds, metrics = time_eval(workload, model, state, own)
                times.setdefault(f"{own} in index order", []).append(seconds)
                change = max(change, largest_relative_difference(reference, metrics))
                del workload._eval_order
        cells = ", ".join(f"{k}: {statistics.median(v):.2f}" for k, v in times.items())
        print(f"| {name} | {n:,} | {cells} | {change:.1e} |", flush=True)


if __name__ == "__main__":
    main()
