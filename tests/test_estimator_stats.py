"""Closed forms of docs/theory.md section 3 reproduced by Monte Carlo, and estimator_stats itself.

Statistical tolerances are derived, not tuned. Unless a test says otherwise a check is a
two-sided CLT interval at level ``1 - ALPHA`` with ``ALPHA = 1e-5`` around the Monte Carlo mean
(standard error from the draws); each check then fails falsely with probability about 1e-5
(CLT approximation), and the whole file runs fewer than 200 such checks: family-wise
false-failure probability < 2e-3. All seeds are fixed, so a given version is deterministic.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from hdo_theory.errors import HDOInputError
from hdo_theory.estimators import ESTIMATOR_NAMES, ESTIMATORS, EstimatorSpec
from hdo_theory.estimators import closed_forms as cf
from hdo_theory.estimators.monte_carlo import (
    ball_radius_factor,
    estimator_stats,
    smoothed_value_gap,
    smoothing_bias,
)
from hdo_theory.objectives import make_objective
from hdo_theory.objectives.constants import node_gradient_variance

ALPHA = 1e-5
LEVEL = 1.0 - ALPHA
Z = float(sps.norm.ppf(1.0 - ALPHA / 2.0))  # ~ 4.42


def _quad(d=6, n0=2, n1=2, seed=0, **kw):
    return make_objective("quadratic", d=d, n0=n0, n1=n1, seed=seed, **kw)


def _clt_check(samples, exact):
    """|mean - exact| <= Z * sd / sqrt(N): false-failure probability ALPHA (CLT)."""
    samples = np.asarray(samples, dtype=np.float64)
    n = samples.shape[0]
    half = Z * samples.std(ddof=1) / math.sqrt(n)
    assert abs(samples.mean() - exact) <= half, (samples.mean(), exact, half)


# ---------------------------------------------------------------------------------------------
# Gaussian / sphere moments and the conditional formulas, by plain NumPy Monte Carlo
# ---------------------------------------------------------------------------------------------


def test_gaussian_norm_moments_exact_variance():
    # Var ||u||^2 = 2d and E||u||^8 = d(d+2)(d+4)(d+6) are known, so the tolerance uses the
    # exact standard deviation: false-failure probability ALPHA per check (CLT).
    d, n = 7, 200_000
    u = np.random.default_rng(1).standard_normal((n, d))
    q = np.sum(u * u, axis=1)
    assert abs(q.mean() - cf.gaussian_norm_sq_mean(d)) <= Z * math.sqrt(2 * d / n)
    m4 = cf.gaussian_norm_fourth_mean(d)
    var4 = d * (d + 2) * (d + 4) * (d + 6) - m4**2
    assert abs((q * q).mean() - m4) <= Z * math.sqrt(var4 / n)


def _sym(rng, d):
    B = rng.standard_normal((d, d))
    return 0.5 * (B + B.T)


def test_conditional_formulas_by_numpy_monte_carlo():
    rng = np.random.default_rng(2)
    d, n, nu = 5, 200_000, 0.7
    A, g = _sym(rng, d), rng.standard_normal(d)
    beta = cf.hessian_beta(A)
    u = rng.standard_normal((n, d))
    ug = u @ g
    uAu = np.einsum("ni,ij,nj->n", u, A, u)
    _clt_check(uAu**2, beta)  # E (u^T A u)^2 = beta(A)
    # directional (u.g) u and forward difference [(u.g) + nu/2 u^T A u] u
    uu = np.sum(u * u, axis=1)
    _clt_check(ug**2 * uu, cf.directional_second_moment(g @ g, d))
    fwd = (ug + 0.5 * nu * uAu) ** 2 * uu
    _clt_check(fwd, cf.forward_second_moment(g @ g, beta, nu, d))
    # forward mean = g, coordinate-wise
    G = (ug + 0.5 * nu * uAu)[:, None] * u
    for k in range(d):
        _clt_check(G[:, k], cf.directional_mean(g)[k])
    # sphere: v = u / ||u||
    v = u / np.sqrt(uu)[:, None]
    vg = v @ g
    vAv = np.einsum("ni,ij,nj->n", v, A, v)
    _clt_check(vAv**2, cf.sphere_quadratic_form_sq_mean(beta, d))
    _clt_check(d * d * vg**2, cf.sphere_linear_second_moment(g @ g, d))
    sph = (d * (vg + 0.5 * nu * vAv)) ** 2
    _clt_check(sph, cf.sphere_second_moment(g @ g, beta, nu, d))
    # central difference on a quadratic is exactly (u.g) u
    F = lambda y: 0.5 * y @ A @ y + g @ y  # grad F(0) = g
    for t in range(5):
        c = (F(nu * u[t]) - F(-nu * u[t])) / (2 * nu) * u[t]
        np.testing.assert_allclose(c, cf.central_difference_quadratic(u[t], g),
                                   rtol=1e-12, atol=1e-12 * np.abs(u[t]).max())


def test_averaged_formulas_algebra():
    # E||mean of rv||^2 = |m|^2 + (C - |m|^2)/rv, i.e. the variance divides by rv
    m2, C = 3.0, 11.0
    for rv in (1, 2, 7):
        assert cf.averaged_second_moment(m2, C, rv) - m2 == pytest.approx(
            cf.averaged_variance(C - m2, rv), rel=1e-15)


# ---------------------------------------------------------------------------------------------
# Minibatch expectations: finite-population formulas against exhaustive enumeration
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("b", [1, 2, 3])
def test_batch_expectations_by_enumeration(b):
    obj = _quad(d=4, n0=2, n1=2, n_samples=16)  # shards of 8: all C(8, b) subsets enumerated
    node = 1
    shard = obj.shard(node)
    x = obj.random_point(3)
    mats, groups = obj.data[5], obj.data[4]
    betas, gnorms = [], []
    for sub in itertools.combinations(shard, b):
        A = np.mean(mats[groups[list(sub)]], axis=0)
        betas.append(cf.hessian_beta(A))
        gb = obj.batch_grad(np.array(sub), x)
        gnorms.append(gb @ gb)
    g = obj.node_grad(node, x)
    np.testing.assert_allclose(cf.quadratic_batch_beta_mean(obj, node, b), np.mean(betas),
                               rtol=1e-12)
    np.testing.assert_allclose(g @ g + node_gradient_variance(obj, node, x, b), np.mean(gnorms),
                               rtol=1e-12)


def test_full_batch_has_no_sampling_noise():
    obj = _quad(d=4)
    node = 0
    m = obj.shard_size(node)
    mats, groups = obj.data[5], obj.data[4]
    A_bar = np.mean(mats[groups[obj.shard(node)]], axis=0)
    assert cf.quadratic_batch_beta_mean(obj, node, m) == pytest.approx(cf.hessian_beta(A_bar),
                                                                      rel=1e-13)
    assert cf.finite_population_factor(m, m) == 0.0
    assert cf.finite_population_factor(5, 1) == pytest.approx(1.0)  # with replacement for b=1


# ---------------------------------------------------------------------------------------------
# estimator_stats against the unconditional closed forms on the quadratic
# ---------------------------------------------------------------------------------------------

_CASES = [
    (kind, rv, b)
    for kind in ESTIMATOR_NAMES
    for rv in ((1, 3) if ESTIMATORS[kind].random_directions else (1,))
    for b in (1, 5, 16)
]


@pytest.fixture(scope="module")
def quad6():
    obj = _quad(d=6)  # 2 + 2 nodes, shards of 16
    assert obj.shard_size(0) == 16
    return obj, obj.random_point(11)


@pytest.mark.parametrize("kind,rv,b", _CASES)
def test_stats_match_unconditional_closed_forms(quad6, kind, rv, b):
    obj, x = quad6
    spec = EstimatorSpec(kind, rv, 0.4, b)
    r = estimator_stats(obj, 0, x, spec, draws=12_000, seed=5, level=LEVEL, progress=False)
    for key in ("second_moment", "centered_moment", "variance", "mean_norm"):
        e = r[key]
        assert e["exact"] is not None, key
        # rounding allowance: with b = m, fo and coord-fd are deterministic (zero-width interval)
        rnd = 64 * obj.d * np.finfo(float).eps * max(abs(e["exact"]), r["point"]["grad_norm_sq"])
        assert e["ci"][0] - rnd <= e["exact"] <= e["ci"][1] + rnd, (key, e)
    # unbiased on quadratics: the confidence ball for ||E G - grad f^i|| reaches 0 (up to the
    # finite-difference rounding of the deterministic b = m cases)
    rnd = _fd_rounding(obj, 0, x, spec.nu) if kind == "coord-fd" else 0.0
    assert r["bias"]["exact"] <= rnd
    assert r["bias"]["ci"][0] <= rnd, r["bias"]
    assert r["bias_vs_target"]["ci"][0] <= rnd


def _fd_rounding(obj, node, x, nu):
    """First-order (Higham) bound on the rounding of ``coord-fd`` on the quadratic, as a norm.

    Each F = (1/b) sum_j 1/2 y_j^T A y_j is a sum of ~d^2 + b products, so its rounding error
    is <= gamma * Fabs with gamma = (d^2 + b + 4) eps and Fabs the same sum of |terms| at
    |y| + nu; each coordinate (F+ - F-) / (2 nu) is off by <= gamma Fabs / nu; sqrt(d) of them.
    Doubled for the second-order terms.
    """
    d = obj.d
    shard = obj.shard(node)
    mats, groups, centers = obj.data[5], obj.data[4], obj.data[6]
    Y = np.abs(x - centers[shard]) + nu
    fabs = float(np.mean(0.5 * np.einsum("ni,nij,nj->n", Y, np.abs(mats[groups[shard]]), Y)))
    gamma = (d * d + shard.shape[0] + 4) * np.finfo(float).eps
    return 2.0 * math.sqrt(d) * gamma * fabs / nu


def test_closed_form_has_power_against_the_batch_conditional_reading(quad6):
    # The b = m formula (no minibatch noise) is wrong for b = 1; the interval must exclude it.
    obj, x = quad6
    nu = 0.4
    spec = EstimatorSpec("zo-forward", 1, nu, 1)
    r = estimator_stats(obj, 0, x, spec, draws=12_000, seed=5, level=LEVEL, progress=False)
    g = obj.node_grad(0, x)
    wrong = cf.forward_second_moment(g @ g, cf.quadratic_batch_beta_mean(obj, 0, 16), nu, obj.d)
    lo, hi = r["second_moment"]["ci"]
    assert not lo <= wrong <= hi, (wrong, lo, hi)


def test_rv_divides_the_conditional_variance(quad6):
    # variance(rv) - s^2 = (variance(1) - s^2) / rv, on the exact and on the empirical side
    obj, x = quad6
    b, nu = 5, 0.4
    s2 = node_gradient_variance(obj, 0, x, b)
    ex1 = cf.exact_moments(obj, 0, x, "zo-forward", 1, nu, b)["variance"]
    ex4 = cf.exact_moments(obj, 0, x, "zo-forward", 4, nu, b)["variance"]
    assert ex4 - s2 == pytest.approx((ex1 - s2) / 4, rel=1e-12)
    r4 = estimator_stats(obj, 0, x, EstimatorSpec("zo-forward", 4, nu, b), 12_000, 9,
                         level=LEVEL, progress=False)
    assert r4["variance"]["ci"][0] <= ex4 <= r4["variance"]["ci"][1]
    assert not r4["variance"]["ci"][0] <= ex1 <= r4["variance"]["ci"][1]  # power


# ---------------------------------------------------------------------------------------------
# Exact facts that hold on every objective
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["fo", "zo-directional"])
def test_universal_closed_forms_on_logistic(kind):
    obj = make_objective("logistic", d=5, n0=2, n1=2, seed=1)
    x = obj.random_point(2)
    r = estimator_stats(obj, 0, x, EstimatorSpec(kind, 2, 1e-3, 3), 12_000, 3, level=LEVEL,
                        progress=False)
    assert r["exact_source"] == "closed form valid on every objective"
    for key in ("second_moment", "centered_moment", "variance", "mean_norm"):
        assert r[key]["ci"][0] <= r[key]["exact"] <= r[key]["ci"][1], (key, r[key])


def test_coordinate_fd_mean_exact_on_cosine_wells():
    obj = make_objective("cosine-wells", d=4, n0=2, n1=2, seed=2)
    x = obj.random_point(1)
    nu = 0.5  # large: the mean differs visibly from grad f^i
    r = estimator_stats(obj, 0, x, EstimatorSpec("coord-fd", 1, nu, 2), 4_000, 3, level=LEVEL,
                        progress=False)
    assert r["bias_vs_target"]["target_source"] == "exact"
    assert r["bias_vs_target"]["ci"][0] == 0.0
    lo, hi = r["bias"]["ci"]
    assert lo <= r["bias"]["exact"] <= hi
    assert lo > 0.0  # the finite-difference bias is resolved


@pytest.mark.parametrize("kind", ["zo-forward", "zo-central", "zo-sphere"])
def test_smoothed_mean_identity_on_a_nonquadratic(kind):
    # E G = grad of the smoothed f^i (Gaussian, or ball for the sphere): the interval for
    # ||E G - target|| reaches 0 while ||E G - grad f^i|| is resolved away from 0.
    obj = make_objective("cosine-wells", d=3, n0=2, n1=2, seed=4, alpha=2.0)
    x = obj.random_point(4)
    r = estimator_stats(obj, 0, x, EstimatorSpec(kind, 1, 0.8, 3), 60_000, 8, level=LEVEL,
                        ref_draws=20_000, progress=False)
    assert r["bias_vs_target"]["target_source"].startswith("monte carlo")
    assert r["bias_vs_target"]["ci"][0] == 0.0, r["bias_vs_target"]
    assert r["bias"]["ci"][0] > 0.0, r["bias"]


def test_smoothed_value_gap_and_bias_exact_on_quadratic(quad6):
    obj, x = quad6
    nu = 0.3
    gap = smoothed_value_gap(obj, 0, x, nu, 20_000, 1, level=LEVEL)
    assert gap["signed"]["ci"][0] <= gap["signed"]["exact"] <= gap["signed"]["ci"][1]
    sb = smoothing_bias(obj, 0, x, nu, 2_000, 1, level=LEVEL)
    assert sb["ci"][0] == 0.0 and sb["exact"] == 0.0


# ---------------------------------------------------------------------------------------------
# Reproducibility, chunk independence, interval helpers, input errors
# ---------------------------------------------------------------------------------------------


def _strip(r):
    r = dict(r)
    r.pop("elapsed_seconds")
    return r


def test_reproducible_and_chunk_independent(quad6):
    obj, x = quad6
    spec = EstimatorSpec("zo-sphere", 2, 0.2, 3)
    a = estimator_stats(obj, 1, x, spec, 3_000, 42, progress=False)
    b = estimator_stats(obj, 1, x, spec, 3_000, 42, chunk=7, progress=False)
    c = estimator_stats(obj, 1, x, spec, 3_000, 43, progress=False)
    assert _strip(a) == _strip(b)
    assert a["second_moment"]["value"] != c["second_moment"]["value"]


def test_ball_radius_factor():
    assert ball_radius_factor(0.95) == pytest.approx(1.0 + math.sqrt(2 * math.log(20.0)))


@pytest.mark.parametrize(
    "kwargs",
    [dict(node=4), dict(draws=3), dict(level=1.0), dict(x=np.zeros(5)),
     dict(spec=EstimatorSpec("zo-forward", 1, 0.1, 17)),
     dict(spec=EstimatorSpec("zo-forward", 1, "theorem", 1))],
)
def test_bad_input_raises_one_line(quad6, kwargs):
    obj, x = quad6
    args = dict(objective=obj, node=0, x=x, spec=EstimatorSpec("zo-forward", 1, 0.1, 1),
                draws=100, seed=0)
    args.update(kwargs)
    with pytest.raises(HDOInputError) as ei:
        estimator_stats(**args)
    assert "\n" not in str(ei.value)


def test_progress_bar_when_forced(quad6, capsys):
    obj, x = quad6
    spec = EstimatorSpec("zo-forward", 1, 0.1, 1)
    a = estimator_stats(obj, 0, x, spec, 2_000, 1, progress=True)
    assert "draw" in capsys.readouterr().err
    b = estimator_stats(obj, 0, x, spec, 2_000, 1, progress=False)
    assert capsys.readouterr().err == ""
    assert _strip(a) == _strip(b)


def test_stats_kernels_compile_once_per_signature(quad6):
    from hdo_theory.estimators import monte_carlo as es

    obj, x = quad6
    logi = make_objective("logistic", d=6, n0=2, n1=2, seed=0)

    def calls():
        for o in (obj, logi):
            estimator_stats(o, 0, x, EstimatorSpec("zo-central", 1, 0.1, 2), 64, 0,
                            ref_draws=32, progress=False)
            smoothed_value_gap(o, 0, x, 0.1, 32, 0, L=1.0)

    kernels = (es.draw_estimator_chunk, es.draw_smoothed_gradient_chunk, es.draw_value_gap_chunk)
    calls()
    before = [len(k.signatures) for k in kernels]
    calls()
    assert [len(k.signatures) for k in kernels] == before
    assert all(n == 1 for n in before)  # every objective kind shares one Numba type


@pytest.mark.parametrize("obj_name", ["quadratic", "least-squares", "logistic"])
@pytest.mark.parametrize("kind", ["coord-fd", "fo"])
def test_deterministic_estimate_agrees_with_exact_to_rounding(obj_name, kind):
    """coord-fd / fo on a full-shard batch draw the same vector every time: the interval has
    zero width and the exact value differs by rounding only (2.8e-14 on the quadratic's second
    moment). The interval is widened to the derived rounding tolerance, and only that far."""
    obj = make_objective(obj_name, d=10, n0=4, n1=4, seed=0)
    m = obj.shard_size(0)
    spec = EstimatorSpec(kind, rv=1, nu=1e-3, batch=m)
    r = estimator_stats(obj, 0, obj.random_point(0), spec, draws=64, seed=0, progress=False)
    checked = 0
    for key in ("mean_norm", "bias", "second_moment", "centered_moment", "variance"):
        e = r[key]
        tol = e["rounding_tol"]  # zero-width statistical interval: widened
        assert 0 < tol <= 1e-8 * max(1.0, abs(e["value"])) + 1e-8
        assert e["ci"][0] >= max(0.0, e["value"] - tol) - 1e-300
        assert e["ci"][1] == pytest.approx(e["value"] + tol, rel=1e-12)
        if e["exact"] is not None:
            assert e["exact_in_ci"], (key, e)
            checked += 1
    assert checked >= 2


def test_rounding_tolerance_leaves_statistical_intervals_alone():
    obj = _quad()
    spec = EstimatorSpec("zo-forward", rv=1, nu=1e-3, batch=1)
    r = estimator_stats(obj, 0, obj.random_point(0), spec, draws=256, seed=0, progress=False)
    for key in ("mean_norm", "bias", "second_moment", "centered_moment", "variance"):
        assert "rounding_tol" not in r[key]
