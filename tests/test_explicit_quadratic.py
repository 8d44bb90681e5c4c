"""The explicit quadratic ``F^i(x, xi) = 1/2 x^T A x - B_i.x + xi.x`` and its additive-noise
oracle (hdo_theory.objectives.explicit).

Exact tests compare two routes to the same number and allow only floating-point rounding,
bounded from the operation count (``gamma_n = n eps`` times the sum of absolute values, Higham).
Statistical tests use the exact distribution of the noise: ``xi ~ N(0, noise^2 I_d)``, so the
FO estimate minus the gradient is exactly Gaussian and the test statistics below are exactly
chi-square; each has a stated false-failure probability ``ALPHA`` (two-sided).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hdo_theory.errors import HDOInputError
from hdo_theory.estimators import EstimatorSpec, direction_buffer, estimate, estimate_once
from hdo_theory.estimators.monte_carlo import estimator_stats
from hdo_theory.objectives import (
    OBJECTIVES,
    ExplicitQuadratic,
    explicit_quadratic,
    explicit_quadratic_parts,
    make_objective,
)
from hdo_theory.objectives import kernels as K
from hdo_theory.objectives.constants import heterogeneity_at, node_gradient_variance
from hdo_theory.process import PopulationConfig, ProcessConfig, check_config, simulate
from hdo_theory.rng import kernel_generator

EPS = float(np.finfo(float).eps)
#: False-failure probability of each statistical test in this file.
ALPHA = 1e-6
NOT_DIVERGED = -1  # Results.diverged_at of a replica that never diverged
ESTIMATORS = ("fo", "zo-forward", "zo-central", "zo-directional", "zo-sphere", "coord-fd")


def _problem(d=4, n=5, seed=0, cond=8.0):
    """A non-diagonal SPD ``A`` with eigenvalues in [1/cond, 1] and a generic ``B``."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = (Q * np.geomspace(1.0, 1.0 / cond, d)) @ Q.T
    A = 0.5 * (A + A.T)
    B = rng.standard_normal((n, d))
    return A, B


def _grad_tol(A, B_i, x):
    """Rounding bound on ``A x - b`` (a ``d``-term dot product): ``(d + 2) eps (|A||x| + |b|)``."""
    d = x.shape[0]
    return (d + 2) * EPS * (np.abs(A) @ np.abs(x) + np.abs(B_i))


def _loss_abs(A, b, x, rad):
    """Sum of absolute values of the terms of ``1/2 x^T A x - b.x`` anywhere within max-norm
    ``rad`` of ``x``; a loss evaluation is off by at most ``(d^2 + d) eps`` times this."""
    X = np.abs(x) + rad
    return float(0.5 * X @ np.abs(A) @ X + np.abs(b) @ X)


def _draw(obj, kind, node, x, nu, rv, seed):
    """One kernel draw with a generator from ``seed``; and the normals of the same stream."""
    d = obj.d
    out = np.empty(d)
    rng = kernel_generator(np.random.SeedSequence(seed))
    estimate(obj.data, EstimatorSpec(kind).code, rv, nu, np.array([node], dtype=np.int64), x,
             rng, out, direction_buffer(d), np.empty(d))
    normals = kernel_generator(np.random.SeedSequence(seed)).standard_normal((1 + rv, d))
    return out, normals


# ---------------------------------------------------------------------------------------------
# Objective and exact constants
# ---------------------------------------------------------------------------------------------


