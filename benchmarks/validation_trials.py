"""Per workload and submission, what a validation's trials did: the mechanisms behind an order.

    python benchmarks/validation_trials.py EXPERIMENT_DIR [--markdown]

For each trial: the batch-size rule's outcome (AlgoPerf answer -> batch used), steps, seconds per
step (submission time / steps), time and steps to target, and the best validation metric against
the target. Batch regime, per-step cost and progress per step are then read side by side.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd


def _best(rows: pd.DataFrame, metric: str, higher: bool) -> float:
    column = f"validation/{metric}"
    if rows.empty or column not in rows:
        return float("nan")
    return float(rows[column].max() if higher else rows[column].min())


def trial_table(experiment: Path) -> pd.DataFrame:
    """One row per trial of ``experiment``."""
    records = []
    for result_path in sorted(experiment.rglob("result.json")):
        trial = result_path.parent
        result = json.loads(result_path.read_text())
        meta = json.loads((trial / "meta_data.json").read_text())
        props = meta["workload"]
        csv = trial / "eval_measurements.csv"
        rows = pd.read_csv(csv) if csv.exists() else pd.DataFrame()
        choice = meta.get("batch_size_choice", {})
        steps = result.get("global_step") or 0
        records.append(
            {
                "workload": props["name"],
                "submission": meta["submission"],
                "study": meta.get("study"),
                "point": meta.get("trial"),
                "answer": choice.get("answer"),
                "batch": meta["batch_size"],
                "steps": steps,
                "ms_per_step": 1000 * result["submission_time"] / steps if steps else None,
                "time_to_target": result.get("time_to_target"),
                "steps_to_target": result.get("steps_to_target"),
                "best": _best(rows, props["target_metric_name"], props["metric_higher_is_better"]),
                "target": props["validation_target_value"],
                "status": result["status"],
                "flags": ";".join(result.get("flags") or []),
            }
        )
    return pd.DataFrame(records).sort_values(["workload", "submission", "study", "point"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", type=Path)
    parser.add_argument("--markdown", action="store_true", help="a Markdown table")
    parser.add_argument("--csv", type=Path, help="also write the table to this CSV")
    args = parser.parse_args()
    table = trial_table(args.experiment)
    if args.csv:
        table.to_csv(args.csv, index=False)
    print(_markdown(table) if args.markdown else table.to_string(index=False))


def _markdown(table: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        if isinstance(value, float):
            return "" if value != value else f"{value:.4g}"
        return str(value)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(False)]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
