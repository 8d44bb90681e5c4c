"""Problem constants (objectives.constants): exactness where claimed, validity everywhere.

Oracles: brute force (ball maxima, a 2-D grid for cosine wells), independent assembly of the
Hessians of f, constructed points where a sup is attained, exhaustive enumeration of all
minibatches, and Monte Carlo with a Bernstein tolerance. Rounding budgets follow the model of
``_objective_bounds`` (``2 T eps S``).
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import scipy.optimize
from _objective_bounds import EPS, jvp_rounding, loss_rounding, third_derivative_bound
from hypothesis import given, settings
from hypothesis import strategies as st

from hdo_theory.errors import HDOInputError
from hdo_theory.objectives import OBJECTIVE_NAMES, make_objective, objectives_where
from hdo_theory.objectives import kernels as K
from hdo_theory.objectives.constants import (
    compute_constants,
    heterogeneity_at,
    max_quadratic_on_ball,
    node_gradient_variance,
)

CONVEX = objectives_where(convex=True)
AFFINE = ("quadratic", "least-squares", "explicit-quadratic")


# ---------------------------------------------------------------------------------------------
# max_quadratic_on_ball
# ---------------------------------------------------------------------------------------------


def _q(M, m, c, z):
    return float(z @ M @ z + 2 * m @ z + c)


def _trs_rounding(M, m, c, R):
    """Rounding budget of the solve: eigendecomposition and sums, 64 (d+1) eps x term scale."""
    d = m.shape[0]
    return 64 * (d + 1) * EPS * (abs(c) + np.linalg.norm(M, 2) * R * R + 2 * np.linalg.norm(m) * R)


def _brute_2d(M, m, c, R, n=20001):
    """Max over a fine grid of the circle, plus the interior stationary point if M < 0.

    On the circle q(theta) = R^2 u^T M u + 2 R m.u + c has |q''| <= 4 R^2 ||M|| + 2 R ||m||, so
    the grid max is within that * (dtheta/2)^2 / 2 of the max on the circle. If M has an
    eigenvalue >= 0 the maximum over the ball is on the circle (q is convex along the top
    eigenvector); otherwise it is the interior stationary point when that lies in the ball.
    """
    th = np.linspace(0.0, 2 * np.pi, n)
    U = np.stack([np.cos(th), np.sin(th)], axis=1) * R
    vals = np.einsum("ti,ij,tj->t", U, M, U) + 2 * U @ m + c
    best = float(vals.max())
    if np.linalg.eigvalsh(M)[-1] < 0:
        z0 = np.linalg.solve(M, -m)
        if np.linalg.norm(z0) <= R:
            best = max(best, _q(M, m, c, z0))
    dth = th[1] - th[0]
    slack = (4 * R * R * np.linalg.norm(M, 2) + 2 * R * np.linalg.norm(m)) * dth * dth / 8
    return best, slack


def _check_ballmax(res, M, m, c, R):
    tol = _trs_rounding(M, m, c, R)
    assert np.linalg.norm(res.z) <= R * (1 + 4 * EPS)
    assert abs(res.primal - _q(M, m, c, res.z)) <= tol
    assert res.value >= res.primal - tol  # dual value is an upper bound
    assert res.value - res.primal <= tol  # ... attained by z
    return tol


sym2 = st.lists(st.floats(-3, 3, allow_nan=False), min_size=3, max_size=3)
vec2 = st.lists(st.floats(-3, 3, allow_nan=False), min_size=2, max_size=2)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(sym2, vec2, st.floats(-5, 5), st.floats(0.05, 4))
def test_ball_max_matches_brute_force_in_2d(Mv, mv, c, R):
    M = np.array([[Mv[0], Mv[1]], [Mv[1], Mv[2]]])
    m = np.array(mv)
    res = max_quadratic_on_ball(M, m, c, R)
    tol = _check_ballmax(res, M, m, c, R)
    brute, slack = _brute_2d(M, m, c, R)
    assert brute - tol <= res.value <= brute + slack + tol


@pytest.mark.parametrize("d", [2, 4])
@pytest.mark.parametrize("tilt", [0.0, 1e-9])
def test_ball_max_hard_case(d, tilt):
    """m orthogonal to the top eigenvector: max = c + lam1 R^2 + sum_{i>1} mt_i^2/(lam1 - lam_i)."""
    rng = np.random.default_rng(d)
    lam = np.array([3.0, 1.0, -2.0, 0.5][:d])
    mt = np.array([tilt, 0.5, 0.3, -0.2][:d])
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    M, m, c, R = Q @ np.diag(lam) @ Q.T, Q @ mt, 0.7, 2.0
    expected = c + lam[0] * R * R + float(np.sum(mt[1:] ** 2 / (lam[0] - lam[1:])))
    res = max_quadratic_on_ball(M, m, c, R)
    tol = _check_ballmax(res, M, m, c, R)
    # a tilt t along the top eigenvector adds at most 2 |t| R to the maximum
    assert expected - tol <= res.value <= expected + 2 * tilt * R + tol
    assert abs(np.linalg.norm(res.z) - R) <= 4 * EPS * R
    if d == 2:
        brute, slack = _brute_2d(M, m, c, R)
        assert brute - tol <= res.value <= brute + slack + tol


def test_ball_max_interior_zero_and_degenerate_cases():
    M = -np.diag([2.0, 1.0])
    m = np.array([0.2, -0.1])
    res = max_quadratic_on_ball(M, m, 1.0, 5.0)
    z0 = np.array([0.1, -0.1])  # -M^{-1} m
    _check_ballmax(res, M, m, 1.0, 5.0)
    assert abs(res.value - (1.0 + m @ z0)) <= _trs_rounding(M, m, 1.0, 5.0)
    # M = 0: value c + 2 ||m|| R, at z = R m / ||m||
    res = max_quadratic_on_ball(np.zeros((3, 3)), np.array([3.0, 0.0, 4.0]), -1.0, 2.0)
    assert abs(res.value - (-1.0 + 20.0)) <= 64 * EPS * 20
    # M = 0, m = 0: constant; R = 0: c
    assert max_quadratic_on_ball(np.zeros((2, 2)), np.zeros(2), 2.5, 3.0).value == 2.5
    assert max_quadratic_on_ball(np.eye(2), np.ones(2), 2.5, 0.0).value == 2.5
    with pytest.raises(HDOInputError, match="^R "):
        max_quadratic_on_ball(np.eye(2), np.ones(2), 0.0, -1.0)
    with pytest.raises(HDOInputError, match="^M must be"):
        max_quadratic_on_ball(np.eye(3), np.ones(2), 0.0, 1.0)


@settings(max_examples=40, derandomize=True, deadline=None)
@given(st.integers(3, 6), st.integers(0, 2**31 - 1), st.floats(0.1, 10))
def test_ball_max_dominates_random_points(d, seed, R):
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((d, d))
    M = (B + B.T) / 2
    m = rng.standard_normal(d) * rng.choice([0.0, 1e-3, 1.0])
    c = float(rng.standard_normal())
    res = max_quadratic_on_ball(M, m, c, R)
    tol = _check_ballmax(res, M, m, c, R)
    Z = rng.standard_normal((2000, d))
    Z *= (R * rng.random(2000) ** (1 / d) / np.linalg.norm(Z, axis=1))[:, None]
    vals = np.einsum("ti,ij,tj->t", Z, M, Z) + 2 * Z @ m + c
    assert vals.max() <= res.value + tol


# ---------------------------------------------------------------------------------------------
# helpers for the per-objective tests
# ---------------------------------------------------------------------------------------------


def _constants(small_objective, name):
    obj = small_objective(name)
    return obj, obj.constants


def _f_rounding(obj, x) -> float:
    """Budget for fl(f(x)): sum_j w_j of the per-sample budgets plus the N-term weighted sum."""
    N = obj.n_samples
    S = T = 0.0
    for j in range(N):
        s, t = loss_rounding(obj, j, x)
        S += obj.weights[j] * s
        T = max(T, t)
    return 2 * (N + T) * EPS * S


def _g_rounding(obj, x) -> float:
    """Budget for ||fl(grad f(x)) - grad f(x)||: component errors summed (u = all ones)."""
    N = obj.n_samples
    ones = np.ones(obj.d)
    S = T = 0.0
    for j in range(N):
        s, t = jvp_rounding(obj, j, x, ones)
        S += obj.weights[j] * s
        T = max(T, t)
    return 2 * (N + T) * EPS * S


def _sample_g_rounding(obj, j, x) -> float:
    s, t = jvp_rounding(obj, j, x, np.ones(obj.d))
    return 2 * t * EPS * s


def _hessian_f(obj):
    """Hessian of f for the two quadratic kinds, assembled independently of constants.py."""
    kind, params, A, y, groups, mats, _ = obj.data
    w = obj.weights
    if kind == K.KIND_QUADRATIC:
        return sum(w[j] * mats[groups[j]] for j in range(obj.n_samples))
    if kind == K.KIND_EXPLICIT_QUADRATIC:
        return mats[0]
    return (A.T * w) @ A + params[0] * np.eye(obj.d)


def _sample_points(obj, C, k, seed, far=True):
    """k points: uniform in the ball when C.radius applies, else radii log-uniform up to 1e3."""
    rng = np.random.default_rng(seed)
    scale = max(1.0, float(np.linalg.norm(C.x_star)))
    pts = []
    for t in range(k):
        u = rng.standard_normal(obj.d)
        u /= np.linalg.norm(u)
        if C.radius is not None:
            r = C.radius * (1.0 if t % 4 == 0 else rng.random() ** (1 / obj.d))
        else:
            r = scale * 10 ** rng.uniform(-2, 3 if far else 0)
        pts.append(C.x_star + r * u)
    return pts


# ---------------------------------------------------------------------------------------------
# L: never exceeded, attained (exact for every kind)
# ---------------------------------------------------------------------------------------------


def _L_witness(obj, C):
    """(j, x, u, uHu): a sample, a point and a unit direction, u^T Hess F(x, j) u >= uHu.

    Constructed from where each kind's sup is attained (see constants.py's L_how).
    """
    kind, params, A, y, groups, mats, _ = obj.data
    d = obj.d
    lam = float(params[0]) if params.shape[0] else 0.0
    rng = np.random.default_rng(1)
    if kind == K.KIND_QUADRATIC:
        used = np.unique(groups)
        tops = [np.linalg.eigh(mats[g]) for g in used]
        g = int(np.argmax([t[0][-1] for t in tops]))
        j = int(np.flatnonzero(groups == used[g])[0])
        return j, rng.standard_normal(d), tops[g][1][:, -1], float(tops[g][0][-1])
    if kind == K.KIND_COSINE_WELLS:
        al, be = float(params[0]), float(params[1])
        return 0, np.full(d, math.pi / be), np.eye(1, d, 0)[0], 1.0 + al * be * be
    if kind == K.KIND_EXPLICIT_QUADRATIC:  # the Hessian is A everywhere: its top eigenvector
        lam, V = np.linalg.eigh(mats[0])
        return 0, rng.standard_normal(d), V[:, -1], float(lam[-1])
    n2 = np.sum(A**2, axis=1) * (y**2 if kind in (2, 3) else 1.0)
    j = int(np.argmax(n2))
    a = A[j]
    u = a / np.linalg.norm(a)
    if kind == K.KIND_LEAST_SQUARES:
        return j, rng.standard_normal(d), u, float(a @ a) + lam
    if kind == K.KIND_LOGISTIC:  # on the hyperplane a.x = 0, sigma' = 1/4
        x = rng.standard_normal(d)
        return j, x - (x @ u) * u, u, float(y[j] ** 2 * (a @ a)) / 4 + lam
    if kind == K.KIND_LOGISTIC_NONCVX:  # x = 0: sigma' = 1/4, regulariser curvature 2 lam
        return j, np.zeros(d), u, float(y[j] ** 2 * (a @ a)) / 4 + 2 * lam
    if kind == K.KIND_ROBUST:  # a.x = y: rho'' = 2
        return j, y[j] * a / (a @ a), u, 2.0 * float(a @ a) + lam
    if kind == K.KIND_SOFTMAX:
        Kc, p = int(params[1]), A.shape[1]
        W = np.zeros((Kc, p))
        W[2:] = -40.0 * a / (a @ a)  # logits (0, 0, -40, ...)
        U = np.zeros((Kc, p))
        U[0], U[1] = a / np.linalg.norm(a) / math.sqrt(2), -a / np.linalg.norm(a) / math.sqrt(2)
        qh = 1.0 / (2.0 + (Kc - 2) * math.exp(-40.0))  # p_0 = p_1; u^T H u = 2 qh ||a||^2/2 + lam
        return j, W.ravel(), U.ravel(), 2 * qh * float(a @ a) / 2 + lam
    raise AssertionError(kind)


@pytest.mark.parametrize("name", OBJECTIVE_NAMES)
def test_L_is_never_exceeded_and_is_attained(name, small_objective):
    obj, C = _constants(small_objective, name)
    rng = np.random.default_rng(5)
    scale = 0.05 if obj.d > 100 else 1.0
    for _ in range(10 if obj.d > 100 else 40):
        j = int(rng.integers(obj.n_samples))
        x = scale * rng.standard_normal(obj.d) * 10 ** rng.uniform(-1, 1)
        y = x + scale * rng.standard_normal(obj.d) * 10 ** rng.uniform(-3, 0.5)
        gx, gy = np.zeros(obj.d), np.zeros(obj.d)
        K.sample_grad_add(obj.data, j, x, 1.0, gx)
        K.sample_grad_add(obj.data, j, y, 1.0, gy)
        tol = _sample_g_rounding(obj, j, x) + _sample_g_rounding(obj, j, y)
        assert np.linalg.norm(gx - gy) <= C.L * np.linalg.norm(x - y) * (1 + 4 * EPS) + tol
    # attained: u.(g(x + eps u) - g(x)) = int_0^eps u^T H(x + t u) u dt >= eps uHu - eps^2 M3 / 2
    j, x, u, uHu = _L_witness(obj, C)
    assert uHu <= C.L * (1 + 4 * EPS)
    assert uHu >= C.L * (1 - 1e-12)  # the witness is where the sup is (approached)
    eps_ = 1e-4
    g0, g1 = np.zeros(obj.d), np.zeros(obj.d)
    K.sample_grad_add(obj.data, j, x, 1.0, g0)
    K.sample_grad_add(obj.data, j, x + eps_ * u, 1.0, g1)
    tol = _sample_g_rounding(obj, j, x) + _sample_g_rounding(obj, j, x + eps_ * u)
    ratio = float(u @ (g1 - g0)) / eps_
    assert ratio >= uHu - eps_ * third_derivative_bound(obj, j) / 2 - tol / eps_


# ---------------------------------------------------------------------------------------------
# x*, f*, ell
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", OBJECTIVE_NAMES)
def test_x_star_is_stationary_to_rounding(name, small_objective):
    """||grad f(x*)|| <= evaluation rounding + L eps ||x*||_1 (rounding x* itself)."""
    obj, C = _constants(small_objective, name)
    g = obj.grad(C.x_star)
    budget = _g_rounding(obj, C.x_star) + C.L * EPS * float(np.abs(C.x_star).sum())
    assert np.linalg.norm(g) <= budget
    assert C.f_star == obj.value(C.x_star)
    assert C.x_star.shape == (obj.d,) and np.all(np.isfinite(C.x_star))


@pytest.mark.parametrize("name", CONVEX)
def test_strong_convexity_and_optimality_on_samples(name, small_objective):
    """f(x) >= f* + ell/2 ||x - x*||^2 (convex kinds); quadratic kinds: equality with H."""
    obj, C = _constants(small_objective, name)
    assert C.ell is not None and C.ell > 0
    rng = np.random.default_rng(9)
    for _ in range(4 if obj.d > 100 else 12):
        r = 10 ** rng.uniform(-4, 1) * (0.05 if obj.d > 100 else 1.0)
        z = r * rng.standard_normal(obj.d)
        x = C.x_star + z
        fx = obj.value(x)
        tol = _f_rounding(obj, x) + _f_rounding(obj, C.x_star)
        assert fx >= C.f_star + 0.5 * C.ell * float(z @ z) - tol
        if name in AFFINE:
            assert abs(fx - C.f_star - 0.5 * z @ _hessian_f(obj) @ z) <= tol


@pytest.mark.parametrize("name", CONVEX)
def test_ell_is_exact(name, small_objective):
    obj, C = _constants(small_objective, name)
    kind, params = obj.kind, obj.data[1]
    if name in AFFINE:
        lmin = float(np.linalg.eigvalsh(_hessian_f(obj))[0])
        assert abs(C.ell - lmin) <= 64 * obj.d * EPS * np.linalg.norm(_hessian_f(obj), 2)
    elif kind == K.KIND_SOFTMAX:
        # grad f(x + t (1 (x) v)) - grad f(x) = lam t (1 (x) v): a direction of curvature lam
        assert C.ell == params[0]
        Kc, p = int(params[1]), obj.d // int(params[1])
        v = np.random.default_rng(0).standard_normal(p)
        dirn = np.tile(v, Kc)
        x = obj.random_point(3, 0.05)
        diff = obj.grad(x + 0.5 * dirn) - obj.grad(x)
        tol = 2 * (_g_rounding(obj, x) + _g_rounding(obj, x + 0.5 * dirn))
        assert np.linalg.norm(diff - params[0] * 0.5 * dirn) <= tol
    else:  # logistic: inf of lambda_min(Hess f) over R^d is lam, approached far away
        assert C.ell == params[0]
        u = np.random.default_rng(2).standard_normal(obj.d)
        x = 200.0 * u / np.linalg.norm(u)  # |a_j.x| large for all j: sigma' ~ 0
        h = 1e-3
        H = np.empty((obj.d, obj.d))
        for k in range(obj.d):
            e = np.eye(1, obj.d, k)[0]
            H[:, k] = (obj.grad(x + h * e) - obj.grad(x - h * e)) / (2 * h)
        lmin = float(np.linalg.eigvalsh((H + H.T) / 2)[0])
        # lambda_min >= lam always; here within sum_j w_j sigma'_j ||a_j||^2 (+ FD error) of it
        A, yv = obj.data[2], obj.data[3]
        s = 1.0 / (1.0 + np.exp(np.abs(A @ x)))
        excess = float(obj.weights @ (s * (1 - s) * yv**2 * np.sum(A**2, 1)))
        fd_err = 2 * _g_rounding(obj, x) / (2 * h) * math.sqrt(obj.d) + h * h * 1.0
        assert C.ell - fd_err <= lmin <= C.ell + excess + fd_err


@pytest.mark.parametrize("name", ["logistic-nonconvex", "robust"])
def test_nonconvex_best_found_is_not_beaten_by_extra_starts(name, small_objective):
    """Not a certificate: 6 fresh L-BFGS starts and 200 random points find nothing lower."""
    obj, C = _constants(small_objective, name)
    assert C.ell is None and "not certified" in C.star_how
    rng = np.random.default_rng(123)
    tol = _f_rounding(obj, C.x_star)
    for _ in range(6):
        x0 = 3 * rng.standard_normal(obj.d)
        res = scipy.optimize.minimize(obj.value, x0, jac=obj.grad, method="L-BFGS-B")
        assert res.fun >= C.f_star - tol - _f_rounding(obj, res.x)
    for _ in range(200):
        x = C.x_star + rng.standard_normal(obj.d) * 10 ** rng.uniform(-3, 1)
        assert obj.value(x) >= C.f_star - tol - _f_rounding(obj, x)


@pytest.mark.parametrize("alpha, beta", [(1.0, 2.0), (1.5, 3.0), (0.1, 1.0)])
def test_cosine_wells_global_minimum_against_2d_grid(alpha, beta):
    """Brute force on a 2-D grid (spacing delta) of the box holding every critical point.

    With grad f(x*) = 0 and Hess f <= Lh = 1 + alpha beta^2, the grid point nearest x* has
    f <= f* + Lh/2 * 2 (delta/2)^2, so f* <= min_grid <= f* + Lh delta^2 / 4 (+ rounding).
    """
    obj = make_objective("cosine-wells", d=2, n0=2, n1=2, seed=4, alpha=alpha, beta=beta)
    C = obj.constants
    abar = obj.weights @ obj.data[2]
    r = alpha * beta
    n = 2001
    t0 = np.linspace(-abar[0] - r, -abar[0] + r, n)
    t1 = np.linspace(-abar[1] - r, -abar[1] + r, n)
    h = lambda t, k: 0.5 * t * t + alpha * np.cos(beta * t) + abar[k] * t
    grid = h(t0, 0)[:, None] + h(t1, 1)[None, :]
    delta = max(t0[1] - t0[0], t1[1] - t1[0])
    Lh = 1 + alpha * beta * beta
    tol = _f_rounding(obj, C.x_star) + 64 * EPS * float(np.abs(grid).max())
    assert C.f_star <= grid.min() + tol
    assert grid.min() <= C.f_star + Lh * delta * delta / 4 + tol
    assert np.all(np.abs(C.x_star + abar) <= r * (1 + 4 * EPS))


# ---------------------------------------------------------------------------------------------
# heterogeneity and variance constants
# ---------------------------------------------------------------------------------------------


def _sq_rounding(obj, x, value) -> float:
    """Budget for a squared deviation norm computed from N per-sample gradients at x.

    Each deviation vector is a difference of weighted sums of <= N + n gradients, so its
    rounding is delta <= 4 (N + n + d) eps max_j ||g_j||_1; squared: 2 sqrt(value) delta + delta^2.
    """
    G = obj.sample_grads(np.arange(obj.n_samples), x)
    delta = 4 * (obj.n_samples + obj.n + obj.d) * EPS * float(np.abs(G).sum(1).max())
    return 2 * math.sqrt(max(value, 0.0)) * delta + delta * delta


@pytest.mark.parametrize("name", OBJECTIVE_NAMES)
def test_heterogeneity_at_matches_its_definition(name, small_objective):
    obj = small_objective(name)
    x = obj.random_point(8, 0.05 if obj.d > 100 else 1.0)
    g = obj.grad(x)
    dev = np.array([np.sum((obj.node_grad(i, x) - g) ** 2) for i in range(obj.n)])
    h0, h1 = heterogeneity_at(obj, x)
    assert abs(h0 - dev[: obj.n0].mean()) <= _sq_rounding(obj, x, h0)
    assert abs(h1 - dev[obj.n0 :].mean()) <= _sq_rounding(obj, x, h1)


@pytest.mark.parametrize("name", OBJECTIVE_NAMES)
def test_heterogeneity_constant_is_never_exceeded_and_attained_when_exact(name, small_objective):
    obj, C = _constants(small_objective, name)
    k = 8 if obj.d > 100 else 40
    for x in _sample_points(obj, C, k, seed=21):
        h = heterogeneity_at(obj, x)
        assert h[0] <= C.varsigma0_sq + _sq_rounding(obj, x, C.varsigma0_sq)
        assert h[1] <= C.varsigma1_sq + _sq_rounding(obj, x, C.varsigma1_sq)
    assert C.varsigma_seen[0] <= C.varsigma0_sq * (1 + 1e-9) + 1e-300
    if C.varsigma_exact:
        for key, bound, k in (
            ("varsigma0_sq", C.varsigma0_sq, 0),
            ("varsigma1_sq", C.varsigma1_sq, 1),
        ):
            w = C.witnesses[key]
            if C.radius is not None:
                assert np.linalg.norm(w - C.x_star) <= C.radius * (1 + 4 * EPS)
            assert (
                abs(heterogeneity_at(obj, w)[k] - bound)
                <= _sq_rounding(obj, w, bound) + 64 * (obj.d + obj.n) * EPS * bound
            )


@pytest.mark.parametrize("name", OBJECTIVE_NAMES)
def test_variance_constant_is_never_exceeded_and_attained_when_exact(name, small_objective):
    obj, C = _constants(small_objective, name)
    # batches the shards allow (one sample per node: batch 1 only)
    batches = tuple(b for b in (1, 2, int(C.shard_sizes.min())) if b <= C.shard_sizes.min())
    k = 6 if obj.d > 100 else 25
    for x in _sample_points(obj, C, k, seed=22):
        for b in batches:
            s = C.s_sq(b)
            for i in range(obj.n):
                v = node_gradient_variance(obj, i, x, b)
                assert v <= s[i] + _sq_rounding(obj, x, s[i])
    if C.s_exact:
        W = C.witnesses["s_node"]
        for i in range(obj.n):
            x = C.x_star if W is None else W[i]
            v = node_gradient_variance(obj, i, x, 1)
            b1 = C.s_sq(1)[i]
            assert abs(v - b1) <= _sq_rounding(obj, x, b1) + 64 * (obj.d + obj.n) * EPS * b1


@pytest.mark.parametrize("name", ["logistic", "robust", "breast-cancer"])
def test_ball_bounds_hold_on_the_ball(name, small_objective):
    obj = small_objective(name)
    C = compute_constants(obj, radius=0.5)
    assert C.radius == 0.5 and "ball" in C.varsigma_how
    for x in _sample_points(obj, C, 30, seed=23):
        h = heterogeneity_at(obj, x)
        assert h[0] <= C.varsigma0_sq + _sq_rounding(obj, x, C.varsigma0_sq)
        assert h[1] <= C.varsigma1_sq + _sq_rounding(obj, x, C.varsigma1_sq)
        for i in range(obj.n):
            v = node_gradient_variance(obj, i, x, 1)
            assert v <= C.s_sq(1)[i] + _sq_rounding(obj, x, C.s_sq(1)[i])
    with pytest.raises(HDOInputError, match="^radius"):
        compute_constants(obj, radius=0.0)


def test_s_sq_sigma_sq_structure(small_objective):
    obj, C = _constants(small_objective, "cosine-wells")
    m = C.shard_sizes
    assert np.array_equal(m, np.diff(obj.shard_ptr))
    for b in (1, 3, int(m.min())):
        expect = C.node_var_pop * (m - b) / (b * (m - 1))
        assert np.allclose(C.s_sq(b), expect, rtol=4 * EPS, atol=0)
        s0, s1 = C.sigma_sq(b)
        assert s0 == pytest.approx(C.s_sq(b)[: obj.n0].mean(), rel=8 * EPS)
        assert s1 == pytest.approx(C.s_sq(b)[obj.n0 :].mean(), rel=8 * EPS)
    big = int(m.max())
    assert np.all(np.isnan(C.s_sq(big)[m < big])) and np.all(C.s_sq(big)[m == big] == 0.0)
    with pytest.raises(HDOInputError, match="^batch"):
        C.s_sq(0)
    d = C.as_dict(batch=2)
    json.dumps(d, allow_nan=False)
    assert d["L"] == C.L and len(d["s_sq"]) == obj.n and d["sigma0_sq"] == C.sigma_sq(2)[0]
    assert obj.constants is C  # cached on the objective


def test_empty_population_gives_zero(small_objective):
    obj = small_objective("quadratic", n0=0, n1=3)
    C = obj.constants
    assert C.varsigma0_sq == 0.0 and C.sigma_sq(1)[0] == 0.0
    assert heterogeneity_at(obj, C.x_star)[0] == 0.0


# ---------------------------------------------------------------------------------------------
# node_gradient_variance: exhaustive enumeration and Monte Carlo with draw_batch
# ---------------------------------------------------------------------------------------------


def test_node_gradient_variance_against_enumeration_and_monte_carlo():
    obj = make_objective("logistic", d=4, n0=2, n1=2, n_samples=24, seed=3)
    i, b = 1, 3
    S = obj.shard(i)
    m = S.shape[0]
    x = obj.random_point(2, 1.0)
    G = obj.sample_grads(S, x)
    gi = obj.node_grad(i, x)
    V = node_gradient_variance(obj, i, x, b)
    # every b-subset equally likely: the exact law of Y = ||mean_batch g - grad f^i||^2
    Y = np.array(
        [np.sum((G[list(c)].mean(0) - gi) ** 2) for c in itertools.combinations(range(m), b)]
    )
    mu, var, M = Y.mean(), Y.var(), float(np.max(np.abs(Y - Y.mean())))
    assert abs(V - mu) <= _sq_rounding(obj, x, V) + 8 * Y.size * EPS * mu
    # Monte Carlo with the kernels' sampler; Bernstein: P(|mean - mu| >= t) <= 2 exp(-R t^2 /
    # (2 var + 2 M t / 3)); t solves that = delta = 1e-6 (the false-failure probability)
    R, delta = 4000, 1e-6
    lg = math.log(2 / delta)
    a = 2 * M * lg / 3
    t = (a + math.sqrt(a * a + 8 * R * var * lg)) / (2 * R)
    rng = np.random.default_rng(np.random.SeedSequence([2024, i]))
    perm = np.arange(m, dtype=np.int64)
    acc = 0.0
    for _ in range(R):
        idx = K.draw_batch(rng, perm, 0, m, b)
        acc += float(np.sum((G[idx].mean(0) - gi) ** 2))
    assert abs(acc / R - V) <= t
    # b = m: no variance; batch outside [1, m] is rejected
    assert node_gradient_variance(obj, i, x, m) == 0.0
    with pytest.raises(HDOInputError, match="^batch"):
        node_gradient_variance(obj, i, x, m + 1)


def test_quadratic_with_one_hessian_is_exact_over_all_of_Rd():
    """One shared Hessian: every deviation is constant in x, so no ball is needed."""
    obj = make_objective("quadratic", d=4, n0=2, n1=3, seed=5, groups=1, heterogeneity=1.0)
    C = obj.constants
    assert C.radius is None and C.varsigma_exact and C.s_exact
    assert "exact over R^d" in C.varsigma_how
    rng = np.random.default_rng(0)
    for _ in range(5):
        u = rng.standard_normal(obj.d)
        x = C.x_star + 1e3 * u / np.linalg.norm(u)
        h = heterogeneity_at(obj, x)
        assert abs(h[0] - C.varsigma0_sq) <= _sq_rounding(obj, x, C.varsigma0_sq)
        assert abs(h[1] - C.varsigma1_sq) <= _sq_rounding(obj, x, C.varsigma1_sq)
        for i in range(obj.n):
            v = node_gradient_variance(obj, i, x, 1)
            assert abs(v - C.s_sq(1)[i]) <= _sq_rounding(obj, x, C.s_sq(1)[i])


def test_default_radius_covers_origin_and_default_start(small_objective):
    for name in AFFINE:
        obj, C = _constants(small_objective, name)
        assert C.radius is not None
        assert np.linalg.norm(C.x_star) <= C.radius / 2
        assert np.linalg.norm(obj.random_point(0) - C.x_star) <= C.radius / 2
