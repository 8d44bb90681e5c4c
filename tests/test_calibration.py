"""Calibration of every claim family (:mod:`hdo_theory.verification.calibration`).

Each family's exactly true surrogate (true value on the bound: the least favourable case) and
its halved-bound twin go through the claims' own decision code (estimate builders and
``runner.decide_families``: Holm, margins from the Claim), ``TRUE_PER_RUN`` true records and
``TWIN_PER_RUN`` twins per family. Every check is a binomial test with false-failure probability
``calibration.FAIL_P = 1e-3``: the false-verdict rate is not above alpha = 0.05, the power on the
twins not below 0.99. The slope family (400 bootstrap fits per record) runs 40 runs here.
docs/calibration.md has the long runs with the command. These short runs cannot tell a rate of
0.06 from 0.05 (the identity family's rate before Hall's skewness correction of the mean
interval, the slope family's before the rescaled bootstrap with a t quantile). The mean's
correction is tested with power in tests/test_stats.py (a skewed mean's one-sided misses, the
plain t interval failing the same check); the slope's rescaling and degrees of freedom are
checked there against closed forms, its calibration in the long runs only.
"""

import numpy as np
import pytest

from hdo_theory.verification import calibration as K
from hdo_theory.verification import stats as S


@pytest.mark.parametrize("family,runs", [("bound", 150), ("identity", 150), ("comparison", 200),
                                         ("equivalence", 200), ("sequential", 150),
                                         ("slope", 40)])
def test_family_is_calibrated_and_powerful(family, runs):
    res = K.run_family(family, runs, seed=11)
    K.check(res)
    assert res["twin_total"] == runs * K.TWIN_PER_RUN


def test_equivalent_at_a_difference_equal_to_the_margin_is_rare():
    # the test: true difference = margin, "equivalent" at most at the nominal level;
    # one record per family, the TOST event counted whether or not "violated" takes precedence
    from hdo_theory.verification.runner import decide_families

    runs, alpha = 1500, 0.05
    rng = np.random.default_rng(12)
    claims = K._claim_table(0.1)
    k = 0
    for _ in range(runs):
        r = K._equivalence(rng, False)
        decide_families([r], alpha, claims=claims)
        m = r.equivalence["absolute"]
        k += -m < r.decision.lo and r.decision.hi < m  # TOST rejects (reported or masked)
    assert S.binomial_upper_tail(k, runs, alpha) > K.FAIL_P


def test_the_check_fails_on_a_miscalibrated_rule():
    # the binomial checks have teeth: a rule that reports violated 10% of the time at alpha 0.05
    bad = K.check_counts(40, 400, 400, 400, 0.05)
    weak = K.check_counts(0, 400, 380, 400, 0.05)
    assert not bad["ok"] and not weak["ok"]
    with pytest.raises(AssertionError, match="false-verdict rate"):
        K.check({"family": "x", "alpha": 0.05, "false_rate": 0.1, "power": 1.0,
                 **bad})


def test_tail_rates_of_an_unskewed_estimate_are_the_plain_t_rates():
    # the Welch difference carries no skewness: Hall's interval is the plain t interval there,
    # so both routes count the same misses; the identity surrogate's mean is right-skewed, so
    # its corrected interval reaches further right than the plain one on the same draws
    res = K.tail_rates("comparison", 60, side=0.05, seed=3)
    assert (res["below"], res["above"]) == (res["plain_t_below"], res["plain_t_above"])
    r = K._identity(np.random.default_rng(4), False)
    plain = S.Estimate(r.estimate.value, r.estimate.se, r.estimate.dof, r.estimate.n)
    lo, hi = r.estimate.interval(0.005)
    lo0, hi0 = plain.interval(0.005)
    assert r.estimate.skew > 0 and lo > lo0 and hi > hi0
