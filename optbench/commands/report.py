"""``optbench report DIR -o report.html``: the leaderboard as one self-contained HTML file."""

from __future__ import annotations

import argparse

from optbench.commands.score import add_scoring_arguments, leaderboard_from_args


def register(subparsers) -> None:
    """Add the ``report`` sub-command."""
    p = subparsers.add_parser("report", help="write an HTML report of an experiment directory")
    add_scoring_arguments(p)
    p.add_argument("-o", "--output", default="report.html", help="HTML file to write")
    p.add_argument("--title", help="report title")
    p.set_defaults(handler=_main)


def _main(args: argparse.Namespace) -> int:
    from optbench.report import write_report  # matplotlib is only needed here

    board = leaderboard_from_args(args)
    out = write_report(board, args.output, args.title)
    print(f"wrote {out}")
    return 0