def test_values_and_gradients_against_numpy():
    A, B = _problem()
    obj = explicit_quadratic(A, B, n0=2, noise=0.3)
    x = np.random.default_rng(5).standard_normal(obj.d)
    Bbar = B.mean(axis=0)
    for i in range(obj.n):
        assert obj.shard(i).tolist() == [i]
        ref = 0.5 * x @ A @ x - B[i] @ x
        assert abs(obj.node_value(i, x) - ref) <= 4 * obj.d**2 * EPS * _loss_abs(A, B[i], x, 0)
        assert np.all(np.abs(obj.node_grad(i, x) - (A @ x - B[i])) <= 2 * _grad_tol(A, B[i], x))
        assert abs(obj.node_jvp(i, x, x) - x @ (A @ x - B[i])) <= (
            4 * obj.d**2 * EPS * _loss_abs(A, B[i], x, 0))
    assert abs(obj.value(x) - (0.5 * x @ A @ x - Bbar @ x)) <= (
        8 * obj.n * obj.d**2 * EPS * max(_loss_abs(A, b, x, 0) for b in B))
    gtol = 2 * obj.n * _grad_tol(A, np.abs(B).max(0), x)
    assert np.all(np.abs(obj.grad(x) - (A @ x - Bbar)) <= gtol)
    assert (obj.n0, obj.n1, obj.n, obj.convex) == (2, 3, 5, True)
    parts = explicit_quadratic_parts(obj)
    assert isinstance(parts, ExplicitQuadratic)
    assert np.array_equal(parts.A, A) and np.array_equal(parts.B, B)
    assert (parts.n0, parts.noise, parts.n, parts.d) == (2, 0.3, 5, 4)


def test_constants_against_direct_numpy():
    A, B = _problem(d=5, n=6, seed=1)
    noise = 0.7
    obj = explicit_quadratic(A, B, n0=2, noise=noise)
    c = obj.constants
    eig = np.linalg.eigvalsh(A)
    scale = float(eig[-1])
    assert abs(c.L - eig[-1]) <= 10 * obj.d * EPS * scale
    assert abs(c.ell - eig[0]) <= 10 * obj.d * EPS * scale
    Bbar = B.mean(axis=0)
    x_star = np.linalg.solve(A, Bbar)
    kappa = eig[-1] / eig[0]
    assert np.linalg.norm(c.x_star - x_star) <= 10 * obj.d * kappa * EPS * np.linalg.norm(x_star)
    f_star = 0.5 * x_star @ A @ x_star - Bbar @ x_star
    assert abs(c.f_star - f_star) <= 10 * obj.d * kappa * EPS * (abs(f_star) + 1.0)
    assert np.linalg.norm(obj.grad(c.x_star)) <= 10 * obj.d * EPS * scale * (
        np.linalg.norm(x_star) + 1.0)
    dev = np.sum((B - Bbar) ** 2, axis=1)
    assert c.varsigma0_sq == pytest.approx(dev[:2].mean(), rel=10 * EPS)
    assert c.varsigma1_sq == pytest.approx(dev[2:].mean(), rel=10 * EPS)
    assert c.varsigma_exact and c.radius is None
    s2 = obj.d * noise**2
    assert np.array_equal(c.s_sq(1), np.full(obj.n, s2))
    assert c.sigma_sq(1) == (s2, s2)
    info = c.as_dict(batch=1)
    assert info["oracle_var"] == s2 and info["s_sq"] == [s2] * obj.n


def test_heterogeneity_and_variance_are_constant_in_x():
    # two routes: the closed forms of the constants and the pointwise quantities at random x
    A, B = _problem(d=3, n=4, seed=2)
    obj = explicit_quadratic(A, B, n0=1, noise=0.25)
    c = obj.constants
    for s in range(3):
        x = 10.0 * np.random.default_rng(s).standard_normal(obj.d)
        h0, h1 = heterogeneity_at(obj, x)
        tol = 100 * obj.n * obj.d * EPS * (np.abs(A).max() * np.abs(x).max() + np.abs(B).max())**2
        assert abs(h0 - c.varsigma0_sq) <= tol and abs(h1 - c.varsigma1_sq) <= tol
        for i in range(obj.n):
            assert node_gradient_variance(obj, i, x, 1) == obj.d * 0.25**2


