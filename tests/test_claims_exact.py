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

from hdo_theory.objectives import explicit_quadratic_parts
from hdo_theory.verification import bounds as B
from hdo_theory.verification import report
from hdo_theory.verification import stats as S
from hdo_theory.verification.claims import REGISTRY, Context, Record
from hdo_theory.verification.claims import exact_claims as E
from hdo_theory.verification.runner import ClaimRun, VerifyResult, decide_all

RTOL = 1e-9  # two exact computations of one expectation: rounding only

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
    mp.setattr(E, "_claim3_grid", lambda ctx: (8, 2, (2000,)))
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
    recs = [r for v in runs.values() for r in v if r.relation == "le"]
    flipped = []
    for r in recs:
        # "value <= bound" breaks at a bound half the value (twice it, for a negative value)
        # and holds at twice the value (half of it, for a negative value)
        v = r.estimate.value
        tight = dataclasses.replace(r, bound=v / 2 if v > 0 else 2 * v, outside=[])
        loose = dataclasses.replace(r, bound=2 * v if v > 0 else v / 2, outside=[])
        flipped += [tight, loose]
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
    p = E.params(obj, eta, T=60)
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
    # the recorded slopes are the slopes of the recorded curve
    Ts, v, b = rec.extra["T"], rec.extra["exact"], rec.extra["bounds"]
    assert rec.estimate.value == pytest.approx(math.log(v[-1] / v[0]) / math.log(Ts[-1] / Ts[0]))
    assert rec.bound == pytest.approx(math.log(b[-1] / b[0]) / math.log(Ts[-1] / Ts[0]))


def test_claim1_and_claim3_are_read_off_their_exact_values(short_runs):
    _, runs = short_runs
    (c1,) = runs["claim1.exact"]
    ns = c1.config["n_grid"]
    assert c1.estimate.value == pytest.approx(S.loglog_fit(ns, c1.extra["exact"])[0], rel=RTOL)
    assert c1.bound == pytest.approx(S.predicted_exponent(ns, c1.extra["bounds"]), rel=RTOL)
    (c3,) = runs["claim3.exact"]
    e = c3.extra
    assert c3.estimate.value == pytest.approx(e["hybrid"] / e["all_fo"], rel=RTOL)
    assert c3.bound == pytest.approx(e["bound_hybrid"] / e["bound_all_fo"], rel=RTOL)


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
