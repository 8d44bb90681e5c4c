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
          \\qquad E\\bar g_{a,k}^2 = \\lambda_k^2 S_{k,aa} - 2\\lambda_k b_{a,k} m_{k,a}
          + b_{a,k}^2,

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
          + r_3 \\big(\\textstyle\\sum_{i \\notin\\{a,b\\}} U_{ib}
          + \\sum_{j \\notin\\{a,b\\}} U_{aj}\\big).

Local warm-up steps (no averaging) use the same cases with ``X'_i = Y_i``.
The ``Ytilde`` entry is a node that is never in a pair and never steps (``pi = 0``, ``l = 1``,
``c = 0``, ``v = 0``), so the formulas above carry its cross moments unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    use_kernel: bool = True  # the Numba pairwise / matching kernels for unbatched states

    def __post_init__(self):
        n, d = self.Bt.shape
        self.n, self.d = n, d
        npr = n + 1
        pop = np.r_[np.zeros(self.n0, dtype=np.int64), np.ones(n - self.n0, dtype=np.int64)]
        self.pop = pop
        # per-slot (nodes + the y slot) estimator constants; the y slot never steps
        self.c1_s = np.r_[self.c1[pop], 1.0]
        self.c2_s = np.r_[self.c2[pop], 0.0]
        self.K_s = np.ascontiguousarray(
            np.concatenate([self.K[pop].T, np.zeros((d, 1))], axis=1))  # (d, n+1)
        self.lr_s = np.r_[self.lrs[pop], 0.0]
        # centred at the optimum: z = Q^T (x - x*), so g_i = lam z - (b_i - bbar) and every
        # metric is a quadratic form of z without the cancellation f(mu) - f* would bring
        self.bbar = self.Bt.mean(axis=0)
        self.xs = self.bbar / self.lam
        self.fstar = -0.5 * float(np.dot(self.bbar, self.xs))
        self.b_s = np.ascontiguousarray(
            np.concatenate([(self.Bt - self.bbar).T, np.zeros((d, 1))], axis=1))
        self.code = schedule_code(self.sched)
        if self.model == "graph":
            P = np.zeros((npr, npr))
            E = self.edges.shape[0]
            P[self.edges[:, 0], self.edges[:, 1]] = 1.0 / E
            P[self.edges[:, 1], self.edges[:, 0]] = 1.0 / E
            self.pm = P
            from scipy.sparse import csr_matrix

            self.pm_sparse = csr_matrix(P)
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
    def state_dim(self) -> int:
        return self.d * (self.n + 1) * (self.n + 2) + 1

    def initial_state(self, X0):
        return initial_state(self, X0)

    def step(self, m, S, t):
        return step(self, m, S, t)

    def new_carry(self) -> StepCarry:
        """An empty :class:`StepCarry` for :meth:`step_inplace` (not valid yet)."""
        return StepCarry(self.d, self.n)

    def step_inplace(self, m, S, t, carry: StepCarry | None = None):
        """:meth:`step` writing into ``(m, S)`` (the engine owns its state; saves two
        state-sized allocations per step on the Numba route). ``carry``: the
        :class:`StepCarry` of this state, kept by the caller from one step to the next (the
        pairwise kernel then makes one pass over the state instead of two); ``None``: a
        scratch one, recomputed from the state."""
        if self.model == "pairwise" and m.ndim == 2 and self.use_kernel:
            if carry is None:
                carry = self._scratch_carry()
                carry.valid = False
            _pairwise_kernel_step(self, m, S, t, carry)  # the y fold fused into the kernel
            return m, S
        if self.model == "matching" and m.ndim == 2 and self.use_kernel:
            _matching_kernel_step(self, m, S, t)  # likewise
            return m, S
        if self.model == "graph" and m.ndim == 2 and self.use_kernel:
            _graph_kernel_step(self, m, S, t)
            return m, S
        return step(self, m, S, t)

    def steps_inplace(self, m, S, t0: int, t1: int, carry: StepCarry):
        """Steps ``t0 .. t1 - 1`` on ``(m, S)`` in place, ``carry`` read if valid and left
        valid. The uniform pairwise model on the kernel route runs them in ``O(n d)`` each
        (:func:`hdo_theory.exact.lazy.pairwise_lazy_steps`, agreeing with one
        :meth:`step_inplace` after another to rounding) when there are at least
        :data:`LAZY_MIN_STEPS`; otherwise one step at a time."""
        if not (self.model == "pairwise" and m.ndim == 2 and self.use_kernel) or \
                t1 - t0 < LAZY_MIN_STEPS:
            for t in range(t0, t1):
                m, S = self.step_inplace(m, S, t, carry)
            return m, S
        from hdo_theory.exact.lazy import REFRESH_STEPS, pairwise_lazy_steps

        fold = self.ycoef is not None
        t = t0
        while t < t1:
            ts = range(t, min(t1, t + LAZY_CHUNK))
            facs = np.array([self.factor(s) for s in ts], dtype=np.float64)
            rhos = (np.array([max(0.0, self.y_rho(f)) for f in facs]) if fold
                    else np.zeros(len(ts)))
            comms = np.array([s >= self.local for s in ts], dtype=np.bool_)
            have = carry.valid
            carry.valid = False  # until the kernel has written it
            pairwise_lazy_steps(self.lam, self.b_s, self.lr_s, facs, rhos, comms, self.n0,
                                self.c1_s, self.c2_s, self.K_s, self.sigma2, m, S, fold,
                                carry.sums, carry.diag, carry.g2, carry.tot, have,
                                REFRESH_STEPS)
            carry.valid = True
            t = ts[-1] + 1
        return m, S

    def _scratch_carry(self) -> StepCarry:
        c = self.__dict__.get("_scratch")
        if c is None:
            c = self._scratch = StepCarry(self.d, self.n)
        return c

    def mean_point(self, m) -> np.ndarray:
        """``E mu = Q (x*_eig + (1/n) sum_i m_i)`` in the original basis (``m = E z``)."""
        return self.Q @ (m[:, : self.n].mean(axis=1) + self.xs)

    def metrics(self, m, S, W, t, fixed_node):
        from hdo_theory.exact.engine import metrics_of

        return metrics_of(self, m, S, W, t, fixed_node)

    def y_rho(self, fac: float) -> float:
        """``1 - a_t`` of ``Ytilde <- (1 - a_t) Ytilde + mu`` (matching: a round compounds)."""
        a = fac * self.ycoef
        if self.model == "matching":
            a = 1.0 - (1.0 - a) ** (self.n // 2)
        return 1.0 - a


#: steps per call of the lazy pairwise kernel (bounds the per-step schedule arrays)
LAZY_CHUNK = 4096
#: shorter runs take the one-step kernel: the lazy route writes the state out once per call
#: (about one one-step kernel's cost), so it pays from a few steps on (n = 64, d = 100,
#: 2026-12-02: 1 step per call 600 us a step, 10 per call 171-197 us, 1000 per call 77-89 us,
#: against 250-366 us for the one-step kernel)
LAZY_MIN_STEPS = 8


class StepCarry:
    """What the pairwise kernel computes for the next step while it rewrites the state, so
    that the next step needs no separate read pass: per coordinate the column sums of ``S``
    over each population's node rows (``sums``, ``(d, 2, n+1)``), the node diagonal
    (``diag``, ``(d, n)``), ``E gbar^2`` (``g2``, ``(d, n)``) and its sum over coordinates
    (``tot``, ``(n,)``), all of the state the kernel last wrote. ``valid`` is true only
    while that state is untouched: whoever changes ``(m, S)`` otherwise (a jump, a copy, a
    fold outside the kernel) must set it to ``False`` (the kernel then recomputes them)."""

    def __init__(self, d: int, n: int):
        self.sums = np.zeros((d, 2, n + 1))
        self.diag = np.zeros((d, n))
        self.g2 = np.zeros((d, n))
        self.tot = np.zeros(n)
        self.valid = False


def initial_state(fm: FastModel, X0: np.ndarray):
    """``(m, S)`` of the deterministic start ``X0`` (``(n, d)``, original basis) in the
    eigenbasis, centred at ``x*``; the y slot starts at 0 (``Ytilde_0 = 0``, no weight yet)."""
    Xt = X0 @ fm.Q - fm.xs  # (n, d): rows are Q^T (x_i - x*)
    # C order: the kernels walk rows of each coordinate's block (concatenate of a
    # transpose would hand them an F-ordered, strided state, about 4x slower)
    m = np.ascontiguousarray(np.concatenate([Xt.T, np.zeros((fm.d, 1))], axis=1))  # (d, n+1)
    S = np.ascontiguousarray(m[:, :, None] * m[:, None, :])
    return m, S


def fold_y(fm: FastModel, m, S, rho: float, inplace: bool = False):
    """``Ytilde <- rho Ytilde + mean_i X_i`` applied to ``(m, S)`` (a linear map ``F``:
    ``m <- F m``, ``S <- F S F^T``). ``Ytilde_t = sum_s (w_s / w_t) mu_{s-1}`` with the kernel's
    weights ``w_s = w_{s-1} / (1 - a_s)``, so ``y_t = Ytilde_t / Wtilde_t`` with ``Wtilde`` the
    same recursion on 1 (deterministic)."""
    n = fm.n
    if not inplace:
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
    if fm.model in ("pairwise", "matching", "graph") and m.ndim == 2 and fm.use_kernel:
        m2, S2 = m.copy(), S.copy()
        fm.step_inplace(m2, S2, t)
        return m2, S2
    fac = fm.factor(t)
    if fm.ycoef is not None:
        m, S = fold_y(fm, m, S, max(0.0, fm.y_rho(fac)))
    communicate = t >= fm.local
    eta = fm.lr_s * fac  # (n+1,)
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


def _pairwise_kernel_step(fm: FastModel, m, S, t: int, carry: StepCarry):
    """Step ``t`` of the uniform pairwise model on the unbatched ``(m, S)`` in place, y fold
    included (:func:`_pairwise_step_kernel`); reads ``carry`` if valid, leaves it valid."""
    fac = fm.factor(t)
    fold = fm.ycoef is not None
    rho = max(0.0, fm.y_rho(fac)) if fold else 0.0
    have = carry.valid
    carry.valid = False  # until the kernel has written it
    _pairwise_step_kernel(fm.lam, fm.b_s, fm.lr_s * fac, fm.n0, fm.c1_s, fm.c2_s, fm.K_s,
                          fm.sigma2, m, S, t >= fm.local, fold, rho, carry.sums, carry.diag,
                          carry.g2, carry.tot, have)
    carry.valid = True


def _matching_kernel_step(fm: FastModel, m, S, t: int):
    """Round ``t`` of the uniform matching on the unbatched ``(m, S)`` in place, y fold
    included (:func:`_matching_step_kernel`)."""
    fac = fm.factor(t)
    fold = fm.ycoef is not None
    rho = max(0.0, fm.y_rho(fac)) if fold else 0.0
    _matching_step_kernel(fm.lam, fm.b_s, fm.lr_s * fac, fm.c1_s, fm.c2_s, fm.K_s, fm.sigma2,
                          m, S, t >= fm.local, fm.q_match, fm.s_match, fm.r4, fm.r3, fold, rho)


def _graph_kernel_step(fm: FastModel, m, S, t: int):
    """Step ``t`` of the graph model on the unbatched ``(m, S)`` in place, y fold included
    (:func:`_graph_step_kernel`)."""
    fac = fm.factor(t)
    fold = fm.ycoef is not None
    rho = max(0.0, fm.y_rho(fac)) if fold else 0.0
    ps = fm.pm_sparse
    _graph_step_kernel(fm.lam, fm.b_s, fm.lr_s * fac, fm.c1_s, fm.c2_s, fm.K_s, fm.sigma2, m,
                       S, t >= fm.local, fold, rho, fm.pm, ps.indptr.astype(np.int64),
                       ps.indices.astype(np.int64), ps.data)


def _pm_times(fm: FastModel, V):
    """``p V`` over the slot axis -2 (``V`` is ``(..., d, n+1, k)`` or ``(..., d, n+1)``)."""
    n = fm.n
    if fm.model == "pairwise":  # p = (J - I) / P on the nodes: O(n^2) instead of O(n^3)
        P = n * (n - 1) / 2.0
        out = np.zeros_like(V)
        out[..., :n, :] = (V[..., :n, :].sum(axis=-2, keepdims=True) - V[..., :n, :]) / P
        return out
    # graph: a sparse product over the edge list (both directions), O(|E| n) per coordinate
    Vm = np.moveaxis(V, -2, 0)
    out = fm.pm_sparse @ Vm.reshape(Vm.shape[0], -1)
    return np.moveaxis(np.asarray(out).reshape(Vm.shape), 0, -2)


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
from llvmlite import ir as _llvm_ir  # noqa: E402
from numba.core import cgutils as _cgutils  # noqa: E402
from numba.extending import intrinsic as _intrinsic  # noqa: E402


@_intrinsic
def _prefetch(typingctx, arr, idx):
    """Prefetch the cache line of ``arr``'s element ``idx`` (flat index into its data) into L2
    (``llvm.prefetch``, read, locality 2, x86 ``prefetcht1``): the pairwise kernel asks for the
    next coordinate's block while it rewrites the current one, four rows at a time, a pattern
    the hardware prefetcher does not follow when other processes have evicted the state
    from the shared cache (measured under load: about 10% per step). Into L2, not L1: a
    block (``(n+1)^2`` floats, 33.8 kB at ``n = 64``) is about the size of L1, so a block
    prefetched into L1 evicts the one being rewritten; same-process A/B at ``n = 64``,
    ``d = 100`` (2026-12-02): locality 2 at 0.921 and 0.925 of locality 3's median step,
    locality 1 the same as 2, no prefetch 1.096 of locality 2."""
    sig = numba.types.void(arr, numba.types.intp)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        i8p = _llvm_ir.IntType(8).as_pointer()
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), i8p)
        i32 = _llvm_ir.IntType(32)
        fnty = _llvm_ir.FunctionType(_llvm_ir.VoidType(), [i8p, i32, i32, i32])
        fn = _cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [ptr, _llvm_ir.Constant(i32, 0), _llvm_ir.Constant(i32, 2),
                          _llvm_ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(inline="always", nogil=True, fastmath={"contract"})
def _rewrite_rows(Sk, j0, j1, fv, u, c, e, mk, kw, Dn, Yn, acc,
                  Snext):  # pragma: no cover
    """Rows ``j0 <= a < j1`` (one population, so one factor vector ``fv``) of the block
    ``Sk`` in place, four at a time: ``S'_ab = S_ab fv_b + u_a + u_b + (kw m_a) c_b + c_a e_b``
    off the diagonal, ``Dn_a`` on it, ``Yn_a`` in the y column; the new rows are added to the
    column sums ``acc`` in row order (``((acc + row_a) + row_{a+1}) + ...``, the order of a
    separate pass over the rows). The same rows of the next block ``Snext`` are prefetched."""
    n = Sk.shape[0] - 1
    npr = n + 1
    a = j0
    while a + 4 <= j1:
        for o in range(a * npr, (a + 4) * npr + 8, 8):
            _prefetch(Snext, o)
        ua0 = u[a]
        ua1 = u[a + 1]
        ua2 = u[a + 2]
        ua3 = u[a + 3]
        wa0 = kw * mk[a]
        wa1 = kw * mk[a + 1]
        wa2 = kw * mk[a + 2]
        wa3 = kw * mk[a + 3]
        ca0 = c[a]
        ca1 = c[a + 1]
        ca2 = c[a + 2]
        ca3 = c[a + 3]
        d0 = Dn[a]
        d1 = Dn[a + 1]
        d2 = Dn[a + 2]
        d3 = Dn[a + 3]
        R0 = Sk[a]
        R1 = Sk[a + 1]
        R2 = Sk[a + 2]
        R3 = Sk[a + 3]
        for b in range(n):
            fb = fv[b]
            ub = u[b]
            cb = c[b]
            eb = e[b]
            v0 = R0[b] * fb + ua0 + ub + wa0 * cb + ca0 * eb
            v1 = R1[b] * fb + ua1 + ub + wa1 * cb + ca1 * eb
            v2 = R2[b] * fb + ua2 + ub + wa2 * cb + ca2 * eb
            v3 = R3[b] * fb + ua3 + ub + wa3 * cb + ca3 * eb
            if b == a:
                v0 = d0
            if b == a + 1:
                v1 = d1
            if b == a + 2:
                v2 = d2
            if b == a + 3:
                v3 = d3
            R0[b] = v0
            R1[b] = v1
            R2[b] = v2
            R3[b] = v3
            acc[b] = acc[b] + v0 + v1 + v2 + v3
        y0 = Yn[a]
        y1 = Yn[a + 1]
        y2 = Yn[a + 2]
        y3 = Yn[a + 3]
        R0[n] = y0
        R1[n] = y1
        R2[n] = y2
        R3[n] = y3
        acc[n] = acc[n] + y0 + y1 + y2 + y3
        a += 4
    while a < j1:
        for o in range(a * npr, (a + 1) * npr + 8, 8):
            _prefetch(Snext, o)
        ua = u[a]
        wa = kw * mk[a]
        ca = c[a]
        da = Dn[a]
        R0 = Sk[a]
        for b in range(n):
            v = R0[b] * fv[b] + ua + u[b] + wa * c[b] + ca * e[b]
            if b == a:
                v = da
            R0[b] = v
            acc[b] += v
        R0[n] = Yn[a]
        acc[n] += Yn[a]
        a += 1


@numba.njit(inline="always", nogil=True)
def _population_factors(communicate, h, p, coef, lp):  # pragma: no cover
    """``(alpha, beta, kw)`` of a row population with contraction ``lp`` (shared with
    :mod:`hdo_theory.exact.lazy`): the off-diagonal factor is ``alpha + beta l_b`` and
    ``kw m_a`` multiplies ``c_b``."""
    if communicate:
        return coef + 0.5 * h * lp, 0.5 * h + 0.5 * p * lp, 0.5 * (h + p * lp)
    return coef + h * lp, h + p * lp, h + p * lp


@numba.njit(inline="always", nogil=True, fastmath={"contract"})
def _write_node_state(k, Sk, mk, Sd, Yn, mnew, Dn, lam, b_s, g2, tot_next):  # pragma: no cover
    """The y row, the mean, the diagonal and the next step's ``E gbar^2`` of coordinate ``k``
    (same expression as from ``S``, so carried values equal recomputed ones bit for bit;
    shared with :mod:`hdo_theory.exact.lazy`)."""
    n = Sk.shape[0] - 1
    lk = lam[k]
    for a in range(n):
        Sk[n, a] = Yn[a]
        mk[a] = mnew[a]
        Sd[a] = Dn[a]
        bb = b_s[k, a]
        v = lk * lk * Dn[a] - 2.0 * lk * bb * mnew[a] + bb * bb
        g2[k, a] = v
        tot_next[a] += v


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def _pairwise_step_kernel(lam, b_s, eta, n0, c1, c2, K, sigma2, m, S, communicate, fold,
                          rho, sums, diag, g2, tot_next, have):  # pragma: no cover
    """One uniform pairwise step on ``(m, S)`` (shapes ``(d, n+1)``, ``(d, n+1, n+1)``), in
    place, the y fold ``Ytilde <- rho Ytilde + mu`` (:func:`fold_y`) first when ``fold``: the
    formulas of :func:`fold_y` and :func:`_pairs` with ``p_ab = p = 1/P`` on the nodes
    (``P = n(n-1)/2``), ``pi = 2/n``, the y slot last. No state-sized temporary and one pass
    over the state: each coordinate's ``(n+1) x (n+1)`` block is rewritten in place, rows in
    groups of four (the column vectors are loaded once per group), and the sums the *next*
    step needs are accumulated from the values just written into the carry
    (:class:`StepCarry`): the population column sums ``sums[k, 0 / 1]`` (same rows, same
    order as a separate read pass, so bit-identical to it), the new diagonal ``diag``, and
    ``E gbar^2`` (``g2``, ``tot_next``) of the new state. With ``have`` false (no valid
    carry: first step, after a jump, a copy) the kernel first computes them from ``S``.

    Per coordinate (index ``k`` dropped), nodes ``a, b < n``, ``EY_b = l_b m_b + c_b``,
    ``N_a = eta_a^2 v_a``. Pass 1 gives the node column sums, plain and ``l``-weighted
    (``S`` is symmetric, so they are also row sums):

    .. math:: r_b = \\sum_{j<n} S_{jb}, \\qquad w_b = \\sum_{j<n} l_j S_{jb}.

    The fold (``y`` the last slot, ``F = `` identity but row ``y = rho e_y + 1^T/n``) only
    touches the y row, column and mean, from ``r``:

    .. math:: S_{yb} \\leftarrow \\rho S_{yb} + r_b / n, \\quad
              S_{yy} \\leftarrow \\rho^2 S_{yy} + 2\\rho\\, r_y / n
              + \\textstyle\\sum_{b<n} r_b / n^2, \\quad
              w_y \\leftarrow \\rho w_y + \\textstyle\\sum_{b<n} l_b r_b / n,

    (node entries unchanged, so ``r_b, w_b`` of the nodes stay valid). The step reads ``S``
    only through ``S_ab`` itself and ``O(n)`` vectors: ``sum_j T_jb = w_b + C m_b`` with
    ``C = sum_j c_j``, so ``(pT)_ab = p (w_b + C m_b - T_ab)`` and
    ``H_ab = [(pi - 2p) T_ab + p (w_b + C m_b - T_bb)] / 2``. Collecting
    ``E S'_ab = coef S_ab + H_ab + H_ba + p Q_ab`` (``coef = 1 - 2 pi + p``) by what it
    multiplies:

    .. math:: S'_{ab} = S_{ab} (\\alpha_a + \\beta_a l_b) + u_a + u_b + \\omega_a c_b
              + \\chi_a m_b + \\psi_a EY_b,

    .. math:: \\alpha_a = coef + \\tfrac{\\pi - 2p}{2} l_a, \\quad
              \\beta_a = \\tfrac{\\pi - 2p}{2} + \\tfrac p2 l_a, \\quad
              u_a = \\tfrac p2 (w_a + C m_a - T_{aa}) + \\tfrac p4 U_{aa},

    .. math:: \\omega_a = \\tfrac12 (\\pi - 2p + p l_a) m_a, \\quad
              \\chi_a = \\tfrac{\\pi - 2p}{2} c_a, \\quad \\psi_a = \\tfrac p2 c_a,

    with ``T_aa = l_a S_aa + c_a m_a``, ``U_aa = l_a^2 S_aa + 2 l_a c_a m_a + c_a^2 + N_a``
    (the ``c_a c_b`` terms of ``U_ab + U_ba`` cancel against ``EY``'s). The diagonal
    ``E S'_aa = (1 - pi) S_aa + sum_j p Q_aj`` is

    .. math:: S'_{aa} = (1 - \\pi) S_{aa} + \\tfrac p4 \\big[(n - 1) U_{aa}
              + \\textstyle\\sum_{j \\ne a} U_{jj} + 2 l_a (w_a + C m_a - T_{aa})
              + 2 c_a \\sum_{j \\ne a} EY_j\\big],

    the y column (neither ``p`` nor ``pi`` for y) ``S'_ay = (1 - pi) S_ay + [pi T_ay + p
    (w_y + C m_y - T_ay)] / 2`` with ``T_ay = l_a S_ay + c_a m_y``, and
    ``m'_a = (1 - pi) m_a + [pi EY_a + p sum_{j != a} EY_j] / 2``. Without averaging (local
    steps): ``alpha_a = coef + (pi - p) l_a``, ``beta_a = pi - p + p l_a``, ``u = 0``,
    ``omega_a = (pi - p + p l_a) m_a``, ``chi_a = (pi - p) c_a``, ``psi_a = p c_a``,
    ``S'_aa = (1 - pi) S_aa + pi U_aa``, ``S'_ay = (1 - pi) S_ay + pi T_ay``,
    ``m'_a = (1 - pi) m_a + pi EY_a``. Row ``a`` reads only its own old entries and the
    vectors (the new diagonal and y column are computed first from ``O(n)`` vectors), so it
    can overwrite them. The y column is read from the y row (``S_ay`` and ``S_ya`` are written
    with the same value, so they are equal bit for bit in a state this kernel wrote).

    Bit-identical to the previous two-pass kernel (``tests/test_exact_kernel.py``): every
    entry is the same expression; the sequential sums (``sum_c``, ``sum_ym``, ``sum_ud``,
    the fold's sums, the column sums) keep their order; ``u_a`` and the y column are computed
    in the loop of a sequential sum so that they stay scalar code (vectorised, LLVM fused a
    different product of ``a b + c d`` into the FMA: 1 ulp apart).
    """
    d, npr = m.shape
    n = npr - 1
    P = n * (n - 1) / 2.0
    p = 1.0 / P
    pi = 2.0 / n
    inv_n = 1.0 / n
    # E gbar^2 and its sum over coordinates (the tr coupling) of the current state: carried,
    # or from S (the fold leaves node entries); tot_next accumulates the next step's
    tot = np.zeros(n)
    if have:
        for a in range(n):
            tot[a] = tot_next[a]
    else:
        for k in range(d):
            for a in range(n):
                bb = b_s[k, a]
                v = lam[k] * lam[k] * S[k, a, a] - 2.0 * lam[k] * bb * m[k, a] + bb * bb
                g2[k, a] = v
                tot[a] += v
    for a in range(n):
        tot_next[a] = 0.0
    # one array for the column vectors: fewer pointers for LLVM's runtime alias checks
    V = np.zeros((5, npr))  # rows: f (population-0 rows), f (population 1), u, c, e
    l = np.ones(npr)
    ym = np.empty(npr)
    r = np.empty(npr)
    w = np.empty(npr)
    ycol = np.empty(n)
    Td = np.empty(n)
    Ud = np.empty(n)
    CT = np.empty(npr)
    Dn = np.empty(n)
    Yn = np.empty(n)
    mnew = np.empty(n)
    coef = 1.0 - 2.0 * pi + p
    h = pi - 2.0 * p if communicate else pi - p
    u = V[2]
    c = V[3]
    e = V[4]
    for k in range(d):
        mk = m[k]
        Sk = S[k]
        Snext = S[k + 1] if k + 1 < d else S[k]
        for o in range(n * npr, npr * npr + 8, 8):
            _prefetch(Snext, o)  # the next block's y row: the first thing its step reads
        r0 = sums[k, 0]
        r1 = sums[k, 1]
        Sd = diag[k]
        sum_c = 0.0
        l0 = 1.0 - eta[0] * lam[k]
        l1 = 1.0 - eta[n - 1] * lam[k]
        for a in range(n):
            l[a] = l0 if a < n0 else l1
            c[a] = eta[a] * b_s[k, a]
        for a in range(n):
            sum_c += c[a]
        # r_b, w_b from the two populations' column sums (l is constant on each)
        if have:
            for b in range(n):
                ycol[b] = Sk[n, b]  # the y row: S_ay == S_ya bit for bit (both written once)
        else:
            for b in range(npr):
                r0[b] = 0.0
                r1[b] = 0.0
            for j in range(n0):
                row = Sk[j]
                for b in range(npr):
                    r0[b] += row[b]
            for j in range(n0, n):
                row = Sk[j]
                for b in range(npr):
                    r1[b] += row[b]
            for a in range(n):
                Sd[a] = Sk[a, a]
                ycol[a] = Sk[a, n]
        for b in range(npr):
            r[b] = r0[b] + r1[b]
            w[b] = l0 * r0[b] + l1 * r1[b]
        if fold:
            tot_r = 0.0
            lr = 0.0
            msum = 0.0
            for b in range(n):
                tot_r += r[b]
                lr += l[b] * r[b]
                msum += mk[b]
            syy = rho * rho * Sk[n, n] + 2.0 * rho * inv_n * r[n] + inv_n * inv_n * tot_r
            for b in range(n):
                ycol[b] = rho * Sk[n, b] + inv_n * r[b]
            Sk[n, n] = syy
            w[n] = rho * w[n] + inv_n * lr
            mk[n] = rho * mk[n] + inv_n * msum
        for a in range(npr):
            ym[a] = l[a] * mk[a] + c[a]
            CT[a] = w[a] + sum_c * mk[a]
        for a in range(n):
            la, ca, ma = l[a], c[a], mk[a]
            noise = eta[a] * eta[a] * ((c1[a] - 1.0) * g2[k, a] + c1[a] * sigma2
                                       + c2[a] * (tot[a] + d * sigma2) + K[k, a])
            saa = Sd[a]
            Td[a] = la * saa + ca * ma
            Ud[a] = la * la * saa + 2.0 * la * ca * ma + ca * ca + noise
        sum_ym = 0.0
        sum_ud = 0.0
        for a in range(n):  # sequential (no reassoc): u and the y column stay scalar code
            sum_ym += ym[a]
            sum_ud += Ud[a]
            if communicate:
                u[a] = 0.5 * p * (CT[a] - Td[a]) + 0.25 * p * Ud[a]
            else:
                u[a] = 0.0
            la, ca = l[a], c[a]
            say = ycol[a]
            Tay = la * say + ca * mk[n]
            if communicate:
                Yn[a] = (1.0 - pi) * say + 0.5 * (pi * Tay + (CT[n] - Tay) * p)
            else:
                Yn[a] = (1.0 - pi) * say + pi * Tay
        # the rest is elementwise (vectorised): e, the new diagonal and mean
        if communicate:
            for a in range(n):
                e[a] = 0.5 * (h * mk[a] + p * ym[a])
            for a in range(n):
                la, ca, ma = l[a], c[a], mk[a]
                sum_u = la * (CT[a] - Td[a]) + ca * (sum_ym - ym[a])
                Dn[a] = (1.0 - pi) * Sd[a] + 0.25 * p * (
                    (n - 1) * Ud[a] + (sum_ud - Ud[a]) + 2.0 * sum_u)
                mnew[a] = (1.0 - pi) * ma + 0.5 * (pi * ym[a] + p * (sum_ym - ym[a]))
        else:
            for a in range(n):
                e[a] = h * mk[a] + p * ym[a]
            for a in range(n):
                ma = mk[a]
                Dn[a] = (1.0 - pi) * Sd[a] + pi * Ud[a]
                mnew[a] = (1.0 - pi) * ma + pi * ym[a]
        alpha0, beta0, kw0 = _population_factors(communicate, h, p, coef, l0)
        alpha1, beta1, kw1 = _population_factors(communicate, h, p, coef, l1)
        fv0 = V[0]
        fv1 = V[1]
        for b in range(n):
            fv0[b] = alpha0 + beta0 * l[b]
        for b in range(n):
            fv1[b] = alpha1 + beta1 * l[b]
        for b in range(npr):
            r0[b] = 0.0
            r1[b] = 0.0
        _rewrite_rows(Sk, 0, n0, V[0], u, c, e, mk, kw0, Dn, Yn, r0, Snext)
        _rewrite_rows(Sk, n0, n, V[1], u, c, e, mk, kw1, Dn, Yn, r1, Snext)
        _write_node_state(k, Sk, mk, Sd, Yn, mnew, Dn, lam, b_s, g2, tot_next)


@numba.njit(inline="always", nogil=True)
def _expected_g2_all(lam, b_s, m, S):  # pragma: no cover
    """``E ||g_a||^2`` per coordinate ``k`` and node ``a`` (``lam_k^2 S_aa - 2 lam_k b m + b^2``)
    and its sum over coordinates, from the state (inlined: the caller's fastmath applies)."""
    d, npr = m.shape
    n = npr - 1
    g2 = np.empty((d, n))
    tot = np.zeros(n)
    for k in range(d):
        for a in range(n):
            bb = b_s[k, a]
            v = lam[k] * lam[k] * S[k, a, a] - 2.0 * lam[k] * bb * m[k, a] + bb * bb
            g2[k, a] = v
            tot[a] += v
    return g2, tot


@numba.njit(inline="always", nogil=True)
def _node_terms(a, k, lam, b_s, eta, c1, c2, K, sigma2, g2, tot, l, c, noise):  # pragma: no cover
    """Node ``a``'s contraction ``l_a = 1 - eta_a lam_k``, drift ``c_a = eta_a b_ak`` and
    estimator noise at coordinate ``k`` (``d`` = the number of coordinates)."""
    d = g2.shape[0]
    l[a] = 1.0 - eta[a] * lam[k]
    c[a] = eta[a] * b_s[k, a]
    noise[a] = eta[a] * eta[a] * ((c1[a] - 1.0) * g2[k, a] + c1[a] * sigma2
                                  + c2[a] * (tot[a] + d * sigma2) + K[k, a])


@numba.njit(inline="always", nogil=True)
def _fold_y_block(Sk, mk, r, rho, inv_n):  # pragma: no cover
    """The y fold ``Ytilde <- rho Ytilde + mu`` of one coordinate's block in place, from the
    node column sums ``r`` (written here): ``S_yb <- rho S_yb + r_b / n``, ``S_yy <- rho^2 S_yy
    + 2 rho r_y / n + sum_b r_b / n^2``, ``m_y <- rho m_y + mean m``."""
    npr = Sk.shape[0]
    n = npr - 1
    for b in range(npr):
        r[b] = 0.0
    for j in range(n):
        row = Sk[j]
        for b in range(npr):
            r[b] += row[b]
    tot_r = 0.0
    msum = 0.0
    for b in range(n):
        tot_r += r[b]
        msum += mk[b]
    syy = rho * rho * Sk[n, n] + 2.0 * rho * inv_n * r[n] + inv_n * inv_n * tot_r
    for b in range(n):
        yv = rho * Sk[n, b] + inv_n * r[b]
        Sk[n, b] = yv
        Sk[b, n] = yv
    Sk[n, n] = syy
    mk[n] = rho * mk[n] + inv_n * msum


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz"})
def _matching_step_kernel(lam, b_s, eta, c1, c2, K, sigma2, m, S, communicate,
                          q, s, r4, r3, fold, rho):  # pragma: no cover
    """One uniform matching round on ``(m, S)`` in place: the formulas of :func:`_matching`.
    With ``U`` the all-nodes-step second moment, ``R_a = sum_b U_ab``, ``Z = sum_a R_a``,
    ``tr = sum_a U_aa``, collecting the terms of ``(U + E[Pi]U + U E[Pi] + E[Pi U Pi]) / 4``
    for ``a != b``::

        4 S'_ab = (1 + 2(s - q) + q + 2 r4 - 2 r3) U_ab + (q - 2 r4 + r3)(R_a + R_b)
                  + (2 r4 - r3)(U_aa + U_bb) + r4 (Z - tr)
        4 S'_aa = (1 + 2(s - q) + s - q) U_aa + 2 q R_a + q tr

    and ``S'_ay = ((1 + s - q) U_ay + q sum_c U_cy) / 2`` for the y slot. With ``fold`` the y
    fold ``Ytilde <- rho Ytilde + mu`` comes first, per coordinate from the node column sums
    ``r_b`` (as in :func:`_pairwise_step_kernel`): ``S_yb <- rho S_yb + r_b / n``,
    ``S_yy <- rho^2 S_yy + 2 rho r_y / n + sum_b r_b / n^2``, ``m_y <- rho m_y + mean m``."""
    d, npr = m.shape
    n = npr - 1
    g2, tot = _expected_g2_all(lam, b_s, m, S)
    l = np.ones(npr)
    c = np.zeros(npr)
    ym = np.empty(npr)
    noise = np.zeros(npr)
    R = np.empty(n)
    Ud = np.empty(n)
    blk = np.empty((npr, npr))
    r = np.empty(npr)
    inv_n = 1.0 / n
    k_off = 0.25 * (1.0 + 2.0 * (s - q) + q + 2.0 * r4 - 2.0 * r3)
    k_row = 0.25 * (q - 2.0 * r4 + r3)
    k_dg = 0.25 * (2.0 * r4 - r3)
    for k in range(d):
        mk = m[k]
        Sk = S[k]
        for a in range(n):
            _node_terms(a, k, lam, b_s, eta, c1, c2, K, sigma2, g2, tot, l, c, noise)
        if fold:
            _fold_y_block(Sk, mk, r, rho, inv_n)
        for a in range(npr):
            ym[a] = l[a] * mk[a] + c[a]
        # U over the nodes, its row sums; the y column
        Z = 0.0
        tr = 0.0
        for a in range(n):
            la, ca, ma = l[a], c[a], mk[a]
            row = Sk[a]
            out = blk[a]
            ra = 0.0
            for b in range(n):
                u = la * (l[b] * row[b] + c[b] * ma) + ca * ym[b]
                out[b] = u
                ra += u
            out[a] += noise[a]
            ra += noise[a]
            R[a] = ra
            Z += ra
            tr += out[a]
            Ud[a] = out[a]
            out[n] = la * row[n] + ca * mk[n]
        if communicate:
            sum_uy = 0.0
            for a in range(n):
                sum_uy += blk[a, n]
            for a in range(n):
                out = blk[a]
                uaa = Ud[a]
                for b in range(n):
                    out[b] = (k_off * out[b] + k_row * (R[a] + R[b])
                              + k_dg * (uaa + Ud[b]) + 0.25 * r4 * (Z - tr))
                out[a] = 0.25 * ((1.0 + 2.0 * (s - q) + s - q) * uaa + 2.0 * q * R[a] + q * tr)
                out[n] = 0.5 * ((1.0 + s - q) * out[n] + q * sum_uy)
            sum_ym = 0.0
            for a in range(n):
                sum_ym += ym[a]
            for a in range(n):
                mk[a] = 0.5 * ((1.0 + s - q) * ym[a] + q * sum_ym)
        else:
            for a in range(n):
                mk[a] = ym[a]
        for a in range(n):
            blk[n, a] = blk[a, n]
        blk[n, n] = Sk[n, n]
        for a in range(npr):
            for b in range(npr):
                Sk[a, b] = blk[a, b]


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def _graph_step_kernel(lam, b_s, eta, c1, c2, K, sigma2, m, S, communicate, fold, rho,
                       pm, indptr, indices, pdata):  # pragma: no cover
    """One graph-gossip step on ``(m, S)`` in place: the formulas of :func:`fold_y` (when
    ``fold``) and :func:`_pairs` with the edge probabilities ``pm`` (dense ``(n+1, n+1)``, 0
    in the y slot) and the same matrix in CSR form (``indptr``, ``indices``, ``pdata``) for
    ``(pT)_ab = sum_j p_aj T_jb`` over the neighbours ``j`` of ``a`` (``O(|E| n)`` per
    coordinate instead of the dense ``O(n^3)``). Per coordinate, with scratch blocks ``T``
    and ``pT``: ``T_ab = l_a S_ab + c_a m_b``, ``U_ab = l_a T_ba + c_a EY_b (+ N_a if a = b)``,
    ``H_ab = [(pi_a - p_ab) T_ab + (pT)_ab - p_ab T_bb] / 2``,
    ``S'_ab = (1 - pi_a - pi_b + p_ab) S_ab + H_ab + H_ba + p_ab Q_ab`` (``a != b``),
    ``S'_aa = (1 - pi_a) S_aa + sum_j p_aj Q_aj``, ``Q_ab = (U_aa + U_ab + U_ba + U_bb) / 4``,
    ``m'_a = (1 - pi_a) m_a + (pi_a EY_a + sum_j p_aj EY_j) / 2``; without averaging (local
    steps) ``S'_ab = (1 - pi_a - pi_b + p_ab) S_ab + (pi_a - p_ab) T_ab + (pi_b - p_ab) T_ba
    + p_ab U_ab``, ``S'_aa = (1 - pi_a) S_aa + pi_a U_aa``, ``m'_a = (1 - pi_a) m_a + pi_a
    EY_a``. The y slot is a node without edges (``pi = 0``, ``l = 1``, ``c = 0``, no noise),
    so it needs no special case. No state-sized temporary."""
    d, npr = m.shape
    n = npr - 1
    inv_n = 1.0 / n
    g2, tot = _expected_g2_all(lam, b_s, m, S)
    pi = np.zeros(npr)
    for a in range(npr):
        for q in range(indptr[a], indptr[a + 1]):
            pi[a] += pdata[q]
    l = np.ones(npr)
    c = np.zeros(npr)
    noise = np.zeros(npr)
    ym = np.empty(npr)
    r = np.empty(npr)
    Td = np.empty(npr)
    Ud = np.empty(npr)
    T = np.empty((npr, npr))
    pT = np.empty((npr, npr))
    Tt = np.empty((npr, npr))  # transposes: the rewrite then reads every block by rows
    pTt = np.empty((npr, npr))
    for k in range(d):
        mk = m[k]
        Sk = S[k]
        if fold:  # as in _pairwise_step_kernel: from the node column sums r
            _fold_y_block(Sk, mk, r, rho, inv_n)
        for a in range(n):
            _node_terms(a, k, lam, b_s, eta, c1, c2, K, sigma2, g2, tot, l, c, noise)
        for a in range(npr):
            ym[a] = l[a] * mk[a] + c[a]
        for a in range(npr):
            la, ca = l[a], c[a]
            row = Sk[a]
            Ta = T[a]
            for b in range(npr):
                Ta[b] = la * row[b] + ca * mk[b]
        for a in range(npr):
            Td[a] = T[a, a]
            Ud[a] = l[a] * T[a, a] + c[a] * ym[a] + noise[a]
        if communicate:
            for a in range(npr):
                out = pT[a]
                for b in range(npr):
                    out[b] = 0.0
                for q in range(indptr[a], indptr[a + 1]):
                    pw = pdata[q]
                    Tj = T[indices[q]]
                    for b in range(npr):
                        out[b] += pw * Tj[b]
            for a in range(npr):
                for b in range(npr):
                    Tt[b, a] = T[a, b]
                    pTt[b, a] = pT[a, b]
            mnew_sum = np.zeros(npr)
            for a in range(npr):
                for q in range(indptr[a], indptr[a + 1]):
                    mnew_sum[a] += pdata[q] * ym[indices[q]]
            for a in range(npr):
                la, ca, pa = l[a], c[a], pi[a]
                row = Sk[a]
                saa = row[a]
                Ta = T[a]
                pTa = pT[a]
                Tta = Tt[a]
                pTta = pTt[a]
                pma = pm[a]
                yma = ym[a]
                uda = Ud[a]
                tda = Td[a]
                for b in range(npr):  # the diagonal entry is overwritten below
                    pab = pma[b]
                    hab = 0.5 * ((pa - pab) * Ta[b] + pTa[b] - pab * Td[b])
                    hba = 0.5 * ((pi[b] - pab) * Tta[b] + pTta[b] - pab * tda)
                    uab = la * Tta[b] + ca * ym[b]
                    uba = l[b] * Ta[b] + c[b] * yma
                    qab = 0.25 * (uda + uab + uba + Ud[b])
                    row[b] = (1.0 - pa - pi[b] + pab) * row[b] + hab + hba + pab * qab
                dsum = 0.0
                for q in range(indptr[a], indptr[a + 1]):
                    j = indices[q]
                    uaj = la * T[j, a] + ca * ym[j]
                    uja = l[j] * T[a, j] + c[j] * ym[a]
                    dsum += pdata[q] * (0.25 * (Ud[a] + uaj + uja + Ud[j]))
                row[a] = (1.0 - pa) * saa + dsum
            for a in range(npr):
                mk[a] = (1.0 - pi[a]) * mk[a] + 0.5 * (pi[a] * ym[a] + mnew_sum[a])
        else:
            for a in range(npr):
                for b in range(npr):
                    Tt[b, a] = T[a, b]
            for a in range(npr):
                la, ca, pa = l[a], c[a], pi[a]
                row = Sk[a]
                saa = row[a]
                Ta = T[a]
                Tta = Tt[a]
                pma = pm[a]
                for b in range(npr):  # the diagonal entry is overwritten below
                    pab = pma[b]
                    uab = la * Tta[b] + ca * ym[b]
                    row[b] = ((1.0 - pa - pi[b] + pab) * row[b] + (pa - pab) * Ta[b]
                              + (pi[b] - pab) * Tta[b] + pab * uab)
                row[a] = (1.0 - pa) * saa + pa * Ud[a]
            for a in range(npr):
                mk[a] = (1.0 - pi[a]) * mk[a] + pi[a] * ym[a]
