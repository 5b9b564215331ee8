"""The one error type that reaches the user as a one-line message (exit code 2)."""


class UserError(Exception):
    """Bad input from the user: unknown name, malformed file, impossible setting.

    The CLI prints ``optbench: error: <message>`` on one line and exits with status 2.
    """
