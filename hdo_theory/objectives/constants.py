"""Problem constants of docs/theory.md section 2, each with how it was obtained.

``compute_constants(objective, radius=None) -> Constants`` gives, for every objective kind:

* ``L``: every per-sample gradient ``grad F(., j)`` is ``L``-Lipschitz (Assumption 2). For every
  kind here ``L = sup_{x, j} ||Hess F(x, j)||_2`` is known in closed form and attained (or
  approached), so ``L`` is exact, not only an upper bound.
* ``ell``: strong convexity of ``f`` (Assumption 1), for kinds flagged convex; else ``None``.
* ``x_star``, ``f_star``: the minimiser of ``f`` (closed form, Newton, an exact separable 1-D
  search, or the best of a multistart search for non-convex kinds; ``star_how`` says which).
* ``varsigma0_sq``, ``varsigma1_sq``: heterogeneity (Assumption 3) per population,
  ``sup_x (1/n_k) sum_{i in N_k} ||grad f^i(x) - grad f(x)||^2``.
* per-node ``s_i^2`` (Assumption 4, squared), via :meth:`Constants.s_sq`, and their population
  means ``sigma_k^2`` (Definition 1) via :meth:`Constants.sigma_sq`.

How the sups over ``x`` are handled (``grad F(x, j)`` minus any part shared by all samples,
such as a regulariser, which cancels in every deviation below):

* quadratic, least squares: the per-sample gradient is affine in ``z = x - x*``, so every
  deviation is affine and its squared norm a quadratic in ``z``. Unless the linear parts vanish
  the sup over ``R^d`` is infinite; we give the exact maximum over the ball
  ``||x - x*|| <= radius`` with :func:`max_quadratic_on_ball` (a trust-region problem solved
  exactly). Default radius :func:`default_radius`
  ``= 2 max(1, ||x*||, ||random_point(0) - x*||)``: the ball contains the origin and the
  process' default start point with a factor-2 margin.
* logistic, non-convex logistic, robust, softmax: ``grad F(x, j) = s_j(x) a_j^T + grad R(x)``
  with the factor ``s_j`` in a known bounded set (logistic: ``phi'`` between ``0`` and ``-y_j``;
  robust: ``|rho'| <= 3 sqrt(3) / 8``; softmax: ``p - e_y`` in the shifted simplex). A certified
  bound over all of ``R^d`` (``radius = None``) follows by triangle inequalities (heterogeneity)
  and by maximising over the vertices of that set (variance). These bounds ignore that all
  ``s_j`` are driven by one ``x``, so they can be several times the true sup; the fields
  ``varsigma_seen`` / ``node_var_seen`` give attained values for comparison. If a ``radius`` is
  given (not for softmax), the range of ``s_j`` over the ball is also used, per node the
  smaller bound.
* cosine wells: deviations do not depend on ``x``: exact constants.
* explicit quadratic (:mod:`hdo_theory.objectives.explicit`): ``grad f^i - grad f`` does not
  depend on ``x`` and ``s_i^2 = d noise^2`` comes from the additive oracle noise
  (``oracle_var``): exact constants over R^d.

All "exact" values are exact up to floating-point rounding.

Memory is ``O(d^2 + N d)`` for every kind (plus the quadratic kind's own ``G x d x d``
Hessians): nothing ``d x d`` is held per node. For least squares the heterogeneity form
``sum_i (Bbar_i - Hd)^2`` is expanded through the shard Gram matrices (``O(N d^2)`` time) and
each node's variance form, of rank ``m_i``, is maximised in its ``m_i``-dimensional span
(``O(m_i^2 d)``); for the quadratic kind the per-node matrices are stacked a bounded chunk at a
time. Same values as stacking them all, to rounding (tests/test_constants_memory.py).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize
import scipy.sparse
from scipy.special import expit

from hdo_theory.errors import HDOInputError, check_float, check_int, check_point
from hdo_theory.objectives import kernels as K

__all__ = [
    "Constants",
    "BallMax",
    "compute_constants",
    "default_radius",
    "heterogeneity_at",
    "max_quadratic_on_ball",
    "node_gradient_variance",
    "oracle_variance",
    "ROBUST_DPHI_MAX",
]

#: max_r |rho'(r)| for rho(r) = r^2 / (1 + r^2): rho'(r) = 2r/(1+r^2)^2, extreme at r = +-1/sqrt 3.
ROBUST_DPHI_MAX = 3.0 * math.sqrt(3.0) / 8.0

#: Grid spacing of the coarse 1-D scan for cosine wells (refined where needed; see _cosine_min_1d).
_COSINE_COARSE_STEP = 1e-3
#: Number of starts of the multistart search for non-convex kinds.
_MULTISTART = 8


# ---------------------------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Constants:
    """Problem constants with their provenance (see the module docstring).

    Extra fields beyond the documented interface: ``n0`` (ZO nodes are ``0..n0-1``),
    ``shard_sizes`` (``m_i``), ``node_var_pop`` (per-node bound on the population variance
    ``(1/m_i) sum_j ||grad F(x, j) - grad f^i(x)||^2``, i.e. ``s_i^2`` for a batch of one),
    ``oracle_var``: ``E ||xi||^2`` of an additive oracle noise on every stochastic gradient
    (explicit quadratic: ``d noise^2``; 0 for every minibatch kind), added to every ``s_i^2``,
    ``s_how``/``s_exact``, ``witnesses``: points where a constant claimed exact is attained
    (keys ``"varsigma0_sq"``, ``"varsigma1_sq"``, ``"s_node"`` -> ``(n, d)`` array or ``None``),
    and ``varsigma_seen`` / ``node_var_seen``: the largest values of the same quantities at a
    fixed set of sampled points (x*, the witnesses, random points in the ball or at radii up to
    100 max(1, ||x*||)). Those are attained values, so each true constant lies in
    ``[seen, bound]``; the ratio shows how loose a certified bound is.
    """

    L: float
    L_how: str
    ell: float | None
    ell_how: str
    x_star: np.ndarray
    f_star: float
    star_how: str
    varsigma0_sq: float
    varsigma1_sq: float
    varsigma_how: str
    varsigma_exact: bool
    radius: float | None
    n0: int = 0
    shard_sizes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    node_var_pop: np.ndarray = field(default_factory=lambda: np.zeros(0))
    s_how: str = ""
    s_exact: bool = False
    witnesses: dict = field(default_factory=dict)
    varsigma_seen: tuple = (0.0, 0.0)
    node_var_seen: np.ndarray = field(default_factory=lambda: np.zeros(0))
    oracle_var: float = 0.0

    def s_sq(self, batch: int) -> np.ndarray:
        """Per-node bound on ``E||grad F^i(x, xi) - grad f^i(x)||^2`` for a minibatch of ``batch``.

        Minibatches are drawn without replacement from the node's ``m_i`` samples, so the
        population variance is multiplied by ``(m_i - b) / (b (m_i - 1))`` (0 when ``m_i = 1``);
        an additive oracle noise adds ``oracle_var`` (independent of the minibatch).
        Nodes whose shard has fewer than ``batch`` samples get NaN (no such minibatch exists).
        """
        m = self.shard_sizes
        b = check_int("batch", batch, 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            factor = np.where(m > 1, (m - b) / (b * np.maximum(m - 1, 1)), 0.0)
        return np.where(m >= b, factor * self.node_var_pop + self.oracle_var, np.nan)

    def sigma_sq(self, batch: int) -> tuple[float, float]:
        """``(sigma_0^2, sigma_1^2)``: the population means of :meth:`s_sq` (Definition 1).

        NaN for a population with a shard smaller than ``batch``; 0.0 for an empty population.
        """
        s = self.s_sq(batch)
        zo, fo = s[: self.n0], s[self.n0 :]
        return (float(zo.mean()) if zo.size else 0.0, float(fo.mean()) if fo.size else 0.0)

    def as_dict(self, batch: int | None = None) -> dict:
        """JSON-friendly summary (floats, lists, strings); with ``batch``, adds s_i^2 and sigma."""
        out = dict(
            L=float(self.L),
            L_how=self.L_how,
            ell=None if self.ell is None else float(self.ell),
            ell_how=self.ell_how,
            x_star=[float(v) for v in self.x_star],
            f_star=float(self.f_star),
            star_how=self.star_how,
            varsigma0_sq=float(self.varsigma0_sq),
            varsigma1_sq=float(self.varsigma1_sq),
            varsigma_how=self.varsigma_how,
            varsigma_exact=bool(self.varsigma_exact),
            radius=None if self.radius is None else float(self.radius),
            s_how=self.s_how,
            s_exact=bool(self.s_exact),
            node_var_pop=[float(v) for v in self.node_var_pop],
            varsigma0_sq_seen=float(self.varsigma_seen[0]),
            varsigma1_sq_seen=float(self.varsigma_seen[1]),
            node_var_seen=[float(v) for v in self.node_var_seen],
            oracle_var=float(self.oracle_var),
        )
        if batch is not None:
            s = self.s_sq(batch)
            s0, s1 = self.sigma_sq(batch)
            out.update(
                batch=int(batch),
                s_sq=[None if np.isnan(v) else float(v) for v in s],
                sigma0_sq=None if math.isnan(s0) else s0,
                sigma1_sq=None if math.isnan(s1) else s1,
            )
        return out


# ---------------------------------------------------------------------------------------------
# Maximum of a quadratic over a ball (trust-region subproblem, solved exactly)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BallMax:
    """Result of :func:`max_quadratic_on_ball`.

    ``value``: the maximum, computed as the dual value ``c + mu R^2 + m^T (mu I - M)^{-1} m``,
    which is an upper bound for every admissible ``mu`` and equals the maximum at the optimal one.
    ``z``: a maximiser (``||z|| <= R``); ``primal = q(z)`` is a lower bound, so
    ``value - primal`` bounds the numerical error. ``hard_case``: the optimal multiplier is the
    top eigenvalue and ``m`` has no component along its eigenspace.
    """

    value: float
    z: np.ndarray
    primal: float
    mu: float
    hard_case: bool


def max_quadratic_on_ball(M, m, c: float, R: float) -> BallMax:
    """Exact ``max { z^T M z + 2 m^T z + c : ||z|| <= R }`` for symmetric ``M`` (any sign).

    Method: with ``M = Q diag(lam) Q^T`` (``lam_1`` largest) and ``mt = Q^T m``, the maximum equals
    the minimum over ``mu >= max(lam_1, 0)``, ``mu > lam_i`` where ``mt_i != 0``, of the convex
    dual ``D(mu) = c + mu R^2 + sum_i mt_i^2 / (mu - lam_i)`` (S-lemma: no duality gap).
    ``D'(mu) = R^2 - ||y(mu)||^2`` with ``y_i = mt_i / (mu - lam_i)``, so the optimum is either
    ``mu = max(lam_1, 0)`` when ``||y|| <= R`` there (interior maximum if ``lam_1 < 0``; the
    *hard case* if ``lam_1 >= 0`` and ``mt`` vanishes on the top eigenspace: then ``z`` is padded
    along that eigenspace to the sphere), or the root of the secular equation
    ``||y(mu)|| = R`` in ``(max(lam_1, 0), max(lam_1, 0) + ||m|| / R]`` (Brent's method).
    """
    M = np.asarray(M, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64).ravel()
    d = m.shape[0]
    if M.shape != (d, d):
        raise HDOInputError(f"M must be a {d}x{d} matrix, got shape {M.shape}")
    c = check_float("c", c)
    R = check_float("R", R, 0.0)
    if R == 0.0:
        return BallMax(c, np.zeros(d), c, 0.0, False)
    M = 0.5 * (M + M.T)
    lam, Q = np.linalg.eigh(M)
    lam, Q = lam[::-1], Q[:, ::-1]  # descending
    mt = Q.T @ m
    scale = max(float(np.max(np.abs(lam))), 0.0)
    gap_tol = 64.0 * np.finfo(float).eps * scale
    m_tol = 64.0 * np.finfo(float).eps * (float(np.linalg.norm(m)) + scale * R)
    # work with s = mu - lam_1 and the exact gaps lam_1 - lam_i, so that mu - lam_i = s + gap_i
    # keeps full relative precision when mu is close to lam_1 (near the hard case)
    gaps = lam[0] - lam
    s_lo = max(-float(lam[0]), 0.0)  # mu >= max(lam_1, 0)
    top = (s_lo + gaps) <= gap_tol  # eigenvalues equal to max(lam_1, 0) up to rounding
    mt_top = np.where(top, mt, 0.0)
    nz = ~top
    lam1 = float(lam[0])

    def dual(s):
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(mt == 0.0, 0.0, mt**2 / (s + gaps))
        return float(c + (lam1 + s) * R * R + np.sum(terms))

    def yvec(s):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(mt == 0.0, 0.0, mt / (s + gaps))

    y_lo = np.zeros(d)
    y_lo[nz] = mt[nz] / (s_lo + gaps[nz])
    t = float(np.linalg.norm(mt_top))
    if t <= m_tol and float(np.linalg.norm(y_lo)) <= R:
        hard = bool(np.any(top))
        y = y_lo.copy()
        if hard:
            # pad along the top eigenspace (q does not decrease: lam_1 >= 0 there, mt ~ 0)
            tau = math.sqrt(max(R * R - float(y @ y), 0.0))
            k = int(np.argmax(np.where(top, np.abs(mt), -1.0)))
            y[k] += math.copysign(tau, mt[k]) if mt[k] != 0.0 else tau
        # a tiny nonzero mt on the top space makes D infinite at s_lo: evaluate D at
        # s_lo + t / R, still a certified upper bound, larger by at most 2 t R
        if t > 0.0:
            s_opt = s_lo + t / R
            value = dual(s_opt)
        else:
            s_opt = s_lo
            value = c + (lam1 + s_lo) * R * R + float(np.sum(mt[nz] ** 2 / (s_lo + gaps[nz])))
        z = Q @ y
        return BallMax(value, z, _qval(M, m, c, z), lam1 + s_opt, hard)

    def psi(s):
        if s <= s_lo and t > 0.0:
            return -1.0 / R
        return 1.0 / float(np.linalg.norm(yvec(s))) - 1.0 / R

    hi = s_lo + float(np.linalg.norm(m)) / R
    while psi(hi) < 0.0:  # rounding: widen until the bracket is valid
        hi = s_lo + 2.0 * (hi - s_lo) + 1e-300
    s_opt = scipy.optimize.brentq(psi, s_lo, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps)
    s_opt = max(s_opt, float(np.nextafter(s_lo, np.inf)))
    # the root lies within an ulp: use the side with ||y|| <= R for the primal point, and the
    # smaller of the two dual values (both certified upper bounds)
    s_up = float(np.nextafter(s_opt, np.inf))
    y = yvec(s_opt)
    if float(np.linalg.norm(y)) > R:
        y = yvec(s_up)
        ny = float(np.linalg.norm(y))
        if ny > R:
            y *= R / ny
    z = Q @ y
    value = min(dual(s_opt), dual(s_up))
    return BallMax(value, z, _qval(M, m, c, z), lam1 + s_opt, False)


def _qval(M, m, c, z) -> float:
    return float(z @ M @ z + 2.0 * m @ z + c)


# ---------------------------------------------------------------------------------------------
# Pointwise quantities
# ---------------------------------------------------------------------------------------------


def node_gradient_variance(objective, i: int, x, batch: int) -> float:
    """Exact :math:`E\\|\\nabla F^i(x, \\xi) - \\nabla f^i(x)\\|^2` for a minibatch at ``x``.

    For a minibatch of ``b`` of the ``m`` shard samples drawn without replacement, the variance
    of the minibatch mean is the finite-population formula

    .. math:: \\frac{m - b}{b (m - 1)} \\cdot \\frac1m
              \\sum_{j} \\|\\nabla F(x, j) - \\nabla f^i(x)\\|^2

    (zero when ``b = m``; for ``m = 1`` the variance is zero), plus ``E ||xi||^2 = d noise^2``
    of an additive oracle noise (the explicit quadratic; independent of the minibatch).
    """
    x = check_point("x", x, objective.d)
    m = objective.shard_size(i)
    b = check_int("batch", batch, 1, m)
    oracle = oracle_variance(objective)
    if m == 1 or b == m:
        return oracle
    G = objective.sample_grads(objective.shard(i), x)
    pop = float(np.mean(np.sum((G - G.mean(axis=0)) ** 2, axis=1)))
    return (m - b) / (b * (m - 1)) * pop + oracle


def oracle_variance(objective) -> float:
    """``E ||xi||^2 = d noise^2`` of the additive oracle noise of an explicit quadratic (the
    estimator kernel adds ``xi`` to every stochastic gradient); 0.0 for every other kind."""
    if objective.kind != K.KIND_EXPLICIT_QUADRATIC:
        return 0.0
    return objective.d * float(objective.data[1][0]) ** 2


def heterogeneity_at(objective, x) -> tuple[float, float]:
    """Exact ``(1/n_k) sum_{i in N_k} ||grad f^i(x) - grad f(x)||^2`` at ``x``, for k = 0, 1.

    ``grad f = (1/n) sum_i grad f^i`` over all ``n`` nodes; an empty population gives 0.0.
    """
    x = check_point("x", x, objective.d)
    G = objective.sample_grads(np.arange(objective.n_samples), x)
    node = _node_means(objective, G)
    g = objective.grad(x)
    dev = np.sum((node - g) ** 2, axis=1)
    zo, fo = dev[: objective.n0], dev[objective.n0 :]
    return (float(zo.mean()) if zo.size else 0.0, float(fo.mean()) if fo.size else 0.0)


def _node_means(objective, V: np.ndarray) -> np.ndarray:
    """Row ``i``: mean of ``V[j]`` over node ``i``'s shard (``V`` indexed by sample)."""
    ptr, idx = objective.shard_ptr, objective.shard_idx
    return np.stack([V[idx[ptr[i] : ptr[i + 1]]].mean(axis=0) for i in range(ptr.shape[0] - 1)])


def default_radius(objective, x_star: np.ndarray) -> float:
    """``2 max(1, ||x*||, ||x_0 - x*||)`` with ``x_0 = objective.random_point(0)``.

    The ball ``||x - x*|| <= R`` then contains, with a factor-2 margin, both the origin and the
    gossip process' default start point (``hdo_theory.process`` starts at ``random_point(0)``).
    Gradient-type iterations from there contract towards x* on the convex kinds, so the ball
    covers the trajectories of a stable run.
    """
    x0 = objective.random_point(0)
    return 2.0 * max(1.0, float(np.linalg.norm(x_star)), float(np.linalg.norm(x0 - x_star)))


# ---------------------------------------------------------------------------------------------
# compute_constants
# ---------------------------------------------------------------------------------------------


class _Prob:
    """Unpacked objective data with vectorised (NumPy) evaluations of the global f."""

    def __init__(self, objective):
        self.obj = objective
        kind, params, feats, targets, groups, mats, centers = objective.data[:7]
        self.kind = int(kind)
        self.params = params
        self.A = feats
        self.y = targets
        self.groups = groups
        self.mats = mats
        self.centers = centers
        self.w = objective.weights
        self.d = objective.d
        self.n, self.n0, self.n1 = objective.n, objective.n0, objective.n1
        self.sizes = np.diff(objective.shard_ptr).astype(np.int64)
        self.lam = float(params[0]) if params.shape[0] else 0.0

    # --- GLM pieces: phi(z), phi'(z), phi''(z) per sample and the shared regulariser ----------
    def phi(self, z):
        y = self.y
        if self.kind == K.KIND_LEAST_SQUARES:
            r = z - y
            return 0.5 * r * r, r, np.ones_like(r)
        if self.kind in (K.KIND_LOGISTIC, K.KIND_LOGISTIC_NONCVX):
            s = -y * z
            sig = expit(s)
            return np.logaddexp(0.0, s), -y * sig, y * y * sig * (1.0 - sig)
        if self.kind == K.KIND_ROBUST:
            r = z - y
            q = 1.0 + r * r
            return r * r / q, 2.0 * r / q**2, (2.0 - 6.0 * r * r) / q**3
        raise AssertionError("not a GLM kind")

    def reg(self, x):
        lam = self.lam
        if self.kind == K.KIND_LOGISTIC_NONCVX:
            xx = x * x
            q = 1.0 + xx
            return lam * float(np.sum(xx / q)), lam * 2.0 * x / q**2, lam * (2.0 - 6.0 * xx) / q**3
        return 0.5 * lam * float(x @ x), lam * x, np.full(x.shape, lam)

    def fgh(self, x, hess=True):
        """f, grad f, Hess f of the global objective (GLM and softmax kinds)."""
        if self.kind == K.KIND_SOFTMAX:
            return self._softmax_fgh(x, hess)
        z = self.A @ x
        p0, p1, p2 = self.phi(z)
        r0, r1, r2 = self.reg(x)
        f = float(self.w @ p0) + r0
        g = self.A.T @ (self.w * p1) + r1
        H = (self.A.T * (self.w * p2)) @ self.A + np.diag(r2) if hess else None
        return f, g, H

    def _softmax_fgh(self, x, hess):
        A, w, lam = self.A, self.w, self.lam
        Kc, p = int(self.params[1]), A.shape[1]
        W = x.reshape(Kc, p)
        Z = A @ W.T
        zmax = Z.max(axis=1, keepdims=True)
        E = np.exp(Z - zmax)
        S = E.sum(axis=1, keepdims=True)
        Pr = E / S
        lse = (zmax + np.log(S))[:, 0]
        ylab = self.y.astype(np.int64)
        rows = np.arange(A.shape[0])
        f = float(w @ (lse - Z[rows, ylab])) + 0.5 * lam * float(x @ x)
        Rm = Pr.copy()
        Rm[rows, ylab] -= 1.0
        g = ((w[:, None] * Rm).T @ A).ravel() + lam * x
        if not hess:
            return f, g, None
        # Hess = sum_j w_j (diag(p_j) - p_j p_j^T) (x) a_j a_j^T + lam I
        B = (Pr[:, :, None] * A[:, None, :]).reshape(A.shape[0], -1)
        H = -(B.T * w) @ B
        for k in range(Kc):
            blk = slice(k * p, (k + 1) * p)
            H[blk, blk] += (A.T * (w * Pr[:, k])) @ A
        H[np.diag_indices_from(H)] += lam
        return f, g, 0.5 * (H + H.T)


def compute_constants(objective, radius: float | None = None) -> Constants:
    """All constants of docs/theory.md section 2 for ``objective`` (see the module docstring).

    ``radius``: ball ``||x - x*|| <= radius`` over which the sups are taken where no global
    bound exists (quadratic, least squares; default :func:`default_radius`); for the logistic
    and robust kinds a given radius tightens the global bounds to the ball (default: global).
    """
    if radius is not None:
        radius = check_float("radius", radius, 0.0, lo_open=True)
    # small dense linear algebra: one BLAS thread is much faster than several on a busy machine
    with _single_thread_blas():
        return _compute(_Prob(objective), radius)


def _single_thread_blas():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional (installed with scikit-learn); only a speed matter
        return contextlib.nullcontext()
    return threadpool_limits(1)


def _compute(P, radius) -> Constants:
    from hdo_theory.objectives import constants_function  # the objective table's row

    fn = constants_function(P.obj)
    if fn is None:
        raise HDOInputError(f"constants are not implemented for objective kind {P.kind} "
                            f"({P.obj.name})")
    return fn(P, radius)


def _finish(P, x_star, star_how, **kw) -> Constants:
    het_seen, var_seen = _sampled_maxima(P, x_star, kw["radius"], kw["witnesses"])
    return Constants(
        x_star=x_star,
        f_star=float(P.obj.value(x_star)),
        star_how=star_how,
        n0=P.n0,
        shard_sizes=P.sizes.copy(),
        varsigma_seen=het_seen,
        node_var_seen=var_seen,
        **kw,
    )


_N_SAMPLED = 24


def _sampled_maxima(P, x_star, radius, witnesses):
    """Largest heterogeneity (per population) and per-node population variance at sampled points.

    Points: x*, random x* + r u (u uniform on the sphere; r uniform in the ball when a radius
    applies, else log-uniform in [0.1, 100] max(1, ||x*||)), from a seed derived from the
    objective's seed; plus each witness, evaluated for the quantity it is a witness of.
    """
    obj, d = P.obj, P.d
    rng = np.random.default_rng(np.random.SeedSequence([int(obj.meta.get("seed", 0)), 0x5EE7]))
    pts = [x_star]
    scale = max(1.0, float(np.linalg.norm(x_star)))
    for _ in range(_N_SAMPLED):
        u = rng.standard_normal(d)
        u /= np.linalg.norm(u)
        if radius is not None:
            r = radius * rng.random() ** (1.0 / d)
        else:
            r = scale * 10.0 ** rng.uniform(-1.0, 2.0)
        pts.append(x_star + r * u)
    het = np.zeros(2)
    var = np.zeros(P.n)
    ptr = obj.shard_ptr
    chunks = _node_chunks(ptr, _SAMPLED_CHUNK_ROWS)
    for x in pts:
        gx = obj.grad(x)
        dev_h = np.empty(P.n)
        # a chunk of shards at a time (rows in shard order): the same sums as on the whole
        # N x d gradient matrix, with temporaries that stay small whatever N
        for a, b in chunks:
            G = obj.sample_grads(obj.shard_idx[ptr[a] : ptr[b]], x)
            starts = ptr[a:b] - ptr[a]
            # shard sums as a sparse 0/1 product: several times faster than reduceat on rows
            ind = scipy.sparse.csr_matrix((np.ones(G.shape[0]), np.arange(G.shape[0]),
                                           ptr[a : b + 1] - ptr[a]), shape=(b - a, G.shape[0]))
            means = (ind @ G) / P.sizes[a:b, None]
            dev_h[a:b] = np.sum((means - gx) ** 2, axis=1)
            sq = np.sum((G - np.repeat(means, P.sizes[a:b], axis=0)) ** 2, axis=1)
            var[a:b] = np.maximum(var[a:b], np.add.reduceat(sq, starts) / P.sizes[a:b])
        het = np.maximum(het, _pop_means(P, dev_h))
    for k, key in enumerate(("varsigma0_sq", "varsigma1_sq")):
        if witnesses.get(key) is not None:
            het[k] = max(het[k], heterogeneity_at(obj, witnesses[key])[k])
    W = witnesses.get("s_node")
    if W is not None:
        for i in range(P.n):
            Gi = obj.sample_grads(obj.shard(i), W[i])
            var[i] = max(var[i], float(np.mean(np.sum((Gi - Gi.mean(axis=0)) ** 2, axis=1))))
    return (float(het[0]), float(het[1])), var


#: Rows of per-sample gradients held at once by _sampled_maxima.
_SAMPLED_CHUNK_ROWS = 4096


def _node_chunks(ptr, rows: int) -> list:
    """Consecutive node ranges ``(a, b)`` whose shards hold about ``rows`` samples (at least
    one node each)."""
    out, a, n = [], 0, ptr.shape[0] - 1
    while a < n:
        b = max(a + 1, int(np.searchsorted(ptr, ptr[a] + rows, side="right")) - 1)
        b = min(b, n)
        out.append((a, b))
        a = b
    return out


def _grad_note(P, x) -> str:
    return f"||grad f(x*)|| = {float(np.linalg.norm(P.obj.grad(x))):.2e}"


# --- affine-gradient kinds: per-sample gradient (minus shared part) = B_j z + e_j -------------


def _affine_constants(P, het_pop, node_var_quads, x_star, radius):
    """Heterogeneity and per-node variance when every deviation is affine in z = x - x*.

    ``grad f^i - grad f = M_i z + b_i``; ``het_pop(idx)`` gives, for the nodes ``idx`` of one
    population, ``(Mq, mq, cq)`` with ``(1/k) sum_i ||M_i z + b_i||^2 = z^T Mq z + 2 mq^T z + cq``,
    or ``(None, None, cq)`` when every ``M_i`` vanishes (``max |M_i| <= 1e-12`` times the scale of
    :func:`_affine_scale`), so that nothing d x d per node is ever held at once.
    ``node_var_quads`` yields, node by node, ``(Mv, mv, cv, basis)``: node i's population variance
    is ``z^T Mv z + 2 mv^T z + cv`` with ``z`` written as ``basis @ y`` (``basis`` a ``d x r``
    matrix with orthonormal columns spanning the range of the form, or ``None`` for ``r = d``).
    The variance then depends on ``z`` only through ``y = basis^T z``, and
    ``max_{||z|| <= R} = max_{||y|| <= R}`` exactly, solved in ``r`` dimensions.
    Returns ([vs0, vs1], het_how, [het witnesses], var_pop, var_how, var_witnesses, radius used
    or None).
    """
    d = P.d
    R = default_radius(P.obj, x_star) if radius is None else radius
    zero_tol = 1e-12 * _affine_scale(P)
    used_ball = False
    vs, wit = [0.0, 0.0], [None, None]
    how = []
    for k, idx in enumerate((np.arange(P.n0), np.arange(P.n0, P.n))):
        if idx.size == 0:
            continue
        Mq, mq, cq = het_pop(idx, zero_tol)
        if Mq is None:
            vs[k] = cq
            wit[k] = x_star.copy()
            how.append(f"pop{k}: exact over R^d (linear part vanishes)")
            continue
        res = max_quadratic_on_ball(Mq, mq, cq, R)
        vs[k] = max(res.value, 0.0)
        wit[k] = x_star + res.z
        used_ball = True
        how.append(f"pop{k}: exact max over ||x - x*|| <= {R:.6g} (trust-region solve)")
    var_pop = np.zeros(P.n)
    var_wit = np.zeros((P.n, d))
    n_ball = 0
    for i, (Mv, mv, cv, basis) in enumerate(node_var_quads):
        # constant in z (e.g. a quadratic shard whose samples share one Hessian): exact over R^d.
        # In a reduced basis the test is on ||.||_F and ||.||_2, which bound the full form's
        # largest entries (orthonormal basis): constant here implies constant in full coordinates
        size_M, size_m = ((np.max(np.abs(Mv)), np.max(np.abs(mv))) if basis is None else
                          (np.linalg.norm(Mv), np.linalg.norm(mv)))
        if size_M <= zero_tol**2 and size_m <= zero_tol * math.sqrt(max(cv, 0.0)):
            var_pop[i] = max(cv, 0.0)
            var_wit[i] = x_star
            continue
        res = max_quadratic_on_ball(Mv, mv, cv, R)
        var_pop[i] = max(res.value, 0.0)
        var_wit[i] = x_star + (res.z if basis is None else basis @ res.z)
        n_ball += 1
    used_ball = used_ball or n_ball > 0
    var_how = (
        f"exact: per node, {n_ball} of {P.n} nodes by exact max of the variance quadratic over "
        f"||x - x*|| <= {R:.6g}, the rest constant in x (exact over R^d); times (m-b)/(b(m-1))"
    )
    het_how = "exact: " + "; ".join(how) if how else "exact: no nodes"
    return vs, het_how, wit, var_pop, var_how, var_wit, (R if used_ball else None)


def _affine_scale(P) -> float:
    if P.kind == K.KIND_QUADRATIC:
        return max(float(np.max(np.abs(P.mats))), 1e-300)
    return max(float(np.max(np.sum(P.A**2, axis=1))), 1e-300)


#: Floats of one chunk of stacked d x d matrices (128 MB): the stacked product stays one BLAS
#: call per chunk while the memory stays bounded whatever the number of nodes.
_STACK_CHUNK_FLOATS = 1 << 24


def _stacked_het_quad(node_mats, bi, zero_tol, d):
    """``(Mq, mq, cq)`` of :func:`_affine_constants` from the per-node ``M_i`` (``node_mats(i)``
    for ``i`` in ``range(len(bi))``) stacked a chunk at a time: ``sum_i M_i^T M_i`` and
    ``sum_i M_i^T b_i`` are one ``(c d, d)`` matrix product per chunk of ``c`` nodes."""
    k = bi.shape[0]
    cq = float(np.mean(np.sum(bi**2, axis=1)))
    chunk = max(1, _STACK_CHUNK_FLOATS // (d * d))
    Mq, mq = np.zeros((d, d)), np.zeros(d)
    vanishes = True
    for s in range(0, k, chunk):
        stacked = np.concatenate([node_mats(i) for i in range(s, min(k, s + chunk))])
        vanishes = vanishes and float(np.max(np.abs(stacked))) <= zero_tol
        Mq += stacked.T @ stacked
        mq += stacked.T @ bi[s : s + chunk].reshape(-1)
    return (None, None, cq) if vanishes else (Mq / k, mq / k, cq)


def _quadratic(P, radius) -> Constants:
    mats, groups, centers, w = P.mats, P.groups, P.centers, P.w
    G, d = mats.shape[0], P.d
    used = np.unique(groups)
    eig = [np.linalg.eigvalsh(0.5 * (mats[g] + mats[g].T)) for g in used]
    L = max(float(max(abs(e[0]), abs(e[-1]))) for e in eig)
    Wg = np.bincount(groups, weights=w, minlength=G)
    H = np.einsum("g,gab->ab", Wg, mats)
    H = 0.5 * (H + H.T)
    b = w @ _group_apply(mats, groups, centers)  # sum_j w_j A_{g_j} c_j
    ell = float(np.linalg.eigvalsh(H)[0])
    x_star = np.linalg.solve(H, b)
    x_star = x_star - np.linalg.solve(H, P.obj.grad(x_star))  # one step of iterative refinement
    # per-sample gradient = A_{g_j} z + e_j, e_j = A_{g_j} (x* - c_j)
    E = _group_apply(mats, groups, x_star[None, :] - centers)
    onehot = np.zeros((P.obj.n_samples, G))
    onehot[np.arange(groups.shape[0]), groups] = 1.0
    frac = _node_means(P.obj, onehot)  # n x G group fractions per shard
    Cg = frac - Wg[None, :]
    bhet = _node_means(P.obj, E) - (w @ E)[None, :]

    def het_pop(idx, zero_tol):
        # M_i = sum_g Cg[i, g] A_g, one chunk of nodes at a time
        return _stacked_het_quad(lambda i: np.tensordot(Cg[idx[i]], mats, axes=1), bhet[idx],
                                 zero_tol, d)

    def quads():
        for i in range(P.n):
            # centred forms, exactly zero when the shard uses one Hessian only
            S = P.obj.shard(i)
            fr = frac[i]
            Bbar = np.einsum("g,gab->ab", fr, mats)
            Es = E[S]
            ebar = Es.mean(axis=0)
            Mv = np.zeros((d, d))
            mv = np.zeros(d)
            for g in np.flatnonzero(fr):
                D = mats[g] - Bbar
                Mv += fr[g] * (D @ D)
                mv += D @ (Es[groups[S] == g] - ebar).sum(axis=0) / S.shape[0]
            cv = float(np.mean(np.sum((Es - ebar) ** 2, axis=1)))
            yield 0.5 * (Mv + Mv.T), mv, cv, None

    vs, het_how, het_wit, var_pop, var_how, var_wit, used_R = _affine_constants(
        P, het_pop, quads(), x_star, radius
    )
    return _finish(
        P,
        x_star,
        "closed form: solve (sum_g W_g A_g) x = sum_j w_j A_{g_j} c_j, one refinement step; "
        + _grad_note(P, x_star),
        L=L,
        L_how="exact: max_g lambda_max(A_g) over groups in use",
        ell=ell,
        ell_how="exact: lambda_min(sum_j w_j A_{g_j})",
        varsigma0_sq=vs[0],
        varsigma1_sq=vs[1],
        varsigma_how=het_how,
        varsigma_exact=True,
        radius=used_R,
        node_var_pop=var_pop,
        s_how=var_how,
        s_exact=True,
        witnesses={"varsigma0_sq": het_wit[0], "varsigma1_sq": het_wit[1], "s_node": var_wit},
    )


def _group_apply(mats, groups, X):
    """Row j: A_{g_j} X_j, without forming the (N, d, d) stack."""
    out = np.empty_like(X)
    for g in np.unique(groups):
        sel = groups == g
        out[sel] = X[sel] @ mats[g].T
    return out


def _least_squares(P, radius) -> Constants:
    A, y, w, lam, d = P.A, P.y, P.w, P.lam, P.d
    norms2 = np.sum(A**2, axis=1)
    L = float(norms2.max()) + lam
    Hd = (A.T * w) @ A
    H = Hd + lam * np.eye(d)
    ell = float(np.linalg.eigvalsh(Hd)[0]) + lam
    x_star = np.linalg.solve(H, A.T @ (w * y))
    x_star = x_star - np.linalg.solve(H, P.obj.grad(x_star))
    r = A @ x_star - y
    E = r[:, None] * A  # e_j = (a_j.x* - y_j) a_j ; B_j = a_j a_j^T
    # grad f^i - grad f = (A_S^T A_S / m - A^T W A) z + (mean_S e - w.e)
    bhet = _node_means(P.obj, E) - (w @ E)[None, :]

    def het_pop(idx, zero_tol):
        return _least_squares_het_quad(P, Hd, bhet[idx], idx, zero_tol)

    def quads():
        for i in range(P.n):
            S = P.obj.shard(i)
            As, Es, m = A[S], E[S], S.shape[0]
            ebar = Es.mean(axis=0)
            cv = float(np.mean(np.sum((Es - ebar) ** 2, axis=1)))
            if m < d:
                # Mv = As^T C As and mv = As^T C r_S with C = diag(||a_j||^2)/m - As As^T/m^2
                # (Bbar @ Bbar through the m x m Gram); with As^T = Q Rq (Q: d x m orthonormal)
                # the form lives on range(Q): solve it in m dimensions
                C = np.diag(norms2[S]) / m - (As @ As.T) / (m * m)
                Q, Rq = np.linalg.qr(As.T)
                Mv, mv = Rq @ C @ Rq.T, Rq @ (C @ r[S])
                yield 0.5 * (Mv + Mv.T), mv, cv, Q
            else:
                Bbar = As.T @ As / m
                Mv = (As.T * norms2[S]) @ As / m - Bbar @ Bbar
                mv = As.T @ (norms2[S] * r[S]) / m - Bbar @ ebar
                yield 0.5 * (Mv + Mv.T), mv, cv, None

    vs, het_how, het_wit, var_pop, var_how, var_wit, used_R = _affine_constants(
        P, het_pop, quads(), x_star, radius
    )
    return _finish(
        P,
        x_star,
        "closed form: solve (A^T W A + lam I) x = A^T W y, one refinement step; "
        + _grad_note(P, x_star),
        L=L,
        L_how="exact: max_j ||a_j||^2 + lam (per-sample Hessian a_j a_j^T + lam I)",
        ell=ell,
        ell_how="exact: lambda_min(sum_j w_j a_j a_j^T) + lam",
        varsigma0_sq=vs[0],
        varsigma1_sq=vs[1],
        varsigma_how=het_how,
        varsigma_exact=True,
        radius=used_R,
        node_var_pop=var_pop,
        s_how=var_how,
        s_exact=True,
        witnesses={"varsigma0_sq": het_wit[0], "varsigma1_sq": het_wit[1], "s_node": var_wit},
    )


#: Rows of the shard matrices stacked per matrix product in _least_squares_het_quad.
_HET_CHUNK_ROWS = 8192


def _least_squares_het_quad(P, Hd, bi, idx, zero_tol):
    """``(Mq, mq, cq)`` of :func:`_affine_constants` for least squares, without d x d per node.

    ``M_i = Bbar_i - Hd`` with ``Bbar_i = A_S^T A_S / m_i`` (rank ``m_i``), so
    ``sum_i M_i^2 = sum_i Bbar_i^2 - (S Hd + Hd S) + k Hd^2`` with ``S = sum_i Bbar_i`` and
    ``Bbar_i^2 = A_S^T (A_S A_S^T A_S) / m_i^2``: for the nodes with ``m_i < d`` two
    ``(sum m_i) x d`` products, ``O(d^2 sum m_i)`` time and no ``n x d x d`` stack. (Those
    ``M_i`` equal ``-Hd`` off the shard's span, so the expansion does not cancel.) Nodes with
    ``m_i >= d`` add ``M_i^T M_i`` directly (``d^3`` each, at most ``d^2 sum m_i`` in all).
    ``sum_i M_i b_i = sum_i A_S^T (A_S b_i) / m_i - Hd sum_i b_i``. The vanishing test
    (every ``max |M_i| <= zero_tol``) runs node by node and stops at the first node that fails.
    """
    A, d, obj = P.A, P.d, P.obj
    k = idx.size
    cq = float(np.mean(np.sum(bi**2, axis=1)))
    shards = [obj.shard(int(i)) for i in idx]
    gram = lambda S: A[S].T @ A[S] / S.shape[0]
    if all(float(np.max(np.abs(gram(S) - Hd))) <= zero_tol for S in shards):
        return None, None, cq
    Mq = np.zeros((d, d))
    mq = -Hd @ bi.sum(axis=0)
    small = [t for t, S in enumerate(shards) if S.shape[0] < d]
    sum_sq, sum_gram = np.zeros((d, d)), np.zeros((d, d))
    t0 = 0
    while t0 < len(small):  # chunks of about _HET_CHUNK_ROWS rows
        t1, rows = t0, 0
        while t1 < len(small) and (t1 == t0 or rows + shards[small[t1]].shape[0]
                                   <= _HET_CHUNK_ROWS):
            rows += shards[small[t1]].shape[0]
            t1 += 1
        blocks = [A[shards[t]] for t in small[t0:t1]]
        Acat = np.concatenate(blocks)
        Ycat = np.concatenate([(As @ As.T) @ As / As.shape[0] ** 2 for As in blocks])
        Wcat = np.concatenate([As / As.shape[0] for As in blocks])
        sum_sq += Acat.T @ Ycat
        sum_gram += Acat.T @ Wcat
        t0 = t1
    X = sum_gram @ Hd
    Mq += sum_sq - X - X.T + len(small) * (Hd @ Hd)
    for t, S in enumerate(shards):
        As = A[S]
        mq += As.T @ (As @ bi[t]) / S.shape[0]
        if S.shape[0] >= d:
            Mi = gram(S) - Hd
            Mq += Mi.T @ Mi
    return Mq / k, mq / k, cq


# --- bounded-phi' kinds: logistic, non-convex logistic, robust --------------------------------


def _bounded_glm(P, radius) -> Constants:
    A, lam, kind = P.A, P.lam, P.kind
    norms2 = np.sum(A**2, axis=1)
    if kind == K.KIND_LOGISTIC:
        L = float(np.max(P.y**2 * norms2)) / 4.0 + lam
        L_how = (
            "exact: sup_x lambda_max(Hess F) = max_j y_j^2 ||a_j||^2/4 + lam, attained on a_j.x = 0"
        )
        x_star, star_how = _newton_convex(P)
        ell, ell_how = (
            lam,
            (
                "exact: inf over R^d of lambda_min(Hess f) = lam (approached as ||x|| -> inf along "
                "a direction with a_j.u != 0 for all j; not attained)"
            ),
        )
    elif kind == K.KIND_LOGISTIC_NONCVX:
        L = float(np.max(P.y**2 * norms2)) / 4.0 + 2.0 * lam
        L_how = (
            "exact: max_j y_j^2 ||a_j||^2/4 + 2 lam, attained at x = 0 (sigma' <= 1/4 and the "
            "regulariser's t^2/(1+t^2) second derivative (2-6t^2)/(1+t^2)^3 lies in [-1/2, 2])"
        )
        x_star, star_how = _multistart(P)
        ell, ell_how = None, "None: non-convex objective"
    else:  # robust
        L = 2.0 * float(np.max(norms2)) + lam
        L_how = (
            "exact: 2 max_j ||a_j||^2 + lam (rho''(r) = (2-6r^2)/(1+r^2)^3 in [-1/2, 2], "
            "rho'' = 2 at r = 0, i.e. on a_j.x = y_j)"
        )
        x_star, star_how = _multistart(P)
        ell, ell_how = None, "None: non-convex objective"
    lo, hi, region = _dphi_intervals(P, x_star, None)
    het_node, het_how = _glm_het_bound(P, (0.5 * (lo + hi))[:, None], 0.5 * (hi - lo))
    var_pop = _glm_var_bound(P, lo, hi)
    if radius is not None:
        # both bounds hold on the ball; the ball one is usually, not always, the smaller
        blo, bhi, region = _dphi_intervals(P, x_star, radius)
        het_ball, _ = _glm_het_bound(P, (0.5 * (blo + bhi))[:, None], 0.5 * (bhi - blo))
        het_node = np.minimum(het_node, het_ball)
        var_pop = np.minimum(var_pop, _glm_var_bound(P, blo, bhi))
        region += ", per node the smaller of it and the global bound"
    het = _pop_means(P, het_node**2)
    return _finish(
        P,
        x_star,
        star_how,
        L=L,
        L_how=L_how,
        ell=ell,
        ell_how=ell_how,
        varsigma0_sq=het[0],
        varsigma1_sq=het[1],
        varsigma_how=f"certified upper bound {region}: {het_how}",
        varsigma_exact=False,
        radius=radius,
        node_var_pop=var_pop,
        s_how=(
            f"certified upper bound {region}: per node min over v of "
            "(1/m) sum_j max_{phi' in [lo_j, hi_j]} ||phi' a_j - v||^2 (phi' interval per sample); "
            "times (m-b)/(b(m-1))"
        ),
        s_exact=False,
        witnesses={"varsigma0_sq": None, "varsigma1_sq": None, "s_node": None},
    )


def _dphi_intervals(P, x_star, radius):
    """Per-sample interval [lo_j, hi_j] containing phi_j'(a_j.x) over R^d or over the ball."""
    y = P.y
    if radius is None:
        if P.kind == K.KIND_ROBUST:
            c = np.full(y.shape, ROBUST_DPHI_MAX)
            return -c, c, "over R^d (|rho'| <= 3 sqrt(3)/8)"
        return np.minimum(0.0, -y), np.maximum(0.0, -y), "over R^d (phi'_j between 0 and -y_j)"
    zc = P.A @ x_star
    rad = radius * np.sqrt(np.sum(P.A**2, axis=1))
    zlo, zhi = zc - rad, zc + rad
    if P.kind == K.KIND_ROBUST:
        rlo, rhi = zlo - y, zhi - y
        f = lambda r: 2.0 * r / (1.0 + r * r) ** 2
        a, b = f(rlo), f(rhi)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        t = 1.0 / math.sqrt(3.0)
        hi = np.where((rlo <= t) & (t <= rhi), ROBUST_DPHI_MAX, hi)
        lo = np.where((rlo <= -t) & (-t <= rhi), -ROBUST_DPHI_MAX, lo)
    else:  # phi'(z) = -y sigma(-y z) is non-decreasing in z
        lo, hi = -y * expit(-y * zlo), -y * expit(-y * zhi)
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    return lo, hi, f"over the ball ||x - x*|| <= {radius:.6g} (phi' range of a_j.x on the ball)"


def _glm_het_bound(P, mid, rad):
    """Per node i, a certified bound on sup_x ||sum_j c_ij s_j(x) a_j^T||_F = ||grad f^i - grad f||.

    Here c_ij = 1[j in S_i]/m_i - w_j, so that sum_j c_ij g_j = grad f^i - grad f, and the
    sample gradient (minus the shared regulariser) is s_j a_j^T with s_j in R^K (K = 1 for the
    scalar GLMs, s_j = phi'_j; softmax: s_j = p_j - e_{y_j}) confined to the ball
    ||s_j - mid_j|| <= rad_j. Writing s_j = mid_j + t_j,
    ||D_i||_F <= ||sum_j c_ij mid_j a_j^T||_F + sqrt(sum_q (sum_j |c_ij| rad_j |a_jq|)^2)
    (triangle inequality per feature column q, valid in any orthonormal feature basis); we take
    the better of the standard basis and the principal axes of A, per node, and (for at most
    _GRAM_MAX_SAMPLES samples) of the Gram bound ``||sum_j c_ij t_j a_j^T||_F^2 <=
    sum_{j,l} |c_ij| |c_il| rad_j rad_l |a_j . a_l|``, usually the smallest in high dimension.
    """
    A, w, obj = P.A, P.w, P.obj
    V = (mid[:, :, None] * A[:, None, :]).reshape(A.shape[0], -1)
    vnorm = np.linalg.norm(_node_means(obj, V) - (w @ V)[None, :], axis=1)
    # |c_ij| - w_j for j in shard i (outside the shard |c_ij| = w_j)
    node_of = np.repeat(np.arange(P.n), P.sizes)
    sidx = obj.shard_idx
    corr_coef = np.abs(1.0 / P.sizes[node_of] - w[sidx]) - w[sidx]
    _, _, Vt = np.linalg.svd(A, full_matrices=False)
    best = np.full(P.n, np.inf)
    for basis in (None, Vt.T):
        Ab = A if basis is None else A @ basis
        U = rad[:, None] * np.abs(Ab)
        base = w @ U
        corr = np.add.reduceat(corr_coef[:, None] * U[sidx], obj.shard_ptr[:-1], axis=0)
        Pn = np.linalg.norm(base[None, :] + corr, axis=1)
        best = np.minimum(best, vnorm + Pn)
    if A.shape[0] <= _GRAM_MAX_SAMPLES:
        best = np.minimum(best, vnorm + _gram_abs_bound(P, rad, corr_coef))
    how = (
        "(1/n_k) sum_i (||sum_j c_ij mid_j a_j^T|| + B_i)^2 with the sample's gradient factor "
        "within rad_j of mid_j, B_i the smallest of ||(sum_j |c_ij| rad_j |a_jq|)_q|| in the "
        "standard and principal-axis feature bases and (N <= 6000) "
        "sqrt(sum_jl |c_ij||c_il| rad_j rad_l |a_j.a_l|)"
    )
    return best, how


#: Largest data set for which the O(N^2 p) Gram bound of _glm_het_bound is computed.
_GRAM_MAX_SAMPLES = 6000


def _gram_abs_bound(P, rad, corr_coef) -> np.ndarray:
    """Per node sqrt(u_i^T |A A^T| u_i), u_ij = |c_ij| rad_j, without forming an N x N matrix.

    Off node i's shard |c_ij| = w_j, so u_i = w rad + delta_i with delta_i supported on the
    shard (coefficients ``corr_coef``): u^T|G|u = (w rad)^T |G| (w rad) + 2 delta_i . (|G| w rad)_S
    + delta_i^T |G_SS| delta_i.
    """
    A, w, obj = P.A, P.w, P.obj
    N = A.shape[0]
    wr = w * rad
    gw = np.empty(N)
    step = max(1, 2_000_000 // max(N, 1))
    for s in range(0, N, step):
        gw[s : s + step] = np.abs(A[s : s + step] @ A.T) @ wr
    base = float(wr @ gw)
    out = np.empty(P.n)
    ptr, sidx = obj.shard_ptr, obj.shard_idx
    for i in range(P.n):
        S = sidx[ptr[i] : ptr[i + 1]]
        dl = corr_coef[ptr[i] : ptr[i + 1]] * rad[S]
        As = A[S]
        val = base + 2.0 * float(dl @ gw[S]) + float(dl @ np.abs(As @ As.T) @ dl)
        out[i] = math.sqrt(max(val, 0.0))
    return out


def _pop_means(P, v) -> list:
    """[mean over ZO nodes, mean over FO nodes] of a per-node array (0.0 if empty)."""
    return [float(v[: P.n0].mean()) if P.n0 else 0.0, float(v[P.n0 :].mean()) if P.n1 else 0.0]


def _glm_var_bound(P, lo, hi) -> np.ndarray:
    """Per node: min over v of (1/m) sum_j max(||lo_j a_j - v||^2, ||hi_j a_j - v||^2).

    Valid for every v since the shard mean minimises (1/m) sum ||g_j - v||^2 and each term is
    convex in phi'_j (maximised at an end of its interval). v is improved by a few fixed-point
    steps (mean of the farther endpoints); any v gives a certified bound, the best is kept.
    """
    A, obj = P.A, P.obj
    out = np.zeros(P.n)
    for i in range(P.n):
        S = obj.shard(i)
        if S.shape[0] == 1:
            continue
        As = A[S]
        Lo, Hi = lo[S, None] * As, hi[S, None] * As
        best = np.inf
        for v in (0.5 * (Lo + Hi).mean(axis=0), np.zeros(P.d)):
            for _ in range(30):
                dl = np.sum((Lo - v) ** 2, axis=1)
                dh = np.sum((Hi - v) ** 2, axis=1)
                val = float(np.mean(np.maximum(dl, dh)))
                if val < best - 1e-15 * abs(best if np.isfinite(best) else 0.0):
                    best = val
                v_new = np.where((dh > dl)[:, None], Hi, Lo).mean(axis=0)
                if np.array_equal(v_new, v):
                    break
                v = v_new
        out[i] = best
    return out


def _softmax(P, radius) -> Constants:
    A, lam, d = P.A, P.lam, P.d
    Kc = int(P.params[1])
    norms2 = np.sum(A**2, axis=1)
    fun = lambda x: P.fgh(x, hess=False)[:2]
    res = scipy.optimize.minimize(
        fun, np.zeros(d), jac=True, method="L-BFGS-B", options=dict(maxiter=5000, gtol=1e-9)
    )
    x_star, star_how = _newton_convex(P, res.x)
    ylab = P.y.astype(np.int64)
    mid = np.full((A.shape[0], Kc), 1.0 / Kc)
    mid[np.arange(A.shape[0]), ylab] -= 1.0
    rad = np.full(A.shape[0], math.sqrt(1.0 - 1.0 / Kc))
    het_node, het_how = _glm_het_bound(P, mid, rad)
    het = _pop_means(P, het_node**2)
    var_pop = _softmax_var_bound(P, ylab, Kc)
    note = "" if radius is None else " (radius ignored: the bound is global)"
    return _finish(
        P,
        x_star,
        "L-BFGS then " + star_how,
        L=float(norms2.max()) / 2.0 + lam,
        L_how=(
            "exact: sup_x lambda_max(Hess F) = max_j ||a_j||^2/2 + lam (Hessian "
            "(diag(p) - p p^T) (x) a a^T + lam I; lambda_max(diag(p) - p p^T) <= 1/2 by "
            "Gershgorin, approached when two classes share the probability equally)"
        ),
        ell=lam,
        ell_how=(
            "exact: lam (the Hessian of the cross-entropy part is singular everywhere: adding "
            "the same row to every class of W leaves the loss unchanged)"
        ),
        varsigma0_sq=het[0],
        varsigma1_sq=het[1],
        varsigma_how=(
            "certified upper bound over R^d: p_j - e_{y_j} lies within sqrt(1 - 1/K) of "
            "1/K - e_{y_j}; " + het_how + note
        ),
        varsigma_exact=False,
        radius=None,
        node_var_pop=var_pop,
        s_how=(
            "certified upper bound over R^d: per node min over V of (1/m) sum_j max_k "
            "||(e_k - e_{y_j}) a_j^T - V||_F^2 (p_j - e_{y_j} ranges over the simplex with "
            "vertices e_k - e_{y_j}); times (m-b)/(b(m-1))" + note
        ),
        s_exact=False,
        witnesses={"varsigma0_sq": None, "varsigma1_sq": None, "s_node": None},
    )


def _softmax_var_bound(P, ylab, Kc) -> np.ndarray:
    """Per node: min over V of (1/m) sum_j max_k ||T_jk - V||_F^2, T_jk = (e_k - e_y) a_j^T.

    The sample gradient's cross-entropy part (p_j - e_{y_j}) a_j^T ranges over the convex hull
    of the T_jk; the squared distance to V is convex, so its max is at a vertex. Every V gives a
    certified bound (the shard mean minimises the average squared distance); V is improved by
    fixed-point steps (mean of the farthest vertices) and the best value is kept.
    """
    A, obj = P.A, P.obj
    p = A.shape[1]
    out = np.zeros(P.n)
    for i in range(P.n):
        S = obj.shard(i)
        m = S.shape[0]
        if m == 1:
            continue
        As, ys = A[S], ylab[S]
        an2 = np.sum(As**2, axis=1)
        rows = np.arange(m)
        best = np.inf
        V = np.zeros((Kc, p))
        for _ in range(30):
            VA = As @ V.T  # m x K: (V a_j)_k
            # ||T_jk - V||^2 = ||T_jk||^2 - 2 <T_jk, V> + ||V||^2
            # with ||T_jk||^2 = 2 ||a_j||^2 [k != y_j], <T_jk, V> = (V a_j)_k - (V a_j)_{y_j}
            vals = 2.0 * an2[:, None] - 2.0 * (VA - VA[rows, ys][:, None])
            vals[rows, ys] = 0.0
            vals += float(np.sum(V * V))
            kstar = np.argmax(vals, axis=1)
            best = min(best, float(np.mean(vals[rows, kstar])))
            sel = np.zeros((m, Kc))
            sel[rows, kstar] += 1.0
            sel[rows, ys] -= 1.0
            V_new = sel.T @ As / m
            if np.array_equal(V_new, V):
                break
            V = V_new
        out[i] = best
    return out


def _newton_convex(P, x0=None, max_iter=100):
    """Damped Newton with Armijo backtracking for the convex logistic f."""
    x = np.zeros(P.d) if x0 is None else x0.copy()
    f, g, H = P.fgh(x)
    gtol = 1e-13 * max(1.0, float(np.linalg.norm(g)))
    it = 0
    while it < max_iter:
        it += 1
        if float(np.linalg.norm(g)) <= gtol:
            break
        step = np.linalg.solve(H, -g)
        t = 1.0
        while True:
            fn, gn, Hn = P.fgh(x + t * step)
            if fn <= f + 1e-4 * t * float(g @ step) or t < 1e-10:
                break
            t *= 0.5
        if fn > f and float(np.linalg.norm(gn)) >= float(np.linalg.norm(g)):
            break  # rounding floor reached
        x, f, g, H = x + t * step, fn, gn, Hn
    return x, f"Newton (Armijo), {it} iterations; " + _grad_note(P, x)


def _polish_newton(P, x, max_iter=30):
    """Newton steps from a local minimiser while the Hessian is positive definite."""
    f, g, H = P.fgh(x)
    for _ in range(max_iter):
        try:
            np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            break
        step = np.linalg.solve(H, -g)
        fn, gn, Hn = P.fgh(x + step)
        if not (np.linalg.norm(gn) < np.linalg.norm(g) and fn <= f + 1e-12 * (1 + abs(f))):
            break
        x, f, g, H = x + step, fn, gn, Hn
    return x, f


def _multistart(P):
    """Best of _MULTISTART L-BFGS runs (+ Newton polish): a local minimiser, not certified."""
    d = P.d
    rng = np.random.default_rng(np.random.SeedSequence([int(P.obj.meta.get("seed", 0)), 0xC0517]))
    # a convex surrogate's minimiser (ridge least squares on the targets) as one start
    Hs = (P.A.T * P.w) @ P.A + max(P.lam, 1e-6) * np.eye(d)
    xs = np.linalg.solve(Hs, P.A.T @ (P.w * P.y))
    spread = max(1.0, float(np.linalg.norm(xs)) / math.sqrt(d))
    starts = [np.zeros(d), xs] + [spread * rng.standard_normal(d) for _ in range(_MULTISTART - 2)]
    fun = lambda x: P.fgh(x, hess=False)[:2]
    best = None
    for x0 in starts:
        res = scipy.optimize.minimize(
            fun,
            x0,
            jac=True,
            method="L-BFGS-B",
            options=dict(maxiter=20000, maxfun=40000, gtol=1e-12, ftol=1e-15),
        )
        x, f = _polish_newton(P, res.x)
        if best is None or f < best[1]:
            best = (x, f)
    x = best[0]
    return x, (
        f"best of {_MULTISTART} multistart L-BFGS + Newton polish (local minimum, not certified "
        "global); " + _grad_note(P, x)
    )


# --- cosine wells -------------------------------------------------------------------------


def _cosine_wells(P, radius) -> Constants:
    alpha, beta = float(P.params[0]), float(P.params[1])
    A, w, obj, d = P.A, P.w, P.obj, P.d
    abar = w @ A
    ab2 = alpha * beta * beta
    L = max(abs(1.0 - ab2), 1.0 + ab2)
    x_star = np.empty(d)
    gap = 0.0
    for k in range(d):
        x_star[k], g = _cosine_min_1d(alpha, beta, float(abar[k]))
        gap += g
    node_a = _node_means(obj, A)
    dev = np.sum((node_a - abar[None, :]) ** 2, axis=1)
    het = [float(dev[: P.n0].mean()) if P.n0 else 0.0, float(dev[P.n0 :].mean()) if P.n1 else 0.0]
    var_pop = np.zeros(P.n)
    for i in range(P.n):
        S = obj.shard(i)
        As = A[S]
        var_pop[i] = float(np.mean(np.sum((As - As.mean(axis=0)) ** 2, axis=1)))
    ell_how = "None: objective not flagged convex"
    if ab2 < 1.0:
        ell_how += f" (f is in fact (1 - alpha beta^2) = {1.0 - ab2:.6g}-strongly convex)"
    return _finish(
        P,
        x_star,
        "exact separable 1-D global minimisation per coordinate: critical points lie in "
        "|t + abar_k| <= alpha beta; grid scan, every near-best discrete minimum polished "
        f"(bounded Brent + Newton), cells refined until the certified gap is {gap:.1e} "
        "(sum over coordinates of the sup of f* - value); " + _grad_note(P, x_star),
        L=L,
        L_how=(
            "exact: max(|1 - alpha beta^2|, 1 + alpha beta^2) "
            "(Hessian diag(1 - alpha beta^2 cos(beta x_k)))"
        ),
        ell=None,
        ell_how=ell_how,
        varsigma0_sq=het[0],
        varsigma1_sq=het[1],
        varsigma_how="exact over R^d: grad f^i - grad f = abar_i - abar does not depend on x",
        varsigma_exact=True,
        radius=None,
        node_var_pop=var_pop,
        s_how="exact over R^d: grad F(x,j) - grad f^i(x) = a_j - abar_i; times (m-b)/(b(m-1))",
        s_exact=True,
        witnesses={"varsigma0_sq": x_star.copy(), "varsigma1_sq": x_star.copy(), "s_node": None},
    )


def _cosine_min_1d(alpha, beta, ab):
    """Global minimiser of h(t) = t^2/2 + alpha cos(beta t) + ab t, and a certified gap.

    h'(t) = t + ab - alpha beta sin(beta t) = 0 forces |t + ab| <= alpha beta. On a grid of
    spacing delta, h'' <= Lh = 1 + alpha beta^2 gives h >= min(h_i, h_{i+1}) - Lh delta^2/8 on
    each cell. Every discrete local minimum within that slack of the grid minimum is polished;
    every cell whose lower bound is below the best value is rescanned 1000x finer (and new
    candidates polished). Returns (t*, gap) with h(t*) - min h <= gap.
    """
    h = lambda t: 0.5 * t * t + alpha * np.cos(beta * t) + ab * t
    dh = lambda t: t + ab - alpha * beta * np.sin(beta * t)
    d2h = lambda t: 1.0 - alpha * beta * beta * np.cos(beta * t)
    Lh = 1.0 + alpha * beta * beta
    c, r = -ab, alpha * beta
    if r == 0.0:
        return c, 0.0
    a0, b0 = c - r, c + r

    def polish(tl, tr):
        """Bounded Brent on [tl, tr], then Newton on h' while |h'| decreases."""
        res = scipy.optimize.minimize_scalar(
            h, bounds=(tl, tr), method="bounded", options=dict(xatol=1e-14)
        )
        t = float(res.x)
        g = abs(float(dh(t)))
        for _ in range(30):
            curv = float(d2h(t))
            if g == 0.0 or curv <= 0.0:
                break
            tn = t - float(dh(t)) / curv
            gn = abs(float(dh(tn)))
            if not gn < g:
                break
            t, g = tn, gn
        return t, float(h(t))

    def scan(lo_, hi_, n):
        ts = np.linspace(lo_, hi_, n)
        return ts, h(ts), (ts[1] - ts[0]) if n > 1 else 0.0

    n0 = max(3, int(math.ceil((b0 - a0) / _COSINE_COARSE_STEP)) + 1)
    ts, hs, delta = scan(a0, b0, n0)
    slack = Lh * delta * delta / 8.0
    last = ts.shape[0] - 1
    cand = set(np.flatnonzero((hs[1:-1] <= hs[:-2]) & (hs[1:-1] <= hs[2:])) + 1)
    cand = {i for i in cand if hs[i] <= hs.min() + slack} | {int(np.argmin(hs))}
    best_t, best_h = math.nan, math.inf
    for i in sorted(cand):
        t, v = polish(ts[max(i - 1, 0)], ts[min(i + 1, last)])
        if v < best_h:
            best_t, best_h = t, v
    # rescan every cell whose lower bound is below the best value; polish anything lower
    round_tol = 16.0 * np.finfo(float).eps * (abs(best_h) + 0.5 * max(a0 * a0, b0 * b0) + alpha)
    lower = []
    cell_lb = np.minimum(hs[:-1], hs[1:]) - slack
    for i in np.flatnonzero(cell_lb < best_h):
        fs, fh, fdelta = scan(ts[i], ts[i + 1], 1001)
        j = int(np.argmin(fh))
        if fh[j] < best_h - round_tol:
            t, v = polish(fs[max(j - 1, 0)], fs[min(j + 1, fs.shape[0] - 1)])
            if v < best_h:
                best_t, best_h = t, v
        lower.append(float(fh.min()) - Lh * fdelta * fdelta / 8.0)
    gap = max([best_h - lb for lb in lower], default=0.0)
    return best_t, max(gap, 0.0)
