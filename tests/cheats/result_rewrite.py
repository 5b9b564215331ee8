"""At exit (and from a process of its own, later), rewrites the trial's eval_measurements.csv so
every eval looks like it reached accuracy 1.0 (from that process, once the trial's record
is written). The trial folder comes from the test's
environment: a real cheat would have to find it (it is in no argument the worker receives)."""

import atexit
import os
import time

from ._honest import data_selection, get_batch_size, init_optimizer_state, update_params


def _rewrite():
    path = os.path.join(os.environ["OPTBENCH_CHEAT_TRIAL"], "eval_measurements.csv")
    if os.path.exists(path):
        with open(path) as handle:
            text = handle.read()
        with open(path, "w") as handle:
            handle.write(text.replace("0.", "1.0"))


def _escape_and_rewrite_later():
    if os.fork() == 0:
        os.setsid()  # out of the worker's process group
        done = os.path.join(os.environ["OPTBENCH_CHEAT_TRIAL"], "result.json")
        deadline = time.monotonic() + 120
        while not os.path.exists(done) and time.monotonic() < deadline:
            time.sleep(0.1)
        _rewrite()
        os._exit(0)


atexit.register(_rewrite)
if os.environ.get("OPTBENCH_CHEAT_ESCAPE"):
    _escape_and_rewrite_later()

__all__ = ["data_selection", "get_batch_size", "init_optimizer_state", "update_params"]
