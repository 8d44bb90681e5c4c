"""Metamorphic and exact tests of the estimator kernel (:func:`hdo_theory.estimators.estimate`).

Two routes to the same quantity, with the same random directions (the kernel's Numba
generator produces NumPy's stream, so ``u`` is reproduced from a copy of the seed). Where the
two routes differ only by floating-point rounding, the allowance is a first-order (Higham)
bound: a loss evaluated as a sum of ``n`` terms is off by at most ``gamma_n * Fabs`` with
``gamma_n = n eps`` and ``Fabs`` the same sum taken over absolute values (:func:`_fabs`), doubled
for second-order terms. No statistical tolerance is used in this file: these are identities.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hdo_theory.errors import HDOInputError
from hdo_theory.estimators import (
    ESTIMATOR_CODES,
    EstimatorSpec,
    direction_buffer,
    estimate,
    estimate_once,
    estimators_where,
    resolve_nu,
)
from hdo_theory.objectives import OBJECTIVES, make_objective, objectives_where
from hdo_theory.objectives import kernels as K
from hdo_theory.rng import kernel_generator

EPS = np.finfo(float).eps
SYNTHETIC = objectives_where(real_data=False)
ZO_RANDOM = estimators_where(zero_order=True, random_directions=True)
DETERMINISTIC = estimators_where(random_directions=False)  # rv is ignored
DERIVATIVE = estimators_where(mean="grad f")  # gradient / JVP sums: no differences of F
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)


@functools.lru_cache(maxsize=64)
def _objective(name, d, seed=0):
    # the explicit quadratic without its additive oracle noise: these tests take the
    # directions to be the call's first normals (with noise, xi comes first; that stream and
    # the noise are tested in tests/test_explicit_quadratic.py)
    noise = 0.0 if OBJECTIVES[name].one_sample_per_node else None
    return make_objective(name, d=d, n0=2, n1=2, seed=seed, noise=noise)


def _draw(data, kind, x, batch, nu, rv=1, seed=0):
    """One kernel draw and the generator after it."""
    d = x.shape[0]
    out = np.empty(d)
    rng = np.random.default_rng(seed)
    estimate(data, ESTIMATOR_CODES[kind], rv, nu, np.asarray(batch, dtype=np.int64), x, rng,
             out, direction_buffer(d), np.empty(d))
    return out, rng


def _directions(d, rv, seed, sphere=False):
    U = np.random.default_rng(seed).standard_normal((rv, d))
    if sphere:
        U /= np.linalg.norm(U, axis=1, keepdims=True)
    return U


def certified_L(obj) -> float:
    """An analytic upper bound on the per-sample smoothness L (Assumption 2), per kind."""
    kind, params, feats, targets, groups, mats, centers = obj.data
    if kind == K.KIND_QUADRATIC:
        return float(max(np.linalg.eigvalsh(A)[-1] for A in mats))
    if kind == K.KIND_EXPLICIT_QUADRATIC:  # Hess F = A for every sample and every xi
        return float(np.linalg.eigvalsh(mats[0])[-1])
    if kind == K.KIND_COSINE_WELLS:
        return 1.0 + params[0] * params[1] ** 2  # |1 - alpha beta^2 cos| <= 1 + alpha beta^2
    a2 = float(np.max(np.sum(feats**2, axis=1)))
    lam = float(params[0])
    if kind == K.KIND_LEAST_SQUARES:
        return a2 + lam
    if kind == K.KIND_LOGISTIC:
        return a2 / 4 + lam
    if kind == K.KIND_LOGISTIC_NONCVX:
        return a2 / 4 + 2 * lam  # |d^2/dt^2 t^2/(1+t^2)| <= 2
    if kind == K.KIND_ROBUST:
        return 2 * a2 + lam  # |phi''| <= 2 for phi(r) = r^2/(1+r^2)
    raise AssertionError(kind)


def _fabs(obj, batch, x, rad):
    """Upper bound on the absolute-value sum of a batch-loss evaluation at any point within
    ``rad`` (max-norm) of ``x``, and the number of terms ``n`` of that evaluation."""
    kind, params, feats, targets, groups, mats, centers = obj.data
    batch = np.asarray(batch)
    d = x.shape[0]
    X = np.abs(x) + rad
    if kind == K.KIND_QUADRATIC:
        Y = np.abs(x - centers[batch]) + rad
        absA = np.abs(mats[groups[batch]])
        return float(np.mean(0.5 * np.einsum("ni,nij,nj->n", Y, absA, Y))), d * d
    if kind == K.KIND_EXPLICIT_QUADRATIC:  # 1/2 x^T A x - b.x (the oracle noise is added exactly)
        return float(np.mean(0.5 * X @ np.abs(mats[0]) @ X + np.abs(centers[batch]) @ X)), d * d
    if kind == K.KIND_COSINE_WELLS:
        alpha, beta = params[0], params[1]
        per = 0.5 * X**2 + alpha * (1 + beta * X) + np.abs(feats[batch]) * X
        return float(np.mean(np.sum(per, axis=1))), 3 * d
    lam = float(params[0])
    z = np.abs(feats[batch]) @ X + np.abs(targets[batch])
    reg = lam * float(X @ X) + 2 * lam * d
    if kind == K.KIND_LEAST_SQUARES:
        return float(np.mean(0.5 * z**2)) + reg, d
    return float(np.mean(z + 1.0)) + reg, d  # logistic kinds, robust: losses Lipschitz in z


def _coef_tol(obj, batch, x, rad, nu):
    """Rounding bound on a difference coefficient ``(F1 - F0) / nu``: 2 evaluations x gamma Fabs,
    doubled for second-order terms."""
    fabs, n = _fabs(obj, batch, x, rad)
    gamma = (n + len(batch) + 8) * EPS
    return 4.0 * gamma * fabs / nu


# ---------------------------------------------------------------------------------------------
# Exact identities on the quadratic
# ---------------------------------------------------------------------------------------------

points = st.integers(0, 2**16)
dims = st.integers(1, 8)
radii = st.floats(1e-4, 10.0)


@SETTINGS
@given(d=dims, nu=radii, seed=points, pseed=points, b=st.integers(1, 4))
def test_central_difference_equals_directional_on_quadratic(d, nu, seed, pseed, b):
    obj = _objective("quadratic", d)
    x = obj.random_point(pseed)
    batch = obj.shard(1)[:b]
    G, _ = _draw(obj.data, "zo-central", x, batch, nu, seed=seed)
    u = _directions(d, 1, seed)[0]
    gB = obj.batch_grad(batch, x)
    ref = (u @ gB) * u
    tol = (_coef_tol(obj, batch, x, nu * np.abs(u).max(), 2 * nu)
           + 2 * d * EPS * float(np.abs(u) @ np.abs(gB))) * np.abs(u) + 4 * EPS * np.abs(ref)
    assert np.all(np.abs(G - ref) <= tol)
    Gd, _ = _draw(obj.data, "zo-directional", x, batch, nu, seed=seed)
    assert np.all(np.abs(G - Gd) <= 2 * tol)


@SETTINGS
@given(d=dims, nu=radii, seed=points, pseed=points, b=st.integers(1, 4))
def test_forward_minus_directional_is_the_curvature_term(d, nu, seed, pseed, b):
    # F(x + nu u) - F(x) = nu u.g + nu^2/2 u^T A_B u exactly on a quadratic
    obj = _objective("quadratic", d)
    x = obj.random_point(pseed)
    batch = obj.shard(0)[:b]
    Gf, _ = _draw(obj.data, "zo-forward", x, batch, nu, seed=seed)
    Gd, _ = _draw(obj.data, "zo-directional", x, batch, nu, seed=seed)
    u = _directions(d, 1, seed)[0]
    A = np.mean(obj.data[5][obj.data[4][batch]], axis=0)
    curv = 0.5 * nu * (u @ A @ u) * u
    gB = obj.batch_grad(batch, x)
    tol = (_coef_tol(obj, batch, x, nu * np.abs(u).max(), nu)
           + 2 * d * EPS * float(np.abs(u) @ np.abs(gB))) * np.abs(u) + 8 * EPS * np.abs(Gf)
    assert np.all(np.abs((Gf - Gd) - curv) <= tol)


# ---------------------------------------------------------------------------------------------
# Finite-difference limit on every objective
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(name=st.sampled_from(SYNTHETIC), d=dims, seed=points, pseed=points)
def test_forward_difference_tends_to_directional(name, d, seed, pseed):
    # |F(x + nu u) - F(x) - nu u.grad F| <= L nu^2 ||u||^2 / 2, so
    # ||G_fwd - G_dir|| <= (L nu / 2) ||u||^3 (+ rounding): linear in nu, -> 0.
    obj = _objective(name, d)
    x = obj.random_point(pseed)
    batch = obj.shard(0)[:2]
    L = certified_L(obj)
    u = _directions(d, 1, seed)[0]
    nrm = float(np.linalg.norm(u))
    Gd, _ = _draw(obj.data, "zo-directional", x, batch, 1.0, seed=seed)
    for nu in (1e-1, 1e-2, 1e-3):
        Gf, _ = _draw(obj.data, "zo-forward", x, batch, nu, seed=seed)
        rnd = _coef_tol(obj, batch, x, nu * np.abs(u).max(), nu) * nrm + 8 * EPS * (
            np.linalg.norm(Gf) + np.linalg.norm(Gd))
        assert np.linalg.norm(Gf - Gd) <= 0.5 * L * nu * nrm**3 + rnd


# ---------------------------------------------------------------------------------------------
# rv: the rv-direction average is the mean of rv single draws on the same stream
# ---------------------------------------------------------------------------------------------


# sup |phi''| of the GLM data terms phi(z, y) (least squares, logistic kinds, robust r^2/(1+r^2))
PHI2_MAX = {K.KIND_LEAST_SQUARES: 1.0, K.KIND_LOGISTIC: 0.25, K.KIND_LOGISTIC_NONCVX: 0.25,
            K.KIND_ROBUST: 2.0}
GLM_NAMES = tuple(n for n in SYNTHETIC if OBJECTIVES[n].kind in PHI2_MAX)


def _jvp_tol(obj, batch, x, u):
    """Rounding bound on the GLM fast path's directional coefficient
    ``(1/b) sum_j phi'(z_j, y_j) w_j + u.grad R(x)`` (``z_j = a_j.x``, ``w_j = a_j.u``).

    With gamma = (d + b + 8) eps (dot products of length d, a sum of b terms, a few roundings
    in phi'): z_j and w_j are off by at most gamma Z_j and gamma W_j (Z_j = sum_k |a_jk x_k|,
    W_j = sum_k |a_jk u_k|); phi' moves by at most sup|phi''| gamma Z_j plus its own evaluation
    error (<= 8 eps (1 + |z_j| + |y_j|)), and the products and the sum add gamma |phi' w| per
    term. Doubled for second-order terms, as :func:`_coef_tol`.
    """
    kind, params, feats, targets = obj.data[:4]
    A = feats[np.asarray(batch)]
    y = targets[np.asarray(batch)]
    d, b = x.shape[0], A.shape[0]
    gamma = (d + b + 8) * EPS
    z, w = A @ x, A @ u
    Z, W = np.abs(A) @ np.abs(x), np.abs(A) @ np.abs(u)
    phi1 = np.abs(z - y) if kind == K.KIND_LEAST_SQUARES else np.ones(b)  # |phi'| <= 1 else
    phi2 = PHI2_MAX[int(kind)]
    per = ((phi1 + phi2 * gamma * Z) * gamma * W
           + np.abs(w) * (phi2 * gamma * Z + 8 * EPS * (1 + np.abs(z) + np.abs(y)))
           + gamma * phi1 * np.abs(w))
    lam = float(params[0])
    reg = lam * gamma * float((2 * np.abs(x) + 1) @ np.abs(u))
    return 2.0 * (float(np.mean(per)) + reg)


def _route_coef_tol(obj, kind, batch, x, nu, u):
    """Largest difference between two routes' coefficient for direction ``u`` (already
    normalised for the sphere estimator): twice one route's rounding bound (_coef_tol /
    _jvp_tol); numerators are difference quotients, hence the 1/nu."""
    rad = nu * float(np.abs(u).max())
    if kind == "zo-directional":
        return 2 * _jvp_tol(obj, batch, x, u)
    if kind == "zo-central":
        return 2 * _coef_tol(obj, batch, x, rad, 2 * nu)
    scale = x.shape[0] if kind == "zo-sphere" else 1
    return 2 * scale * _coef_tol(obj, batch, x, rad, nu)


@SETTINGS
@given(kind=st.sampled_from(ZO_RANDOM), name=st.sampled_from(SYNTHETIC), d=dims,
       rv=st.integers(2, 6), seed=points)
def test_rv_average_equals_mean_of_single_draws(kind, name, d, rv, seed):
    obj = _objective(name, d)
    x = obj.random_point(seed)
    batch = obj.shard(2)[:3]
    nu = 0.05
    Gr, rng_r = _draw(obj.data, kind, x, batch, nu, rv=rv, seed=seed)
    rng = np.random.default_rng(seed)
    singles = np.empty((rv, d))
    for r in range(rv):
        estimate(obj.data, ESTIMATOR_CODES[kind], 1, nu, np.asarray(batch, dtype=np.int64), x,
                 rng, singles[r], direction_buffer(d), np.empty(d))
    # same directions; only the accumulation order of the average differs ...
    tol = (rv + 4) * EPS * np.sum(np.abs(singles), axis=0) / rv
    if name in GLM_NAMES:
        # ... except on the GLMs, whose fast path evaluates the directions of a block together
        # (estimators._glm_zo): the margins come from other loops and code sites, so each
        # direction's coefficient may round differently in the two routes
        for u in _directions(d, rv, seed, sphere=kind == "zo-sphere"):
            tol = tol + _route_coef_tol(obj, kind, batch, x, nu, u) * np.abs(u) / rv
    assert np.all(np.abs(Gr - singles.mean(axis=0)) <= tol)
    assert rng_r.bit_generator.state == rng.bit_generator.state  # same amount of randomness


@functools.lru_cache(maxsize=64)
def _glm_objective(name, d, lam):
    return make_objective(name, d=d, n0=2, n1=2, seed=1, lam=lam, n_samples=40)


@SETTINGS
@given(kind=st.sampled_from(ZO_RANDOM), name=st.sampled_from(GLM_NAMES), d=st.sampled_from(
    (1, 2, 7)), rv=st.integers(1, 9), b=st.integers(1, 3), lam=st.sampled_from((0.0, 0.3)),
    seed=points)
def test_glm_fast_path_matches_the_definition(kind, name, d, rv, b, lam, seed):
    """Oracle: the GLM block path (estimators._glm_zo) against docs/theory.md's definitions
    (section 3) written out per direction with the generic minibatch loss / JVP kernels, on the
    same directions.
    Tolerance: each direction's coefficient may round differently in the two routes
    (_route_coef_tol), plus the accumulation of the average; the same evaluation count and the
    same amount of randomness are required."""
    obj = _glm_objective(name, d, lam)
    x = 2.0 * obj.random_point(seed)
    batch = np.ascontiguousarray(obj.shard(0)[:b], dtype=np.int64)
    nu = 0.1
    out = np.empty(d)
    rng = kernel_generator(np.random.SeedSequence(seed))
    evals = estimate(obj.data, ESTIMATOR_CODES[kind], rv, nu, batch, x, rng, out,
                     direction_buffer(d), np.empty(d))
    ref_rng = np.random.Generator(np.random.SFC64(np.random.SeedSequence(seed)))
    U = ref_rng.standard_normal((rv, d))
    F = lambda z: K.batch_loss(obj.data, batch, z)  # noqa: E731
    G = np.zeros(d)
    tol = np.zeros(d)
    for u in U:
        if kind == "zo-forward":
            c = (F(x + nu * u) - F(x)) / nu
        elif kind == "zo-central":
            c = (F(x + nu * u) - F(x - nu * u)) / (2 * nu)
        elif kind == "zo-directional":
            c = K.batch_jvp(obj.data, batch, x, u)
        else:
            u = u / np.linalg.norm(u)
            c = d * (F(x + nu * u) - F(x)) / nu
        ct = _route_coef_tol(obj, kind, batch, x, nu, u)
        G += c * u / rv
        tol += (ct + (rv + 4) * EPS * abs(c)) * np.abs(u) / rv
    assert np.all(np.abs(out - G) <= tol)
    expected_evals = {"zo-forward": rv + 1, "zo-sphere": rv + 1, "zo-central": 2 * rv,
                      "zo-directional": rv}[kind]
    assert evals == expected_evals
    assert rng.random() == ref_rng.random()  # both consumed exactly rv * d normals


@pytest.mark.parametrize("kind", DETERMINISTIC)
def test_rv_is_ignored_by_deterministic_estimators(kind):
    obj = _objective("logistic", 4)
    x = obj.random_point(1)
    batch = obj.shard(0)[:2]
    G1, r1 = _draw(obj.data, kind, x, batch, 0.01, rv=1, seed=3)
    G5, r5 = _draw(obj.data, kind, x, batch, 0.01, rv=5, seed=3)
    assert np.array_equal(G1, G5)
    assert r1.bit_generator.state == r5.bit_generator.state == \
        np.random.default_rng(3).bit_generator.state  # no randomness consumed


# ---------------------------------------------------------------------------------------------
# Linearity in F and invariance to adding a constant
# ---------------------------------------------------------------------------------------------


def _with(data, **repl):
    names = ("kind", "params", "feats", "targets", "groups", "mats", "centers")
    return tuple(repl.get(n, v) for n, v in zip(names, data, strict=True))


@SETTINGS
@given(kind=st.sampled_from(tuple(ESTIMATOR_CODES)), d=dims, nu=radii, seed=points,
       k=st.integers(-3, 3))
def test_power_of_two_scaling_is_exact(kind, d, nu, seed, k):
    # Scaling F by 2^k is exact in floating point, so every estimator scales bit for bit.
    s = 2.0**k
    quad = _objective("quadratic", d)
    x = quad.random_point(seed)
    batch = quad.shard(0)[:3]
    G, _ = _draw(quad.data, kind, x, batch, nu, rv=2, seed=seed)
    Gs, _ = _draw(_with(quad.data, mats=quad.data[5] * s), kind, x, batch, nu, rv=2, seed=seed)
    assert np.array_equal(Gs, s * G)
    ls = _objective("least-squares", d)  # lam = 0: (a, y) -> (s a, s y) scales F by s^2
    G, _ = _draw(ls.data, kind, x, batch, nu, rv=2, seed=seed)
    Gs, _ = _draw(_with(ls.data, feats=ls.data[2] * s, targets=ls.data[3] * s), kind, x, batch,
                  nu, rv=2, seed=seed)
    assert np.array_equal(Gs, s * s * G)


@SETTINGS
@given(kind=st.sampled_from(tuple(ESTIMATOR_CODES)), name=st.sampled_from(SYNTHETIC), d=dims,
       seed=points)
def test_estimate_is_additive_over_samples(kind, name, d, seed):
    # F(., {j, k}) = (F(., j) + F(., k)) / 2, so G({j,k}) = (G({j}) + G({k})) / 2, same u.
    obj = _objective(name, d)
    x = obj.random_point(seed)
    j, k = obj.shard(0)[:2]
    nu = 0.1
    Gjk, _ = _draw(obj.data, kind, x, [j, k], nu, seed=seed)
    Gj, _ = _draw(obj.data, kind, x, [j], nu, seed=seed)
    Gk, _ = _draw(obj.data, kind, x, [k], nu, seed=seed)
    scale = d if kind == "zo-sphere" else 1.0
    u = np.abs(_directions(d, 1, seed, sphere=kind == "zo-sphere")[0])
    if kind == "coord-fd":
        u = np.ones(d)
    ctol = _coef_tol(obj, [j, k], x, nu * max(1.0, float(u.max())), nu) * scale
    tol = 3 * ctol * u + 8 * EPS * (np.abs(Gj) + np.abs(Gk))
    if kind in DERIVATIVE:  # gradient / JVP sums: relative rounding only
        tol = 8 * (d * d + 4) * EPS * (np.abs(Gj) + np.abs(Gk) + 1e-300)
        tol = np.maximum(tol, 8 * (d * d + 4) * EPS * np.abs(Gjk))
    assert np.all(np.abs(Gjk - 0.5 * (Gj + Gk)) <= tol)


@SETTINGS
@given(kind=st.sampled_from(tuple(ESTIMATOR_CODES)), d=dims, nu=radii, seed=points,
       t1=st.floats(-10, 10), t2=st.floats(-10, 10))
def test_adding_a_constant_changes_no_estimator(kind, d, nu, seed, t1, t2):
    # Least squares (lam = 0) with one sample c whose features are 0: F(x, c) = y_c^2 / 2 is a
    # constant. Two data sets differing only in y_c give batch losses differing by a constant.
    obj = _objective("least-squares", d)
    assert obj.meta["lam"] == 0.0
    shard = obj.shard(0)
    batch, c = shard[:3], shard[3]
    feats = obj.data[2].copy()
    feats[c] = 0.0
    t_a, t_b = obj.data[3].copy(), obj.data[3].copy()
    t_a[c], t_b[c] = t1, t2
    data_a, data_b = _with(obj.data, feats=feats, targets=t_a), _with(obj.data, feats=feats,
                                                                      targets=t_b)
    full = np.append(batch, c)
    x = obj.random_point(seed)
    Ga, _ = _draw(data_a, kind, x, full, nu, rv=2, seed=seed)
    Gb, _ = _draw(data_b, kind, x, full, nu, rv=2, seed=seed)
    if kind in DERIVATIVE:  # the constant sample contributes exactly 0
        assert np.array_equal(Ga, Gb)
        return
    U = np.abs(_directions(d, 2, seed, sphere=kind == "zo-sphere"))
    u = U.max(axis=0) if kind != "coord-fd" else np.ones(d)
    scale = d if kind == "zo-sphere" else 1.0
    const = 0.5 * max(t1 * t1, t2 * t2) / len(full)
    fabs, n = _fabs(obj, batch, x, nu * float(u.max()))
    ctol = 4.0 * (n + len(full) + 8) * EPS * (fabs + const) / nu * scale
    tol = 2 * ctol * u + 8 * EPS * (np.abs(Ga) + np.abs(Gb))
    assert np.all(np.abs(Ga - Gb) <= tol)


# ---------------------------------------------------------------------------------------------
# Numba: one compilation per signature; Python wrappers and validation
# ---------------------------------------------------------------------------------------------


def test_estimate_compiles_once_for_every_kind():
    # Every objective kind has the same Numba type, so one signature serves them all.
    x = np.zeros(3)
    _draw(_objective("quadratic", 3).data, "zo-forward", x, [0], 0.1)
    n_sig = len(estimate.signatures)
    for name in SYNTHETIC:
        for kind in ESTIMATOR_CODES:
            _draw(_objective(name, 3).data, kind, x, [0, 1], 0.1, rv=2)
    assert len(estimate.signatures) == n_sig


def test_estimate_once_matches_kernel_and_validates():
    obj = _objective("logistic", 4)
    x = obj.random_point(0)
    spec = EstimatorSpec("zo-central", 3, 0.01, 2)
    batch = obj.shard(0)[:2]
    G = estimate_once(obj, spec, 0, x, np.random.default_rng(4), batch=batch)
    ref, _ = _draw(obj.data, "zo-central", x, batch, 0.01, rv=3, seed=4)
    assert np.array_equal(G, ref)
    with pytest.raises(HDOInputError):
        estimate_once(obj, EstimatorSpec("fo", 1, 0.1, 999), 0, x, np.random.default_rng(0))
    for bad in (dict(kind="nope"), dict(rv=0), dict(nu=-1.0), dict(nu=math.nan), dict(batch=0),
                dict(nu="sometimes")):
        with pytest.raises(HDOInputError):
            EstimatorSpec(**bad)
    assert resolve_nu("theorem", 16, eta=0.4) == pytest.approx(0.1)
    with pytest.raises(HDOInputError):
        resolve_nu("theorem", 16)
