"""The ``optbench`` command: one sub-command per module in :mod:`optbench.commands`.

Only the command being run is imported (torch and the workloads take seconds to import), so
``optbench --version`` and ``optbench --help`` answer at once.

Exit status, the same for every command (:data:`EXIT_CODES`): 0 success (every trial ran to its
end, whether or not it reached its target); 3 some trial failed (its result is recorded, the
others ran); 2 bad input (one line on stderr, nothing written); 1 an internal error (a bug:
Python's traceback); 130 interrupted (Ctrl-C; no result recorded for the interrupted trial).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from optbench import __version__
from optbench.commands import COMMANDS
from optbench.errors import UserError

EXIT_OK = 0
EXIT_CRASH = 1
EXIT_BAD_INPUT = 2
EXIT_TRIAL_FAILED = 3
EXIT_INTERRUPTED = 130
EXIT_CODES = {
    EXIT_OK: "success: every trial ran to its end (reaching the target or not)",
    EXIT_CRASH: "internal error (a bug in optbench; Python prints the traceback)",
    EXIT_BAD_INPUT: "bad input: one line on stderr, nothing written",
    EXIT_TRIAL_FAILED: "some trial failed (its result and error.txt are recorded)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); resume by running the same command again",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other bad input
        self.exit(EXIT_BAD_INPUT, f"optbench: error: {message}\n")


def _command_in(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv`` (the first word that is not an option), if any."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; the command named in ``argv`` is registered in full (all of them when
    ``argv`` is None), the others by name and help only, without importing their modules."""
    parser = _Parser(
        prog="optbench",
        description="Time-to-result benchmark of training algorithms (AlgoPerf-compatible).",
        epilog="exit status: "
        + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()),
    )
    parser.add_argument("--version", action="version", version=f"optbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    chosen = None if argv is None else _command_in(argv)
    for name, (module, help_text, _) in COMMANDS.items():
        if argv is None or name == chosen:
            importlib.import_module(module).register(sub)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status (see :data:`EXIT_CODES`)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser(argv).parse_args(argv)
        args.argv = argv  # what a command relaunches itself with (run --nproc-per-node)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return int(exc.code or 0)
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"optbench: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return EXIT_OK
    except KeyboardInterrupt:
        print("optbench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
