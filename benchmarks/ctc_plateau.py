"""The CTC blank-only plateau with and without the label-prior init of the CTC head.

Trains a speech workload (mini size) with NadamW's self-tuning point for ``--steps`` steps (cosine
to 0 at ``--step-hint``), once with the workload's head init (blank bias at the label prior,
:func:`optbench.workloads.speech_lstm.init_ctc_head`) and once with PyTorch's default bias init,
for each seed; prints the loss on the current training batch (eval mode) every 50 steps and the
validation WER at the end. Step-based: the numbers do not depend on the machine's speed.

    OMP_NUM_THREADS=1 python benchmarks/ctc_plateau.py --workload speech_lstm --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import dataclasses
import math

import torch
from torch import nn

from optbench import prng, spec
from optbench.submission import load_submission
from optbench.workloads import get_workload
from optbench.workloads.base import settings_for


def default_bias(linear: nn.Linear) -> None:
    """PyTorch's own init of a Linear bias: uniform in +-1/sqrt(fan_in)."""
    bound = 1.0 / math.sqrt(linear.in_features)
    with torch.no_grad():
        linear.bias.uniform_(-bound, bound)


def run(name: str, seed: int, steps: int, step_hint: int, prior: bool) -> tuple[list, float]:
    """Train-batch losses every 50 steps and the final validation WER of one run."""
    settings = dataclasses.replace(settings_for(name, "mini"), step_hint=step_hint)
    workload = get_workload(name, "mini", settings=settings)
    workload.load_data()
    rng = prng.key(seed)
    torch.manual_seed(seed)
    model, model_state = workload.init_model_fn(rng)
    if not prior:
        default_bias(model.output)
    submission = load_submission("nadamw")
    state = submission.init_optimizer_state(workload, model, model_state, None, rng)
    queue = workload._build_input_queue(rng, "train", None, submission.get_batch_size(name))
    losses = []
    for step in range(1, steps + 1):
        batch = next(queue)
        state, model, model_state = submission.update_params(
            workload, model, None, model_state, None, batch, None, state, None, step - 1, rng
        )
        if step % 50 == 0:
            out, _ = workload.model_fn(
                model, batch, model_state, spec.ForwardPassMode.EVAL, rng, False
            )
            loss = workload.loss_fn(batch["targets"], out)
            losses.append(round((loss["summed"] / loss["n_valid_examples"]).item(), 2))
    metrics, _ = workload._eval_split(
        "validation", model, model_state, rng, workload.eval_batch_size
    )
    return losses, metrics["wer"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", default="speech_lstm")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--step-hint", type=int, default=800)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    hint = args.step_hint
    print(f"{args.workload} mini, NadamW self-tuning, {args.steps} steps (step_hint {hint})")
    print("init | seed | train-batch loss every 50 steps | validation WER")
    for prior in (False, True):
        for seed in args.seeds:
            losses, wer = run(args.workload, seed, args.steps, args.step_hint, prior)
            label = "label prior" if prior else "default"
            print(f"{label} | {seed} | {' '.join(map(str, losses))} | {wer:.3f}", flush=True)


if __name__ == "__main__":
    main()
