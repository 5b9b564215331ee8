"""Each baseline's first updates against its published equations, recomputed here in float64.

The optimizer under test is built exactly as shipped: ``SUBMISSION.init_optimizer_state`` and
``SUBMISSION.update_params`` on a tiny fake workload (a 4-3-2 tanh MLP, mean squared error, three
fixed batches), so the LR schedule, closures (SAM), gradient graphs (Sophia) and eval-mode
switches (Schedule-Free) are covered too. The references below are written from the papers'
update rules (with each library deviation the baseline's docstring declares); they share
nothing with the libraries but autograd for gradients and Hessian-vector products.
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch
from torch import nn

from optbench import search_space, spec
from optbench.algorithms import BASELINES
from optbench.optim.shampoo import Shampoo, inverse_root
from optbench.workloads.base import parameter_types

F64 = torch.float64
RTOL, ATOL = 1e-5, 1e-12
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


class TinyWorkload:
    """The parts of the Workload API ``make_submission``'s functions use, on a 4-3-2 MLP."""

    loss_type = spec.LossType.MEAN_SQUARED_ERROR

    def __init__(self, model: nn.Module, step_hint: int) -> None:
        self.model, self.step_hint = model, step_hint

    @property
    def model_params_types(self):
        return parameter_types(self.model)

    def is_output_params(self, key: str) -> bool:
        return key.startswith("2.")

    def model_fn(self, params, augmented_and_preprocessed_input_batch, model_state, **_):
        return params(augmented_and_preprocessed_input_batch["inputs"]), model_state

    def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing=0.0):
        per_example = 0.5 * ((logits_batch - label_batch) ** 2).sum(-1)
        n = torch.tensor(float(len(per_example)), dtype=F64)
        return {"summed": per_example.sum(), "n_valid_examples": n, "per_example": per_example}


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)).to(F64)


def batches() -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [
        {
            "inputs": torch.randn(8, 4, generator=g, dtype=F64),
            "targets": torch.randn(8, 2, generator=g, dtype=F64),
        }
        for _ in range(3)
    ]


def loss_at(params: dict[str, torch.Tensor], batch) -> torch.Tensor:
    hidden = torch.tanh(batch["inputs"] @ params["0.weight"].T + params["0.bias"])
    out = hidden @ params["2.weight"].T + params["2.bias"]
    return 0.5 * ((out - batch["targets"]) ** 2).sum(-1).mean()


def grad_at(params, batch) -> dict[str, torch.Tensor]:
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    grads = torch.autograd.grad(loss_at(leaves, batch), list(leaves.values()))
    return dict(zip(leaves, grads, strict=True))


def hvp_at(params, batch, vectors) -> dict[str, torch.Tensor]:
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    grads = torch.autograd.grad(loss_at(leaves, batch), list(leaves.values()), create_graph=True)
    hv = torch.autograd.grad(grads, list(leaves.values()), grad_outputs=list(vectors.values()))
    return dict(zip(leaves, hv, strict=True))


def multiplier(kind: str, step: int, step_hint: int, hp: dict) -> float:
    """Linear warmup to 1 at the last warmup step, then AlgoPerf's cosine to 0 or linear decay to
    ``end_factor``, or REX (Chen et al.: (1 - z) / (1/2 + (1 - z)/2)), at ``step_hint``."""
    warm = int(hp["warmup_factor"] * step_hint)
    if step < warm:
        return (step + 1) / warm
    progress = min((step - warm) / max(step_hint - warm, 1), 1.0)
    if kind == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if kind == "rex":
        return (1 - progress) / (0.5 + 0.5 * (1 - progress))
    return 1 - (1 - hp["end_factor"]) * progress


def close(actual, expected, what: str) -> None:
    torch.testing.assert_close(actual.to(F64), expected, rtol=RTOL, atol=ATOL, msg=what)


def close_states(state_of, model: nn.Module, expected: dict[str, dict[str, torch.Tensor]]) -> None:
    """The optimizer's ``state_of[p][key]`` against ``expected[key][name]``, for every entry."""
    named = dict(model.named_parameters())
    for key, values in expected.items():
        for name, value in values.items():
            close(state_of[named[name]][key], value, f"{key} of {name}")


