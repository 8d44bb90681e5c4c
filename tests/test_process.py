"""The gossip process: exact facts of docs/theory.md section 4, metamorphic routes, bad input.

Everything here is exact (up to floating-point rounding): no statistical tolerance. The Monte
Carlo checks live in ``test_process_stats.py``.
"""

import numpy as np
import pytest
from _process_reference import reference_run

from hdo_theory.errors import HDOInputError
from hdo_theory.estimators import EstimatorSpec
from hdo_theory.objectives import make_objective
from hdo_theory.process import PopulationConfig, ProcessConfig, simulate

ZO = PopulationConfig(EstimatorSpec("zo-forward", rv=2, nu=1e-3, batch=2), lr=0.03)
FO = PopulationConfig(EstimatorSpec("fo", batch=2), lr=0.05)


@pytest.fixture(scope="module")
def obj():
    return make_objective("logistic", d=4, n0=3, n1=3, seed=1)


def _cfg(**kw):
    base = dict(T=20, zo=ZO, fo=FO, record=1, record_nodes=False)
    base.update(kw)
    return ProcessConfig(**base)


@pytest.mark.parametrize("model", ["pairwise", "matching", "graph"])
def test_loop_equals_the_mixing_matrix_form(obj, model):
    """Metamorphic: the kernel's in-place loop and X <- W (X - eta G) on the same stream."""
    n = obj.n
    x0 = obj.random_point(0) + 0.5 * np.random.default_rng(2).standard_normal((n, obj.d))
    cfg = _cfg(model=model, topology="ring", x0=x0, local_steps_warmup=3)
    res = simulate(obj, cfg, replicas=2, seed=5, keep_state=True)
    for r in range(2):
        X_ref, _ = reference_run(obj, cfg, seed=5, T=cfg.T, R=2, r=r, x0=x0)
        scale = np.abs(X_ref).max()
        assert np.allclose(res.state["X"][r], X_ref, rtol=0, atol=1e-14 * scale)


def test_odd_matching_leaves_one_node_unaveraged(obj):
    o5 = make_objective("logistic", d=3, n0=2, n1=3, seed=1)
    cfg = _cfg(model="matching", T=7)
    res = simulate(o5, cfg, seed=3, keep_state=True)
    X_ref, steps = reference_run(o5, cfg, seed=3, T=7)
    assert all(len(s) == 5 for s in steps)  # every node steps every round
    assert np.allclose(res.state["X"][0], X_ref, rtol=0, atol=1e-14 * np.abs(X_ref).max())


def test_mean_moves_by_the_two_steps_over_n(obj):
    """mu_{t+1} - mu_t = -(eta_i G^i + eta_j G^j) / n, with G re-derived on the same stream."""
    T = 6
    _, steps = reference_run(obj, _cfg(), seed=9, T=T)
    mus = []
    for t in range(T + 1):
        res = simulate(obj, _cfg(T=max(t, 1)), seed=9, keep_state=True) if t else None
        mus.append(res.state["X"][0].mean(axis=0) if t else obj.random_point(0))
    for t in range(T):
        want = -sum(dk for _, dk in steps[t]) / obj.n
        assert len(steps[t]) == 2
        assert np.allclose(mus[t + 1] - mus[t], want, rtol=0, atol=1e-14)


def test_both_nodes_use_their_population(obj):
    """A ZO-FO pair: each endpoint's step comes from its own population's estimator and rate."""
    _, steps = reference_run(obj, _cfg(), seed=9, T=30)
    kinds = {(k < obj.n0) for s in steps for k, _ in s}
    assert kinds == {True, False}


def test_eta_zero_leaves_a_consensus_start_fixed(obj):
    zero = dict(
        zo=PopulationConfig(ZO.estimator, lr=0.0), fo=PopulationConfig(FO.estimator, lr=0.0)
    )
    for model in ("pairwise", "matching", "graph"):
        res = simulate(obj, _cfg(model=model, T=40, **zero), replicas=2, keep_state=True)
        x0 = obj.random_point(0)
        assert np.array_equal(res.state["X"], np.broadcast_to(x0, res.state["X"].shape))
        assert np.all(res["gap"] == res["gap"][0, 0])


