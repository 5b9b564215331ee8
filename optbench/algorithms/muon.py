"""Muon (Jordan et al., 2024, "Muon: An optimizer for hidden layers in neural networks") with an
AdamW fallback.

Library: ``torch.optim.Muon`` (momentum 0.95 with Nesterov look-ahead, then 5 Newton-Schulz steps
with coefficients (3.4445, -4.7750, 2.0315), run in bfloat16 as in the reference code) on the 2-D
hidden weights; ``torch.optim.AdamW`` on 1-D parameters, embeddings, the output layer
(``workload.is_output_params``) and higher-order tensors (``torch.optim.Muon`` takes only 2-D ones;
the reference flattens convolution kernels instead), combined by
:class:`optbench.optim.muon.MuonWithAdamW`. Muon's update is scaled to AdamW's RMS
(``adjust_lr_fn="match_rms_adamw"``, Liu et al., 2025, "Muon is Scalable for LLM Training") instead
of the reference's ``sqrt(max(1, rows/cols))``, so both share one learning rate and decoupled weight
decay. Schedule: linear warmup, cosine decay to 0. Search space: Liu et al. show the matched-RMS
Muon reuses AdamW's hyperparameters: the learning-rate and weight-decay ranges of AlgoPerf's AdamW
baseline, Muon's momentum 0.95, the fallback's betas (0.9, 0.95). Self-tuning point: the reference
learning rate 0.02 in matched-RMS units (0.02 / (0.2 sqrt(768)) = 3.6e-3 for a square 768-wide or a
64x784 matrix), the rest of the NadamW point. On CPUs without bfloat16 arithmetic the Newton-Schulz
steps cost far more than in float32: torch runs them in bfloat16 whatever the device.
"""

from typing import Any

from torch import nn

from optbench import spec
from optbench.algorithms import self_tuning
from optbench.algorithms.hyperparameters import adam_arguments
from optbench.algorithms.recipe import make_submission
from optbench.algorithms.schedules import warmup_cosine
from optbench.optim.muon import MuonWithAdamW

SELF_TUNING = self_tuning.nadamw(
    learning_rate=3.6e-3, momentum=0.95, one_minus_beta1=0.1, beta2=0.95
)


def hidden_matrices(model: nn.Module, workload: spec.Workload) -> set[str]:
    """Names of the parameters Muon updates: 2-D weights, not embeddings, not the output layer."""
    types = workload.model_params_types
    return {
        name
        for name, p in model.named_parameters()
        if p.ndim == 2
        and types.get(name) is not spec.ParameterType.EMBEDDING
        and not workload.is_output_params(name)
    }


def build(model: nn.Module, hp: Any, workload: spec.Workload) -> MuonWithAdamW:
    """Muon on the hidden matrices, AdamW on the rest."""
    muon_names = hidden_matrices(model, workload)
    named = list(model.named_parameters())
    hidden = [p for name, p in named if name in muon_names]
    rest = [p for name, p in named if name not in muon_names]
    return MuonWithAdamW(
        hidden,
        rest,
        **adam_arguments(hp),
        momentum=hp.momentum,
        nesterov=True,
        eps=1e-8,
        adjust_lr_fn="match_rms_adamw",
    )


SUBMISSION = make_submission("muon", build, defaults=SELF_TUNING, schedule=warmup_cosine)
