"""Right-hand sides of the paper's lemmas and theorems, constants as printed.

Every function names its lemma (numbering of the extended version, arXiv 2210.07703, appendix)
and carries the formula in its docstring. Where docs/theory.md section 8 marks a slip, the function follows
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

    (The paper prints ``grad f^i`` on the right; docs/theory.md#slip-3-lemma-1-item-4-names-grad-fi-and-is-loose
    marks it a slip. Both sides are
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


def coordinate_fd_bias(nu: float, L: float, d: int) -> float:
    """Coordinate central differences (beyond the paper): bias ``<= sqrt(d) L nu / 2``.

    For ``f`` with an ``L``-Lipschitz gradient, ``|f(x + nu e_k) - f(x) - nu g_k| <= L nu^2 / 2``
    on each side, so each coordinate ``(f(x+nu e_k) - f(x-nu e_k)) / (2 nu)`` is within
    ``L nu / 2`` of ``g_k``; over ``d`` coordinates the error norm is ``<= sqrt(d) L nu / 2``.
    """
    return 0.5 * math.sqrt(d) * L * nu


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


# =============================================================================================
# The gossip process and Theorem 1 (docs/theory.md sections 4-6). One parameter record for all.
# =============================================================================================

# Docstrings carry the formulas in LaTeX; long math lines are clearer unbroken.
# ruff: noqa: E501
from dataclasses import asdict, dataclass, field, replace  # noqa: E402


@dataclass(frozen=True)
class BoundParams:
    """Everything a lemma or theorem of sections 3-4 reads (docs/theory.md notation).

    ``sum_s_sq0`` / ``sum_s_sq1`` are :math:`\\sum_{i\\in N_0} s_i^2` and
    :math:`\\sum_{i\\in N_1} s_i^2`; :math:`\\sigma_k^2 = (1/n_k)\\sum_{N_k} s_i^2` (Definition 1)
    is derived. ``c`` is the smoothing divisor of ``nu = eta / c`` (Theorem 1: ``c = sqrt(d)``).
    ``f0_gap`` is :math:`f(\\mu_0) - f^*`, ``dist0_sq`` is :math:`\\|\\mu_0 - x^*\\|^2`.
    """

    n0: int
    n1: int
    d: int
    L: float
    eta: float
    ell: float = 0.0
    nu: float | None = None
    c: float | None = None
    varsigma0_sq: float = 0.0
    varsigma1_sq: float = 0.0
    sum_s_sq0: float = 0.0
    sum_s_sq1: float = 0.0
    T: int = 1
    f0_gap: float = 0.0
    dist0_sq: float = 0.0
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def n(self) -> int:
        return self.n0 + self.n1

    @property
    def c_eff(self) -> float:
        """``c`` as given, else Theorem 1's ``sqrt(d)``."""
        return float(self.c) if self.c is not None else math.sqrt(self.d)

    @property
    def nu_eff(self) -> float:
        """``nu`` as given, else ``eta / c``."""
        return float(self.nu) if self.nu is not None else self.eta / self.c_eff

    @property
    def sigma0_sq(self) -> float:
        return self.sum_s_sq0 / self.n0 if self.n0 else 0.0

    @property
    def sigma1_sq(self) -> float:
        return self.sum_s_sq1 / self.n1 if self.n1 else 0.0

    def with_(self, **kw) -> BoundParams:
        return replace(self, **kw)

    def as_dict(self) -> dict:
        out = asdict(self)
        out.pop("extra")
        out.update(n=self.n, c_eff=self.c_eff, nu_eff=self.nu_eff,
                   sigma0_sq=self.sigma0_sq, sigma1_sq=self.sigma1_sq)
        return out


# ---------------------------------------------------------------------------------------------
# Exact facts of section 3 (no inequality: these are equalities)
# ---------------------------------------------------------------------------------------------


def exact_pairwise_contraction(n: int) -> float:
    """Pure averaging (eta = 0), one uniform pair: :math:`E[\\Gamma_{t+1}|X_t] = (1 - \\frac{1}{n-1})\\Gamma_t`.

    Returns the factor ``1 - 1/(n-1)`` (exact; docs/theory.md#exact-facts).
    """
    return 1.0 - 1.0 / (n - 1)


def exact_matching_contraction(n: int) -> float:
    """Random perfect matching, eta = 0, ``n`` even: :math:`E[\\Gamma'|X] = (1 - \\frac{n}{2(n-1)})\\Gamma`."""
    return 1.0 - n / (2.0 * (n - 1))


