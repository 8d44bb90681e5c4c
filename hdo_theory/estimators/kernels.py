"""Numba kernels of the gradient estimators (docs/theory.md section 3), writing into caller buffers.

One kernel, :func:`estimate`, serves every estimator kind; the gossip process and the
statistics layer call it with preallocated work vectors, so nothing is allocated per call.
Random directions come from a ``numpy.random.Generator`` passed into Numba, so every draw is
reproducible from a seed. One minibatch ``xi`` is drawn per call and shared by the ``rv``
directions and by both function values of each difference (docs/theory.md section 3: "the
same sample xi is used for both function values of one difference").

With ``u ~ N(0, I_d)``, ``v`` uniform on the unit sphere, ``F = F(., xi)`` the minibatch loss and
``rv`` directions averaged:

.. math::

   G_{fo} &= \\nabla F(x)                                                       \\\\
   G_{fwd} &= \\frac{1}{rv}\\sum_r \\frac{F(x + \\nu u_r) - F(x)}{\\nu} u_r
        \\qquad (\\text{Definition 2; mean } \\nabla f_\\nu)                     \\\\
   G_{cen} &= \\frac{1}{rv}\\sum_r \\frac{F(x + \\nu u_r) - F(x - \\nu u_r)}{2\\nu} u_r  \\\\
   G_{dir} &= \\frac{1}{rv}\\sum_r (u_r \\cdot \\nabla F(x))\\, u_r
        \\qquad (\\text{forward-mode JVP; unbiased})                              \\\\
   G_{sph} &= \\frac{1}{rv}\\sum_r d\\,\\frac{F(x + \\nu v_r) - F(x)}{\\nu} v_r      \\\\
   G_{coord} &= \\sum_{k=1}^d \\frac{F(x + \\nu e_k) - F(x - \\nu e_k)}{2\\nu} e_k
        \\qquad (2d \\text{ evaluations; } rv \\text{ is ignored})

The theorem's smoothing radius ``nu = eta / sqrt(d)`` (Theorem 1) is available as
``nu="theorem"`` through :func:`resolve_nu`.

The explicit quadratic (:mod:`hdo_theory.objectives.explicit`) has an additive-noise oracle,
``F(x, xi) = F(x) + xi . x``: :func:`estimate` draws ``xi`` first (``d`` normals times the
noise) and adds its exact contribution, ``xi`` to a gradient or coordinate difference and
``xi . u`` (sphere: ``d xi . v``) to each direction's coefficient. Every other kind draws nothing
extra, so their streams are unchanged.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import literal_unroll
from numba.core import types
from numba.extending import overload

from hdo_theory.objectives.kernels import (
    KIND_LOGISTIC_NONCVX,
    ROW_PREFETCH_DISTANCE,
    _dot,
    _glm_phi,
    _glm_phi1,
    _glm_reg,
    _is_glm,
    _without_plugins,
    batch_grad,
    batch_jvp,
    batch_loss,
    call_native,
    oracle_noise,
    prefetch_row,
)
from hdo_theory.rng import standard_normals

EST_FO = 0
EST_ZO_FORWARD = 1
EST_ZO_CENTRAL = 2
EST_ZO_DIRECTIONAL = 3
EST_ZO_SPHERE = 4
EST_COORD_FD = 5
#: Codes from here on are estimator plugins (:func:`hdo_theory.estimators.register_estimator`
#: with a kernel): ``estimate`` calls the plugin's kernel carried in the objective data's
#: extension slot (:func:`hdo_theory.estimators.kernel_data`).
EST_PLUGIN_BASE = 1000


# Same floating-point flags as the objective kernels (vectorised sums; NaN/inf preserved).
_JIT = dict(nogil=True, cache=True, fastmath={"reassoc", "contract", "nsz"})


# Directions are drawn and used in blocks of this many (the rows of the work array ``U``).
DIRECTION_BLOCK = 4


def direction_buffer(d: int) -> np.ndarray:
    """The ``(DIRECTION_BLOCK, d)`` work array :func:`estimate` takes as ``U``."""
    return np.zeros((DIRECTION_BLOCK, d))


@numba.njit(**_JIT)
def estimate(obj, est, rv, nu, batch, x, rng, out, U, xtmp):
    """Write one draw of estimator ``est`` at ``x`` on minibatch ``batch`` into ``out``.

    ``U`` is a ``(DIRECTION_BLOCK, d)`` work array (:func:`direction_buffer`) and ``xtmp`` a
    work vector of length d. Returns the number of function-value (or JVP / gradient)
    evaluations of the minibatch loss used, for cost accounting.

    Directions are drawn in order ``r = 0, ..., rv - 1``, each as d consecutive standard
    normals from ``rng`` (so the stream is that of ``rng.standard_normal((rv, d))``), whatever
    the objective. For the generalised linear models the ZO estimators take a fast path
    (:func:`_glm_zo`) that evaluates the same minibatch losses with one pass over the minibatch
    rows per block of directions instead of one pass per function value.

    Additive oracle noise (the explicit quadratic only, :func:`oracle_noise` > 0): the loss is
    ``F(x, xi) = F(x) + xi . x`` with one ``xi ~ N(0, noise^2 I_d)`` per call, shared by both
    values of every difference and by all ``rv`` directions. ``xi`` is the **first** draw of
    the call: d standard normals times ``noise``, before any direction (so with noise the
    directions are those of ``rng.standard_normal((rv, d))`` after ``d`` normals). With
    ``noise == 0`` (every other kind) nothing is drawn and the stream is unchanged.
    """
    if est >= EST_PLUGIN_BASE:
        return _call_plugin(obj, est, rv, nu, batch, x, rng, out, U, xtmp)
    # the built-ins never read the plugins: their cached specialisation for plain data serves
    return _estimate_builtin(_without_plugins(obj), est, rv, nu, batch, x, rng, out, U, xtmp)


@numba.njit(**_JIT)
def _estimate_builtin(obj, est, rv, nu, batch, x, rng, out, U, xtmp):
    d = x.shape[0]
    noise = oracle_noise(obj)
    if est == EST_FO:
        batch_grad(obj, batch, x, out)
        if noise != 0.0:  # grad F(x, xi) = grad F(x) + xi; xtmp is free in the FO branch
            _draw_oracle_noise(rng, noise, xtmp)
            for k in range(d):
                out[k] += xtmp[k]
        return 1
    if U.shape[0] < DIRECTION_BLOCK or U.shape[1] != d:
        raise ValueError("estimate: U must be a (DIRECTION_BLOCK, d) array (direction_buffer(d))")
    # The generic path below uses U[0] only, so the last row holds xi. Its contribution is added
    # as the exact linear term: the difference quotient of xi.x along u is xi.u for every nu
    # (and xi_k for coord-fd), with no truncation error, so this equals the difference of
    # F(., xi) exactly, without the cancellation error eps |xi.x| / nu that adding xi.x to
    # both evaluated losses would bring.
    xi = U[DIRECTION_BLOCK - 1]
    if noise != 0.0:
        _draw_oracle_noise(rng, noise, xi)
    out[:] = 0.0
    if est == EST_COORD_FD:
        for k in range(d):
            xtmp[:] = x
            xtmp[k] = x[k] + nu
            fp = batch_loss(obj, batch, xtmp)
            xtmp[k] = x[k] - nu
            fm = batch_loss(obj, batch, xtmp)
            out[k] = (fp - fm) / (2.0 * nu)
            if noise != 0.0:
                out[k] += xi[k]
        return 2 * d
    if _is_glm(obj[0]):
        return _glm_zo(obj, est, rv, nu, batch, x, rng, out, U, xtmp)
    u = U[0]
    f0 = 0.0
    evals = 0
    if est == EST_ZO_FORWARD or est == EST_ZO_SPHERE:
        f0 = batch_loss(obj, batch, x)
        evals = 1
    inv_rv = 1.0 / rv
    for _r in range(rv):
        standard_normals(rng, u)
        if est == EST_ZO_DIRECTIONAL:
            coef = batch_jvp(obj, batch, x, u)
            evals += 1
        elif est == EST_ZO_FORWARD:
            for k in range(d):
                xtmp[k] = x[k] + nu * u[k]
            coef = (batch_loss(obj, batch, xtmp) - f0) / nu
            evals += 1
        elif est == EST_ZO_CENTRAL:
            for k in range(d):
                xtmp[k] = x[k] + nu * u[k]
            fp = batch_loss(obj, batch, xtmp)
            for k in range(d):
                xtmp[k] = x[k] - nu * u[k]
            coef = (fp - batch_loss(obj, batch, xtmp)) / (2.0 * nu)
            evals += 2
        else:  # EST_ZO_SPHERE: v = u / ||u|| is uniform on the sphere
            _normalise(u)
            for k in range(d):
                xtmp[k] = x[k] + nu * u[k]
            coef = d * (batch_loss(obj, batch, xtmp) - f0) / nu
            evals += 1
        if noise != 0.0:  # the linear term xi.u of the difference (sphere: d xi.v)
            coef += (d if est == EST_ZO_SPHERE else 1.0) * _dot(xi, u)
        for k in range(d):
            out[k] += inv_rv * coef * u[k]
    return evals


def _call_plugin(obj, est, rv, nu, batch, x, rng, out, U, xtmp):
    """Call the plugin kernel of code ``est`` carried in ``obj[7][1]`` (nopython only)."""
    raise NotImplementedError("nopython only")


def _plugins_type(obj):
    if not isinstance(obj, types.BaseTuple) or len(obj) < 8:
        return None
    ext = obj[7]
    if not isinstance(ext, types.BaseTuple) or len(ext) < 2:
        return None
    plugins = ext[1]
    return plugins if isinstance(plugins, types.BaseTuple) and len(plugins) > 0 else None


@overload(_call_plugin, jit_options=dict(nogil=True))
def _call_plugin_impl(obj, est, rv, nu, batch, x, rng, out, U, xtmp):
    if _plugins_type(obj) is None:
        # built-in data: no plugin can be called (resolved at compile time, nothing emitted)
        def no_plugins(obj, est, rv, nu, batch, x, rng, out, U, xtmp):
            if est >= 0:
                raise ValueError("estimate: a plugin estimator code, but the objective data "
                                 "carries no plugin kernels (use estimators.kernel_data)")
            return 0
        return no_plugins

    def impl(obj, est, rv, nu, batch, x, rng, out, U, xtmp):
        plugins = obj[7][1]
        evals = -1
        for item in literal_unroll(plugins):
            if item[0] == est:
                evals = call_native(item[1], (_without_plugins(obj), batch, x, rng, nu, rv,
                                              out, U, xtmp))
        if evals < 0:
            raise ValueError("estimate: plugin estimator code not in the objective data "
                             "(or its kernel returned a negative evaluation count)")
        return evals
    return impl


@numba.njit(**_JIT)
def _draw_oracle_noise(rng, noise, xi):
    """xi = noise * (d standard normals from ``rng``): the additive oracle noise of one call."""
    standard_normals(rng, xi)
    for k in range(xi.shape[0]):
        xi[k] *= noise


@numba.njit(**_JIT)
def _normalise(u):
    nrm = 0.0
    for k in range(u.shape[0]):
        nrm += u[k] * u[k]
    nrm = math.sqrt(nrm)
    for k in range(u.shape[0]):
        u[k] /= nrm


@numba.njit(**_JIT)
def _glm_reg_at(kind, lam, x, u, step, xtmp):
    """R(x + step u) of a GLM (``xtmp`` is overwritten unless ``lam = 0``)."""
    if lam == 0.0:
        return 0.0
    for k in range(x.shape[0]):
        xtmp[k] = x[k] + step * u[k]
    return _glm_reg(kind, lam, xtmp)


@numba.njit(**_JIT)
def _glm_reg_jvp(kind, lam, x, u):
    """u . grad R(x) of a GLM."""
    if lam == 0.0:
        return 0.0
    s = 0.0
    if kind == KIND_LOGISTIC_NONCVX:
        for k in range(x.shape[0]):
            q = 1.0 + x[k] * x[k]
            s += 2.0 * x[k] / (q * q) * u[k]
        return lam * s
    for k in range(x.shape[0]):
        s += x[k] * u[k]
    return lam * s


@numba.njit(inline="always", **_JIT)
def _margins(feats, j, x, U, nb):
    """``(a_j . x, a_j . U[0], .., a_j . U[3])`` for the first ``nb`` rows of the direction
    block (the others 0): one read of the row ``a_j`` for the margin and a full block of 4
    projections, the GLM trick shared by :func:`_glm_zo` and :func:`batch_losses_along`."""
    d = x.shape[0]
    z = 0.0
    w0 = w1 = w2 = w3 = 0.0
    if nb == DIRECTION_BLOCK:
        u0, u1, u2, u3 = U[0], U[1], U[2], U[3]
        for k in range(d):
            a = feats[j, k]
            z += a * x[k]
            w0 += a * u0[k]
            w1 += a * u1[k]
            w2 += a * u2[k]
            w3 += a * u3[k]
    else:
        u0 = U[0]
        for k in range(d):
            a = feats[j, k]
            z += a * x[k]
            w0 += a * u0[k]
        if nb > 1:
            w1 = _dot(feats[j], U[1])
        if nb > 2:
            w2 = _dot(feats[j], U[2])
    return z, w0, w1, w2, w3


@numba.njit(**_JIT)
def _glm_zo(obj, est, rv, nu, batch, x, rng, out, U, xtmp):
    """The ZO estimators on a generalised linear model, directions in blocks of up to 4.

    A GLM's minibatch loss is ``F(x) = (1/b) sum_j phi(a_j . x, y_j) + R(x)``, so
    ``F(x + s u) = (1/b) sum_j phi(z_j + s w_j, y_j) + R(x + s u)`` with the margins
    ``z_j = a_j . x`` and projections ``w_j = a_j . u``. Each pass over the minibatch rows
    computes ``z_j`` together with ``w_j`` for a block of 4 directions (5 dot products sharing
    one read of ``a_j``: the row is read once per block, not once per function value), then
    the same finite differences as the generic path. Same estimator, same random stream;
    only the rounding of the margins differs (``z_j + s w_j`` instead of ``a_j . (x + s u)``).
    """
    kind, params, feats, targets = obj[0], obj[1], obj[2], obj[3]
    lam = params[0]
    d = x.shape[0]
    b = batch.shape[0]
    inv_b = 1.0 / b
    inv_rv = 1.0 / rv
    reg0 = 0.0 if est == EST_ZO_DIRECTIONAL else _glm_reg(kind, lam, x)
    evals = 1 if (est == EST_ZO_FORWARD or est == EST_ZO_SPHERE) else 0
    r0 = 0
    while r0 < rv:
        nb = min(DIRECTION_BLOCK, rv - r0)
        for r in range(nb):
            u = U[r]
            standard_normals(rng, u)
            if est == EST_ZO_SPHERE:
                _normalise(u)
        # sums over the minibatch, per direction of the block: [plus, minus] losses or JVPs
        sp0 = sp1 = sp2 = sp3 = 0.0
        sm0 = sm1 = sm2 = sm3 = 0.0
        f0 = 0.0
        for t in range(b):
            if r0 == 0 and t + ROW_PREFETCH_DISTANCE < b:  # first pass: rows arrive from memory
                prefetch_row(feats, batch[t + ROW_PREFETCH_DISTANCE])
            j = batch[t]
            y = targets[j]
            z, w0, w1, w2, w3 = _margins(feats, j, x, U, nb)
            if est == EST_ZO_DIRECTIONAL:
                g1 = _glm_phi1(kind, z, y)
                sp0 += g1 * w0
                sp1 += g1 * w1
                sp2 += g1 * w2
                sp3 += g1 * w3
                continue
            # unused slots of a short block are skipped (phi may cost a log and an exp)
            sp0 += _glm_phi(kind, z + nu * w0, y)
            if nb > 1:
                sp1 += _glm_phi(kind, z + nu * w1, y)
            if nb > 2:
                sp2 += _glm_phi(kind, z + nu * w2, y)
            if nb > 3:
                sp3 += _glm_phi(kind, z + nu * w3, y)
            if est == EST_ZO_CENTRAL:
                sm0 += _glm_phi(kind, z - nu * w0, y)
                if nb > 1:
                    sm1 += _glm_phi(kind, z - nu * w1, y)
                if nb > 2:
                    sm2 += _glm_phi(kind, z - nu * w2, y)
                if nb > 3:
                    sm3 += _glm_phi(kind, z - nu * w3, y)
            else:
                f0 += _glm_phi(kind, z, y)
        f0 = f0 * inv_b + reg0
        for r in range(nb):
            u = U[r]
            sp = sp0 if r == 0 else (sp1 if r == 1 else (sp2 if r == 2 else sp3))
            if est == EST_ZO_DIRECTIONAL:
                coef = sp * inv_b + _glm_reg_jvp(kind, lam, x, u)
            elif est == EST_ZO_CENTRAL:
                sm = sm0 if r == 0 else (sm1 if r == 1 else (sm2 if r == 2 else sm3))
                fp = sp * inv_b + _glm_reg_at(kind, lam, x, u, nu, xtmp)
                fm = sm * inv_b + _glm_reg_at(kind, lam, x, u, -nu, xtmp)
                coef = (fp - fm) / (2.0 * nu)
            else:
                fp = sp * inv_b + _glm_reg_at(kind, lam, x, u, nu, xtmp)
                coef = (fp - f0) / nu
                if est == EST_ZO_SPHERE:
                    coef *= d
            for k in range(d):
                out[k] += inv_rv * coef * u[k]
        evals += nb * (2 if est == EST_ZO_CENTRAL else 1)
        r0 += nb
    return evals


@numba.njit(**_JIT)
def batch_losses_along(obj, batch, x, U, nb, nu, out, xtmp):
    """``out[r] = F(x + nu U[r], xi)`` for ``r < nb``: the minibatch loss (the same noise-free
    value as :func:`batch_loss`) along a block of ``nb <= DIRECTION_BLOCK`` directions, the
    rows of ``U``; ``xtmp`` (length d) is scratch. Public, for estimator plugins.

    .. math::

       \\text{out}_r = F(x + \\nu U_r) = \\frac{1}{b}\\sum_{j \\in \\xi}
            \\phi(a_j \\cdot x + \\nu\\, a_j \\cdot U_r, y_j) + R(x + \\nu U_r)
            \\quad (\\text{GLMs})

    On the generalised linear models one pass over the minibatch rows serves the whole block
    (each row ``a_j`` read once for the ``nb + 1`` dot products, as the built-in fast path
    :func:`_glm_zo` does); on every other kind it is ``nb`` calls of :func:`batch_loss`.
    Counts as ``nb`` evaluations.
    """
    d = x.shape[0]
    if nb < 1 or nb > DIRECTION_BLOCK or U.shape[0] < nb or U.shape[1] != d:
        raise ValueError("batch_losses_along: need 1 <= nb <= DIRECTION_BLOCK rows of U, "
                         "each of length d")
    if not _is_glm(obj[0]):
        for r in range(nb):
            for k in range(d):
                xtmp[k] = x[k] + nu * U[r, k]
            out[r] = batch_loss(obj, batch, xtmp)
        return
    kind, params, feats, targets = obj[0], obj[1], obj[2], obj[3]
    lam = params[0]
    b = batch.shape[0]
    sp0 = sp1 = sp2 = sp3 = 0.0
    for t in range(b):
        j = batch[t]
        y = targets[j]
        z, w0, w1, w2, w3 = _margins(feats, j, x, U, nb)
        sp0 += _glm_phi(kind, z + nu * w0, y)
        if nb > 1:
            sp1 += _glm_phi(kind, z + nu * w1, y)
        if nb > 2:
            sp2 += _glm_phi(kind, z + nu * w2, y)
        if nb > 3:
            sp3 += _glm_phi(kind, z + nu * w3, y)
    inv_b = 1.0 / b
    for r in range(nb):
        sp = sp0 if r == 0 else (sp1 if r == 1 else (sp2 if r == 2 else sp3))
        out[r] = sp * inv_b + _glm_reg_at(kind, lam, x, U[r], nu, xtmp)
