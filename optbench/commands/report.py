"""``optbench report DIR -o report.html``: the leaderboard as one self-contained HTML file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from optbench.commands import add_command
from optbench.commands.score import add_scoring_arguments, check_output, leaderboards_from_args


def register(subparsers: Any) -> None:
    """Add the ``report`` sub-command."""
    p = add_command(subparsers, "report")
    add_scoring_arguments(p)
    p.add_argument("-o", "--output", default="report.html", help="HTML file to write")
    p.add_argument("--title", help="report title")
    p.set_defaults(handler=_main)


def _main(args: argparse.Namespace) -> int:
    from optbench.report import write_report  # matplotlib is only needed here

    check_output(Path(args.output))
    boards = leaderboards_from_args(args)
    for board in boards:
        output, title = Path(args.output), args.title
        if len(boards) > 1:  # a tree with both rulesets: one report each
            output = output.with_name(f"{output.stem}-{board.ruleset}{output.suffix}")
            title = f"{title or 'optbench leaderboard'} ({board.ruleset} tuning)"
        out = write_report(board, output, title)
        print(f"wrote {out}")
    return 0
