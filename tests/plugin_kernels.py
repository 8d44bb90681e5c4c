"""Estimator plugins shared by tests/test_plugins_estimator.py (one module: compiled once).

``zo_forward_copy`` is the built-in ``zo-forward`` (Definition 2) written with the public plugin
API only; on the non-GLM objectives (where the built-in takes no GLM fast path) it computes
the same floating-point operations on the same random stream, so its draws are bit-identical.
``zo_forward_block`` is the same estimator on the same stream through the block API
(``batch_losses_along``), one pass over the minibatch rows per block of directions on GLMs.
"""

import numba
import numpy as np

from hdo_theory.estimators import (
    DIRECTION_BLOCK,
    batch_loss,
    batch_losses_along,
    register_estimator,
    standard_normals,
)

_JIT = dict(nogil=True, cache=True, fastmath={"reassoc", "contract", "nsz"})


@numba.njit(**_JIT)
def zo_forward_copy(obj, batch, x, rng, nu, rv, out, U, xtmp):
    d = x.shape[0]
    u = U[0]
    out[:] = 0.0
    f0 = batch_loss(obj, batch, x)
    inv_rv = 1.0 / rv
    for _r in range(rv):
        standard_normals(rng, u)
        for k in range(d):
            xtmp[k] = x[k] + nu * u[k]
        coef = (batch_loss(obj, batch, xtmp) - f0) / nu
        for k in range(d):
            out[k] += inv_rv * coef * u[k]
    return rv + 1


@numba.njit(**_JIT)
def zo_forward_block(obj, batch, x, rng, nu, rv, out, U, xtmp):
    d = x.shape[0]
    out[:] = 0.0
    f0 = batch_loss(obj, batch, x)
    inv_rv = 1.0 / rv
    fp = np.empty(DIRECTION_BLOCK)
    r0 = 0
    while r0 < rv:
        nb = min(DIRECTION_BLOCK, rv - r0)
        for r in range(nb):
            standard_normals(rng, U[r])
        batch_losses_along(obj, batch, x, U, nb, nu, fp, xtmp)
        for r in range(nb):
            coef = (fp[r] - f0) / nu
            for k in range(d):
                out[k] += inv_rv * coef * U[r, k]
        r0 += nb
    return rv + 1


def register_block():
    return register_estimator("test-zo-forward-block", zo_forward_block, zero_order=True,
                              mean="grad f_nu", description="block-API copy of zo-forward")


def register():
    """Register the copy (called by the tests' fixture, not at import: registering at collection
    time would add it to every test parametrised over the estimator table)."""
    return register_estimator("test-zo-forward-copy", zo_forward_copy, zero_order=True,
                              mean="grad f_nu", description="plugin copy of zo-forward (tests)")
