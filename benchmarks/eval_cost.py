"""Wall time of one full evaluation (eval-train, validation, test) per mini workload.

Each workload's evaluation is timed at its own ``eval_batch_size`` and, side by side in the same
process (rounds alternate), at every other batch size given with ``--batch-sizes``; the table
also gives the largest relative difference of any metric from the workload's own batch size
(metrics are sums over examples, so only float rounding may differ). For the speech workloads it
also times batches in index order (the generic ``SplitObjectWorkload._eval_order``) beside the
length-sorted batches they use.

    python benchmarks/eval_cost.py [--workloads NAME ...] [--repeats 3] [--batch-sizes 128 256]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import types

from optbench import prng
from optbench.workloads import DEFAULT_SUITE, get_workload
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", nargs="+", default=list(DEFAULT_SUITE))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--batch-sizes", nargs="*", type=int, default=[], help="other eval batch sizes to time"
    )
    args = parser.parse_args()
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
        sizes = [own] + [b for b in args.batch_sizes if b != own]
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
