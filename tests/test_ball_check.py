"""The process's running farthest distance to x* (``max_node_dist_sq``) and the verification's
check that a run stayed in the ball where the objective's constants hold.

Exact checks (rounding only): the recorded running maximum equals the maximum over every node
and every step recomputed from the node models of prefix runs on the same stream.
"""

import numpy as np
import pytest

from hdo_theory.estimators import EstimatorSpec
from hdo_theory.objectives import make_objective
from hdo_theory.process import PopulationConfig, ProcessConfig, problem_facts, simulate
from hdo_theory.verification.claims import _common as C

ZO = PopulationConfig(EstimatorSpec("zo-forward", rv=2, nu=1e-3, batch=2), lr=0.2)
FO = PopulationConfig(EstimatorSpec("fo", batch=2), lr=0.3)


@pytest.mark.parametrize("model", ["pairwise", "matching"])
def test_running_max_distance_is_exact_over_every_step(model):
    obj = make_objective("least-squares", d=3, n0=3, n1=2, seed=4)
    xs = problem_facts(obj)["x_star"]
    n, T = obj.n, 12
    # start next to x*: the stochastic steps then carry nodes outwards, so the farthest point
    # is reached mid-run, between the two records
    x0 = xs + 0.01 * np.random.default_rng(0).standard_normal((n, obj.d))

    def cfg(T):
        # record only at 0 and T: the maximum must still cover the steps in between
        return ProcessConfig(model=model, T=T, zo=ZO, fo=FO, record=T, x0=x0, record_y=False)

    res = simulate(obj, cfg(T), replicas=2, seed=3)
    rec = res["max_node_dist_sq"]
    assert rec.shape[1] == 2
    # prefix runs on the same stream give every intermediate state X_t
    start = float(np.max(np.sum((x0 - xs) ** 2, axis=1)))
    per_step = [[start], [start]]  # per replica: max over nodes at t = 0, 1, ..., T
    for t in range(1, T + 1):
        Xt = simulate(obj, cfg(t), replicas=2, seed=3, keep_state=True).state["X"]
        for r in range(2):
            per_step[r].append(np.max(np.sum((Xt[r] - xs) ** 2, axis=1)))
    for r in range(2):
        assert rec[r, 0] == pytest.approx(per_step[r][0], rel=1e-13)
        assert rec[r, -1] == pytest.approx(max(per_step[r]), rel=1e-13)
        # the maximum is attained after the start in this run, so the check is not vacuous
        assert max(per_step[r]) > per_step[r][0]
    # and in some replica it is reached strictly between the two records (0 and T)
    assert any(0 < np.argmax(ps) < T for ps in per_step)


def test_ball_check_flags_a_run_that_left_the_ball():
    obj = make_objective("quadratic", d=3, n0=2, n1=2, seed=0)
    R = obj.constants.radius
    assert R is not None and R > 0
    inside = {"max_node_dist_sq": np.array([[0.0, (0.9 * R) ** 2, np.nan]])}
    out, info = C.ball_check(obj, inside)
    assert out == [] and info["constants_radius"] == pytest.approx(R)
    assert info["max_node_dist"] == pytest.approx(0.9 * R)
    left = {"max_node_dist_sq": np.array([[0.0, (0.9 * R) ** 2], [1.0, (1.1 * R) ** 2]])}
    out, info = C.ball_check(obj, left, "T=5")
    assert len(out) == 1 and out[0].startswith("T=5: node models left the ball")
    assert info["max_node_dist"] == pytest.approx(1.1 * R)


def test_ball_check_counts_diverged_replicas_as_outside():
    # a diverging replica stops before the step that broke it is recorded: its finite records
    # can all be inside the ball, yet it left it
    obj = make_objective("quadratic", d=3, n0=2, n1=2, seed=0)
    assert obj.constants.radius is not None
    big = PopulationConfig(EstimatorSpec("fo", batch=1), lr=50.0)
    cfg = ProcessConfig(T=2000, zo=big, fo=big, record=500, record_y=False)
    res = simulate(obj, cfg, replicas=3, seed=1)
    assert np.all(res.diverged_at >= 0)
    out, info = C.ball_check(obj, res)
    assert any("diverged" in m for m in out)
    assert info["max_node_dist"] <= obj.constants.radius  # the finite records alone look fine


def test_ball_check_is_silent_for_global_constants():
    obj = make_objective("logistic", d=3, n0=2, n1=2, seed=0)
    assert obj.constants.radius is None  # bounded GLM: global bounds by default
    far = {"max_node_dist_sq": np.array([[1e6]])}
    out, info = C.ball_check(obj, far)
    assert out == [] and info["constants_radius"] is None