def test_noise_free_and_no_zo_nodes():
    A, B = _problem(d=2, n=3, seed=3)
    c = explicit_quadratic(A, B, n0=0).constants
    assert c.varsigma0_sq == 0.0 and np.all(c.s_sq(1) == 0.0)
    c = explicit_quadratic(A, B, n0=3).constants
    assert c.varsigma1_sq == 0.0


def test_table_row_generator():
    row = OBJECTIVES["explicit-quadratic"]
    assert row.kind == K.KIND_EXPLICIT_QUADRATIC and row.one_sample_per_node and row.convex
    obj = make_objective("explicit-quadratic", d=6, n0=2, n1=3, seed=4, condition=20.0,
                         noise=0.1, heterogeneity=0.0)
    assert (obj.n, obj.n_samples, obj.n0) == (5, 5, 2)
    A, B = explicit_quadratic_parts(obj).A, explicit_quadratic_parts(obj).B
    eig = np.linalg.eigvalsh(A)
    assert np.allclose(eig, np.geomspace(1.0 / 20.0, 1.0, 6), rtol=0, atol=100 * EPS)
    # heterogeneity 0: every node has the same centre c_0, so B_i = A c_0 for all i
    assert np.all(B == B[0]) and obj.constants.varsigma0_sq == 0.0
    assert obj.constants.s_sq(1)[0] == pytest.approx(6 * 0.1**2, rel=EPS)
    # centres c_i = A^{-1} B_i spread by heterogeneity; same seed, same objective
    o1 = make_objective("explicit-quadratic", d=6, n0=2, n1=3, seed=4, heterogeneity=1.0)
    o2 = make_objective("explicit-quadratic", d=6, n0=2, n1=3, seed=4, heterogeneity=1.0)
    assert np.array_equal(o1.data[6], o2.data[6]) and o1.constants.varsigma0_sq > 0.0
    assert o1.meta["heterogeneity"] == 1.0 and o1.meta["noise"] == row.noise


# ---------------------------------------------------------------------------------------------
# Estimates: exact per-draw identities (the noise is the first d normals of the call's stream)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("noise", [0.0, 0.8])
@pytest.mark.parametrize("kind", ESTIMATORS)
def test_each_draw_equals_its_closed_form(kind, noise):
    """With ``g = A x - B_i`` and ``xi = noise z_0`` (``z_0`` the call's first ``d`` normals,
    drawn only when ``noise > 0``) and directions ``u_r`` the following normals: FO and
    coord-fd give ``g + xi``; central and directional ``(1/rv) sum u_r u_r^T (g + xi)``;
    forward adds ``(nu/2) (u_r^T A u_r) u_r``; sphere ``d v v^T (g + xi) + (d nu/2)(v^T A v) v``
    with ``v = u/||u||``. Rounding: the two loss evaluations of a difference, divided by ``nu``."""
    A, B = _problem(d=4, n=3, seed=6)
    obj = explicit_quadratic(A, B, n0=1, noise=noise)
    node, nu, rv, d = 1, 0.05, 3, obj.d
    x = np.random.default_rng(7).standard_normal(d)
    g = A @ x - B[node]
    G, normals = _draw(obj, kind, node, x, nu, rv, seed=11)
    xi = noise * normals[0] if noise > 0 else np.zeros(d)
    U = normals[1:] if noise > 0 else normals[:rv]
    # rounding of g (kernel and reference alike): a d-term dot product
    gtol = (d + 2) * EPS * (np.abs(A) @ np.abs(x) + np.abs(B[node]))
    if kind in ("fo", "coord-fd"):
        ref = g + xi
        tol = 2 * gtol + 4 * EPS * (np.abs(g) + np.abs(xi))
        if kind == "coord-fd":  # two loss evaluations per coordinate, divided by 2 nu
            tol = tol + 2 * (d * d + d + 8) * EPS * _loss_abs(A, B[node], x, nu) / nu
    else:
        sphere = kind == "zo-sphere"
        V = U / np.linalg.norm(U, axis=1, keepdims=True) if sphere else U
        factor = d if sphere else 1.0
        curv = 0.5 * nu * np.einsum("ri,ij,rj->r", V, A, V)
        curv = curv if kind in ("zo-forward", "zo-sphere") else 0.0 * curv
        ref = ((factor * (V @ (g + xi) + curv))[:, None] * V).mean(axis=0)
        absV = np.abs(V)
        vmax = float(absV.max())
        # a difference coefficient: two evaluations within nu max|u| of x, each off by at most
        # (d^2 + d) eps times the absolute sum (doubled for safety), divided by nu; xi.u is a
        # d-term dot product; the direction normalisation (sphere) is off by (d + 2) eps
        coef_tol = (4 * (d * d + d + 8) * EPS * _loss_abs(A, B[node], x, nu * vmax) / nu
                    + (d + 2) * EPS * (absV @ np.abs(xi)))
        abs_coef = factor * (absV @ (np.abs(g) + np.abs(xi) + gtol) + np.abs(curv))
        tol = ((factor * coef_tol + 2 * factor * (absV @ gtol))[:, None] * absV).mean(axis=0) \
            + (4 * d + 16) * EPS * (abs_coef[:, None] * absV).mean(axis=0)
    assert np.all(np.abs(G - ref) <= tol), (kind, np.abs(G - ref).max(), tol)


