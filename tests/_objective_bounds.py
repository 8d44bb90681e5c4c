"""Derived error budgets for tests on the per-sample losses (rounding and truncation).

Rounding model (Higham, *Accuracy and Stability of Numerical Algorithms*, ch. 3): a value
computed by a chain of ``T`` floating-point operations, each exact up to a relative ``eps``
(libm's exp/log/cos/sin are within 1 ulp, counted as one operation), differs from the exact
value by at most ``gamma_T * S ~ T * eps * S``, where ``S`` bounds the sum of the absolute
values of the intermediate terms. We use ``2 T eps S`` (the factor 2 covers ``gamma_T`` vs
``T eps`` and libm's ulp). The helpers below give ``(S, T)`` per kind for the loss and for a
directional derivative ``u . grad F``, and ``M3 = sup |d^3/dt^3 F(x + t u, j)|`` over unit ``u``
for the truncation error ``h^2 M3 / 6`` of a central difference.
"""

from __future__ import annotations

import math

import numpy as np

from hdo_theory.objectives import kernels as K

EPS = float(np.finfo(float).eps)

#: max_s |sigma'(s) (1 - 2 sigma(s))| = max_q q(1-q)(1-2q) over q in [0,1] = 1/(6 sqrt 3)
SIGMA2_MAX = 1.0 / (6.0 * math.sqrt(3.0))
#: |d^3/dt^3 t^2/(1+t^2)| = |24 t (t^2 - 1)| / (1+t^2)^4 <= 24 (1+t^2)^{3/2} / (1+t^2)^4 <= 24
RATIONAL3_MAX = 24.0
#: max |rho'| for rho(r) = r^2/(1+r^2) (at r = 1/sqrt 3); max |rho''| = 2 (at r = 0)
RHO1_MAX = 3.0 * math.sqrt(3.0) / 8.0


def unpack(obj):
    kind, params, A, y, groups, mats, centers = obj.data
    return int(kind), params, A, y, groups, mats, centers


def third_derivative_bound(obj, j: int) -> float:
    """``M3 >= sup_{x, ||u|| = 1} |d^3/dt^3 F(x + t u, j)|``.

    quadratic, least squares, explicit quadratic: 0 (quadratic in x). logistic:
    ``|y|^3 ||a||^3 / (6 sqrt 3)`` (``d^3/dz^3 log(1 + e^{-yz}) = -y^3 sigma''``). non-convex
    logistic: ``+ 24 lam`` (the regulariser's third derivative times ``sum_k |u_k|^3 <= 1``).
    robust: ``24 ||a||^3``.
    cosine wells: ``alpha beta^3 sum_k |u_k|^3 <= alpha beta^3``. softmax: the third derivative
    of log-sum-exp along ``v = U a`` is the third central moment of ``v`` under ``p``; ``|v_k| <=
    ||a||`` so the range is ``<= 2 ||a||`` and the moment ``<= 8 ||a||^3``.
    """
    kind, params, A, y, *_ = unpack(obj)
    if kind in (K.KIND_QUADRATIC, K.KIND_LEAST_SQUARES, K.KIND_EXPLICIT_QUADRATIC):
        return 0.0
    if kind == K.KIND_COSINE_WELLS:
        return float(params[0] * params[1] ** 3)
    a3 = float(np.linalg.norm(A[j])) ** 3
    if kind == K.KIND_LOGISTIC:
        return abs(y[j]) ** 3 * a3 * SIGMA2_MAX
    if kind == K.KIND_LOGISTIC_NONCVX:
        return abs(y[j]) ** 3 * a3 * SIGMA2_MAX + RATIONAL3_MAX * float(params[0])
    if kind == K.KIND_ROBUST:
        return RATIONAL3_MAX * a3
    if kind == K.KIND_SOFTMAX:
        return 8.0 * a3
    raise AssertionError(kind)


def loss_rounding(obj, j: int, x) -> tuple[float, int]:
    """``(S, T)`` with ``|fl(F(x, j)) - F(x, j)| <= 2 T eps S``."""
    kind, params, A, y, groups, mats, centers = unpack(obj)
    d = x.shape[0]
    lam = float(params[0]) if params.shape[0] else 0.0
    if kind == K.KIND_QUADRATIC:
        v = np.abs(x - centers[j])
        return float(v @ np.abs(mats[groups[j]]) @ v) + float(v @ v), d * d + 3 * d
    if kind == K.KIND_EXPLICIT_QUADRATIC:  # sum_r x_r (t_r / 2 - b_r), t = A x: two d-sums
        v = np.abs(x)
        return float(v @ (0.5 * np.abs(mats[0]) @ v + np.abs(centers[j]))), 2 * d + 4
    if kind == K.KIND_COSINE_WELLS:
        al, be = float(params[0]), float(params[1])
        ax = np.abs(x)
        return float(np.sum(ax * ax / 2 + al + np.abs(A[j] * x) + al * be * ax)), 6 * d + 4
    if kind == K.KIND_SOFTMAX:
        Kc = int(params[1])
        p = A.shape[1]
        W = x.reshape(Kc, p)
        zabs = np.abs(W) @ np.abs(A[j])
        Z = W @ A[j]
        lse = float(np.max(Z) + np.log(np.sum(np.exp(Z - np.max(Z)))))
        S = 2 * float(zabs.max()) + abs(lse) + abs(float(Z[int(y[j])])) + lam * float(x @ x)
        return S, p + 3 * Kc + 8
    a = A[j]
    zabs = float(np.abs(a) @ np.abs(x))
    F = float(K.sample_loss(obj.data, j, x))
    if kind == K.KIND_LEAST_SQUARES:
        r = float(a @ x - y[j])
        return abs(r) * (zabs + abs(y[j])) + r * r + lam * float(x @ x), 2 * d + 8
    if kind == K.KIND_LOGISTIC:
        return abs(y[j]) * zabs + abs(F) + lam * float(x @ x), 2 * d + 8
    if kind == K.KIND_LOGISTIC_NONCVX:
        return abs(y[j]) * zabs + abs(F) + lam * d, 4 * d + 8
    if kind == K.KIND_ROBUST:
        return RHO1_MAX * (zabs + abs(y[j])) + 1.0 + lam * float(x @ x), 2 * d + 8
    raise AssertionError(kind)


