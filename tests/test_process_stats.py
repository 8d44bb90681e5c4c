"""Monte Carlo checks of the gossip process against docs/theory.md section 4, Theorem 1, Lemma 2.

Every tolerance is derived from the number of replicas with a stated false-failure probability
``DELTA`` (per test function, Bonferroni-split over the checks inside it):

* exact one-step laws (pure averaging): the outcome distribution is known exactly (enumerated),
  so Bernstein's inequality with the exact variance and range gives the tolerance;
* multi-step averaging: ``Gamma_t`` lies in ``[0, Gamma_0]``, so Hoeffding's inequality;
* quantities with no closed-form law (eta > 0): the CLT with the empirical standard error.
"""

import itertools
import math

import numpy as np
import pytest
from scipy.stats import norm

from hdo_theory.estimators import EstimatorSpec
from hdo_theory.objectives import make_objective
from hdo_theory.process import PopulationConfig, ProcessConfig, simulate
from hdo_theory.process.topology import make_edges

DELTA = 1e-6  # false-failure probability of each test function


def bernstein_eps(R, var, b, delta):
    """Half-width e with P(|mean_R - mu| >= e) <= delta for i.i.d. draws with variance ``var``
    and ``|X - mu| <= b`` (Bernstein: 2 exp(-R e^2 / (2 var + 2 b e / 3)) = delta)."""
    L = math.log(2.0 / delta)
    a = 2.0 * b * L / 3.0
    return (a + math.sqrt(a * a + 8.0 * R * var * L)) / (2.0 * R)


def hoeffding_eps(R, width, delta):
    """Half-width for the mean of R i.i.d. draws in an interval of length ``width``."""
    return width * math.sqrt(math.log(2.0 / delta) / (2.0 * R))


def gamma_of(X):
    return float(np.mean(np.sum((X - X.mean(axis=0)) ** 2, axis=1)))


def averaged(X, pairs):
    Y = X.copy()
    for i, j in pairs:
        Y[i] = Y[j] = 0.5 * (X[i] + X[j])
    return Y