def test_fo_noise_free_is_the_exact_gradient():
    A, B = _problem(d=5, n=2, seed=8)
    obj = explicit_quadratic(A, B, n0=0)
    x = np.random.default_rng(9).standard_normal(obj.d)
    rng = kernel_generator(np.random.SeedSequence(1))
    for i in range(obj.n):
        G = estimate_once(obj, EstimatorSpec("fo"), i, x, rng, batch=[i])
        assert np.all(np.abs(G - (A @ x - B[i])) <= 2 * _grad_tol(A, B[i], x))
    # noise = 0: nothing drawn, the generator is where a fresh one starts
    assert rng.random() == kernel_generator(np.random.SeedSequence(1)).random()


def test_one_noise_draw_shared_by_all_directions():
    # central differences of F(., xi) along rv directions, with one xi for all of them: the
    # estimate minus its noise-free twin (same directions) is (1/rv) sum_r u_r u_r^T xi
    A, B = _problem(d=3, n=2, seed=10)
    noisy = explicit_quadratic(A, B, n0=2, noise=1.5)
    x = np.ones(3)
    rv, nu = 5, 0.1
    G, normals = _draw(noisy, "zo-central", 0, x, nu, rv, seed=12)
    xi, U = 1.5 * normals[0], normals[1:]
    clean = np.empty(3)
    rng = kernel_generator(np.random.SeedSequence(12))
    rng.standard_normal(3)  # skip the noise draw, so the directions are the same
    estimate(explicit_quadratic(A, B, n0=2).data, EstimatorSpec("zo-central").code, rv, nu,
             np.array([0]), x, rng, clean, direction_buffer(3), np.empty(3))
    ref = (U * (U @ xi)[:, None]).mean(axis=0)
    # both runs compute the same noise-free coefficient bit for bit; the noisy one adds the
    # d-term dot product xi.u_r to it: per direction at most (d + 2) eps (|coef_r| + |xi|.|u_r|)
    # with |coef_r| <= |u_r|.|g| + rounding, then the rv-term average (doubled for safety)
    g = A @ x - B[0]
    absU = np.abs(U)
    n_ops = noisy.d + rv + 2
    tol = 4 * n_ops * EPS * ((absU @ (np.abs(g) + np.abs(xi)))[:, None] * absU).mean(axis=0)
    assert np.all(np.abs((G - clean) - ref) <= tol)


# ---------------------------------------------------------------------------------------------
# Estimates: distribution over the noise (exact chi-square tests)
# ---------------------------------------------------------------------------------------------


