"""AlgoPerf's ``spec`` module, served by optbench."""

from optbench.spec import *  # noqa: F403
from optbench.spec import TrainingCompleteError, Workload  # noqa: F401
