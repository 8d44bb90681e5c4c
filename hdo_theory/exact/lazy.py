"""Many uniform pairwise steps in ``O(n d)`` each: the off-diagonal entries kept implicitly.

The pairwise step of :func:`hdo_theory.exact.fast._pairwise_step_kernel` rewrites every
coordinate's ``(n+1) x (n+1)`` block, ``O(n^2 d)`` a step. But its off-diagonal node entries
(``a != b``, both nodes) move by an entrywise affine map whose multiplier depends only on the
populations ``P`` of ``a`` and ``Q`` of ``b`` and whose offset has rank-one structure:

.. math:: S'_{ab} = \\varphi_{PQ} S_{ab} + u_a + u_b + \\kappa_P m_a \\eta_Q \\beta_b
          + \\eta_P \\beta_a e_b, \\qquad \\varphi_{PQ} = \\alpha_P + \\beta'_P l_Q,

with ``beta_b = b_{b,k}`` (the node's centred linear term in the eigenbasis, so that
``c_b = eta_Q beta_b``) and every other symbol a vector or scalar of the step (the kernel's
``fv``, ``u``, ``kw``, ``e``). Composing such maps keeps the form: relative to a base block
``B`` (the last materialised one),

.. math:: S_{ab} = \\Phi_{PQ} B_{ab} + X_{Q,a} + Y_{P,b} + Z_{Q,a} \\beta_b
          + \\beta_a W_{P,b},

.. math:: \\Phi \\leftarrow \\varphi \\Phi, \\quad X_{Q,a} \\leftarrow \\varphi_{P(a)Q} X_{Q,a}
          + u_a, \\quad Y_{P,b} \\leftarrow \\varphi_{PQ(b)} Y_{P,b} + u_b,

.. math:: Z_{Q,a} \\leftarrow \\varphi_{P(a)Q} Z_{Q,a} + \\kappa_{P(a)} \\eta_Q m_a, \\quad
          W_{P,b} \\leftarrow \\varphi_{PQ(b)} W_{P,b} + \\eta_P e_b,

``8 n`` numbers per coordinate instead of ``n^2``. A step reads the off-diagonal entries only
through their column sums over each population's rows, and summing the update over the rows
``j`` of population ``P`` (``delta = [b in P]``) carries those sums in ``O(n)``:

.. math:: r'_P[b] = \\varphi_{PQ} (r_P[b] - \\delta S_{bb}) + \\textstyle\\sum_{j \\in P} u_j
          + (|P| - 2\\delta) u_b + \\kappa_P c_b \\big(\\textstyle\\sum_{j \\in P} m_j
          - \\delta m_b\\big) + e_b \\big(\\textstyle\\sum_{j \\in P} c_j - \\delta c_b\\big)
          + \\delta S'_{bb}.

The diagonal, the mean and the y row are kept explicitly and updated by the very expressions
of the one-step kernel. The blocks are written out (:func:`_materialise`) every ``refresh``
steps and at the end of the run, ``O(n^2 d)`` once, so the cost of a step is ``O(n d)`` plus
``1 / refresh`` of the old one.

Not bit-identical to stepping with the one-step kernel (the entries are summed in another
order); agreement to rounding is tested in ``tests/test_exact_lazy.py``. The engine uses this
route (:meth:`hdo_theory.exact.fast.FastModel.steps_inplace`) for runs of at least
``LAZY_MIN_STEPS`` pairwise steps between the requested steps, in calls of at most
``LAZY_CHUNK`` steps, each ending with a write-out.
"""

from __future__ import annotations

import numba
import numpy as np

from hdo_theory.exact.fast import _expected_g2_all, _population_factors, _write_node_state

#: materialise the blocks at least this often (bounds how far the implicit form's rounding
#: can drift from the explicit one; one write-out costs about one old step)
REFRESH_STEPS = 256


