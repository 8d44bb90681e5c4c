"""Held-out loss and accuracy are recorded along the trajectory like the other metrics.

Metamorphic: the recorded value at the last record equals the objective's own
``heldout_metrics`` at the mean of the final node models (two routes, same quantity; the sums
run in different orders, so agreement is to rounding: 1e-12 relative on O(1) losses).
"""

import numpy as np
import pytest

from hdo_theory.estimators import EstimatorSpec
from hdo_theory.objectives import make_objective
from hdo_theory.process import PopulationConfig, ProcessConfig, simulate


def _config(T):
    return ProcessConfig(
        T=T,
        record=T // 4,
        zo=PopulationConfig(EstimatorSpec("zo-forward", rv=2, nu=1e-3, batch=4), lr=0.05),
        fo=PopulationConfig(EstimatorSpec("fo", batch=4), lr=0.05),
    )


def test_heldout_metrics_match_the_objective_at_the_final_mean():
    obj = make_objective("breast-cancer", n0=3, n1=3, seed=1)
    res = simulate(obj, _config(200), replicas=2, seed=5, keep_state=True)
    for r in range(2):
        mu = res.state["X"][r].mean(axis=0)
        loss, acc = obj.heldout_metrics(mu)
        assert res.metrics["heldout_loss"][r, -1] == pytest.approx(loss, rel=1e-12)
        assert res.metrics["heldout_acc"][r, -1] == pytest.approx(acc, abs=1e-12)
    assert np.all(np.isfinite(res.metrics["heldout_loss"]))
    acc_all = res.metrics["heldout_acc"]
    assert np.all((acc_all >= 0) & (acc_all <= 1))


def test_no_heldout_split_records_nan():
    obj = make_objective("logistic", d=4, n0=2, n1=2)
    res = simulate(obj, _config(40), replicas=1, seed=0)
    assert np.all(np.isnan(res.metrics["heldout_loss"]))
    assert np.all(np.isnan(res.metrics["heldout_acc"]))
    assert np.all(np.isfinite(res.metrics["gap"]))


def test_matching_theorem_schedule_counts_interactions_not_rounds():
    """Theorem 1's T counts interactions; a matching round of n = 6 nodes is 3 of them."""
    from hdo_theory.process.schedules import theorem_convex_lr, theorem_nonconvex_lr

    obj = make_objective("logistic", d=4, n0=3, n1=3)
    fo = PopulationConfig(EstimatorSpec("fo", batch=2), lr=0.1)
    zo = PopulationConfig(EstimatorSpec("zo-directional", batch=2), lr=0.1)
    for sched, expected in (
        ("theorem-convex", theorem_convex_lr(6, 40 * 3, obj.constants.ell)),
        ("theorem-nonconvex", theorem_nonconvex_lr(6, 4, 40 * 3)),
    ):
        cfg = ProcessConfig(model="matching", T=40, schedule=sched, zo=zo, fo=fo, record=20)
        res = simulate(obj, cfg, replicas=1, seed=0)
        assert res.info["lr_zo"] == res.info["lr_fo"] == pytest.approx(expected, rel=1e-15)
