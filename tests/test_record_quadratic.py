"""Records from the exact quadratic form (``record_sample="quadratic"``, issue 14).

Two routes to the same numbers: a run recorded from the objective's quadratic form
(:mod:`hdo_theory.objectives.quadratic_form`, ``O(n d^2)`` a record) against the same run recorded
with passes over the data (``record_sample="full"``). The trajectory is the same bit for bit (the
route only changes how losses are evaluated), the loss metrics differ in their last bits (so
the form was really used) and agree within the worst-case rounding bound of the longer sum, not
a tuned tolerance: recursive summation of ``m`` terms is off by at most ``(m - 1) u`` times the
sum of their absolute values (``u = 2^-53``); the data route sums ``N`` samples of ``d``-term
dot products and the form ``d^2`` products (and ``H`` itself ``N`` terms, met again through
``e^T H e``), so both are within ``(N + d^2) u`` of the absolute sums. We bound those by the
scale ``S = 1 + max f + f* + max |metric|`` (least-squares and quadratic samples are
non-negative, so the loss terms sum to ``f``; on these data the gradient terms and ``r . e`` are
of the same order) and allow 4 ``(N + d^2) u S`` (the two routes' errors add, and the squared
gradient norm doubles a relative error).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hdo_theory.errors import HDOInputError
from hdo_theory.estimators import EstimatorSpec
from hdo_theory.objectives import make_objective
from hdo_theory.objectives.quadratic_form import hessian, is_quadratic, quadratic_form
from hdo_theory.process import (
    RECORD_SAMPLE_FULL_UP_TO,
    PopulationConfig,
    ProcessConfig,
    check_config,
    form_min_records,
    record_sample_plan,
    record_steps,
    simulate,
)

U = 2.0**-53
LOSS_METRICS = ("gap", "grad_norm_sq", "y_gap", "node_loss", "zo_loss", "fo_loss", "loss_spread")
STATE_METRICS = ("dist_sq", "gamma")


def _objective(name):
    kw = dict(lam=0.05) if name == "least-squares" else {}
    return make_objective(name, d=6, n0=3, n1=3, seed=2, n_samples=900, **kw)


def _config(**kw):
    return ProcessConfig(T=600, record=50, record_nodes=True, record_y=True,
                         zo=PopulationConfig(EstimatorSpec("zo-forward", nu=1e-3, rv=2), lr=0.02),
                         fo=PopulationConfig(EstimatorSpec("fo", batch=4), lr=0.02), **kw)


@pytest.mark.parametrize("name", ["least-squares", "quadratic"])
def test_quadratic_route_equals_data_passes(name):
    obj = _objective(name)
    full = simulate(obj, _config(record_sample="full"), replicas=3, seed=4, threads=1)
    quad = simulate(obj, _config(record_sample="quadratic"), replicas=3, seed=4, threads=1)
    assert full.info["record_sample"]["evaluation"] == "data pass"
    assert quad.info["record_sample"]["evaluation"] == "quadratic form"
    assert quad.info["record_sample"]["mode"] == "quadratic"
    for k in STATE_METRICS:  # same trajectory
        np.testing.assert_array_equal(quad.metrics[k], full.metrics[k], err_msg=k)
    N, d = obj.weights.shape[0], obj.d
    f_star = float(full.info["f_star"])
    f_max = float(np.max(full.metrics["node_loss"]))
    for k in LOSS_METRICS:
        a, b = full.metrics[k], quad.metrics[k]
        scale = 1.0 + f_max + abs(f_star) + float(np.max(np.abs(a)))
        bound = 4 * (N + d * d) * U * scale
        assert np.all(np.isfinite(b)), k
        assert float(np.max(np.abs(a - b))) <= bound, (k, float(np.max(np.abs(a - b))), bound)
    # the form route was taken: the same numbers by another sum differ in some last bits
    for k in ("gap", "grad_norm_sq", "node_loss"):
        assert not np.array_equal(quad.metrics[k], full.metrics[k]), k
    assert np.ptp(quad.metrics["gap"]) > 0  # a moving run, not a constant


@pytest.mark.parametrize("name", ["least-squares", "quadratic"])
def test_form_is_the_objective(name):
    """``H`` is the Hessian (differences of exact gradients of a quadratic are exact up to
    rounding), and the form's value and gradient are the objective's at random points."""
    obj = _objective(name)
    H = hessian(obj)
    np.testing.assert_array_equal(H, H.T)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(obj.d)
    g0 = obj.grad(x)
    for k in range(obj.d):
        e = np.zeros(obj.d)
        e[k] = 1.0
        np.testing.assert_allclose(obj.grad(x + e) - g0, H[:, k], rtol=1e-10, atol=1e-10)
    form = quadratic_form(obj)
    assert form is quadratic_form(obj)  # cached per objective
    for _ in range(3):
        z = form.x_ref + rng.standard_normal(obj.d)
        assert abs(form.value(z) - obj.value(z)) <= 1e-12 * (1 + abs(obj.value(z)))
        np.testing.assert_allclose(form.grad(z), obj.grad(z), rtol=1e-11, atol=1e-11)


def test_auto_uses_the_form_above_the_full_size_only_for_quadratics():
    cfg = ProcessConfig()
    small = make_objective("least-squares", d=3, n0=1, n1=1, seed=0, n_samples=1000)
    big = make_objective("least-squares", d=3, n0=1, n1=1, seed=0,
                         n_samples=RECORD_SAMPLE_FULL_UP_TO + 2)
    logi = make_objective("logistic", d=3, n0=1, n1=1, seed=0,
                          n_samples=RECORD_SAMPLE_FULL_UP_TO + 2)
    assert record_sample_plan(small, cfg)["mode"] == "full"
    assert record_sample_plan(big, cfg)["mode"] == "quadratic"
    assert record_sample_plan(big, cfg)["evaluation"] == "quadratic form"
    assert record_sample_plan(logi, cfg)["mode"] == "subsample"
    assert record_sample_plan(logi, cfg)["evaluation"] == "data pass"
    off = dataclasses.replace(cfg, record_nodes=False)
    assert record_sample_plan(big, off)["evaluation"] == "quadratic form"
    # few records: the data passes are cheaper than the Hessian (a function of the config only)
    few = dataclasses.replace(cfg, T=100, record=100)
    assert len(record_steps(few.T, few.record, few.record_points)) < form_min_records(big.d)
    assert record_sample_plan(big, few)["evaluation"] == "data pass"
    assert record_sample_plan(big, few)["mode"] == "subsample"
    assert record_sample_plan(big, ProcessConfig(record_sample="full"))["evaluation"] == "data pass"
    assert is_quadratic(big) and not is_quadratic(logi)


def test_quadratic_refused_for_other_kinds_in_one_line(capsys, tmp_path):
    logi = make_objective("logistic", d=3, n0=1, n1=1, seed=0, n_samples=200)
    for call in (simulate, check_config):  # check_config makes every check simulate makes
        with pytest.raises(HDOInputError) as e:
            call(logi, ProcessConfig(T=10, record_sample="quadratic"))
        assert "record_sample" in str(e.value) and "\n" not in str(e.value)
    from hdo_theory.cli import main

    code = main(["run", "--objective", "logistic", "--d", "3", "--T", "10", "--out",
                 str(tmp_path / "x.npz"), "--record-sample", "quadratic"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and "record_sample" in err
    assert "Traceback" not in err


def test_quadratic_route_bit_identical_across_threads():
    obj = _objective("least-squares")
    cfg = _config(record_sample="quadratic")
    a = simulate(obj, cfg, replicas=4, seed=9, threads=1)
    b = simulate(obj, cfg, replicas=4, seed=9, threads=2)
    assert a.info["record_sample"]["evaluation"] == "quadratic form"
    for k in LOSS_METRICS + STATE_METRICS:
        np.testing.assert_array_equal(a.metrics[k], b.metrics[k], err_msg=k)


def test_form_capped_in_d(monkeypatch):
    """Above RECORD_FORM_MAX_D the node-loss subsample is cheaper than the form: auto keeps the
    data passes and an explicit request gets a one-line error naming d and the cap."""
    import hdo_theory.process as P

    big = make_objective("least-squares", d=3, n0=1, n1=1, seed=0,
                         n_samples=RECORD_SAMPLE_FULL_UP_TO + 2)
    monkeypatch.setattr(P, "RECORD_FORM_MAX_D", 2)
    assert record_sample_plan(big, ProcessConfig())["evaluation"] == "data pass"
    with pytest.raises(HDOInputError) as e:
        record_sample_plan(big, ProcessConfig(record_sample="quadratic"))
    msg = str(e.value)
    assert "d <= 2" in msg and "d = 3" in msg and "\n" not in msg
