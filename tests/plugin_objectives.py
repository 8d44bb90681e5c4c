"""A user-kind copy of the built-in least-squares loss (tests/test_plugins_estimator.py):
``F(x, j) = 1/2 (a_j . x - y_j)^2 + (lam/2) ||x||^2`` with ``lam = params[0]``."""

import numba

_JIT = dict(nogil=True, cache=True, fastmath={"reassoc", "contract", "nsz"})


@numba.njit(**_JIT)
def ls_loss(x, j, params, feats, targets):
    z = 0.0
    r2 = 0.0
    for k in range(x.shape[0]):
        z += feats[j, k] * x[k]
        r2 += x[k] * x[k]
    r = z - targets[j]
    return 0.5 * r * r + 0.5 * params[0] * r2


@numba.njit(**_JIT)
def ls_grad_add(x, j, params, feats, targets, scale, out):
    z = 0.0
    for k in range(x.shape[0]):
        z += feats[j, k] * x[k]
    r = z - targets[j]
    for k in range(x.shape[0]):
        out[k] += scale * (r * feats[j, k] + params[0] * x[k])


@numba.njit(**_JIT)
def ls_jvp(x, j, params, feats, targets, u):
    z = 0.0
    dz = 0.0
    xu = 0.0
    for k in range(x.shape[0]):
        z += feats[j, k] * x[k]
        dz += feats[j, k] * u[k]
        xu += x[k] * u[k]
    return (z - targets[j]) * dz + params[0] * xu