def _fo_draws(obj, node, x, n_draws, seed):
    d = obj.d
    rng = kernel_generator(np.random.SeedSequence(seed))
    out = np.empty((n_draws, d))
    U, xt, batch = direction_buffer(d), np.empty(d), np.array([node], dtype=np.int64)
    for k in range(n_draws):
        estimate(obj.data, 0, 1, 1.0, batch, x, rng, out[k], U, xt)
    return out


def test_fo_mean_and_variance_over_the_noise():
    """FO: ``G - g = xi ~ N(0, noise^2 I_d)`` exactly. With ``N`` draws,
    ``N ||mean(G) - g||^2 / noise^2 ~ chi2(d)`` (unbiased) and
    ``sum ||G - g||^2 / noise^2 ~ chi2(N d)`` (``E||G - g||^2 = d noise^2 = s_i^2``); both
    are accepted inside their two-sided ``1 - ALPHA`` quantile range."""
    A, B = _problem(d=4, n=3, seed=13)
    noise = 0.6
    obj = explicit_quadratic(A, B, n0=1, noise=noise)
    x = np.random.default_rng(14).standard_normal(obj.d)
    g = A @ x - B[2]
    N, d = 20_000, obj.d
    dev = _fo_draws(obj, 2, x, N, seed=15) - g
    mean_stat = N * float(dev.mean(axis=0) @ dev.mean(axis=0)) / noise**2
    var_stat = float(np.sum(dev**2)) / noise**2
    for stat, dof in ((mean_stat, d), (var_stat, N * d)):
        lo, hi = stats.chi2.ppf([ALPHA / 2, 1 - ALPHA / 2], dof)
        assert lo <= stat <= hi, (stat, dof, lo, hi)
    assert obj.constants.s_sq(1)[2] == d * noise**2


def test_estimator_stats_exact_moments_with_noise():
    # fo and zo-directional have closed-form moments on every objective once s_i^2 includes
    # the oracle noise: E||G||^2 = ||g||^2 + d noise^2 (fo), (d+2)(||g||^2 + d noise^2) (dir);
    # the CLT intervals are taken at level 1 - ALPHA.
    A, B = _problem(d=3, n=2, seed=16)
    noise = 0.5
    obj = explicit_quadratic(A, B, n0=1, noise=noise)
    x = np.array([0.3, -1.0, 2.0])
    g = A @ x - B[0]
    eg2 = g @ g + 3 * noise**2
    for kind, second in (("fo", eg2), ("zo-directional", 5 * eg2)):
        r = estimator_stats(obj, 0, x, EstimatorSpec(kind), draws=40_000, seed=3,
                            level=1 - ALPHA, progress=False)
        assert r["point"]["s_sq"] == 3 * noise**2
        # two routes to ||g||^2 (d-term dot products): relative rounding <= 8 (d + 2) eps
        # times (|A||x| + |b|)^2 / ||g||^2 (at most 4 at this x: no cancellation)
        assert r["second_moment"]["exact"] == pytest.approx(second, rel=32 * 5 * EPS)
        assert r["second_moment"]["exact_in_ci"], r["second_moment"]
        assert r["bias"]["exact"] == 0.0 and r["bias"]["ci"][0] == 0.0


# ---------------------------------------------------------------------------------------------
# The process
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["pairwise", "matching", "graph"])
def test_simulate_runs_with_zo_nodes(model):
    A, B = _problem(d=3, n=6, seed=17)
    obj = explicit_quadratic(A, B, n0=3, noise=0.2)
    cfg = ProcessConfig(model=model, topology="ring", T=300, record_lemma2=True,
                        zo=PopulationConfig(EstimatorSpec("zo-central", nu=1e-2), lr=0.05),
                        fo=PopulationConfig(EstimatorSpec("fo"), lr=0.05))
    check_config(obj, cfg)
    r = simulate(obj, cfg, replicas=2, seed=1)
    assert np.all(r.diverged_at == NOT_DIVERGED)
    for name in ("gap", "dist_sq", "gamma", "mg", "zo_loss", "fo_loss"):
        assert np.all(np.isfinite(r.metrics[name])), name
    # sums of squares: non-negative in floating point too
    assert np.all(r.metrics["dist_sq"] >= 0.0) and np.all(r.metrics["gamma"] >= 0.0)
    assert r.constants["s_sq"] == [3 * 0.2**2] * 6
    # the run contracts towards x*: the final distance is below the start's
    assert np.all(r.metrics["dist_sq"][:, -1] < r.metrics["dist_sq"][:, 0])


