"""Estimator plugins and user objective kinds (issue 11, sections 1 and 2).

Metamorphic: a plugin copy of ``zo-forward`` (tests/plugin_kernels.py, public API only) against
the built-in, on the quadratic objective (no GLM fast path, so the built-in runs the same
operations on the same random stream): the same draws in ``estimate_once``,
``estimator_stats`` and ``simulate`` up to rounding. Bit identity is not promised: the kernels
are compiled with fastmath reassociation/contraction and LLVM inlines the plugin and the
built-in into their callers differently (measured: equal bits at d = 5, relative differences
near 1e-15 elsewhere), so the tolerance is the rounding bound of :func:`_rounding_tol`. A
user-kind copy of least squares (tests/plugin_objectives.py) against the built-in kind. The
authors' JVP (examples/authors_jvp.py): mean ``M grad f`` with ``M = I/12 + 11^T/4``. Bad
input: one-line errors.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
from scipy import stats

from hdo_theory.errors import HDOInputError
from hdo_theory.estimators import (
    EstimatorSpec,
    estimate_once,
    estimator_info,
    estimator_names,
    register_estimator,
    unregister_estimator,
)
from hdo_theory.estimators.monte_carlo import estimator_stats
from hdo_theory.objectives import make_objective, register_objective_kind, unregister_objective
from hdo_theory.process import PopulationConfig, ProcessConfig, simulate
from hdo_theory.rng import kernel_generator

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import plugin_kernels  # noqa: E402
import plugin_objectives  # noqa: E402

COPY = "test-zo-forward-copy"
BLOCK = "test-zo-forward-block"


def _load_example(name):
    path = HERE.parent / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_example_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    # in sys.modules, as hdo_theory.plugins loads a file: a Numba cache entry written by a
    # kernel of a module Numba cannot find is saved as module '<dynamic>' and fails to load in
    # the next process (measured: the second run of this file failed with ModuleNotFoundError)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module", autouse=True)
def copy_registered():
    """The plugins are in the table for this module's tests only."""
    plugin_kernels.register()
    plugin_kernels.register_block()
    yield
    unregister_estimator(COPY)
    unregister_estimator(BLOCK)


@pytest.fixture(scope="module")
def quad():
    return make_objective("quadratic", d=6, n0=3, n1=3, seed=1)


def test_plugin_row_and_choices():
    row = estimator_info(COPY)
    assert COPY in estimator_names()
    assert row.kernel is plugin_kernels.zo_forward_copy and row.code >= 1000
    assert row.source == "plugin_kernels"  # importable by name: sweep workers re-import it
    # importing the file again (a plugin loaded twice) registers nothing new
    assert register_estimator(COPY, plugin_kernels.zo_forward_copy, mean="grad f_nu") is row


def _rounding_tol(objective, x, nu, scale):
    """Bound on the difference two roundings of one forward-difference draw can have.

    Each loss value is a sum of ``O(d^2)`` products, rounded with relative error at most
    ``2 d^2 eps`` of its absolute terms (bounded here by ``(|F| + 1)`` times a factor 4 for
    the centres); the difference quotient divides two such errors by ``nu`` and multiplies by
    a direction entry, so ``|dG_k| <= 16 d^2 eps (|F| + 1) / nu * scale`` with ``scale`` the
    largest ``|u_k|`` (bounded by ``1 + max |G|`` up to the coefficient)."""
    d = objective.d
    F = abs(objective.node_value(0, x)) + abs(objective.node_value(1, x)) + 1.0
    return 16 * d * d * np.finfo(float).eps * F / nu * scale


def test_estimate_once_same_draws(quad):
    x = quad.random_point(2)
    for rv, b in ((1, 1), (5, 3)):
        g = [estimate_once(quad, EstimatorSpec(k, rv=rv, nu=1e-2, batch=b), 1, x,
                           kernel_generator(np.random.SeedSequence(7)))
             for k in ("zo-forward", COPY)]
        tol = _rounding_tol(quad, x, 1e-2, 1.0 + np.max(np.abs(g[0])))
        np.testing.assert_allclose(g[1], g[0], rtol=0, atol=tol)
        assert not np.array_equal(g[0], np.zeros(quad.d))


