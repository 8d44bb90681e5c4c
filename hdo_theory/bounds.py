"""Right-hand sides of the paper's lemmas and theorems, constants as printed.

Every function names its lemma (numbering of the extended version, arXiv 2210.07703, appendix)
and carries the formula in its docstring. Where THEORY.md marks a slip, the function follows
the corrected reading and says so; the printed reading is available where it differs.
"""

from __future__ import annotations

import math

# ---------------------------------------------------------------------------------------------
# Lemma 1 (Gaussian smoothing; Nesterov & Spokoiny 2017)
# ---------------------------------------------------------------------------------------------


def gaussian_norm_moment_bound(d: int, k: int) -> float:
    """Lemma 1 item 1: :math:`E\\|u\\|^k \\le (d + k)^{k/2}` for ``k >= 2``."""
    return float((d + k) ** (k / 2.0))


def lemma1_smoothing_value_gap(nu: float, L: float, d: int) -> float:
    """Lemma 1 item 3: :math:`|f_\\nu(x) - f(x)| \\le \\frac{\\nu^2}{2} L d`."""
    return 0.5 * nu**2 * L * d


def lemma1_smoothing_bias(nu: float, L: float, d: int) -> float:
    """Lemma 1 item 4: :math:`\\|\\nabla f_\\nu(x) - \\nabla f(x)\\| \\le \\frac{\\nu}{2} L (d+3)^{3/2}`.

    (The paper prints ``grad f^i`` on the right; THEORY.md marks it a slip. Both sides are
    about the same function.)
    """
    return 0.5 * nu * L * (d + 3) ** 1.5


def sharper_smoothing_bias(nu: float, L: float, d: int) -> float:
    """Sharper than Lemma 1 item 4: :math:`\\|\\nabla f_\\nu - \\nabla f\\| \\le \\nu L \\sqrt d`.

    From :math:`\\nabla f_\\nu(x) = E\\,\\nabla f(x + \\nu u)` and :math:`E\\|u\\| \\le \\sqrt d`.
    """
    return nu * L * math.sqrt(d)


def sphere_smoothing_bias(nu: float, L: float) -> float:
    """Ball smoothing (Flaxman, Kalai & McMahan 2005): bias ``<= L nu``, independent of ``d``."""
    return L * nu


def lemma1_forward_second_moment(nu: float, L: float, d: int, grad_norm_sq: float) -> float:
    """Lemma 1 item 5:

    .. math:: \\frac{1}{\\nu^2} E[(f(x+\\nu u) - f(x))^2 \\|u\\|^2]
              \\le \\frac{\\nu^2}{2} L^2 (d+6)^3 + 2(d+4)\\|\\nabla f(x)\\|^2.

    The left side is exactly :math:`E\\|G_\\nu\\|^2` of the deterministic forward difference.
    """
    return 0.5 * nu**2 * L**2 * (d + 6) ** 3 + 2.0 * (d + 4) * grad_norm_sq


# ---------------------------------------------------------------------------------------------
# Lemma 5 (ZO moments)
# ---------------------------------------------------------------------------------------------


def lemma5_second_moment(nu: float, L: float, d: int, grad_norm_sq: float, s_sq: float) -> float:
    """Lemma 5, Eq. (6):

    .. math:: E\\|G_\\nu\\|^2 \\le \\frac12 \\nu^2 L^2 (d+6)^3 + 2(d+4)(\\|\\nabla f^i(x)\\|^2 + s_i^2).
    """
    return 0.5 * nu**2 * L**2 * (d + 6) ** 3 + 2.0 * (d + 4) * (grad_norm_sq + s_sq)


def lemma5_centered_moment(nu: float, L: float, d: int, grad_norm_sq: float, s_sq: float) -> float:
    """Lemma 5, Eq. (7):

    .. math:: E\\|G_\\nu - \\nabla f^i(x)\\|^2 \\le \\frac32 \\nu^2 L^2 (d+6)^3
              + 4(d+4)(\\|\\nabla f^i(x)\\|^2 + s_i^2).
    """
    return 1.5 * nu**2 * L**2 * (d + 6) ** 3 + 4.0 * (d + 4) * (grad_norm_sq + s_sq)
