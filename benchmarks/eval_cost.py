"""Wall time of one full evaluation (eval-train, validation, test) per mini workload.

For the speech workloads it also times the same evaluation with batches in index order (the
generic ``SplitObjectWorkload._eval_order``) beside the length-sorted batches they use, in
the same process, alternating, so the ratio is measured side by side.

    python benchmarks/eval_cost.py [--workloads NAME ...] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import types

from optbench import prng
from optbench.workloads import DEFAULT_SUITE, get_workload
from optbench.workloads.base import SplitObjectWorkload
from optbench.workloads.speech_lstm import SpeechCtcWorkload


def time_eval(workload, model, state) -> float:
    """Wall seconds of one ``eval_model`` call."""
    start = time.perf_counter()
    workload.eval_model(256, model, state, prng.key(0))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", nargs="+", default=list(DEFAULT_SUITE))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| workload | examples per eval | eval (s, median) | index-order batches (s, median) |")
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
        time_eval(workload, model, state)  # warm-up
        speech = isinstance(workload, SpeechCtcWorkload)
        own, plain = [], []
        for _ in range(args.repeats):
            own.append(time_eval(workload, model, state))
            if speech:  # the generic order, on the instance for one call
                workload._eval_order = types.MethodType(SplitObjectWorkload._eval_order, workload)
                plain.append(time_eval(workload, model, state))
                del workload._eval_order
        other = f"{statistics.median(plain):.2f}" if plain else ""
        print(f"| {name} | {n:,} | {statistics.median(own):.2f} | {other} |", flush=True)


if __name__ == "__main__":
    main()
