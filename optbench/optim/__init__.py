"""Optimizers written here because no well-kept library implements them as the benchmark defines."""

from optbench.optim.nadamw import NAdamW

__all__ = ["NAdamW"]