# --- references, one per algorithm: step(params, t, lr, batch) -> params; check(opt, model) ---


class AdamWRef:
    """m, v moving averages; p <- p (1 - lr wd) - lr m^ / (sqrt(v^) + eps)."""

    def __init__(self, hp, params, names=None, nesterov=False):
        self.hp, self.nesterov = hp, nesterov
        self.names = list(params) if names is None else names
        self.m = {k: torch.zeros_like(params[k]) for k in self.names}
        self.v = {k: torch.zeros_like(params[k]) for k in self.names}

    def update(self, params, grads, t, lr):
        b1, b2, wd = self.hp["beta1"], self.hp["beta2"], self.hp["weight_decay"]
        new = dict(params)
        for k in self.names:
            g = grads[k]
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            m = b1 * self.m[k] + (1 - b1) * g if self.nesterov else self.m[k]
            step = (m / (1 - b1**t)) / ((self.v[k] / (1 - b2**t)).sqrt() + 1e-8)
            new[k] = params[k] * (1 - lr * wd) - lr * step
        return new

    def step(self, params, t, lr, batch):
        return self.update(params, grad_at(params, batch), t, lr)

    def check(self, opt, model, state_of=None):
        close_states(state_of or opt.state, model, {"exp_avg": self.m, "exp_avg_sq": self.v})


class NAdamWRef(AdamWRef):
    """AlgoPerf's NadamW: the step uses b1 m_t + (1 - b1) g, bias-corrected by 1 - b1^t."""

    def __init__(self, hp, params):
        super().__init__(hp, params, nesterov=True)


class MomentumRef:
    """b <- mu b + (g + wd p); heavy ball p <- p - lr b; Nesterov p <- p - lr (g + wd p + mu b)."""

    def __init__(self, hp, params, nesterov=False):
        self.hp, self.nesterov = hp, nesterov
        self.b = {k: torch.zeros_like(v) for k, v in params.items()}

    def step(self, params, t, lr, batch):
        mu, wd = self.hp["beta1"], self.hp["weight_decay"]
        grads, new = grad_at(params, batch), {}
        for k, p in params.items():
            d = grads[k] + wd * p
            self.b[k] = mu * self.b[k] + d
            new[k] = p - lr * (d + mu * self.b[k] if self.nesterov else self.b[k])
        return new

    def check(self, opt, model):
        close_states(opt.state, model, {"momentum_buffer": self.b})


class LambRef:
    """You et al.'s LAMB with the library's declared choices: no bias correction inside u,
    phi(z) = min(z, 10), ratio phi(||p||) / (||u|| + eps)."""

    def __init__(self, hp, params):
        self.hp = hp
        self.m = {k: torch.zeros_like(v) for k, v in params.items()}
        self.v = {k: torch.zeros_like(v) for k, v in params.items()}

    def step(self, params, t, lr, batch):
        b1, b2, wd, eps = self.hp["beta1"], self.hp["beta2"], self.hp["weight_decay"], 1e-8
        grads, new = grad_at(params, batch), {}
        for k, p in params.items():
            self.m[k] = b1 * self.m[k] + (1 - b1) * grads[k]
            self.v[k] = b2 * self.v[k] + (1 - b2) * grads[k] ** 2
            u = self.m[k] / (self.v[k].sqrt() + eps) + wd * p
            pn, un = p.norm(), u.norm()
            ratio = 1.0 if pn == 0 or un == 0 else min(pn, 10.0) / (un + eps)
            new[k] = p - lr * ratio * u
        return new

    def check(self, opt, model):
        close_states(opt.state, model, {"exp_avg": self.m, "exp_avg_sq": self.v})


