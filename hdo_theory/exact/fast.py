"""Fast path of the exact engine: shared Hessian, isotropic additive noise, O(n^2 d) per step.

Setting (docs/theory.md section 9): node ``i`` has the gradient oracle
``g_i(x) = A x - b_i + xi`` with ``xi ~ N(0, sigma^2 I)`` drawn once per estimate, ``A``
symmetric positive definite and shared. Gaussian and sphere directions are rotation
invariant and so is ``xi``, so in the eigenbasis ``A = Q diag(lam) Q^T`` the process is the
same process with ``A = diag(lam)``, ``b_i -> Q^T b_i``, ``x -> Q^T x``; every metric the
engine reports is rotation invariant. The engine also centres at the optimum
``x* = A^{-1} bbar`` (``bbar`` the node mean of ``b_i``): in ``z = Q^T (x - x*)`` node ``i``'s
gradient is ``diag(lam) z - Q^T (b_i - bbar)``, and ``f(x) - f* = 1/2 z^T diag(lam) z`` has
no cancellation. Below, ``b_i`` means ``Q^T (b_i - bbar)``.

State, per coordinate ``k`` of the eigenbasis: the mean ``m_k`` and second moment ``S_k``
(``E[x_k x_k^T]``, ``(n+1) x (n+1)``) of the vector of the ``n`` node coordinates plus one
extra entry: Theorem 1's unnormalised average ``Ytilde`` (see :func:`fold_y`). The
cross-coordinate blocks ``E[x_k x_l^T]`` exist but no reported metric and no update of the
diagonal blocks reads them (with a diagonal ``A`` the only coupling between coordinates is
through ``tr`` terms of the noise, which read the per-coordinate diagonals), so they are not
kept.

One step of node ``a`` (before averaging), with ``eta_a`` its rate times the schedule factor:

.. math:: Y_a = X_a - \\eta_a G_a = l_a X_a + c_a + \\varepsilon_a, \\quad
          l_{a,k} = 1 - \\eta_a \\lambda_k, \\quad c_{a,k} = \\eta_a b_{a,k},

with ``E[eps | X] = 0`` and, per coordinate, ``E[eps_{a,k}^2] = eta_a^2 v_{a,k}``,

.. math:: v_{a,k} = (c_1 - 1) E\\bar g_{a,k}^2 + c_1 \\sigma^2
          + c_2 \\big(\\textstyle\\sum_l E\\bar g_{a,l}^2 + d \\sigma^2\\big) + K_k,
          \\qquad E\\bar g_{a,k}^2 = \\lambda_k^2 S_{k,aa} - 2\\lambda_k b_{a,k} m_{k,a} + b_{a,k}^2,

(``Cov(G | x) = E[P M P] - gbar gbar^T + (nu^2/4) E[q q^T]`` with
``M = gbar gbar^T + sigma^2 I``; ``c1, c2, K`` from :mod:`hdo_theory.exact.moments`).
Estimates of different nodes are independent given ``X``. Then

.. math:: E[Y_a] = l_a m_a + c_a, \\quad T_{ab} := E[Y_a X_b] = l_a S_{ab} + c_a m_b, \\quad
          U_{ab} := E[Y_a Y_b] = l_a T_{ba} + c_a E[Y_b] + \\delta_{ab} \\eta_a^2 v_a.

Averaging of a pair ``{i, j}``: ``X'_i = X'_j = (Y_i + Y_j)/2``, others unchanged. With the pair
probabilities ``p_ab`` (``1/(n(n-1)/2)`` pairwise, ``1/|E|`` on the graph's edges) and
``pi_a = sum_b p_ab``, averaging the map over the pair gives, for ``a != b``,

.. math:: E S'_{ab} = (1 - \\pi_a - \\pi_b + p_{ab}) S_{ab} + H_{ab} + H_{ba} + p_{ab} Q_{ab},
          \\quad H_{ab} = \\tfrac12\\big[(\\pi_a - p_{ab}) T_{ab} + (pT)_{ab} - p_{ab} T_{bb}\\big],

``E S'_aa = (1 - pi_a) S_aa + sum_j p_aj Q_aj`` and
``E m'_a = (1 - pi_a) m_a + (pi_a E Y_a + (p E Y)_a)/2``, with
``Q_ab = (U_aa + U_ab + U_ba + U_bb)/4``: ``H_ab`` is the case "a is in the pair (partner
j != b), b is not", ``Q`` the case "the pair is {a, b}" (and, on the diagonal, "a with j").

Matching: all nodes step, then ``X' = W Y`` with ``W = (I + Pi)/2``, ``Pi`` the involution
swapping matched pairs (fixing the unmatched node of an odd ``n``), so
``E S' = (U + E[Pi] U + U E[Pi] + E[Pi U Pi]) / 4``. For a uniform matching,
``P(a ~ b) = q = floor(n/2) / (n(n-1)/2)``, ``P(a solo) = s = 1 - (n-1) q``, and for distinct
``a, b, i, j``: ``P(a ~ i, b ~ j) = r4`` (``1/((n-1)(n-3))`` for even ``n``, ``1/(n(n-2))`` for
odd), ``P(a ~ i, b solo) = r3`` (0 for even ``n``, ``1/(n(n-2))`` for odd). Hence
``E[Pi] = s I + q (J - I)`` and ``E[Pi U Pi]_aa = s U_aa + q (tr U - U_aa)``,

.. math:: E[\\Pi U \\Pi]_{ab} = q U_{ab} + r_4 \\sum_{i \\ne j \\notin \\{a,b\\}} U_{ij}
          + r_3 \\big(\\textstyle\\sum_{i \\notin\\{a,b\\}} U_{ib} + \\sum_{j \\notin\\{a,b\\}} U_{aj}\\big).

Local warm-up steps (no averaging) use the same cases with ``X'_i = Y_i``.
The ``Ytilde`` entry is a node that is never in a pair and never steps (``pi = 0``, ``l = 1``,
``c = 0``, ``v = 0``), so the formulas above carry its cross moments unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hdo_theory.exact import moments as MO
from hdo_theory.process.schedules import schedule_code, schedule_factor


@dataclass
class FastModel:
    """Everything the fast step needs, in the eigenbasis of ``A`` (built by the engine).

    lam: (d,) eigenvalues; Q: (d, d) eigenvectors (columns); Bt: (n, d) ``B Q``;
    sigma2: noise variance per coordinate; n0; lrs: base rates (zo, fo); c1, c2: (2,) per
    population; K: (2, d) the ``(nu^2/4) E[q q^T]`` diagonal per population; model: pairwise,
    matching or graph; edges: (E, 2) for graph; local: local warm-up steps; sched, T, warmup:
    the schedule; ycoef: ``a_t = fac * ycoef`` (``None``: y not carried).
    """

    lam: np.ndarray
    Q: np.ndarray
    Bt: np.ndarray
    sigma2: float
    n0: int
    lrs: np.ndarray
    c1: np.ndarray
    c2: np.ndarray
    K: np.ndarray
    model: str
    edges: np.ndarray
    local: int
    sched: str
    T: int
    warmup: int
    ycoef: float | None
    use_kernel: bool = True  # the Numba pairwise kernel for unbatched states (else NumPy)

    def __post_init__(self):
        n, d = self.Bt.shape
        self.n, self.d = n, d
        npr = n + 1
        pop = np.r_[np.zeros(self.n0, dtype=np.int64), np.ones(n - self.n0, dtype=np.int64)]
        self.pop = pop
        # per-slot (nodes + the y slot) estimator constants; the y slot never steps
        self.c1_s = np.r_[self.c1[pop], 1.0]
        self.c2_s = np.r_[self.c2[pop], 0.0]
        self.K_s = np.concatenate([self.K[pop].T, np.zeros((d, 1))], axis=1)  # (d, n+1)
        self.lr_s = np.r_[self.lrs[pop], 0.0]
        # centred at the optimum: z = Q^T (x - x*), so g_i = lam z - (b_i - bbar) and every
        # metric is a quadratic form of z without the cancellation f(mu) - f* would bring
        self.bbar = self.Bt.mean(axis=0)
        self.xs = self.bbar / self.lam
        self.fstar = -0.5 * float(np.dot(self.bbar, self.xs))
        self.b_s = np.concatenate([(self.Bt - self.bbar).T, np.zeros((d, 1))], axis=1)
        self.code = schedule_code(self.sched)
        if self.model == "graph":
            P = np.zeros((npr, npr))
            E = self.edges.shape[0]
            P[self.edges[:, 0], self.edges[:, 1]] = 1.0 / E
            P[self.edges[:, 1], self.edges[:, 0]] = 1.0 / E
            self.pm = P
        else:
            P = np.zeros((npr, npr))
            P[:n, :n] = 1.0 / (n * (n - 1) / 2.0)
            P[np.arange(n), np.arange(n)] = 0.0
            self.pm = P
        self.pi = self.pm.sum(axis=1)
        nh = n // 2
        self.q_match = nh / (n * (n - 1) / 2.0)
        self.s_match = 1.0 - (n - 1) * self.q_match
        if n % 2 == 0:
            self.r4 = 1.0 / ((n - 1) * (n - 3)) if n >= 4 else 0.0
            self.r3 = 0.0
        else:
            self.r4 = 1.0 / (n * (n - 2)) if n >= 5 else 0.0
            self.r3 = 1.0 / (n * (n - 2))

    # -- schedule --------------------------------------------------------------------------
    def factor(self, t: int) -> float:
        return float(schedule_factor(self.code, int(t), self.T, self.warmup))

    def time_invariant_from(self) -> int:
        """First step from which the one-step map no longer depends on ``t`` (or ``T``:
        never), given the schedule, warm-up and local steps (y's weights included: with a
        constant rate the Ytilde recursion is time invariant)."""
        if self.code != schedule_code("constant"):
            return self.T
        return max(self.warmup, self.local)

    # -- the y fold ------------------------------------------------------------------------
    def y_rho(self, fac: float) -> float:
        """``1 - a_t`` of ``Ytilde <- (1 - a_t) Ytilde + mu`` (matching: a round compounds)."""
        a = fac * self.ycoef
        if self.model == "matching":
            a = 1.0 - (1.0 - a) ** (self.n // 2)
        return 1.0 - a


def initial_state(fm: FastModel, X0: np.ndarray):
    """``(m, S)`` of the deterministic start ``X0`` (``(n, d)``, original basis) in the
    eigenbasis, centred at ``x*``; the y slot starts at 0 (``Ytilde_0 = 0``, no weight yet)."""
    Xt = X0 @ fm.Q - fm.xs  # (n, d): rows are Q^T (x_i - x*)
    m = np.concatenate([Xt.T, np.zeros((fm.d, 1))], axis=1)  # (d, n+1)
    S = m[:, :, None] * m[:, None, :]
    return m, S


def fold_y(fm: FastModel, m, S, rho: float):
    """``Ytilde <- rho Ytilde + mean_i X_i`` applied to ``(m, S)`` (a linear map ``F``:
    ``m <- F m``, ``S <- F S F^T``). ``Ytilde_t = sum_s (w_s / w_t) mu_{s-1}`` with the kernel's
    weights ``w_s = w_{s-1} / (1 - a_s)``, so ``y_t = Ytilde_t / Wtilde_t`` with ``Wtilde`` the
    same recursion on 1 (deterministic)."""
    n = fm.n
    m = m.copy()
    S = S.copy()
    m[..., n] = rho * m[..., n] + m[..., :n].mean(axis=-1)
    S[..., n, :] = rho * S[..., n, :] + S[..., :n, :].mean(axis=-2)
    S[..., :, n] = rho * S[..., :, n] + S[..., :, :n].mean(axis=-1)
    return m, S


def expected_g2(fm: FastModel, m, S):
    """``E gbar_{a,k}^2`` for every slot: ``(..., d, n+1)`` (0 in the y slot)."""
    lam = fm.lam[:, None]
    diag = np.diagonal(S, axis1=-2, axis2=-1)
    out = lam * lam * diag - 2.0 * lam * fm.b_s * m + fm.b_s * fm.b_s
    out[..., fm.n] = 0.0
    return out


def noise_var(fm: FastModel, m, S):
    """``v_{a,k}`` of the module docstring: ``(..., d, n+1)``."""
    g2 = expected_g2(fm, m, S)
    tot = g2.sum(axis=-2, keepdims=True)
    v = ((fm.c1_s - 1.0) * g2 + fm.c1_s * fm.sigma2
         + fm.c2_s * (tot + fm.d * fm.sigma2) + fm.K_s)
    v[..., fm.n] = 0.0
    return v, g2


def step(fm: FastModel, m, S, t: int):
    """The exact expectation map of step ``t`` (one interaction, or one matching round),
    y fold included; returns ``(m', S')``. Accepts leading batch axes."""
    fac = fm.factor(t)
    if fm.ycoef is not None:
        m, S = fold_y(fm, m, S, max(0.0, fm.y_rho(fac)))
    communicate = t >= fm.local
    eta = fm.lr_s * fac  # (n+1,)
    if fm.model == "pairwise" and m.ndim == 2 and fm.use_kernel:
        m2, S2 = np.empty_like(m), np.empty_like(S)
        _pairwise_step_kernel(fm.lam, fm.b_s, eta, fm.c1_s, fm.c2_s, fm.K_s, fm.sigma2, m, S,
                              communicate, m2, S2)
        return m2, S2
    lam = fm.lam[:, None]
    l = 1.0 - eta * lam  # (d, n+1)
    c = eta * fm.b_s
    v, _ = noise_var(fm, m, S)
    noise = eta * eta * v  # (..., d, n+1)
    ym = l * m + c
    T = l[..., :, None] * S + c[..., :, None] * m[..., None, :]
    U = l[..., :, None] * np.swapaxes(T, -1, -2) + c[..., :, None] * ym[..., None, :]
    idx = np.arange(fm.n + 1)
    U[..., idx, idx] += noise
    if fm.model == "matching":
        return _matching(fm, m, S, ym, U, communicate)
    return _pairs(fm, m, S, ym, T, U, communicate)


def _pm_times(fm: FastModel, V):
    """``p V`` over the slot axis -2 (``V`` is ``(..., d, n+1, k)`` or ``(..., d, n+1)``)."""
    n = fm.n
    if fm.model == "pairwise":  # p = (J - I) / P on the nodes: O(n^2) instead of O(n^3)
        P = n * (n - 1) / 2.0
        out = np.zeros_like(V)
        out[..., :n, :] = (V[..., :n, :].sum(axis=-2, keepdims=True) - V[..., :n, :]) / P
        return out
    # graph: sum over the edge list (both directions), O(|E| n) per coordinate
    Vm = np.moveaxis(V, -2, 0)
    out = np.zeros_like(Vm)
    E = fm.edges.shape[0]
    np.add.at(out, fm.edges[:, 0], Vm[fm.edges[:, 1]] / E)
    np.add.at(out, fm.edges[:, 1], Vm[fm.edges[:, 0]] / E)
    return np.moveaxis(out, 0, -2)


def _pairs(fm: FastModel, m, S, ym, T, U, communicate):
    pm, pi = fm.pm, fm.pi
    idx = np.arange(fm.n + 1)
    pa = pi[:, None]
    pb = pi[None, :]
    coef = 1.0 - pa - pb + pm
    if not communicate:
        S2 = coef * S + (pa - pm) * T + np.swapaxes((pa - pm) * T, -1, -2) + pm * U
        S2[..., idx, idx] = (1.0 - pi) * np.diagonal(S, axis1=-2, axis2=-1) + pi * np.diagonal(
            U, axis1=-2, axis2=-1)
        return (1.0 - pi) * m + pi * ym, S2
    Td = np.diagonal(T, axis1=-2, axis2=-1)  # T_bb
    Ud = np.diagonal(U, axis1=-2, axis2=-1)
    H = 0.5 * ((pa - pm) * T + _pm_times(fm, T) - pm * Td[..., None, :])
    Qm = 0.25 * (Ud[..., :, None] + U + np.swapaxes(U, -1, -2) + Ud[..., None, :])
    S2 = coef * S + H + np.swapaxes(H, -1, -2) + pm * Qm
    # diagonal: (1 - pi_a) S_aa + sum_j p_aj Q_aj
    S2[..., idx, idx] = (1.0 - pi) * np.diagonal(S, axis1=-2, axis2=-1) + (pm * Qm).sum(axis=-1)
    pym = _pm_times(fm, ym[..., :, None])[..., 0]
    m2 = (1.0 - pi) * m + 0.5 * (pi * ym + pym)
    return m2, S2


def _matching(fm: FastModel, m, S, ym, U, communicate):
    n = fm.n
    if not communicate:
        return ym, U
    q, s, r4, r3 = fm.q_match, fm.s_match, fm.r4, fm.r3
    Un = U[..., :n, :n]
    R = Un.sum(axis=-1)  # row sums (U symmetric)
    Z = R.sum(axis=-1)[..., None, None]
    tr = np.trace(Un, axis1=-2, axis2=-1)[..., None, None]
    Ud = np.diagonal(Un, axis1=-2, axis2=-1)
    Ra, Rb = R[..., :, None], R[..., None, :]
    Ua, Ub = Ud[..., :, None], Ud[..., None, :]
    EPiU = (s - q) * Un + q * Rb  # (E[Pi] U)_ab = (s - q) U_ab + q sum_i U_ib
    UEPi = (s - q) * Un + q * Ra
    pairs_rest = (Z - 2.0 * Ra - 2.0 * Rb + Ua + Ub + 2.0 * Un) - (tr - Ua - Ub)
    single_rest = (Rb - Un - Ub) + (Ra - Ua - Un)
    PUP = q * Un + r4 * pairs_rest + r3 * single_rest
    idx = np.arange(n)
    PUP[..., idx, idx] = s * Ud + q * (tr[..., 0] - Ud)
    S2 = U.copy()
    S2[..., :n, :n] = 0.25 * (Un + EPiU + UEPi + PUP)
    # node-y cross moments: E[W] U_{., y}, E[W] = ((1 + s) I + q (J - I)) / 2
    Uy = U[..., :n, n]
    EWUy = 0.5 * ((1.0 + s - q) * Uy + q * Uy.sum(axis=-1, keepdims=True))
    S2[..., :n, n] = EWUy
    S2[..., n, :n] = EWUy
    m2 = ym.copy()
    yn = ym[..., :n]
    m2[..., :n] = 0.5 * ((1.0 + s - q) * yn + q * yn.sum(axis=-1, keepdims=True))
    return m2, S2


def y_weight_after(fm: FastModel, t: int) -> float:
    """``Wtilde_t`` (the y recursion on 1) after ``t`` steps."""
    w = 0.0
    for s in range(t):
        w = max(0.0, fm.y_rho(fm.factor(s))) * w + 1.0
    return w


def constant_rate_y_weight(rho: float, t: int) -> float:
    """``Wtilde_t = sum_{s<t} rho^s`` for a constant ``rho``."""
    if rho == 1.0:
        return float(t)
    return (1.0 - rho**t) / (1.0 - rho) if rho < 1.0 else float(t)



# ---------------------------------------------------------------------------------------------
# Numba kernel of the uniform pairwise step (the closed form above, specialised to
# p_ab = 1/P on the nodes, pi = 2/n, with the y slot as the last entry), in place
# ---------------------------------------------------------------------------------------------

import numba  # noqa: E402


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz"})
def _pairwise_step_kernel(lam, b_s, eta, c1, c2, K, sigma2, m, S, communicate,
                          m2, S2):  # pragma: no cover
    """One uniform pairwise step from ``(m, S)`` (shapes ``(d, n+1)``, ``(d, n+1, n+1)``) into
    ``(m2, S2)``: the formulas of :func:`_pairs` with ``p_ab = 1/P`` on the nodes,
    ``pi = 2/n``, the y slot last; the column sums ``sum_j T_jb`` once per coordinate, then
    one row-major pass over ``S`` (``O(n^2 d)``)."""
    d, npr = m.shape
    n = npr - 1
    P = n * (n - 1) / 2.0
    p = 1.0 / P
    pi = 2.0 / n
    # E gbar^2 and its sum over coordinates (the tr coupling)
    g2 = np.empty((d, n))
    tot = np.zeros(n)
    for k in range(d):
        for a in range(n):
            bb = b_s[k, a]
            v = lam[k] * lam[k] * S[k, a, a] - 2.0 * lam[k] * bb * m[k, a] + bb * bb
            g2[k, a] = v
            tot[a] += v
    l = np.ones(npr)
    c = np.zeros(npr)
    ym = np.empty(npr)
    Td = np.empty(npr)
    Ud = np.empty(npr)
    CT = np.empty(npr)
    for k in range(d):
        mk = m[k]
        Sk = S[k]
        S2k = S2[k]
        sum_c = 0.0
        sum_ym = 0.0
        sum_ud = 0.0
        for a in range(npr):
            noise = 0.0
            if a < n:
                l[a] = 1.0 - eta[a] * lam[k]
                c[a] = eta[a] * b_s[k, a]
                noise = eta[a] * eta[a] * ((c1[a] - 1.0) * g2[k, a] + c1[a] * sigma2
                                           + c2[a] * (tot[a] + d * sigma2) + K[k, a])
            ym[a] = l[a] * mk[a] + c[a]
            Td[a] = l[a] * Sk[a, a] + c[a] * mk[a]
            Ud[a] = l[a] * l[a] * Sk[a, a] + 2.0 * l[a] * c[a] * mk[a] + c[a] * c[a] + noise
            if a < n:
                sum_c += c[a]
                sum_ym += ym[a]
                sum_ud += Ud[a]
        for b in range(npr):
            CT[b] = sum_c * mk[b]
        for j in range(n):
            lj = l[j]
            for b in range(npr):
                CT[b] += lj * Sk[j, b]
        coef = 1.0 - 2.0 * pi + p
        for a in range(n):
            la, ca, ma = l[a], c[a], mk[a]
            if communicate:
                rest_a = 0.5 * ((pi - p) * 0.0 + CT[a] * p - p * Td[a])
                for b in range(n):
                    sab = Sk[a, b]
                    Tab = la * sab + ca * mk[b]
                    Tba = l[b] * sab + c[b] * ma
                    Uab = la * Tba + ca * ym[b]
                    S2k[a, b] = (coef * sab + 0.5 * (pi - 2.0 * p) * (Tab + Tba)
                                 + 0.5 * p * (CT[b] - Td[b]) + rest_a
                                 + 0.25 * p * (Ud[a] + Ud[b] + 2.0 * Uab))
                # the y column: neither p nor pi for y; pmt_ay = (CT_y - T_ay) p
                say = Sk[a, n]
                Tay = la * say + ca * mk[n]
                S2k[a, n] = (1.0 - pi) * say + 0.5 * (pi * Tay + (CT[n] - Tay) * p)
                sum_u = la * (CT[a] - Td[a]) + ca * (sum_ym - ym[a])
                S2k[a, a] = (1.0 - pi) * Sk[a, a] + 0.25 * p * (
                    (n - 1) * Ud[a] + (sum_ud - Ud[a]) + 2.0 * sum_u)
                m2[k, a] = (1.0 - pi) * ma + 0.5 * (pi * ym[a] + p * (sum_ym - ym[a]))
            else:
                for b in range(n):
                    sab = Sk[a, b]
                    Tab = la * sab + ca * mk[b]
                    Tba = l[b] * sab + c[b] * ma
                    Uab = la * Tba + ca * ym[b]
                    S2k[a, b] = coef * sab + (pi - p) * (Tab + Tba) + p * Uab
                say = Sk[a, n]
                S2k[a, n] = (1.0 - pi) * say + pi * (la * say + ca * mk[n])
                S2k[a, a] = (1.0 - pi) * Sk[a, a] + pi * Ud[a]
                m2[k, a] = (1.0 - pi) * ma + pi * ym[a]
        for a in range(n):
            S2k[n, a] = S2k[a, n]
        S2k[n, n] = Sk[n, n]
        m2[k, n] = mk[n]
