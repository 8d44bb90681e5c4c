"""Node losses on a fixed random subsample (``ProcessConfig.record_sample``, issue 14).

The subsample only changes how ``node_loss``, ``loss_spread``, ``zo_loss`` and ``fo_loss`` are
computed: the trajectory and every other metric are bit-identical to an exact run, the
estimates are unbiased, and their stated errors (``*_se``) are what they claim to be.
Statistical tolerances are derived below from the number of replicas (each replica draws its
own subsample, independent of its trajectory), with the false-failure probability stated.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from hdo_theory.errors import HDOInputError
from hdo_theory.objectives import make_objective
from hdo_theory.process import (
    RECORD_SAMPLE_AUTO_M,
    RECORD_SAMPLE_FULL_UP_TO,
    ProcessConfig,
    record_sample_plan,
    record_subsample,
    simulate,
)
from hdo_theory.process.kernels import METRICS, SE_METRICS
from hdo_theory.runs.options import coerce

NODE_METRICS = ("node_loss", "loss_spread", "zo_loss", "fo_loss")
R = 400  # replicas = independent subsamples
M = 256  # subsample size


@pytest.fixture(scope="module")
def objective():
    return make_objective("least-squares", d=5, n0=3, n1=3, seed=1, n_samples=600)


@pytest.fixture(scope="module")
def runs(objective):
    cfg = dict(T=30, record=10, fixed_node=4)
    full = simulate(objective, ProcessConfig(record_sample="full", **cfg), replicas=R, seed=5,
                    threads=1, keep_state=True)
    sub = simulate(objective, ProcessConfig(record_sample=M, **cfg), replicas=R, seed=5,
                   threads=1, keep_state=True)
    return full, sub


def test_trajectory_and_exact_metrics_unchanged(runs):
    full, sub = runs
    assert np.array_equal(full.state["X"], sub.state["X"])
    for name in METRICS:
        if name not in NODE_METRICS:
            assert np.array_equal(full[name], sub[name], equal_nan=True), name
    assert set(SE_METRICS) <= set(sub.metrics) and not set(SE_METRICS) & set(full.metrics)
    assert full.info["record_sample"]["mode"] == "full"
    assert sub.info["record_sample"]["mode"] == "subsample"
    assert sub.info["record_sample"]["m"] == M


def test_auto_is_full_at_small_n_and_bit_identical(objective):
    cfg = dict(T=30, record=10)
    a = simulate(objective, ProcessConfig(**cfg), replicas=2, seed=1, threads=1)
    b = simulate(objective, ProcessConfig(record_sample="full", **cfg), replicas=2, seed=1,
                 threads=1)
    assert set(a.metrics) == set(b.metrics) == set(METRICS)
    for name in METRICS:
        assert np.array_equal(a[name], b[name], equal_nan=True), name
    assert a.info["record_sample"]["mode"] == "full"


def test_subsample_bit_identical_across_threads(objective):
    cfg = ProcessConfig(T=30, record=10, record_sample=64)
    a = simulate(objective, cfg, replicas=3, seed=2, threads=1)
    b = simulate(objective, cfg, replicas=3, seed=2, threads=2)
    for name in a.metrics:
        assert np.array_equal(a[name], b[name], equal_nan=True), name


def _errors(runs, name):
    full, sub = runs
    col = slice(1, None)  # step 0: every node at x0 (spread 0), the same subsample later
    return (sub[name][:, col] - full[name][:, col]), sub[f"{name}_se"][:, col]


# Normal quantile for a two-sided false-failure probability 1e-4 per check
Z = 3.89


@pytest.mark.parametrize("name", ["node_loss", "zo_loss", "fo_loss"])
def test_subsample_estimate_unbiased(runs, name):
    """Across replicas the errors are independent with mean 0 and variance sigma_r^2 / m, and
    ``E[se_r^2] = sigma_r^2 / m`` exactly (unbiased sample variance): ``sum err / sqrt(sum
    se^2)`` is N(0, 1) up to the CLT over R * m draws; checked at the last record."""
    err, se = _errors(runs, name)
    z = err[:, -1].sum() / math.sqrt(np.sum(se[:, -1] ** 2))
    assert abs(z) < Z, z


@pytest.mark.parametrize("name", ["node_loss", "zo_loss", "fo_loss"])
def test_standard_error_covers_at_nominal_rate(runs, name):
    """|err| <= 1.96 se in 95% of the replicas (the t interval; the CLT over m = 256 draws of a
    squared residual costs well under 1% of coverage). The count is Binomial(R, 0.95): the
    tolerance is Z binomial standard deviations (false failure 1e-4)."""
    err, se = _errors(runs, name)
    cover = np.mean(np.abs(err[:, -1]) <= 1.96 * se[:, -1])
    sd = math.sqrt(0.95 * 0.05 / R)
    assert abs(cover - 0.95) <= Z * sd, cover


def test_spread_error_bound(runs):
    """``loss_spread_se^2`` estimates unbiasedly an upper bound on the mean square error of the
    plug-in spread, so mean(err^2) - mean(se^2) must not be significantly positive (one-sided,
    normal approximation over R replicas, false failure 1e-4: 3.72 standard errors)."""
    err, se = _errors(runs, "loss_spread")
    diff = err[:, -1] ** 2 - se[:, -1] ** 2
    assert diff.mean() <= 3.72 * diff.std(ddof=1) / math.sqrt(R)
    assert np.all(se[:, -1] > 0)


def test_subsample_weights_unbiased_exactly():
    """E[sum_a sw_a F_{j_a}] = sum_j w_j F_j: the weights times the proposal give w back, and
    the draw follows the proposal (chi-square-free check: every drawn index has q_j > 0)."""
    w = np.array([0.0, 0.1, 0.3, 0.0, 0.6])
    idx, sw = record_subsample(w, np.random.SeedSequence(3), 1000)
    assert np.all(w[idx] > 0) and np.all(np.diff(idx) >= 0)
    q = np.abs(w) / np.abs(w).sum()
    assert np.allclose(sw * 1000 * q[idx], w[idx], rtol=1e-15)
    # the fraction of draws of j is Binomial(1000, q_j): Z standard deviations
    for j in (1, 2, 4):
        frac = np.mean(idx == j)
        assert abs(frac - q[j]) <= Z * math.sqrt(q[j] * (1 - q[j]) / 1000)


def test_plan_default():
    def obj(N):
        return SimpleNamespace(weights=np.full(N, 1.0 / N))

    cfg = ProcessConfig()
    assert record_sample_plan(obj(RECORD_SAMPLE_FULL_UP_TO), cfg)["mode"] == "full"
    big = record_sample_plan(obj(196_608), cfg)
    assert big["mode"] == "subsample" and big["m"] == RECORD_SAMPLE_AUTO_M
    assert record_sample_plan(obj(196_608), ProcessConfig(record_sample="full"))["m"] == 196_608
    assert record_sample_plan(obj(100), ProcessConfig(record_sample=500))["mode"] == "full"
    assert record_sample_plan(obj(100), ProcessConfig(record_nodes=False))["mode"] == "off"


@pytest.mark.parametrize("bad", [1, 0, -3, "some", True, 2.5, None])
def test_bad_record_sample_is_one_line(bad):
    with pytest.raises(HDOInputError) as e:
        ProcessConfig(record_sample=bad)
    assert "record_sample" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(HDOInputError):
        coerce("record_sample", "nope")


def test_option_schema_converts():
    assert coerce("record_sample", "4096") == 4096
    assert coerce("record_sample", "FULL") == "full"
    assert ProcessConfig(record_sample=8.0).record_sample == 8


@pytest.mark.parametrize("value", ["1", "sometimes"])
def test_cli_bad_record_sample_is_one_line(value, capsys, tmp_path):
    from hdo_theory.cli import main

    args = ["run", "--d", "3", "--n", "4", "--T", "20", "--replicas", "1", "--out",
            str(tmp_path / "x.npz"), "--record-sample", value]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "record_sample" in err and "Traceback" not in err


def test_stated_errors_and_plan_survive_save_and_load(runs, tmp_path):
    from hdo_theory.process.results import load_results

    _, sub = runs
    path = tmp_path / "sub.npz"
    sub.save(path)
    back = load_results(path)
    for name in SE_METRICS:
        assert np.array_equal(back[name], sub[name], equal_nan=True), name
    assert back.info["record_sample"] == sub.info["record_sample"]
    assert back.config["record_sample"] == M
