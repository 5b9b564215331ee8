"""Muon on the hidden weight matrices and AdamW on every other parameter, as one optimizer.

``torch.optim.Muon`` accepts 2-D parameters only, and Muon is meant for hidden matrices alone
(Jordan et al., 2024): biases, norm scales, embeddings and the output layer need another rule.
This class holds a ``torch.optim.Muon`` and a ``torch.optim.AdamW`` and exposes their parameter
groups as its own (the same dicts), so one LR scheduler and one ``zero_grad``/``step`` drive both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from optbench.optim.base import loss_of


class MuonWithAdamW(torch.optim.Optimizer):
    """``torch.optim.Muon`` for ``muon_params``, ``torch.optim.AdamW`` for ``adamw_params``.

    Both share ``lr`` and ``weight_decay`` (decoupled, ``p <- p (1 - lr wd)``); with
    ``adjust_lr_fn="match_rms_adamw"`` Muon's update is scaled to AdamW's typical RMS
    (0.2 sqrt(max(rows, cols)), Liu et al., 2025), so one learning rate suits both.
    """

    def __init__(
        self,
        muon_params: Iterable[torch.Tensor],
        adamw_params: Iterable[torch.Tensor],
        *,
        lr: float,
        weight_decay: float = 0.0,
        momentum: float = 0.95,
        nesterov: bool = True,
        betas: tuple[float, float] = (0.9, 0.95),
        eps: float = 1e-8,
        adjust_lr_fn: str | None = "match_rms_adamw",
    ) -> None:
        muon_params, adamw_params = list(muon_params), list(adamw_params)
        self.muon = self.adamw = None
        if muon_params:
            self.muon = torch.optim.Muon(
                muon_params,
                lr=lr,
                weight_decay=weight_decay,
                momentum=momentum,
                nesterov=nesterov,
                adjust_lr_fn=adjust_lr_fn,
            )
        if adamw_params:
            self.adamw = torch.optim.AdamW(
                adamw_params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay
            )
        self.parts = [opt for opt in (self.muon, self.adamw) if opt is not None]
        super().__init__(muon_params + adamw_params, {"lr": lr, "weight_decay": weight_decay})
        self.param_groups = [group for opt in self.parts for group in opt.param_groups]

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = loss_of(closure)
        for opt in self.parts:
            opt.step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {"parts": [opt.state_dict() for opt in self.parts]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for opt, part in zip(self.parts, state_dict["parts"], strict=True):
            opt.load_state_dict(part)