def test_two_fo_nodes_noise_free_follow_gradient_descent():
    """n = 2, both FO, noise 0, equal starts, pairwise: every interaction is the pair (0, 1),
    both nodes stay equal, so mu_{t+1} = mu_t - eta (A mu_t - Bbar): gradient descent on the
    averaged quadratic. Rounding: each step adds at most (d + 4) eps (|A||mu| + |Bbar|) eta +
    2 eps |mu| per coordinate, and GD with eta < 2/L does not amplify it (||I - eta A|| < 1),
    so after T steps the difference is at most T times that."""
    A, B = _problem(d=4, n=2, seed=18)
    obj = explicit_quadratic(A, B, n0=0)
    eta, T = 0.3, 200
    x0 = np.random.default_rng(19).standard_normal(4)
    cfg = ProcessConfig(T=T, x0=tuple(x0), record=1, record_nodes=False,
                        fo=PopulationConfig(EstimatorSpec("fo"), lr=eta))
    r = simulate(obj, cfg, replicas=1, seed=2, keep_state=True)
    Bbar = B.mean(axis=0)
    mu = x0.copy()
    gaps = [obj.value(mu)]
    per_step = 0.0
    for _ in range(T):
        per_step = max(per_step, float(np.max((4 + 4) * EPS * (
            eta * (np.abs(A) @ np.abs(mu) + np.abs(Bbar)) + np.abs(mu)))))
        mu = mu - eta * (A @ mu - Bbar)
        gaps.append(obj.value(mu))
    X = r.state["X"][0]
    assert np.max(np.abs(X - mu[None, :])) <= T * per_step
    f_star = obj.constants.f_star
    tol_gap = 100 * obj.d**2 * EPS * _loss_abs(A, Bbar, x0, 0) + T * per_step * (
        np.linalg.norm(A, 2) * np.abs(x0).sum() + np.abs(Bbar).sum())
    assert np.all(np.abs(r.metrics["gap"][0] - (np.array(gaps) - f_star)) <= tol_gap)


def test_batch_must_be_one():
    A, B = _problem(d=2, n=3)
    obj = explicit_quadratic(A, B, n0=1)
    for cfg in (ProcessConfig(fo=PopulationConfig(EstimatorSpec("fo", batch=2))),
                ProcessConfig(zo=PopulationConfig(EstimatorSpec("zo-forward", batch=3)))):
        with pytest.raises(HDOInputError, match=r"_batch must be <= .* shard size 1"):
            check_config(obj, cfg)
        with pytest.raises(HDOInputError, match=r"_batch must be <= .* shard size 1"):
            simulate(obj, cfg)
    with pytest.raises(HDOInputError, match="batch must be"):
        estimate_once(obj, EstimatorSpec("fo", batch=2), 0, np.zeros(2),
                      np.random.default_rng(0))
    with pytest.raises(HDOInputError, match="batch must be"):
        estimator_stats(obj, 0, np.zeros(2), EstimatorSpec("fo", batch=2), draws=16, seed=0)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

_A, _B = _problem(d=3, n=4)


