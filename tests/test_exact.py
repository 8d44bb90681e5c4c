"""The exact engine: Monte Carlo agreement, closed forms, direction moments, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from hdo_theory.errors import HDOInputError
from hdo_theory.estimators import EstimatorSpec
from hdo_theory.exact import EXACT_METRICS, ExactDynamics, check_at, expected_dynamics
from hdo_theory.exact import moments as MO
from hdo_theory.objectives import make_objective
from hdo_theory.objectives.explicit import explicit_quadratic
from hdo_theory.process import PopulationConfig, ProcessConfig, simulate
from hdo_theory.verification.bounds import exact_matching_contraction, exact_pairwise_contraction


def _pop(kind, lr, rv=1, nu=0.4, **kw):
    return PopulationConfig(EstimatorSpec(kind, rv=rv, nu=nu, batch=1), lr=lr, **kw)


def _rotated(d, eig, seed):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = (Q * np.asarray(eig)) @ Q.T
    return 0.5 * (A + A.T), rng


# ---------------------------------------------------------------------------------------------
# (b) Monte Carlo: simulate with many replicas against the exact values
# ---------------------------------------------------------------------------------------------

#: Family-wise false-failure probability of the whole Monte Carlo test (all cases, all values),
#: split over the values by Bonferroni: each two-sided z-test uses alpha / K.
FAMILY_ALPHA = 1e-4
MC_REPLICAS = 3000
MC_METRICS = ("gap", "dist_sq", "grad_norm_sq", "gamma", "mg", "y_gap", "node_loss", "zo_loss",
              "fo_loss", "lemma2_cond")


def _mc_cases():
    d, n = 4, 6
    A, rng = _rotated(d, [1.0, 0.6, 0.3, 0.1], seed=11)  # non-diagonal A
    B = rng.standard_normal((n, d))
    X0 = 2.0 * rng.standard_normal((n, d))  # per-node starts
    obj = explicit_quadratic(A, B, 3, 0.5)
    A5, rng5 = _rotated(3, [1.0, 0.5, 0.25], seed=5)
    obj5 = explicit_quadratic(A5, rng5.standard_normal((5, 3)), 2, 0.8)
    return [
        # the forward difference at a large nu (its curvature term dominates the noise)
        ("pairwise-forward-large-nu", obj, ProcessConfig(
            model="pairwise", T=60, record=20, record_lemma2=True, x0=X0,
            zo=_pop("zo-forward", 0.08, rv=1, nu=3.0), fo=_pop("fo", 0.1))),
        ("matching-odd-sphere-cosine", obj5, ProcessConfig(
            model="matching", T=12, record=4, record_lemma2=True, schedule="cosine", warmup=3,
            local_steps_warmup=2, x0=tuple(float(v) for v in np.arange(3)),
            zo=_pop("zo-sphere", 0.15, rv=3, nu=0.7), fo=_pop("coord-fd", 0.15, nu=0.1))),
        ("ring-central-directional", obj, ProcessConfig(
            model="graph", topology="ring", T=50, record=25, record_lemma2=True, x0=X0,
            zo=_pop("zo-central", 0.1, rv=2, nu=0.5), fo=_pop("zo-directional", 0.1, rv=1))),
    ]


def test_monte_carlo_agrees_with_exact_values():
    """Each value: ``z = (replica mean - exact) / (replica sd / sqrt(R))`` is asymptotically
    standard normal (R = 3000 independent replicas, CLT); the test fails when
    ``|z| > z_crit = Phi^{-1}(1 - alpha / (2K))`` with ``K`` the number of values tested and
    ``alpha = 1e-4`` the false-failure probability of the whole test (Bonferroni)."""
    cases = _mc_cases()
    checks = []
    for label, obj, cfg in cases:
        r = expected_dynamics(obj, cfg)
        sim = simulate(obj, cfg, replicas=MC_REPLICAS, seed=2024, threads=1)
        np.testing.assert_array_equal(r.t, sim.t)
        for name in MC_METRICS:
            vals = sim.metrics[name]
            for col in range(1, len(r.t)):
                v = vals[:, col]
                if not np.all(np.isfinite(v)):
                    assert np.isnan(r[name][col]), (label, name)
                    continue
                se = v.std(ddof=1) / math.sqrt(len(v))
                checks.append((label, name, int(r.t[col]), v.mean(), r[name][col], se))
    K = len(checks)
    z_crit = norm.isf(FAMILY_ALPHA / (2 * K))
    bad = [(lab, nm, t, mc, ex, (mc - ex) / se) for lab, nm, t, mc, ex, se in checks
           if abs(mc - ex) > z_crit * se]
    assert K > 60
    assert not bad, f"{len(bad)} of {K} values outside z_crit={z_crit:.2f}: {bad[:5]}"


# ---------------------------------------------------------------------------------------------
# (c) closed forms
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model,n", [("pairwise", 5), ("pairwise", 8), ("matching", 6),
                                     ("matching", 7)])
def test_pure_averaging_contracts_gamma_by_the_exact_factor(model, n):
    """eta = 0: ``E Gamma_{t+1} = (1 - 1/(n-1)) Gamma_t`` (pairwise: with ``D = 0`` the pair
    average gives ``E[n Gamma'] = n Gamma (1 - 2/n + (n-2)/(n(n-1))) = n Gamma (n-2)/(n-1)``);
    matching: ``(1 - floor(n/2)/(n-1))`` (each pair is matched with probability
    ``floor(n/2) / (n(n-1)/2)``; odd n: the unmatched node keeps its model). The factor also
    matches verification.bounds (which states even n for the matching)."""
    d = 3
    A, rng = _rotated(d, [1.0, 0.5, 0.2], seed=n)
    obj = explicit_quadratic(A, rng.standard_normal((n, d)), 2, 0.4)
    X0 = rng.standard_normal((n, d))
    cfg = ProcessConfig(model=model, T=30, x0=X0, zo=_pop("zo-forward", 0.0, nu=0.3),
                        fo=_pop("fo", 0.0))
    at = np.arange(0, 31, 5)
    r = expected_dynamics(obj, cfg, at=at)
    g0 = float(np.mean(np.sum((X0 - X0.mean(0)) ** 2, axis=1)))
    rho = 1 - 1 / (n - 1) if model == "pairwise" else 1 - (n // 2) / (n - 1)
    if model == "pairwise" or n % 2 == 0:  # verification.bounds states the even-n matching
        bound_rho = exact_pairwise_contraction(n) if model == "pairwise" else \
            exact_matching_contraction(n)
        assert rho == pytest.approx(bound_rho, rel=1e-14)
    # Gamma is a difference of second moments of size ||X - x*||^2 (the engine's state), so
    # the comparison is to rounding of that scale: 1e-13 of it, plus 1e-11 relative
    xs = np.linalg.solve(A, obj.data[6].mean(0))
    scale = float(np.mean(np.sum((X0 - xs) ** 2, axis=1)))
    tol = 1e-13 * scale + 1e-11 * g0 * rho ** at
    assert np.all(np.abs(r["gamma"] - g0 * rho ** at) <= tol)
    assert np.all(np.abs(r["lemma2_cond"] - g0 * rho ** (at + 1)) <= tol)
    # pure averaging keeps the mean: gap stays f(mu_0) - f*
    np.testing.assert_allclose(r["gap"], r["gap"][0], rtol=1e-12)


def test_graph_one_step_is_the_laplacian_form():
    """eta = 0 on a graph: ``E[n Gamma_1] = n Gamma_0 - tr(X^T L_G X) / (2|E|)``."""
    from hdo_theory.process.topology import laplacian, make_edges

    n, d = 6, 2
    A, rng = _rotated(d, [1.0, 0.3], seed=1)
    obj = explicit_quadratic(A, rng.standard_normal((n, d)), 3, 0.2)
    X0 = rng.standard_normal((n, d))
    cfg = ProcessConfig(model="graph", topology="ring", T=3, x0=X0,
                        zo=_pop("zo-forward", 0.0), fo=_pop("fo", 0.0))
    r = expected_dynamics(obj, cfg, at=[0, 1])
    E = make_edges("ring", n)
    Lg = laplacian(E, n)
    g0 = np.mean(np.sum((X0 - X0.mean(0)) ** 2, axis=1))
    expect = g0 - np.trace(X0.T @ Lg @ X0) / (2 * len(E)) / n
    assert r["gamma"][1] == pytest.approx(expect, rel=1e-12)


def test_two_nodes_equal_starts_is_sgd_on_the_average_with_halved_noise():
    """n = 2, n0 = 0, equal starts: after each interaction both nodes hold
    ``x' = x - eta (A x - bbar) - eta (xi_1 + xi_2)/2``: SGD on the average with noise
    covariance ``sigma^2/2 I``. So ``E x_t - x* = (I - eta A)^t (x_0 - x*)`` and
    ``Cov x_t = (eta^2 sigma^2 / 2) sum_{s<t} (I - eta A)^{2s}``; ``E gap_t =
    1/2 e^T A e + 1/2 tr(A Cov)``, ``E ||mu - x*||^2 = |e|^2 + tr Cov``, ``Gamma = 0``."""
    d, eta, sigma = 3, 0.3, 0.7
    A, rng = _rotated(d, [1.2, 0.7, 0.1], seed=4)
    B = rng.standard_normal((2, d))
    obj = explicit_quadratic(A, B, 0, sigma)
    x0 = rng.standard_normal(d)
    cfg = ProcessConfig(model="pairwise", T=200, x0=tuple(x0), fo=_pop("fo", eta))
    at = np.array([0, 1, 2, 7, 50, 200])
    r = expected_dynamics(obj, cfg, at=at)
    xs = np.linalg.solve(A, B.mean(0))
    I = np.eye(d)
    M = I - eta * A
    for i, t in enumerate(at):
        e = np.linalg.matrix_power(M, t) @ (x0 - xs)
        cov = sum(np.linalg.matrix_power(M, 2 * s) for s in range(t)) * eta**2 * sigma**2 / 2 \
            if t else np.zeros((d, d))
        assert r["gap"][i] == pytest.approx(0.5 * e @ A @ e + 0.5 * np.trace(A @ cov), rel=1e-10)
        assert r["dist_sq"][i] == pytest.approx(e @ e + np.trace(cov), rel=1e-10)
        assert abs(r["gamma"][i]) < 1e-12


# ---------------------------------------------------------------------------------------------
# direction moments (the constants of moments.py) by Monte Carlo z-tests
# ---------------------------------------------------------------------------------------------


def test_direction_moment_identities():
    """``E[w w^T M w w^T]`` (Gaussian and sqrt(d) x sphere) and ``E[(w^T H w)^2 w w^T]`` against
    their closed forms: each entry a z-test from 400k draws; Bonferroni over all entries of the
    three identities, family false-failure probability 1e-4."""
    d = 3
    rng = np.random.default_rng(7)
    M = rng.standard_normal((d, d))
    Ms = 0.5 * (M + M.T)
    H, _ = _rotated(d, [1.0, 0.5, 0.2], seed=2)
    u = rng.standard_normal((400_000, d))
    v = u / np.linalg.norm(u, axis=1, keepdims=True)
    six = MO.gaussian_sixth_bracket(H)
    tests = []
    # Gaussian fourth moment, non-symmetric M: M + M^T + tr(M) I
    s = np.einsum("ri,rj,jk,rk,rl->ril", u, u, M, u, u, optimize=True)
    tests.append((s, M + M.T + np.trace(M) * np.eye(d)))
    # sphere: E[(d v v^T) Ms (d v v^T)] = c1 Ms + c2 tr(Ms) I with rv = 1
    c1, c2 = MO.pmp_coefficients("zo-sphere", 1, d)
    w = math.sqrt(d) * v
    s = np.einsum("ri,rj,jk,rk,rl->ril", w, w, Ms, w, w, optimize=True)
    tests.append((s, c1 * Ms + c2 * np.trace(Ms) * np.eye(d)))
    # Gaussian sixth moment and its sphere scaling
    q = np.einsum("ri,ij,rj->r", u, H, u)
    tests.append((q[:, None, None] ** 2 * u[:, :, None] * u[:, None, :], six))
    qv = d * np.einsum("ri,ij,rj->r", v, H, v)
    tests.append((qv[:, None, None] ** 2 * v[:, :, None] * v[:, None, :],
                  MO.sixth_moment_scale("zo-sphere", d) * six))
    K = sum(t[1].size for t in tests)
    z_crit = norm.isf(1e-4 / (2 * K))
    for samples, exact in tests:
        mean = samples.mean(axis=0)
        se = samples.std(axis=0, ddof=1) / math.sqrt(samples.shape[0])
        assert np.all(np.abs(mean - exact) <= z_crit * se + 1e-12), (mean, exact)


def test_sphere_fourth_moments_exact():
    """``E[v_i^2 v_j^2] = 1/(d(d+2))`` (i != j), ``E[v_i^4] = 3/(d(d+2))`` for d = 2 by
    quadrature over the circle (exact for these trigonometric polynomials)."""
    th = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    c, s = np.cos(th), np.sin(th)
    assert np.mean(c**2 * s**2) == pytest.approx(1 / 8, rel=1e-13)
    assert np.mean(c**4) == pytest.approx(3 / 8, rel=1e-13)
    c1, c2 = MO.pmp_coefficients("zo-sphere", 1, 2)
    # E[(2 v v^T) M (2 v v^T)] for M = e1 e1^T: entry (0, 0) = 4 E[c^4], (1, 1) = 4 E[c^2 s^2]
    assert c1 + c2 == pytest.approx(4 * np.mean(c**4), rel=1e-13)
    assert c2 == pytest.approx(4 * np.mean(c**2 * s**2), rel=1e-13)


# ---------------------------------------------------------------------------------------------
# (d) results object and bad input
# ---------------------------------------------------------------------------------------------


def _small():
    A, rng = _rotated(2, [1.0, 0.5], seed=0)
    obj = explicit_quadratic(A, rng.standard_normal((4, 2)), 2, 0.1)
    cfg = ProcessConfig(T=20, zo=_pop("zo-forward", 0.1), fo=_pop("fo", 0.1), x0=(1.0, -1.0))
    return obj, cfg


def test_results_object():
    obj, cfg = _small()
    r = expected_dynamics(obj, cfg, at=[0, 5, 20])
    assert isinstance(r, ExactDynamics)
    assert set(r.metrics) == set(EXACT_METRICS)
    d = r.as_dict()
    assert d["t"] == [0, 5, 20] and set(d["metrics"]) == set(EXACT_METRICS)
    long = r.to_long()
    assert len(long) == 3 * len(EXACT_METRICS)
    assert {"t", "metric", "value"} == set(long[0])
    default = expected_dynamics(obj, cfg)
    from hdo_theory.process import record_steps
    np.testing.assert_array_equal(default.t, record_steps(cfg.T, cfg.record, cfg.record_points))


@pytest.mark.parametrize("at,msg", [
    ([0, 5, 5], "strictly increasing"),
    ([3, 1], "strictly increasing"),
    ([0, 21], "at must be an integer in \\[0, 20\\]"),
    ([-1], "at must be an integer"),
    ([0.5], "at must be an integer"),
    ([], "non-empty"),
])
def test_bad_at(at, msg):
    obj, cfg = _small()
    with pytest.raises(HDOInputError, match=msg):
        expected_dynamics(obj, cfg, at=at)


def test_out_of_scope_inputs_are_one_line_errors():
    obj, cfg = _small()
    import dataclasses

    cases = [
        (dataclasses.replace(cfg, fo=_pop("fo", 0.1, momentum=0.5)), "momentum"),
        (dataclasses.replace(cfg, record_y=False), None),
    ]
    with pytest.raises(HDOInputError, match="momentum") as e:
        expected_dynamics(obj, cases[0][0])
    assert "\n" not in str(e.value)
    r = expected_dynamics(obj, cases[1][0], at=[0, 1])
    with pytest.raises(HDOInputError, match="y_gap") as e:
        r["y_gap"]
    for name in ("loss_spread", "max_node_dist_sq", "heldout_loss", "heldout_acc"):
        with pytest.raises(HDOInputError, match="not an expectation of a quadratic form"):
            r[name]
    with pytest.raises(HDOInputError, match="metric must be one of"):
        r["nope"]
    quad = make_objective("logistic", d=3, n0=2, n1=2)
    with pytest.raises(HDOInputError, match="outside the exact engine's scope"):
        expected_dynamics(quad, cfg)
    with pytest.raises(HDOInputError, match="config must be a ProcessConfig"):
        expected_dynamics(obj, {"T": 3})
    with pytest.raises(HDOInputError, match="x0 must have shape"):
        expected_dynamics(obj, dataclasses.replace(cfg, x0=(1.0, 2.0, 3.0)))


def test_check_at_accepts_scalars_and_numpy():
    assert check_at(5, 10).tolist() == [5]
    assert check_at(np.array([0, 10]), 10).tolist() == [0, 10]


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------

_CLI = ["exact", "--objective", "explicit-quadratic", "--d", "3", "--n0", "2", "--n1", "2",
        "--noise", "0.2", "--T", "50", "--zo-lr", "0.05", "--fo-lr", "0.05"]


def test_cli_table_and_json_agree_with_the_api(capsys):
    import json

    from hdo_theory.cli import main
    from hdo_theory.runs.options import build, resolve

    assert main(_CLI + ["--at", "0,10,50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    values = resolve({"objective": "explicit-quadratic", "d": 3, "n0": 2, "n1": 2, "noise": 0.2,
                      "T": 50, "zo_lr": 0.05, "fo_lr": 0.05})
    obj, cfg = build(values)
    r = expected_dynamics(obj, cfg, at=[0, 10, 50])
    assert out["t"] == [0, 10, 50]
    for k in r.metrics:
        np.testing.assert_allclose(out["metrics"][k], r[k], rtol=1e-12)
    assert main(_CLI + ["--at", "0,10,50"]) == 0
    text = capsys.readouterr().out
    assert "lemma2_cond" in text and text.count("\n") >= 5


@pytest.mark.parametrize("extra,msg", [
    (["--at", "10,5"], "strictly increasing"),
    (["--at", "0,51"], "at must be an integer in \\[0, 50\\]"),
    (["--at", "1,x"], "comma-separated integers"),
    (["--zo-momentum", "0.5"], "momentum"),
])
def test_cli_bad_input_is_one_line(extra, msg, capsys):
    from hdo_theory.cli import main

    assert main(_CLI + extra) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert __import__("re").search(msg, err), err
