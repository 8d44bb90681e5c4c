"""Dense path of the exact engine: per-sample Hessians, minibatches without replacement.

For the built-in ``quadratic`` (``F(x, j) = 1/2 (x - c_j)^T A_{g_j} (x - c_j)``: ``H_j =
A_{g_j}``, ``h_j = A_{g_j} c_j``) and ``least-squares`` (``F(x, j) = 1/2 (a_j . x - y_j)^2 +
(lam/2)|x|^2``: ``H_j = a_j a_j^T + lam I``, ``h_j = y_j a_j``) kinds every per-sample
gradient is ``H_j x - h_j``, and node ``i``'s minibatch gradient on a batch of ``b`` samples
drawn without replacement from its shard of ``m`` samples is ``H_b x - h_b`` with the batch
means ``H_b``, ``h_b``. Simple random sampling without replacement gives exactly

.. math:: E[H_b] = \\bar H, \\qquad
          \\mathrm{Cov}(\\text{batch mean of } v_j)
          = \\kappa\\, \\frac1m \\sum_j (v_j - \\bar v)(v_j - \\bar v)^T,
          \\qquad \\kappa = \\frac{m - b}{b (m - 1)}

(``kappa = 0`` for ``m = 1``), applied to ``v_j = H_j x - h_j``, so in the coordinates
``z = x - x*`` (``x* = Hf^{-1} hf``, ``Hf = sum_j w_j H_j`` the Hessian of ``f``) the batch
gradient has mean ``Hbar_i z - hz_i`` and covariance

.. math:: C_i(z) = \\kappa \\frac1m \\sum_j (\\Delta_j z - \\delta_j)(\\Delta_j z - \\delta_j)^T,
          \\quad \\Delta_j = H_j - \\bar H_i,\\ \\delta_j = (h_j - \\bar h_i) - \\Delta_j x^*,

whose expectation over the state is affine in ``(m_i, S_ii)``; the engine precomputes
``sum_j Delta_j (x) Delta_j`` as a ``d^2 x d^2`` matrix per node. The estimator's covariance is
then (:mod:`hdo_theory.exact.moments`, the batch shared by all ``rv`` directions)

.. math:: \\mathrm{Cov}(G | z) = (c_1 - 1)\\bar g \\bar g^T + c_1 C_i
          + c_2 (|\\bar g|^2 + \\mathrm{tr}\\, C_i) I
          + \\frac{\\nu^2}{4}\\frac{s_6}{rv}\\Big[\\mathcal B(\\bar H_i)
          + \\kappa \\frac1m \\sum_j \\mathcal B(\\Delta_j)\\Big],

``B(H) = ((tr H)^2 + 2 tr H^2) I + 4 (tr H) H + 8 H^2`` being a quadratic form in ``H`` (so
its batch mean is ``B(Hbar)`` plus ``kappa`` times its population mean over ``Delta_j``).
The explicit quadratic is the case ``H_j = A``, one sample per node, plus ``sigma^2 I``.

The state is the full mean ``m`` (``(n+1, d)``) and second moment ``S`` (``(n+1, n+1, d, d)``
blocks, the last slot Theorem 1's ``Ytilde``), and one step applies the block form of the
closed forms of :mod:`hdo_theory.exact.fast` (``l_a`` becomes the matrix ``I - eta_a Hbar_a``).
Cost per step: ``O(n^2 d^3)`` for the blocks (``O(n^3 d^3)`` with a graph or a matching's
sums) plus ``O(n d^4)`` for the batch covariances, and ``O(N d^4)`` once to build them; memory
``O(n^2 d^2 + n d^4)``. Sized for ``n d <=`` :data:`MAX_DENSE_ND`.
"""

from __future__ import annotations

import numpy as np

from hdo_theory.exact import moments as MO
from hdo_theory.process.schedules import schedule_code, schedule_factor

