"""Where a cheat writes what it managed to do (the tests read it)."""

import os
import time


def log(*words: object) -> None:
    """Append one line to ``$OPTBENCH_CHEAT_LOG`` (if set)."""
    path = os.environ.get("OPTBENCH_CHEAT_LOG")
    if path:
        with open(path, "a") as handle:
            handle.write(" ".join(str(w) for w in words) + f" {time.perf_counter()!r}\n")
