"""Shared helpers of the claim modules: cached objectives, constants with a fallback, and
conversions from the estimator-statistics dictionaries to :class:`~hdo_theory.stats.Estimate`.

ADAPTER NOTE: :func:`lipschitz` uses ``objective.constants.L`` when the constants module
provides it; until then (``compute_constants`` raises) it falls back to a certified per-kind
bound on the per-sample gradient Lipschitz constant computed here (documented per kind).
"""

from __future__ import annotations

import math

import numpy as np

from hdo_theory import objective_kernels as K
from hdo_theory.errors import HDOInputError
from hdo_theory.objectives import make_objective
from hdo_theory.stats import Estimate

_Z95 = 1.959963984540054


def objective(ctx, name, **kw):
    """``make_objective(name, **kw)``, cached per run (objectives are deterministic in kw)."""
    key = ("objective", name, tuple(sorted(kw.items())))
    if key not in ctx.cache:
        ctx.cache[key] = make_objective(name, **kw)
    return ctx.cache[key]


def constants_or_none(obj):
    try:
        return obj.constants
    except (HDOInputError, NotImplementedError, AttributeError):
        return None


def lipschitz(obj) -> tuple[float, str]:
    """``(L, source)``: Assumption 2's constant for every per-sample gradient."""
    c = constants_or_none(obj)
    if c is not None:
        return float(c.L), "objective.constants"
    data = obj.data
    kind, params, feats = int(data[0]), data[1], data[2]
    lam = float(params[0]) if params.shape[0] else 0.0
    a2 = float(np.max(np.sum(feats**2, axis=1))) if feats.shape[1] else 0.0
    if kind == K.KIND_QUADRATIC:
        # per-sample Hessian A_g: L = max_g lambda_max(A_g)
        return float(max(np.linalg.eigvalsh(A)[-1] for A in data[5])), "max eig of A_g"
    if kind == K.KIND_LEAST_SQUARES:
        return a2 + lam, "max ||a_j||^2 + lam"
    if kind == K.KIND_LOGISTIC:
        return 0.25 * a2 + lam, "max ||a_j||^2 / 4 + lam"
    if kind == K.KIND_LOGISTIC_NONCVX:
        # |d^2/dx^2 x^2/(1+x^2)| = |2 - 6x^2|/(1+x^2)^3 <= 2
        return 0.25 * a2 + 2 * lam, "max ||a_j||^2 / 4 + 2 lam"
    if kind == K.KIND_ROBUST:
        # |d^2/dr^2 r^2/(1+r^2)| <= 2
        return 2 * a2 + lam, "2 max ||a_j||^2 + lam"
    if kind == K.KIND_COSINE_WELLS:
        alpha, beta = float(params[0]), float(params[1])
        return 1 + alpha * beta**2, "1 + alpha beta^2"
    raise HDOInputError(f"no Lipschitz constant for objective kind {kind}")


def from_clt_entry(entry: dict, n: int, level: float = 0.95) -> Estimate:
    """Estimate from an ``estimator_stats`` CLT entry (``value``, symmetric normal ``ci``)."""
    z = _Z95 if level == 0.95 else float(__import__("scipy.stats").stats.norm.ppf(0.5 + level / 2))
    lo, hi = entry["ci"]
    return Estimate(float(entry["value"]), (hi - lo) / (2 * z), math.inf, int(n), "mean")


def antithetic_smoothing_bias(obj, node, x, nu, draws, rng):
    """Rows ``(grad f^i(x + nu u) + grad f^i(x - nu u))/2 - grad f^i(x)``, ``u ~ N(0, I)``.

    Their mean is exactly ``grad f^i_nu(x) - grad f^i(x)`` (``u`` is symmetric), the mean of the
    forward-difference estimator minus the gradient, i.e. node ``i``'s bias ``b_i``. The
    antithetic pair cancels the odd (order ``nu``) part, so the spread is ``O(nu^2)``.
    """
    shard = np.ascontiguousarray(obj.shard(node), dtype=np.int64)
    d = obj.d
    g0 = np.empty(d)
    K.batch_grad(obj.data, shard, x, g0)
    gp, gm = np.empty(d), np.empty(d)
    out = np.empty((draws, d))
    U = rng.standard_normal((draws, d))
    for r in range(draws):
        K.batch_grad(obj.data, shard, x + nu * U[r], gp)
        K.batch_grad(obj.data, shard, x - nu * U[r], gm)
        out[r] = 0.5 * (gp + gm) - g0
    return out
