"""Re-drawn shard splits (``make_objective(..., shard_seed=, shard_replica=)``) and the claims
that average over them (claims 4, 5 and 7, ``_common.splits_until_decided``).

Statistical checks are derived: a binomial test with false-failure probability FAIL_P.
"""

import math

import numpy as np
import pytest

from hdo_theory.errors import HDOInputError
from hdo_theory.objectives import make_objective, split_seed_sequence
from hdo_theory.verification import stats as S
from hdo_theory.verification.claims import REGISTRY, Context
from hdo_theory.verification.claims import _common as C
from hdo_theory.verification.claims import experiment_claims as E

FAIL_P = 1e-3
KW = dict(d=3, n0=4, n1=2, n_samples=24)


def _shards(obj):
    return [obj.shard(i).tolist() for i in range(obj.n)]


def test_default_split_and_meta_are_unchanged():
    a = make_objective("logistic", **KW)
    b = make_objective("logistic", **KW, shard_seed=None)
    assert _shards(a) == _shards(b) and a.meta == b.meta
    assert "shard_seed" not in a.meta  # the default meta (and every hash of it) as before


def test_same_shard_seed_and_replica_give_the_same_split_on_the_same_data():
    a = make_objective("logistic", **KW, shard_seed=7, shard_replica=3)
    b = make_objective("logistic", **KW, shard_seed=7, shard_replica=3)
    base = make_objective("logistic", **KW)
    assert _shards(a) == _shards(b)
    for x, y in zip(a.data, base.data, strict=True):  # the data set is seed's, untouched
        assert np.array_equal(np.asarray(x), np.asarray(y))
    assert a.meta["shard_seed"] == 7 and a.meta["shard_replica"] == 3


def test_replicas_give_different_splits_each_a_partition_of_every_sample():
    splits = [make_objective("logistic", **KW, shard_seed=11, shard_replica=r) for r in range(6)]
    keys = {tuple(map(tuple, _shards(o))) for o in splits}
    assert len(keys) == 6  # distinct splits (a repeat has probability < 1e-9 at N = 24)
    base = make_objective("logistic", **KW)
    for o in splits:
        for lo, hi in ((0, o.n0), (o.n0, o.n)):  # each population covers every sample once
            cover = np.sort(np.concatenate([o.shard(i) for i in range(lo, hi)]))
            assert np.array_equal(cover, np.arange(24))
        assert [o.shard_size(i) for i in range(o.n)] == [base.shard_size(i) for i in range(o.n)]
        np.testing.assert_allclose(o.weights.sum(), 1.0, rtol=1e-12)


def test_populations_with_equal_sizes_share_their_shards_within_a_split():
    # claim 4's pairing: hybrid (4, 2) and ZO-only (4, 0) share the ZO shards, FO-only (0, 2)
    # the FO shards, for the same (shard_seed, shard_replica)
    hy = make_objective("logistic", **{**KW, "n0": 4, "n1": 2}, shard_seed=5, shard_replica=2)
    zo = make_objective("logistic", **{**KW, "n0": 4, "n1": 0}, shard_seed=5, shard_replica=2)
    fo = make_objective("logistic", **{**KW, "n0": 0, "n1": 2}, shard_seed=5, shard_replica=2)
    assert _shards(hy)[:4] == _shards(zo) and _shards(hy)[4:] == _shards(fo)


def test_split_is_a_uniform_random_equal_partition_across_replicas():
    # N = 8 samples into 2 ZO shards of 4: two given samples share a shard with probability
    # exactly 3/7 under a uniformly random equal split; over R independent replicas the count
    # is Binomial(R, 3/7). Two-sided binomial test at FAIL_P.
    R = 300
    hits = 0
    for r in range(R):
        o = make_objective("logistic", d=2, n0=2, n1=2, n_samples=8, shard_seed=99,
                           shard_replica=r)
        hits += int((0 in o.shard(0)) == (1 in o.shard(0)))
    p = 3 / 7
    tail = min(S.binomial_upper_tail(hits, R, p), 1 - S.binomial_upper_tail(hits + 1, R, p))
    assert 2 * tail > FAIL_P, (hits, R * p)


def test_split_seed_sequence_is_the_documented_stream():
    ss = split_seed_sequence("logistic", 7, 3)
    zo_ss, _ = ss.spawn(2)
    from hdo_theory.objectives import make_shards

    o = make_objective("logistic", **KW, shard_seed=7, shard_replica=3)
    keys = np.zeros(24)  # heterogeneity 0: the keys do not enter the scores
    want = make_shards(keys, 4, 0.0, np.random.default_rng(zo_ss))
    assert [s.tolist() for s in want] == _shards(o)[:4]


@pytest.mark.parametrize("kw, name", [
    (dict(shard_seed=-1), "shard_seed"), (dict(shard_seed="x"), "shard_seed"),
    (dict(shard_seed=2**32), "shard_seed"), (dict(shard_seed=1.5), "shard_seed"),
    (dict(shard_seed=1, shard_replica=-2), "shard_replica"),
    (dict(shard_seed=1, shard_replica="a"), "shard_replica"),
    (dict(shard_replica=3), "shard_replica"),
])
def test_bad_shard_seed_is_a_one_line_error_naming_it(kw, name):
    with pytest.raises(HDOInputError) as e:
        make_objective("logistic", **KW, **kw)
    assert name in str(e.value) and "\n" not in str(e.value)


