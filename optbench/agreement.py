"""How well optbench's mini-suite ranking agrees with AlgoPerf's published leaderboard.

``optbench validate`` scores real AlgoPerf submissions on the mini suite and calls
:func:`compare` with the published scores; :func:`to_markdown` / :func:`to_html` render the
result. Agreement is Kendall's tau-b and Spearman's rho (scipy) with bootstrap percentile
intervals; per mini workload, tau compares mini times with AlgoPerf's reference times (inf =
never reached, ranked last; NaN = not run, left out). Submissions are named as in optbench
throughout; ``names`` maps them to the published board and the reference table.
"""

from __future__ import annotations

import html
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from optbench.errors import UserError

_WORKLOAD_COLUMNS = ("workload", "algoperf_workload", "n", "kendall_tau", "order_mini",
                     "order_algoperf")  # fmt: skip
_PAIR_COLUMNS = ("published_better", "published_worse", "mini_score_better", "mini_score_worse",
                 "workloads_against", "workloads_against_on_algoperf_too")  # fmt: skip
_CSS = (
    "body{font-family:sans-serif;max-width:1300px;margin:1em auto;padding:0 1em}"
    "table{border-collapse:collapse;width:100%;table-layout:fixed;margin:.5em 0 1.5em}"
    "th,td{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top;"
    "overflow-wrap:anywhere;word-break:break-word;white-space:normal}th{background:#f3f3f3}"
)


@dataclass
class Agreement:
    """The comparison of optbench's mini-suite scores with a published leaderboard."""

    submissions: list[str]
    mini_scores: dict[str, float]
    published: dict[str, float]
    kendall_tau: float
    spearman_rho: float
    tau_interval: tuple[float, float]
    rho_interval: tuple[float, float]
    level: float
    per_workload: pd.DataFrame
    disagreeing_pairs: pd.DataFrame
    notes: list[str]


def _read_csv(path: str | os.PathLike) -> pd.DataFrame:
    """The CSV at ``path`` as stripped strings (empty cells ''), or a UserError naming the file."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise UserError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    table.columns = [str(c).strip() for c in table.columns]
    return table.apply(lambda column: column.str.strip())


def read_leaderboard_csv(path: str | os.PathLike) -> dict[str, float]:
    """Published scores by submission, in file order, from a CSV with ``submission``, ``score``.

    ``published_score`` is accepted for ``score``; other columns are ignored. Every score must be
    finite and every submission unique, since the ranking is meaningless otherwise.
    """
    table = _read_csv(path)
    score = "score" if "score" in table.columns else "published_score"
    if "submission" not in table.columns or score not in table.columns:
        found = ", ".join(table.columns) or "none"
        raise UserError(f"{path}: needs columns 'submission' and 'score' (found: {found})")
    board: dict[str, float] = {}
    for name, raw in zip(table["submission"], table[score], strict=True):
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise UserError(f"{path}: score {raw!r} of {name!r} is not a finite number")
        if name in board:
            raise UserError(f"{path}: submission {name!r} appears twice")
        board[name] = value
    return board


def _seconds(path: str | os.PathLike, raw: str) -> float:
    """One reference cell: '' is NaN (not run), 'inf' never reached, else seconds."""
    try:
        return float(raw) if raw else math.nan
    except ValueError:
        raise UserError(f"{path}: time {raw!r} is not seconds, 'inf' or empty") from None


def read_reference_times_csv(path: str | os.PathLike) -> pd.DataFrame:
    """AlgoPerf's time-to-target table: index submission, one float column per workload."""
    table = _read_csv(path)
    if "submission" not in table.columns:
        raise UserError(f"{path}: needs a 'submission' column")
    index = pd.Index(table.pop("submission"), name="submission")
    if index.has_duplicates:
        raise UserError(f"{path}: submission {index[index.duplicated()][0]!r} appears twice")
    data = {c: [_seconds(path, v) for v in table[c]] for c in table.columns}
    return pd.DataFrame(data, index=index, columns=list(table.columns), dtype=float)


