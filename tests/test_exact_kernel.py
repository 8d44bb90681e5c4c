"""The fused pairwise kernel against the implementations it replaced, on random states.

:func:`hdo_theory.exact.fast._pairwise_step_kernel` (one in-place pass over the state, y fold
fused, the next step's sums carried in a :class:`~hdo_theory.exact.fast.StepCarry`) must be
bit-identical to the two-pass kernel it replaced (frozen below), with and without a carry, over
many steps; and agree to rounding with (i) the older Numba kernel, frozen below verbatim
(scratch block per coordinate, y fold by :func:`~hdo_theory.exact.fast.fold_y`), and
(ii) the NumPy closed form of :func:`~hdo_theory.exact.fast._pairs` (``use_kernel=False``), on
random symmetric positive semi-definite states (not only the rank-one deterministic start),
communicating or not, y carried or not, with both, one or no zeroth-order nodes; likewise the
matching kernel (y fold fused too) against its NumPy form.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from hdo_theory.estimators import EstimatorSpec
from hdo_theory.exact import build_fast_model
from hdo_theory.exact import fast as F
from hdo_theory.process import PopulationConfig, ProcessConfig


@numba.njit(cache=False, nogil=True, fastmath={"reassoc", "contract", "nsz"})
def previous_pairwise_kernel(lam, b_s, eta, c1, c2, K, sigma2, m, S, communicate):
    """The scratch-block kernel as merged with issue 12 (y fold done outside, in NumPy)."""
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
    vb = np.empty(npr)
    blk = np.empty((npr, npr))
    mnew = np.empty(npr)
    coef = 1.0 - 2.0 * pi + p
    for k in range(d):
        mk = m[k]
        Sk = S[k]
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
        if communicate:
            for b in range(n):
                vb[b] = 0.5 * p * (CT[b] - Td[b]) + 0.25 * p * Ud[b]
        else:
            for b in range(n):
                vb[b] = 0.0
        for a in range(n):
            la, ca, ma = l[a], c[a], mk[a]
            if communicate:
                alpha = coef + 0.5 * (pi - 2.0 * p) * la
                beta = 0.5 * (pi - 2.0 * p) + 0.5 * p * la
                ua = vb[a]
                wa = 0.5 * ((pi - 2.0 * p) + p * la) * ma
                xa = 0.5 * (pi - 2.0 * p) * ca
                ya = 0.5 * p * ca
            else:
                alpha = coef + (pi - p) * la
                beta = (pi - p) + p * la
                ua = 0.0
                wa = (pi - p + p * la) * ma
                xa = (pi - p) * ca
                ya = p * ca
            row = Sk[a]
            out = blk[a]
            for b in range(n):
                out[b] = (row[b] * (alpha + beta * l[b]) + ua + vb[b] + wa * c[b]
                          + xa * mk[b] + ya * ym[b])
            # the y column: neither p nor pi for y
            say = row[n]
            Tay = la * say + ca * mk[n]
            if communicate:
                out[n] = (1.0 - pi) * say + 0.5 * (pi * Tay + (CT[n] - Tay) * p)
                sum_u = la * (CT[a] - Td[a]) + ca * (sum_ym - ym[a])
                out[a] = (1.0 - pi) * Sk[a, a] + 0.25 * p * (
                    (n - 1) * Ud[a] + (sum_ud - Ud[a]) + 2.0 * sum_u)
                mnew[a] = (1.0 - pi) * ma + 0.5 * (pi * ym[a] + p * (sum_ym - ym[a]))
            else:
                out[n] = (1.0 - pi) * say + pi * Tay
                out[a] = (1.0 - pi) * Sk[a, a] + pi * Ud[a]
                mnew[a] = (1.0 - pi) * ma + pi * ym[a]
        for a in range(n):
            blk[n, a] = blk[a, n]
        blk[n, n] = Sk[n, n]
        for a in range(npr):
            for b in range(npr):
                Sk[a, b] = blk[a, b]
        for a in range(n):
            mk[a] = mnew[a]


@numba.njit(cache=False, nogil=True, fastmath={"contract"})
def two_pass_kernel(lam, b_s, eta, n0, c1, c2, K, sigma2, m, S, communicate, fold,
                          rho):
    """The two-pass kernel as merged before the carry (read pass for the column sums, rewrite
    pass; y fold fused), frozen verbatim but for this docstring."""
    d, npr = m.shape
    n = npr - 1
    P = n * (n - 1) / 2.0
    p = 1.0 / P
    pi = 2.0 / n
    inv_n = 1.0 / n
    # E gbar^2 and its sum over coordinates (the tr coupling); the fold leaves node entries
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
    r = np.empty(npr)
    r0 = np.empty(npr)
    r1 = np.empty(npr)
    e = np.empty(n)
    w = np.empty(npr)
    u = np.empty(n)
    Sd = np.empty(n)
    Td = np.empty(n)
    Ud = np.empty(n)
    CT = np.empty(npr)
    mnew = np.empty(n)
    coef = 1.0 - 2.0 * pi + p
    h = pi - 2.0 * p if communicate else pi - p
    for k in range(d):
        mk = m[k]
        Sk = S[k]
        sum_c = 0.0
        l0 = 1.0 - eta[0] * lam[k]
        l1 = 1.0 - eta[n - 1] * lam[k]
        for a in range(n):
            l[a] = l0 if a < n0 else l1
            c[a] = eta[a] * b_s[k, a]
            sum_c += c[a]
        # pass 1: r_b and w_b, from the two populations' sums (l is constant on each)
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
                yv = rho * Sk[n, b] + inv_n * r[b]
                Sk[n, b] = yv
                Sk[b, n] = yv
            Sk[n, n] = syy
            w[n] = rho * w[n] + inv_n * lr
            mk[n] = rho * mk[n] + inv_n * msum
        sum_ym = 0.0
        sum_ud = 0.0
        for a in range(npr):
            ym[a] = l[a] * mk[a] + c[a]
            CT[a] = w[a] + sum_c * mk[a]
        for a in range(n):
            la, ca, ma = l[a], c[a], mk[a]
            noise = eta[a] * eta[a] * ((c1[a] - 1.0) * g2[k, a] + c1[a] * sigma2
                                       + c2[a] * (tot[a] + d * sigma2) + K[k, a])
            saa = Sk[a, a]
            Sd[a] = saa
            Td[a] = la * saa + ca * ma
            Ud[a] = la * la * saa + 2.0 * la * ca * ma + ca * ca + noise
            sum_ym += ym[a]
            sum_ud += Ud[a]
            if communicate:
                u[a] = 0.5 * p * (CT[a] - Td[a]) + 0.25 * p * Ud[a]
            else:
                u[a] = 0.0
        # pass 2: every row in place; chi_a m_b + psi_a EY_b = c_a e_b
        for b in range(n):
            e[b] = 0.5 * (h * mk[b] + p * ym[b]) if communicate else h * mk[b] + p * ym[b]
        for a in range(n):
            la, ca, ma = l[a], c[a], mk[a]
            if communicate:
                beta = 0.5 * h + 0.5 * p * la
                alpha = coef + 0.5 * h * la
                wa = 0.5 * (h + p * la) * ma
            else:
                beta = h + p * la
                alpha = coef + h * la
                wa = (h + p * la) * ma
            ua = u[a]
            row = Sk[a]
            say = row[n]
            # (one loop over b with l_b loaded: splitting it at n0 measured 2-3x slower)
            for b in range(n):
                row[b] = row[b] * (alpha + beta * l[b]) + ua + u[b] + wa * c[b] + ca * e[b]
            Tay = la * say + ca * mk[n]
            if communicate:
                yv = (1.0 - pi) * say + 0.5 * (pi * Tay + (CT[n] - Tay) * p)
                sum_u = la * (CT[a] - Td[a]) + ca * (sum_ym - ym[a])
                row[a] = (1.0 - pi) * Sd[a] + 0.25 * p * (
                    (n - 1) * Ud[a] + (sum_ud - Ud[a]) + 2.0 * sum_u)
                mnew[a] = (1.0 - pi) * ma + 0.5 * (pi * ym[a] + p * (sum_ym - ym[a]))
            else:
                yv = (1.0 - pi) * say + pi * Tay
                row[a] = (1.0 - pi) * Sd[a] + pi * Ud[a]
                mnew[a] = (1.0 - pi) * ma + pi * ym[a]
            row[n] = yv
            Sk[n, a] = yv
        for a in range(n):
            mk[a] = mnew[a]


def _model(n, d, n0, ycoef, seed, model="pairwise"):
    rng = np.random.default_rng(seed)
    A = np.diag(np.geomspace(1.0, 0.2, d))
    B = rng.standard_normal((n, d))
    cfg = ProcessConfig(model=model, T=50, local_steps_warmup=2,
                        zo=PopulationConfig(EstimatorSpec("zo-sphere", nu=0.5, rv=2), lr=0.1),
                        fo=PopulationConfig(EstimatorSpec("fo"), lr=0.2))
    return build_fast_model(A, B, n0, 0.4, cfg, [0.1, 0.2], [0.5, 0.5], ycoef, np.zeros((0, 2)))


def _random_state(fm, rng):
    """A random moment state: ``S_k = G G^T / (n+1) + m_k m_k^T`` (symmetric PSD)."""
    npr = fm.n + 1
    m = rng.standard_normal((fm.d, npr))
    G = rng.standard_normal((fm.d, npr, npr))
    S = G @ np.swapaxes(G, 1, 2) / npr + m[:, :, None] * m[:, None, :]
    return m, S


def _previous(fm, m, S, t):
    m, S = m.copy(), S.copy()
    fac = fm.factor(t)
    if fm.ycoef is not None:
        F.fold_y(fm, m, S, max(0.0, fm.y_rho(fac)), inplace=True)
    previous_pairwise_kernel(fm.lam, fm.b_s, fm.lr_s * fac, fm.c1_s, fm.c2_s, fm.K_s, fm.sigma2,
                             m, S, t >= fm.local)
    return m, S


@pytest.mark.parametrize("n,n0", [(7, 3), (6, 0), (5, 5), (2, 1)])
@pytest.mark.parametrize("ycoef", [None, 0.01])
def test_fused_kernel_equals_previous_kernel_and_numpy_on_random_states(n, n0, ycoef):
    d = 4
    fm = _model(n, d, n0, ycoef, seed=n + n0)
    rng = np.random.default_rng(100 + n)
    for t in (0, 1, 2, 3, 7):  # t < 2: local steps (no averaging); then communicating
        m, S = _random_state(fm, rng)
        scale = float(np.abs(S).max())
        fm.use_kernel = False
        m_np, S_np = F.step(fm, m, S, t)
        fm.use_kernel = True
        m_old, S_old = _previous(fm, m, S, t)
        m_new, S_new = m.copy(), S.copy()
        fm.step_inplace(m_new, S_new, t)
        for ref_m, ref_S in ((m_old, S_old), (m_np, S_np)):
            np.testing.assert_allclose(m_new, ref_m, rtol=1e-12, atol=1e-13 * scale)
            np.testing.assert_allclose(S_new, ref_S, rtol=1e-12, atol=1e-13 * scale)
        # symmetric to rounding (S_ab and S_ba are computed by the same formula, with a, b
        # exchanged, so not bit for bit)
        np.testing.assert_allclose(S_new, np.swapaxes(S_new, 1, 2), rtol=1e-13,
                                   atol=1e-14 * scale)
        m_cp, S_cp = F.step(fm, m, S, t)  # the copying route: same kernel, input untouched
        np.testing.assert_array_equal(m_cp, m_new)
        np.testing.assert_array_equal(S_cp, S_new)


@pytest.mark.parametrize("n", [6, 7])
@pytest.mark.parametrize("ycoef", [None, 0.01])
def test_matching_kernel_with_fused_fold_equals_numpy_on_random_states(n, ycoef):
    fm = _model(n, 4, 3, ycoef, seed=n, model="matching")
    rng = np.random.default_rng(200 + n)
    for t in (0, 1, 2, 5):
        m, S = _random_state(fm, rng)
        scale = float(np.abs(S).max())
        fm.use_kernel = False
        m_np, S_np = F.step(fm, m, S, t)
        fm.use_kernel = True
        m_new, S_new = m.copy(), S.copy()
        fm.step_inplace(m_new, S_new, t)
        np.testing.assert_allclose(m_new, m_np, rtol=1e-12, atol=1e-13 * scale)
        np.testing.assert_allclose(S_new, S_np, rtol=1e-12, atol=1e-13 * scale)


def test_kernel_state_is_c_ordered():
    """The kernels walk each coordinate's block by rows: the initial state must be C-ordered
    (an F-ordered state from concatenating a transpose made the step about 4x slower)."""
    fm = _model(5, 3, 2, 0.01, seed=1)
    m, S = fm.initial_state(np.random.default_rng(0).standard_normal((5, 3)))
    assert m.flags["C_CONTIGUOUS"] and S.flags["C_CONTIGUOUS"]
    assert fm.b_s.flags["C_CONTIGUOUS"] and fm.K_s.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("model", ["pairwise", "matching"])
def test_exact_mean_is_the_linear_recursion(model):
    """``E mu_t`` (``r.mean``): with one rate ``eta`` for all nodes and estimators unbiased on
    a quadratic, the mean of the node models follows ``E mu' - x* = (I - k eta A / n)(E mu -
    x*)`` with ``k = 2`` node steps per pairwise interaction and ``k = n`` per matching round
    (every node steps, averaging keeps the mean; with ``n`` odd the solo node steps too);
    fast and dense paths agree."""
    from hdo_theory.exact import expected_dynamics
    from hdo_theory.objectives.explicit import explicit_quadratic

    n, d, eta = 5, 3, 0.05
    rng = np.random.default_rng(4)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = (Q * np.array([1.0, 0.5, 0.2])) @ Q.T
    A = 0.5 * (A + A.T)
    B = rng.standard_normal((n, d))
    X0 = rng.standard_normal((n, d))
    obj = explicit_quadratic(A, B, 2, 0.3)
    cfg = ProcessConfig(model=model, T=30, x0=X0,
                        zo=PopulationConfig(EstimatorSpec("zo-forward", nu=0.3), lr=eta),
                        fo=PopulationConfig(EstimatorSpec("fo"), lr=eta))
    at = [0, 1, 7, 30]
    xs = np.linalg.solve(A, B.mean(axis=0))
    k = 2 if model == "pairwise" else n
    M = np.eye(d) - k * eta / n * A
    want = [xs + np.linalg.matrix_power(M, t) @ (X0.mean(axis=0) - xs) for t in at]
    for path in ("fast", "dense"):
        r = expected_dynamics(obj, cfg, at=at, path=path)
        np.testing.assert_allclose(r.mean, want, rtol=1e-11, atol=1e-12, err_msg=path)


def _two_pass(fm, m, S, t):
    fac = fm.factor(t)
    fold = fm.ycoef is not None
    rho = max(0.0, fm.y_rho(fac)) if fold else 0.0
    two_pass_kernel(fm.lam, fm.b_s, fm.lr_s * fac, fm.n0, fm.c1_s, fm.c2_s, fm.K_s, fm.sigma2,
                    m, S, t >= fm.local, fold, rho)


@pytest.mark.parametrize("n,n0", [(9, 4), (8, 0), (6, 6), (5, 1), (2, 1), (12, 7)])
@pytest.mark.parametrize("ycoef", [None, 0.01])
def test_one_pass_kernel_is_bit_identical_to_two_pass_kernel_with_and_without_carry(n, n0,
                                                                                   ycoef):
    """Same state through 12 steps (2 local, then communicating) three ways: the frozen
    two-pass kernel, the new kernel carrying its sums from step to step, and the new kernel
    recomputing them every step (no carry). All three must be equal bit for bit (same
    expressions, same summation orders); a random PSD start and, for the y slot, the fold."""
    fm = _model(n, 5, n0, ycoef, seed=3 * n + n0)
    rng = np.random.default_rng(7 + n)
    m0, S0 = _random_state(fm, rng)
    # the kernels assume S_ay == S_ya bit for bit (they write both with one value)
    S0 = 0.5 * (S0 + np.swapaxes(S0, 1, 2))
    ref_m, ref_S = m0.copy(), S0.copy()
    car_m, car_S = m0.copy(), S0.copy()
    new_m, new_S = m0.copy(), S0.copy()
    carry = fm.new_carry()
    for t in range(12):
        _two_pass(fm, ref_m, ref_S, t)
        fm.step_inplace(car_m, car_S, t, carry)
        assert carry.valid
        fm.step_inplace(new_m, new_S, t)  # scratch carry: recomputed from the state
        for got_m, got_S in ((car_m, car_S), (new_m, new_S)):
            np.testing.assert_array_equal(got_m, ref_m)
            np.testing.assert_array_equal(got_S, ref_S)
    # the carry holds the sums of the state it wrote
    nodes = ref_S[:, :n, :]
    np.testing.assert_array_equal(carry.diag, np.diagonal(ref_S, axis1=1, axis2=2)[:, :n])
    np.testing.assert_allclose(carry.sums[:, 0] + carry.sums[:, 1], nodes.sum(axis=1),
                               rtol=1e-13, atol=1e-13 * float(np.abs(ref_S).max()))


def test_invalidated_carry_is_recomputed():
    """After the state is changed outside the kernel (here: replaced by another state), a
    carry marked invalid gives the same step as no carry; a stale carry marked valid would
    not (negative control: the carry is really read)."""
    fm = _model(7, 4, 3, 0.01, seed=11)
    rng = np.random.default_rng(5)
    m, S = _random_state(fm, rng)
    S = 0.5 * (S + np.swapaxes(S, 1, 2))
    carry = fm.new_carry()
    fm.step_inplace(m, S, 3, carry)  # carry now valid for (m, S)
    m2, S2 = _random_state(fm, rng)
    S2 = 0.5 * (S2 + np.swapaxes(S2, 1, 2))
    want_m, want_S = m2.copy(), S2.copy()
    fm.step_inplace(want_m, want_S, 4)
    stale_m, stale_S = m2.copy(), S2.copy()
    fm.step_inplace(stale_m, stale_S, 4, carry)  # stale: still marked valid
    assert not np.allclose(stale_S, want_S)
    fm.step_inplace(m, S, 4, carry)  # re-validate on (m, S), then invalidate and switch
    carry.valid = False
    got_m, got_S = m2.copy(), S2.copy()
    fm.step_inplace(got_m, got_S, 4, carry)
    np.testing.assert_array_equal(got_m, want_m)
    np.testing.assert_array_equal(got_S, want_S)


@pytest.mark.parametrize("jump", [False, True])
def test_engine_steps_with_carry_equal_steps_without(jump):
    """The engine keeps one carry over its step loop (and drops it after a jump): its exact
    metrics equal, bit for bit, those of stepping the same model without a carry. (On the
    one-step route; the engine's default lazy route for pairwise runs agrees with it to
    rounding: ``tests/test_exact_lazy.py``.)"""
    from hdo_theory.exact.engine import run

    fm = _model(6, 3, 2, 0.01, seed=2)
    X0 = np.random.default_rng(9).standard_normal((6, 3))
    at = np.array([0, 1, 5, 30, 31, 33])
    got = run(_Without(fm, "steps_inplace"), X0, at, fixed_node=0, jump=jump)
    m, S = fm.initial_state(X0)
    W, t, rows = 0.0, 0, []
    from hdo_theory.exact.engine import metrics_of

    if jump:  # the reference: the engine's own jumps, stepping without a carry in between
        ref = run(_Without(fm, "new_carry"), X0, at, fixed_node=0, jump=True)
        for k in got:
            np.testing.assert_array_equal(got[k], ref[k], err_msg=k)
        return
    for target in at:
        while t < int(target):
            if fm.ycoef is not None:
                W = max(0.0, fm.y_rho(fm.factor(t))) * W + 1.0
            m, S = fm.step_inplace(m, S, t)
            t += 1
        rows.append(metrics_of(fm, m, S, W, t, 0))
    for k in got:
        np.testing.assert_array_equal(got[k], [r[k] for r in rows], err_msg=k)


class _Without:
    """The fast model with one method hidden: without ``steps_inplace`` the engine steps one
    step at a time, without ``new_carry`` it steps without a carry."""

    def __init__(self, fm, hidden):
        self._fm = fm
        self._hidden = hidden

    def __getattr__(self, name):
        if name == self._hidden:
            raise AttributeError(name)
        return getattr(self._fm, name)


@pytest.mark.parametrize("topology,n", [("ring", 7), ("ring", 6), ("complete", 5),
                                        ("torus", 9)])
@pytest.mark.parametrize("ycoef", [None, 0.01])
def test_graph_kernel_equals_numpy_closed_form_on_random_states(topology, n, ycoef):
    """The Numba graph kernel (:func:`~hdo_theory.exact.fast._graph_step_kernel`, edge list
    in CSR form for ``p T``) against the NumPy closed form with the sparse product
    (``use_kernel=False``), local steps (t < 2) and communicating, with and without the y slot:
    equal to rounding (each entry is a sum of a few products of numbers of size ``scale``)."""
    from hdo_theory.process.topology import make_edges

    rng = np.random.default_rng(30 + n)
    d = 4
    A = np.diag(np.geomspace(1.0, 0.2, d))
    B = rng.standard_normal((n, d))
    cfg = ProcessConfig(model="graph", topology=topology, T=50, local_steps_warmup=2,
                        zo=PopulationConfig(EstimatorSpec("zo-sphere", nu=0.5, rv=2), lr=0.1),
                        fo=PopulationConfig(EstimatorSpec("fo"), lr=0.2))
    fm = build_fast_model(A, B, 3, 0.4, cfg, [0.1, 0.2], [0.5, 0.5], ycoef,
                          make_edges(topology, n))
    for t in (0, 1, 2, 5):
        m, S = _random_state(fm, rng)
        scale = float(np.abs(S).max())
        fm.use_kernel = False
        m_np, S_np = F.step(fm, m, S, t)
        fm.use_kernel = True
        m_k, S_k = F.step(fm, m, S, t)
        np.testing.assert_allclose(m_k, m_np, rtol=1e-12, atol=1e-13 * scale)
        np.testing.assert_allclose(S_k, S_np, rtol=1e-12, atol=1e-13 * scale)
        m_in, S_in = m.copy(), S.copy()
        fm.step_inplace(m_in, S_in, t)  # in place: the same kernel, same bits
        np.testing.assert_array_equal(m_in, m_k)
        np.testing.assert_array_equal(S_in, S_k)