def test_estimator_stats_same_draws(quad):
    x = quad.random_point(3)
    out = [estimator_stats(quad, 0, x, EstimatorSpec(k, rv=2, nu=1e-2, batch=2), draws=4000,
                           seed=5, progress=False) for k in ("zo-forward", COPY)]
    tol = _rounding_tol(quad, x, 1e-2, 1.0 + out[0]["mean_norm"]["value"])
    assert out[1]["bias"]["value"] == pytest.approx(out[0]["bias"]["value"], abs=tol)
    # second moments: E||G||^2 moves by at most 2 ||G|| tol + tol^2 per draw
    m2 = out[0]["second_moment"]["value"]
    assert out[1]["second_moment"]["value"] == pytest.approx(m2, abs=2 * math.sqrt(m2) * tol
                                                             * math.sqrt(quad.d) + tol**2 * quad.d)
    assert out[1]["config"]["estimator"] == COPY


def test_simulate_same_trajectory(quad):
    """Same random stream, same process, so the same trajectory up to rounding (module
    docstring; measured: relative differences up to 2e-15 after 500 steps). The quadratic
    contracts at this step size, so per-step rounding differences (``_rounding_tol``, about
    1e-13 relative here) do not grow: 1e-11 relative on the gap is a 100x margin."""
    res = []
    for k in ("zo-forward", COPY):
        cfg = ProcessConfig(T=400, record=100,
                            zo=PopulationConfig(EstimatorSpec(k, rv=2, nu=1e-2, batch=2), lr=0.02))
        res.append(simulate(quad, cfg, replicas=1, seed=3))
    a, b = (np.asarray(r.metrics["gap"]) for r in res)
    assert np.all(np.isfinite(a)) and a.shape == b.shape
    np.testing.assert_allclose(b, a, rtol=1e-11, atol=0)


def test_authors_jvp_mean_is_M_grad():
    """E G = M g, M = I/12 + 11^T/4, on least squares with the full shard as batch (g fixed).

    n = 20000 draws of G = (u . g) u; each coordinate's mean is tested against (M g)_k with its
    CLT interval at the Bonferroni level 1e-6 / d (false-failure probability <= 1e-6, plus the
    CLT error, negligible at n = 20000 for these bounded summands). Power: ||M g - g|| is over
    50 standard errors here, so the Gaussian mean (g) would fail."""
    mod = _load_example("authors_jvp")
    try:
        _load_example("authors_jvp")  # a second import is a no-op, not a clash
        _check_authors_mean(mod)
    finally:
        unregister_estimator(mod.NAME)


def _check_authors_mean(mod):
    obj = make_objective("least-squares", d=4, n0=2, n1=2, seed=0, n_samples=16)
    x = obj.random_point(1)
    shard = obj.shard(0)
    g = obj.node_grad(0, x)
    M = mod.second_moment_matrix(4)
    assert np.allclose(M, np.eye(4) / 12 + 0.25)
    spec = EstimatorSpec(mod.NAME, rv=1, batch=shard.shape[0])
    rng = kernel_generator(np.random.SeedSequence(11))
    n = 20000
    G = np.array([estimate_once(obj, spec, 0, x, rng, batch=shard) for _ in range(n)])
    mean, se = G.mean(axis=0), G.std(axis=0, ddof=1) / math.sqrt(n)
    z = stats.norm.ppf(1 - 1e-6 / (2 * 4))
    assert np.all(np.abs(mean - M @ g) <= z * se), (mean, M @ g, se)
    assert np.linalg.norm(M @ g - g) > 50 * np.linalg.norm(se)


def test_plugin_data_type_independent_of_plugin(quad):
    """The data a plugin rides in is typed by the plugin's signature, not its identity, so two
    plugins share one compiled (and disk-cached) specialisation of every kernel; the built-in
    data is untouched."""
    from hdo_theory.estimators import kernel_data

    a, b = (kernel_data(quad.data, estimator_info(k).code) for k in (COPY, BLOCK))
    assert numba.typeof(a) == numba.typeof(b)
    assert kernel_data(quad.data, estimator_info("zo-forward").code) is quad.data


