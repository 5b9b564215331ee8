"""fmnist_mlp with an evaluation that takes 0.3 s longer: a long untimed pause to watch."""

import time

from optbench.workloads import workload_class

from ._log import log

_Mlp = workload_class("fmnist_mlp")


class SlowEvalMlp(_Mlp):
    """fmnist_mlp whose eval sleeps 0.3 s first; it logs when each eval starts and ends."""

    def eval_model(self, *args, **kwargs):
        log("eval-start")
        time.sleep(0.3)
        metrics = super().eval_model(*args, **kwargs)
        log("eval-end")
        return metrics