def test_one_sample_per_node_kind_refuses_shard_seed():
    with pytest.raises(HDOInputError, match="shard_seed"):
        make_objective("explicit-quadratic", d=2, n0=2, n1=2, shard_seed=1)


# ---------------------------------------------------------------------------------------------
# The split as the unit: splits_until_decided
# ---------------------------------------------------------------------------------------------


def _normal_units(seed, mu=0.0):
    def per_split(s):  # a pure function of (seed, s): what a split's runs are
        return (float(np.random.default_rng([seed, s]).normal(mu, 1.0)),)
    return per_split


def _summ(units):
    u = np.asarray(units, float)
    return [(S.mean_estimate(u[:, 0]), 0.0, "le", None)]


def test_without_budget_the_interval_is_over_the_splits():
    tests, units, seq = C.splits_until_decided(Context(), "no-such-claim", 6, 4,
                                               _normal_units(1), _summ)
    est = tests[0][0]
    assert seq is None and len(units) == 6 and est.n == 6 and est.dof == 5
    assert est.spend == 1.0


def test_budget_counts_replicas_looks_over_splits_prefix_bit_identical():
    ctx = Context(budget=40)  # 4 replicas per split: at most 10 splits, looks 3, 6, 10
    tests, units, seq = C.splits_until_decided(ctx, "no-such-claim", 3, 4,
                                               _normal_units(2), _summ)
    assert seq["split_looks"] == [3, 6, 10] and seq["looks"] == [12, 24, 40]
    assert seq["replicas"] == 4 * seq["splits"] == 4 * len(units)
    w = S.spending_weights([3, 6, 10])
    assert tests[0][0].spend == pytest.approx(w[seq["looks_taken"] - 1])
    # the first k splits do not depend on the budget
    _, ref, _ = C.splits_until_decided(Context(), "no-such-claim", len(units), 4,
                                       _normal_units(2), _summ)
    assert ref == units


def test_budget_stops_at_the_first_decided_look():
    # a large true effect (mean 5 sd above the bound): decided at the first look
    ctx = Context(budget=64)
    tests, units, seq = C.splits_until_decided(ctx, "no-such-claim", 16, 1,
                                               _normal_units(3, mu=-5.0), _summ)
    assert seq["stopped_by"] == "decided" and seq["splits"] == 16


def test_false_verdict_rate_under_budget_stopping_at_the_boundary():
    # exactly true at the boundary (mean 0, bound 0): any holds / violated is false. Decided at
    # two-sided level alpha (per side alpha/2) with the look's spend, the false-verdict rate is
    # <= alpha whatever the stopping rule (alpha spending); binomial test at FAIL_P.
    alpha, runs = 0.1, 300
    bad = 0
    for r in range(runs):
        tests, _, _ = C.splits_until_decided(Context(budget=32), "no-such-claim", 4, 1,
                                             _normal_units(1000 + r), _summ)
        est = tests[0][0]
        bad += S.decide(est, 0.0, alpha, "le").verdict in ("holds", "violated")
    assert S.binomial_upper_tail(bad, runs, alpha) > FAIL_P, bad


# ---------------------------------------------------------------------------------------------
# Claims 4, 5, 7 wired to it (shrunk to 2 splits of 1 replica: cheap)
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_designs(monkeypatch):
    # the claims' own code on shorter runs (the grids' T and rv shrunk): the wiring, not the
    # verdicts, is under test here
    monkeypatch.setattr(E, "_fig2_grid", lambda ctx: (50, 1, 2, 10, 24, 3))
    monkeypatch.setattr(E, "_claim5_grid", lambda ctx: ((1, 4), 80, 1, 10))
    monkeypatch.setattr(E, "_claim7_grid", lambda ctx: ((0, 8, 16), 60, 1, 10))
    monkeypatch.setitem(E._FIG2_SPLITS, "quick", (2, 1))
    monkeypatch.setitem(E._CLAIM5_SPLITS, "quick", (2, 1, 1))
    monkeypatch.setitem(E._CLAIM7_SPLITS, "quick", (2, 1, 1))


@pytest.mark.parametrize("cid", ["claim4", "claim5", "claim7"])
def test_claim_runs_over_splits_and_budget_extends_them(tiny_designs, cid):
    recs = REGISTRY[cid].run(Context(seed=0))
    for r in recs:
        assert r.config["splits"] == 2 and r.config["unit"].startswith("shard split")
        assert r.estimate.n == 2 and r.estimate.dof == 1  # t over the splits, not replicas
        assert "sequential" not in r.extra
    again = REGISTRY[cid].run(Context(seed=0))
    assert [r.estimate for r in again] == [r.estimate for r in recs]  # bit-identical
    # --budget 4 (1 replica per split): looks at 2 and 4 splits; the 2-split look is the
    # no-budget run with its spend, and a 4-split stop uses 4 splits
    seq_recs = REGISTRY[cid].run(Context(seed=0, budget=4))
    for r, r0 in zip(seq_recs, recs, strict=True):
        seq = r.extra["sequential"]
        assert seq["split_looks"] == [2, 4] and r.config["splits"] == seq["splits"]
        assert r.estimate.n == seq["splits"]
        if seq["splits"] == 2:
            assert math.isclose(r.estimate.value, r0.estimate.value, rel_tol=0, abs_tol=0)


def test_claim_configs_carry_the_shard_seed():
    ctx = Context(scale="full")
    for cid in ("claim4", "claim5", "claim7"):
        for p in REGISTRY[cid].configs(ctx):
            assert p.objective_kwargs["shard_seed"] == ctx.seed_for(cid, "shard-split")
