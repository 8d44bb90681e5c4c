"""Pilot runs behind the power calculations of claims 4, 5 and 7 (the split designs in
``hdo_theory/verification/claims/experiment_claims.py``): the standard deviation over shard
splits of each per-split unit, and the seconds per split.

The pilot uses master seed 12345, which is not a reporting seed (verify runs seed 0), so the
designs were sized on data the reported verdicts do not reuse.

    .venv/bin/python benchmarks/pilot_shard_splits.py --quick          # ~1-2 min on 2 cores
    .venv/bin/python benchmarks/pilot_shard_splits.py                  # full scale, ~10 min
    .venv/bin/python benchmarks/pilot_shard_splits.py --claims 7 --splits 6

Each line: the claim, the unit, its mean and sd over the pilot's splits, and (where it has
one) the unit's equivalence scale, so ``sd_u / scale`` enters the claim's docstring.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _claim4(ctx, E, splits):
    T, _, rv, d, n0, n1 = E._fig2_grid(ctx)
    _, w = E._FIG2_SPLITS[ctx.scale]
    units = []
    for s in range(splits):
        runs = [E._fig2_run(ctx, a, b, T, w, rv, d, s) for a, b in E._fig2_pops(n0, n1)]
        hy, fo, zo = (float(np.mean(E._final(r))) for r in runs)
        units.append((hy - fo, hy - zo, zo - fo, fo, zo))
    u = np.asarray(units)
    ref_fo, ref_zo = u[:, 3].mean(), u[:, 4].mean()
    return [("hybrid - FO", u[:, 0], ref_fo), ("hybrid - ZO", u[:, 1], ref_zo),
            ("ZO - FO", u[:, 2], ref_fo)], w


def _claim5(ctx, E, splits):
    _, w, w_slope = E._CLAIM5_SPLITS[ctx.scale]
    u = np.asarray([E._claim5_split(ctx, s, w, w_slope) for s in range(splits)])
    return [("slope in rv", u[:, 0], 1.0), ("directional - forward", u[:, 1], u[:, 2].mean())], w


def _claim7(ctx, E, splits):
    n0s = E._claim7_grid(ctx)[0]
    _, w_c, w_k = E._CLAIM7_SPLITS[ctx.scale]
    u = np.asarray([E._claim7_split(ctx, s, w_c, w_k) for s in range(splits)])
    return [("slope in n0", u[:, 0], u[:, 2].mean() / float(np.ptp(n0s))),
            ("final / max spread", u[:, 1], 1.0)], w_c


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="the --quick grids (default: --full)")
    p.add_argument("--claims", nargs="+", default=["4", "5", "7"], choices=["4", "5", "7"])
    p.add_argument("--splits", type=int, default=None,
                   help="pilot splits per claim (default 8 quick, 6 full)")
    args = p.parse_args(argv)
    from hdo_theory.verification.claims import Context
    from hdo_theory.verification.claims import experiment_claims as E

    scale = "quick" if args.quick else "full"
    splits = args.splits or (8 if args.quick else 6)
    ctx = Context(scale=scale, seed=12345)
    print(f"scale {scale}, {splits} pilot splits, load {os.getloadavg()[0]:.1f}")
    for c in args.claims:
        t0 = time.perf_counter()
        units, w = {"4": _claim4, "5": _claim5, "7": _claim7}[c](ctx, E, splits)
        sec = (time.perf_counter() - t0) / splits
        for name, u, scale_ in units:
            print(f"claim{c} {name:24s} mean {u.mean():+.3g}  sd_u {u.std(ddof=1):.3g}  "
                  f"scale {scale_:.3g}  sd_u/scale {u.std(ddof=1) / scale_:.3g}  "
                  f"(w = {w}; {sec:.1f} s per split)")
    print(f"load at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