def test_two_fo_nodes_full_batch_is_gradient_descent():
    """n = 2, both FO, full batch: both nodes always hold x_t with x_{t+1} = x_t - eta grad f(x_t)
    (f = (f^0 + f^1)/2); heavy ball and EMA momentum carry over to the average, and so do the
    schedule factor and the warm-up. Theorem 1's average y_T = sum_t w_t x_{t-1} / sum_t w_t,
    w_t = prod_{r<=t} (1 - eta_r ell/(2n))^{-1}, is recomputed directly."""
    o = make_objective("least-squares", d=3, n0=0, n1=2, seed=4)
    m = o.shard_size(0)
    assert o.shard_size(1) == m
    T, eta, beta, ell = 60, 0.05, 0.7, 0.3
    x0 = o.random_point(0)
    f_star = None
    for kind, mom, sched, warm in [
        ("heavy-ball", 0.0, "constant", 0),
        ("heavy-ball", beta, "constant", 10),
        ("ema", beta, "cosine", 0),
    ]:
        fo = PopulationConfig(
            EstimatorSpec("fo", batch=m), lr=eta, momentum=mom, momentum_kind=kind
        )
        cfg = ProcessConfig(
            T=T, fo=fo, schedule=sched, warmup=warm, record=T, record_nodes=False, ell=ell
        )
        res = simulate(o, cfg, keep_state=True)
        f_star = res.info["f_star"]
        x, b = x0.copy(), np.zeros(3)
        logw, num, den = 0.0, np.zeros(3), 0.0
        for t in range(T):
            s = 0.5 * (1 + np.cos(np.pi * t / T)) if sched == "cosine" else 1.0
            s *= (t + 1) / warm if t < warm else 1.0
            logw -= np.log1p(-eta * s * ell / (2 * 2))
            num, den = num + np.exp(logw) * x, den + np.exp(logw)
            g = o.grad(x)
            b = mom * b + ((1 - mom) if kind == "ema" else 1.0) * g
            x = x - eta * s * b
        X = res.state["X"][0]
        assert np.array_equal(X[0], X[1])
        assert np.allclose(X[0], x, rtol=1e-12, atol=1e-13)
        assert res["gamma"][0, -1] == 0.0
        assert res["y_gap"][0, -1] == pytest.approx(o.value(num / den) - f_star, rel=1e-9)


def test_n_equals_two_is_always_in_consensus():
    o = make_objective("logistic", d=3, n0=1, n1=1, seed=2)
    res = simulate(o, _cfg(T=30, record_lemma2=True), replicas=2)
    assert np.all(res["gamma"][:, 1:] == 0.0)
    # E[Gamma_{t+1} | X_t] = 0 for n = 2 (rounding only)
    assert np.all(np.abs(res["lemma2_cond"]) < 1e-25)


@pytest.mark.parametrize("n0, n1", [(0, 4), (4, 0)])
def test_single_population_runs(n0, n1):
    o = make_objective("least-squares", d=3, n0=n0, n1=n1, seed=2)
    res = simulate(o, _cfg(T=200, record=50, record_nodes=True), replicas=2)
    assert res.n_diverged == 0
    assert np.all(np.isfinite(res["gap"]))
    present, absent = ("fo_loss", "zo_loss") if n0 == 0 else ("zo_loss", "fo_loss")
    assert np.all(np.isfinite(res[present])) and np.all(np.isnan(res[absent]))
    assert res["gap"][:, -1].mean() < res["gap"][0, 0]


def test_node_losses_and_initial_records(obj):
    res = simulate(obj, _cfg(T=10, record_nodes=True, fixed_node=4), replicas=1, keep_state=True)
    X = res.state["X"][0]
    losses = np.array([obj.value(x) for x in X])
    assert res["node_loss"][0, -1] == pytest.approx(losses[4], rel=1e-12)
    assert res["loss_spread"][0, -1] == pytest.approx(losses.std(), rel=1e-9, abs=1e-15)
    assert res["zo_loss"][0, -1] == pytest.approx(losses[:3].mean(), rel=1e-12)
    assert res["fo_loss"][0, -1] == pytest.approx(losses[3:].mean(), rel=1e-12)
    mu = X.mean(axis=0)
    f_star = res.info["f_star"]
    assert res["gap"][0, -1] == pytest.approx(obj.value(mu) - f_star, rel=1e-10, abs=1e-14)
    assert res["grad_norm_sq"][0, -1] == pytest.approx(np.sum(obj.grad(mu) ** 2), rel=1e-10)
    assert res.t[0] == 0 and res.t[-1] == 10
    assert res["gamma"][0, 0] < 1e-28  # consensus start


