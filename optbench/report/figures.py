"""Matplotlib figures of a leaderboard, rendered with Agg to base64 PNG strings."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from optbench.scoring import Leaderboard

DPI = 90
_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def colours(submissions: Sequence[str]) -> dict[str, str]:
    """A stable colour per submission (by sorted name, so every figure agrees)."""
    names = sorted(submissions)
    if len(names) <= len(_PALETTE):
        return {name: _PALETTE[i] for i, name in enumerate(names)}
    from matplotlib import colormaps

    cmap = colormaps["tab20" if len(names) <= 20 else "turbo"]
    steps = 20 if len(names) <= 20 else len(names)
    return {name: _hex(cmap(i / max(steps - 1, 1))) for i, name in enumerate(names)}


def _hex(rgba: tuple[float, ...]) -> str:
    return "#" + "".join(f"{round(255 * c):02x}" for c in rgba[:3])


def to_png(fig: Figure) -> str:
    """Render ``fig`` with Agg and return it base64-encoded."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _grid(n: int, ncols: int = 3, size: tuple[float, float] = (4.6, 3.2)) -> tuple[Figure, list]:
    cols = max(1, min(ncols, n))
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(size[0] * cols, size[1] * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def profile_figure(board: Leaderboard) -> str:
    """Performance profiles rho(tau), one line per submission, score in the legend."""
    fig = Figure(figsize=(8.0, 4.8), layout="constrained")
    ax = fig.add_subplot()
    palette = colours(board.submissions)
    taus = board.profiles.columns.to_numpy(dtype=float)
    for sub in board.submissions:
        score = board.scores.at[sub, "score"]
        rho = board.profiles.loc[sub].to_numpy(dtype=float)
        ax.step(taus, rho, where="post", color=palette[sub], label=f"{sub} ({score:.4f})")
    ax.set_xlim(taus[0], taus[-1])
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("tau: time / fastest time")
    ax.set_ylabel("share of base workloads within tau")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return to_png(fig)


def time_figure(board: Leaderboard) -> str:
    """Median time to target per workload and submission, bootstrap 95% interval whiskers."""
    workloads = board.reported_workloads
    fig, axes = _grid(len(workloads), ncols=3, size=(4.6, 0.35 * len(board.submissions) + 1.2))
    palette = colours(board.submissions)
    subs = board.submissions
    positions = np.arange(len(subs))[::-1]
    for ax, wl in zip(axes, workloads, strict=True):
        times = board.times[wl].reindex(subs).to_numpy(dtype=float)
        low = board.time_ci_low[wl].reindex(subs).to_numpy(dtype=float)
        high = board.time_ci_high[wl].reindex(subs).to_numpy(dtype=float)
        finite = np.isfinite(times)
        top = max([*times[finite], *high[np.isfinite(high)], 1.0])
        for y, sub, t, lo, hi in zip(positions, subs, times, low, high, strict=True):
            if not np.isfinite(t):
                label = "not run" if np.isnan(t) else "never"
                ax.text(0.01 * top, y, label, va="center", fontsize=7, color="#666666")
                continue
            ax.barh(y, t, color=palette[sub], height=0.7)
            if np.isfinite(lo):
                right = hi if np.isfinite(hi) else top * 1.05
                ax.errorbar(
                    t, y, xerr=[[t - lo], [right - t]], fmt="none", ecolor="black", capsize=2
                )
        ax.set_yticks(positions, subs, fontsize=7)
        ax.set_ylim(-0.6, len(subs) - 0.4)
        ax.set_xlim(0, top * 1.08)
        kind = " (held-out)" if wl in board.held_out_workloads else ""
        ax.set_title(f"{wl}{kind}", fontsize=9)
        ax.set_xlabel("seconds", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    return to_png(fig)


def _y_range(curves: list[np.ndarray], target: float, minimize: bool) -> tuple[float, float] | None:
    """Limits that drop the early part of the curves (far from the target) but keep the target."""
    values = np.concatenate([c[np.isfinite(c)] for c in curves]) if curves else np.array([])
    if values.size == 0:
        return None
    low, high = np.quantile(values, [0.02, 0.9] if minimize else [0.1, 0.98])
    low, high = min(low, target), max(high, target)
    pad = 0.05 * (high - low or abs(target) or 1.0)
    return low - pad, high + pad


def curve_figure(board: Leaderboard, workload: str) -> str | None:
    """Validation target metric vs submission time, one line per trial (failed ones dotted),
    coloured by submission, with the target as a dashed line."""
    target = board.targets.workloads.get(workload)
    if target is None or target.column not in board.trials:
        return None
    trials = board.trials[board.trials["workload"] == workload]
    fig = Figure(figsize=(7.0, 3.8), layout="constrained")
    ax = fig.add_subplot()
    palette = colours(board.submissions)
    lines: dict[tuple[str, bool], list[np.ndarray]] = {}
    for row in trials.to_dict("records"):
        values, times = row.get(target.column), row.get("accumulated_submission_time")
        if isinstance(values, np.ndarray) and isinstance(times, np.ndarray) and len(values):
            key = (row["submission"], row["status"] != "ok")
            lines.setdefault(key, []).append(np.column_stack([times, values]))
    if not lines:
        return None
    for (sub, failed), segments in sorted(lines.items()):  # one collection each: fast
        colour = palette.get(sub, "#333333")
        style = ":" if failed else "-"
        ax.add_collection(
            LineCollection(segments, colors=colour, linewidths=0.9, alpha=0.6, linestyles=style)
        )
        label = f"{sub} ({len(segments)} {'failed' if failed else 'trials'})"
        ax.plot([], [], color=colour, ls=style, label=label)
    ax.autoscale_view()
    curves = [segment[:, 1] for segments in lines.values() for segment in segments]
    ax.axhline(target.value, color="black", ls="--", lw=1.2, label=f"target {target.value:g}")
    limits = _y_range(curves, target.value, target.minimize)
    if limits:
        ax.set_ylim(*limits)
    goal = "lower is better" if target.minimize else "higher is better"
    ax.set_title(f"{workload}: validation {target.metric} ({goal})", fontsize=10)
    ax.set_xlabel("accumulated submission time (s)")
    ax.set_ylabel(target.metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return to_png(fig)
