"""Exact zeroth-order moments on least squares (a minibatch least-squares loss is a quadratic
with the batch Gram matrix plus ``lam I`` as Hessian).

Two routes each:

* **Monte Carlo**: :func:`estimator_stats` at level ``1 - ALPHA``, ``ALPHA = 1e-5``: its CLT
  intervals (second and centred moments) and batch-means t interval (variance) cover the exact
  value except with probability ``ALPHA`` each; 3 moments x 4 estimators x 2 cases = 24 checks,
  family-wise false-failure probability < 2.4e-4.
* **The quadratic kind**: the same per-sample losses written as ``KIND_QUADRATIC`` data (one
  Hessian group per sample, ``A_j = a_j a_j^T + lam I``, centre ``c_j = y_j A_j^+ a_j``: the
  loss differs by a per-sample constant only, which no gradient or difference sees), on the
  same split: both closed forms must agree to rounding (deterministic).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hdo_theory.estimators import EstimatorSpec
from hdo_theory.estimators import closed_forms as cf
from hdo_theory.estimators.monte_carlo import estimator_stats
from hdo_theory.objectives import kernels as K
from hdo_theory.objectives import make_objective

ALPHA = 1e-5
ZO = ("zo-forward", "zo-central", "zo-sphere", "zo-directional")
CASES = [dict(d=4, lam=0.0, batch=2, rv=1, nu=0.3), dict(d=5, lam=0.2, batch=3, rv=3, nu=0.1)]


def _ls(d, lam):
    return make_objective("least-squares", d=d, n0=2, n1=2, n_samples=24, seed=3, lam=lam)


def _as_quadratic(ls):
    """The same losses (up to per-sample constants) as quadratic-kind data on the same split."""
    _, params, feats, targets, _, _, _ = ls.data
    lam = float(params[0])
    N, d = feats.shape
    mats = np.einsum("ni,nj->nij", feats, feats) + lam * np.eye(d)
    centers = np.stack([targets[j] * np.linalg.pinv(mats[j]) @ feats[j] for j in range(N)])
    data = (np.int64(K.KIND_QUADRATIC), np.zeros(1), np.zeros((N, 0)), np.zeros(N),
            np.arange(N, dtype=np.int64), mats, centers)
    return dataclasses.replace(ls, name="quadratic", data=data)


@pytest.mark.parametrize("case", CASES, ids=["lam0", "lam0.2-rv3"])
@pytest.mark.parametrize("kind", ZO)
def test_ls_closed_forms_match_monte_carlo(case, kind):
    obj = _ls(case["d"], case["lam"])
    x = obj.random_point(1)
    spec = EstimatorSpec(kind, rv=case["rv"], nu=case["nu"], batch=case["batch"])
    r = estimator_stats(obj, 0, x, spec, draws=40_000, seed=7, level=1 - ALPHA, progress=False)
    assert r["exact_source"].startswith("closed form")
    for key in ("second_moment", "centered_moment", "variance"):
        assert r[key]["exact"] is not None, key
        assert r[key]["exact_in_ci"], (kind, key, r[key])
    assert r["bias"]["exact"] == pytest.approx(0.0, abs=1e-12)  # unbiased on a quadratic loss


@pytest.mark.parametrize("case", CASES, ids=["lam0", "lam0.2-rv3"])
def test_ls_closed_forms_equal_the_quadratic_kind(case):
    ls = _ls(case["d"], case["lam"])
    quad = _as_quadratic(ls)
    x = ls.random_point(2)
    np.testing.assert_allclose(quad.node_grad(0, x), ls.node_grad(0, x), rtol=1e-10, atol=1e-12)
    beta_ls = cf.least_squares_batch_beta_mean(ls, 0, case["batch"])
    assert beta_ls == pytest.approx(cf.quadratic_batch_beta_mean(quad, 0, case["batch"]),
                                    rel=1e-10)
    for kind in (*ZO, "coord-fd", "fo"):
        a = cf.exact_moments(ls, 0, x, kind, case["rv"], case["nu"], case["batch"])
        b = cf.exact_moments(quad, 0, x, kind, case["rv"], case["nu"], case["batch"])
        assert set(a) == set(b), kind
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-9, atol=1e-12, err_msg=kind)


def test_ls_beta_is_exact_over_every_minibatch():
    """E beta(A_xi) by enumerating every b-subset of a small shard (exact, no sampling)."""
    import itertools

    ls = make_objective("least-squares", d=3, n0=2, n1=2, n_samples=12, seed=1, lam=0.5)
    shard, b = ls.shard(0), 2
    feats, lam = ls.data[2], 0.5
    vals = [cf.hessian_beta(feats[list(s)].T @ feats[list(s)] / b + lam * np.eye(3))
            for s in itertools.combinations(shard, b)]
    assert cf.least_squares_batch_beta_mean(ls, 0, b) == pytest.approx(np.mean(vals), rel=1e-12)


def test_ls_beta_refuses_other_kinds():
    from hdo_theory.errors import HDOInputError

    with pytest.raises(HDOInputError, match="least-squares"):
        cf.least_squares_batch_beta_mean(make_objective("logistic", d=3, seed=0), 0, 1)
    assert cf.exact_moments(make_objective("logistic", d=3, seed=0), 0, np.zeros(3),
                            "zo-forward", 1, 0.1, 1) is None
