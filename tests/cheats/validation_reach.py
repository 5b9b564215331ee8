"""Reaches the real workload through the view's closure and looks for the validation split."""

from ._honest import data_selection as _select
from ._honest import get_batch_size, init_optimizer_state, update_params
from ._log import log


def data_selection(workload, input_queue, *args, **kwargs):
    """NadamW's batch, after logging whether the validation data could be reached."""
    getter = object.__getattribute__(workload, "_get")
    real = next(c.cell_contents for c in getter.__closure__ if hasattr(c.cell_contents, "name"))
    splits = getattr(real, "_splits", None) or {}
    log("validation-found" if "validation" in splits else "validation-missing")
    return _select(workload, input_queue, *args, **kwargs)


__all__ = ["data_selection", "get_batch_size", "init_optimizer_state", "update_params"]
