"""Trains 50 steps inside the untimed init_optimizer_state (on the training data it finds)."""

import torch

from ._honest import data_selection, get_batch_size, update_params
from ._honest import init_optimizer_state as _init
from ._log import log


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    """Free training before the clock starts: SGD on random inputs, in place."""
    optimizer = torch.optim.SGD(model_params.parameters(), lr=0.1)
    for _ in range(50):
        optimizer.zero_grad()
        out = model_params(torch.randn(32, *_input_shape(model_params)))
        out.pow(2).mean().backward()
        optimizer.step()
    log("pretrained")
    return _init(workload, model_params, model_state, hyperparameters, rng)


def _input_shape(model):
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
    return (first.in_features,)


__all__ = ["data_selection", "get_batch_size", "init_optimizer_state", "update_params"]
