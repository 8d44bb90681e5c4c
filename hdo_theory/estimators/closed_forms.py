"""Exact moments of the gradient estimators (docs/theory.md section 3), used as test oracles.

Two layers:

* **Conditional formulas** -- pure functions of a gradient ``g``, a Hessian ``A`` and the
  dimension, for ONE fixed quadratic ``F(y) = 1/2 y^T A y + g0^T y`` with ``g = grad F(x)``.
  They are expectations over the random direction only.
* **Node formulas** -- :func:`exact_moments` composes them with the minibatch distribution of a
  node: the expectation over the direction(s) AND over the minibatch ``xi``.

Why two layers: the ``quadratic`` objective's minibatch loss::

    F(x, xi) = (1/b) sum_{j in xi} 1/2 (x - c_j)^T A_{g_j} (x - c_j)

is itself a quadratic in ``x``, with Hessian ``A_xi = (1/b) sum_{j in xi} A_{g_j}`` and gradient
``g_xi = grad F(x, xi)``. The conditional formulas hold GIVEN ``xi``. Every conditional second
moment ``C(xi)`` below is affine in the two random quantities ``||g_xi||^2`` and
``beta(A_xi) = (tr A_xi)^2 + 2 tr(A_xi^2)``, so its expectation over ``xi`` needs only::

    E ||g_xi||^2   = ||grad f^i(x)||^2 + s_i^2(x)
    E beta(A_xi)   = beta(A_bar) + (m-b)/(b(m-1)) * (1/m) sum_j beta(A_{g_j} - A_bar)

both exact for ``b`` of the ``m`` shard samples drawn without replacement (``beta`` is a
quadratic form in ``A``, and the covariance of a without-replacement sample mean is
``(m-b)/(b(m-1))`` times the population covariance; ``A_bar`` is the shard's mean Hessian).
With ``b = m`` there is no sampling noise and the conditional formulas are unconditional.

Least squares is the second quadratic loss: its minibatch loss ``(1/b) sum_{j in xi} [1/2
(a_j.x - y_j)^2 + (lam/2)||x||^2]`` has Hessian ``A_xi = (1/b) sum_{j in xi} a_j a_j^T + lam I``
(the batch Gram matrix plus the regularisation), so the same formulas hold with
:func:`least_squares_batch_beta_mean` in place of :func:`quadratic_batch_beta_mean`
(:data:`QUADRATIC_LOSS_KINDS`).

Averaging ``rv`` directions on one shared minibatch (derivation). Given ``xi``, the ``rv`` draws
are i.i.d. with mean ``m_xi`` and second moment ``C(xi)``; their average ``G`` has::

    E[ ||G||^2 | xi ] = ||m_xi||^2 + (C(xi) - ||m_xi||^2) / rv.

Every estimator here is conditionally unbiased on quadratics (``m_xi = g_xi``) and
``E g_xi = grad f^i(x)``, so the total variance splits as conditional variance / rv + batch
variance::

    E ||G - grad f^i(x)||^2 = s_i^2 + (E C(xi) - E ||g_xi||^2) / rv.

The directional (JVP) estimator has ``C(xi) = (d+2) ||g_xi||^2`` for ANY smooth ``F`` (it only
sees the gradient) and the FO estimator is ``g_xi`` itself, so their exact moments hold on every
objective. The coordinate finite difference is linear in ``F``, so its mean is the coordinate
finite difference of ``f^i`` on every objective; on a quadratic it equals ``grad f^i`` (central
differences are exact on quadratics).
"""

from __future__ import annotations

import numpy as np

from hdo_theory.errors import HDOInputError, check_int, check_point
from hdo_theory.objectives.constants import node_gradient_variance
from hdo_theory.objectives.kernels import (
    KIND_COSINE_WELLS,
    KIND_EXPLICIT_QUADRATIC,
    KIND_LEAST_SQUARES,
    KIND_QUADRATIC,
)

#: Loss kinds whose minibatch loss ``F(., xi)`` is a quadratic in ``x`` (the closed forms of the
#: zeroth-order estimators hold exactly on them): the grouped quadratic and least squares.
# The explicit quadratic's oracle F^i(x, xi) = 1/2 x^T A x - B_i.x + xi.x is a quadratic with the
# fixed Hessian A: its additive noise only moves the gradient (E ||g_xi||^2 gains d noise^2).
QUADRATIC_LOSS_KINDS = (KIND_QUADRATIC, KIND_LEAST_SQUARES, KIND_EXPLICIT_QUADRATIC)

