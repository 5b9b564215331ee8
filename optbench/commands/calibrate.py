"""``optbench calibrate``: write the hardware profile of one slot (a device and a number of CPU
threads): each workload's budget timed on that slot (:mod:`optbench.profiles`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from optbench.commands import add_command, common


def register(subparsers: Any) -> None:
    """Add the ``calibrate`` sub-command."""
    from optbench import profiles

    p = add_command(subparsers, "calibrate")
    common.add_workload_args(p, many=True)
    p.add_argument(
        "--threads",
        type=common.positive_int,
        metavar="N",
        help="CPU threads of the slot (torch threads, pinned to N CPUs; default: every CPU "
        "this process may use). A trial slot of --threads-per-trial T needs a T-thread profile",
    )
    p.add_argument(
        "--slot",
        type=common.non_negative_int,
        default=0,
        metavar="K",
        help="pin to the K-th group of --threads CPUs (default 0): calibrate slots side by side "
        "by running one calibrate per slot at once",
    )
    p.add_argument(
        "--repeats",
        type=common.positive_int,
        default=profiles.DEFAULT_REPEATS,
        metavar="K",
        help=f"timed runs per workload, taken round-robin; the median counts (default "
        f"{profiles.DEFAULT_REPEATS})",
    )
    p.add_argument(
        "--steps",
        type=common.positive_int,
        default=profiles.DEFAULT_STEPS,
        metavar="N",
        help=f"steps of each timed run, the first {profiles.WARMUP_STEPS} untimed warm-up "
        f"(a multiple of {profiles.WARMUP_STEPS}; default {profiles.DEFAULT_STEPS})",
    )
    p.add_argument("--name", help="the profile's name (default: DEVICE-Nthreads)")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="PROFILE.json",
        help="where to write the profile (default: ./<name>.json)",
    )
    p.set_defaults(handler=_main)


def _table(data: dict[str, Any], size: str) -> str:
    """Per workload: seconds per step, spread, steps needed, budget and the committed budget."""
    lines = [
        f"{'workload':<18} {'s/step':>9} {'spread':>7} {'steps':>6} {'budget (s)':>11} "
        f"{'committed (s)':>14}"
    ]
    for name, sizes in data["workloads"].items():
        e = sizes[size]
        lines.append(
            f"{name:<18} {e['seconds_per_step']:>9.5f} {e['spread']:>7.1%} "
            f"{e['steps_needed']:>6} {e['max_allowed_runtime_sec']:>11.0f} "
            f"{e['committed_max_allowed_runtime_sec']:>14.0f}"
        )
    return "\n".join(lines)


def _main(args: argparse.Namespace) -> int:
    from optbench import profiles
    from optbench.commands.score import check_output

    names = common.workload_names(args)
    threads = args.threads or len(profiles.allowed_cpus())
    profiles.check_slots(args.slot + 1, threads)
    profiles.check_steps(args.steps)
    for name in names:
        profiles.calibration_pick(name, args.size)  # every error before any timing
    kind = profiles.device_type(args.device)
    name = args.name or profiles.slot_name(kind, threads)
    output = args.output or Path(f"{name}.json")
    check_output(output)
    print(
        f"calibrating {len(names)} workload(s) at size {args.size} on {kind} with {threads} "
        f"thread(s): {args.repeats} run(s) of {args.steps} steps each, round-robin",
        flush=True,
    )
    data = profiles.calibrate(
        names,
        args.size,
        device=args.device,
        threads=threads,
        name=name,
        slot_index=args.slot,
        repeats=args.repeats,
        steps=args.steps,
        workload_options={k: v for k, v in common.workload_options(args).items() if k != "device"},
        log=print,
    )
    profiles.save(data, output)
    print(_table(data, args.size))
    noisy = [
        w
        for w, sizes in data["workloads"].items()
        if sizes[args.size]["spread"] > profiles.NOISY_SPREAD
    ]
    if noisy:
        print(
            f"note: the runs of {', '.join(noisy)} spread more than {profiles.NOISY_SPREAD:.0%} "
            "(the machine was busy): calibrate again on a quiet machine, or with more --repeats"
        )
    print(f"speed probe {data['speed_probe_gflops']} GFLOP/s; profile {name} written to {output}")
    print(f"use it with: optbench run --device {kind} --profile {output}")
    return 0
