"""The lazy pairwise route (``O(n d)`` a step, :mod:`hdo_theory.exact.lazy`) against stepping
with the one-step kernel, on random states and on the engine's runs.

Both routes evaluate the same closed form; the lazy one keeps the off-diagonal entries as
``Phi B + X 1^T + 1 Y^T + Z beta^T + beta W^T`` and sums them in another order, so they agree
to rounding, not bit for bit. The tolerance: after ``t`` steps each entry is a sum of
``O(t)`` terms of the state's scale, each rounded a few times, and the maps contract
(``|phi| < 1``), so the two routes differ by at most about ``t * 10 eps`` of the state's scale
(``9e-14`` at ``t = 40``); ``1e-12`` relative to the largest entry is about ten times that, and
still fails on any wrong term (a term of the update is of the order of the state itself: each
of two mutations tried, a wrong population rate in ``W`` and a dropped term of the carried
column sums, failed 14-20 of this file's tests). Measured: the largest difference over the
random-state cases is 3 eps of the largest entry.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_exact_kernel import _model, _random_state

from hdo_theory.estimators import EstimatorSpec
from hdo_theory.exact import build_fast_model
from hdo_theory.exact import fast as F
from hdo_theory.exact import lazy as L
from hdo_theory.process import PopulationConfig, ProcessConfig


def _stepwise(fm, m, S, t0, t1):
    m, S = m.copy(), S.copy()
    carry = fm.new_carry()
    for t in range(t0, t1):
        fm.step_inplace(m, S, t, carry)
    return m, S, carry


def _lazy(fm, m, S, t0, t1, refresh=None):
    m, S = m.copy(), S.copy()
    carry = fm.new_carry()
    if refresh is not None:
        old, L.REFRESH_STEPS = L.REFRESH_STEPS, refresh
    try:
        fm.steps_inplace(m, S, t0, t1, carry)
    finally:
        if refresh is not None:
            L.REFRESH_STEPS = old
    return m, S, carry


@pytest.mark.parametrize("n,n0", [(7, 3), (6, 0), (5, 5), (2, 1), (2, 0), (2, 2), (9, 8)])
@pytest.mark.parametrize("ycoef", [None, 0.01])
@pytest.mark.parametrize("refresh", [1, 3, 256])
def test_lazy_steps_equal_one_step_kernel_on_random_states(n, n0, ycoef, refresh):
    fm = _model(n, 4, n0, ycoef, seed=n + n0)
    rng = np.random.default_rng(300 + n + n0)
    m, S = _random_state(fm, rng)
    # steps 0, 1 are local (no averaging), then communicating: the run crosses the switch
    m_ref, S_ref, c_ref = _stepwise(fm, m, S, 0, 40)
    m_lz, S_lz, c_lz = _lazy(fm, m, S, 0, 40, refresh)
    scale = float(np.abs(S_ref).max())
    np.testing.assert_allclose(m_lz, m_ref, rtol=1e-12, atol=1e-12 * float(np.abs(m_ref).max()))
    np.testing.assert_allclose(S_lz, S_ref, rtol=1e-12, atol=1e-12 * scale)
    # the carry is left valid for the written-out state: the next one-step kernel call reads it
    assert c_lz.valid
    for name in ("sums", "diag", "g2", "tot"):
        ref = getattr(c_ref, name)
        np.testing.assert_allclose(getattr(c_lz, name), ref, rtol=1e-12,
                                   atol=1e-12 * max(float(np.abs(ref).max()), 1e-300))
    m2, S2 = m_lz.copy(), S_lz.copy()
    fm.step_inplace(m2, S2, 40, c_lz)
    m3, S3 = m_lz.copy(), S_lz.copy()
    fm.step_inplace(m3, S3, 40)  # a scratch carry, recomputed from the state
    np.testing.assert_allclose(S2, S3, rtol=1e-12, atol=1e-13 * scale)


def test_lazy_route_is_written_out_symmetric_and_refresh_independent():
    fm = _model(8, 3, 5, 0.01, seed=2)
    m, S = _random_state(fm, np.random.default_rng(5))
    _, S1, _ = _lazy(fm, m, S, 0, 30, refresh=1)
    _, S7, _ = _lazy(fm, m, S, 0, 30, refresh=7)
    scale = float(np.abs(S1).max())
    np.testing.assert_allclose(S7, S1, rtol=1e-12, atol=1e-13 * scale)
    np.testing.assert_allclose(S7, np.swapaxes(S7, 1, 2), rtol=1e-12, atol=1e-13 * scale)


def test_engine_uses_lazy_route_and_agrees_with_one_step_route(monkeypatch):
    """The engine's pairwise runs go through ``steps_inplace``; forcing the one-step route
    gives the same metrics to rounding."""
    from hdo_theory.exact.engine import run

    fm = _model(6, 3, 2, 0.01, seed=4)
    X0 = np.random.default_rng(1).standard_normal((6, 3))
    at = np.array([0, 1, 5, 17, 50])  # runs of 1 and 4 steps (one-step kernel), 12 and 33
    calls = []
    kernel = L.pairwise_lazy_steps

    def spy(*args):
        calls.append(len(args[3]))
        return kernel(*args)

    monkeypatch.setattr(L, "pairwise_lazy_steps", spy)
    lazy = run(fm, X0, at, 0, jump=False)
    assert calls == [12, 33]  # the runs of at least F.LAZY_MIN_STEPS steps go the lazy route
    monkeypatch.delattr(F.FastModel, "steps_inplace")
    stepwise = run(fm, X0, at, 0, jump=False)
    assert lazy.keys() == stepwise.keys()
    for k in lazy:
        np.testing.assert_allclose(lazy[k], stepwise[k], rtol=1e-11, atol=1e-14, err_msg=k)


@pytest.mark.parametrize("schedule,warmup", [("cosine", 0), ("constant", 7), ("cosine", 5)])
def test_lazy_steps_follow_time_varying_rates(schedule, warmup):
    """Warm-up and cosine schedules change every rate at every step (and so ``phi``, ``c`` and
    ``kappa``): the implicit form must carry ``eta_Q`` per step, not a frozen ``c``."""
    rng = np.random.default_rng(11)
    n, d = 7, 3
    A = np.diag(np.geomspace(1.0, 0.2, d))
    B = rng.standard_normal((n, d))
    cfg = ProcessConfig(model="pairwise", T=60, schedule=schedule, warmup=warmup,
                        local_steps_warmup=3,
                        zo=PopulationConfig(EstimatorSpec("zo-forward", nu=0.5, rv=2), lr=0.1),
                        fo=PopulationConfig(EstimatorSpec("fo"), lr=0.25))
    fm = build_fast_model(A, B, 3, 0.4, cfg, [0.1, 0.25], [0.5, 0.5], 0.01, np.zeros((0, 2)))
    assert len({fm.factor(t) for t in range(60)}) >= 6  # the rates do move
    m, S = _random_state(fm, rng)
    m_ref, S_ref, _ = _stepwise(fm, m, S, 0, 60)
    m_lz, S_lz, _ = _lazy(fm, m, S, 0, 60, refresh=17)
    scale = float(np.abs(S_ref).max())
    np.testing.assert_allclose(m_lz, m_ref, rtol=1e-12, atol=1e-12 * float(np.abs(m_ref).max()))
    np.testing.assert_allclose(S_lz, S_ref, rtol=1e-12, atol=1e-12 * scale)


def test_lazy_route_across_chunks_from_a_carried_state(monkeypatch):
    """A run longer than one call (``LAZY_CHUNK``), started from a carry the one-step kernel
    left (``have`` true on entry), and the default write-out interval: still one-step
    stepping to rounding, and the carry it leaves is that of the written-out state."""
    monkeypatch.setattr(F, "LAZY_CHUNK", 9)
    fm = _model(7, 4, 3, 0.01, seed=8)
    m, S = _random_state(fm, np.random.default_rng(21))
    m_ref, S_ref, c_ref = _stepwise(fm, m, S, 0, 300)
    m_lz, S_lz = m.copy(), S.copy()
    carry = fm.new_carry()
    for t in range(3):  # the one-step kernel first: the lazy call then reads its carry
        fm.step_inplace(m_lz, S_lz, t, carry)
    assert carry.valid
    calls = []
    kernel = L.pairwise_lazy_steps
    monkeypatch.setattr(L, "pairwise_lazy_steps",
                        lambda *a: (calls.append((len(a[3]), a[18])), kernel(*a))[1])
    fm.steps_inplace(m_lz, S_lz, 3, 300, carry)
    assert len(calls) == -(-297 // 9) and all(have for _, have in calls)  # calls of <= 9 steps
    scale = float(np.abs(S_ref).max())
    np.testing.assert_allclose(S_lz, S_ref, rtol=1e-12, atol=1e-12 * scale)
    np.testing.assert_allclose(m_lz, m_ref, rtol=1e-12, atol=1e-12 * float(np.abs(m_ref).max()))
    for name in ("sums", "diag", "g2", "tot"):
        np.testing.assert_allclose(getattr(carry, name), getattr(c_ref, name), rtol=1e-12,
                                   atol=1e-12 * float(np.abs(getattr(c_ref, name)).max()))
    # 300 steps: more than the default write-out interval inside one call, too
    m2, S2, _ = _lazy(fm, m, S, 0, 300)
    np.testing.assert_allclose(S2, S_ref, rtol=1e-12, atol=1e-12 * scale)


def test_engine_lazy_stretch_up_to_a_jump_agrees_with_one_step_route(monkeypatch):
    """With jumps on, the engine runs the time-variant stretch (warm-up) up to ``t_inv`` on
    the lazy route, then jumps: the metrics agree with the one-step route to rounding."""
    from hdo_theory.exact.engine import run

    rng = np.random.default_rng(3)
    n, d = 5, 2
    A = np.diag([1.0, 0.3])
    B = rng.standard_normal((n, d))
    cfg = ProcessConfig(model="pairwise", T=400, warmup=20,
                        zo=PopulationConfig(EstimatorSpec("zo-central", nu=0.2, rv=1), lr=0.1),
                        fo=PopulationConfig(EstimatorSpec("fo"), lr=0.2))
    fm = build_fast_model(A, B, 2, 0.3, cfg, [0.1, 0.2], [0.2, 0.2], None, np.zeros((0, 2)))
    assert fm.time_invariant_from() == 20
    X0 = rng.standard_normal((n, d))
    at = np.array([2, 50, 400])
    spans = []
    real = F.FastModel.steps_inplace

    def spy(self, m, S, t0, t1, carry):
        spans.append((t0, t1))
        return real(self, m, S, t0, t1, carry)

    monkeypatch.setattr(F.FastModel, "steps_inplace", spy)
    lazy = run(fm, X0, at, 0, jump=True)
    assert (2, 20) in spans  # the warm-up stretch up to t_inv went through steps_inplace
    monkeypatch.delattr(F.FastModel, "steps_inplace")
    stepwise = run(fm, X0, at, 0, jump=True)
    for k in lazy:
        np.testing.assert_allclose(lazy[k], stepwise[k], rtol=1e-11, atol=1e-14, err_msg=k)