# ---------------------------------------------------------------------------------------------
# Lemma chain (constants as printed)
# ---------------------------------------------------------------------------------------------


def lemma2_gamma_next(p: BoundParams, gamma: float, mg: float) -> float:
    """Lemma 2: :math:`E\\Gamma_{t+1} \\le (1 - \\frac{1}{2n}) E\\Gamma_t + \\frac4n \\eta^2 E M^G_t`."""
    n = p.n
    return (1.0 - 1.0 / (2 * n)) * gamma + 4.0 / n * p.eta**2 * mg


def _mg_common(p: BoundParams, gamma: float) -> float:
    """The terms Lemmas 3 and 16 share (everything but the f-gap / gradient-norm term)."""
    n, d, L = p.n, p.d, p.L
    return (
        6 * (d + 4) * L**2 * gamma
        + (6 * (d + 4) * p.n0 * p.varsigma0_sq + 3 * p.n1 * p.varsigma1_sq) / n
        + (2 * (d + 4) * p.sum_s_sq0 + p.sum_s_sq1) / n
        + p.eta**2 * p.n0 * L**2 * (d + 6) ** 3 / (2 * n * p.c_eff**2)
    )


def lemma3_mg(p: BoundParams, gamma: float, f_gap: float) -> float:
    """Lemma 3 (convex):

    .. math:: E M^G_t \\le 6(d+4)L^2 E\\Gamma_t + \\frac{6(d+4)n_0\\varsigma_0^2 + 3n_1\\varsigma_1^2}{n}
              + 6(2d+9) L E(f(\\mu_t) - f^*) + \\frac{2(d+4)\\sum_{N_0}s_i^2 + \\sum_{N_1}s_i^2}{n}
              + \\frac{\\eta^2 n_0 L^2 (d+6)^3}{2 n c^2}.
    """
    return _mg_common(p, gamma) + 6 * (2 * p.d + 9) * p.L * f_gap


def lemma16_mg(p: BoundParams, gamma: float, grad_norm_sq: float) -> float:
    """Lemma 16 (non-convex): Lemma 3 with the f-gap term replaced by
    :math:`\\frac{6(d+4)n_0 + 3n_1}{n} E\\|\\nabla f(\\mu_t)\\|^2`.
    """
    return _mg_common(p, gamma) + (6 * (p.d + 4) * p.n0 + 3 * p.n1) / p.n * grad_norm_sq


def lemma10_bias(p: BoundParams) -> float:
    """Lemma 10: :math:`B \\le \\frac{\\eta n_0 L (d+3)^{3/2}}{2 c n}` (with ``nu = eta / c``)."""
    return p.eta * p.n0 * p.L * (p.d + 3) ** 1.5 / (2 * p.c_eff * p.n)


def lemma10_bias_at_nu(p: BoundParams) -> float:
    """Lemma 10 written with the radius actually used: :math:`B \\le \\frac{n_0}{n}\\frac{\\nu}{2}L(d+3)^{3/2}`.

    Equals :func:`lemma10_bias` when ``nu = eta / c``.
    """
    return p.n0 / p.n * lemma1_smoothing_bias(p.nu_eff, p.L, p.d)


def _gamma_noise_common(p: BoundParams) -> float:
    n, d, eta = p.n, p.d, p.eta
    return (
        12 * eta**2 * (2 * (d + 4) * p.n0 * p.varsigma0_sq + p.n1 * p.varsigma1_sq) / n**2
        + 4 * eta**2 * (2 * (d + 4) * p.sum_s_sq0 + p.sum_s_sq1) / n**2
        + 2 * eta**4 * p.n0 * p.L**2 * (d + 6) ** 3 / (n**2 * p.c_eff**2)
    )


def lemma11_gamma_next(p: BoundParams, gamma: float, f_gap: float) -> float:
    """Lemma 11 (convex; needs :math:`\\eta \\le 1/(14 L\\sqrt{d+4})`):

    .. math:: E\\Gamma_{t+1} \\le (1 - \\frac{1}{4n})E\\Gamma_t
       + \\frac{12\\eta^2(2(d+4)n_0\\varsigma_0^2 + n_1\\varsigma_1^2)}{n^2}
       + \\frac{24\\eta^2(2d+9)L\\,E(f(\\mu_t)-f^*)}{n}
       + \\frac{4\\eta^2(2(d+4)\\sum_{N_0}s_i^2 + \\sum_{N_1}s_i^2)}{n^2}
       + \\frac{2\\eta^4 n_0 L^2 (d+6)^3}{n^2 c^2}.
    """
    n = p.n
    return (
        (1 - 1 / (4 * n)) * gamma
        + _gamma_noise_common(p)
        + 24 * p.eta**2 * (2 * p.d + 9) * p.L * f_gap / n
    )


