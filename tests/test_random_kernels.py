"""The kernels' random-number helpers reproduce NumPy's streams exactly, and the step loop of the
gossip process allocates nothing.

Every check here is exact (bit-identical values and generator states), so no tolerance and no
false-failure probability is involved.
"""

import json
import os
import pickle
import subprocess
import sys

import numba
import numpy as np
import pytest

from hdo_theory.rng import (
    SFC64Generator,
    SFC64GeneratorType,
    bounded_index,
    kernel_generator,
    standard_normals,
)

ZIGGURAT_R = 3.6541528853610088  # the ziggurat's base-strip edge: |x| beyond it is the tail


@numba.njit(cache=True)
def _fill(rng, out):
    standard_normals(rng, out)


@numba.njit(cache=True)
def _fill_blocks(rng, out2d):
    # several calls in a row: the inlined SFC64 state must be written back after each call
    for r in range(out2d.shape[0]):
        standard_normals(rng, out2d[r])


@numba.njit(cache=True)
def _indices(rng, ms, out):
    for t in range(ms.shape[0]):
        out[t] = bounded_index(rng, ms[t])


def _states_equal(a, b):
    sa, sb = a.bit_generator.state, b.bit_generator.state
    if sa.keys() != sb.keys():
        return False
    for key in sa:
        va, vb = sa[key], sb[key]
        if isinstance(va, dict):
            if not all(np.array_equal(va[k], vb[k]) for k in va):
                return False
        elif not np.array_equal(va, vb):
            return False
    return True


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_sfc64_normals_are_numpys_stream_bit_for_bit(seed):
    n = 300_001
    fast = kernel_generator(np.random.SeedSequence(seed))
    ref = np.random.Generator(np.random.SFC64(np.random.SeedSequence(seed)))
    out = np.empty(n)
    _fill(fast, out)
    expected = ref.standard_normal(n)
    assert np.array_equal(out, expected)
    assert _states_equal(fast, ref)
    # the rare branches were exercised: P(no draw beyond the base strip in 3e5) = exp(-79)
    assert np.sum(np.abs(out) > ZIGGURAT_R) > 0
    # and the stream continues identically for every other method afterwards
    assert fast.integers(0, 2**62) == ref.integers(0, 2**62)
    assert fast.random() == ref.random()


def test_repeated_calls_continue_the_stream():
    fast = kernel_generator(np.random.SeedSequence(7))
    ref = np.random.Generator(np.random.SFC64(np.random.SeedSequence(7)))
    out = np.empty((37, 101))
    _fill_blocks(fast, out)
    assert np.array_equal(out, ref.standard_normal((37, 101)))
    assert _states_equal(fast, ref)


@numba.njit(cache=True)
def _interleaved(rng, ms, normals):
    # the process's pattern: a few 32-bit index draws (SFC64 buffers half of a 64-bit output
    # between them), then a vector of normals (64-bit outputs), repeatedly
    idx = np.empty(ms.shape[0], dtype=np.int64)
    for t in range(ms.shape[0]):
        idx[t] = bounded_index(rng, ms[t])
        standard_normals(rng, normals[t])
    return idx


def test_interleaved_indices_and_normals_follow_numpy():
    ms = np.random.default_rng(2).integers(1, 100, 500)
    fast = kernel_generator(np.random.SeedSequence(9))
    ref = np.random.Generator(np.random.SFC64(np.random.SeedSequence(9)))
    normals = np.empty((500, 7))
    idx = _interleaved(fast, ms, normals)
    for t in range(500):
        assert idx[t] == ref.integers(0, ms[t])
        assert np.array_equal(normals[t], ref.standard_normal(7))
    assert _states_equal(fast, ref)


@pytest.mark.parametrize("make", [np.random.default_rng, lambda s: np.random.Generator(
    np.random.Philox(s))])
def test_other_generators_take_the_generic_path(make):
    a, b = make(3), make(3)
    out = np.empty(5001)
    _fill(a, out)
    assert np.array_equal(out, b.standard_normal(5001))
    assert _states_equal(a, b)


@pytest.mark.parametrize("make", [lambda s: kernel_generator(np.random.SeedSequence(s)),
                                  np.random.default_rng])
def test_bounded_index_is_rng_integers(make):
    ms = np.concatenate([
        np.array([1, 2, 3, 47, 48, 64, 1000, 2**31 + 7, 2**32 - 1, 2**32, 2**33, 1, 1, 2],
                 dtype=np.int64),
        np.random.default_rng(0).integers(1, 2**32 - 1, 3000),
        np.random.default_rng(1).integers(1, 64, 3000),
    ])
    a, b = make(11), make(11)
    out = np.empty(ms.shape[0], dtype=np.int64)
    _indices(a, ms, out)
    expected = np.array([b.integers(0, m) for m in ms])
    assert np.array_equal(out, expected)
    assert np.all((out >= 0) & (out < ms))
    assert _states_equal(a, b)  # m = 1 draws nothing, as NumPy


