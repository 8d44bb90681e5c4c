"""Done-when of the toolkit issue: a pytest test written with :mod:`hdo_theory.testing` fails
for a deliberately biased estimator and passes for an unbiased one.

The estimators are chosen in ONE place, :data:`BIASED` and :data:`UNBIASED` (name, spec fields,
objective): built-in stand-ins today; a registered plugin (``register_estimator("my-est", ...)``)
goes in by name, e.g. ``("my-biased-est", dict(nu=0.5), "cosine-wells")``.

Stand-ins:

* biased: ``zo-forward`` at ``nu = 0.5`` on cosine wells, asserted unbiased for ``grad f``. Its
  mean is ``grad f_nu``, off by the exact bias ``alpha beta sin(beta x) (1 - exp(-beta^2
  nu^2/2))`` (``||.|| = 1.023`` at the point below); ``tol`` is set to half of it, so the
  assertion fails with probability ``>= power = 0.999`` (derived in :func:`assert_unbiased`).
* unbiased: ``zo-directional`` on cosine wells (mean ``grad f`` on every objective) and
  ``zo-central`` on the quadratic (mean ``grad f_nu = grad f`` there); each passes except with
  probability ``<= false_failure = 1e-4``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from hdo_theory.estimators import EstimatorSpec
from hdo_theory.objectives import make_objective
from hdo_theory.testing import EstimatorAssertionError, assert_unbiased

# ---- the one place to swap in a user plugin ---------------------------------------------------
BIASED = ("zo-forward", dict(nu=0.5), "cosine-wells")
UNBIASED = [("zo-directional", dict(), "cosine-wells"), ("zo-central", dict(nu=0.2, rv=2),
                                                         "quadratic")]
# ------------------------------------------------------------------------------------------------

FALSE_FAILURE, POWER = 1e-4, 0.999


def _setup(name):
    obj = make_objective(name, d=5, n0=2, n1=2, seed=1)
    return obj, obj.random_point(1)


def _tol(obj, x):
    """Half the smallest bias the biased stand-in has here (cosine wells: exact)."""
    alpha, beta, nu = obj.meta["alpha"], obj.meta["beta"], BIASED[1]["nu"]
    bias = alpha * beta * np.sin(beta * x) * (1 - math.exp(-0.5 * beta**2 * nu**2))
    return 0.5 * float(np.linalg.norm(bias))


def test_biased_estimator_fails():
    kind, kw, name = BIASED
    obj, x = _setup(name)
    with pytest.raises(EstimatorAssertionError, match="biased"):
        assert_unbiased(obj, EstimatorSpec(kind, **kw), x, target="grad f", tol=_tol(obj, x),
                        false_failure=FALSE_FAILURE, power=POWER)


@pytest.mark.parametrize(("kind", "kw", "name"), UNBIASED)
def test_unbiased_estimator_passes(kind, kw, name):
    obj, x = _setup(name)
    cw, xc = _setup("cosine-wells")
    r = assert_unbiased(obj, EstimatorSpec(kind, **kw), x, target="grad f", tol=_tol(cw, xc),
                        false_failure=FALSE_FAILURE, power=POWER)
    assert r["value"] <= r["radius"]


# ---- the same two tests on a user's own estimator (a Numba plugin from a file of the user's) --
# tests/plugin_kernels.py holds a plugin copy of zo-forward written against the public plugin
# API only and registered with register_estimator("test-zo-forward-copy", kernel, ...). Its mean
# is grad f_nu: biased for grad f on cosine wells at nu = 0.5 (the same exact bias as above, so
# the same tol), unbiased on the quadratic (grad f_nu = grad f there).


@pytest.fixture(scope="module")
def user_plugin():
    import sys
    from pathlib import Path

    from hdo_theory.estimators import unregister_estimator

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import plugin_kernels

    info = plugin_kernels.register()
    yield info.name
    unregister_estimator(info.name)


def test_a_users_biased_estimator_fails(user_plugin):
    obj, x = _setup("cosine-wells")
    with pytest.raises(EstimatorAssertionError, match="biased"):
        assert_unbiased(obj, EstimatorSpec(user_plugin, nu=0.5), x, target="grad f",
                        tol=_tol(obj, x), false_failure=FALSE_FAILURE, power=POWER)


def test_a_users_unbiased_estimator_passes(user_plugin):
    obj, x = _setup("quadratic")
    cw, xc = _setup("cosine-wells")
    r = assert_unbiased(obj, EstimatorSpec(user_plugin, nu=0.2), x, target="grad f",
                        tol=_tol(cw, xc), false_failure=FALSE_FAILURE, power=POWER)
    assert r["value"] <= r["radius"]
