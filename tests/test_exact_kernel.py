"""The fused pairwise kernel against the implementations it replaced, on random states.

:func:`hdo_theory.exact.fast._pairwise_step_kernel` (one read and one in-place write of the
state, y fold fused) must agree to rounding with (i) the previous Numba kernel, frozen below
verbatim (scratch block per coordinate, y fold by :func:`~hdo_theory.exact.fast.fold_y`), and
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
