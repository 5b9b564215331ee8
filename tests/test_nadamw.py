"""NAdamW pinned to the update of AlgoPerf's NadamW baseline, recomputed in numpy float64:

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  m_bar = b1 m + (1 - b1) g
    theta <- theta (1 - lr wd) - lr / (1 - b1^t) * m_bar / (sqrt(v / (1 - b2^t)) + 1e-8)

on a linear least-squares problem whose gradient is written out by hand; and torch.optim.NAdam
(Dozat's momentum schedule) shown to be a different update.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optbench.optim import NAdamW

LR, BETAS, EPS, WD = 3e-2, (0.9, 0.99), 1e-8, 0.1
RNG = np.random.default_rng(0)
X, Y = RNG.normal(size=(16, 3)), RNG.normal(size=(16, 2))
W0, B0 = RNG.normal(size=(3, 2)), RNG.normal(size=2)


def gradients(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of 0.5 * mean ||x w + b - y||^2."""
    residual = X @ w + b - Y
    return X.T @ residual / len(X), residual.mean(axis=0)


def closed_form(steps: int, lr: float = LR, wd: float = WD):
    b1, b2 = BETAS
    params = [W0.copy(), B0.copy()]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    history = []
    for t in range(1, steps + 1):
        grads = gradients(*params)
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            m_bar = b1 * m[i] + (1 - b1) * g
            step = lr / (1 - b1**t) * m_bar / (np.sqrt(v[i] / (1 - b2**t)) + EPS)
            params[i] = params[i] * (1 - lr * wd) - step
        history.append(([p.copy() for p in params], [x.copy() for x in m], [x.copy() for x in v]))
    return history


def run(optimizer_class, steps: int, **kwargs):
    w = torch.tensor(W0, requires_grad=True)
    b = torch.tensor(B0, requires_grad=True)
    opt = optimizer_class([w, b], **kwargs)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        loss = 0.5 * ((torch.tensor(X) @ w + b - torch.tensor(Y)) ** 2).sum(-1).mean()
        loss.backward()
        opt.step()
        history.append([w.detach().numpy().copy(), b.detach().numpy().copy()])
    return history, opt, (w, b)


def test_hand_written_gradient_is_the_gradient():
    w = torch.tensor(W0, requires_grad=True)
    b = torch.tensor(B0, requires_grad=True)
    (0.5 * ((torch.tensor(X) @ w + b - torch.tensor(Y)) ** 2).sum(-1).mean()).backward()
    gw, gb = gradients(W0, B0)
    np.testing.assert_allclose(w.grad.numpy(), gw, rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), gb, rtol=1e-12)


def test_first_three_steps_and_moments_match_the_closed_form():
    history, opt, (w, b) = run(NAdamW, 3, lr=LR, betas=BETAS, eps=EPS, weight_decay=WD)
    expected = closed_form(3)
    for t, (got, (params, _, _)) in enumerate(zip(history, expected, strict=True), start=1):
        for name, a, e in zip(("w", "b"), got, params, strict=True):
            np.testing.assert_allclose(a, e, rtol=1e-6, atol=0, err_msg=f"{name} at step {t}")
    _, m, v = expected[-1]
    for p, m_expected, v_expected in zip((w, b), m, v, strict=True):
        state = opt.state[p]
        assert state["step"] == 3
        np.testing.assert_allclose(state["exp_avg"].numpy(), m_expected, rtol=1e-6, atol=0)
        np.testing.assert_allclose(state["exp_avg_sq"].numpy(), v_expected, rtol=1e-6, atol=0)


def test_learning_rate_changes_between_steps_take_effect():
    """What a scheduler does: the rate is read from the param group at every step."""
    w = torch.tensor(W0, requires_grad=True)
    b = torch.tensor(B0, requires_grad=True)
    opt = NAdamW([w, b], lr=LR, betas=BETAS, eps=EPS, weight_decay=WD)
    for lr in (LR, LR / 2):
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad()
        (0.5 * ((torch.tensor(X) @ w + b - torch.tensor(Y)) ** 2).sum(-1).mean()).backward()
        opt.step()
    b1, b2 = BETAS
    params = [W0.copy(), B0.copy()]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t, lr in ((1, LR), (2, LR / 2)):
        for i, g in enumerate(gradients(*params)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            step = lr / (1 - b1**t) * (b1 * m[i] + (1 - b1) * g)
            params[i] = params[i] * (1 - lr * WD) - step / (np.sqrt(v[i] / (1 - b2**t)) + EPS)
    np.testing.assert_allclose(w.detach().numpy(), params[0], rtol=1e-6, atol=0)
    np.testing.assert_allclose(b.detach().numpy(), params[1], rtol=1e-6, atol=0)


def test_parameters_without_gradient_are_left_alone():
    used = torch.tensor(W0, requires_grad=True)
    unused = torch.tensor(B0, requires_grad=True)
    opt = NAdamW([used, unused], lr=LR, weight_decay=WD)
    (used**2).sum().backward()
    opt.step()
    np.testing.assert_array_equal(unused.detach().numpy(), B0)
    assert not opt.state[unused]


def test_torch_nadam_is_a_different_update():
    """torch.optim.NAdam applies Dozat's momentum schedule mu_t = b1 (1 - 0.5 * 0.96^(0.004 t))
    (about b1 / 2 early on) and its own bias correction, so even with decoupled weight decay its
    steps are not AlgoPerf's: here they differ by about 40%."""
    ours, _, _ = run(NAdamW, 3, lr=LR, betas=BETAS, eps=EPS, weight_decay=WD)
    theirs, _, _ = run(
        torch.optim.NAdam,
        3,
        lr=LR,
        betas=BETAS,
        eps=EPS,
        weight_decay=WD,
        decoupled_weight_decay=True,
    )
    start = [W0, B0]
    for t in range(3):
        for i in range(2):
            step_ours = ours[t][i] - (ours[t - 1][i] if t else start[i])
            step_theirs = theirs[t][i] - (theirs[t - 1][i] if t else start[i])
            relative = np.abs(step_theirs - step_ours).max() / np.abs(step_ours).max()
            assert relative > 0.1, f"step {t + 1} differs by only {relative:.2e}"


@pytest.mark.parametrize("bad", [{"lr": -1.0}, {"betas": (1.0, 0.999)}, {"weight_decay": -0.1}])
def test_invalid_settings_are_rejected(bad):
    with pytest.raises(ValueError):
        NAdamW([torch.zeros(2, requires_grad=True)], **bad)


def test_step_returns_the_loss_of_its_closure_computed_with_gradients():
    w = torch.ones(2, requires_grad=True)
    opt = NAdamW([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 2.0
    assert w.grad.tolist() == [2.0, 2.0]  # the closure ran with gradients enabled
    assert opt.step() is None
