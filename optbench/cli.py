"""The ``optbench`` command: one sub-command per module in :mod:`optbench.commands`."""

from __future__ import annotations

import argparse
import os
import sys

from optbench import __version__
from optbench.commands import list_cmd, report, run, score, targets, tune, validate
from optbench.errors import UserError

COMMANDS = (run, tune, validate, score, report, targets, list_cmd)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other bad input
        self.exit(2, f"optbench: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    parser = _Parser(
        prog="optbench",
        description="Time-to-result benchmark of training algorithms (AlgoPerf-compatible).",
    )
    parser.add_argument("--version", action="version", version=f"optbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return int(exc.code or 0)
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"optbench: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
    except KeyboardInterrupt:
        print("optbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