def test_divergence_stops_only_that_replica():
    o = make_objective("least-squares", d=3, n0=2, n1=2, seed=0)
    big = PopulationConfig(EstimatorSpec("fo", batch=1), lr=5.0)
    cfg = ProcessConfig(
        T=400, zo=big, fo=big, record=10, record_nodes=False, divergence_threshold=1e6
    )
    res = simulate(o, cfg, replicas=3)
    assert np.all(res.diverged_at > 0)
    for r in range(3):
        k = np.searchsorted(res.t, res.diverged_at[r])
        assert np.all(np.isnan(res["gap"][r, k:])) and np.all(np.isfinite(res["gap"][r, :k]))
    # a stable run next to it is untouched
    ok = simulate(o, _cfg(T=400, record=10), replicas=3)
    assert ok.n_diverged == 0 and np.all(ok.diverged_at == -1)


def test_theorem_schedules_resolve_eta_and_nu(obj):
    cfg = _cfg(
        schedule="theorem-nonconvex",
        T=100,
        zo=PopulationConfig(EstimatorSpec("zo-forward", nu="theorem")),
    )
    res = simulate(obj, cfg)
    eta = obj.n / np.sqrt(obj.d * 100)
    assert res.info["lr_zo"] == res.info["lr_fo"] == pytest.approx(eta)
    assert res.info["nu_zo"] == pytest.approx(eta / np.sqrt(obj.d))
    c = simulate(obj, _cfg(schedule="theorem-convex", T=100, ell=0.5))
    assert c.info["lr_fo"] == pytest.approx(4 * obj.n * np.log(100) / (100 * 0.5))


def test_results_carry_the_configuration(obj, tmp_path):
    cfg = _cfg(model="graph", topology="star")
    res = simulate(obj, cfg, replicas=2, seed=11)
    assert ProcessConfig.from_dict(res.config) == cfg
    assert res.seed == 11 and res.objective_meta["name"] == "logistic"
    assert res.info["spectral_gap"] == pytest.approx(1 / (2 * (obj.n - 1)))
    assert "L" in res.constants
    back = type(res).load(res.save(tmp_path / "r.npz"))
    assert ProcessConfig.from_dict(back.config) == cfg


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(model="gossip"), "model"),
        (dict(model="graph", topology="hypercube"), "topology"),
        (dict(T=0), "T must"),
        (dict(record=0), "record"),
        (dict(record="linear"), "record"),
        (dict(warmup=50), "warmup"),
        (dict(fixed_node=-1), "fixed_node"),
        (dict(divergence_threshold=0.0), "divergence_threshold"),
        (dict(ell=-1.0), "ell"),
        (dict(x0="origin"), "x0"),
        (dict(x0=np.zeros((2, 2, 2))), "x0"),
    ],
)
def test_bad_config(kw, match):
    with pytest.raises(HDOInputError, match=match):
        _cfg(**kw)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(lr=-0.1), "lr"),
        (dict(lr=float("nan")), "lr"),
        (dict(momentum=1.0), "momentum"),
        (dict(momentum_kind="nesterov"), "momentum_kind"),
    ],
)
def test_bad_population(kw, match):
    with pytest.raises(HDOInputError, match=match):
        PopulationConfig(EstimatorSpec("fo"), **kw)


def test_bad_input_against_the_objective(obj):
    with pytest.raises(HDOInputError, match="fo_batch must be"):
        simulate(obj, _cfg(fo=PopulationConfig(EstimatorSpec("fo", batch=10_000))))
    with pytest.raises(HDOInputError, match="fixed_node"):
        simulate(obj, _cfg(fixed_node=obj.n))
    with pytest.raises(HDOInputError, match="disconnected"):
        simulate(
            make_objective("logistic", d=2, n0=10, n1=10),
            _cfg(model="graph", topology="erdos-renyi", p=0.01),
        )
    with pytest.raises(HDOInputError, match="ell"):
        simulate(make_objective("cosine-wells", d=2, n0=2, n1=2), _cfg(schedule="theorem-convex"))
    with pytest.raises(HDOInputError, match="x0"):
        simulate(obj, _cfg(x0=np.zeros(obj.d + 1)))
    with pytest.raises(HDOInputError, match="replicas"):
        simulate(obj, _cfg(), replicas=0)
    with pytest.raises(HDOInputError, match="zo_nu='theorem' needs a positive zo_lr"):
        simulate(obj, _cfg(zo=PopulationConfig(EstimatorSpec("zo-forward", nu="theorem"), lr=0.0)))
