"""pytest-benchmark view of the reference configuration (optional; not in the default test run).

Run explicitly (the project's ``testpaths`` is ``tests``, so a plain ``pytest`` skips this)::

    OPENBLAS_NUM_THREADS=1 .venv/bin/pytest benchmarks/test_bench_process.py --benchmark-only

It times one ``simulate`` call and one NumPy-reference call at the reference configuration of
``bench_process.py`` (least squares, d=100, n=64, n0=48, ZO forward rv=8, batches of 16). The
numbers of record, the ratio, the scaling and the memory checks are in ``bench_process.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_process import numpy_rng, process_config, reference_objective  # noqa: E402
from numpy_reference import run_pairwise_numpy  # noqa: E402

from hdo_theory.process import simulate  # noqa: E402

pytest.importorskip("pytest_benchmark")

T_NUMBA = 5000
T_NUMPY = 300


@pytest.fixture(scope="module")
def objective():
    obj = reference_objective()
    simulate(obj, process_config(20), threads=1)  # JIT load and constants, outside the timing
    return obj


def test_numba_simulate_reference(benchmark, objective):
    res = benchmark.pedantic(
        simulate, args=(objective, process_config(T_NUMBA)), kwargs={"threads": 1},
        rounds=5, warmup_rounds=1,
    )
    assert res.diverged_at[0] == -1
    benchmark.extra_info["interactions"] = T_NUMBA


@pytest.mark.parametrize("directions", ["loop", "batched"])
def test_numpy_reference(benchmark, objective, directions):
    run = benchmark.pedantic(
        lambda: run_pairwise_numpy(objective, process_config(T_NUMPY),
                                   numpy_rng(0), directions=directions),
        rounds=3, warmup_rounds=1,
    )
    assert np.all(np.isfinite(run.X))
    benchmark.extra_info["interactions"] = T_NUMPY
