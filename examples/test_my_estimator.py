"""Property-test your own estimator (docs/extending.md): a pytest file written with
hdo_theory.testing. Run it with ``pytest examples/test_my_estimator.py`` or as a script.

MY_ESTIMATOR names the estimator under test: a built-in stands in here; put the name of your
registered plugin there (``register_estimator("my-est", ...)`` in a module this file imports).
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hdo_theory import testing as ht
from hdo_theory.estimators import EstimatorSpec
from hdo_theory.objectives import make_objective
from hdo_theory.testing import strategies as hst

MY_ESTIMATOR = "zo-central"  # your plugin's name, e.g. "my-est"


@settings(max_examples=5, deadline=None, derandomize=True)
@given(obj=hst.objectives(names=["quadratic", "least-squares"]), data=st.data())
def test_unbiased_on_quadratic_losses(obj, data):
    spec = data.draw(hst.estimator_specs([MY_ESTIMATOR], max_rv=3))
    x = data.draw(hst.points(obj))  # in the ball where the objective's constants hold
    ht.assert_unbiased(obj, spec, x, tol=0.2, false_failure=1e-4, power=0.999)


def test_structure():
    ls = make_objective("least-squares", d=5, seed=0, lam=0.1)
    ht.assert_linear_in_F(ls, MY_ESTIMATOR)  # G(a F1 + b F2) = a G(F1) + b G(F2), draw by draw
    ht.assert_shift_invariant(ls, MY_ESTIMATOR)  # F + c: the same estimate
    ht.assert_rv_scaling(ls, EstimatorSpec(MY_ESTIMATOR, rv=4, nu=0.1), false_failure=1e-4)


def test_a_biased_estimator_is_caught():
    cw = make_objective("cosine-wells", d=5, seed=1)  # zo-forward's bias here: 1.02
    with pytest.raises(ht.EstimatorAssertionError, match="biased"):
        ht.assert_unbiased(cw, EstimatorSpec("zo-forward", nu=0.5), cw.random_point(1),
                           tol=0.5, false_failure=1e-4, power=0.999)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q", "-p", "no:cacheprovider",
                                  "-W", "ignore::pytest.PytestAssertRewriteWarning"]))