def test_sfc64_generator_is_a_checked_numpy_generator():
    g = kernel_generator(np.random.SeedSequence(5))
    assert isinstance(g, np.random.Generator)
    assert isinstance(g.bit_generator, np.random.SFC64)
    with pytest.raises(TypeError, match="SFC64"):
        SFC64Generator(np.random.PCG64(0))
    h = pickle.loads(pickle.dumps(g))
    assert type(h) is SFC64Generator and _states_equal(g, h)
    assert np.array_equal(h.standard_normal(8), g.standard_normal(8))


def test_swapped_bit_generator_takes_the_generic_path():
    # Generator._bit_generator is writable from Python. The inline path would read 32 bytes of
    # the other bit generator's state as SFC64 words and write them back: out-of-bounds writes,
    # a crash at the next draw. Typing must look at the bit generator, not only the class.
    g = kernel_generator(np.random.SeedSequence(5))
    g._bit_generator = np.random.PCG64(3)
    assert not isinstance(numba.typeof(g), SFC64GeneratorType)
    out = np.empty(101)
    _fill(g, out)
    ref = np.random.Generator(np.random.PCG64(3))
    assert np.array_equal(out, ref.standard_normal(101))
    assert _states_equal(g, ref)


_NRT_CHILD = r"""
import json
from numba.core.runtime import rtsys
import hdo_theory.process as P
from hdo_theory.estimators import EstimatorSpec
from hdo_theory.objectives import make_objective
from hdo_theory.process import PopulationConfig, ProcessConfig, simulate

calls = [0]
run_chunk = P.PK.run_chunk
def counting_run_chunk(*args):
    calls[0] += 1
    return run_chunk(*args)
P.PK.run_chunk = counting_run_chunk

obj = make_objective("least-squares", d=12, n0=6, n1=4, seed=0)
def cfg(model, T):
    return ProcessConfig(model=model, T=T, record="log", record_y=False,
        zo=PopulationConfig(EstimatorSpec("zo-forward", rv=5, nu=1e-3, batch=4), lr=1e-3),
        fo=PopulationConfig(EstimatorSpec("fo", batch=4), lr=1e-2))
rows = {}
for model in ("pairwise", "matching"):
    simulate(obj, cfg(model, 10), threads=1)  # warm-up: compile / load, constants
    counts = []
    for T in (100, 1000, 10000):
        a0, c0 = rtsys.get_allocation_stats().alloc, calls[0]
        simulate(obj, cfg(model, T), threads=1)
        counts.append((T, rtsys.get_allocation_stats().alloc - a0, calls[0] - c0))
    rows[model] = counts
print(json.dumps(rows))
"""


def test_step_loop_allocates_nothing():
    # Issue 3: "nothing is allocated per interaction". simulate() splits a replica into kernel
    # calls of about 0.1 s (Ctrl-C latency), so the number of calls grows (slowly) with T and
    # each call may allocate a fixed amount (argument views) -- but never per step. With
    # T = 100, 1000, 10000 the Numba runtime allocations must be exactly a + c * calls: any
    # per-step allocation would add a term growing with T (record="log" keeps the record count
    # about fixed, and recording itself allocates nothing either).
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    out = subprocess.run([sys.executable, "-c", _NRT_CHILD], env=env, capture_output=True,
                         text=True, check=True, timeout=600)
    rows = json.loads(out.stdout.strip().splitlines()[-1])
    for model, pts in rows.items():
        (_, a1, k1), (_, a2, k2), (_, a3, k3) = pts
        if k1 == k2 == k3:
            assert a1 == a2 == a3, f"{model}: allocations {pts} (T, allocs, calls) grow with T"
            continue
        # a + c * calls through the first two points (or the two with different call counts)
        (ka, aa), (kb, ab) = ((k1, a1), (k3, a3)) if k1 != k3 else ((k1, a1), (k2, a2))
        c, rem = divmod(ab - aa, kb - ka)
        assert rem == 0 and c >= 0, f"{model}: allocations {pts} are not a + c * calls"
        for _, a, k in pts:
            assert a == aa + c * (k - ka), (
                f"{model}: allocations {pts} (T, allocs, kernel calls) are not a + c * calls: "
                "something allocates per step")
