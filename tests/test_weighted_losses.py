"""``weighted_losses`` (one data pass for every node's loss, used by ``record_nodes``) must equal
``weighted_loss`` point by point bit for bit: same terms, same order of addition."""

from __future__ import annotations

import numpy as np
import pytest

from hdo_theory.objectives import OBJECTIVE_NAMES, make_objective
from hdo_theory.objectives.kernels import (
    weighted_grad,
    weighted_loss,
    weighted_loss_grad,
    weighted_losses,
)


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


@pytest.mark.parametrize("name", OBJECTIVE_NAMES)
@pytest.mark.parametrize("with_y", [True, False])
def test_fused_loss_grad_pass_equals_separate_passes_bitwise(name, with_y):
    """``weighted_loss_grad`` (the record's one data pass for f(mu), grad f(mu) and f(y)) gives
    the bits of the three separate passes it replaced."""
    kw = {} if name in ("digits", "breast-cancer") else dict(d=7)
    obj = make_objective(name, n0=3, n1=2, seed=5, **kw)
    rng = np.random.default_rng(12)
    x = obj.random_point(0) + 0.3 * rng.standard_normal(obj.d)
    y = obj.random_point(1) + 0.3 * rng.standard_normal(obj.d)
    g = np.full(obj.d, np.nan)
    fx, fy = weighted_loss_grad(obj.data, obj.weights, x, g, y, with_y)
    g_ref = np.full(obj.d, np.nan)
    weighted_grad(obj.data, obj.weights, x, g_ref)
    assert fx == weighted_loss(obj.data, obj.weights, x)
    assert fy == (weighted_loss(obj.data, obj.weights, y) if with_y else 0.0)
    assert np.array_equal(g, g_ref)
    assert np.all(g != 0.0) or name in ("digits",)  # a real gradient, not the zeroed buffer