class AdafactorRef:
    """Shazeer & Stern: factored (row, column) second moments with decay min(b2, 1 - t^-0.8),
    U = G / sqrt(V^), clipped to RMS <= 1, momentum on lr * U, decoupled decay."""

    def __init__(self, hp, params):
        self.hp = hp
        self.rows = {
            k: torch.zeros(v.shape[0], dtype=F64) for k, v in params.items() if v.ndim == 2
        }
        self.cols = {
            k: torch.zeros(v.shape[1], dtype=F64) for k, v in params.items() if v.ndim == 2
        }
        self.vec = {k: torch.zeros_like(v) for k, v in params.items() if v.ndim == 1}
        self.m = {k: torch.zeros_like(v) for k, v in params.items()}

    def step(self, params, t, lr, batch):
        b1, wd = self.hp["beta1"], self.hp["weight_decay"]
        decay = min(self.hp["beta2"], 1 - t**-0.8)
        grads, new = grad_at(params, batch), {}
        for k, p in params.items():
            sq = grads[k] ** 2 + 1e-30
            if p.ndim == 2:
                self.rows[k] = decay * self.rows[k] + (1 - decay) * sq.mean(dim=1)
                self.cols[k] = decay * self.cols[k] + (1 - decay) * sq.mean(dim=0)
                v_hat = torch.outer(self.rows[k], self.cols[k]) / self.rows[k].mean()
            else:
                self.vec[k] = decay * self.vec[k] + (1 - decay) * sq
                v_hat = self.vec[k]
            u = grads[k] / v_hat.sqrt()
            u = u / max(1.0, (u.pow(2).mean().sqrt() / 1.0).item())
            self.m[k] = b1 * self.m[k] + (1 - b1) * lr * u
            new[k] = p * (1 - lr * wd) - self.m[k]
        return new

    def check(self, opt, model):
        # rows and cols hold the matrices, vec the vectors
        moments = {"exp_avg_sq_row": self.rows, "exp_avg_sq_col": self.cols, "exp_avg_sq": self.vec}
        close_states(opt.state, model, {"exp_avg": self.m, **moments})


class SamRef:
    """Foret et al.: e = rho g / ||g|| (global), then AdamW with the gradient at p + e."""

    def __init__(self, hp, params):
        self.hp, self.adamw = hp, AdamWRef(hp, params)

    def step(self, params, t, lr, batch):
        g = grad_at(params, batch)
        norm = torch.sqrt(sum((v**2).sum() for v in g.values()))
        scale = self.hp["rho"] / (norm + 1e-12)
        perturbed = {k: v + scale * g[k] for k, v in params.items()}
        return self.adamw.update(params, grad_at(perturbed, batch), t, lr)

    def check(self, opt, model):
        self.adamw.check(opt, model)


def root_inverse_np(matrix: torch.Tensor, eps: float) -> torch.Tensor:
    """(A + eps I)^(-1/4) with numpy's eigendecomposition."""
    a = matrix.numpy()
    w, q = np.linalg.eigh((a + a.T) / 2 + eps * np.eye(len(a)))
    return torch.from_numpy((q * np.maximum(w, eps) ** -0.25) @ q.T)


class ShampooRef:
    """The module docstring of optbench.optim.shampoo, for one block per matrix."""

    def __init__(self, hp, params):
        self.hp = hp
        self.m = {k: torch.zeros_like(v) for k, v in params.items()}
        self.v = {k: torch.zeros_like(v) for k, v in params.items()}
        self.L = {
            k: torch.zeros(v.shape[0], v.shape[0], dtype=F64)
            for k, v in params.items()
            if v.ndim == 2
        }
        self.R = {
            k: torch.zeros(v.shape[1], v.shape[1], dtype=F64)
            for k, v in params.items()
            if v.ndim == 2
        }
        self.roots: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def step(self, params, t, lr, batch):
        return self.update(params, grad_at(params, batch), t, lr)

    def update(self, params, grads, t, lr):
        b1, b2, wd = self.hp["beta1"], self.hp["beta2"], self.hp["weight_decay"]
        freq, start = self.hp["precondition_frequency"], self.hp["start_preconditioning_step"]
        new = {}
        for k, p in params.items():
            g = grads[k]
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            m_hat = self.m[k] / (1 - b1**t)
            direction = m_hat / ((self.v[k] / (1 - b2**t)).sqrt() + 1e-8)
            if p.ndim == 2:
                self.L[k] = b2 * self.L[k] + (1 - b2) * g @ g.T
                self.R[k] = b2 * self.R[k] + (1 - b2) * g.T @ g
                if t % freq == 0:
                    self.roots[k] = (
                        root_inverse_np(self.L[k] / (1 - b2**t), 1e-12),
                        root_inverse_np(self.R[k] / (1 - b2**t), 1e-12),
                    )
                if t >= start and k in self.roots:
                    left, right = self.roots[k]
                    shampoo = left @ m_hat @ right
                    direction = shampoo * direction.norm() / shampoo.norm()
            new[k] = p * (1 - lr * wd) - lr * direction
        return new

    def check(self, opt, model):
        close_states(opt.state, model, {"exp_avg": self.m, "exp_avg_sq": self.v})
        for k, p in model.named_parameters():
            if p.ndim == 2:
                (block,) = opt.state[p]["blocks"]
                close(block["L"], self.L[k], f"L of {k}")
                close(block["R"], self.R[k], f"R of {k}")


