"""Pin every bound function in ``verification.bounds`` to the formula printed in docs/theory.md.

``tests/test_bounds.py`` compares bound functions with each other, so a changed constant
(``6(d+4)``, ``24(2d+9)``, ``4/n``, ...) in one lemma would pass it. Here each formula of
docs/theory.md sections 3-6 is RETYPED from the text as a plain lambda over raw numbers (nothing
is imported from ``bounds`` except the functions under test and the ``BoundParams`` record)
and compared with the bound function on a seeded grid of parameter records, edge cases
``n0 = 0`` and ``n1 = 0`` included. The comparison is deterministic arithmetic, so the
tolerance is rounding only: relative ``1e-12`` of the summed term magnitudes (a few thousand
ulps; a changed constant moves the value by far more, see
``test_tolerance_detects_a_changed_constant``).
Term-by-term checks isolate each term (all other inputs zero) and double each linear input.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from hdo_theory.verification import bounds as B
from hdo_theory.verification.bounds import BoundParams

RTOL = 1e-12
sqrt, log = math.sqrt, math.log

# ---------------------------------------------------------------------------------------------
# Parameter records: a seeded grid. Raw fields only; derived quantities are re-derived below.
# ---------------------------------------------------------------------------------------------

_FIELDS = ("n0", "n1", "d", "L", "eta", "ell", "nu", "c", "varsigma0_sq", "varsigma1_sq",
           "sum_s_sq0", "sum_s_sq1", "T", "f0_gap", "dist0_sq")
_SCALARS = ("gamma", "f_gap", "g2", "mg", "Bb", "s2")


def _loguni(rng, lo, hi):
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _maybe_zero(rng, lo, hi, p_zero=0.15):
    return 0.0 if rng.random() < p_zero else _loguni(rng, lo, hi)


def _random_record(rng, n0=None, n1=None):
    r = dict(
        n0=int(rng.integers(0, 300)) if n0 is None else n0,
        n1=int(rng.integers(0, 300)) if n1 is None else n1,
        d=int(rng.choice([1, 2, 3, 7, 10, 50, 784, 5000])) if rng.random() < 0.5
        else int(rng.integers(1, 3000)),
        L=_loguni(rng, 1e-3, 1e3),
        eta=_loguni(rng, 1e-6, 1.0),
        ell=_loguni(rng, 1e-4, 10.0),
        nu=None if rng.random() < 0.5 else _loguni(rng, 1e-7, 1.0),
        c=None if rng.random() < 0.5 else _loguni(rng, 0.1, 100.0),
        varsigma0_sq=_maybe_zero(rng, 1e-4, 1e3),
        varsigma1_sq=_maybe_zero(rng, 1e-4, 1e3),
        sum_s_sq0=_maybe_zero(rng, 1e-4, 1e4),
        sum_s_sq1=_maybe_zero(rng, 1e-4, 1e4),
        T=int(rng.choice([2, 3, 10])) if rng.random() < 0.2 else int(_loguni(rng, 2, 1e9)),
        f0_gap=_maybe_zero(rng, 1e-4, 1e3),
        dist0_sq=_maybe_zero(rng, 1e-4, 1e3),
        gamma=_maybe_zero(rng, 1e-8, 1e3),
        f_gap=_maybe_zero(rng, 1e-6, 1e3),
        g2=_maybe_zero(rng, 1e-6, 1e3),
        mg=_maybe_zero(rng, 1e-6, 1e4),
        Bb=_maybe_zero(rng, 1e-6, 1e2),
        s2=_maybe_zero(rng, 1e-6, 1e3),
    )
    if r["n0"] + r["n1"] < 2:  # n >= 2 agents (docs/theory.md sec. 1)
        r["n1"] += 2
    return r


def _records():
    rng = np.random.default_rng(20250807)
    recs = [_random_record(rng) for _ in range(300)]
    # Edge cases: no ZO nodes, no FO nodes, the smallest populations.
    for n0, n1 in [(0, 2), (0, 3), (0, 257), (2, 0), (3, 0), (256, 0), (1, 1), (1, 2), (2, 1)]:
        recs += [_random_record(rng, n0=n0, n1=n1) for _ in range(8)]
    return recs


RECORDS = _records()


def _params(r, **kw) -> BoundParams:
    return BoundParams(**{k: v for k, v in {**r, **kw}.items() if k in _FIELDS})


# Derived quantities, retyped from docs/theory.md (not taken from BoundParams' properties).
def _n(r):
    return r["n0"] + r["n1"]


def _c(r):  # Theorem 1: nu = eta / c with c = sqrt(d)
    return r["c"] if r["c"] is not None else sqrt(r["d"])


def _nu(r):
    return r["nu"] if r["nu"] is not None else r["eta"] / _c(r)


def _sig0(r):  # Definition 1: sigma_k^2 = (1/n_k) sum_{N_k} s_i^2 (no nodes: no variance)
    return r["sum_s_sq0"] / r["n0"] if r["n0"] else 0.0


def _sig1(r):
    return r["sum_s_sq1"] / r["n1"] if r["n1"] else 0.0


def _close(got, want, scale=0.0, what=""):
    tol = RTOL * max(abs(got), abs(want), scale)
    assert abs(got - want) <= tol, f"{what}: bounds gives {got!r}, docs/theory.md gives {want!r}"


# ---------------------------------------------------------------------------------------------
# Printed formulas, retyped. Each entry: (function under test applied to a record,
# printed formula applied to the same record, scale for the tolerance = sum of |terms|).
# ---------------------------------------------------------------------------------------------

# Lemma 1 (docs/theory.md#lemma-1)
L1_1 = lambda d, k: (d + k) ** (k / 2)
L1_3 = lambda nu, L, d: nu**2 * L * d / 2
L1_4 = lambda nu, L, d: (nu / 2) * L * (d + 3) ** (3 / 2)
L1_5 = lambda nu, L, d, g2: (nu**2 / 2) * L**2 * (d + 6) ** 3 + 2 * (d + 4) * g2
SHARPER = lambda nu, L, d: nu * L * sqrt(d)
SPHERE = lambda nu, L: L * nu
# Lemma 5
L5_6 = lambda nu, L, d, g2, s2: (1 / 2) * nu**2 * L**2 * (d + 6) ** 3 + 2 * (d + 4) * (g2 + s2)
L5_7 = lambda nu, L, d, g2, s2: (3 / 2) * nu**2 * L**2 * (d + 6) ** 3 + 4 * (d + 4) * (g2 + s2)
# Exact facts (sec. 3)
PAIR = lambda n: 1 - 1 / (n - 1)
MATCH = lambda n: 1 - n / (2 * (n - 1))


# Lemma chain (sec. 3), as lists of terms so the tolerance scale and isolation are exact.
def L2_terms(n, eta, gamma, mg):
    return [(1 - 1 / (2 * n)) * gamma, (4 / n) * eta**2 * mg]


def L3_terms(n0, n1, d, L, eta, c, vs0, vs1, S0, S1, gamma, fgap):
    n = n0 + n1
    return {
        "gamma": 6 * (d + 4) * L**2 * gamma,
        "varsigma0_sq": 6 * (d + 4) * n0 * vs0 / n,
        "varsigma1_sq": 3 * n1 * vs1 / n,
        "f_gap": 6 * (2 * d + 9) * L * fgap,
        "sum_s_sq0": 2 * (d + 4) * S0 / n,
        "sum_s_sq1": S1 / n,
        "eta": eta**2 * n0 * L**2 * (d + 6) ** 3 / (2 * n * c**2),
    }


def L16_terms(n0, n1, d, L, eta, c, vs0, vs1, S0, S1, gamma, g2):
    n = n0 + n1
    t = L3_terms(n0, n1, d, L, eta, c, vs0, vs1, S0, S1, gamma, 0.0)
    del t["f_gap"]
    t["g2"] = (6 * (d + 4) * n0 + 3 * n1) / n * g2
    return t


L10 = lambda eta, n0, n1, L, d, c: eta * n0 * L * (d + 3) ** (3 / 2) / (2 * c * (n0 + n1))


def L11_terms(n0, n1, d, L, eta, c, vs0, vs1, S0, S1, gamma, fgap):
    n = n0 + n1
    return {
        "gamma": (1 - 1 / (4 * n)) * gamma,
        "varsigma0_sq": 12 * eta**2 * (2 * (d + 4) * n0 * vs0) / n**2,
        "varsigma1_sq": 12 * eta**2 * (n1 * vs1) / n**2,
        "f_gap": 24 * eta**2 * (2 * d + 9) * L * fgap / n,
        "sum_s_sq0": 4 * eta**2 * (2 * (d + 4) * S0) / n**2,
        "sum_s_sq1": 4 * eta**2 * S1 / n**2,
        "eta": 2 * eta**4 * n0 * L**2 * (d + 6) ** 3 / (n**2 * c**2),
    }


def L17_terms(n0, n1, d, L, eta, c, vs0, vs1, S0, S1, gamma, g2):
    n = n0 + n1
    t = L11_terms(n0, n1, d, L, eta, c, vs0, vs1, S0, S1, gamma, 0.0)
    del t["f_gap"]
    t["g2"] = 4 * eta**2 * (6 * (d + 4) * n0 + 3 * n1) * g2 / n**2
    return t


L14 = lambda eta, n, mg: 4 * eta**2 * mg / n**2
L19_terms = lambda eta, n, L, g2, Bb, gamma: [-(eta / n) * g2, (2 * eta / n) * Bb**2,
                                             (2 * L**2 * eta / n) * gamma]
L13_PROOF = lambda eta, n, Bb: (2 * eta**2 / n) * Bb
L13_DEF = lambda eta, n, Bb: (2 * eta / n) * Bb

# Eq. 1 and Theorem 1 (sec. 4)
EQ1 = lambda eta, n0, n1, d, L, vs0, vs1, sg0, sg1, k: {
    "heterogeneity": eta * (d * n0 * vs0 + n1 * vs1) / (n0 + n1) ** 2,
    "variance": eta * (d * n0 * sg0 + n1 * sg1) / (n0 + n1) ** 2,
    "bias": eta**2 * (L * d * n0 / (n0 + n1)) ** k,
}
TH_CVX_ETA = lambda n, T, ell: 4 * n * log(T) / (T * ell)
TH_CVX_W = lambda eta, ell, n: (1 - eta * ell / (2 * n)) ** (-1)
TH_CVX = lambda L, D0, T, d, n0, n1, vs0, vs1, sg0, sg1, ell: {
    "init": L * D0 / (T * log(T)),
    "heterogeneity": log(T) * (d * n0 * vs0 + n1 * vs1) / (T * ell * (n0 + n1)),
    "variance": log(T) * (d * n0 * sg0 + n1 * sg1) / (T * ell * (n0 + n1)),
    "bias": log(T) * d * n0 / (T * ell * (n0 + n1)),
}
TH_NC_ETA = lambda n, d, T: n / sqrt(d * T)
TH_NC = lambda F0, L, d, n0, n1, vs0, vs1, sg0, sg1, T: {
    "init": F0 * sqrt(d / T),
    "heterogeneity": L * (d * n0 * vs0 + n1 * vs1) / ((n0 + n1) * d) * sqrt(d / T),
    "variance": L * (d * n0 * sg0 + n1 * sg1) / ((n0 + n1) * d) * sqrt(d / T),
    "bias": L**2 * sqrt(n0 / (n0 + n1)) * sqrt(d / T),
}
# Admissibility (Lemma 11 / 17 caps, Theorem 1 T conditions)
CAP11 = lambda L, d: 1 / (14 * L * sqrt(d + 4))
CAP17 = lambda L, d: 1 / (10 * L * sqrt(d + 4))
T_NEED_CVX = lambda n, d, L, ell: n * (d + n) * (L + 1) * (1 / ell + 1) / ell
T_NEED_NC = lambda n, n0, n1, d, L: max(L**2 * (d * n0 + n1) ** 2 / (d * n**2), n**2 * L**2,
                                        n * n0**3 * d)


def _lemma_args(r, last):
    return (r["n0"], r["n1"], r["d"], r["L"], r["eta"], _c(r), r["varsigma0_sq"],
            r["varsigma1_sq"], r["sum_s_sq0"], r["sum_s_sq1"], r["gamma"], r[last])


# name -> (bound function on a record, list of printed terms on the record)
SCALAR_CASES = {
    "lemma1 item1 (k=2..6)": (
        lambda r: [B.gaussian_norm_moment_bound(r["d"], k) for k in (2, 3, 4, 5, 6)],
        lambda r: [[L1_1(r["d"], k)] for k in (2, 3, 4, 5, 6)]),
    "lemma1 item3": (lambda r: B.lemma1_smoothing_value_gap(_nu(r), r["L"], r["d"]),
                     lambda r: [L1_3(_nu(r), r["L"], r["d"])]),
    "lemma1 item4": (lambda r: B.lemma1_smoothing_bias(_nu(r), r["L"], r["d"]),
                     lambda r: [L1_4(_nu(r), r["L"], r["d"])]),
    "lemma1 item5": (lambda r: B.lemma1_forward_second_moment(_nu(r), r["L"], r["d"], r["g2"]),
                     lambda r: [L1_5(_nu(r), r["L"], r["d"], 0.0),
                                L1_5(0.0, r["L"], r["d"], r["g2"])]),
    "sharper bias": (lambda r: B.sharper_smoothing_bias(_nu(r), r["L"], r["d"]),
                     lambda r: [SHARPER(_nu(r), r["L"], r["d"])]),
    "sphere bias": (lambda r: B.sphere_smoothing_bias(_nu(r), r["L"]),
                    lambda r: [SPHERE(_nu(r), r["L"])]),
    "lemma5 (6)": (lambda r: B.lemma5_second_moment(_nu(r), r["L"], r["d"], r["g2"], r["s2"]),
                   lambda r: [L5_6(_nu(r), r["L"], r["d"], 0.0, 0.0),
                              L5_6(0.0, r["L"], r["d"], r["g2"], r["s2"])]),
    "lemma5 (7)": (lambda r: B.lemma5_centered_moment(_nu(r), r["L"], r["d"], r["g2"], r["s2"]),
                   lambda r: [L5_7(_nu(r), r["L"], r["d"], 0.0, 0.0),
                              L5_7(0.0, r["L"], r["d"], r["g2"], r["s2"])]),
    "exact pairwise contraction": (lambda r: B.exact_pairwise_contraction(_n(r) + 1),
                                   lambda r: [PAIR(_n(r) + 1)]),
    "exact matching contraction": (lambda r: B.exact_matching_contraction(2 * _n(r)),
                                   lambda r: [MATCH(2 * _n(r))]),
    "lemma2": (lambda r: B.lemma2_gamma_next(_params(r), r["gamma"], r["mg"]),
               lambda r: L2_terms(_n(r), r["eta"], r["gamma"], r["mg"])),
    "lemma3": (lambda r: B.lemma3_mg(_params(r), r["gamma"], r["f_gap"]),
               lambda r: list(L3_terms(*_lemma_args(r, "f_gap")).values())),
    "lemma16": (lambda r: B.lemma16_mg(_params(r), r["gamma"], r["g2"]),
                lambda r: list(L16_terms(*_lemma_args(r, "g2")).values())),
    "lemma10": (lambda r: B.lemma10_bias(_params(r)),
                lambda r: [L10(r["eta"], r["n0"], r["n1"], r["L"], r["d"], _c(r))]),
    # Lemma 10 at the radius used: B = (1/n) sum_{N0} b_i with b_i = Lemma 1 item 4 at nu.
    "lemma10 at nu": (lambda r: B.lemma10_bias_at_nu(_params(r)),
                      lambda r: [r["n0"] / _n(r) * L1_4(_nu(r), r["L"], r["d"])]),
    "lemma11": (lambda r: B.lemma11_gamma_next(_params(r), r["gamma"], r["f_gap"]),
                lambda r: list(L11_terms(*_lemma_args(r, "f_gap")).values())),
    "lemma17": (lambda r: B.lemma17_gamma_next(_params(r), r["gamma"], r["g2"]),
                lambda r: list(L17_terms(*_lemma_args(r, "g2")).values())),
    # Fixed point of g = (1 - 1/(4n)) g + a is g = 4 n a (a = Lemma 11's additive terms).
    "lemma11 fixed point": (
        lambda r: B.lemma11_fixed_point(_params(r), r["f_gap"]),
        lambda r: [4 * _n(r) * t for k, t in
                   L11_terms(*_lemma_args(r, "f_gap")).items() if k != "gamma"]),
    "lemma14": (lambda r: B.lemma14_mean_step(_params(r), r["mg"]),
                lambda r: [L14(r["eta"], _n(r), r["mg"])]),
    "lemma19": (lambda r: B.lemma19_inner(_params(r), r["g2"], r["Bb"], r["gamma"]),
                lambda r: L19_terms(r["eta"], _n(r), r["L"], r["g2"], r["Bb"], r["gamma"])),
    "lemma13 proof reading": (lambda r: B.lemma13_bias_term(_params(r), r["Bb"], "proof"),
                              lambda r: [L13_PROOF(r["eta"], _n(r), r["Bb"])]),
    "lemma13 definition reading": (
        lambda r: B.lemma13_bias_term(_params(r), r["Bb"], "definition"),
        lambda r: [L13_DEF(r["eta"], _n(r), r["Bb"])]),
    "theorem1 convex eta": (lambda r: B.theorem1_convex_eta(_n(r), r["T"], r["ell"]),
                            lambda r: [TH_CVX_ETA(_n(r), r["T"], r["ell"])]),
    # The weight base is only meaningful for eta ell < 2n; use Theorem 1's own eta.
    "theorem1 convex weight base": (
        lambda r: B.theorem1_convex_weight_ratio(TH_CVX_ETA(_n(r), max(r["T"], 10), r["ell"]),
                                                 r["ell"], _n(r)),
        lambda r: [TH_CVX_W(TH_CVX_ETA(_n(r), max(r["T"], 10), r["ell"]), r["ell"], _n(r))]),
    "theorem1 nonconvex eta": (lambda r: B.theorem1_nonconvex_eta(_n(r), r["d"], r["T"]),
                               lambda r: [TH_NC_ETA(_n(r), r["d"], r["T"])]),
}


def _cvx_terms(r):
    return TH_CVX(r["L"], r["dist0_sq"], r["T"], r["d"], r["n0"], r["n1"], r["varsigma0_sq"],
                  r["varsigma1_sq"], _sig0(r), _sig1(r), r["ell"])


def _nc_terms(r):
    return TH_NC(r["f0_gap"], r["L"], r["d"], r["n0"], r["n1"], r["varsigma0_sq"],
                 r["varsigma1_sq"], _sig0(r), _sig1(r), r["T"])


def _eq1_terms(r, k):
    return EQ1(r["eta"], r["n0"], r["n1"], r["d"], r["L"], r["varsigma0_sq"], r["varsigma1_sq"],
               _sig0(r), _sig1(r), k)


# ---------------------------------------------------------------------------------------------
# Whole-formula comparisons
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SCALAR_CASES))
def test_bound_equals_printed_formula(name):
    got_fn, terms_fn = SCALAR_CASES[name]
    for i, r in enumerate(RECORDS):
        got, terms = got_fn(r), terms_fn(r)
        if isinstance(got, list):  # several k at once (Lemma 1 item 1)
            for g, t in zip(got, terms, strict=True):
                _close(g, sum(t), what=f"{name}, record {i}")
            continue
        scale = sum(abs(t) for t in terms)
        _close(got, math.fsum(terms), scale, what=f"{name}, record {i}: {r}")


@pytest.mark.parametrize("k", [1, 2])
def test_eq1_noise_equals_printed(k):
    for i, r in enumerate(RECORDS):
        got, want = B.eq1_noise(_params(r), k=k), _eq1_terms(r, k)
        assert set(got) == set(want)
        for key in want:
            _close(got[key], want[key], what=f"Eq. 1 {key} (k={k}), record {i}")


def test_eq1_default_is_the_convex_k1():
    for r in RECORDS[:50]:
        assert B.eq1_noise(_params(r)) == B.eq1_noise(_params(r), k=1)


@pytest.mark.parametrize("C", [1.0, 0.37, 12.5])
def test_theorem1_convex_terms_and_bound_equal_printed(C):
    for i, r in enumerate(RECORDS):
        p, want = _params(r), _cvx_terms(r)
        got = B.theorem1_convex_terms(p)
        assert set(got) == set(want)
        for key in want:
            _close(got[key], want[key], what=f"Theorem 1 convex {key}, record {i}")
        _close(B.theorem1_convex_bound(p, C=C), C * math.fsum(want.values()),
               what=f"Theorem 1 convex bound, record {i}")


@pytest.mark.parametrize("C", [1.0, 0.37, 12.5])
def test_theorem1_nonconvex_terms_and_bound_equal_printed(C):
    for i, r in enumerate(RECORDS):
        p, want = _params(r), _nc_terms(r)
        got = B.theorem1_nonconvex_terms(p)
        assert set(got) == set(want)
        for key in want:
            _close(got[key], want[key], what=f"Theorem 1 non-convex {key}, record {i}")
        _close(B.theorem1_nonconvex_bound(p, C=C), C * math.fsum(want.values()),
               what=f"Theorem 1 non-convex bound, record {i}")


def test_lemma11_fixed_point_is_a_fixed_point_of_the_recursion():
    # Metamorphic: feeding the stationary level back in returns it.
    for i, r in enumerate(RECORDS):
        p = _params(r)
        g = B.lemma11_fixed_point(p, r["f_gap"])
        _close(B.lemma11_gamma_next(p, g, r["f_gap"]), g, what=f"record {i}")


# ---------------------------------------------------------------------------------------------
# Term-by-term: isolate each term, and double each linear input
# ---------------------------------------------------------------------------------------------

_LINEAR_INPUTS = ("gamma", "varsigma0_sq", "varsigma1_sq", "sum_s_sq0", "sum_s_sq1")
_CHAIN = {
    # name: (bound(record), printed terms(record), the lemma's last scalar)
    "lemma3": (lambda r: B.lemma3_mg(_params(r), r["gamma"], r["f_gap"]),
               lambda r: L3_terms(*_lemma_args(r, "f_gap")), "f_gap"),
    "lemma16": (lambda r: B.lemma16_mg(_params(r), r["gamma"], r["g2"]),
                lambda r: L16_terms(*_lemma_args(r, "g2")), "g2"),
    "lemma11": (lambda r: B.lemma11_gamma_next(_params(r), r["gamma"], r["f_gap"]),
                lambda r: L11_terms(*_lemma_args(r, "f_gap")), "f_gap"),
    "lemma17": (lambda r: B.lemma17_gamma_next(_params(r), r["gamma"], r["g2"]),
                lambda r: L17_terms(*_lemma_args(r, "g2")), "g2"),
}
_ZERO_ALL = dict(gamma=0.0, f_gap=0.0, g2=0.0, varsigma0_sq=0.0, varsigma1_sq=0.0,
                 sum_s_sq0=0.0, sum_s_sq1=0.0)


@pytest.mark.parametrize("name", list(_CHAIN))
def test_lemma_chain_each_term_isolated(name):
    """With every other input zero the bound equals that single printed term."""
    bound, terms, last = _CHAIN[name]
    for i, r in enumerate(RECORDS):
        for key in (*_LINEAR_INPUTS, last, "eta"):
            iso = {**r, **_ZERO_ALL}
            if key != "eta":
                # The eta^2 n0 (d+6)^3 / c^2 term cannot be zeroed without zeroing eta (which
                # Lemmas 11/17 need) or n0; a large c makes it negligible, and the printed
                # value of it is subtracted so a structurally zero term compares to 0.
                iso[key] = r[key] if r[key] else 1.7
                iso["c"] = 1e60
            t = terms(iso)
            got = bound(iso)
            if key != "eta":
                got -= t["eta"]
            _close(got, t[key], scale=abs(bound(iso)), what=f"{name} term {key}, record {i}")


@pytest.mark.parametrize("name", list(_CHAIN))
def test_lemma_chain_doubling_each_input_adds_its_term(name):
    """E.g. doubling varsigma0_sq raises Lemma 3 by exactly 6(d+4) n0 varsigma0^2 / n."""
    bound, terms, last = _CHAIN[name]
    for i, r in enumerate(RECORDS):
        base = bound(r)
        for key in (*_LINEAR_INPUTS, last):
            doubled = bound({**r, key: 2 * r[key]})
            term = terms(r)[key]
            _close(doubled - base, term, scale=abs(doubled) + abs(base),
                   what=f"{name} doubling {key}, record {i}")


def test_lemma3_doubling_varsigma0_exact_example():
    # The reviewer's example, written out in full on one hand-readable record.
    r = dict(RECORDS[0], n0=7, n1=5, d=10, varsigma0_sq=0.3)
    p = _params(r)
    diff = B.lemma3_mg(p.with_(varsigma0_sq=0.6), 1.0, 2.0) - B.lemma3_mg(p, 1.0, 2.0)
    assert diff == pytest.approx(6 * (10 + 4) * 7 * 0.3 / 12, rel=1e-9)


def test_tolerance_detects_a_changed_constant():
    """The comparison can fail: a 1-in-10^6 change of a printed constant is caught."""
    r = {**RECORDS[1], **_ZERO_ALL, "n0": 5, "varsigma0_sq": 1.0}
    wrong = L3_terms(*_lemma_args(r, "f_gap"))["varsigma0_sq"] * (1 + 1e-6)
    with pytest.raises(AssertionError):
        _close(B.lemma3_mg(_params(r), 0.0, 0.0) - B.lemma3_mg(_params(r, varsigma0_sq=0.0),
                                                               0.0, 0.0), wrong)


# ---------------------------------------------------------------------------------------------
# Admissibility: step-size caps and T conditions as printed
# ---------------------------------------------------------------------------------------------

_EPS = 1e-6  # far outside violated_conditions' rtol (1e-9), far inside any changed constant


def _admissible_base(r):
    return {**r, "nu": None}


@pytest.mark.parametrize("statement, cap, tag", [
    ("lemma11", CAP11, "Lemma 11"), ("lemma17", CAP17, "Lemma 17")])
def test_step_size_cap_is_the_printed_one(statement, cap, tag):
    for i, r in enumerate(RECORDS):
        c = cap(r["L"], r["d"])
        below = _params(_admissible_base(r), eta=c * (1 - _EPS))
        above = _params(_admissible_base(r), eta=c * (1 + _EPS))
        assert not any(tag in m for m in B.violated_conditions(below, statement)), (i, r)
        assert any(tag in m for m in B.violated_conditions(above, statement)), (i, r)


@pytest.mark.parametrize("statement, cap, tag", [
    ("theorem1-convex", CAP11, "Lemma 11"), ("theorem1-nonconvex", CAP17, "Lemma 17")])
def test_theorem_statements_carry_their_lemmas_cap(statement, cap, tag):
    for i, r in enumerate(RECORDS[:100]):
        c = cap(r["L"], r["d"])
        assert any(tag in m for m in B.violated_conditions(
            _params(_admissible_base(r), eta=c * (1 + _EPS)), statement)), i
        assert not any(tag in m for m in B.violated_conditions(
            _params(_admissible_base(r), eta=c * (1 - _EPS)), statement)), i


def test_lemmas_without_a_cap_do_not_flag_large_steps():
    for r in RECORDS[:100]:
        p = _params(_admissible_base(r), eta=10 * CAP11(r["L"], r["d"]))
        for statement in ("lemma2", "lemma3", "lemma16", "lemma10", "lemma14", "lemma19"):
            assert not any("sqrt(d+4)" in m for m in B.violated_conditions(p, statement))


def test_theorem1_convex_T_condition_is_the_printed_one():
    """T / log T = Omega(n (d+n)(L+1)(1/ell+1)/ell): flagged iff below omega * need."""
    for i, r in enumerate(RECORDS):
        T = max(r["T"], 3)
        need = T_NEED_CVX(_n(r), r["d"], r["L"], r["ell"])
        p = _params(_admissible_base(r), T=T, eta=TH_CVX_ETA(_n(r), T, r["ell"]))
        ratio = (T / log(T)) / need
        flagged = lambda om, p=p: any("T/log T" in m for m in B.violated_conditions(
            p, "theorem1-convex", omega_const=om))
        assert flagged(ratio * (1 + _EPS)), (i, r)
        assert not flagged(ratio * (1 - _EPS)), (i, r)


def test_theorem1_nonconvex_T_condition_is_the_printed_one():
    """T = Omega(max{L^2 (d n0 + n1)^2 / (d n^2), n^2 L^2, n n0^3 d})."""
    for i, r in enumerate(RECORDS):
        n = _n(r)
        need = T_NEED_NC(n, r["n0"], r["n1"], r["d"], r["L"])
        p = _params(_admissible_base(r), eta=TH_NC_ETA(n, r["d"], r["T"]), c=None)
        ratio = r["T"] / need
        flagged = lambda om, p=p: any(m.startswith("T = ") for m in B.violated_conditions(
            p, "theorem1-nonconvex", omega_const=om))
        assert flagged(ratio * (1 + _EPS)), (i, r)
        assert not flagged(ratio * (1 - _EPS)), (i, r)


@pytest.mark.parametrize("statement, eta_fn", [
    ("theorem1-convex", lambda r: TH_CVX_ETA(_n(r), max(r["T"], 2), r["ell"])),
    ("theorem1-nonconvex", lambda r: TH_NC_ETA(_n(r), r["d"], r["T"]))])
def test_theorem_step_size_must_be_the_printed_one(statement, eta_fn):
    for i, r in enumerate(RECORDS[:100]):
        want = eta_fn(r)
        ok = _params(_admissible_base(r), T=max(r["T"], 2), eta=want)
        off = _params(_admissible_base(r), T=max(r["T"], 2), eta=want * 1.01)
        assert not any("is not" in m for m in B.violated_conditions(ok, statement)), i
        assert any("is not" in m for m in B.violated_conditions(off, statement)), i


def test_strong_convexity_required_exactly_by_the_convex_statements():
    for r in RECORDS[:50]:
        p = _params(_admissible_base(r), ell=0.0)
        for st in ("lemma3", "lemma11", "theorem1-convex"):
            assert any("ell" in m for m in B.violated_conditions(p, st)), st
        for st in ("lemma16", "lemma17", "theorem1-nonconvex", "lemma2", "lemma14", "lemma19"):
            assert not any("strongly convex" in m for m in B.violated_conditions(p, st)), st


def test_theorem_statements_require_c_equal_sqrt_d():
    r = dict(RECORDS[0], n0=2, n1=2, d=16, L=1.0, ell=1.0, nu=None, c=8.0)  # sqrt(16) = 4
    bad = []
    for st, eta_fn, T in (("theorem1-convex", lambda T: TH_CVX_ETA(4, T, 1.0), 10**7),
                          ("theorem1-nonconvex", lambda T: TH_NC_ETA(4, 16, T), 10**7)):
        p = _params(r, T=T, eta=eta_fn(T))
        assert B.violated_conditions(p.with_(c=None), st) == [], st  # admissible with c=sqrt d
        if not B.violated_conditions(p, st):
            bad.append(st)
    assert not bad, f"c = 8 != sqrt(d) = 4 accepted for {bad}"
