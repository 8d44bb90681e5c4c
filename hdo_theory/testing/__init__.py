"""Property tests of gradient estimators in the user's own suite: what ``numpy.testing`` is for
arrays, this is for estimators (docs/extending.md, "property-test your own estimator").

* Calibrated assertions (:mod:`.assertions`): :func:`assert_unbiased`,
  :func:`assert_moment_close`, :func:`assert_moment_le`, :func:`assert_rv_scaling`,
  :func:`assert_linear_in_F`, :func:`assert_shift_invariant`. Each takes the estimator by name
  or :class:`~hdo_theory.estimators.EstimatorSpec` (a registered plugin works like a built-in),
  a ``seed`` (default derived from the inputs), ``tol`` (the smallest effect to detect),
  ``false_failure`` (per call) and ``power``, and computes its number of draws from them.
* hypothesis strategies (:mod:`.strategies`, imported on first use so that
  ``import hdo_theory.testing`` works without hypothesis; install it with the ``testing``
  extra: ``pip install 'hdo-theory[testing]'``): objectives with exact constants, points in a
  ball around ``x*``, estimator specs, populations.
* :mod:`.draws`: the seeded row blocks of estimator draws the assertions use.
"""

from __future__ import annotations

from hdo_theory.testing.assertions import (
    LINEAR_FAMILIES,
    MOMENTS,
    PILOT_DRAWS,
    EstimatorAssertionError,
    assert_linear_in_F,
    assert_moment_close,
    assert_moment_le,
    assert_rv_scaling,
    assert_shift_invariant,
    assert_unbiased,
    draws_for_mean,
    draws_for_norm,
    draws_for_pathwise,
    linear_combination,
)
from hdo_theory.testing.draws import derived_seed, estimator_draws

__all__ = [
    "LINEAR_FAMILIES",
    "MOMENTS",
    "PILOT_DRAWS",
    "EstimatorAssertionError",
    "assert_linear_in_F",
    "assert_moment_close",
    "assert_moment_le",
    "assert_rv_scaling",
    "assert_shift_invariant",
    "assert_unbiased",
    "derived_seed",
    "draws_for_mean",
    "draws_for_norm",
    "draws_for_pathwise",
    "estimator_draws",
    "linear_combination",
    "strategies",
]


def __getattr__(name):
    # hypothesis is imported only when the strategies are used
    if name == "strategies":
        import importlib

        return importlib.import_module("hdo_theory.testing.strategies")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
