"""A literal exact-moment reference for the exact claims' tests (independent of hdo_theory.exact).

The explicit quadratic ``F^i(x, xi) = 1/2 x'Ax - b_i'x + xi'x`` (``xi ~ N(0, s^2 I)``, one per
estimate) under pairwise gossip, ZO nodes ``0..n0-1`` with the forward difference (one Gaussian
direction ``u``, radius ``nu``), FO nodes with the exact stochastic gradient, constant rate
``eta``. The state is the full second moment ``Sigma = E[v v^T]`` of the homogeneous vector
``v = (X_1, .., X_n, y, 1)`` (size ``(n+1) d + 1``); one interaction of the pair ``{i, j}``
maps it through ``w = (Z_i, Z_j, v)``, ``Z_k = X_k - eta G_k``, then the deterministic
averaging, and the map is averaged over the ``n(n-1)/2`` pairs by an explicit loop. The
per-node moments use only

* ``E[u u^T M u u^T] = M + M^T + tr(M) I`` and
  ``E[(u^T A u)^2 u u^T] = ((tr A)^2 + 2 tr A^2) I + 4 tr(A) A + 8 A^2`` (odd moments vanish),
* ``G = (u^T (A x - b + xi) + (nu/2) u^T A u) u`` (the forward difference on a quadratic), or
  ``G = A x - b + xi`` (FO).

Theorem 1's average ``y`` folds ``mu_t`` before step ``t`` with weight ratio
``rho_t = (1 - r) / (1 - r^(t+1))``, ``r = 1 - eta ell / (2n)`` (hdo_theory.process.kernels).
Cost ``O(n^2 ((n+1) d)^3)`` per step: tests only.
"""

from __future__ import annotations

import numpy as np


def literal_expected(A, B, n0, noise, X0, eta, nu, T, at, ell=None):
    A = np.asarray(A, float)
    B = np.asarray(B, float)
    n, d = B.shape
    X0 = np.broadcast_to(np.asarray(X0, float), (n, d))
    N = (n + 1) * d + 1
    one = N - 1
    v0 = np.concatenate([X0.ravel(), X0.mean(axis=0), [1.0]])
    Sig = np.outer(v0, v0)
    I = np.eye(d)
    trA, trA2 = np.trace(A), np.trace(A @ A)
    quart = ((trA**2 + 2 * trA2) * I + 4 * trA * A + 8 * A @ A)  # E[q^2 u u^T]
    xs = np.linalg.solve(A, B.mean(axis=0))
    blk = [slice(k * d, (k + 1) * d) for k in range(n + 1)]  # node k, then y (k = n)

    def EC(k):  # E[C_hat_k]: d x N, Z_k = C_hat_k v
        M = np.zeros((d, N))
        M[:, blk[k]] = I - eta * A
        M[:, one] = eta * B[k]
        return M

    def Q(k, S):  # E[Z_k Z_k^T]
        Skk, m, b = S[blk[k], blk[k]], S[blk[k], one], B[k]
        if k < n0:
            ASA = A @ Skk @ A
            out = Skk - eta * (A @ Skk + Skk @ A) + eta**2 * (2 * ASA + np.trace(ASA) * I)
            M = np.outer(A @ m, b)
            cross = eta * (np.outer(m, b) - eta * (M + M.T + np.trace(M) * I))
            cc = eta**2 * (2 * np.outer(b, b) + (b @ b) * I + (2 + d) * noise**2 * I
                           + nu**2 / 4 * quart)
        else:
            Cm = I - eta * A
            out = Cm @ Skk @ Cm
            cross = eta * np.outer(Cm @ m, b)
            cc = eta**2 * (np.outer(b, b) + noise**2 * I)
        return out + cross + cross.T + cc

    def metrics(S):
        P = np.zeros((d, N))  # mu = P v
        for k in range(n):
            P[:, blk[k]] = I / n
        Emu = P @ S[:, one]
        Emm = P @ S @ P.T
        Cmu = Emm - np.outer(Emu, xs) - np.outer(xs, Emu) + np.outer(xs, xs)
        Ey, Eyy = S[blk[n], one], S[blk[n], blk[n]]
        Cy = Eyy - np.outer(Ey, xs) - np.outer(xs, Ey) + np.outer(xs, xs)
        gamma = sum(np.trace(S[blk[k], blk[k]]) for k in range(n)) / n - np.trace(Emm)
        mg = 0.0
        for k in range(n):
            Skk, m, b = S[blk[k], blk[k]], S[blk[k], one], B[k]
            h2 = np.trace(A @ Skk @ A) - 2 * b @ (A @ m) + b @ b + d * noise**2
            if k < n0:
                mg += (d + 2) * h2 + nu**2 / 4 * (d * trA**2 + 2 * d * trA2 + 4 * trA**2
                                                  + 8 * trA2)
            else:
                mg += h2
        return {"gap": 0.5 * np.trace(A @ Cmu), "dist_sq": np.trace(Cmu),
                "grad_norm_sq": np.trace(A @ A @ Cmu), "gamma": gamma, "mg": mg / n,
                "y_gap": 0.5 * np.trace(A @ Cy), "mean_mu": Emu}

    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    r = 1.0 - eta * (ell or 0.0) / (2 * n)
    hist = [metrics(Sig)]
    for t in range(T):
        if ell is not None:  # fold mu_t into y before the interaction
            rho = 1.0 if r >= 1.0 else (1 - r) / (1 - r ** (t + 1))
            F = np.eye(N)
            F[blk[n], blk[n]] = (1 - rho) * I
            for k in range(n):
                F[blk[n], blk[k]] = rho / n * I
            Sig = F @ Sig @ F.T
        new = np.zeros_like(Sig)
        for i, j in pairs:
            # w = (Z_i, Z_j, v): second moment, then v' = Lw (average the pair's Z)
            Ci, Cj = EC(i), EC(j)
            W = np.zeros((2 * d + N, 2 * d + N))
            W[:d, :d], W[d:2 * d, d:2 * d] = Q(i, Sig), Q(j, Sig)
            W[:d, d:2 * d] = Ci @ Sig @ Cj.T
            W[d:2 * d, :d] = W[:d, d:2 * d].T
            W[:d, 2 * d:], W[d:2 * d, 2 * d:] = Ci @ Sig, Cj @ Sig
            W[2 * d:, :d], W[2 * d:, d:2 * d] = W[:d, 2 * d:].T, W[d:2 * d, 2 * d:].T
            W[2 * d:, 2 * d:] = Sig
            L = np.zeros((N, 2 * d + N))
            L[:, 2 * d:] = np.eye(N)
            for k in (i, j):
                L[blk[k], :] = 0.0
                L[blk[k], :d] = I / 2
                L[blk[k], d:2 * d] = I / 2
            new += L @ W @ L.T
        Sig = new / len(pairs)
        hist.append(metrics(Sig))
    out = {k: np.array([hist[t][k] for t in at]) for k in hist[0]}
    out["lemma2_cond"] = np.array([hist[t + 1]["gamma"] if t < T else np.nan for t in at])
    return out