class LionRef:
    """Chen et al.: c = b1 m + (1 - b1) g; p <- p (1 - lr wd) - lr sign(c); m <- b2 m + (1-b2) g."""

    def __init__(self, hp, params):
        self.hp, self.m = hp, {k: torch.zeros_like(v) for k, v in params.items()}

    def step(self, params, t, lr, batch):
        b1, b2, wd = self.hp["beta1"], self.hp["beta2"], self.hp["weight_decay"]
        grads, new = grad_at(params, batch), {}
        for k, p in params.items():
            c = b1 * self.m[k] + (1 - b1) * grads[k]
            new[k] = p * (1 - lr * wd) - lr * torch.sign(c)
            self.m[k] = b2 * self.m[k] + (1 - b2) * grads[k]
        return new

    def check(self, opt, model):
        close_states(opt.state, model, {"exp_avg": self.m})


class AdanRef:
    """Xie et al., Algorithm 1 (code's betas = 1 - paper's), g_0 = g_1, bias-corrected m, v, n,
    proximal decay p <- (p - lr (m^ + b2 v^) / (sqrt(n^) + eps)) / (1 + lr wd)."""

    def __init__(self, hp, params):
        self.hp = hp
        self.m, self.v, self.n = (
            {k: torch.zeros_like(p) for k, p in params.items()} for _ in range(3)
        )
        self.prev: dict[str, torch.Tensor] = {}

    def step(self, params, t, lr, batch):
        b1, b2, b3 = self.hp["beta1"], self.hp["beta2"], 1 - self.hp["one_minus_beta3"]
        wd = self.hp["weight_decay"]
        grads, new = grad_at(params, batch), {}
        for k, p in params.items():
            g = grads[k]
            diff = g - self.prev.get(k, g)
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * diff
            self.n[k] = b3 * self.n[k] + (1 - b3) * (g + b2 * diff) ** 2
            denom = (self.n[k] / (1 - b3**t)).sqrt() + 1e-8
            step = (self.m[k] / (1 - b1**t) + b2 * self.v[k] / (1 - b2**t)) / denom
            new[k] = (p - lr * step) / (1 + lr * wd)
            self.prev[k] = g
        return new

    def check(self, opt, model):
        close_states(
            opt.state, model, {"exp_avg": self.m, "exp_avg_diff": self.v, "exp_avg_sq": self.n}
        )


