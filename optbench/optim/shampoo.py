"""Shampoo with Adam grafting, in the form of Distributed Shampoo (Shi et al., 2023, "A Distributed
Data-Parallel PyTorch Implementation of the Distributed Shampoo Optimizer", the AlgoPerf v0.5
external-tuning winner), built on Shampoo (Gupta et al., 2018) and its grafting (Anil et al., 2020).

For a matrix parameter W (other tensors are viewed as ``(shape[0], -1)``) with gradient G at step t,
cut into blocks of at most ``max_preconditioner_dim`` rows and columns, per block:

    L_t = b2 L + (1 - b2) G G^T        R_t = b2 R + (1 - b2) G^T G       (Kronecker factors)
    v_t = b2 v + (1 - b2) G*G                                            (Adam grafting)
    M_t = b1 M + (1 - b1) G,   M^ = M_t / (1 - b1^t)                     (filtered gradient)
    A_t = M^ / (sqrt(v_t / (1 - b2^t)) + eps)                            (Adam's direction)
    every f steps:  L~ = (L_t / (1 - b2^t) + delta I)^(-1/4),   R~ likewise   (float64 eigh)
    P_t = L~ M^ R~,   P_t <- P_t * ||A_t||_F / ||P_t||_F                   (grafted to Adam's norm)
    W <- W (1 - lr wd) - lr P_t

Before ``start_preconditioning_step`` (and before the first root is computed) P_t = A_t, i.e. the
update is AdamW's. 1-D parameters (biases, norm scales) always take A_t: Distributed Shampoo would
give them a full-matrix factor of their own. Tensors of more than 2 dimensions are preconditioned
as the matrix ``(shape[0], prod(shape[1:]))``, not one factor per dimension.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Unpack

import torch

from optbench.optim.base import AdamArguments, adam_defaults, loss_of


def inverse_root(matrix: torch.Tensor, root: int, eps: float) -> torch.Tensor:
    """``(matrix + eps I)^(-1/root)`` of a symmetric PSD matrix by eigendecomposition in float64.

    Eigenvalues are floored at ``eps`` so rounding cannot make one non-positive.
    """
    sym = matrix.double()
    sym = 0.5 * (sym + sym.T)
    eye = torch.eye(sym.shape[0], dtype=sym.dtype, device=sym.device)
    evals, evecs = torch.linalg.eigh(sym + eps * eye)
    scaled = evecs * evals.clamp_min(eps).pow(-1.0 / root)
    return (scaled @ evecs.T).to(matrix.dtype)


def _blocks(rows: int, cols: int, size: int) -> list[tuple[int, int, int, int]]:
    return [
        (r, min(r + size, rows), c, min(c + size, cols))
        for r in range(0, rows, size)
        for c in range(0, cols, size)
    ]


class Shampoo(torch.optim.Optimizer):
    """Blocked Shampoo with Adam grafting and decoupled weight decay (see the module docstring)."""

    def __init__(
        self,
        params: Iterable[Any],
        *,
        matrix_eps: float = 1e-12,
        precondition_frequency: int = 10,
        start_preconditioning_step: int = 10,
        max_preconditioner_dim: int = 1024,
        **adam: Unpack[AdamArguments],
    ) -> None:
        """``adam``: ``lr``, ``betas``, ``eps``, ``weight_decay`` (see :func:`adam_defaults`)."""
        defaults = adam_defaults(**adam)
        if matrix_eps <= 0 or defaults["betas"][1] == 0:
            raise ValueError("matrix_eps and beta2 must be positive")
        if precondition_frequency < 1 or start_preconditioning_step < 1:
            raise ValueError("precondition_frequency and start_preconditioning_step must be >= 1")
        defaults |= {
            "matrix_eps": matrix_eps,
            "precondition_frequency": precondition_frequency,
            "start_preconditioning_step": start_preconditioning_step,
            "max_preconditioner_dim": max_preconditioner_dim,
        }
        super().__init__(params, defaults)

    def _init_state(self, p: torch.Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[p]
        state["step"] = 0
        state["exp_avg"] = torch.zeros_like(p)
        state["exp_avg_sq"] = torch.zeros_like(p)
        if p.ndim >= 2:
            rows, cols = p.shape[0], p[0].numel()
            state["blocks"] = [
                {
                    "index": index,
                    "L": p.new_zeros(index[1] - index[0], index[1] - index[0]),
                    "R": p.new_zeros(index[3] - index[2], index[3] - index[2]),
                    "L_root": None,
                    "R_root": None,
                }
                for index in _blocks(rows, cols, group["max_preconditioner_dim"])
            ]
        return state

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = loss_of(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, wd = group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p] or self._init_state(p, group)
                state["step"] += 1
                t = state["step"]
                grad = p.grad
                state["exp_avg"].lerp_(grad, 1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                bias2 = 1 - beta2**t
                filtered = state["exp_avg"] / (1 - beta1**t)
                direction = filtered / ((state["exp_avg_sq"] / bias2).sqrt_().add_(group["eps"]))
                if p.ndim >= 2:
                    direction = self._precondition(state, group, grad, filtered, direction, t)
                p.mul_(1 - lr * wd).add_(direction, alpha=-lr)
        return loss

    def _precondition(self, state, group, grad, filtered, adam, t):
        """Shampoo's direction per block, grafted to the norm of Adam's block direction."""
        beta2 = group["betas"][1]
        rows = grad.shape[0]
        g, m = grad.reshape(rows, -1), filtered.reshape(rows, -1)
        out = adam.reshape(rows, -1).clone()
        refresh = t % group["precondition_frequency"] == 0
        for block in state["blocks"]:
            r0, r1, c0, c1 = block["index"]
            gb = g[r0:r1, c0:c1]
            block["L"].mul_(beta2).add_(gb @ gb.T, alpha=1 - beta2)
            block["R"].mul_(beta2).add_(gb.T @ gb, alpha=1 - beta2)
            if refresh:
                bias2 = 1 - beta2**t
                block["L_root"] = inverse_root(block["L"] / bias2, 4, group["matrix_eps"])
                block["R_root"] = inverse_root(block["R"] / bias2, 4, group["matrix_eps"])
            if t < group["start_preconditioning_step"] or block["L_root"] is None:
                continue
            shampoo = block["L_root"] @ m[r0:r1, c0:c1] @ block["R_root"]
            norm = torch.linalg.vector_norm(shampoo)
            if norm > 0:
                out[r0:r1, c0:c1] = shampoo * (torch.linalg.vector_norm(out[r0:r1, c0:c1]) / norm)
        return out.reshape(grad.shape)