# ---------------------------------------------------------------------------------------------
# Gaussian direction moments
# ---------------------------------------------------------------------------------------------


def gaussian_norm_sq_mean(d: int) -> float:
    """``E ||u||^2 = d`` for ``u ~ N(0, I_d)``."""
    return float(d)


def gaussian_norm_fourth_mean(d: int) -> float:
    """``E ||u||^4 = d (d+2)`` for ``u ~ N(0, I_d)``."""
    return float(d * (d + 2))


def hessian_beta(A) -> float:
    """``beta(A) = (tr A)^2 + 2 tr(A^2) = E[(u^T A u)^2]`` for symmetric ``A``, ``u ~ N(0, I)``."""
    A = np.asarray(A, dtype=np.float64)
    return float(np.trace(A) ** 2 + 2.0 * np.sum(A * A.T))


# ---------------------------------------------------------------------------------------------
# Conditional formulas: one fixed quadratic F, gradient g = grad F(x), Hessian A
# ---------------------------------------------------------------------------------------------


def directional_mean(g) -> np.ndarray:
    """``E[(u.g) u] = g``."""
    return np.array(g, dtype=np.float64)


def directional_second_moment(grad_norm_sq: float, d: int) -> float:
    """``E ||(u.g) u||^2 = (d+2) ||g||^2`` (any smooth ``F``, not only quadratics)."""
    return (d + 2) * float(grad_norm_sq)


def forward_second_moment(grad_norm_sq: float, beta: float, nu: float, d: int) -> float:
    """Forward difference ``G = (F(x + nu u) - F(x)) / nu * u`` on a quadratic::

        E ||G||^2 = (d+2) ||g||^2 + (nu^2/4) (d+4) ((tr A)^2 + 2 tr(A^2)).

    ``G = [(u.g) + (nu/2) u^T A u] u``; the cross term is odd in ``u``; Stein's identity
    ``E[p(u) ||u||^2] = (d + 2k) E p(u)`` for ``p`` homogeneous of degree ``2k``. Mean: ``g``.
    """
    return (d + 2) * float(grad_norm_sq) + 0.25 * nu**2 * (d + 4) * float(beta)


def central_difference_quadratic(u, g) -> np.ndarray:
    """Central difference on a quadratic equals ``(u.g) u`` exactly (the ``A`` terms cancel)."""
    u = np.asarray(u, dtype=np.float64)
    return float(np.dot(u, g)) * u




def sphere_linear_second_moment(grad_norm_sq: float, d: int) -> float:
    """``E ||d (v.g) v||^2 = d ||g||^2``, ``v`` uniform on the unit sphere (mean ``g``)."""
    return d * float(grad_norm_sq)


def sphere_quadratic_form_sq_mean(beta: float, d: int) -> float:
    """``E (v^T A v)^2 = ((tr A)^2 + 2 tr(A^2)) / (d (d+2))``, ``v`` uniform on the sphere."""
    return float(beta) / (d * (d + 2))


def sphere_second_moment(grad_norm_sq: float, beta: float, nu: float, d: int) -> float:
    """Sphere estimator ``G = d (F(x + nu v) - F(x)) / nu * v`` on a quadratic::

        E ||G||^2 = d ||g||^2 + (nu^2/4) d ((tr A)^2 + 2 tr(A^2)) / (d+2).

    Mean: ``g`` (unbiased on quadratics).
    """
    return d * float(grad_norm_sq) + 0.25 * nu**2 * d * float(beta) / (d + 2)


def averaged_variance(variance: float, rv: int) -> float:
    """Averaging ``rv`` i.i.d. draws divides the variance by ``rv``: ``Var / rv``."""
    return float(variance) / rv


def averaged_second_moment(mean_norm_sq: float, second_moment: float, rv: int) -> float:
    """Second moment of the average of ``rv`` i.i.d. draws of mean ``m``, second moment ``C``::

        E ||G_bar||^2 = ||m||^2 + (C - ||m||^2) / rv.
    """
    return float(mean_norm_sq) + (float(second_moment) - float(mean_norm_sq)) / rv