@pytest.mark.parametrize("kind", ["least-squares", "quadratic"])
def test_batch_losses_along_equals_batch_loss(kind):
    """Two routes to F(x + nu U_r): the block API against one ``batch_loss`` per direction.
    On least squares the block computes ``a.x + nu a.u`` instead of ``a.(x + nu u)``; each of
    these dot products is rounded within ``gamma_{d+1} sum_k |a_k| (|x_k| + nu |u_k|)``
    (``gamma_n = n eps / (1 - n eps)``), so the margins differ by at most twice that, the
    residual's square by ``|r| + |dr|`` times it, and the mean by the mean of those (plus the
    two routes' sums of b positive terms and the regulariser, 2 (b + 2) eps |F|). The quadratic
    takes the generic path, one ``batch_loss`` at the point the kernel formed: the same bits
    (checked at that point; numpy's ``x + nu u`` may round differently from the fused
    multiply-add the kernel compiles to)."""
    from hdo_theory.estimators import DIRECTION_BLOCK, batch_loss, batch_losses_along

    obj = make_objective(kind, d=7, n0=2, n1=2, seed=2)
    rng = np.random.default_rng(4)
    batch = np.arange(min(6, obj.n_samples), dtype=np.int64)
    x = obj.random_point(1)
    nu = 0.05
    U = rng.standard_normal((DIRECTION_BLOCK, obj.d))
    prev = None
    for nb in range(1, DIRECTION_BLOCK + 1):
        out = np.full(DIRECTION_BLOCK, np.nan)
        xtmp = np.empty(obj.d)
        batch_losses_along(obj.data, batch, x, U, nb, nu, out, xtmp)
        assert np.all(np.isnan(out[nb:]))
        if kind == "quadratic":  # generic path: xtmp holds the last point, x + nu U[nb - 1]
            assert out[nb - 1] == batch_loss(obj.data, batch, xtmp)
            assert prev is None or np.array_equal(out[:nb - 1], prev[:nb - 1])
            prev = out
            continue
        for r in range(nb):
            ref = batch_loss(obj.data, batch, x + nu * U[r])
            feats, targets = obj.data[2][batch], obj.data[3][batch]
            n = obj.d + 1
            gamma = n * np.finfo(float).eps / (1 - n * np.finfo(float).eps)
            dz = 2 * gamma * (np.abs(feats) @ (np.abs(x) + nu * np.abs(U[r])))
            res = np.abs(feats @ (x + nu * U[r]) - targets)
            eps_f = 2 * (len(batch) + 2) * np.finfo(float).eps * abs(ref)
            tol = np.mean((res + dz) * dz) + eps_f
            assert abs(out[r] - ref) <= tol, (kind, nb, r, out[r], ref, tol)


def test_block_plugin_matches_builtin_on_least_squares():
    """The block-API copy of zo-forward against the built-in with its GLM fast path: the same
    estimator on the same stream, so the same draws up to rounding (``_rounding_tol``)."""
    ls = make_objective("least-squares", d=6, n0=3, n1=3, seed=1)
    x = ls.random_point(2)
    for rv, b in ((1, 1), (6, 3)):
        g = [estimate_once(ls, EstimatorSpec(k, rv=rv, nu=1e-2, batch=b), 1, x,
                           kernel_generator(np.random.SeedSequence(7)))
             for k in ("zo-forward", BLOCK)]
        tol = _rounding_tol(ls, x, 1e-2, 1.0 + np.max(np.abs(g[0])))
        np.testing.assert_allclose(g[1], g[0], rtol=0, atol=tol)
        assert not np.array_equal(g[0], np.zeros(ls.d))


def test_user_kind_least_squares_matches_builtin():
    ref = make_objective("least-squares", d=5, n0=2, n1=2, seed=0, lam=0.1)
    try:
        _check_user_ls(ref)
    finally:
        unregister_objective("test-user-ls")


def _check_user_ls(ref):
    register_objective_kind("test-user-ls", plugin_objectives.ls_loss,
                            plugin_objectives.ls_grad_add, plugin_objectives.ls_jvp,
                            features=ref.data[2], targets=ref.data[3], params=[0.1],
                            constants={"L": 2.0}, radius=2.0)
    user = make_objective("test-user-ls", n0=2, n1=2)
    S = np.arange(ref.n_samples)
    x = np.linspace(-1.0, 1.0, 5)
    u = np.cos(np.arange(5.0))
    # per sample: the same operations in the same order, so the same bits
    assert np.array_equal(user.sample_grads(S, x), ref.sample_grads(S, x))
    # minibatch means: the built-in GLM fast path sums the regulariser once (rounding only)
    assert user.batch_value(S, x) == pytest.approx(ref.batch_value(S, x), rel=1e-13)
    assert user.batch_jvp(S, x, u) == pytest.approx(ref.batch_jvp(S, x, u), rel=1e-13)
    from hdo_theory.objectives import objective_info

    assert objective_info("test-user-ls").source == "plugin_objectives"
    c = user.constants
    assert c.L == 2.0 and c.L_how.startswith("given")
    assert c.varsigma_how.startswith("measured") and c.star_how.startswith("measured")
    assert np.linalg.norm(c.x_star - ref.constants.x_star) < 1e-5


