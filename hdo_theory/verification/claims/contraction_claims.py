"""The exact facts of docs/theory.md section 4: pure-averaging contraction, pairwise and matching.

These are identities, so the relation is ``eq``: the verdict "holds" means the confidence
interval contains the exact value. The multi-step version follows by the tower property:
``E Gamma_t = rho^t Gamma_0``. Measured with a vectorised NumPy simulation of pure averaging
(eta = 0) from a random spread-out state.
"""

from __future__ import annotations

import numpy as np

from hdo_theory.verification import bounds as B
from hdo_theory.verification import stats as S
from hdo_theory.verification.claims.registry import Claim, Record, register


def _gamma(X):
    """Gamma for a stack of states X[r, i, :]."""
    mu = X.mean(axis=1, keepdims=True)
    return np.mean(np.sum((X - mu) ** 2, axis=2), axis=1)


def pure_averaging(X0, steps, replicas, rng, model="pairwise"):
    """Run ``replicas`` independent copies of pure averaging for ``steps`` from ``X0``."""
    n = X0.shape[0]
    X = np.repeat(X0[None], replicas, axis=0)
    rows = np.arange(replicas)
    for _ in range(steps):
        if model == "pairwise":
            i = rng.integers(0, n, replicas)
            j = (i + rng.integers(1, n, replicas)) % n  # uniform among the others
            avg = 0.5 * (X[rows, i] + X[rows, j])
            X[rows, i] = avg
            X[rows, j] = avg
        else:
            perm = np.argsort(rng.random((replicas, n)), axis=1)
            a, b = perm[:, 0 : n - 1 : 2], perm[:, 1:n:2]
            for k in range(a.shape[1]):
                avg = 0.5 * (X[rows, a[:, k]] + X[rows, b[:, k]])
                X[rows, a[:, k]] = avg
                X[rows, b[:, k]] = avg
    return X


def _run(ctx, model):
    recs = []
    R = ctx.pick(4000, 40000)
    ns = (4, 8, 16) if model == "matching" else (3, 8, 16)
    fac = B.exact_pairwise_contraction if model == "pairwise" else B.exact_matching_contraction
    for n in ns:
        seed = ctx.seed_for("exact", model, n)
        rng = np.random.default_rng(seed)
        X0 = rng.standard_normal((n, 5)) * rng.uniform(0.2, 2.0, (n, 1))
        g0 = float(_gamma(X0[None])[0])
        for steps in (1, 3):
            X = pure_averaging(X0, steps, R, rng, model)
            est = S.mean_estimate(_gamma(X) / g0)
            recs.append(Record(
                f"exact.{model}", f"docs/theory.md#exact-facts ({model}, eta = 0)",
                f"E Gamma_{steps} / Gamma_0", est, fac(n) ** steps,
                f"(1 - 1/(n-1))^{steps}" if model == "pairwise" else f"(1 - n/(2(n-1)))^{steps}",
                relation="eq", config={"n": n, "d": 5, "steps": steps, "replicas": R,
                                       "model": model}, seed=seed))
    return recs


register(Claim(
    "exact.pairwise", "docs/theory.md#exact-facts",
    "E[Gamma_t] / Gamma_0 under pure pairwise averaging from a random state",
    "none (consensus only), d = 5",
    {"quick": "n in {3, 8, 16}, t in {1, 3}, 4000 replicas",
     "full": "n in {3, 8, 16}, t in {1, 3}, 40000 replicas"},
    "(1 - 1/(n-1))^t exactly", lambda ctx: _run(ctx, "pairwise"),
    configs=lambda ctx: []))  # pure NumPy averaging: no objective, no process configuration

register(Claim(
    "exact.matching", "docs/theory.md#exact-facts",
    "E[Gamma_t] / Gamma_0 under pure random-perfect-matching averaging",
    "none (consensus only), d = 5",
    {"quick": "n in {4, 8, 16}, t in {1, 3}, 4000 replicas",
     "full": "n in {4, 8, 16}, t in {1, 3}, 40000 replicas"},
    "(1 - n/(2(n-1)))^t exactly", lambda ctx: _run(ctx, "matching"),
    configs=lambda ctx: []))