class SophiaRef:
    """Liu et al., Algorithm 3 with Hutchinson's estimator u * (H u), u ~ N(0, I) drawn from
    torch's generator seeded as the harness seeds it before each update."""

    def __init__(self, hp, params):
        self.hp = hp
        self.m = {k: torch.zeros_like(v) for k, v in params.items()}
        self.h = {k: torch.zeros_like(v) for k, v in params.items()}

    def step(self, params, t, lr, batch):
        b1, b2, gamma = self.hp["beta1"], self.hp["beta2"], self.hp["gamma"]
        wd = self.hp["weight_decay"]
        grads = grad_at(params, batch)
        if (t - 1) % self.hp["hessian_period"] == 0:
            torch.manual_seed(SEED + t - 1)
            u = {k: torch.randn_like(v) for k, v in params.items()}
            hu = hvp_at(params, batch, u)
            for k in params:
                self.h[k] = b2 * self.h[k] + (1 - b2) * u[k] * hu[k]
        new = {}
        for k, p in params.items():
            self.m[k] = b1 * self.m[k] + (1 - b1) * grads[k]
            ratio = self.m[k] / torch.clamp(gamma * self.h[k], min=1e-12)
            new[k] = p * (1 - lr * wd) - lr * ratio.clamp(-1.0, 1.0)
        return new

    def check(self, opt, model):
        close_states(opt.state, model, {"momentum": self.m, "hessian_moment": self.h})


class ScheduleFreeRef:
    """Defazio et al. in x, y, z form: gradient at y; z <- z - lr_t (g / (sqrt(v^) + eps) + wd y);
    x <- (1 - c) x + c z, c = lr_max^2 / sum lr_max^2; y = (1 - b1) z + b1 x."""

    def __init__(self, hp, params):
        self.hp = hp
        self.x = dict(params)
        self.z = dict(params)
        self.v = {k: torch.zeros_like(p) for k, p in params.items()}
        self.lr_max, self.weight_sum = -1.0, 0.0

    def step(self, params, t, lr, batch):
        b1, b2, wd = self.hp["beta1"], self.hp["beta2"], self.hp["weight_decay"]
        self.lr_max = max(self.lr_max, lr)
        self.weight_sum += self.lr_max**2
        c = self.lr_max**2 / self.weight_sum
        grads, y = grad_at(params, batch), params
        for k in params:
            self.v[k] = b2 * self.v[k] + (1 - b2) * grads[k] ** 2
            normalized = grads[k] / ((self.v[k] / (1 - b2**t)).sqrt() + 1e-8)
            self.z[k] = self.z[k] - lr * (normalized + wd * y[k])
            self.x[k] = (1 - c) * self.x[k] + c * self.z[k]
        return {k: (1 - b1) * self.z[k] + b1 * self.x[k] for k in params}

    def check(self, opt, model):
        close_states(opt.state, model, {"z": self.z, "exp_avg_sq": self.v})


def newton_schulz_bf16(update: torch.Tensor) -> torch.Tensor:
    """The orthogonalisation as torch.optim.Muon runs it (bfloat16); its agreement with the
    published float64 iteration is checked separately in test_muon_newton_schulz."""
    from torch.optim._muon import _zeropower_via_newtonschulz

    return _zeropower_via_newtonschulz(update, NS_COEFFICIENTS, 5, 1e-7).to(F64)


class MuonRef:
    """Muon on 0.weight (B <- mu B + (1 - mu) g, U = (1 - mu) g + mu B, p <- p (1 - lr wd)
    - lr 0.2 sqrt(max(rows, cols)) NS(U)); AdamW with betas (beta1, beta2) on the rest."""

    def __init__(self, hp, params):
        self.hp = hp
        self.buf = torch.zeros_like(params["0.weight"])
        self.adamw = AdamWRef(hp, params, names=["0.bias", "2.weight", "2.bias"])

    def step(self, params, t, lr, batch):
        mu, wd = self.hp["momentum"], self.hp["weight_decay"]
        grads = grad_at(params, batch)
        new = self.adamw.update(params, grads, t, lr)
        w, g = params["0.weight"], grads["0.weight"]
        self.buf = mu * self.buf + (1 - mu) * g
        orth = newton_schulz_bf16((1 - mu) * g + mu * self.buf)
        new["0.weight"] = w * (1 - lr * wd) - lr * 0.2 * math.sqrt(max(w.shape)) * orth
        return new

    def check(self, opt, model):
        named = dict(model.named_parameters())
        close(opt.muon.state[named["0.weight"]]["momentum_buffer"], self.buf, "Muon buffer")
        self.adamw.check(opt, model, state_of=opt.adamw.state)