def lemma17_gamma_next(p: BoundParams, gamma: float, grad_norm_sq: float) -> float:
    """Lemma 17 (non-convex; needs :math:`\\eta \\le 1/(10 L\\sqrt{d+4})`): Lemma 11 with the
    f-gap term replaced by :math:`\\frac{4\\eta^2(6(d+4)n_0 + 3n_1)}{n^2}E\\|\\nabla f(\\mu_t)\\|^2`.
    """
    n = p.n
    return (
        (1 - 1 / (4 * n)) * gamma
        + _gamma_noise_common(p)
        + 4 * p.eta**2 * (6 * (p.d + 4) * p.n0 + 3 * p.n1) * grad_norm_sq / n**2
    )


def lemma11_fixed_point(p: BoundParams, f_gap: float) -> float:
    """Stationary level of the Lemma 11 recursion: ``4 n`` times its additive terms."""
    return 4 * p.n * (lemma11_gamma_next(p, 0.0, f_gap))


def lemma14_mean_step(p: BoundParams, mg: float) -> float:
    """Lemma 14: :math:`E\\|\\mu_{t+1} - \\mu_t\\|^2 \\le \\frac{4\\eta^2}{n^2} E M^G_t`."""
    return 4 * p.eta**2 * mg / p.n**2


def lemma19_inner(p: BoundParams, grad_norm_sq: float, B: float, gamma: float) -> float:
    """Lemma 19:

    .. math:: E\\langle \\nabla f(\\mu_t), \\mu_{t+1} - \\mu_t\\rangle \\le
       -\\frac{\\eta}{n}E\\|\\nabla f(\\mu_t)\\|^2 + \\frac{2\\eta}{n}B^2 + \\frac{2L^2\\eta}{n}E\\Gamma_t.
    """
    eta, n = p.eta, p.n
    return -eta / n * grad_norm_sq + 2 * eta / n * B**2 + 2 * p.L**2 * eta / n * gamma


LEMMA13_READINGS = ("proof", "definition")


def lemma13_bias_term(p: BoundParams, B: float, reading: str = "definition") -> float:
    """Lemma 13's bias term, both readings (docs/theory.md#slip-4-lemma-13-the-power-of-eta-on-the-bias-term).

    * ``"proof"``: :math:`\\frac{2\\eta^2}{n} B` (as printed in the proof);
    * ``"definition"``: :math:`\\frac{2\\eta}{n} B` (what :math:`F'_t - F_t` gives: the mean's
      expected step is :math:`-\\frac{2\\eta}{n}\\cdot\\frac1n\\sum_i E G^i`, whose bias part has
      norm at most :math:`\\frac{2\\eta}{n}B`).
    """
    if reading == "proof":
        return 2 * p.eta**2 / p.n * B
    if reading == "definition":
        return 2 * p.eta / p.n * B
    raise ValueError(f"reading must be one of {LEMMA13_READINGS}, got {reading!r}")


# ---------------------------------------------------------------------------------------------
# Eq. 1 and Theorem 1
# ---------------------------------------------------------------------------------------------


def eq1_noise(p: BoundParams, k: int = 1) -> dict[str, float]:
    """The paper's Eq. 1, three "stochastic noise" quantities:

    * heterogeneity :math:`\\eta (d n_0 \\varsigma_0^2 + n_1 \\varsigma_1^2)/n^2`,
    * variance :math:`\\eta (d n_0 \\sigma_0^2 + n_1 \\sigma_1^2)/n^2`,
    * bias :math:`\\eta^2 (L d n_0 / n)^k` (``k = 1`` convex, ``k = 2`` non-convex).
    """
    n, d, eta = p.n, p.d, p.eta
    return {
        "heterogeneity": eta * (d * p.n0 * p.varsigma0_sq + p.n1 * p.varsigma1_sq) / n**2,
        "variance": eta * (d * p.n0 * p.sigma0_sq + p.n1 * p.sigma1_sq) / n**2,
        "bias": eta**2 * (p.L * d * p.n0 / n) ** k,
    }


