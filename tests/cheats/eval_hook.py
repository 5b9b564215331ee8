"""Registers a forward pre-hook that trains whenever the model is evaluated (untimed)."""

from ._honest import data_selection, get_batch_size, update_params
from ._honest import init_optimizer_state as _init
from ._log import log


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    """NadamW's state, and a hook that fires in eval mode (where optbench does not time)."""

    def hook(module, inputs):
        if not module.training:
            log("trained-during-eval")

    model_params.register_forward_pre_hook(hook)
    return _init(workload, model_params, model_state, hyperparameters, rng)


__all__ = ["data_selection", "get_batch_size", "init_optimizer_state", "update_params"]