# ---------------------------------------------------------------------------------------------
# Node formulas: expectation over directions and over the without-replacement minibatch
# ---------------------------------------------------------------------------------------------


def finite_population_factor(m: int, b: int) -> float:
    """Variance of a mean of ``b`` of ``m`` items drawn without replacement, per population
    variance (population variance divides by ``m``): ``(m-b) / (b (m-1))``; 0 if ``b = m``."""
    if m <= 1 or b >= m:
        return 0.0
    return (m - b) / (b * (m - 1))


def quadratic_batch_beta_mean(objective, node: int, batch: int) -> float:
    """Exact ``E beta(A_xi)`` over a minibatch of ``batch`` samples of ``node``'s shard::

        E beta(A_xi) = beta(A_bar) + (m-b)/(b(m-1)) * (1/m) sum_j beta(A_{g_j} - A_bar),

    ``A_bar = (1/m) sum_j A_{g_j}`` over the ``m`` shard samples (quadratic objective only).
    """
    _require_quadratic(objective)
    shard = objective.shard(node)
    m = shard.shape[0]
    b = check_int("batch", batch, 1, m)
    mats, groups = objective.data[5], objective.data[4]
    ids, counts = np.unique(groups[shard], return_counts=True)
    w = counts / m
    A_bar = np.einsum("g,gij->ij", w, mats[ids])
    pop = sum(wk * hessian_beta(mats[g] - A_bar) for g, wk in zip(ids, w, strict=True))
    return hessian_beta(A_bar) + finite_population_factor(m, b) * pop


def least_squares_batch_beta_mean(objective, node: int, batch: int) -> float:
    """Exact ``E beta(A_xi)`` over a minibatch of ``batch`` samples of ``node``'s shard, least
    squares.

    The least-squares minibatch loss ``F(x, xi) = (1/b) sum_{j in xi} [1/2 (a_j.x - y_j)^2 +
    (lam/2) ||x||^2]`` is a quadratic in ``x`` with Hessian ``A_xi = (1/b) sum_{j in xi} a_j a_j^T
    + lam I`` (the batch Gram matrix plus the regularisation) and gradient ``g_xi = A_xi x -
    (1/b) sum_{j in xi} y_j a_j``. With ``A_j = a_j a_j^T + lam I`` and the shard mean ``A_bar =
    S + lam I``, ``S = (1/m) sum_j a_j a_j^T``, the same without-replacement identity as
    :func:`quadratic_batch_beta_mean` gives::

        E beta(A_xi) = beta(A_bar) + (m-b)/(b(m-1)) * (1/m) sum_j beta(a_j a_j^T - S),
        beta(a a^T - S) = (||a||^2 - tr S)^2 + 2 (||a||^4 - 2 a^T S a + tr S^2)

    (``lam I`` cancels in ``A_j - A_bar``; it enters through ``beta(A_bar)`` only).
    """
    if objective.kind != KIND_LEAST_SQUARES:
        raise HDOInputError(f"this closed form needs the least-squares objective, "
                            f"got {objective.name}")
    shard = objective.shard(node)
    m = shard.shape[0]
    b = check_int("batch", batch, 1, m)
    feats, lam = objective.data[2][shard], float(objective.data[1][0])
    S = feats.T @ feats / m
    A_bar = S + lam * np.eye(objective.d)
    sq = np.einsum("ij,ij->i", feats, feats)
    trS = float(np.trace(S))
    aSa = np.einsum("ij,jk,ik->i", feats, S, feats)
    pop = float(np.mean((sq - trS) ** 2 + 2.0 * (sq**2 - 2.0 * aSa + np.sum(S * S))))
    return hessian_beta(A_bar) + finite_population_factor(m, b) * pop


