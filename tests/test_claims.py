"""Claim registry: false-alarm rate of an exactly true claim, power against a wrong bound,
record completeness, outside-assumption handling.

Every binomial check fails with probability < FAIL_P when the code is right.
"""

import math

import numpy as np
import pytest

from hdo_theory.verification import stats as S
from hdo_theory.verification.claims import REGISTRY, Context, Record
from hdo_theory.verification.claims.contraction_claims import pure_averaging
from hdo_theory.verification.runner import decide_all

FAIL_P = 1e-3


def test_registry_lists_every_claim_family_with_its_description():
    for cid in ("lemma1.3", "lemma1.4", "lemma1.5", "lemma5", "lemma10", "lemma13",
                "exact.pairwise", "exact.matching"):
        assert cid in REGISTRY
        d = REGISTRY[cid].describe()
        assert d["reference"] and d["measures"] and d["bound"]
        assert set(d["grid"]) == {"quick", "full"}


def _exact_record(seed, alpha):
    """One decision of the exact pairwise contraction (n = 8, 3 steps) with a fresh seed."""
    rec = [r for r in REGISTRY["exact.pairwise"].run(Context(seed=seed))
           if r.config["n"] == 8 and r.config["steps"] == 3][0]
    return rec, S.decide(rec.estimate, rec.bound, alpha, rec.relation)


def test_exact_identity_false_alarm_rate_at_or_below_nominal():
    # 150 independent runs of an exactly true identity, decided at alpha = 0.05 each:
    # violations ~ Binomial(150, <= 0.05) (equality fails on both tails).
    alpha, runs = 0.05, 150
    k = sum(_exact_record(seed, alpha)[1].verdict == "violated" for seed in range(runs))
    assert S.binomial_upper_tail(k, runs, alpha) > FAIL_P


def test_wrong_bound_half_the_true_value_is_flagged_violated():
    rec, _ = _exact_record(1, 0.05)
    wrong = Record("t", "t", "t", rec.estimate, 0.5 * rec.bound, "half", relation="le")
    decide_all([wrong], 0.05)
    assert wrong.decision.verdict == "violated"


def test_closed_form_second_moment_half_bound_is_violated_true_bound_is_not():
    # Lemma 5 records on the quadratic carry the exact (closed-form) second moment.
    recs = [r for r in REGISTRY["lemma5"].run(Context(seed=3))
            if r.extra.get("exact") is not None and r.reference.endswith("(6)")]
    assert recs
    exact_as_bound = [Record("t", "t", "t", r.estimate, r.extra["exact"], "exact", relation="eq")
                      for r in recs]
    half = [Record("t", "t", "t", r.estimate, 0.5 * r.extra["exact"], "half") for r in recs]
    # family-wise level FAIL_P (Bonferroni over these records): every exact identity holds
    # except with probability <= FAIL_P; the half bounds are far outside any such interval
    decide_all(exact_as_bound + half, FAIL_P)
    assert all(r.decision.verdict == "violated" for r in half)
    assert all(r.decision.verdict == "holds" for r in exact_as_bound)


def test_outside_assumptions_is_never_holds_or_violated_and_not_counted():
    e = S.Estimate(1.0, 0.01, 100, 101)
    a = Record("t", "t", "t", e, 10.0, "b", outside=["eta > cap"])
    b = Record("t", "t", "t", e, 10.0, "b")
    level = decide_all([a, b], 0.05)
    assert level == pytest.approx(decide_all([b], 0.05))  # m = 1: only b is decided
    assert a.decision.verdict == "outside assumptions"
    assert "outside the lemma's assumptions" in a.decision.reason
    assert b.decision.verdict == "holds"


def test_records_are_complete_and_finite():
    ctx = Context(seed=0)
    recs = REGISTRY["lemma13"].run(ctx) + REGISTRY["exact.matching"].run(ctx)
    decide_all(recs, 0.05)
    for r in recs:
        d = r.as_dict()
        assert math.isfinite(d["empirical"]) and math.isfinite(d["bound"])
        assert all(math.isfinite(c) for c in d["ci"])
        assert d["verdict"] in S.VERDICTS and d["reason"]
        assert d["config"] and isinstance(d["seed"], int)
    assert ctx.findings and "eta" in ctx.findings[0]["text"]


def test_pure_averaging_matches_the_exact_factor_in_distribution_mean():
    # metamorphic with tests/test_bounds.py enumeration: the sampler's one-step mean
    rng = np.random.default_rng(5)
    X0 = rng.standard_normal((6, 3))
    X = pure_averaging(X0, 1, 20000, rng)
    g = np.mean(np.sum((X - X.mean(1, keepdims=True)) ** 2, 2), 1)
    g0 = np.mean(np.sum((X0 - X0.mean(0)) ** 2, 1))
    est = S.mean_estimate(g / g0)
    lo, hi = est.interval(FAIL_P)
    assert lo <= 1 - 1 / 5 <= hi


def test_a_claim_module_that_fails_to_import_is_an_error_naming_it(monkeypatch):
    import sys

    import hdo_theory.verification.claims as claims

    name = "hdo_theory.verification.claims.broken_claims"
    monkeypatch.setitem(sys.modules, name, None)  # importing it raises ImportError
    with pytest.raises(ImportError, match=f"claim module {name} failed to import") as exc:
        claims._import_claim_modules(("broken_claims",))
    assert exc.value.name == name
    # a module that is not there at all
    with pytest.raises(ImportError, match="claims.no_such_claims failed to import"):
        claims._import_claim_modules(("no_such_claims",))


def test_runner_special_cases_are_claim_fields():
    # own findings / looseness findings are read from the Claim, not from its id
    assert REGISTRY["lemma13"].own_finding
    assert not any(c.own_finding for k, c in REGISTRY.items() if k != "lemma13")
    assert not REGISTRY["lemma1.4"].report_looseness
    off = {k for k, c in REGISTRY.items() if not c.report_looseness}
    # theorem1.convex.exact: its rate record compares a slope of error/bound with a tolerance,
    # where a looseness ratio means nothing (its C = 1 records say how tight the bound is)
    assert off == ({"lemma1.4", "theorem1.convex.exact"}
                   | {k for k in REGISTRY if k.startswith("claim")})
    assert not hasattr(REGISTRY["claim1"], "needs")
