"""Estimator plugins for benchmarks/bench_plugin.py: ``zo-forward`` written by a user.

``bench-zo-forward`` is Definition 2's forward difference with the public plugin API only
(:func:`hdo_theory.estimators.batch_loss`, :func:`hdo_theory.estimators.standard_normals`): one
minibatch-loss pass per function value. The built-in additionally has a fast path for the
generalised linear models (blocks of 4 directions per pass over the minibatch rows), which a
user writing against the public API does not have; the benchmark reports both effects.
"""

import numba

from hdo_theory.estimators import batch_loss, register_estimator, standard_normals

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


register_estimator("bench-zo-forward", bench_zo_forward, zero_order=True, mean="grad f_nu",
                   description="zo-forward as a user plugin (benchmark)")