def _python_kernel(obj, batch, x, rng, nu, rv, out, U, xtmp):
    return 0


@numba.njit
def _wrong_signature(obj, x, out):
    out[:] = 0.0
    return 1


@numba.njit
def _returns_nothing(obj, batch, x, rng, nu, rv, out, U, xtmp):
    out[:] = 0.0


def test_bad_plugins():
    def err(**kw):
        with pytest.raises(HDOInputError) as e:
            register_estimator(**kw)
        msg = str(e.value)
        assert "\n" not in msg and kw["info"] in msg
        return msg

    assert "plain Python function" in err(info="bad-py", kernel=_python_kernel)
    assert "does not compile" in err(info="bad-sig", kernel=_wrong_signature)
    assert "number of loss evaluations" in err(info="bad-ret", kernel=_returns_nothing)
    assert "clashes with a built-in" in err(info="zo-forward",
                                            kernel=plugin_kernels.zo_forward_copy)
    assert "mean" in err(info="bad-mean", kernel=plugin_kernels.zo_forward_copy, mean="grad g")
    # the same name with a different function
    assert "already registered" in err(info=COPY, kernel=_returns_nothing)
    for name in ("bad-py", "bad-sig", "bad-ret", "bad-mean"):
        assert name not in estimator_names()


def test_bad_user_kind():
    X = np.ones((4, 2))
    y = np.zeros(4)
    with pytest.raises(HDOInputError, match="plain Python function"):
        register_objective_kind("bad-kind", lambda x, j, p, f, t: 0.0,
                                plugin_objectives.ls_grad_add, plugin_objectives.ls_jvp,
                                features=X, targets=y)
    with pytest.raises(HDOInputError, match="clashes with a built-in"):
        register_objective_kind("least-squares", plugin_objectives.ls_loss,
                                plugin_objectives.ls_grad_add, plugin_objectives.ls_jvp,
                                features=X, targets=y, params=[0.0])
    with pytest.raises(HDOInputError, match="unknown constant"):
        register_objective_kind("bad-kind", plugin_objectives.ls_loss,
                                plugin_objectives.ls_grad_add, plugin_objectives.ls_jvp,
                                features=X, targets=y, params=[0.0], constants={"M": 1.0})


def test_records_built_on_a_measured_constant_say_so():
    # issue 11: a user kind's constants not given are measured on the stated ball (L: a lower
    # estimate); every verification record whose bound uses one is labelled, in its bound label
    # and its JSON (Record.from_stats reads estimator_stats' L_source)
    from hdo_theory.verification.claims import Record

    ref = make_objective("least-squares", d=5, n0=2, n1=2, seed=0, lam=0.1)
    register_objective_kind("test-user-ls-measured", plugin_objectives.ls_loss,
                            plugin_objectives.ls_grad_add, plugin_objectives.ls_jvp,
                            features=ref.data[2], targets=ref.data[3], params=[0.1],
                            radius=2.0)
    try:
        user = make_objective("test-user-ls-measured", n0=2, n1=2)
        assert user.constants.L_how.startswith("measured")
        res = estimator_stats(user, 0, user.random_point(0), EstimatorSpec("fo", batch=1),
                              draws=2000, seed=1, progress=False)
        rec = Record.from_stats(res, "bias", 1.0, "nu L sqrt(d)")
        assert rec.measured == ["L"] and rec.bound_label.endswith("[uses measured L]")
        assert rec.as_dict()["measured"] == ["L"]
        again = Record.from_stats(res, "bias", 1.0, rec.bound_label)  # e.g. a resumed record
        assert again.bound_label.count("measured") == 1
        given = Record.from_stats(estimator_stats(ref, 0, ref.random_point(0),
                                                  EstimatorSpec("fo", batch=1), draws=2000,
                                                  seed=1, progress=False),
                                  "bias", 1.0, "nu L sqrt(d)")
        assert given.measured == [] and "measured" not in given.bound_label
    finally:
        unregister_objective("test-user-ls-measured")