#: Largest ``n d`` of the dense path (the state has ``(n+1)^2 d^2`` numbers).
MAX_DENSE_ND = 512


def sample_hessians(objective):
    """``(H, h)``: per-sample Hessians ``(N, d, d)`` and linear terms ``(N, d)`` of a
    quadratic or least-squares objective (gradient ``H_j x - h_j``)."""
    from hdo_theory.objectives import kernels as K

    kind, params, feats, targets, groups, mats, centers = objective.data
    d = objective.d
    if int(kind) == K.KIND_QUADRATIC:
        H = mats[groups]
        h = np.einsum("jik,jk->ji", H, centers)
        return np.ascontiguousarray(H), h
    if int(kind) == K.KIND_LEAST_SQUARES:
        lam = float(params[0])
        H = feats[:, :, None] * feats[:, None, :] + lam * np.eye(d)
        return H, feats * targets[:, None]
    raise ValueError("sample_hessians: not a quadratic or least-squares objective")


def _bracket(H):
    """``B(H)`` for a stack of matrices ``(..., d, d)``."""
    d = H.shape[-1]
    tr = np.trace(H, axis1=-2, axis2=-1)[..., None, None]
    H2 = H @ H
    tr2 = np.trace(H2, axis1=-2, axis2=-1)[..., None, None]
    return (tr * tr + 2.0 * tr2) * np.eye(d) + 4.0 * tr * H + 8.0 * H2


