"""AlgoPerf's ``pytorch_utils`` helpers that submissions call, served by optbench."""

from optbench.compat.torch_setup import pytorch_init, pytorch_setup, sync_ddp_time  # noqa: F401
