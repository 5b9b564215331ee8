"""Regenerates the tables of docs/WORKLOADS.md from the code and the committed targets.

python scripts/workloads_doc.py > /tmp/table.md                  # the workload table
python scripts/workloads_doc.py --target-setting > /tmp/ts.md    # the target-setting runs
"""

from __future__ import annotations

import sys

import torch

from optbench.workloads import WORKLOADS
from optbench.workloads.base import settings_for, targets_table


def params(cls, size: str) -> str:
    try:
        workload = cls(size)
        with torch.random.fork_rng(devices=[]):
            model = workload._build_model()
        return f"{sum(p.numel() for p in model.parameters()) / 1e3:,.0f}k"
    except Exception:  # a model whose shape depends on loaded data
        return "?"


def tag(cls) -> str:
    return (
        " (synthetic)" if cls.synthetic_data and "synthetic" not in cls.data_source.lower() else ""
    )


def main() -> None:
    print(
        "| workload | mirrors | variant of | model | data | params (mini) | target (mini, "
        "validation) | budget (mini) | target source |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, cls in WORKLOADS.items():
        if "mini" not in cls.sizes:  # AlgoPerf's own workloads: their own section
            continue
        s = settings_for(name, "mini")
        metric = cls("smoke").target_metric_name
        arrow = "<=" if metric in ("loss", "wer") else ">="
        source = s.source.split(":")[0].split(" (")[0]
        print(
            f"| `{name}` | {cls.algoperf_name} | {cls.base_name or ''} | {cls.description} | "
            f"{cls.data_source}{tag(cls)} | "
            f"{params(cls, 'mini')} | {metric} {arrow} {s.validation_target_value} | "
            f"{s.max_allowed_runtime_sec:g} s | {source} |"
        )


def _value(x: float) -> str:
    return f"{x:.4g}"


def target_setting() -> None:
    """One row per workload whose mini targets come from a step-based target-setting record."""
    print(
        "| workload | steps | search: best validation per algorithm (self-tuning point) | "
        "picked | re-runs: best validation | target (val / test) | steps needed | "
        "s/step | budget |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in WORKLOADS:
        entry = targets_table(name).get("mini", {})
        record = entry.get("target_setting", {})
        if "steps_needed" not in record:
            continue
        search = ", ".join(
            f"{s['algorithm']} {_value(s['best_validation'])}"
            for s in record["search"]
            if s["trial"] == 0
        )
        reruns = ", ".join(_value(v) for v in record["rerun_best_validation"])
        per_step = entry.get("calibration_seconds_per_step", "-")
        budget = f"{settings_for(name, 'mini').max_allowed_runtime_sec:g} s"
        base = WORKLOADS[name].base_name
        if base is not None:  # a variant runs with its base's budget
            per_step, budget = "-", f"{budget} ({base}'s)"
        print(
            f"| `{name}` | {record['steps']} | {search} | {record['picked']['algorithm']} | "
            f"{reruns} | {_value(entry['validation_target_value'])} / "
            f"{_value(entry['test_target_value'])} | {record['steps_needed']} | "
            f"{per_step} | {budget} |"
        )


if __name__ == "__main__":
    if "--target-setting" in sys.argv[1:]:
        target_setting()
    else:
        main()
