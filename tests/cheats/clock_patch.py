"""Patches optbench's clock at import so each step seems to take no time; sleeps 50 ms a step."""

import time

import optbench.timing

from ._honest import data_selection, get_batch_size, init_optimizer_state
from ._honest import update_params as _update

optbench.timing._perf_counter = lambda: 0.0
optbench.timing.Clock.now = lambda self: 0.0
time.perf_counter = lambda: 0.0


def update_params(*args, **kwargs):
    """NadamW's step, plus 50 ms of 'work' the patched clock would not see."""
    time.sleep(0.05)
    return _update(*args, **kwargs)


__all__ = ["data_selection", "get_batch_size", "init_optimizer_state", "update_params"]
