"""Decision rule, intervals, slope fits: coverage checked with stated false-failure odds."""

import math

import numpy as np
import pytest

from hdo_theory.verification import stats as S

# Every binomial check below fails with probability < FAIL_P when the code is right.
FAIL_P = 1e-3


def test_true_bound_gives_violations_at_or_below_nominal_rate():
    # Exact claim E X <= mu with mu the true mean: the rate of "violated" is <= alpha/2.
    alpha, runs = 0.1, 400
    rng = np.random.default_rng(1)
    k = 0
    for _ in range(runs):
        x = rng.exponential(2.0, 200)  # skewed, mean 2
        k += S.decide(S.mean_estimate(x), 2.0, alpha, "le").verdict == "violated"
    assert S.binomial_upper_tail(k, runs, alpha / 2) > FAIL_P


def test_half_bound_is_flagged_violated():
    x = np.random.default_rng(2).exponential(2.0, 2000)
    d = S.decide(S.mean_estimate(x), 0.5 * 2.0, 0.05 / 30, "le")
    assert d.verdict == "violated"
    assert S.decide(S.mean_estimate(x), 2.0 * 2.0, 0.05 / 30, "le").verdict == "holds"


def test_equality_rule_and_outside_assumptions():
    e = S.Estimate(1.0, 0.1, 50, 51)
    assert S.decide(e, 1.05, 0.05, "eq").verdict == "holds"
    assert S.decide(e, 2.0, 0.05, "eq").verdict == "violated"
    d = S.decide(e, 5.0, 0.05, "le", outside=["eta too large"])
    assert d.verdict == "outside assumptions" and "outside the lemma's assumptions" in d.reason
    assert S.decide(e, 1.0, 0.05, "le").verdict == "inconclusive"
    assert S.decide(e, 0.5, 0.05, "ge").verdict == "holds"


def test_norm_interval_covers_at_nominal_rate():
    # ||E V|| with anisotropic covariance; the interval is conservative (Szekely-Bakirov).
    alpha, runs = 0.1, 300
    rng = np.random.default_rng(3)
    m = np.array([0.3, 0.0, 0.0, 0.1])
    scale = np.array([3.0, 0.2, 0.2, 1.0])
    miss = 0
    for _ in range(runs):
        V = m + scale * rng.standard_normal((100, 4))
        lo, hi = S.norm_of_mean_estimate(V).interval(alpha)
        miss += not (lo <= np.linalg.norm(m) <= hi)
    assert S.binomial_upper_tail(miss, runs, alpha) > FAIL_P


def test_slope_fit_recovers_exponent_and_covers():
    alpha, runs = 0.1, 60
    x = np.array([10.0, 20, 40, 80, 160])
    rng = np.random.default_rng(4)
    miss = 0
    for r in range(runs):
        reps = [xk**-0.5 * rng.lognormal(0, 0.3, 40) for xk in x]
        fit = S.loglog_slope(x, reps, n_boot=200, seed=r)
        lo, hi = fit.slope.interval(alpha)
        miss += not (lo <= -0.5 <= hi)
    assert S.binomial_upper_tail(miss, runs, alpha) > FAIL_P
    assert fit.constant == pytest.approx(math.exp(0.3**2 / 2), rel=0.2)


def test_predicted_exponent_of_a_power_law_is_exact():
    x = np.array([2.0, 4, 8])
    assert S.predicted_exponent(x, 3 * x**-1.5) == pytest.approx(-1.5)


def test_one_loglog_fit_drops_undefined_points():
    x = np.array([0.0, 1, 2, 4, 8, 16])
    y = 3 * np.where(x > 0, x, 1.0) ** -1.5
    y[2], y[3] = -1.0, np.nan  # log undefined: dropped
    s, a = S.loglog_fit(x, y)
    assert s == pytest.approx(-1.5, abs=1e-12) and a == pytest.approx(math.log(3), abs=1e-12)
    assert all(math.isnan(v) for v in S.loglog_fit([1, 2], [1.0, 0.0]))  # one point left
    assert all(math.isnan(v) for v in S.loglog_fit([2, 2, 2], [1.0, 2.0, 3.0]))  # one x
    # the other fits are this one: results' alias, the bootstrap fit's point estimate, the
    # bound exponent
    from hdo_theory.process.results import fit_loglog_slope

    rng = np.random.default_rng(3)
    xs = np.array([2.0, 4, 8, 16])
    reps = [xk**-0.5 * rng.lognormal(0, 0.3, 20) for xk in xs]
    means = [r.mean() for r in reps]
    assert fit_loglog_slope(xs, means) == S.loglog_fit(xs, means)[0]
    fit = S.loglog_slope(xs, reps, n_boot=50)
    assert (fit.slope.value, fit.intercept) == S.loglog_fit(xs, means)
    assert S.predicted_exponent(xs, means) == S.loglog_fit(xs, means)[0]
    assert math.isnan(S.loglog_slope([2, 2], [[1.0, 2.0], [3.0, 4.0]]).slope.value)


def test_bonferroni():
    assert S.bonferroni_alpha(0.05, 10) == pytest.approx(0.005)
