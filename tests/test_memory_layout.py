"""The results buffer is allocated once: ``simulate`` returns views, never a copy.

A copy of every metric after the run would double the peak memory at its very end (issue 14:
a 202 MB buffer added 395 MB), so a run that fitted while simulating would die with nothing
saved. tracemalloc counts NumPy's allocations exactly (no dependence on the machine), so the
peak it traces during ``simulate`` is compared with the buffer's size directly; the measured
ratio at 200+ MB is in benchmarks/bench_memory.py.
"""

from __future__ import annotations

import tracemalloc

import numpy as np

from hdo_theory.objectives import make_objective
from hdo_theory.process import METRICS, ProcessConfig, simulate
from hdo_theory.process.results import Results


def _run(R=20, T=5000):
    obj = make_objective("least-squares", d=3, n0=2, n1=2, seed=0)
    return obj, ProcessConfig(T=T, record=1), R


def test_metrics_are_views_of_one_metric_major_buffer():
    obj, cfg, R = _run(R=3, T=40)
    res = simulate(obj, cfg, replicas=R, seed=1, threads=2)
    arrays = [res.metrics[k] for k in METRICS]
    base = arrays[0].base
    assert base is not None and base.shape == (len(METRICS), R, cfg.T + 1)
    for k, a in zip(METRICS, arrays, strict=True):
        assert a.base is base and not a.flags.owndata, k
        assert a.flags.c_contiguous and a.shape == (R, cfg.T + 1), k
        assert np.shares_memory(a, base), k


def test_simulate_allocates_the_buffer_once(tmp_path):
    obj, cfg, R = _run()
    simulate(obj, ProcessConfig(T=10, record=1))  # compiled, caches warm
    buffer_bytes = len(METRICS) * R * (cfg.T + 1) * 8  # float64 (metric, replica, record)
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        res = simulate(obj, cfg, replicas=R, seed=2, threads=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    growth = peak - base
    # the buffer, plus per-replica state of n x d floats and Python bookkeeping (well under
    # 1 MB here); a second copy of the buffer would add another 11.2 MB
    assert buffer_bytes <= growth < 1.1 * buffer_bytes + 1_000_000, (growth, buffer_bytes)
    # the views save and load like the contiguous arrays they replace
    back = Results.load(res.save(tmp_path / "r.npz"))
    for k in back.recorded:
        assert back[k].tobytes() == res[k].tobytes()