@pytest.mark.parametrize("args, match", [
    ((np.ones((2, 3)), _B, 1), r"^A must be a square \(d, d\) matrix"),
    ((np.ones(3), _B, 1), r"^A must be a square"),
    ((np.array([[1.0, 0.5], [0.0, 1.0]]), np.ones((2, 2)), 1), r"^A must be symmetric"),
    ((-_A, _B, 1), r"^A must be positive definite"),
    ((np.diag([1.0, 0.0, 1.0]), _B, 1), r"^A must be positive definite"),
    ((np.diag([1.0, np.nan, 1.0]), _B, 1), r"^A must be finite"),
    ((np.diag([1.0, np.inf, 1.0]), _B, 1), r"^A must be finite"),
    (("abc", _B, 1), r"^A must be"),
    ((_A, np.ones((4, 2)), 1), r"^B must have shape \(n, 3\)"),
    ((_A, np.ones(3), 1), r"^B must have shape"),
    ((_A, np.ones((1, 3)), 1), r"^B must have shape \(n, 3\) with 2 <= n"),
    ((_A, np.full((4, 3), np.nan), 1), r"^B must be finite"),
    ((_A, _B, -1), r"^n0 must be an integer in \[0, 4\]"),
    ((_A, _B, 5), r"^n0 must be an integer in \[0, 4\]"),
    ((_A, _B, 1.5), r"^n0 must be an integer"),
    ((_A, _B, 1, -0.1), r"^noise must be"),
    ((_A, _B, 1, float("nan")), r"^noise must be a finite number"),
    ((_A, _B, 1, float("inf")), r"^noise must be a finite number"),
])
def test_bad_input_is_one_line(args, match):
    with pytest.raises(HDOInputError, match=match) as exc:
        explicit_quadratic(*args)
    assert "\n" not in str(exc.value)


def test_symmetry_tolerance_is_relative():
    from hdo_theory.objectives.explicit import EXPLICIT_QUADRATIC_SYMMETRY_RTOL as rtol

    A = np.array([[2.0, 1.0], [1.0, 2.0]])
    ok = A.copy()
    ok[0, 1] += 0.5 * rtol * 2.0  # within rtol max|A|: accepted and symmetrised
    obj = explicit_quadratic(ok, np.ones((2, 2)), 0)
    Asym = explicit_quadratic_parts(obj).A
    assert np.array_equal(Asym, Asym.T)
    bad = A.copy()
    bad[0, 1] += 3.0 * rtol * 2.0
    with pytest.raises(HDOInputError, match="A must be symmetric"):
        explicit_quadratic(bad, np.ones((2, 2)), 0)


def test_parts_of_another_objective_is_an_error():
    with pytest.raises(HDOInputError, match="objective must be an explicit quadratic"):
        explicit_quadratic_parts(make_objective("quadratic", d=2, n0=1, n1=1))


def test_constants_function_math():
    # the documented f* = -1/2 Bbar . x* equals f(x*) (two routes)
    A, B = _problem(d=3, n=3, seed=20)
    obj = explicit_quadratic(A, B, n0=1)
    c = obj.constants
    # both are sums of at most d^2 + n + 4 rounded terms bounded by the absolute-value sum
    Bbar = B.mean(axis=0)
    tol = 4 * (obj.d**2 + obj.n + 4) * EPS * _loss_abs(A, Bbar, c.x_star, 0)
    assert abs(c.f_star - obj.value(c.x_star)) <= tol


def test_command_line_builds_it_from_the_table_row(tmp_path, capsys):
    import json

    from hdo_theory.cli import main

    out = tmp_path / "run.npz"
    assert main(["run", "--objective", "explicit-quadratic", "--d", "3", "--n0", "2", "--n1",
                 "2", "--heterogeneity", "0.5", "--noise", "0.2", "--T", "200", "--replicas",
                 "2", "--no-progress", "--json", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert out.exists() and isinstance(summary, dict)
    # a minibatch of 2 is refused in one line (exit status 2, no traceback)
    assert main(["run", "--objective", "explicit-quadratic", "--d", "3", "--fo-batch", "2",
                 "--T", "5", "--no-progress", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "fo_batch must be <=" in err and "Traceback" not in err
