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
* ``next batch``: the whole NEXT batch hinted one batch early (the ideal "draw ahead");

each with hints to L1 (``llvm.prefetch`` locality 3, x86 ``prefetcht0``: what the process used
first) and to L2 (locality 2, ``prefetcht1``: ``objectives.kernels.PREFETCH_LOCALITY``).

Usage: ``python benchmarks/bench_prefetch.py [--quick] [--N 49152,196608]``.
"""
import argparse
import os
import time

for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(v, "1")

import numba  # noqa: E402
import numpy as np  # noqa: E402
from llvmlite import ir  # noqa: E402
from numba.core import cgutils, types  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

from hdo_theory.objectives.kernels import ROW_PREFETCH_DISTANCE  # noqa: E402

_F = {"reassoc", "contract", "nsz"}
NONE, BURST, AHEAD, BURST_AHEAD, NEXT = range(5)


def _prefetcher(locality):
    """A row hint like ``objectives.kernels._prefetch_row`` with the given locality (0-3)."""
    @intrinsic
    def prefetch(typingctx, arr, j):
        def codegen(context, builder, signature, args):
            a = context.make_array(signature.args[0])(context, builder, value=args[0])
            stride0 = cgutils.unpack_tuple(builder, a.strides, 2)[0]
            ncols = cgutils.unpack_tuple(builder, a.shape, 2)[1]
            row = context.cast(builder, args[1], signature.args[1], types.intp)
            start = builder.add(builder.ptrtoint(a.data, stride0.type), builder.mul(row, stride0))
            i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                "llvm.prefetch.p0")
            zero = context.get_constant(types.intp, 0)
            nbytes = builder.mul(ncols, context.get_constant(types.intp, 8))
            with cgutils.for_range_slice(builder, zero, nbytes,
                                         context.get_constant(types.intp, 64)) as (o, _):
                builder.call(fn, [builder.inttoptr(builder.add(start, o), i8p), i32(0),
                                  i32(locality), i32(1)])
            return context.get_dummy_value()
        return types.void(arr, j), codegen
    return prefetch


def _runner(prefetch):
    @numba.njit(fastmath=_F, inline="always")
    def row_pass(A, j, x, U):
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
    def run(A, idx, x, U, mode, dist, work):
        s = 0.0
        nb, b = idx.shape
        for q in range(nb):
            if mode == BURST or mode == BURST_AHEAD:
                for t in range(b):
                    prefetch(A, idx[q, t])
            elif mode == NEXT and q + 1 < nb:
                for t in range(b):
                    prefetch(A, idx[q + 1, t])
            r = 1.0  # stand-in for the direction draws (a dependent chain of multiply-adds)
            for _ in range(work):
                r = r * 1.0000001 + 1e-9
            s += r
            for p in range(2):
                for t in range(b):
                    if (mode == AHEAD or mode == BURST_AHEAD) and p == 0 and t + dist < b:
                        prefetch(A, idx[q, t + dist])
                    s += row_pass(A, idx[q, t], x, U)
        return s
    return run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--N", default="49152,196608")
    a = ap.parse_args(argv)
    n_batches = 5000 if a.quick else 20000
    variants = [("none", NONE, 0, 3)]
    for loc in (3, 2):
        variants += [(f"L{4 - loc} burst", BURST, 0, loc)]
        variants += [(f"L{4 - loc} ahead {D}", AHEAD, D, loc) for D in (2, 4)]
        variants += [(f"L{4 - loc} burst + ahead {D}", BURST_AHEAD, D, loc) for D in (2, 4)]
        variants += [(f"L{4 - loc} next batch", NEXT, 0, loc)]
    runs = {loc: _runner(_prefetcher(loc)) for loc in (3, 2)}
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.2f}; "
          f"L1 = locality 3 (prefetcht0), L2 = locality 2 (prefetcht1); the process: L2 burst + "
          f"ahead {ROW_PREFETCH_DISTANCE}")
    for N in (int(v) for v in a.N.split(",")):
        rng = np.random.default_rng(0)
        A = rng.standard_normal((N, 100))
        x, U = rng.standard_normal(100), rng.standard_normal((4, 100))
        idx = rng.integers(0, N, size=(n_batches, 16))
        res = {}
        for _round in range(3):  # interleaved rounds: the machine's load hits all alike
            for name, mode, dist, loc in variants:
                runs[loc](A, idx[:4], x, U, mode, dist, 300)
                t0 = time.process_time()
                runs[loc](A, idx, x, U, mode, dist, 300)
                ns = (time.process_time() - t0) / idx.size * 1e9
                res[name] = min(res.get(name, np.inf), ns)
        base = res["L1 burst"]
        for name, *_ in variants:
            print(f"N = {N:>7,}  {name:<20} {res[name]:7.1f} ns per row   "
                  f"({res[name] / base:.2f} x L1 burst)")
    print(f"load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