class DenseModel:
    """The dense path's model (module docstring). ``shards``: per node the sample indices;
    ``batches``: per node its minibatch size; ``weights``: the sample weights of ``f``;
    ``sigma2``: additive isotropic noise (the explicit quadratic), else 0."""

    def __init__(self, H, h, shards, batches, weights, n0, sigma2, config, lrs, nus, ycoef,
                 edges, f_star=None):
        n = len(shards)
        d = H.shape[-1]
        self.n, self.d, self.n0 = n, d, int(n0)
        npr = n + 1
        self.Hf = np.einsum("j,jik->ik", weights, H)
        self.Hf = 0.5 * (self.Hf + self.Hf.T)
        hf = weights @ h
        self.xs = np.linalg.solve(self.Hf, hf)
        # f(x) - f* = 1/2 z^T Hf z exactly; f* only for the node losses (raw f)
        self.fstar = f_star
        pop = [0 if i < n0 else 1 for i in range(n)]
        self.Hbar = np.zeros((npr, d, d))
        self.hz = np.zeros((npr, d))
        self.Kop = np.zeros((n, d * d, d * d))
        self.Lin = np.zeros((n, d, d, d))
        self.Const = np.zeros((n, d, d))
        self.Kcurv = np.zeros((n, d, d))
        self.c1 = np.ones(npr)
        self.c2 = np.zeros(npr)
        self.lr_s = np.zeros(npr)
        for i, idx in enumerate(shards):
            Hi, hi = H[idx], h[idx]
            Hb, hb = Hi.mean(axis=0), hi.mean(axis=0)
            self.Hbar[i] = Hb
            self.hz[i] = hb - Hb @ self.xs
            mi, b = len(idx), int(batches[i])
            kappa = (mi - b) / (b * (mi - 1.0)) if mi > 1 else 0.0
            Dl = Hi - Hb
            dl = (hi - hb) - Dl @ self.xs
            if kappa > 0:
                w = kappa / mi
                self.Kop[i] = w * np.einsum("jik,jlm->ilkm", Dl, Dl).reshape(d * d, d * d)
                self.Lin[i] = w * np.einsum("jik,jl->ilk", Dl, dl)
                self.Const[i] = w * dl.T @ dl
            self.Const[i] += sigma2 * np.eye(d)
            pc = config.zo if pop[i] == 0 else config.fo
            kind, rv = pc.estimator.kind, pc.estimator.rv
            self.c1[i], self.c2[i] = MO.pmp_coefficients(kind, rv, d)
            s6 = MO.sixth_moment_scale(kind, d)
            if s6 > 0:
                br = _bracket(Hb) + (kappa * _bracket(Dl).mean(axis=0) if kappa > 0 else 0.0)
                self.Kcurv[i] = 0.25 * nus[pop[i]] ** 2 * s6 / rv * br
            self.lr_s[i] = lrs[pop[i]]
        self.model = config.model
        self.local = config.local_steps_warmup
        self.code = schedule_code(config.schedule)
        self.T, self.warmup = config.T, config.warmup
        self.ycoef = ycoef
        self.edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        pm = np.zeros((npr, npr))
        if self.model == "graph":
            E = self.edges.shape[0]
            pm[self.edges[:, 0], self.edges[:, 1]] = 1.0 / E
            pm[self.edges[:, 1], self.edges[:, 0]] = 1.0 / E
        else:
            pm[:n, :n] = 1.0 / (n * (n - 1) / 2.0)
            pm[np.arange(n), np.arange(n)] = 0.0
        self.pm = pm
        self.pi = pm.sum(axis=1)
        self.q_match = (n // 2) / (n * (n - 1) / 2.0)
        self.s_match = 1.0 - (n - 1) * self.q_match
        if n % 2 == 0:
            self.r4, self.r3 = (1.0 / ((n - 1) * (n - 3)) if n >= 4 else 0.0), 0.0
        else:
            self.r4 = 1.0 / (n * (n - 2)) if n >= 5 else 0.0
            self.r3 = 1.0 / (n * (n - 2))

    # -- schedule and y (as the fast model) -------------------------------------------------
    def factor(self, t):
        return float(schedule_factor(self.code, int(t), self.T, self.warmup))

    def time_invariant_from(self):
        return self.T if self.code != schedule_code("constant") else max(self.warmup, self.local)

    def y_rho(self, fac):
        a = fac * self.ycoef
        if self.model == "matching":
            a = 1.0 - (1.0 - a) ** (self.n // 2)
        return 1.0 - a

    def state_dim(self):
        npr = self.n + 1
        return npr * self.d + npr * npr * self.d * self.d + 1

    # -- state -------------------------------------------------------------------------------
    def mean_point(self, m) -> np.ndarray:
        """``E mu = x* + (1/n) sum_i E z_i`` (``z_i = x_i - x*``)."""
        return self.xs + m[: self.n].mean(axis=0)

    def initial_state(self, X0):
        Z = X0 - self.xs
        m = np.concatenate([Z, np.zeros((1, self.d))], axis=0)
        S = m[:, None, :, None] * m[None, :, None, :]
        return m, S

    def _gg_cov(self, m, S):
        """``(E gbar gbar^T, E Cov(G | X))`` per node: ``(..., n, d, d)`` each."""
        n, d = self.n, self.d
        idx = np.arange(n)
        Saa = S[..., idx, idx, :, :]
        ma = m[..., :n, :]
        Hb, hz = self.Hbar[:n], self.hz[:n]
        HS = np.einsum("aij,...ajk->...aik", Hb, Saa)
        Hm = np.einsum("aij,...aj->...ai", Hb, ma)
        Egg = (np.einsum("...aij,akj->...aik", HS, Hb)
               - Hm[..., :, None] * hz[:, None, :] - hz[:, :, None] * Hm[..., None, :]
               + hz[:, :, None] * hz[:, None, :])
        vecS = Saa.reshape(*Saa.shape[:-2], d * d)
        C = np.einsum("apq,...aq->...ap", self.Kop, vecS).reshape(Saa.shape)
        lin = np.einsum("ailk,...ak->...ail", self.Lin, ma)
        C = C - lin - np.swapaxes(lin, -1, -2) + self.Const
        c1 = self.c1[:n, None, None]
        c2 = self.c2[:n, None, None]
        tr = (np.trace(Egg, axis1=-2, axis2=-1) + np.trace(C, axis1=-2, axis2=-1))
        cov = (c1 - 1.0) * Egg + c1 * C + c2 * tr[..., None, None] * np.eye(d) + self.Kcurv
        return Egg, cov

    def _fold_y(self, m, S, rho):
        n = self.n
        m = m.copy()
        S = S.copy()
        m[..., n, :] = rho * m[..., n, :] + m[..., :n, :].mean(axis=-2)
        S[..., n, :, :, :] = rho * S[..., n, :, :, :] + S[..., :n, :, :, :].mean(axis=-4)
        S[..., :, n, :, :] = rho * S[..., :, n, :, :] + S[..., :, :n, :, :].mean(axis=-3)
        return m, S

    def step(self, m, S, t):
        fac = self.factor(t)
        if self.ycoef is not None:
            m, S = self._fold_y(m, S, max(0.0, self.y_rho(fac)))
        n, d = self.n, self.d
        npr = n + 1
        eta = self.lr_s * fac
        L = np.eye(d) - eta[:, None, None] * self.Hbar  # (n+1, d, d); the y slot: I
        c = eta[:, None] * self.hz
        _, cov = self._gg_cov(m, S)
        ym = np.einsum("aij,...aj->...ai", L, m) + c
        T = (np.einsum("aij,...abjk->...abik", L, S)
             + c[:, None, :, None] * m[..., None, :, None, :])
        U = (np.einsum("aij,...abjk->...abik", L, _bt(T))
             + c[:, None, :, None] * ym[..., None, :, None, :])
        idx = np.arange(n)
        U[..., idx, idx, :, :] += (eta[:n] ** 2)[:, None, None] * cov
        comm = t >= self.local
        if self.model == "matching":
            return self._matching(ym, U, comm)
        pm, pi = self.pm, self.pi
        pa = pi[:, None, None, None]
        pb = pi[None, :, None, None]
        P4 = pm[:, :, None, None]
        coef = 1.0 - pa - pb + P4
        ia = np.arange(npr)
        if not comm:
            S2 = coef * S + (pa - P4) * T + _bt((pa - P4) * T) + P4 * U
            S2[..., ia, ia, :, :] = ((1.0 - pi)[:, None, None] * S[..., ia, ia, :, :]
                                     + pi[:, None, None] * U[..., ia, ia, :, :])
            return (1.0 - pi)[:, None] * m + pi[:, None] * ym, S2
        Td = T[..., ia, ia, :, :]
        Ud = U[..., ia, ia, :, :]
        pT = np.einsum("aj,...jbik->...abik", pm, T)
        Hm = 0.5 * ((pa - P4) * T + pT - P4 * Td[..., None, :, :, :])
        # Q_ab = (U_aa + U_ab + U_ba + U_bb) / 4 with U_ba = E[Y_b Y_a^T] = U_ab^T
        Q = 0.25 * (Ud[..., :, None, :, :] + U + np.swapaxes(U, -1, -2) + Ud[..., None, :, :, :])
        S2 = coef * S + Hm + _bt(Hm) + P4 * Q
        S2[..., ia, ia, :, :] = ((1.0 - pi)[:, None, None] * S[..., ia, ia, :, :]
                                 + np.einsum("aj,...ajik->...aik", pm, Q))
        m2 = (1.0 - pi)[:, None] * m + 0.5 * (pi[:, None] * ym
                                              + np.einsum("aj,...jk->...ak", pm, ym))
        return m2, S2

    def _matching(self, ym, U, comm):
        if not comm:
            return ym, U
        n = self.n
        q, s, r4, r3 = self.q_match, self.s_match, self.r4, self.r3
        Un = U[..., :n, :n, :, :]
        Row = Un.sum(axis=-3)  # Row_a = sum_j U_aj: (..., n, d, d)
        Col = Un.sum(axis=-4)  # Col_b = sum_i U_ib
        Z = Row.sum(axis=-3)[..., None, None, :, :]
        idx = np.arange(n)
        Ud = Un[..., idx, idx, :, :]
        tr = Ud.sum(axis=-3)[..., None, None, :, :]
        Ua, Ub = Ud[..., :, None, :, :], Ud[..., None, :, :, :]
        Ra, Rb = Row[..., :, None, :, :], Row[..., None, :, :, :]
        Ca, Cb = Col[..., :, None, :, :], Col[..., None, :, :, :]
        UbaT = np.swapaxes(Un, -4, -3)  # (a, b) -> U_ba (not transposed within the block)
        EPiU = (s - q) * Un + q * Cb
        UEPi = (s - q) * Un + q * Ra
        pairs_rest = (Z - Ra - Rb - Ca - Cb + Ua + Un + UbaT + Ub) - (tr - Ua - Ub)
        single_rest = (Cb - Un - Ub) + (Ra - Ua - Un)
        PUP = q * UbaT + r4 * pairs_rest + r3 * single_rest
        PUP[..., idx, idx, :, :] = s * Ud + q * (tr[..., 0, 0, :, :] - Ud)
        S2 = U.copy()
        S2[..., :n, :n, :, :] = 0.25 * (Un + EPiU + UEPi + PUP)
        Uy = U[..., :n, n, :, :]
        EWUy = 0.5 * ((1.0 + s - q) * Uy + q * Uy.sum(axis=-3, keepdims=True))
        S2[..., :n, n, :, :] = EWUy
        S2[..., n, :n, :, :] = np.swapaxes(EWUy, -1, -2)
        m2 = ym.copy()
        yn = ym[..., :n, :]
        m2[..., :n, :] = 0.5 * ((1.0 + s - q) * yn + q * yn.sum(axis=-2, keepdims=True))
        return m2, S2

    # -- metrics -----------------------------------------------------------------------------
    def metrics(self, m, S, W, t, fixed_node):
        n = self.n
        Hf = self.Hf
        Emm = S[:n, :n].sum(axis=(0, 1)) / (n * n)  # E[(mu - x*)(mu - x*)^T]
        out = {"gap": 0.5 * float(np.sum(Hf * Emm)), "dist_sq": float(np.trace(Emm)),
               "grad_norm_sq": float(np.sum((Hf @ Hf) * Emm))}
        idx = np.arange(n)
        Saa = S[idx, idx]
        out["gamma"] = float(np.trace(Saa, axis1=-2, axis2=-1).mean() - np.trace(Emm))
        node_f = self.fstar + 0.5 * np.einsum("ij,aij->a", Hf, Saa)
        out["node_loss"] = float(node_f[fixed_node])
        out["zo_loss"] = float(node_f[: self.n0].mean()) if self.n0 > 0 else float("nan")
        out["fo_loss"] = float(node_f[self.n0:].mean()) if self.n0 < n else float("nan")
        Egg, cov = self._gg_cov(m, S)
        out["mg"] = float((np.trace(Egg, axis1=-2, axis2=-1)
                           + np.trace(cov, axis1=-2, axis2=-1)).sum() / n)
        if self.ycoef is not None:
            out["y_gap"] = out["gap"] if t == 0 else 0.5 * float(np.sum(Hf * S[n, n])) / (W * W)
        if t >= self.local:
            _, S2 = self.step(m, S, t)
            Emm2 = S2[:n, :n].sum(axis=(0, 1)) / (n * n)
            out["lemma2_cond"] = float(np.trace(S2[idx, idx], axis1=-2, axis2=-1).mean()
                                       - np.trace(Emm2))
        else:
            out["lemma2_cond"] = float("nan")
        return out


def _bt(X):
    """Block transpose: ``out[a, b] = X[b, a]^T`` (node axes -4, -3; block axes -2, -1)."""
    return np.swapaxes(np.swapaxes(X, -4, -3), -2, -1)
