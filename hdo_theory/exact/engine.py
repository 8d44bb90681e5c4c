"""The exact engine's driver: advance ``(m, S)`` to the requested steps and read the metrics.

Steps are counted as :func:`hdo_theory.process.simulate` counts them (interactions for
``pairwise`` and ``graph``, rounds for ``matching``). From the first step at which the one-step
map stops depending on ``t`` (constant schedule, past the linear warm-up and the local steps)
the map is one affine map ``z -> M z + c`` of the flattened state; when the state is small
(at most :data:`MAX_JUMP_DIM` numbers) the engine builds ``M`` by applying the step to the
basis vectors and jumps ``g`` steps at once with the binary powers ``M^(2^k)`` (repeated
squaring: ``O(D^3 log g)`` once, ``O(D^2 log g)`` per jump), else it steps through.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from hdo_theory.exact import fast as F

#: Largest flattened state (``d (n+1)(n+2) + 1`` numbers) for which the engine jumps by
#: repeated squaring; above it, it steps through (a squaring costs ``D^3``).
MAX_JUMP_DIM = 1500


def metrics_of(fm: F.FastModel, m, S, W: float, t: int, fixed_node: int) -> dict:
    """Every exact metric at the state ``(m, S)`` (eigenbasis) after ``t`` steps.

    The state is in ``z = Q^T (x - x*)``. With ``mu = (1/n) sum_i X_i``:
    ``E mu_k^2 = 1^T S_k 1 / n^2``; ``f(x) - f* = 1/2 z^T diag(lam) z`` (``f(x) = 1/2 x^T A x -
    bbar . x``, ``x* = A^{-1} bbar``, ``f* = -1/2 bbar^T A^{-1} bbar``);
    ``E Gamma = sum_k (mean_i S_{k,ii} - E mu_k^2)``;
    ``E M^G = (1/n) sum_i sum_k (E gbar_{i,k}^2 + v_{i,k})``; ``y = Ytilde / Wtilde`` (``y_0 =
    mu_0``).
    """
    n = fm.n
    lam = fm.lam
    fstar = fm.fstar
    Sn = S[:, :n, :n]
    e_mu2 = Sn.sum(axis=(1, 2)) / (n * n)
    out = {}
    out["gap"] = float(np.sum(0.5 * lam * e_mu2))
    out["dist_sq"] = float(np.sum(e_mu2))
    out["grad_norm_sq"] = float(np.sum(lam * lam * e_mu2))
    diag = np.diagonal(Sn, axis1=1, axis2=2)  # (d, n)
    out["gamma"] = float(np.sum(diag.mean(axis=1) - e_mu2))
    node_f = fstar + (0.5 * lam[:, None] * diag).sum(axis=0)  # E f(X_i)
    out["node_loss"] = float(node_f[fixed_node])
    out["zo_loss"] = float(node_f[: fm.n0].mean()) if fm.n0 > 0 else float("nan")
    out["fo_loss"] = float(node_f[fm.n0:].mean()) if fm.n0 < n else float("nan")
    v, g2 = F.noise_var(fm, m, S)
    out["mg"] = float((g2[:, :n] + v[:, :n]).sum() / n)
    if fm.ycoef is not None:
        if t == 0:
            out["y_gap"] = out["gap"]
        else:
            # Ytilde and Wtilde follow the same recursion, so Ytilde - Wtilde x* is the
            # recursion on z: y - x* = (Ytilde in z) / Wtilde
            out["y_gap"] = float(np.sum(0.5 * lam * S[:, n, n])) / (W * W)
    if t >= fm.local:
        _, S2 = F.step(fm, m, S, t)
        Sn2 = S2[:, :n, :n]
        out["lemma2_cond"] = float(np.sum(np.diagonal(Sn2, axis1=1, axis2=2).mean(axis=1)
                                          - Sn2.sum(axis=(1, 2)) / (n * n)))
    else:
        out["lemma2_cond"] = float("nan")  # as simulate: no averaging, Lemma 2 does not apply
    return out


class _Jumper:
    """Binary powers of the time-invariant affine step (module docstring)."""

    def __init__(self, fm, t_ref: int, m0, S0):
        self.shape_m = m0.shape
        self.shape_S = S0.shape
        self.nm = m0.size
        self.D = self.nm + S0.size + 1  # + the y weight Wtilde
        D = self.D
        # apply the step to 0 and to every basis vector at once (batch axis first)
        Z = np.zeros((D + 1, D))
        Z[1:, :] = np.eye(D)
        m, S, W = self._split(Z)
        m2, S2 = fm.step(m, S, t_ref)
        rho = max(0.0, fm.y_rho(fm.factor(t_ref))) if fm.ycoef is not None else 0.0
        W2 = rho * W + 1.0
        out = self._join(m2, S2, W2)
        c = out[0]
        M = (out[1:] - c).T  # column i = image of basis vector i minus the constant
        A = np.zeros((D + 1, D + 1))
        A[:D, :D] = M
        A[:D, D] = c
        A[D, D] = 1.0
        self.powers = [A]

    def _split(self, Z):
        B = Z.shape[0]
        m = Z[:, : self.nm].reshape((B, *self.shape_m))
        S = Z[:, self.nm: self.D - 1].reshape((B, *self.shape_S))
        return m, S, Z[:, self.D - 1]

    def _join(self, m, S, W):
        B = m.shape[0]
        return np.concatenate([m.reshape(B, -1), S.reshape(B, -1), np.reshape(W, (B, 1))], axis=1)

    def jump(self, m, S, W, g: int):
        z = np.concatenate([m.ravel(), S.ravel(), [W, 1.0]])
        k = 0
        while g:
            while len(self.powers) <= k:
                P = self.powers[-1]
                self.powers.append(P @ P)
            if g & 1:
                z = self.powers[k] @ z
            g >>= 1
            k += 1
        m2, S2, W2 = self._split(z[None, : self.D])
        return m2[0], S2[0], float(W2[0])


def run(fm, X0: np.ndarray, at: np.ndarray, fixed_node: int,
        jump: bool | None = None, means: list | None = None) -> dict:
    """Exact metrics at the steps ``at`` (sorted, unique, in ``[0, T]``): ``{name: array}``.

    ``jump``: use repeated squaring in the time-invariant part (default: when the state has at
    most :data:`MAX_JUMP_DIM` numbers). ``means``: if a list, ``E mu_t`` (original basis,
    ``(d,)``, from the model's ``mean_point``) is appended to it at every step of ``at``.
    """
    m, S = fm.initial_state(X0)
    W = 0.0
    t = 0
    t_inv = fm.time_invariant_from()
    D = fm.state_dim()
    if jump is None:
        # building the map and squaring cost about D^3 log2(g) BLAS flops against g steps of
        # about 10 D slower numpy/Numba operations: jump only when the invariant stretch is
        # long enough to pay for it (break-even measured at D ~ 900: g ~ D^2 / 500 log2 g)
        span = int(at[-1]) - t_inv
        jump = D <= MAX_JUMP_DIM and span > D * D / 500.0 * max(1.0, np.log2(max(span, 2)))
    jumper = None
    # the pairwise kernel's sums for the next step, valid while only the kernel touches (m, S)
    carry = fm.new_carry() if hasattr(fm, "new_carry") else None
    rows = []
    for target in at:
        target = int(target)
        while t < target:
            if jump and t >= t_inv and target - t > 1:
                # one BLAS thread: the products are small and many; with a thread pool
                # competing for busy cores the jump ran ~25x slower (and one thread keeps
                # the rounding independent of the machine's core count)
                with threadpool_limits(limits=1):
                    if jumper is None:
                        jumper = _Jumper(fm, t, m, S)
                    m, S, W = jumper.jump(m, S, W, target - t)
                if carry is not None:
                    carry.valid = False  # a new state
                t = target
                break
            if carry is not None and hasattr(fm, "steps_inplace"):
                # the run of steps up to the target (or the invariant stretch) in one call
                stop = target if not (jump and t < t_inv < target) else t_inv
                if fm.ycoef is not None:
                    for s in range(t, stop):
                        W = max(0.0, fm.y_rho(fm.factor(s))) * W + 1.0
                m, S = fm.steps_inplace(m, S, t, stop, carry)
                t = stop
                continue
            fac = fm.factor(t)
            if fm.ycoef is not None:
                W = max(0.0, fm.y_rho(fac)) * W + 1.0
            if carry is not None:
                m, S = fm.step_inplace(m, S, t, carry)
            elif hasattr(fm, "step_inplace"):
                m, S = fm.step_inplace(m, S, t)
            else:
                m, S = fm.step(m, S, t)
            t += 1
        rows.append(fm.metrics(m, S, W, t, fixed_node))
        if means is not None:
            means.append(fm.mean_point(m))
    names = rows[0].keys() if rows else ()
    return {k: np.array([r[k] for r in rows]) for k in names}
