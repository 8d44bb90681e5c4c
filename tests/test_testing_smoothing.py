"""The two smoothing-bias estimators of :func:`smoothing_bias` (``method="monte-carlo"``, the
plain draws of ``grad f(x + nu u)``, and ``method="antithetic"``, the pairs ``x +- nu u``)
against smoothing biases known in closed form:

* quadratic and least squares: ``grad f_nu = grad f`` exactly (bias 0);
* cosine wells, ``F(x, j) = sum_k [x_k^2/2 + alpha cos(beta x_k)] + a_j.x``:
  ``E cos(beta (x + nu u)) = cos(beta x) exp(-beta^2 nu^2 / 2)``, so the bias vector is
  ``alpha beta sin(beta x) (1 - exp(-beta^2 nu^2 / 2))`` (every sample alike).

Each interval is the conservative confidence ball at level ``1 - ALPHA``, ``ALPHA = 1e-5``:
it misses the exact value with probability <= ALPHA (CLT + Gaussian concentration); 8 intervals,
family-wise < 1e-4. "Tighter" is a deterministic comparison of the two radii, whose ratio is
``O(nu)`` here (0.01-0.1 at nu = 0.01-0.1): far from the boundary 1.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from hdo_theory.errors import HDOInputError
from hdo_theory.estimators.monte_carlo import (
    antithetic_smoothing_bias,
    smoothed_gradient,
    smoothing_bias,
)
from hdo_theory.objectives import make_objective

ALPHA = 1e-5
DRAWS = 4000


def _cosine_bias(obj, x, nu):
    alpha, beta = obj.meta["alpha"], obj.meta["beta"]
    return alpha * beta * np.sin(beta * x) * (1.0 - math.exp(-0.5 * beta**2 * nu**2))


CASES = [("quadratic", 0.01), ("least-squares", 0.1), ("cosine-wells", 0.01),
         ("cosine-wells", 0.1)]


@pytest.mark.parametrize(("name", "nu"), CASES)
def test_both_methods_cover_the_exact_bias_and_antithetic_is_tighter(name, nu):
    obj = make_objective(name, d=6, n0=2, n1=2, seed=4)
    x = obj.random_point(3)
    exact = 0.0 if name != "cosine-wells" else float(np.linalg.norm(_cosine_bias(obj, x, nu)))
    r = {m: smoothing_bias(obj, 0, x, nu, DRAWS, seed=5, level=1 - ALPHA, method=m)
         for m in ("monte-carlo", "antithetic")}
    for m, e in r.items():
        assert e["method"] == m
        assert e["ci"][0] <= exact <= e["ci"][1], (m, exact, e)
        if name != "cosine-wells":
            assert e["exact"] == 0.0
    width = {m: e["ci"][1] - e["ci"][0] for m, e in r.items()}
    assert width["antithetic"] < width["monte-carlo"], width
    if exact > 0:  # the antithetic point estimate resolves the bias: within its own radius
        assert abs(r["antithetic"]["value"] - exact) <= width["antithetic"] / 2


def test_antithetic_vector_matches_the_cosine_closed_form():
    obj = make_objective("cosine-wells", d=4, n0=2, n1=2, seed=1)
    x, nu = obj.random_point(0), 0.2
    s = smoothed_gradient(obj, 1, x, nu, DRAWS, seed=2, method="antithetic")
    err = float(np.linalg.norm(s["bias_vector"] - _cosine_bias(obj, x, nu)))
    # confidence ball at level 1 - ALPHA around the vector mean (false failure <= ALPHA)
    assert err <= math.sqrt(s["trace_cov_of_mean"]) * (1 + math.sqrt(2 * math.log(1 / ALPHA)))


def test_antithetic_rows_are_the_claims_function_and_chunking_changes_nothing():
    from hdo_theory.verification.claims import _common

    assert _common.antithetic_smoothing_bias is antithetic_smoothing_bias
    obj = make_objective("logistic", d=5, n0=2, n1=2, seed=0)
    x = obj.random_point(0)
    a = smoothed_gradient(obj, 0, x, 0.05, 100, seed=9, method="antithetic")
    b = smoothed_gradient(obj, 0, x, 0.05, 100, seed=9, method="antithetic", chunk=7)
    np.testing.assert_array_equal(a["bias_vector"], b["bias_vector"])
    rows = antithetic_smoothing_bias(obj, 0, x, 0.05, 100,
                                     np.random.default_rng(np.random.SeedSequence(9)))
    np.testing.assert_array_equal(rows.mean(axis=0), a["bias_vector"])


def test_bad_method():
    obj = make_objective("quadratic", d=3, seed=0)
    with pytest.raises(HDOInputError, match="method must be one of"):
        smoothing_bias(obj, 0, np.zeros(3), 0.1, 100, 0, method="exact")
    with pytest.raises(HDOInputError, match="Gaussian smoothing"):
        smoothing_bias(obj, 0, np.zeros(3), 0.1, 100, 0, ball=True, method="antithetic")