def _correlations(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Kendall tau-b and Spearman rho; NaN (without scipy's warnings) when either says nothing."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.kendalltau(x, y).statistic), float(stats.spearmanr(x, y).statistic)


def _intervals(
    replicates: np.ndarray | None,
    columns: list[str],
    submissions: list[str],
    published: list[float],
    level: float,
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Bootstrap intervals of tau and rho: each replicate row against the published scores."""
    if replicates is None:
        return (math.nan, math.nan), (math.nan, math.nan)
    replicates = np.asarray(replicates, dtype=float)
    if replicates.ndim != 2 or replicates.shape[1] != len(columns):
        raise UserError(f"replicate_scores has shape {replicates.shape}, not (n, {len(columns)})")
    missing = [s for s in submissions if s not in columns]
    if missing:
        raise UserError(f"replicate_submissions lacks {', '.join(missing)}")
    picked = replicates[:, [columns.index(s) for s in submissions]]
    both = np.array([_correlations(row, published) for row in picked]).reshape(-1, 2)
    kept = [column[~np.isnan(column)] for column in both.T]
    q = [50 * (1 - level), 50 * (1 + level)]
    return tuple(
        tuple(map(float, np.percentile(k, q))) if k.size else (math.nan,) * 2 for k in kept
    )


@dataclass(frozen=True)
class _Times:
    """Mini and reference time tables and the name maps that join them."""

    mini: pd.DataFrame
    reference: pd.DataFrame | None
    workload_map: Mapping[str, str]
    names: Mapping[str, str]

    def reference_column(self, workload: str) -> pd.Series | None:
        """Reference times of ``workload``'s AlgoPerf twin by optbench name; None when absent."""
        twin = self.workload_map.get(workload, workload)
        if self.reference is None or twin not in self.reference.columns:
            return None
        column = self.reference[twin]
        rows = {s: self.names.get(s, s) for s in self.mini.index}
        return pd.Series({s: column[r] for s, r in rows.items() if r in column.index}, dtype=float)


def _order(times: pd.Series) -> str:
    """'a < b = c < d (inf)': fastest first, ties joined by '=', never-reached ones last."""
    groups: list[tuple[float, list[str]]] = []
    for name, value in sorted(times.items(), key=lambda item: (item[1], str(item[0]))):
        if groups and groups[-1][0] == value:
            groups[-1][1].append(str(name))
        else:
            groups.append((value, [str(name)]))
    return " < ".join(" = ".join(g) + (" (inf)" if math.isinf(v) else "") for v, g in groups)


def _per_workload(times: _Times) -> pd.DataFrame:
    """Per mini workload: tau of mini vs reference times and both orders (n: compared, or
    submissions with a finite mini time when there is no reference)."""
    rows = []
    for workload in times.mini.columns:
        mini = times.mini[workload].dropna()
        reference = times.reference_column(workload)
        n, tau, order_reference = int(np.isfinite(mini).sum()), math.nan, ""
        if reference is not None:
            reference = reference.dropna()
            shared = [s for s in mini.index if s in reference.index]
            reference = reference[shared]
            both = [s for s in shared if math.isfinite(mini[s]) or math.isfinite(reference[s])]
            ranks = [stats.rankdata(side[both]) for side in (mini, reference)]
            n, tau, order_reference = len(both), _correlations(*ranks)[0], _order(reference)
        twin = times.workload_map.get(workload, "" if reference is None else workload)
        rows.append((workload, twin, n, tau, _order(mini), order_reference))
    return pd.DataFrame(rows, columns=list(_WORKLOAD_COLUMNS))


def _worse_is_faster(times: pd.Series | None, better: str, worse: str) -> bool:
    """Whether ``worse`` has a strictly smaller time than ``better`` (inf slowest, NaN never)."""
    return times is not None and bool(times.get(worse, math.nan) < times.get(better, math.nan))


def _disagreeing_pairs(
    submissions: list[str], mini: dict[str, float], board: dict[str, float], times: _Times
) -> pd.DataFrame:
    """Pairs the board orders strictly but the mini scores do not, with the workloads against."""
    rows = []
    for better, worse in combinations(submissions, 2):
        if not (board[better] > board[worse] and mini[better] <= mini[worse]):
            continue
        against = [w for w in times.mini.columns if _worse_is_faster(times.mini[w], better, worse)]
        too = [w for w in against if _worse_is_faster(times.reference_column(w), better, worse)]
        row = (better, worse, mini[better], mini[worse], ", ".join(against), ", ".join(too))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(_PAIR_COLUMNS))


def _match(
    mini_scores: Mapping[str, float], published: Mapping[str, float], names: Mapping[str, str]
) -> tuple[list[str], list[str]]:
    """The optbench submissions also on the board in published order (best first), and notes."""
    board_name = {s: names.get(s, s) for s in mini_scores}
    rank = {b: i for i, b in enumerate(sorted(published, key=lambda b: -published[b]))}
    common = sorted(
        (s for s in mini_scores if board_name[s] in rank), key=lambda s: rank[board_name[s]]
    )
    unscored = [b for b in published if b not in {board_name[s] for s in common}]
    renamed = [s for s in common if board_name[s] != s]
    notes = [f"{s}: not on the published board" for s in mini_scores if s not in common]
    notes += [f"{b}: on the published board, not scored by optbench" for b in unscored]
    notes += [f"{s}: named {board_name[s]!r} on the published board" for s in renamed]
    if len(common) < 3:
        notes.append("fewer than 3 submissions in common: tau and rho say little")
    return common, notes


def compare(
    mini_scores: Mapping[str, float],
    published: Mapping[str, float],
    *,
    mini_times: pd.DataFrame | None = None,
    reference_times: pd.DataFrame | None = None,
    workload_map: Mapping[str, str] | None = None,
    replicate_scores: np.ndarray | None = None,
    replicate_submissions: Sequence[str] | None = None,
    names: Mapping[str, str] | None = None,
    level: float = 0.95,
) -> Agreement:
    """Compare optbench's mini scores (higher is better) with the published board.

    ``mini_times`` (optbench names) and ``reference_times`` (board names) hold seconds to target
    per workload; ``workload_map`` joins their columns. ``replicate_scores`` rows are bootstrap
    replicates of the mini scores over ``replicate_submissions`` (default: ``mini_scores`` order).
    """
    if not 0 < level < 1:
        raise UserError(f"level must be strictly between 0 and 1, not {level}")
    names = dict(names or {})
    submissions, notes = _match(mini_scores, published, names)
    mini = {s: float(mini_scores[s]) for s in submissions}
    board = {s: float(published[names.get(s, s)]) for s in submissions}
    tau, rho = _correlations(list(mini.values()), list(board.values()))
    columns = list(mini_scores if replicate_submissions is None else replicate_submissions)
    intervals = _intervals(replicate_scores, columns, submissions, list(board.values()), level)
    mini_table = pd.DataFrame() if mini_times is None else mini_times.astype(float)
    times = _Times(mini_table, reference_times, dict(workload_map or {}), names)
    pairs = _disagreeing_pairs(submissions, mini, board, times)
    return Agreement(
        submissions, mini, board, tau, rho, *intervals, level, _per_workload(times), pairs, notes
    )


def _fmt(value: float) -> str:
    """A score or correlation with 3 decimals; 'n/a' for NaN."""
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def _summary(a: Agreement) -> list[str]:
    """One line each for tau and rho with their bootstrap intervals."""
    lines = []
    for label, value, (low, high) in (
        ("Kendall tau-b", a.kendall_tau, a.tau_interval),
        ("Spearman rho", a.spearman_rho, a.rho_interval),
    ):
        spread = "no bootstrap replicates" if math.isnan(low) else f"{a.level:.0%} bootstrap "
        spread += "" if math.isnan(low) else f"interval [{_fmt(low)}, {_fmt(high)}]"
        lines.append(f"{label}: {_fmt(value)} ({spread}; {len(a.submissions)} submissions)")
    return lines


def _tables(a: Agreement) -> list[tuple[str, list[str], list[list[str]]]]:
    """The three tables of a report as (heading, header, rows of cell strings)."""
    by_mini = sorted(a.submissions, key=lambda s: (math.isnan(a.mini_scores[s]), -a.mini_scores[s]))
    orders = [
        [str(i), p, _fmt(a.published[p]), m, _fmt(a.mini_scores[m])]
        for i, (p, m) in enumerate(zip(a.submissions, by_mini, strict=True), start=1)
    ]
    header = ["rank", "published order", "published score", "optbench order", "mini score"]
    workloads = [[str(v) for v in row] for row in a.per_workload.itertuples(index=False)]
    for row in workloads:
        row[3] = _fmt(float(row[3]))
    pairs = [
        [r[0], r[1], _fmt(r[2]), _fmt(r[3]), r[4], r[5]]
        for r in a.disagreeing_pairs.itertuples(index=False)
    ]
    return [
        ("Orders, best first", header, orders),
        ("Per workload (times, fastest first)", list(_WORKLOAD_COLUMNS), workloads),
        ("Pairs the mini suite orders differently", list(_PAIR_COLUMNS), pairs),
    ]


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: pipes escaped, newlines flattened."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(agreement: Agreement, title: str = "Ranking agreement") -> str:
    """A Markdown section: both orders, tau and rho with intervals, tables, notes."""
    out = [f"## {title}", ""] + [f"- {line}" for line in _summary(agreement)]
    for heading, header, rows in _tables(agreement):
        out += ["", f"### {heading}", ""]
        if not rows:
            out.append("_none_")
            continue
        out += ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    out += ["", "### Notes", ""] + [f"- {_cell(n)}" for n in agreement.notes or ["none"]]
    return "\n".join(out) + "\n"


def to_html(agreement: Agreement, title: str = "Ranking agreement") -> str:
    """A self-contained HTML page (inline CSS, wrapping fixed-layout tables) of the report."""
    esc = html.escape
    body = [f"<h1>{esc(title)}</h1>", "<ul>"]
    body += [f"<li>{esc(line)}</li>" for line in _summary(agreement)] + ["</ul>"]
    for heading, header, rows in _tables(agreement):
        body.append(f"<h2>{esc(heading)}</h2>")
        if not rows:
            body.append("<p><em>none</em></p>")
            continue
        body.append("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
        body += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows]
        body.append("</table>")
    body += ["<h2>Notes</h2>", "<ul>"]
    body += [f"<li>{esc(n)}</li>" for n in agreement.notes or ["none"]] + ["</ul>"]
    head = f'<meta charset="utf-8"><title>{esc(title)}</title><style>{_CSS}</style>'
    page = [f"<!DOCTYPE html>\n<html><head>{head}</head><body>", *body, "</body></html>\n"]
    return "\n".join(page)