def theorem1_convex_eta(n: int, T: int, ell: float) -> float:
    """Theorem 1 (convex) step size :math:`\\eta = 4 n \\log T / (T \\ell)`."""
    return 4.0 * n * math.log(T) / (T * ell)


def theorem1_convex_weight_ratio(eta: float, ell: float, n: int) -> float:
    """Theorem 1 weights :math:`w_t = (1 - \\eta\\ell/(2n))^{-t}`: returns the base ``1/(1 - eta ell/(2n))``."""
    return 1.0 / (1.0 - eta * ell / (2 * n))


def theorem1_convex_terms(p: BoundParams) -> dict[str, float]:
    """The four terms inside Theorem 1's convex O(), constants as printed (each with factor 1):

    .. math:: \\frac{L\\|\\mu_0-x^*\\|^2}{T\\log T},\\;
       \\frac{\\log T\\,(d n_0\\varsigma_0^2 + n_1\\varsigma_1^2)}{T\\ell n},\\;
       \\frac{\\log T\\,(d n_0\\sigma_0^2 + n_1\\sigma_1^2)}{T\\ell n},\\;
       \\frac{\\log T\\, d n_0}{T\\ell n}.
    """
    T, n, d, ell = p.T, p.n, p.d, p.ell
    lt = math.log(T)
    return {
        "init": p.L * p.dist0_sq / (T * lt),
        "heterogeneity": lt * (d * p.n0 * p.varsigma0_sq + p.n1 * p.varsigma1_sq) / (T * ell * n),
        "variance": lt * (d * p.n0 * p.sigma0_sq + p.n1 * p.sigma1_sq) / (T * ell * n),
        "bias": lt * d * p.n0 / (T * ell * n),
    }


def theorem1_convex_bound(p: BoundParams, C: float = 1.0) -> float:
    """Theorem 1 (strongly convex), explicit form with the O() constant ``C`` left free:

    .. math:: E[f(y_T) - f^*] + \\frac{\\ell}{8}E\\|\\mu_T - x^*\\|^2 \\le C\\,\\Big(
       \\frac{L\\|\\mu_0-x^*\\|^2}{T\\log T} + \\frac{\\log T (d n_0\\varsigma_0^2 + n_1\\varsigma_1^2)}{T\\ell n}
       + \\frac{\\log T (d n_0\\sigma_0^2 + n_1\\sigma_1^2)}{T\\ell n} + \\frac{\\log T\\, d n_0}{T\\ell n}\\Big)

    with :math:`\\eta = 4n\\log T/(T\\ell)`. Verification fits ``C`` rather than assuming 1.
    """
    return C * sum(theorem1_convex_terms(p).values())


def theorem1_nonconvex_eta(n: int, d: int, T: int) -> float:
    """Theorem 1 (non-convex) step size :math:`\\eta = n / \\sqrt{d T}` (and ``nu = eta / sqrt(d)``)."""
    return n / math.sqrt(d * T)


def theorem1_nonconvex_terms(p: BoundParams) -> dict[str, float]:
    """The four terms of Theorem 1's non-convex O(), each multiplied by :math:`\\sqrt{d/T}`:

    .. math:: (f(\\mu_0)-f^*),\\; \\frac{L(d n_0\\varsigma_0^2 + n_1\\varsigma_1^2)}{nd},\\;
       \\frac{L(d n_0\\sigma_0^2 + n_1\\sigma_1^2)}{nd},\\; L^2\\sqrt{n_0/n}.
    """
    n, d, L = p.n, p.d, p.L
    s = math.sqrt(d / p.T)
    return {
        "init": p.f0_gap * s,
        "heterogeneity": L * (d * p.n0 * p.varsigma0_sq + p.n1 * p.varsigma1_sq) / (n * d) * s,
        "variance": L * (d * p.n0 * p.sigma0_sq + p.n1 * p.sigma1_sq) / (n * d) * s,
        "bias": L**2 * math.sqrt(p.n0 / n) * s,
    }


