"""The benchmark's NumPy reference runs the same process as the Numba kernel (metamorphic checks).

Two routes to one process, so the speed comparison in ``benchmarks/bench_process.py`` compares
like with like:

* Same trajectory. With the kernel-compatible minibatch sampler and the replica's own generator,
  the NumPy reference makes the very same pair draws, minibatches and directions as
  :func:`hdo_theory.process.simulate` (NumPy's and Numba's ``Generator`` give identical
  streams). The two runs may then differ only by floating-point rounding (BLAS sums in another
  order). The tolerance is a rounding budget computed from the run's sizes (see
  :func:`_rounding_budget`); a negative control (another seed) shows that a single differing
  random choice moves the result by many orders of magnitude more than that budget.
* Same distribution. With the default sampler (``rng.choice``, the one the benchmark times)
  the random stream is used differently, so only the law of the run can agree: the mean of
  ``log(f(mu_T) - f*)`` over independent replicas is compared by Welch's two-sample t test.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from hdo_theory.errors import HDOInputError
from hdo_theory.estimators import EstimatorSpec
from hdo_theory.objectives import make_objective
from hdo_theory.process import PopulationConfig, ProcessConfig, replica_generators, simulate

_REF_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "numpy_reference.py"


def _load_reference():
    # benchmarks/ is not an installed package: load the module from its file
    name = "hdo_benchmarks_numpy_reference"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _REF_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules[name]


ref = _load_reference()

D, N0, N1 = 10, 6, 2
RV, NU, BATCH = 4, 1e-3, 4
LR_ZO, LR_FO = 0.01, 0.05


@pytest.fixture(scope="module")
def objective():
    return make_objective("least-squares", d=D, n0=N0, n1=N1, seed=1)


def _config(T, record):
    return ProcessConfig(
        model="pairwise",
        T=T,
        zo=PopulationConfig(EstimatorSpec("zo-forward", rv=RV, nu=NU, batch=BATCH), lr=LR_ZO),
        fo=PopulationConfig(EstimatorSpec("fo", batch=BATCH), lr=LR_FO),
        record=record,
        record_nodes=False,
        record_y=False,
    )


def _rounding_budget(objective, T, x0):
    """An upper estimate of the float64 discrepancy between two summation orders after T steps.

    Per interaction the only differences are in sums of at most ``k = b (d + 1)`` terms
    (minibatch losses and gradients), each off by at most ``gamma_k ~ k eps`` relative to the
    sum of absolute terms (Higham, Accuracy and Stability, Lemma 3.1 / 3.4). The ZO
    coefficient divides a difference of two such losses by ``nu``; with ``F <= F0`` (the start
    loss bounds the losses along a converging run; taken with a factor 10 margin) and
    ``||u|| <= sqrt(d) + 6`` (Gaussian norm concentration, P(exceed) < 1e-7 per direction),
    one step moves a node by at most ``lr_zo (sqrt(d)+6) 2 gamma_k 10 F0 / nu`` more or less.
    Averaging is non-expansive; summing over the ``T`` steps (no contraction credited) gives
    the budget. With the sizes used here it is about 3e-7 (observed: ~1e-14), while a single
    different random choice changes the models by O(lr ||G||) ~ 1e-2 (see the negative control).
    """
    eps = np.finfo(float).eps
    k = BATCH * (D + 1)
    f0 = max(1.0, abs(objective.value(x0)))
    per_step = LR_ZO * (math.sqrt(D) + 6.0) * 2.0 * k * eps * 10.0 * f0 / NU
    return T * per_step


@pytest.mark.parametrize("directions", ["loop", "batched"])
def test_reference_follows_the_numba_trajectory(objective, directions):
    T, seed, R, r = 1500, 3, 2, 1
    config = _config(T, record=500)
    res = simulate(objective, config, replicas=R, seed=seed, threads=1, keep_state=True)
    rng, _ = replica_generators(seed, R, r)
    run = ref.run_pairwise_numpy(
        objective, config, rng, record_every=500, sampler="kernel", directions=directions
    )
    x0 = objective.random_point(0)
    budget = _rounding_budget(objective, T, x0)
    X_numba = res.state["X"][r]
    assert np.max(np.abs(run.X - X_numba)) <= budget
    np.testing.assert_array_equal(run.t, res.t)
    f_numba = res.metrics["gap"][r] + res.info["f_star"]
    # f is Lipschitz on the visited region with constant <= ||grad f|| + L ||dx||: use a
    # relative form of the same budget for the recorded losses
    assert np.max(np.abs(run.f_mu - f_numba) / (1.0 + np.abs(f_numba))) <= budget
    gamma_numba = res.metrics["gamma"][r]
    assert np.max(np.abs(run.gamma - gamma_numba)) <= budget * (1.0 + np.max(np.abs(X_numba)))

    # negative control: the same process on another replica's stream lands far outside the
    # budget, so the comparison above can fail
    rng_other, _ = replica_generators(seed, R, 0)
    other = ref.run_pairwise_numpy(
        objective, config, rng_other, sampler="kernel", directions=directions
    )
    assert np.max(np.abs(other.X - X_numba)) > 1e3 * budget
    # and the run moved: the models are far from the start point, in units of the budget
    assert np.max(np.abs(X_numba - x0)) > 1e3 * budget


def test_reference_matches_numba_in_distribution_with_its_default_sampler(objective):
    """Welch's t test on mean log gap at T; two-sided false-failure probability 1e-3."""
    T, R = 600, 24
    config = _config(T, record=T)
    res = simulate(objective, config, replicas=R, seed=11, threads=1)
    f_star = res.info["f_star"]
    log_gap_numba = np.log(res.metrics["gap"][:, -1])
    streams = np.random.SeedSequence(12).spawn(R)
    log_gap_ref = np.array([
        math.log(
            ref.run_pairwise_numpy(
                objective, config, np.random.default_rng(s), directions="batched"
            ).f_mu[-1]
            - f_star
        )
        for s in streams
    ])
    assert np.all(np.isfinite(log_gap_numba)) and np.all(np.isfinite(log_gap_ref))
    t = stats.ttest_ind(log_gap_numba, log_gap_ref, equal_var=False)
    alpha = 1e-3
    assert t.pvalue > alpha, (
        f"mean log gap: numba {log_gap_numba.mean():.4f}, numpy {log_gap_ref.mean():.4f}, "
        f"p = {t.pvalue:.2e}"
    )


def test_least_squares_optimum_is_stationary(objective):
    x_star, f_star = ref.least_squares_optimum(objective)
    g = objective.grad(x_star)
    # normal-equation solve: the gradient vanishes up to rounding of a d x d solve
    scale = np.linalg.norm(objective.grad(np.zeros(D))) + 1.0
    assert np.linalg.norm(g) <= 1e3 * D * np.finfo(float).eps * scale
    assert f_star == pytest.approx(objective.value(x_star), rel=1e-12)


def test_reference_rejects_what_it_does_not_implement(objective):
    config = _config(10, record=10)
    rng = np.random.default_rng(0)
    with pytest.raises(HDOInputError, match="least-squares"):
        ref.run_pairwise_numpy(make_objective("logistic", d=4, n0=2, n1=2), config, rng)
    with pytest.raises(HDOInputError, match="model"):
        ref.run_pairwise_numpy(
            objective, ProcessConfig(model="matching", T=10, zo=config.zo, fo=config.fo), rng
        )
    with pytest.raises(HDOInputError, match="sampler"):
        ref.run_pairwise_numpy(objective, config, rng, sampler="nope")