REFERENCES = {
    "nadamw": (NAdamWRef, "cosine"),
    "nadamw_rex": (NAdamWRef, "rex"),
    "adamw": (AdamWRef, "cosine"),
    "momentum": (MomentumRef, "linear"),
    "nesterov": (lambda hp, p: MomentumRef(hp, p, nesterov=True), "linear"),
    "lamb": (LambRef, "cosine"),
    "adafactor": (AdafactorRef, "cosine"),
    "sam": (SamRef, "cosine"),
    "shampoo": (ShampooRef, "cosine"),
    "lion": (LionRef, "cosine"),
    "adan": (AdanRef, "cosine"),
    "sophia": (SophiaRef, "cosine"),
    "schedule_free_adamw": (ScheduleFreeRef, "internal warmup"),
    "muon": (MuonRef, "cosine"),
}
# Extra points (overriding the self-tuning defaults) that reach code paths 3 steps would not.
OVERRIDES = {
    "shampoo": {"precondition_frequency": 2, "start_preconditioning_step": 2},
    "sophia": {"hessian_period": 2, "gamma": 10.0},  # gamma 10: most ratios unclipped
}
SEED = 1234
CASES = [(name, step_hint, None) for name in BASELINES for step_hint in (100, 4)] + [
    (name, step_hint, point) for name, point in OVERRIDES.items() for step_hint in (100, 4)
]


def test_every_baseline_has_a_reference():
    assert set(REFERENCES) == set(BASELINES)


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


@pytest.mark.parametrize(("name", "step_hint", "point"), CASES)
def test_first_three_updates_match_the_published_equations(name, step_hint, point):
    submission = importlib.import_module(f"optbench.algorithms.{name}").SUBMISSION
    hp = {**submission.extras["defaults"], **(point or {})}
    hp["beta1"] = 1 - hp.get("one_minus_beta1", 0.0)
    model = tiny_model()
    workload = TinyWorkload(model, step_hint)
    given = search_space.as_hyperparameters(point) if point else None
    state = submission.init_optimizer_state(workload, model, None, given, None)
    make_ref, schedule = REFERENCES[name]
    ref = make_ref(hp, snapshot(model))
    params = snapshot(model)
    warm = int(hp["warmup_factor"] * step_hint)
    for step, batch in enumerate(batches()):
        if schedule == "internal warmup":
            lr = hp["learning_rate"] * (min(1.0, (step + 1) / warm) if warm else 1.0)
        else:
            lr = hp["learning_rate"] * multiplier(schedule, step, step_hint, hp)
        params = ref.step(params, step + 1, lr, batch)
        torch.manual_seed(SEED + step)
        state, model, _ = submission.update_params(
            workload,
            model,
            workload.model_params_types,
            None,
            given,
            batch,
            workload.loss_type,
            state,
            [],
            step,
            None,
        )
        for k, p in model.named_parameters():
            close(p.detach(), params[k], f"{name}: {k} after update {step + 1}")
        ref.check(state["optimizer"], model)
        if submission.prepare_for_eval is not None:  # Schedule-Free evaluates at x
            state, model, _ = submission.prepare_for_eval(
                workload, model, None, None, given, workload.loss_type, state, [], step, None
            )
            for k, p in model.named_parameters():
                close(p.detach(), ref.x[k], f"{name}: x of {k} after update {step + 1}")


# --- properties of single pieces the trajectory test relies on --------------------------------


