"""``weighted_losses`` (one data pass for every node's loss, used by ``record_nodes``) must equal
``weighted_loss`` point by point bit for bit: same terms, same order of addition."""

from __future__ import annotations

import numpy as np
import pytest

from hdo_theory.objectives import OBJECTIVE_NAMES, make_objective
from hdo_theory.objectives.kernels import weighted_loss, weighted_losses


@pytest.mark.parametrize("name", OBJECTIVE_NAMES)
def test_weighted_losses_equal_weighted_loss_bitwise(name):
    kw = {} if name in ("digits", "breast-cancer") else dict(d=7)
    obj = make_objective(name, n0=3, n1=2, seed=5, **kw)
    rng = np.random.default_rng(11)
    X = obj.random_point(0) + 0.3 * rng.standard_normal((5, obj.d))
    out = np.full(5, np.nan)
    weighted_losses(obj.data, obj.weights, X, out)
    ref = np.array([weighted_loss(obj.data, obj.weights, X[k]) for k in range(5)])
    assert np.array_equal(out, ref)
    assert len(set(out.tolist())) == 5  # five different points: a constant would not pass
