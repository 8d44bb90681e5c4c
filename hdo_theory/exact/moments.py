"""Exact direction moments of the estimators on a quadratic (docs/theory.md section 9).

On a quadratic minibatch loss ``F(x) = 1/2 x^T H x - h^T x`` with gradient ``g = H x - h``
every estimator of :mod:`hdo_theory.estimators` is exactly

.. math:: G = P g + \\frac{\\nu}{2} q, \\qquad
          P = \\frac{1}{rv}\\sum_r w_r w_r^T, \\quad q = \\frac{1}{rv}\\sum_r (w_r^T H w_r) w_r

(``w = u ~ N(0, I)`` for Gaussian directions, ``w = sqrt(d) v`` with ``v`` uniform on the unit
sphere for ``zo-sphere``; the sphere estimator's ``d (F(x + nu v) - F(x)) / nu v`` equals
``sqrt(d) v (sqrt(d) v)^T g + (nu/2) d (v^T H v) v``). The central difference and the JVP have
no ``q`` term (``(F(x+nu u) - F(x-nu u)) / (2 nu) = u^T g`` exactly); ``fo`` and ``coord-fd``
are ``G = g`` exactly (central differences along the axes are exact on a quadratic).

Moments used (derived in docs/theory.md):

* ``E P = I``; every odd moment of ``w`` vanishes, so ``E q = 0`` and ``E[P g q^T] = 0``.
* Gaussian: :math:`E[u u^T M u u^T] = M + M^T + \\mathrm{tr}(M) I` (Isserlis).
* Sphere: :math:`E[v_i v_j v_k v_l] = (\\delta_{ij}\\delta_{kl} + \\delta_{ik}\\delta_{jl}
  + \\delta_{il}\\delta_{jk}) / (d(d+2))`, so
  :math:`E[(d v v^T) M (d v v^T)] = \\frac{d}{d+2}(M + M^T + \\mathrm{tr}(M) I)`.
* With ``rv`` independent directions, for symmetric ``M``:
  :math:`E[P M P] = c_1 M + c_2 \\mathrm{tr}(M) I`, with
  ``c1 = 1 + 1/rv``, ``c2 = 1/rv`` (Gaussian) and ``c1 = 1 - 1/rv + 2 d / ((d+2) rv)``,
  ``c2 = d / ((d+2) rv)`` (sphere); ``c1 = 1, c2 = 0`` for ``fo`` and ``coord-fd``.
* Gaussian sixth moment (Isserlis, 15 pairings):
  :math:`E[(u^T H u)^2 u u^T] = ((\\mathrm{tr} H)^2 + 2 \\mathrm{tr} H^2) I + 4 (\\mathrm{tr} H) H + 8 H^2`;
  on the sphere every sixth moment is the Gaussian one divided by ``d(d+2)(d+4)``, so
  :math:`E[d^2 (v^T H v)^2 v v^T] = \\frac{d}{(d+2)(d+4)}(\\ldots)` with the same bracket.
  Hence :math:`E[q q^T] = \\frac{s_6}{rv}\\big[((\\mathrm{tr} H)^2 + 2\\mathrm{tr} H^2) I
  + 4(\\mathrm{tr} H) H + 8H^2\\big]` with ``s6 = 1`` (Gaussian) or ``d / ((d+2)(d+4))``.
"""

from __future__ import annotations

import numpy as np

from hdo_theory.errors import HDOInputError

#: Estimators the exact engine covers, and the shape of their direction matrix ``P``.
DIRECTION_KIND = {
    "fo": "exact",
    "coord-fd": "exact",
    "zo-directional": "gaussian",
    "zo-central": "gaussian",
    "zo-forward": "gaussian",
    "zo-sphere": "sphere",
}
#: Estimators whose ``q`` term (forward difference curvature) is present.
FORWARD_KINDS = ("zo-forward", "zo-sphere")


def check_estimator(kind: str, label: str) -> None:
    if kind not in DIRECTION_KIND:
        raise HDOInputError(
            f"{label} estimator {kind!r} is outside the exact engine's scope; supported: "
            f"{', '.join(DIRECTION_KIND)}"
        )


def pmp_coefficients(kind: str, rv: int, d: int) -> tuple[float, float]:
    """``(c1, c2)`` with ``E[P M P] = c1 M + c2 tr(M) I`` for symmetric ``M``.

    ``E[P M P] = (1/rv) E[w w^T M w w^T] + (1 - 1/rv) M`` (cross terms of independent
    directions factor as ``E[w w^T] M E[w w^T] = M``).
    """
    shape = DIRECTION_KIND[kind]
    if shape == "exact":
        return 1.0, 0.0
    if shape == "gaussian":
        return 1.0 + 1.0 / rv, 1.0 / rv
    f = d / (d + 2.0)
    return 1.0 - 1.0 / rv + 2.0 * f / rv, f / rv


def sixth_moment_scale(kind: str, d: int) -> float:
    """``s6`` of ``E[q q^T]`` (module docstring); 0 for estimators without a ``q`` term."""
    if kind not in FORWARD_KINDS:
        return 0.0
    return 1.0 if DIRECTION_KIND[kind] == "gaussian" else d / ((d + 2.0) * (d + 4.0))


def gaussian_sixth_bracket(H: np.ndarray) -> np.ndarray:
    """``((tr H)^2 + 2 tr H^2) I + 4 (tr H) H + 8 H^2`` = ``E[(u^T H u)^2 u u^T]``."""
    d = H.shape[0]
    tr = np.trace(H)
    H2 = H @ H
    return ((tr * tr + 2.0 * np.trace(H2)) * np.eye(d) + 4.0 * tr * H + 8.0 * H2)


def gaussian_sixth_bracket_diag(lam: np.ndarray) -> np.ndarray:
    """The diagonal of :func:`gaussian_sixth_bracket` for ``H = diag(lam)`` (it is diagonal)."""
    tr = lam.sum()
    return (tr * tr + 2.0 * np.dot(lam, lam)) + 4.0 * tr * lam + 8.0 * lam * lam
