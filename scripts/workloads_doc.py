"""Regenerates the table of docs/WORKLOADS.md from the code and the committed targets.

python scripts/workloads_doc.py > /tmp/table.md   # then paste between the markers
"""

from __future__ import annotations

import torch

from optbench.workloads import WORKLOADS
from optbench.workloads.base import settings_for


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
        s = settings_for(name, "mini")
        metric = cls("smoke").target_metric_name
        arrow = "<=" if metric in ("loss", "wer") else ">="
        source = s.source.split(":")[0]
        print(
            f"| `{name}` | {cls.algoperf_name} | {cls.base_name or ''} | {cls.description} | "
            f"{cls.data_source}{tag(cls)} | "
            f"{params(cls, 'mini')} | {metric} {arrow} {s.validation_target_value} | "
            f"{s.max_allowed_runtime_sec:g} s | {source} |"
        )


if __name__ == "__main__":
    main()