def exact_one_step_law(model, X, edges=None):
    """All equally likely outcomes of Gamma after one pure-averaging step.

    Pairwise: every pair; matching: every permutation cut into consecutive pairs, as the kernel
    does; graph: every edge.
    """
    n = X.shape[0]
    if model == "pairwise":
        outs = [averaged(X, [(i, j)]) for i, j in itertools.combinations(range(n), 2)]
    elif model == "graph":
        outs = [averaged(X, [tuple(e)]) for e in edges]
    else:
        outs = [
            averaged(X, [(p[2 * q], p[2 * q + 1]) for q in range(n // 2)])
            for p in itertools.permutations(range(n))
        ]
    return np.array([gamma_of(Y) for Y in outs])


ZERO = dict(
    zo=PopulationConfig(EstimatorSpec("zo-forward", rv=1, batch=1), lr=0.0),
    fo=PopulationConfig(EstimatorSpec("fo", batch=1), lr=0.0),
)


@pytest.mark.parametrize(
    "model, n", [("pairwise", 5), ("matching", 6), ("matching", 5), ("graph", 6)]
)
def test_pure_averaging_one_step_contraction(model, n):
    """eta = 0: E[Gamma_1 | X_0] = (1 - 1/(n-1)) Gamma_0 (pairwise), (1 - floor(n/2)/(n-1))
    Gamma_0 (matching; = 1 - n/(2(n-1)) for even n), (1 - x^T L x/(2|E| n Gamma)) on a graph."""
    o = make_objective("least-squares", d=3, n0=n // 2, n1=n - n // 2, seed=0)
    X0 = np.random.default_rng(1).standard_normal((n, 3))
    R = 3000
    cfg = ProcessConfig(
        model=model,
        topology="ring",
        T=1,
        record=1,
        record_nodes=False,
        record_lemma2=True,
        x0=X0,
        **ZERO,
    )
    res = simulate(o, cfg, replicas=R, seed=2)
    G0 = gamma_of(X0)
    assert res["gamma"][0, 0] == pytest.approx(G0, rel=1e-12)
    law = exact_one_step_law(model, X0, make_edges("ring", n) if model == "graph" else None)
    if model == "pairwise":
        assert law.mean() == pytest.approx((1 - 1 / (n - 1)) * G0, rel=1e-12)
    elif model == "matching":
        assert law.mean() == pytest.approx((1 - (n // 2) / (n - 1)) * G0, rel=1e-12)
        if n % 2 == 0:
            assert law.mean() == pytest.approx((1 - n / (2 * (n - 1))) * G0, rel=1e-12)
    # the recorded closed form of E[Gamma_1 | X_0] is exact at eta = 0
    assert np.allclose(res["lemma2_cond"][:, 0], law.mean(), rtol=1e-12, atol=0)
    # Monte Carlo: the kernel's draws follow the law (two checks -> DELTA / 2 each)
    g1 = res["gamma"][:, 1]
    eps = bernstein_eps(R, law.var(), np.abs(law - law.mean()).max(), DELTA / 2)
    assert abs(g1.mean() - law.mean()) <= eps
    # and the outcome frequencies are those of a uniform draw (chi-square-free check: the
    # probability of the smallest outcome, a Bernoulli mean, within its Bernstein band)
    p = np.mean(np.isclose(law, law.min(), rtol=1e-12))
    hits = np.mean(np.isclose(g1, law.min(), rtol=1e-9))
    assert abs(hits - p) <= bernstein_eps(R, p * (1 - p), max(p, 1 - p), DELTA / 2)


@pytest.mark.parametrize(
    "model, rate",
    [("pairwise", lambda n: 1 - 1 / (n - 1)), ("matching", lambda n: 1 - n / (2 * (n - 1)))],
)
def test_pure_averaging_multi_step(model, rate):
    """E Gamma_t = rate^t Gamma_0 by the tower rule; Gamma_t in [0, Gamma_0] (Hoeffding)."""
    n, T, R = 6, 6, 2000
    o = make_objective("least-squares", d=2, n0=3, n1=3, seed=0)
    X0 = np.random.default_rng(3).standard_normal((n, 2))
    cfg = ProcessConfig(model=model, T=T, record=1, record_nodes=False, x0=X0, **ZERO)
    res = simulate(o, cfg, replicas=R, seed=4)
    G0 = gamma_of(X0)
    eps = hoeffding_eps(R, G0, DELTA / T)
    for t in range(1, T + 1):
        assert abs(res["gamma"][:, t].mean() - rate(n) ** t * G0) <= eps, t


HYBRID = dict(
    zo=PopulationConfig(EstimatorSpec("zo-forward", rv=2, nu=1e-2, batch=2), lr=0.2, momentum=0.5),
    fo=PopulationConfig(EstimatorSpec("fo", batch=1), lr=0.3),
)


@pytest.mark.parametrize("model, n", [("pairwise", 6), ("matching", 5), ("graph", 6)])
def test_lemma2_conditional_expectation_is_unbiased(model, n):
    """The recorded E[Gamma_{t+1} | X_t] (pair choice in closed form, one estimator draw per node
    from the probe stream) against the realised Gamma_{t+1} (process stream): the paired
    difference has mean 0 (CLT, Bonferroni over the T steps). A consensus start makes the
    eta-terms of the closed form dominate, so a wrong step or mean term would show."""
    T, R = 4, 2000
    o = make_objective("logistic", d=3, n0=n // 2, n1=n - n // 2, seed=5)
    cfg = ProcessConfig(
        model=model,
        topology="ring",
        T=T,
        record=1,
        record_nodes=False,
        record_lemma2=True,
        **HYBRID,
    )
    res = simulate(o, cfg, replicas=R, seed=6)
    assert res.n_diverged == 0
    z = norm.isf(DELTA / (2 * T))
    for t in range(T):
        diff = res["gamma"][:, t + 1] - res["lemma2_cond"][:, t]
        se = diff.std(ddof=1) / math.sqrt(R)
        assert abs(diff.mean()) <= z * se, (t, diff.mean(), se)
        if t == 0:
            # power: from the consensus start all of E[Gamma_1 | X_0] comes from the steps, and
            # it is several tolerances away from 0, so dropping the step terms would be caught
            assert res["lemma2_cond"][:, 0].mean() > 3 * z * se


def test_lemma2_holds_along_the_trajectory():
    """Lemma 2: E Gamma_{t+1} <= (1 - 1/(2n)) E Gamma_t + (4/n) eta^2 E M^G_t, checked at every
    record with the one-step conditional expectations (one-sided CLT, Bonferroni over records)."""
    n, T, R, eta = 6, 300, 300, 0.05
    o = make_objective("least-squares", d=3, n0=3, n1=3, seed=0)
    pops = dict(
        zo=PopulationConfig(EstimatorSpec("zo-forward", rv=1, batch=1), lr=eta),
        fo=PopulationConfig(EstimatorSpec("fo", batch=1), lr=eta),
    )
    cfg = ProcessConfig(T=T, record=30, record_nodes=False, record_lemma2=True, **pops)
    res = simulate(o, cfg, replicas=R, seed=7)
    k = res.t.size
    z = norm.isf(DELTA / k)
    rhs = (1 - 1 / (2 * n)) * res["gamma"] + (4 / n) * eta**2 * res["mg"]
    slack = rhs - res["lemma2_cond"]
    for c in range(k):
        se = slack[:, c].std(ddof=1) / math.sqrt(R)
        assert slack[:, c].mean() >= -z * se, (res.t[c], slack[:, c].mean(), se)


def test_strongly_convex_distance_decays_at_the_theorem_rate():
    """Theorem 1 (eta = 4 n log T / (T ell)): E||mu_T - x*||^2 = O(log T / T + ...), whose
    log-log slope is at most -1 + 1/log T_min over T >= T_min. The fitted slope (weighted by the
    delta-method variances of log-means) must not exceed it beyond z standard errors, and must
    be negative beyond z standard errors (one-sided each, DELTA/2)."""
    o = make_objective("least-squares", d=3, n0=2, n1=2, seed=0, condition=2.0)
    pops = dict(
        zo=PopulationConfig(EstimatorSpec("zo-forward", rv=1, nu=1e-3, batch=1)),
        fo=PopulationConfig(EstimatorSpec("fo", batch=1)),
    )
    Ts, R = [500, 1000, 2000, 4000], 100
    logm, var = [], []
    for T in Ts:
        cfg = ProcessConfig(T=T, schedule="theorem-convex", record=T, record_nodes=False, **pops)
        # an independent seed per T: the variance sum below assumes independent log-means
        v = simulate(o, cfg, replicas=R, seed=8 + T)["dist_sq"][:, -1]
        assert np.all(np.isfinite(v))
        logm.append(math.log(v.mean()))
        var.append(v.var(ddof=1) / R / v.mean() ** 2)
    x = np.log(Ts)
    c = (x - x.mean()) / np.sum((x - x.mean()) ** 2)
    slope = float(np.dot(c, logm))
    se = math.sqrt(float(np.dot(c**2, var)))
    z = norm.isf(DELTA / 2)
    assert slope <= -1 + 1 / math.log(Ts[0]) + z * se, (slope, se)
    assert slope + z * se < 0, (slope, se)
