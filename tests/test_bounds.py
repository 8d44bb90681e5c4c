"""Bounds of sections 3-4: exact facts against enumeration, readings, admissibility."""

import itertools
import math

import numpy as np
import pytest

from hdo_theory.verification import bounds as B


def _gamma(X):
    return float(np.mean(np.sum((X - X.mean(axis=0)) ** 2, axis=1)))


@pytest.mark.parametrize("n", [3, 5, 8])
def test_pairwise_contraction_equals_enumeration(n):
    # Exact expectation over all n(n-1)/2 pairs: no sampling, so equality to rounding.
    X = np.random.default_rng(n).standard_normal((n, 3))
    after = []
    for i, j in itertools.combinations(range(n), 2):
        Y = X.copy()
        Y[i] = Y[j] = (X[i] + X[j]) / 2
        after.append(_gamma(Y))
    assert np.mean(after) == pytest.approx(B.exact_pairwise_contraction(n) * _gamma(X), rel=1e-12)


def _matchings(items):
    if not items:
        yield []
        return
    a = items[0]
    for k in range(1, len(items)):
        rest = items[1:k] + items[k + 1:]
        for m in _matchings(rest):
            yield [(a, items[k])] + m


@pytest.mark.parametrize("n", [4, 6])
def test_matching_contraction_equals_enumeration(n):
    X = np.random.default_rng(n).standard_normal((n, 2))
    after = []
    for m in _matchings(list(range(n))):
        Y = X.copy()
        for i, j in m:
            Y[i] = Y[j] = (X[i] + X[j]) / 2
        after.append(_gamma(Y))
    assert np.mean(after) == pytest.approx(B.exact_matching_contraction(n) * _gamma(X), rel=1e-12)


def _p(**kw):
    base = dict(n0=3, n1=5, d=7, L=2.0, eta=0.01, ell=0.5, varsigma0_sq=0.3, varsigma1_sq=0.2,
                sum_s_sq0=0.9, sum_s_sq1=1.1, T=1000, f0_gap=1.5, dist0_sq=2.0)
    base.update(kw)
    return B.BoundParams(**base)


def test_lemma10_two_routes_agree_when_nu_is_eta_over_c():
    p = _p()
    assert B.lemma10_bias(p) == pytest.approx(B.lemma10_bias_at_nu(p), rel=1e-12)
    assert B.lemma10_bias(p) == pytest.approx(
        p.n0 / p.n * B.lemma1_smoothing_bias(p.eta / math.sqrt(p.d), p.L, p.d), rel=1e-12)


def test_lemma13_readings_differ_by_one_power_of_eta():
    p = _p(eta=0.03)
    ratio = B.lemma13_bias_term(p, 1.0, "proof") / B.lemma13_bias_term(p, 1.0, "definition")
    assert ratio == pytest.approx(0.03, rel=1e-12)
    with pytest.raises(ValueError):
        B.lemma13_bias_term(p, 1.0, "neither")


def test_lemma11_and_17_share_noise_terms_and_differ_in_the_gradient_term():
    p = _p()
    assert B.lemma11_gamma_next(p, 1.0, 0.0) == pytest.approx(B.lemma17_gamma_next(p, 1.0, 0.0))
    # Lemma 3 at f-gap g vs Lemma 16 at grad-norm 2 L g: constants as printed differ
    assert B.lemma3_mg(p, 0.5, 0.0) == pytest.approx(B.lemma16_mg(p, 0.5, 0.0))


def test_step_size_caps_and_theorem_conditions():
    cap11 = 1 / (14 * 2.0 * math.sqrt(11))
    assert B.violated_conditions(_p(eta=cap11), "lemma11") == []
    msgs = B.violated_conditions(_p(eta=1.01 * cap11), "lemma11")
    assert len(msgs) == 1 and "Lemma 11" in msgs[0]
    assert B.violated_conditions(_p(eta=1.01 * cap11), "lemma17") == []
    assert B.violated_conditions(_p(nu=0.5), "lemma3")  # nu not eta/c
    assert B.violated_conditions(_p(ell=0.0), "lemma11")
    T = 10**9
    eta = B.theorem1_convex_eta(8, T, 0.5)
    assert B.violated_conditions(_p(T=T, eta=eta), "theorem1-convex") == []
    assert any("T/log T" in m for m in B.violated_conditions(_p(T=100, eta=B.theorem1_convex_eta(
        8, 100, 0.5)), "theorem1-convex"))
    eta_nc = B.theorem1_nonconvex_eta(8, 7, T)
    assert B.violated_conditions(_p(T=T, eta=eta_nc), "theorem1-nonconvex") == []


def test_without_zo_nodes_the_convex_bound_loses_its_d_dependence():
    # Claim 2 at the level of the formula: with n0 = 0 only d-free FO terms remain.
    # (The non-convex form keeps d through its step size eta = n/sqrt(dT), so it is not d-free.)
    vals = [B.theorem1_convex_bound(_p(n0=0, d=d, sum_s_sq0=0.0)) for d in (2, 20, 200)]
    assert vals[0] == pytest.approx(vals[1]) == pytest.approx(vals[2])
    assert B.eq1_noise(_p(n0=0, d=50, sum_s_sq0=0.0))["bias"] == 0.0


def test_theorem_terms_scale_as_stated():
    p = _p()
    t1, t2 = B.theorem1_nonconvex_bound(p.with_(T=100)), B.theorem1_nonconvex_bound(p.with_(T=400))
    assert t2 == pytest.approx(t1 / 2, rel=1e-12)
    assert B.theorem1_convex_bound(p, C=3.0) == pytest.approx(3 * B.theorem1_convex_bound(p))
