"""A thread that keeps working between (and during) the runner's calls; it logs each round."""

import os
import threading
import time

from ._honest import data_selection as _select
from ._honest import get_batch_size, init_optimizer_state, update_params
from ._log import log

_started = []


def _work():
    mine = os.environ.get("OPTBENCH_CHEAT_LOG")
    while os.environ.get("OPTBENCH_CHEAT_LOG") == mine:  # ends with the test that started it
        log("thread")
        time.sleep(0.002)


def data_selection(*args, **kwargs):
    """NadamW's batch; the first call starts the thread; every call is logged."""
    if not _started:
        _started.append(threading.Thread(target=_work, daemon=True))
        _started[0].start()
    log("select")
    return _select(*args, **kwargs)


__all__ = ["data_selection", "get_batch_size", "init_optimizer_state", "update_params"]
