"""How to prefetch random minibatch rows on this machine (issue 14, section 3, lever (b)).

A stand-in for the GLM ZO estimator's row passes, outside the package's kernels so it compiles
in seconds: batches of 16 random rows of an ``(N, 100)`` feature matrix, each batch read twice
(the two blocks of 4 directions of ``rv = 8``: margin + 4 projections per row, as
``estimators.kernels._margins``), after some unrelated arithmetic standing in for the direction
draws. Variants (same run, best of 3, CPU time per row for both passes):

* ``none``: no software prefetch;
* ``burst``: every row of the batch hinted right after the draw (``prefetch_batch``: what the
  process did before);
* ``ahead D``: while reading row ``t`` of the first pass, hint row ``t + D``;
* ``burst + ahead D``: both (what the process does now, ``D = ROW_PREFETCH_DISTANCE``);
* ``next batch``: the whole NEXT batch hinted one batch early (the ideal "draw ahead").

Usage: ``python benchmarks/bench_prefetch.py [--quick] [--N 49152,196608]``.
"""
import argparse
import os
import time

for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(v, "1")

import numba  # noqa: E402
import numpy as np  # noqa: E402

from hdo_theory.objectives.kernels import ROW_PREFETCH_DISTANCE, _prefetch_row  # noqa: E402

_F = {"reassoc", "contract", "nsz"}
NONE, BURST, AHEAD, BURST_AHEAD, NEXT = range(5)


@numba.njit(fastmath=_F, inline="always")
def _row_pass(A, j, x, U):
    z = w0 = w1 = w2 = w3 = 0.0
    u0, u1, u2, u3 = U[0], U[1], U[2], U[3]
    for k in range(A.shape[1]):
        a = A[j, k]
        z += a * x[k]
        w0 += a * u0[k]
        w1 += a * u1[k]
        w2 += a * u2[k]
        w3 += a * u3[k]
    return z + w0 + w1 + w2 + w3


@numba.njit(fastmath=_F)
def _run(A, idx, x, U, mode, dist, work):
    s = 0.0
    nb, b = idx.shape
    for q in range(nb):
        if mode == BURST or mode == BURST_AHEAD:
            for t in range(b):
                _prefetch_row(A, idx[q, t])
        elif mode == NEXT and q + 1 < nb:
            for t in range(b):
                _prefetch_row(A, idx[q + 1, t])
        r = 1.0  # stand-in for the direction draws (a dependent chain of `work` multiply-adds)
        for _ in range(work):
            r = r * 1.0000001 + 1e-9
        s += r
        for p in range(2):
            for t in range(b):
                if (mode == AHEAD or mode == BURST_AHEAD) and p == 0 and t + dist < b:
                    _prefetch_row(A, idx[q, t + dist])
                s += _row_pass(A, idx[q, t], x, U)
    return s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--N", default="49152,196608")
    a = ap.parse_args(argv)
    n_batches = 5000 if a.quick else 20000
    variants = [("none", NONE, 0), ("burst", BURST, 0)]
    variants += [(f"ahead {D}", AHEAD, D) for D in (1, 2, 4)]
    variants += [(f"burst + ahead {ROW_PREFETCH_DISTANCE}", BURST_AHEAD, ROW_PREFETCH_DISTANCE),
                 ("next batch", NEXT, 0)]
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.2f}")
    for N in (int(v) for v in a.N.split(",")):
        rng = np.random.default_rng(0)
        A = rng.standard_normal((N, 100))
        x, U = rng.standard_normal(100), rng.standard_normal((4, 100))
        idx = rng.integers(0, N, size=(n_batches, 16))
        res = {}
        for _round in range(3):  # interleaved rounds: the machine's load hits all alike
            for name, mode, dist in variants:
                _run(A, idx[:4], x, U, mode, dist, 300)
                t0 = time.process_time()
                _run(A, idx, x, U, mode, dist, 300)
                ns = (time.process_time() - t0) / idx.size * 1e9
                res[name] = min(res.get(name, np.inf), ns)
        base = res["burst"]
        for name, _, _ in variants:
            print(f"N = {N:>7,}  {name:<16} {res[name]:7.1f} ns per row   "
                  f"({res[name] / base:.2f} x burst)")
    print(f"load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
