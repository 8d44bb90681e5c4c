"""Bit-identical reruns, independence of threads / chunking / NUMBA_NUM_THREADS, and stream
separation (recording probes never change the trajectory)."""

import hashlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from hdo_theory.estimators import EstimatorSpec
from hdo_theory.objectives import make_objective
from hdo_theory.process import PopulationConfig, ProcessConfig, simulate

CFG = dict(
    T=300,
    record=25,
    record_lemma2=True,
    zo=PopulationConfig(EstimatorSpec("zo-central", rv=3, nu=1e-2, batch=2), lr=0.02, momentum=0.3),
    fo=PopulationConfig(EstimatorSpec("fo", batch=2), lr=0.05, momentum=0.3, momentum_kind="ema"),
)


@pytest.fixture(scope="module")
def obj():
    return make_objective("logistic", d=4, n0=3, n1=4, seed=3)


def digest(res):
    h = hashlib.sha256()
    for k in sorted(res.metrics):
        h.update(k.encode())
        h.update(res[k].tobytes())
    h.update(res.diverged_at.tobytes())
    for k in sorted(res.state):
        h.update(res.state[k].tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("model", ["pairwise", "matching", "graph"])
def test_reruns_threads_and_chunks_are_bit_identical(obj, model):
    cfg = ProcessConfig(model=model, topology="random-regular", degree=2, **CFG)
    ref = digest(simulate(obj, cfg, replicas=4, seed=1, threads=1, keep_state=True))
    assert digest(simulate(obj, cfg, replicas=4, seed=1, threads=1, keep_state=True)) == ref
    assert digest(simulate(obj, cfg, replicas=4, seed=1, threads=2, keep_state=True)) == ref
    assert (
        digest(simulate(obj, cfg, replicas=4, seed=1, threads=2, chunks=7, keep_state=True)) == ref
    )
    assert digest(simulate(obj, cfg, replicas=4, seed=2, threads=1, keep_state=True)) != ref


def test_replica_streams_depend_on_seed_and_index_only(obj):
    """Replica r's trajectory is the same whatever the number of replicas (SeedSequence spawn
    keys are (seed, r)), and replicas differ from one another."""
    cfg = ProcessConfig(**CFG)
    a = simulate(obj, cfg, replicas=2, seed=5)
    b = simulate(obj, cfg, replicas=5, seed=5)
    for k in a.metrics:
        assert a[k].tobytes() == b[k][:2].tobytes()
    assert not np.array_equal(b["gap"][0], b["gap"][1])


def test_recording_probes_do_not_touch_the_trajectory(obj):
    with_probe = simulate(obj, ProcessConfig(**CFG), replicas=2, seed=3, keep_state=True)
    without = simulate(
        obj,
        ProcessConfig(**{**CFG, "record_lemma2": False, "record": 100}),
        replicas=2,
        seed=3,
        keep_state=True,
    )
    assert with_probe.state["X"].tobytes() == without.state["X"].tobytes()
    assert np.all(np.isnan(without["mg"])) and np.all(np.isfinite(with_probe["mg"]))


_SCRIPT = textwrap.dedent(
    """
    import hashlib
    from hdo_theory.estimators import EstimatorSpec
    from hdo_theory.objectives import make_objective
    from hdo_theory.process import PopulationConfig, ProcessConfig, simulate
    obj = make_objective("logistic", d=4, n0=3, n1=4, seed=3)
    cfg = ProcessConfig(T=300, record=25, record_lemma2=True,
        zo=PopulationConfig(EstimatorSpec("zo-forward", rv=2, batch=2), lr=0.02),
        fo=PopulationConfig(EstimatorSpec("fo", batch=2), lr=0.05))
    res = simulate(obj, cfg, replicas=4, seed=1)  # threads default: NUMBA_NUM_THREADS
    h = hashlib.sha256()
    for k in sorted(res.metrics):
        h.update(res[k].tobytes())
    print(res.info["threads"], h.hexdigest())
    """
)


def test_numba_num_threads_does_not_change_results():
    outs = []
    for nt in ("1", "2"):
        env = {**os.environ, "NUMBA_NUM_THREADS": nt}
        p = subprocess.run(
            [sys.executable, "-c", _SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        outs.append(p.stdout.split())
    assert outs[0][0] == "1" and outs[1][0] == "2"
    assert outs[0][1] == outs[1][1]