def batch_beta_mean(objective, node: int, batch: int) -> float:
    """``E beta(A_xi)`` for the kinds of :data:`QUADRATIC_LOSS_KINDS` (quadratic, least
    squares, explicit quadratic: ``beta(A)``): :func:`quadratic_batch_beta_mean` or
    :func:`least_squares_batch_beta_mean`."""
    if objective.kind == KIND_LEAST_SQUARES:
        return least_squares_batch_beta_mean(objective, node, batch)
    if objective.kind == KIND_EXPLICIT_QUADRATIC:  # one fixed Hessian, no minibatch to average
        check_int("batch", batch, 1, 1)
        return hessian_beta(objective.data[5][0])
    return quadratic_batch_beta_mean(objective, node, batch)


def _require_quadratic(objective):
    if objective.kind != KIND_QUADRATIC:
        raise HDOInputError(f"this closed form needs the quadratic objective, got {objective.name}")


def exact_moments(objective, node: int, x, kind: str, rv: int, nu: float, batch: int):
    """Exact mean and moments of the estimator at ``x`` for ``node`` (unconditional), or ``None``.

    Returns a dict with ``mean`` (vector ``E G``), ``second_moment`` (``E ||G||^2``),
    ``variance`` (``E ||G - E G||^2``), ``centered_moment`` (``E ||G - grad f^i(x)||^2``) and
    ``conditional`` (``E_xi C(xi)``, the one-direction conditional second moment averaged over
    the minibatch). Only the keys that are known are present; ``None`` if nothing is.

    The estimator's row in :data:`hdo_theory.estimators.ESTIMATORS` names its moments function
    (``moments``; None: nothing known). Known for the built-ins: every kind on the quadratic
    and least-squares objectives (both have a quadratic minibatch loss); ``fo`` and
    ``zo-directional`` on every objective; the mean of ``coord-fd`` on every objective (it is
    linear in ``F``).
    """
    from hdo_theory.estimators import estimator_info

    x = check_point("x", x, objective.d)
    m = objective.shard_size(node)
    b = check_int("batch", batch, 1, m)
    rv = check_int("rv", rv, 1)
    info = estimator_info(kind)
    if info.moments is None:
        return None
    return info.moments(objective, node, x, rv, nu, b)


def node_moments(objective, node: int, x, rv: int, nu: float, batch: int, conditional,
                 averaged: bool = True, universal: bool = False):
    """The node formulas for an estimator that is conditionally unbiased on quadratics.

    ``conditional(eg2, ebeta, nu, d)`` is its one-direction conditional second moment ``E_xi
    C(xi)`` given ``E ||g_xi||^2 = eg2`` and ``E beta(A_xi) = ebeta`` (:func:`batch_beta_mean`
    on the kinds of :data:`QUADRATIC_LOSS_KINDS`, NaN off them);
    ``averaged``: ``rv`` directions are averaged (False: ``rv`` is ignored); ``universal``: the
    formulas hold on every objective (else ``None`` off :data:`QUADRATIC_LOSS_KINDS`).
    """
    d = objective.d
    quadratic = objective.kind in QUADRATIC_LOSS_KINDS
    if not universal and not quadratic:
        return None
    g = objective.node_grad(node, x)
    g2 = float(g @ g)
    eg2 = g2 + node_gradient_variance(objective, node, x, batch)  # E ||g_xi||^2
    ebeta = batch_beta_mean(objective, node, batch) if quadratic else float("nan")
    cond, eff_rv = conditional(eg2, ebeta, nu, d), (rv if averaged else 1)
    second = averaged_second_moment(eg2, cond, eff_rv)
    variance = second - g2
    return {
        "mean": g,
        "second_moment": second,
        "variance": variance,
        "centered_moment": variance,  # unbiased: E G = grad f^i(x)
        "conditional": cond,
    }


def fo_moments(objective, node, x, rv, nu, batch):
    """``G = g_xi`` on every objective (``rv`` is ignored)."""
    return node_moments(objective, node, x, rv, nu, batch, lambda eg2, eb, nu, d: eg2,
                        averaged=False, universal=True)


def directional_moments(objective, node, x, rv, nu, batch):
    """``C(xi) = (d+2) ||g_xi||^2`` on every objective."""
    return node_moments(objective, node, x, rv, nu, batch,
                        lambda eg2, eb, nu, d: directional_second_moment(eg2, d), universal=True)