@numba.njit(inline="always", nogil=True, fastmath={"contract"})
def _materialise(k, Sk, Sd, bk, n0, Phi, X, Y, Z, W, sums):  # pragma: no cover
    """Write coordinate ``k``'s block from its implicit form, reset the form to the identity
    on the new base, and recompute the carried column sums ``sums[k]`` (every row, the
    diagonal and the y column included) from the written entries."""
    npr = Sk.shape[0]
    n = npr - 1
    for P in range(2):
        for b in range(npr):
            sums[k, P, b] = 0.0
    for a in range(n):
        P = 0 if a < n0 else 1
        R = Sk[a]
        xa0 = X[k, 0, a]
        xa1 = X[k, 1, a]
        za0 = Z[k, 0, a]
        za1 = Z[k, 1, a]
        ba = bk[a]
        f0 = Phi[k, P, 0]
        f1 = Phi[k, P, 1]
        YP = Y[k, P]
        WP = W[k, P]
        for b in range(n0):
            R[b] = f0 * R[b] + xa0 + YP[b] + za0 * bk[b] + ba * WP[b]
        for b in range(n0, n):
            R[b] = f1 * R[b] + xa1 + YP[b] + za1 * bk[b] + ba * WP[b]
        R[a] = Sd[a]
        R[n] = Sk[n, a]
        acc = sums[k, P]
        for b in range(npr):
            acc[b] += R[b]
    for P in range(2):
        for Q in range(2):
            Phi[k, P, Q] = 1.0
        for a in range(n):
            X[k, P, a] = 0.0
            Y[k, P, a] = 0.0
            Z[k, P, a] = 0.0
            W[k, P, a] = 0.0


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def pairwise_lazy_steps(lam, b_s, lr, facs, rhos, comms, n0, c1, c2, K, sigma2, m, S, fold,
                        sums, diag, g2, tot_next, have, refresh):  # pragma: no cover
    """``len(facs)`` uniform pairwise steps on ``(m, S)`` in place (step ``s`` with rates
    ``lr * facs[s]``, y fold factor ``rhos[s]``, averaging iff ``comms[s]``), the carry
    (``sums``, ``diag``, ``g2``, ``tot_next``: :class:`~hdo_theory.exact.fast.StepCarry`)
    read if ``have`` and left valid for the written-out state. Each step is the one-step
    kernel's closed form (same vectors, same diagonal, mean and y row expressions) applied to
    the implicit off-diagonal form of the module docstring."""
    d, npr = m.shape
    n = npr - 1
    P_ = n * (n - 1) / 2.0
    p = 1.0 / P_
    pi = 2.0 / n
    inv_n = 1.0 / n
    coef = 1.0 - 2.0 * pi + p
    Phi = np.ones((d, 2, 2))
    X = np.zeros((d, 2, n))
    Y = np.zeros((d, 2, n))
    Z = np.zeros((d, 2, n))
    W = np.zeros((d, 2, n))
    tot = np.zeros(n)
    # the carried sums and diagonal: from the state unless valid
    if not have:
        for k in range(d):
            Sk = S[k]
            for P in range(2):
                for b in range(npr):
                    sums[k, P, b] = 0.0
            for j in range(n):
                P = 0 if j < n0 else 1
                row = Sk[j]
                for b in range(npr):
                    sums[k, P, b] += row[b]
            for a in range(n):
                diag[k, a] = Sk[a, a]
        g2_s, tot_s = _expected_g2_all(lam, b_s, m, S)
        g2[:, :] = g2_s
        tot_next[:] = tot_s
    l = np.ones(npr)
    c = np.zeros(npr)
    e = np.zeros(npr)
    u = np.zeros(npr)
    ym = np.empty(npr)
    r = np.empty(npr)
    w = np.empty(npr)
    r0 = np.empty(npr)
    r1 = np.empty(npr)
    ycol = np.empty(n)
    Td = np.empty(n)
    Ud = np.empty(n)
    CT = np.empty(npr)
    Dn = np.empty(n)
    Yn = np.empty(n)
    mnew = np.empty(n)
    eta = np.empty(n)
    steps = facs.shape[0]
    since = 0
    for s in range(steps):
        communicate = comms[s]
        rho = rhos[s]
        for a in range(n):
            eta[a] = lr[a] * facs[s]
            tot[a] = tot_next[a]
            tot_next[a] = 0.0
        h = pi - 2.0 * p if communicate else pi - p
        eta0 = eta[0]
        eta1 = eta[n - 1]
        for k in range(d):
            mk = m[k]
            Sk = S[k]
            Sd = diag[k]
            bk = b_s[k]
            for b in range(npr):  # carried exactly from step to step (below)
                r0[b] = sums[k, 0, b]
                r1[b] = sums[k, 1, b]
            # From here to the population factors: the O(n) vectors of the step, written as in
            # fast._pairwise_step_kernel (tests/test_exact_lazy.py holds the two to 1e-12).
            # Moved into one shared inline function (arguments packed in tuples, the only form
            # Numba's inliner accepted) it made this kernel 1.18x slower (same-process A/B,
            # 2026-12-02) and the one-step kernel about 1.15x (across processes), so the
            # expressions stay written out twice.
            sum_c = 0.0
            l0 = 1.0 - eta0 * lam[k]
            l1 = 1.0 - eta1 * lam[k]
            for a in range(n):
                l[a] = l0 if a < n0 else l1
                c[a] = eta[a] * bk[a]
            for a in range(n):
                sum_c += c[a]
            for b in range(n):
                ycol[b] = Sk[n, b]
            for b in range(npr):
                r[b] = r0[b] + r1[b]
                w[b] = l0 * r0[b] + l1 * r1[b]
            if fold:
                tot_r = 0.0
                lr_ = 0.0
                msum = 0.0
                for b in range(n):
                    tot_r += r[b]
                    lr_ += l[b] * r[b]
                    msum += mk[b]
                syy = rho * rho * Sk[n, n] + 2.0 * rho * inv_n * r[n] + inv_n * inv_n * tot_r
                for b in range(n):
                    ycol[b] = rho * Sk[n, b] + inv_n * r[b]
                Sk[n, n] = syy
                w[n] = rho * w[n] + inv_n * lr_
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
            for a in range(n):
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
            # phi[P, Q] = alpha_P + beta_P l_Q: the factor of row population P at columns Q
            f00 = alpha0 + beta0 * l0
            f01 = alpha0 + beta0 * l1
            f10 = alpha1 + beta1 * l0
            f11 = alpha1 + beta1 * l1
            Phi[k, 0, 0] *= f00
            Phi[k, 0, 1] *= f01
            Phi[k, 1, 0] *= f10
            Phi[k, 1, 1] *= f11
            for a in range(n):
                if a < n0:  # row population 0: X_{Q,a}, Z_{Q,a} scale by phi[0, Q]
                    fa0 = f00
                    fa1 = f01
                    kwa = kw0 * mk[a]
                else:
                    fa0 = f10
                    fa1 = f11
                    kwa = kw1 * mk[a]
                X[k, 0, a] = fa0 * X[k, 0, a] + u[a]
                X[k, 1, a] = fa1 * X[k, 1, a] + u[a]
                Z[k, 0, a] = fa0 * Z[k, 0, a] + kwa * eta0
                Z[k, 1, a] = fa1 * Z[k, 1, a] + kwa * eta1
                # as a column b = a of either row population P: Y_{P,b}, W_{P,b} by phi[P, Q]
                fb0 = f00 if a < n0 else f01
                fb1 = f10 if a < n0 else f11
                Y[k, 0, a] = fb0 * Y[k, 0, a] + u[a]
                Y[k, 1, a] = fb1 * Y[k, 1, a] + u[a]
                W[k, 0, a] = fb0 * W[k, 0, a] + eta0 * e[a]
                W[k, 1, a] = fb1 * W[k, 1, a] + eta1 * e[a]
            # the next step's column sums in closed form: summing the off-diagonal update
            # over the rows j of population P (delta = [b in P]),
            # r'_P[b] = phi_PQ (r_P[b] - delta S_bb) + sum_P u - delta u_b + (|P| - delta) u_b
            #           + kw_P c_b (sum_P m - delta m_b) + e_b (sum_P c - delta c_b)
            #           + delta S'_bb,  and the y column from the new y entries
            for P in range(2):
                lo = 0 if P == 0 else n0
                hi = n0 if P == 0 else n
                cntP = float(hi - lo)
                su = 0.0
                sm = 0.0
                sc = 0.0
                sy = 0.0
                for j in range(lo, hi):
                    su += u[j]
                    sm += mk[j]
                    sc += c[j]
                    sy += Yn[j]
                kwP = kw0 if P == 0 else kw1
                acc = sums[k, P]
                rP = r0 if P == 0 else r1
                for b in range(n):
                    Q = 0 if b < n0 else 1
                    if P == 0:
                        f = f00 if Q == 0 else f01
                    else:
                        f = f10 if Q == 0 else f11
                    if P == Q:
                        acc[b] = (f * (rP[b] - Sd[b]) + (su - u[b]) + (cntP - 1.0) * u[b]
                                  + kwP * c[b] * (sm - mk[b]) + e[b] * (sc - c[b]) + Dn[b])
                    else:
                        acc[b] = (f * rP[b] + su + cntP * u[b] + kwP * c[b] * sm
                                  + e[b] * sc)
                acc[n] = sy
            _write_node_state(k, Sk, mk, Sd, Yn, mnew, Dn, lam, b_s, g2, tot_next)
        since += 1
        if since >= refresh or s == steps - 1:
            for k in range(d):
                _materialise(k, S[k], diag[k], b_s[k], n0, Phi, X, Y, Z, W, sums)
            since = 0
