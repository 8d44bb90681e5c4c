"""Shared helpers of the claim modules: cached objectives, constants with a fallback, and
conversions from the estimator-statistics dictionaries to :class:`~..stats.Estimate`.

ADAPTER NOTE: :func:`lipschitz` uses ``objective.constants.L`` when the constants module
provides it; until then (``compute_constants`` raises) it falls back to a certified per-kind
bound on the per-sample gradient Lipschitz constant computed here (documented per kind).
"""

from __future__ import annotations

import math

import numpy as np

from hdo_theory.errors import HDOInputError
from hdo_theory.objectives import kernels as K
from hdo_theory.objectives import make_objective
from hdo_theory.verification.stats import Estimate

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


# ---------------------------------------------------------------------------------------------
# Problem constants for the process lemmas (adapter; see the module docstring)
# ---------------------------------------------------------------------------------------------


def strong_convexity(obj) -> float:
    """``ell`` from ``objective.constants``; fallback: smallest Hessian eigenvalue of ``f`` for
    quadratic / least squares (exact), ``lam`` for logistic (certified), 0 otherwise."""
    c = constants_or_none(obj)
    if c is not None and getattr(c, "ell", None) is not None:
        return float(c.ell)
    data = obj.data
    kind, params = int(data[0]), data[1]
    if kind == K.KIND_QUADRATIC:
        H = np.einsum("j,jkl->kl", obj.weights, data[5][data[4]])
        return float(np.linalg.eigvalsh(H)[0])
    if kind == K.KIND_LEAST_SQUARES:
        A = data[2]
        H = (A * obj.weights[:, None]).T @ A + float(params[0]) * np.eye(obj.d)
        return float(np.linalg.eigvalsh(H)[0])
    if kind == K.KIND_LOGISTIC:
        return float(params[0])
    return 0.0


def x_star(obj):
    from hdo_theory.process import problem_facts

    f = problem_facts(obj)
    return np.asarray(f["x_star"]), float(f["f_star"])


def ball_check(obj, res, label: str = "") -> tuple[list[str], dict]:
    """Did the run stay where the objective's constants hold? ``(outside messages, info)``.

    For the quadratic and least-squares objectives ``objective.constants`` takes the
    heterogeneity and variance constants (Assumptions 3, 4) as exact suprema over the ball
    ``||x - x*|| <= R`` (``Constants.radius``); other kinds have global bounds (radius None).
    A lemma checked with ball constants is inside its assumptions only if every node model of
    every replica stayed in the ball for the whole run. The process records the running maximum
    ``max_node_dist_sq`` of ``max_i ||X^i - x*||^2`` (updated after every interaction), so this
    is checked exactly, not only at the records; a replica that diverged (``res.diverged_at``)
    left the ball too. ``info`` holds the farthest distance reached (over the finite records)
    and ``R`` for the record's configuration.
    """
    c = constants_or_none(obj)
    R = None if c is None else getattr(c, "radius", None)
    md = np.asarray(res["max_node_dist_sq"], dtype=float)
    finite = md[np.isfinite(md)]
    far = float(np.sqrt(finite.max())) if finite.size else float("nan")
    div = getattr(res, "diverged_at", None)
    n_div = 0 if div is None else int(np.sum(np.asarray(div) >= 0))
    info = {"max_node_dist": far, "constants_radius": None if R is None else float(R)}
    if R is None:
        return [], info
    where = f"{label}: " if label else ""
    out = []
    if np.isfinite(far) and far > R:
        out.append(f"{where}node models left the ball ||x - x*|| <= R = {R:.3g} on which the "
                   f"constants are suprema (farthest node: {far:.3g})")
    if n_div:
        # a diverged replica stops before its last step is recorded: it left every ball
        out.append(f"{where}{n_div} replica(s) diverged, i.e. left the ball ||x - x*|| <= "
                   f"R = {R:.3g} on which the constants are suprema")
    return out, info


def noise_constants(obj, batch: int, x0) -> dict:
    """``varsigma_k^2`` and ``sum_{N_k} s_i^2`` (minibatch ``batch``) for the process lemmas.

    From ``objective.constants`` when available; otherwise the maximum over 11 points on the
    segment from the start ``x0`` to ``x*`` (the region the mean travels through) -- an
    empirical sup over the visited region, not a certified one (stated in the report).
    """
    from hdo_theory.objectives.constants import node_gradient_variance

    c = constants_or_none(obj)
    if c is not None:
        try:
            s = np.asarray(c.s_sq(batch), dtype=float)
            return {"varsigma0_sq": float(c.varsigma0_sq), "varsigma1_sq": float(c.varsigma1_sq),
                    "sum_s_sq0": float(s[: obj.n0].sum()), "sum_s_sq1": float(s[obj.n0:].sum()),
                    "source": "objective.constants"}
        except Exception:  # noqa: BLE001 - fall back to the segment sup below
            pass
    xs, _ = x_star(obj)
    out = {"varsigma0_sq": 0.0, "varsigma1_sq": 0.0, "sum_s_sq0": 0.0, "sum_s_sq1": 0.0}
    for a in np.linspace(0, 1, 11):
        x = (1 - a) * np.asarray(x0) + a * xs
        g = obj.grad(x)
        het = [float(np.sum((obj.node_grad(i, x) - g) ** 2)) for i in range(obj.n)]
        s2 = [node_gradient_variance(obj, i, x, min(batch, obj.shard_size(i)))
              for i in range(obj.n)]
        if obj.n0:
            out["varsigma0_sq"] = max(out["varsigma0_sq"], float(np.mean(het[: obj.n0])))
            out["sum_s_sq0"] = max(out["sum_s_sq0"], float(np.sum(s2[: obj.n0])))
        if obj.n1:
            out["varsigma1_sq"] = max(out["varsigma1_sq"], float(np.mean(het[obj.n0:])))
            out["sum_s_sq1"] = max(out["sum_s_sq1"], float(np.sum(s2[obj.n0:])))
    out["source"] = "max over 11 points on the segment x0 -> x* (empirical sup)"
    return out
