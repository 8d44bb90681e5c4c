"""Estimator plugins for benchmarks/bench_plugin.py: ``zo-forward`` written by a user.

``bench-zo-forward`` is Definition 2's forward difference with the public plugin API only
(:func:`hdo_theory.estimators.batch_loss`, :func:`hdo_theory.estimators.standard_normals`): one
minibatch-loss pass per function value. ``bench-zo-forward-block`` is the same estimator on the
same random stream written with the public block API
(:func:`hdo_theory.estimators.batch_losses_along`): directions in blocks of
``DIRECTION_BLOCK``, one pass over the minibatch rows per block on the generalised linear
models, as the built-in's fast path does.
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
def bench_zo_forward(obj, batch, x, rng, nu, rv, out, U, xtmp):
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
def bench_zo_forward_block(obj, batch, x, rng, nu, rv, out, U, xtmp):
    d = x.shape[0]
    out[:] = 0.0
    f0 = batch_loss(obj, batch, x)
    inv_rv = 1.0 / rv
    fp = np.empty(DIRECTION_BLOCK)  # the block's F(x + nu U_r)
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


register_estimator("bench-zo-forward", bench_zo_forward, zero_order=True, mean="grad f_nu",
                   description="zo-forward as a user plugin (benchmark)")
register_estimator("bench-zo-forward-block", bench_zo_forward_block, zero_order=True,
                   mean="grad f_nu",
                   description="zo-forward as a user plugin with the block API (benchmark)")