def central_moments(objective, node, x, rv, nu, batch):
    """Quadratic losses only (quadratic, least squares): the central difference is ``(u.g) u``,
    so ``E[G G^T | xi] = E[u u^T g g^T u u^T] = 2 g g^T + ||g||^2 I`` (the Gaussian identity
    ``E[u u^T M u u^T] = M + M^T + tr(M) I``), trace ``(d+2) ||g_xi||^2``."""
    return node_moments(objective, node, x, rv, nu, batch,
                        lambda eg2, eb, nu, d: directional_second_moment(eg2, d))


def forward_moments(objective, node, x, rv, nu, batch):
    """Quadratic losses only (quadratic, least squares; the minibatch loss is exactly
    quadratic, so ``G = u u^T g_xi + (nu/2)(u^T A_xi u) u``): :func:`forward_second_moment`,
    from ``E[u u^T M u u^T] = M + M^T + tr(M) I`` and ``E[(u^T A u)^2 u u^T] = ((tr A)^2 +
    2 tr A^2) I + 4 (tr A) A + 8 A^2`` (trace ``(d+4) beta(A)``)."""
    return node_moments(objective, node, x, rv, nu, batch, forward_second_moment)


def sphere_moments(objective, node, x, rv, nu, batch):
    """Quadratic losses only (quadratic, least squares): :func:`sphere_second_moment`, from
    ``E[v_i^2 v_j^2] = 1/(d(d+2))`` (``i != j``) and ``E[v_i^4] = 3/(d(d+2))``."""
    return node_moments(objective, node, x, rv, nu, batch, sphere_second_moment)


def coordinate_fd_moments(objective, node, x, rv, nu, batch):
    """Every moment on the quadratic losses (quadratic, least squares: central differences are
    exact there, ``G = g_xi``, ``rv`` ignored); the mean only (:func:`coordinate_fd_mean`) on
    every other objective."""
    if objective.kind not in QUADRATIC_LOSS_KINDS:
        return {"mean": coordinate_fd_mean(objective, node, x, nu)}
    return fo_moments(objective, node, x, rv, nu, batch)


def coordinate_fd_mean(objective, node: int, x, nu: float) -> np.ndarray:
    """Exact mean of ``coord-fd`` on any objective: ``sum_k (f^i(x+nu e_k) - f^i(x-nu e_k))
    / (2 nu) e_k`` (the estimator is linear in ``F`` and ``E_xi F(., xi) = f^i``)."""
    out = np.empty(objective.d)
    xt = np.array(x, dtype=np.float64)
    for k in range(objective.d):
        xt[k] = x[k] + nu
        fp = objective.node_value(node, xt)
        xt[k] = x[k] - nu
        fm = objective.node_value(node, xt)
        xt[k] = x[k]
        out[k] = (fp - fm) / (2.0 * nu)
    return out


def cosine_wells_smoothing_bias(objective, x, nu: float) -> np.ndarray:
    r"""Exact Gaussian smoothing bias ``grad f^i_nu(x) - grad f^i(x)`` of the cosine wells (the
    mean of ``zo-forward`` / ``zo-central`` minus the gradient, node ``i``'s ``b_i``; the same
    at every node).

    .. math::

        \nabla f_\nu(x) - \nabla f(x) = \alpha \beta \big(1 - e^{-\beta^2 \nu^2 / 2}\big)
        \sin(\beta x)\quad\text{(coordinate-wise)}

    Why: every sample's loss is ``sum_k [x_k^2/2 + alpha cos(beta x_k)] + a_j.x``; Gaussian
    smoothing leaves the linear part unchanged and the quadratic one up to a constant, and
    ``E cos(beta (x_k + nu u_k)) = exp(-beta^2 nu^2 / 2) cos(beta x_k)`` (the characteristic
    function of ``u_k ~ N(0, 1)``), so only the cosine's gradient ``-alpha beta sin(beta x_k)``
    is damped. Independent of the samples: the bias is the same for any minibatch.
    """
    if objective.kind != KIND_COSINE_WELLS:
        raise HDOInputError(f"this closed form needs the cosine-wells objective, got "
                            f"{objective.name}")
    x = check_point("x", x, objective.d)
    alpha, beta = (float(v) for v in objective.data[1][:2])
    return alpha * beta * -np.expm1(-0.5 * beta**2 * float(nu) ** 2) * np.sin(beta * x)
