"""The Monte Carlo claims 1 and 3 decide the statements of their exact twins (issue 13 sec. 5).

* ``claim1``: the speedups ``E(4) / E(n)`` at fixed parallel time against ``(n / log n) /
  (4 / log 4)`` (relation ``ge``), plus the Monte Carlo mean at ``n = 4`` against its exact
  expectation (relation ``eq``, the metamorphic record);
* ``claim3``: the local slope in ``T`` of the hybrid / all-FO error ratio against half a
  factor ``log T`` (relation ``le``).

The decision code runs on stand-in replica values of known truth (the claims' own
``_theorem1_error_replicas`` replaced by i.i.d. exponential draws with a chosen mean, one fixed
seed per configuration), so every verdict is known before the run, and a broken truth flips
it. Tolerances: with ``R`` exponential draws (coefficient of variation 1) each log mean has
s.e. ``1/sqrt(R)``; the sizes below put every true value at least 8 standard errors beyond the
decision's edge (Holm level of at most three records at ``alpha = 0.05``: ``z <= 2.4``), so a
false failure has probability below ``1e-10`` per record, and with the fixed seeds the
outcome is deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from hdo_theory.verification.claims import REGISTRY, Context
from hdo_theory.verification.claims import experiment_claims as X
from hdo_theory.verification.claims.exact_claims import claimed_speedup, half_log_factor_slope
from hdo_theory.verification.runner import decide_all


def _stand_in(monkeypatch, mean_of, exact_scale=1.0):
    """Replace the claims' replica runs by exponential draws with mean ``mean_of(obj, T)``,
    and the exact expectation by ``exact_scale`` times that mean."""
    def replicas(ctx, obj, cfg, ell, R, seed, label):
        rng = np.random.default_rng([seed, R])
        return mean_of(obj, cfg.T) * rng.exponential(1.0, R), []

    monkeypatch.setattr(X, "_theorem1_error_replicas", replicas)
    monkeypatch.setattr(X, "_exact_theorem1_error",
                        lambda ctx, obj, cfg, ell, T: exact_scale * mean_of(obj, T))


def _run(cid, budget=None):
    recs = REGISTRY[cid].run(Context(scale="quick", seed=0, budget=budget))
    decide_all(recs, 0.05)
    return recs


def rate(obj, T):
    # Theorem 1's rate: at T = n tau the speedup is (n/4) log(4 tau) / log(n tau)
    return math.log(T) / T


def test_claim1_speedups_hold_at_the_rate_and_break_without_speedup(monkeypatch):
    # R = 4096: the n = 8 speedup 1.87 vs 1.333 is log 0.34 = 15 s.e. above the claim
    monkeypatch.setattr(X, "_claim1_grid", lambda ctx: ((4, 8, 16), 6000, 4096))
    _stand_in(monkeypatch, rate)
    recs = _run("claim1")
    speed, meta = recs[:-1], recs[-1]
    assert [r.relation for r in speed] == ["ge", "ge"] and meta.relation == "eq"
    assert [r.bound for r in speed] == pytest.approx([claimed_speedup(8, 4),
                                                      claimed_speedup(16, 4)])
    truth = [(n / 4) * math.log(4 * 6000) / math.log(n * 6000) for n in (8, 16)]
    for r, t in zip(speed, truth, strict=True):
        lo, hi = r.decision.lo, r.decision.hi
        assert lo < t < hi and r.decision.verdict == "holds"
    assert meta.decision.verdict == "holds"  # Monte Carlo mean vs the (stand-in) exact value
    assert meta.bound == pytest.approx(meta.extra["exact"])
    # no speedup (the same error for every n): violated; n^(1/4): violated at every n
    _stand_in(monkeypatch, lambda obj, T: 1.0)
    assert [r.decision.verdict for r in _run("claim1")[:-1]] == ["violated"] * 2
    _stand_in(monkeypatch, lambda obj, T: obj.n ** -0.25)
    assert [r.decision.verdict for r in _run("claim1")[:-1]] == ["violated"] * 2


def test_claim1_metamorphic_record_catches_a_wrong_exact_value(monkeypatch):
    # an exact value 20% off the Monte Carlo mean: 0.2 * sqrt(4096) = 12.8 s.e.
    monkeypatch.setattr(X, "_claim1_grid", lambda ctx: ((4, 8), 6000, 4096))
    _stand_in(monkeypatch, rate, exact_scale=1.2)
    assert _run("claim1")[-1].decision.verdict == "violated"


def test_claim1_budget_stops_when_decided_and_spends_on_every_record(monkeypatch):
    monkeypatch.setattr(X, "_claim1_grid", lambda ctx: ((4, 8, 16), 6000, 64))
    _stand_in(monkeypatch, rate)
    recs = _run("claim1", budget=8192)
    seq = recs[0].extra["sequential"]
    assert seq["stopped_by"] == "decided" and 64 < seq["replicas"] < 8192
    assert {r.estimate.spend for r in recs} == {seq["spend"]} and seq["spend"] < 1.0
    assert recs[0].decision.verdict == "holds" and recs[0].config["replicas"] == seq["replicas"]


def test_ratio_slope_is_the_log_log_slope_of_the_ratio_with_delta_method_se():
    # means h = 3 T^-1 (log T)^2, f = T^-1 log T at T = 10, 1000: ratio 3 log T, slope
    # log(log 1000 / log 10) / log 100 = log 3 / log 100
    T0, T1 = 10.0, 1000.0
    h0, f0 = 3 * math.log(T0) ** 2 / T0, math.log(T0) / T0
    h1, f1 = 3 * math.log(T1) ** 2 / T1, math.log(T1) / T1
    est = X.ratio_slope([(h0, 0.1 * h0, 9), (f0, 0.2 * f0, 30), (h1, 0.1 * h1, 40),
                         (f1, 0.2 * f1, 50)], T0, T1, n=4)
    assert est.value == pytest.approx(math.log(3) / math.log(100), rel=1e-12)
    assert est.se == pytest.approx(math.sqrt(2 * 0.01 + 2 * 0.04) / math.log(100), rel=1e-12)
    assert est.dof == 9 and est.n == 4
    # one factor log T more than the ratio's rate is exactly twice half a log factor
    assert est.value == pytest.approx(2 * half_log_factor_slope(T0, T1), rel=1e-12)


def test_claim3_rate_holds_for_a_bounded_ratio_and_breaks_on_a_log_factor(monkeypatch):
    # R = 10^6 draws per configuration: slope s.e. 2 / (1000 log 10) = 8.7e-4; the resolution
    # 0.0413 is 47 s.e. above a constant ratio and 47 s.e. below one more log factor (2 x 0.0413)
    monkeypatch.setattr(X, "_claim3_grid", lambda ctx: ((60000, 600000), 10**6))
    _stand_in(monkeypatch, lambda obj, T: (2.3 if obj.n0 else 1.0) * rate(obj, T))
    (rec,) = _run("claim3")
    assert rec.relation == "le" and rec.outside == []
    assert rec.bound == pytest.approx(half_log_factor_slope(60000, 600000))
    assert abs(rec.estimate.value) < 5 * rec.estimate.se
    assert rec.decision.verdict == "holds"
    assert rec.extra["ratios"] == pytest.approx([2.3, 2.3], rel=0.01)
    # the equivalence scale: the all-FO bound's exponent in T (about -0.9)
    assert 0.5 < rec.equivalence_scale < 1.0
    _stand_in(monkeypatch, lambda obj, T: (2.3 * math.log(T) if obj.n0 else 1.0) * rate(obj, T))
    (rec,) = _run("claim3")
    assert rec.decision.verdict == "violated"
    assert rec.estimate.value == pytest.approx(2 * rec.bound, abs=5 * rec.estimate.se)


def test_claim3_grids_are_inside_theorem1s_step_size_cap(monkeypatch):
    # T_lo = 6e4 is the smallest round T inside Lemma 11's cap at n = 16 (the records' outside
    # lists come from violated_conditions of the real configurations; the stand-in only
    # replaces the replica values): neither scale's record is outside the assumptions, and
    # T_lo = 4e4 (the old claim's T) would be
    _stand_in(monkeypatch, lambda obj, T: rate(obj, T))
    for scale in ("quick", "full"):
        grid = X._claim3_grid(Context(scale=scale))
        monkeypatch.setattr(X, "_claim3_grid", lambda ctx, g=grid: (g[0], 64))
        (rec,) = _run("claim3")
        assert grid[0][0] == 60000 and rec.outside == []
    monkeypatch.setattr(X, "_claim3_grid", lambda ctx: ((40000, 120000), 64))
    (rec,) = _run("claim3")
    assert any("Lemma 11" in m for m in rec.outside)
