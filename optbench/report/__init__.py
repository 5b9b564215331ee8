"""One self-contained HTML report of a scored experiment (figures embedded as PNG)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from optbench.errors import UserError
from optbench.report import figures
from optbench.report.html import (
    escape,
    image,
    page,
    records_table,
    seconds_cell,
    table,
    text_cell,
)
from optbench.scoring import Leaderboard

__all__ = ["build_html", "write_report"]


def _interval(low: float, high: float, digits: int = 4) -> str:
    if math.isnan(low) or math.isnan(high):
        return ""
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def _intervals_note(board: Leaderboard) -> str:
    if not board.n_bootstrap:
        return "No intervals (no bootstrap)."
    return (
        f"Intervals: 95% bootstrap over studies ({board.n_bootstrap} samples, seed {board.seed})."
    )


def _summary(board: Leaderboard) -> str:
    held = ", ".join(board.held_out_workloads) or "none"
    return (
        '<p class="note">'
        f"Ruleset <b>{escape(board.ruleset)}</b> tuning, preset <b>{escape(board.preset)}</b>, "
        f"mode <b>{escape(board.mode)}</b>; targets from "
        f"{escape(board.targets.source)}; base workloads: {escape(', '.join(board.base_workloads))}"
        f"; held-out variants: {escape(held)}. {_intervals_note(board)} Scores are relative "
        "to the set of submissions compared.</p>"
    )


def _leaderboard_table(board: Leaderboard) -> str:
    header = ["submission", "score", "95% CI"]
    if board.baseline:
        header.append(f"speed-up vs {board.baseline}")
    rows = []
    for sub, row in board.scores.iterrows():
        cells = [text_cell(sub, name=True), f"<td>{row['score']:.4f}</td>"]
        cells.append(text_cell(_interval(row["ci_low"], row["ci_high"])))
        if board.baseline:
            speed = row["speedup"]
            cells.append(text_cell("-" if math.isnan(speed) else f"{speed:.3f}x"))
        rows.append(cells)
    return table(header, rows)


def _times_table(board: Leaderboard) -> str:
    """Median time to target per submission x reported workload (before the rules)."""
    workloads = board.reported_workloads
    rows = [
        [
            text_cell(sub, name=True),
            *(seconds_cell(float(board.times.at[sub, w])) for w in workloads),
        ]
        for sub in board.scores.index
    ]
    return table(["submission", *workloads], rows)


def _scored_table(board: Leaderboard) -> str:
    header = ["submission", *board.scored_times.columns]
    rows = [
        [text_cell(sub, name=True), *(seconds_cell(float(v)) for v in row)]
        for sub, row in board.scored_times.iterrows()
    ]
    return table(header, rows)


def _failures_table(board: Leaderboard) -> str:
    if board.failures.empty:
        return '<p class="note">No failed trials.</p>'
    header = ["submission", "study", "workload", "trial", "reason"]
    return records_table(board.failures.to_dict("records"), header, set(header[::2]))


def _flags_table(board: Leaderboard) -> str:
    if board.flags.empty:
        return '<p class="note">No flagged trials.</p>'
    how = (
        "Scored as never reaching the target (strict scoring)."
        if board.strict
        else "Scored as they ran; <code>optbench score --strict</code> scores them as never "
        "reaching the target."
    )
    header = ["submission", "workload", "study", "trial", "flag"]
    records = board.flags.to_dict("records")
    return f'<p class="note">{how}</p>' + records_table(records, header, {*header[:2], "flag"})


def _warnings(board: Leaderboard) -> str:
    if not board.warnings:
        return '<p class="note">None.</p>'
    items = "".join(f"<li>{escape(w)}</li>" for w in board.warnings)
    return f'<ul class="note">{items}</ul>'


def build_html(board: Leaderboard, title: str = "optbench leaderboard") -> str:
    """The report as one HTML string."""
    sections = [
        _summary(board),
        "<h2>Leaderboard</h2>",
        _leaderboard_table(board),
        "<h3>Median time to target (s)</h3>",
        _times_table(board),
        '<p class="note">Median over studies, before the held-out and 4x rules. <b>never</b>: '
        "target not reached; <b>-</b>: not run.</p>",
        "<h2>Performance profiles</h2>",
        image(figures.profile_figure(board), "performance profiles"),
        "<h3>Base-workload times after the variant and 4x rules (what is scored)</h3>",
        _scored_table(board),
        "<h2>Time to target per workload</h2>",
        image(figures.time_figure(board), "time to target per workload"),
        "<h2>Training curves</h2>",
    ]
    for workload in board.reported_workloads:
        png = figures.curve_figure(board, workload)
        if png is not None:
            sections.append(image(png, f"training curves of {workload}"))
    sections += [
        "<h2>Flagged trials</h2>",
        _flags_table(board),
        "<h2>Failed trials</h2>",
        _failures_table(board),
        "<h2>Warnings</h2>",
        _warnings(board),
    ]
    return page(title, sections)


def write_report(board: Leaderboard, out: str | os.PathLike[str], title: str | None = None) -> Path:
    """Write the report of ``board`` to ``out`` (one file) and return its path."""
    out = Path(out)
    text = build_html(board, title or "optbench leaderboard")
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out