def jvp_rounding(obj, j: int, x, u) -> tuple[float, int]:
    """``(S, T)`` with ``|fl(u . grad F(x, j)) - u . grad F(x, j)| <= 2 T eps S``.

    The same bound covers ``numpy.dot(u, fl(grad F))`` (the component errors add up to at most
    the same sum of absolute terms, plus one dot product of ``d`` terms, counted in ``T``).
    """
    kind, params, A, y, groups, mats, centers = unpack(obj)
    d = x.shape[0]
    au = np.abs(u)
    lam = float(params[0]) if params.shape[0] else 0.0
    if kind == K.KIND_QUADRATIC:
        return float(au @ np.abs(mats[groups[j]]) @ np.abs(x - centers[j])), 3 * d + 4
    if kind == K.KIND_EXPLICIT_QUADRATIC:  # sum_r u_r (t_r - b_r), t = A x
        return float(au @ (np.abs(mats[0]) @ np.abs(x) + np.abs(centers[j]))), 2 * d + 4
    if kind == K.KIND_COSINE_WELLS:
        al, be = float(params[0]), float(params[1])
        ax = np.abs(x)
        return float(au @ (ax + al * be + np.abs(A[j]) + al * be * be * ax)), 4 * d + 6
    if kind == K.KIND_SOFTMAX:
        Kc = int(params[1])
        p = A.shape[1]
        W = x.reshape(Kc, p)
        Z = W @ A[j]
        pr = np.exp(Z - Z.max())
        pr /= pr.sum()
        pr[int(y[j])] += 1.0
        ua = np.abs(u.reshape(Kc, p)) @ np.abs(A[j])
        zmax = float((np.abs(W) @ np.abs(A[j])).max())
        S = float(ua @ pr) + 2.0 * zmax * float(ua.sum()) + lam * float(np.abs(x) @ au)
        return S, 2 * p + 3 * Kc + 8
    a = np.abs(A[j])
    zabs = float(a @ np.abs(x))
    a_u = float(a @ au)
    xu = float(np.abs(x) @ au)
    yj = abs(float(y[j]))
    if kind == K.KIND_LEAST_SQUARES:
        r = abs(float(A[j] @ x - y[j]))
        return (r + zabs + yj) * a_u + lam * xu, 3 * d + 6
    if kind == K.KIND_LOGISTIC:
        return yj * a_u + 0.25 * yj * yj * zabs * a_u + lam * xu, 3 * d + 6
    if kind == K.KIND_LOGISTIC_NONCVX:
        return yj * a_u + 0.25 * yj * yj * zabs * a_u + lam * float(au.sum()), 5 * d + 6
    if kind == K.KIND_ROBUST:
        return RHO1_MAX * a_u + 2.0 * (zabs + yj) * a_u + lam * xu, 3 * d + 6
    raise AssertionError(kind)


def central_difference_check(obj, j: int, x, u, L: float):
    """``(fd, h, tol)``: central difference of ``F(., j)`` at ``x`` along unit ``u``.

    ``|fd - u . grad F(x, j)| <= h^2 M3 / 6 + (rounding of F(x +- h u), each 2 T eps S,
    plus the rounding of the points x +- h u, moving F by <= eps (||x|| + h) G with
    G = ||grad F(x)|| + L h) / (2 h)``. ``h`` minimises that sum; h = 1 when M3 = 0 (the
    difference is then exact up to rounding).
    """
    M3 = third_derivative_bound(obj, j)
    g = np.zeros_like(x)
    K.sample_grad_add(obj.data, j, x, 1.0, g)
    S0, T = loss_rounding(obj, j, x)
    nx = float(np.linalg.norm(x))

    def rnd(h):
        Sp, _ = loss_rounding(obj, j, x + h * u)
        Sm, _ = loss_rounding(obj, j, x - h * u)
        G = float(np.linalg.norm(g)) + L * h
        return 2 * T * EPS * (Sp + Sm) + 2 * EPS * (nx + h) * G

    if M3 == 0.0:
        h = 1.0
    else:
        h = min(1.0, (3.0 * rnd(1e-6) / M3) ** (1.0 / 3.0))
    fd = (K.sample_loss(obj.data, j, x + h * u) - K.sample_loss(obj.data, j, x - h * u)) / (2 * h)
    tol = h * h * M3 / 6.0 + rnd(h) / (2 * h)
    return float(fd), h, tol