def newton_schulz_f64(update: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """Jordan et al.'s quintic iteration X <- aX + (b A + c A^2) X, A = X X^T, in float64."""
    a, b, c = NS_COEFFICIENTS
    x = update.to(F64)
    tall = x.shape[0] > x.shape[1]
    x = (x.T if tall else x) / x.norm()
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


@pytest.mark.parametrize("shape", [(3, 4), (4, 3), (64, 200)])
def test_muon_newton_schulz_is_the_published_iteration_at_bfloat16_precision(shape):
    update = torch.randn(*shape, generator=torch.Generator().manual_seed(3), dtype=F64)
    exact = newton_schulz_f64(update)
    error = (newton_schulz_bf16(update) - exact).norm() / exact.norm()
    assert error < 0.03  # bfloat16 keeps 8 significant bits; measured 1-2%
    # ...and the iteration does orthogonalise: singular values pulled into about [0.68, 1.2].
    singular = torch.linalg.svdvals(exact)
    assert singular.min() > 0.6 and singular.max() < 1.25


def test_muon_takes_only_hidden_matrices():
    from optbench.algorithms.muon import hidden_matrices

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 4)
            self.hidden = nn.Linear(4, 4)
            self.norm = nn.LayerNorm(4)
            self.head = nn.Linear(4, 3)

    class Workload:
        model_params_types = parameter_types(Model())

        @staticmethod
        def is_output_params(key):
            return key.startswith("head.")

    assert hidden_matrices(Model(), Workload()) == {"hidden.weight"}


def test_shampoo_inverse_root_is_exact():
    g = torch.randn(5, 5, generator=torch.Generator().manual_seed(4), dtype=F64)
    spd = g @ g.T + 0.1 * torch.eye(5, dtype=F64)
    root = inverse_root(spd, 4, 1e-12)
    close(root, root.T, "symmetric")
    expected = torch.linalg.inv(spd + 1e-12 * torch.eye(5, dtype=F64))
    close(torch.linalg.matrix_power(root, 4), expected, "X^4 = (A + eps I)^-1")
    assert torch.linalg.eigvalsh(root).min() > 0


@pytest.mark.parametrize(
    "bad",
    [{"lr": -1.0}, {"eps": -1e-8}, {"betas": (1.0, 0.999)}, {"betas": (0.9, 0.0)},
     {"matrix_eps": 0.0}, {"weight_decay": -0.1}],
)  # fmt: skip
def test_shampoo_rejects_invalid_settings(bad):
    with pytest.raises(ValueError):
        Shampoo([torch.zeros(2, 2, requires_grad=True)], **bad)


def test_shampoo_blocks_and_higher_order_tensors():
    """A 5x7 matrix in blocks of at most 3x3 (a group option), and a 4-D tensor viewed as the
    matrix (2, 12), follow the reference's equations block by block."""
    hp = {
        "beta1": 0.9,
        "beta2": 0.99,
        "weight_decay": 0.1,
        "precondition_frequency": 1,
        "start_preconditioning_step": 1,
    }
    gen = torch.Generator().manual_seed(5)
    matrix = torch.randn(5, 7, generator=gen, dtype=F64, requires_grad=True)
    kernel = torch.randn(2, 3, 2, 2, generator=gen, dtype=F64, requires_grad=True)
    opt = Shampoo(
        [{"params": [matrix], "max_preconditioner_dim": 3}, {"params": [kernel]}],
        lr=0.01,
        betas=(0.9, 0.99),
        weight_decay=0.1,
        precondition_frequency=1,
        start_preconditioning_step=1,
    )
    blocks = [
        (r, c) for r in (slice(0, 3), slice(3, 5)) for c in (slice(0, 3), slice(3, 6), slice(6, 7))
    ]
    refs = [ShampooRef(hp, {"w": matrix.detach()[b]}) for b in blocks]
    kernel_ref = ShampooRef(hp, {"w": kernel.detach().reshape(2, 12)})
    for t in range(1, 4):
        g_matrix = torch.randn(5, 7, generator=gen, dtype=F64)
        g_kernel = torch.randn(2, 3, 2, 2, generator=gen, dtype=F64)
        expected = matrix.detach().clone()
        for ref, b in zip(refs, blocks, strict=True):
            expected[b] = ref.update({"w": matrix.detach()[b]}, {"w": g_matrix[b]}, t, 0.01)["w"]
        expected_kernel = kernel_ref.update(
            {"w": kernel.detach().reshape(2, 12)}, {"w": g_kernel.reshape(2, 12)}, t, 0.01
        )["w"].reshape(kernel.shape)
        matrix.grad, kernel.grad = g_matrix, g_kernel
        opt.step()
        close(matrix.detach(), expected, f"blocked matrix after step {t}")
        close(kernel.detach(), expected_kernel, f"4-D kernel after step {t}")
