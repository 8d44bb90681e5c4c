"""A one-hidden-layer tanh network on the bundled digits, as a user objective kind, trained by a
hybrid population (ZO and FO nodes) through :func:`hdo_theory.process.simulate`.

The paper claims the hybrid method works "even when training deep neural networks"; this is
its small, checkable version. The network maps a standardised 8x8 digit ``a`` (64 pixels and a
bias entry, ``p = 65``) to ``K = 10`` logits through ``H`` tanh units:

.. math::

   F(x, j) = \\operatorname{lse}(W_2 \\tanh(W_1 a_j) + b_2) - (W_2 \\tanh(W_1 a_j) + b_2)_{y_j}
             + \\frac{\\lambda}{2} \\|x\\|^2,
       \\qquad x = (\\mathrm{vec} W_1, \\mathrm{vec} W_2, b_2),

so ``d = H p + K H + K``. Its per-sample loss, gradient (backpropagation) and JVP (forward
mode) are Numba functions registered with
:func:`hdo_theory.objectives.register_objective_kind`. The loss is not convex, so no
constant is known in closed form: ``ell`` is not given (None) and ``x*``, ``L``, the
heterogeneity and the per-node variances are **measured** on the ball ``||x - x*|| <= 1``
(``x*`` a stationary point found by L-BFGS, the others the largest values at sampled points:
lower estimates, labelled "measured" in the constants every result records).

Run it (at most a minute on 2 cores on a quiet machine, compile included)::

    python examples/mlp_digits.py

Measured on a shared 2-core machine (benchmarks/README.md, "Estimator plugins"): 55 s of CPU
with an empty Numba cache, almost all of it compiling the process and constants kernels for the
user kind, and 8 s of CPU once they are cached (the user functions ride in the objective data as
signature-typed references, so the cache serves them like the built-ins).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from hdo_theory.objectives import register_objective_kind

NAME = "mlp-digits"
HIDDEN = 8
CLASSES = 10
LAM = 1e-4
_JIT = dict(nogil=True, cache=True, fastmath={"reassoc", "contract", "nsz"})


@numba.njit(**_JIT)
def _forward(x, a, H, K, act, logits):
    """act = tanh(W1 a), logits = W2 act + b2; returns the log-sum-exp of the logits."""
    p = a.shape[0]
    for h in range(H):
        z = 0.0
        for q in range(p):
            z += x[h * p + q] * a[q]
        act[h] = math.tanh(z)
    off2 = H * p
    off3 = off2 + K * H
    mx = -np.inf
    for k in range(K):
        z = x[off3 + k]
        for h in range(H):
            z += x[off2 + k * H + h] * act[h]
        logits[k] = z
        mx = max(mx, z)
    s = 0.0
    for k in range(K):
        s += math.exp(logits[k] - mx)
    return mx + math.log(s)


@numba.njit(**_JIT)
def mlp_loss(x, j, params, feats, targets):
    H, K = int(params[0]), int(params[1])
    act = np.empty(H)
    logits = np.empty(K)
    lse = _forward(x, feats[j], H, K, act, logits)
    reg = 0.0
    for k in range(x.shape[0]):
        reg += x[k] * x[k]
    return lse - logits[int(targets[j])] + 0.5 * params[2] * reg


@numba.njit(**_JIT)
def mlp_grad_add(x, j, params, feats, targets, scale, out):
    H, K = int(params[0]), int(params[1])
    a = feats[j]
    p = a.shape[0]
    act = np.empty(H)
    logits = np.empty(K)
    lse = _forward(x, a, H, K, act, logits)
    off2 = H * p
    off3 = off2 + K * H
    y = int(targets[j])
    dact = np.zeros(H)
    for k in range(K):
        g = math.exp(logits[k] - lse) - (1.0 if k == y else 0.0)
        out[off3 + k] += scale * g
        for h in range(H):
            out[off2 + k * H + h] += scale * g * act[h]
            dact[h] += g * x[off2 + k * H + h]
    for h in range(H):
        dz = dact[h] * (1.0 - act[h] * act[h])
        for q in range(p):
            out[h * p + q] += scale * dz * a[q]
    lam = params[2]
    for k in range(x.shape[0]):
        out[k] += scale * lam * x[k]


@numba.njit(**_JIT)
def mlp_jvp(x, j, params, feats, targets, u):
    H, K = int(params[0]), int(params[1])
    a = feats[j]
    p = a.shape[0]
    act = np.empty(H)
    logits = np.empty(K)
    lse = _forward(x, a, H, K, act, logits)
    off2 = H * p
    off3 = off2 + K * H
    dact = np.empty(H)
    for h in range(H):
        dz = 0.0
        for q in range(p):
            dz += u[h * p + q] * a[q]
        dact[h] = (1.0 - act[h] * act[h]) * dz
    y = int(targets[j])
    s = 0.0
    dly = 0.0
    for k in range(K):
        dl = u[off3 + k]
        for h in range(H):
            dl += u[off2 + k * H + h] * act[h] + x[off2 + k * H + h] * dact[h]
        s += math.exp(logits[k] - lse) * dl
        if k == y:
            dly = dl
    xu = 0.0
    for k in range(x.shape[0]):
        xu += x[k] * u[k]
    return s - dly + params[2] * xu


def digits_arrays():
    """Standardised digits with a bias column (as the built-in ``digits`` objective) and labels."""
    from hdo_theory.objectives import _load_real

    X, y = _load_real("digits")
    return X, y.astype(np.float64)


def dimension(p: int = 65) -> int:
    return HIDDEN * p + CLASSES * HIDDEN + CLASSES


_X, _Y = digits_arrays()
register_objective_kind(NAME, mlp_loss, mlp_grad_add, mlp_jvp, features=_X, targets=_Y,
                        params=[HIDDEN, CLASSES, LAM], d=dimension(_X.shape[1]), convex=False,
                        radius=1.0,
                        description=f"one-hidden-layer tanh network ({HIDDEN} units) on digits")


def accuracy(x) -> float:
    """Training accuracy of the network with weights ``x`` (NumPy forward pass)."""
    p = _X.shape[1]
    W1 = x[: HIDDEN * p].reshape(HIDDEN, p)
    W2 = x[HIDDEN * p : HIDDEN * p + CLASSES * HIDDEN].reshape(CLASSES, HIDDEN)
    b2 = x[HIDDEN * p + CLASSES * HIDDEN :]
    logits = np.tanh(_X @ W1.T) @ W2.T + b2
    return float(np.mean(np.argmax(logits, axis=1) == _Y))


def run(T: int = 6000, seed: int = 0, replicas: int = 1):
    """Hybrid population (4 ZO forward-difference nodes + 4 FO nodes), pairwise gossip.

    Returns ``(objective, x0, results)``; every node starts at ``x0`` (small random weights)."""
    from hdo_theory.estimators import EstimatorSpec
    from hdo_theory.objectives import make_objective
    from hdo_theory.process import PopulationConfig, ProcessConfig, simulate

    objective = make_objective(NAME, n0=4, n1=4, seed=seed)
    x0 = np.random.default_rng(seed).standard_normal(objective.d) * 0.1
    cfg = ProcessConfig(
        T=T, record=T // 10, x0=x0,
        zo=PopulationConfig(EstimatorSpec("zo-forward", rv=8, nu=1e-3, batch=16), lr=0.01),
        fo=PopulationConfig(EstimatorSpec("fo", batch=16), lr=0.2),
    )
    return objective, x0, simulate(objective, cfg, replicas=replicas, seed=seed, keep_state=True)


if __name__ == "__main__":
    import time

    t0 = time.perf_counter()
    objective, x0, res = run()
    c = objective.constants
    print(f"{objective.describe()}; d = {objective.d}")
    print(f"constants: L = {c.L:.3g} ({c.L_how}); x*: {c.star_how}")
    gap = np.nanmean(res.metrics["gap"], axis=0)
    print("step    f(mean model) - f(x*)")
    for t, g in zip(res.t, gap, strict=True):
        print(f"{int(t):6d}  {g:.4f}")
    X = res.state["X"][0]
    print(f"final gap {gap[-1]:.4f}; training accuracy of the mean model "
          f"{accuracy(X.mean(axis=0)):.3f} (start {accuracy(x0):.3f}; "
          f"accuracy at x* {accuracy(c.x_star):.3f}); {time.perf_counter() - t0:.0f} s in all")