def theorem1_nonconvex_bound(p: BoundParams, C: float = 1.0) -> float:
    """Theorem 1 (non-convex), explicit form with the O() constant ``C`` left free:

    .. math:: \\frac1T\\sum_t E\\|\\nabla f(\\mu_t)\\|^2 \\le C\\Big((f(\\mu_0)-f^*)
       + \\frac{L(dn_0\\varsigma_0^2+n_1\\varsigma_1^2)}{nd} + \\frac{L(dn_0\\sigma_0^2+n_1\\sigma_1^2)}{nd}
       + L^2\\sqrt{n_0/n}\\Big)\\sqrt{d/T}

    with :math:`\\eta = n/\\sqrt{dT}`, :math:`\\nu = \\eta/\\sqrt d`.
    """
    return C * sum(theorem1_nonconvex_terms(p).values())


# ---------------------------------------------------------------------------------------------
# Admissibility: which stated conditions a configuration breaks
# ---------------------------------------------------------------------------------------------

#: Lemmas whose statement assumes the theorem's smoothing radius nu = eta / c.
_NU_TIED = ("lemma3", "lemma16", "lemma10", "lemma11", "lemma17")


def violated_conditions(p: BoundParams, statement: str, omega_const: float = 1.0,
                        rtol: float = 1e-9) -> list[str]:
    """Which stated conditions of ``statement`` the configuration ``p`` breaks ([] = admissible).

    ``statement`` is one of ``lemma2 lemma3 lemma16 lemma10 lemma11 lemma17 lemma14 lemma19
    theorem1-convex theorem1-nonconvex``. The theorems' lower bounds on ``T`` are
    ``Omega(...)`` statements: they are checked with the hidden constant ``omega_const``
    (default 1, stated in every message).
    """
    out: list[str] = []
    n, d, L, eta = p.n, p.d, p.L, p.eta
    if n < 2:
        out.append(f"n = {n} < 2")
    if statement in _NU_TIED or statement.startswith("theorem1"):
        if p.nu is not None and abs(p.nu - eta / p.c_eff) > rtol * max(p.nu, 1e-300):
            out.append(f"nu = {p.nu:.3g} differs from eta/c = {eta / p.c_eff:.3g}")
    if statement.startswith("theorem1") and p.c is not None:
        # Theorem 1 fixes c = sqrt(d) (nu = eta / sqrt(d)); another c is outside its statement
        if abs(p.c - math.sqrt(p.d)) > rtol * math.sqrt(p.d):
            out.append(f"c = {p.c:.3g} differs from sqrt(d) = {math.sqrt(p.d):.3g}")
    if statement in ("lemma3", "lemma11", "theorem1-convex") and not p.ell > 0:
        out.append("f is not strongly convex (ell <= 0)")
    if statement in ("lemma11", "theorem1-convex"):
        cap = 1.0 / (14 * L * math.sqrt(d + 4))
        if eta > cap * (1 + rtol):
            out.append(f"eta = {eta:.3g} > 1/(14 L sqrt(d+4)) = {cap:.3g} (Lemma 11)")
    if statement in ("lemma17", "theorem1-nonconvex"):
        cap = 1.0 / (10 * L * math.sqrt(d + 4))
        if eta > cap * (1 + rtol):
            out.append(f"eta = {eta:.3g} > 1/(10 L sqrt(d+4)) = {cap:.3g} (Lemma 17)")
    if statement == "theorem1-convex" and p.ell > 0:
        T = p.T
        need = omega_const * n * (d + n) * (L + 1) * (1 / p.ell + 1) / p.ell
        if T < 2 or T / math.log(T) < need:
            out.append(f"T/log T = {T / math.log(max(T, 2)):.3g} < {need:.3g} = "
                       f"{omega_const:g} n(d+n)(L+1)(1/ell+1)/ell")
        want = theorem1_convex_eta(n, max(T, 2), p.ell)
        if abs(eta - want) > 1e-6 * want:
            out.append(f"eta = {eta:.3g} is not 4 n log T/(T ell) = {want:.3g}")
    if statement == "theorem1-nonconvex":
        T = p.T
        need = omega_const * max(L**2 * (d * p.n0 + p.n1) ** 2 / (d * n**2), n**2 * L**2,
                                 n * p.n0**3 * d)
        if T < need:
            out.append(f"T = {T} < {need:.3g} = {omega_const:g} max(L^2(dn0+n1)^2/(dn^2), "
                       "n^2 L^2, n n0^3 d)")
        want = theorem1_nonconvex_eta(n, d, max(T, 1))
        if abs(eta - want) > 1e-6 * want:
            out.append(f"eta = {eta:.3g} is not n/sqrt(dT) = {want:.3g}")
    return out
