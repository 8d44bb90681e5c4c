"""The Lemma 13 measurement's paired design (claims/estimator_claims.py) has teeth.

``_mean_step`` runs one interaction of the real process kernel; the claim's statistic is the
paired difference ``D`` of the mean's movement between ``zo-forward`` and ``zo-directional``
runs with the same seed.
"""

import math

import numpy as np
from scipy.stats import norm

from hdo_theory.objectives import make_objective
from hdo_theory.verification.claims.estimator_claims import _mean_step


def _spread_state(obj, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((obj.n, obj.d))


def test_same_estimator_paired_difference_is_exactly_zero():
    obj = make_objective("cosine-wells", d=4, n0=3, n1=3)
    X = _spread_state(obj, 1)
    a = _mean_step(obj, X, "zo-forward", 0.1, 0.5, 2, 64, 11)
    b = _mean_step(obj, X, "zo-forward", 0.1, 0.5, 2, 64, 11)
    assert np.array_equal(a, b)


def test_forward_difference_bias_part_vanishes_on_a_quadratic():
    """On a quadratic the forward difference is unbiased (docs/theory.md section 3), so E[D] = 0.

    Per coordinate, the CLT z-test at false-failure probability 1e-6 (Bonferroni over d).
    """
    obj = make_objective("quadratic", d=4, n0=3, n1=3)
    X = _spread_state(obj, 2)
    R = 4000
    D = _mean_step(obj, X, "zo-forward", 0.1, 0.5, 1, R, 5) - _mean_step(
        obj, X, "zo-directional", 0.1, 0.5, 1, R, 5
    )
    z = norm.isf(1e-6 / (2 * obj.d))
    se = D.std(axis=0, ddof=1) / math.sqrt(R)
    assert np.all(se > 0)  # the difference is random per replica: the test is not vacuous
    assert np.all(np.abs(D.mean(axis=0)) <= z * se), (D.mean(axis=0), se)


def test_forward_difference_bias_part_is_detected_on_cosine_wells():
    """Power: on the non-quadratic cosine wells with nu = 0.5 the bias part is non-zero.

    With this seed and R = 4000 the largest |mean D| / se is 9.2 (threshold z = 5.2): a
    kernel that dropped the forward difference's curvature term (no bias) would fail it.
    """
    obj = make_objective("cosine-wells", d=4, n0=3, n1=3)
    X = _spread_state(obj, 2)
    R = 4000
    D = _mean_step(obj, X, "zo-forward", 0.1, 0.5, 1, R, 5) - _mean_step(
        obj, X, "zo-directional", 0.1, 0.5, 1, R, 5
    )
    z = norm.isf(1e-6 / (2 * obj.d))
    se = D.std(axis=0, ddof=1) / math.sqrt(R)
    assert np.max(np.abs(D.mean(axis=0)) / se) > z
