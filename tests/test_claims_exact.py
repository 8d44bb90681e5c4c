"""Exact records (method "exact") and the exact twins of the process claims.

* The decision: an exact value decides an inequality without an interval (never
  inconclusive), a halved bound flips it to violated, and exact records are not counted in
  the Bonferroni ``m``.
* The wiring of the ``<id>.exact`` claims: every record is exact and decided on its value,
  and the values are recomputed here by independent routes: the literal dense-moment
  reference of ``tests/_exact_literal.py`` (its own derivation, a loop over every pair) for
  Lemma 2/3/11 over a short run and Theorem 1's error, and closed forms for Lemmas 14 and 19.
  Agreement is to rounding (relative 1e-9), not a statistical tolerance: both sides are exact.
* The JSON and the reports render exact records (no interval, ``(exact)``, method exact).

Agreement of the engine with Monte Carlo is tested with the engine (tests of hdo_theory.exact).
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from _exact_literal import literal_expected

from hdo_theory.errors import HDOInputError
from hdo_theory.objectives import explicit_quadratic_parts
from hdo_theory.verification import bounds as B
from hdo_theory.verification import report
from hdo_theory.verification import stats as S
from hdo_theory.verification.claims import REGISTRY, Context, Record
from hdo_theory.verification.claims import _common as C
from hdo_theory.verification.claims import exact_claims as E
from hdo_theory.verification.runner import ClaimRun, VerifyResult, decide_all

RTOL = 1e-9  # two exact computations of one expectation: rounding only
#: the claims' own grids, kept before the short_runs fixture shortens them
QUICK_GRIDS = {"theorem1_grid": E.theorem1_grid, "_claim1_grid": E._claim1_grid}

TWINS = ("lemma2.exact", "lemma3.exact", "lemma11.exact", "lemma14.exact", "lemma19.exact",
         "theorem1.convex.exact", "claim1.exact", "claim3.exact")


# ---------------------------------------------------------------------------------------------
# The decision on an exact value
# ---------------------------------------------------------------------------------------------


def _rec(value, bound, relation="le", margin=None):
    return Record("t", "t", "t", S.exact(value), bound, "b", relation=relation, margin=margin)


def test_exact_value_decides_without_interval():
    recs = [_rec(1.0, 2.0), _rec(2.0, 1.0), _rec(1.0, 1.0), _rec(1.0 + 1e-12, 1.0),
            _rec(2.0, 1.0, "ge"), _rec(1.0, 2.0, "ge")]
    decide_all(recs, 0.05)
    assert [r.decision.verdict for r in recs] == ["holds", "violated", "holds", "holds",
                                                  "holds", "violated"]
    for r in recs:
        d = r.as_dict()
        assert d["method"] == "exact" and d["ci"] is None and d["ratio_ci"] is None
        assert d["ratio"] == r.estimate.value / r.bound  # the exact tightness ratio
        assert "no sampling error" in d["reason"]


def test_exact_records_are_not_counted_in_bonferroni():
    mc = Record("t", "t", "t", S.Estimate(0.0, 1.0, 10, 11), 5.0, "b")
    exact = [_rec(1.0, 2.0) for _ in range(9)]
    margin = Record("t", "t", "t", S.exact(1.0), 2.0, "b", margin=S.exact(-1.0))
    # Holm over the counted records only: the same level as mc alone (m = 1: after its "holds"
    # null is rejected, the other null is tested at alpha, intervals shown at 1 - 2 alpha)
    assert decide_all([mc, *exact, margin], 0.05) == pytest.approx(decide_all([mc], 0.05))
    assert decide_all([mc], 0.05) == pytest.approx(0.1)
    assert margin.decision.verdict == "holds" and margin.as_dict()["margin_ci"] is None
    assert decide_all([mc, mc], 0.05) == pytest.approx(0.05)  # m = 2: a* = alpha / 2


def test_equality_on_exact_values_keeps_the_rounding_rule():
    recs = [_rec(1.0, 1.0 + 1e-12, "eq"), _rec(1.0, 1.001, "eq")]
    decide_all(recs, 0.05)
    assert [r.decision.verdict for r in recs] == ["holds", "violated"]


# ---------------------------------------------------------------------------------------------
# The twins: every record exact; a halved bound flips it
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_runs():
    """The twins at quick scale, with the lemma runs shortened to T = 60 (every step checked)
    and Theorem 1's curve cut to T = 10^2 .. 10^3 (outside the theorem's T, still exact)."""
    mp = pytest.MonkeyPatch()
    mp.setattr(E, "_lemma_T", lambda ctx: 60)
    mp.setattr(E, "theorem1_grid", lambda ctx: [int(round(10 ** (k / 4))) for k in range(8, 13)])
    mp.setattr(E, "_claim1_grid", lambda ctx: ((4, 8), 200))
    mp.setattr(E, "_claim3_grid", lambda ctx: (((8, 2),), (1000, 4000)))
    ctx = Context(scale="quick", seed=0)
    runs = {cid: REGISTRY[cid].run(ctx) for cid in TWINS}
    decide_all([r for v in runs.values() for r in v], 0.05)
    yield ctx, runs
    mp.undo()


def test_every_twin_record_is_exact_and_decided_on_its_value(short_runs):
    _, runs = short_runs
    for cid in TWINS:
        assert runs[cid], cid
        for r in runs[cid]:
            assert r.claim == cid and r.exact and r.estimate.method == "exact"
            assert r.decision.verdict in ("holds", "violated", "outside assumptions")
            assert math.isfinite(r.estimate.value) and math.isfinite(r.bound)


def test_a_halved_bound_flips_the_verdict(short_runs):
    _, runs = short_runs
    recs = [r for v in runs.values() for r in v if r.relation in ("le", "ge")]
    assert {r.relation for r in recs} == {"le", "ge"}  # claim1.exact's speedups are "ge"
    flipped = []
    for r in recs:
        # "value <= bound" breaks at a bound half the value (twice it, for a negative value)
        # and holds at twice the value (half of it, for a negative value); "ge" mirrored
        v = r.estimate.value
        small, large = (v / 2, 2 * v) if v > 0 else (2 * v, v / 2)
        tight, loose = (small, large) if r.relation == "le" else (large, small)
        flipped += [dataclasses.replace(r, bound=tight, outside=[]),
                    dataclasses.replace(r, bound=loose, outside=[])]
    decide_all(flipped, 0.05)
    assert all(f.decision.verdict == "violated" for f in flipped[0::2])
    assert all(f.decision.verdict == "holds" for f in flipped[1::2])
    # and on the claim's own bound: the records that hold at bound b are violated at b/2 when
    # their ratio exceeds 1/2 (Lemma 2's ratio is about 0.6)
    l2 = [dataclasses.replace(r, bound=r.bound / 2) for r in runs["lemma2.exact"]
          if not r.outside]
    decide_all(l2, 0.05)
    assert l2 and all(r.decision.verdict == "violated" for r in l2)


# ---------------------------------------------------------------------------------------------
# Independent routes
# ---------------------------------------------------------------------------------------------


def test_lemma2_3_11_steps_match_the_literal_reference(short_runs):
    ctx, runs = short_runs
    obj = E.problem(ctx, **E.LEMMA_PROBLEM)
    P = explicit_quadratic_parts(obj)
    eta = E.ETAS[0]
    lit = literal_expected(P.A, P.B, P.n0, P.noise, obj.random_point(0), eta,
                           eta / math.sqrt(obj.d), 60, list(range(60)))
    p = C.bound_params(obj, eta, T=60)
    rhs = {"lemma2.exact": B.lemma2_gamma_next(p, lit["gamma"], lit["mg"]),
           "lemma3.exact": B.lemma3_mg(p, lit["gamma"], lit["gap"]),
           "lemma11.exact": B.lemma11_gamma_next(p, lit["gamma"], lit["gap"])}
    lhs = {"lemma2.exact": lit["lemma2_cond"], "lemma3.exact": lit["mg"],
           "lemma11.exact": lit["lemma2_cond"]}
    for cid in rhs:
        r = next(r for r in runs[cid] if r.config["eta"] == eta)
        np.testing.assert_allclose(r.extra["lhs"], lhs[cid], rtol=RTOL)
        np.testing.assert_allclose(r.extra["rhs"], rhs[cid], rtol=RTOL)
        k = int(np.argmax(lhs[cid] / rhs[cid]))
        assert r.extra["tightest_step"] == k
        assert r.estimate.value == pytest.approx(lhs[cid][k], rel=RTOL)


def _forward_second_moment(A, g, noise, nu):
    """``E||G||^2`` of the forward difference on ``1/2 x'Ax - b'x + xi'x`` with mean gradient
    ``g``: ``(d + 2)(||g||^2 + d noise^2) + (nu^2/4) E[(u'Au)^2 ||u||^2]``."""
    d = A.shape[0]
    t1, t2 = np.trace(A), np.trace(A @ A)
    return ((d + 2) * (g @ g + d * noise**2)
            + nu**2 / 4 * (d * t1**2 + 2 * d * t2 + 4 * t1**2 + 8 * t2))


def test_lemma14_and_19_match_the_closed_forms(short_runs):
    ctx, runs = short_runs
    obj = E.problem(ctx, **E.LEMMA_PROBLEM)
    P = explicit_quadratic_parts(obj)
    X0 = E._spread_x0(ctx, obj)
    n, d = X0.shape
    G = X0 @ P.A - P.B  # mean estimate at each node (every twin estimator is unbiased)
    for r14, r19 in zip(runs["lemma14.exact"], runs["lemma19.exact"], strict=True):
        eta = r14.config["eta"]
        nu = eta / math.sqrt(d)
        m2 = np.array([_forward_second_moment(P.A, G[k], P.noise, nu) if k < P.n0
                       else G[k] @ G[k] + d * P.noise**2 for k in range(n)])
        # mu_1 - mu_0 = -(eta/n)(G^i + G^j) for the uniform pair {i, j}
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
        step_sq = np.mean([m2[i] + m2[j] + 2 * G[i] @ G[j] for i, j in pairs]) * (eta / n) ** 2
        assert r14.estimate.value == pytest.approx(step_sq, rel=RTOL)
        assert r14.bound == pytest.approx(4 * eta**2 * m2.mean() / n**2, rel=RTOL)
        g = G.mean(axis=0)
        mean_step = -eta / n * np.mean([G[i] + G[j] for i, j in pairs], axis=0)
        assert r19.estimate.value == pytest.approx(g @ mean_step, rel=RTOL)


def test_theorem1_error_matches_the_literal_reference(short_runs):
    ctx, runs = short_runs
    obj = E.problem(ctx, **E.THEOREM_PROBLEM)
    P = explicit_quadratic_parts(obj)
    rec = next(r for r in runs["theorem1.convex.exact"] if "local" in r.quantity)
    T = rec.extra["T"][0]
    ell = obj.constants.ell
    eta = B.theorem1_convex_eta(obj.n, T, ell)
    lit = literal_expected(P.A, P.B, P.n0, P.noise, obj.random_point(0), eta,
                           eta / math.sqrt(obj.d), T, [T], ell=ell)
    want = lit["y_gap"][0] + ell / 8 * lit["dist_sq"][0]
    assert rec.extra["exact"][0] == pytest.approx(want, rel=RTOL)
    # the rate record is the slope of error/bound over the last decade of the recorded curve,
    # against half the slope of one factor log T over it (retyped here)
    Ts, v, b = rec.extra["T"], rec.extra["exact"], rec.extra["bounds"]
    lo, hi = Ts.index(100), Ts.index(1000)
    want = math.log((v[hi] / b[hi]) / (v[lo] / b[lo])) / math.log(10.0)
    assert rec.estimate.value == pytest.approx(want, rel=RTOL)
    assert rec.bound == pytest.approx(0.5 * math.log(math.log(1000) / math.log(100))
                                      / math.log(10.0), rel=RTOL)
    # one C = 1 record per decade of the grid
    per_T = [r for r in runs["theorem1.convex.exact"] if "local" not in r.quantity]
    assert [r.config["T"] for r in per_T] == [100, 1000]


def test_claim1_and_claim3_are_read_off_their_exact_values(short_runs):
    _, runs = short_runs
    (c1,) = runs["claim1.exact"]  # n in {4, 8}: one speedup
    e = c1.extra
    assert c1.relation == "ge"
    assert c1.estimate.value == pytest.approx(e["exact"][0] / e["exact"][1], rel=RTOL)
    assert c1.bound == pytest.approx((8 / math.log(8)) / (4 / math.log(4)), rel=RTOL)
    (c3,) = runs["claim3.exact"]
    e = c3.extra
    ratio = [h / f for h, f in zip(e["hybrid"], e["all_fo"], strict=True)]
    assert c3.estimate.value == pytest.approx(math.log(ratio[1] / ratio[0]) / math.log(4.0),
                                              rel=RTOL)
    assert c3.bound == pytest.approx(0.5 * math.log(math.log(4000) / math.log(1000))
                                     / math.log(4.0), rel=RTOL)


def test_claim1_problem_holds_the_heterogeneity_exactly_fixed_across_n():
    objs = {n: E.claim1_problem(n, **E.CLAIM1_PROBLEM) for n in (4, 8, 16)}
    c4 = objs[4].constants
    assert c4.varsigma0_sq > 0
    for n, obj in objs.items():
        c = obj.constants
        assert (obj.n0, obj.n1) == (n // 2, n // 2)
        # the same A, x*, f*, noise and heterogeneity for every n (rounding only)
        np.testing.assert_allclose(explicit_quadratic_parts(obj).A,
                                   explicit_quadratic_parts(objs[4]).A, rtol=0, atol=0)
        np.testing.assert_allclose(c.x_star, c4.x_star, rtol=RTOL)
        assert c.f_star == pytest.approx(c4.f_star, rel=RTOL)
        assert c.varsigma0_sq == pytest.approx(c4.varsigma0_sq, rel=RTOL)
        assert c.varsigma1_sq == pytest.approx(c4.varsigma0_sq, rel=RTOL)
    with pytest.raises(HDOInputError, match="multiple of 4"):
        E.claim1_problem(6, **E.CLAIM1_PROBLEM)


# ---------------------------------------------------------------------------------------------
# The relations are those the statements imply: exactly-true surrogates and broken twins
# ---------------------------------------------------------------------------------------------


def _run_with_errors(mp, cid, error_of):
    """Run claim ``cid`` at quick with the exact error replaced by ``error_of(obj, T, bound)``
    (a surrogate with a known truth), decided; returns the records."""
    def fake(ctx, obj, T, x0, path=None):
        eta = B.theorem1_convex_eta(obj.n, T, obj.constants.ell)
        bound = B.theorem1_convex_bound(E._theorem1_params(obj, T, eta, x0))
        return error_of(obj, T, bound), eta

    mp.setattr(E, "_convex_error", fake)
    for name, grid in QUICK_GRIDS.items():
        mp.setattr(E, name, grid)
    recs = REGISTRY[cid].run(Context(scale="quick", seed=0))
    decide_all(recs, 0.05)
    return recs


def test_theorem1_rate_allows_a_ratio_converging_upwards_and_breaks_on_a_log_factor(monkeypatch):
    # true: error = 0.3 (1 - 1/log T) bound, an O(bound) error whose ratio rises to 0.3. Its
    # local slope exceeds the bound's exponent (the old relation's false "violated"); the
    # ratio's slope over the last decade, 1/(log T (log T - 1)) / ... ~ 0.0014, is below the
    # margin (half a log factor, 0.0189)
    recs = _run_with_errors(monkeypatch, "theorem1.convex.exact",
                            lambda obj, T, b: 0.3 * (1 - 1 / math.log(T)) * b)
    rate = recs[-1]
    assert "local" in rate.quantity and rate.extra["dense_route_rel_diff"]
    assert rate.extra["error_exponent_last_decade"] > rate.extra["bound_exponent_last_decade"]
    assert [r.decision.verdict for r in recs] == ["holds"] * len(recs)
    # broken: one factor log T more than the bound (ratio slope = twice the margin), and an
    # error 1.5x the bound with constants as printed: the rate record and every C = 1 record
    # are violated
    recs = _run_with_errors(monkeypatch, "theorem1.convex.exact",
                            lambda obj, T, b: 1.5 * math.log(T) / math.log(1e4) * b)
    assert rate.quantity == recs[-1].quantity
    assert recs[-1].estimate.value == pytest.approx(2 * recs[-1].bound, rel=RTOL)
    assert [r.decision.verdict for r in recs] == ["violated"] * len(recs)


def test_claim1_speedup_holds_at_the_rate_and_breaks_without_speedup(monkeypatch):
    # true: the error at fixed parallel time falls like log(T)/T with T = n T/n (the rate's
    # speedup n log(4 tau) / (4 log(n tau)) exceeds (n/log n)/(4/log 4) on the grid)
    recs = _run_with_errors(monkeypatch, "claim1.exact",
                            lambda obj, T, b: math.log(T) / T)
    assert len(recs) == 3 and all(r.decision.verdict == "holds" for r in recs)
    # broken: the same error for every n (no speedup) and a speedup of n^(1/4) only
    recs = _run_with_errors(monkeypatch, "claim1.exact", lambda obj, T, b: 1.0)
    assert all(r.decision.verdict == "violated" for r in recs)
    recs = _run_with_errors(monkeypatch, "claim1.exact", lambda obj, T, b: obj.n ** -0.25)
    assert all(r.decision.verdict == "violated" for r in recs)


def test_theorem1_exact_curve_to_1e12_on_two_routes(monkeypatch):
    """The real quick run: every C = 1 record and the rate record hold, and the dense path
    (other basis, other arithmetic) agrees at T = 10^12 to far below the quantity the rate
    record measures (1% of the last decade's log-ratio increment: the record's value keeps
    two significant digits whatever the rounding)."""
    monkeypatch.setattr(E, "theorem1_grid", QUICK_GRIDS["theorem1_grid"])
    recs = REGISTRY["theorem1.convex.exact"].run(Context(scale="quick", seed=0))
    decide_all(recs, 0.05)
    assert [r.decision.verdict for r in recs] == ["holds"] * len(recs)
    assert [r.config["T"] for r in recs[:-1]] == [10**k for k in range(5, 13)]
    e = recs[-1].extra
    last = e["log_ratio_increment_per_decade"][str(10**12)]
    assert e["dense_route_rel_diff"][str(10**12)] < 0.01 * abs(last)
    assert max(e["ratios"]) <= 1.0


# ---------------------------------------------------------------------------------------------
# JSON and reports
# ---------------------------------------------------------------------------------------------


def test_json_and_reports_render_exact_records(short_runs, tmp_path):
    _, runs = short_runs
    recs = runs["lemma14.exact"] + runs["claim3.exact"]
    res = VerifyResult("quick", 0, 0.05, 0.05,
                       [ClaimRun(REGISTRY["lemma14.exact"], runs["lemma14.exact"], 0.1),
                        ClaimRun(REGISTRY["claim3.exact"], runs["claim3.exact"], 0.1)],
                       {}, [], 0.2)
    report.write_report(res, tmp_path, latex_tables=True)
    data = json.loads((tmp_path / "report.json").read_text())
    got = [r for c in data["claims"] for r in c["records"]]
    assert len(got) == len(recs)
    for r, j in zip(recs, got, strict=True):
        assert j["method"] == "exact" and j["ci"] is None and j["ratio_ci"] is None
        assert j["empirical"] == r.estimate.value and j["ratio"] == pytest.approx(r.ratio)
    md = (tmp_path / "report.md").read_text()
    assert md.count("(exact)") >= len(recs) and "method `exact`" in md
    assert "(exact)" in (tmp_path / "report.html").read_text()
    assert "(exact)" in (tmp_path / "report.tex").read_text()
    assert all("(exact)" in row[4] for row in report.text_rows(res))


def test_undecided_monte_carlo_records_point_to_their_exact_twin():
    def mc():  # an interval containing the bound: inconclusive
        return Record("theorem1.convex", "t", "slope", S.Estimate(-0.9, 0.5, math.inf, 16),
                      -0.96, "b", extra={"exact_twin": "theorem1.convex.exact"})
    twin = [Record("theorem1.convex.exact", "t", "t", S.exact(v), 1.0, "b") for v in (0.5, 2.0)]
    rec = mc()
    decide_all([rec, *twin], 0.05)
    assert rec.decision.verdict == "inconclusive"
    assert rec.decision.reason.endswith("its exact twin theorem1.convex.exact (exact values, no "
                                        "sampling error): 1 holds, 1 violated")
    alone = mc()
    decide_all([alone], 0.05)
    assert alone.decision.reason.endswith("its exact twin theorem1.convex.exact (exact values) "
                                          "was not run")
    decided = dataclasses.replace(mc(), estimate=S.Estimate(-2.0, 0.01, math.inf, 16))
    decide_all([decided, *twin], 0.05)  # decided records are left as they are
    assert decided.decision.verdict == "holds" and "twin" not in decided.decision.reason
