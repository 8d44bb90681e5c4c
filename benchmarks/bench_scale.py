"""Matching rounds and pairwise interactions at many nodes (issue 14 section 5): least squares
with d = 784 and N = 60,000 samples (MNIST-sized, synthetic), n = 1,000 / 3,000 / 10,000 nodes
(half ZO forward rv 1, half FO, batch 1), one replica on one thread.

The cost of one step is measured free of the fixed costs (the records at steps 0 and T, the
replica's buffers): each configuration runs ``T`` and ``2 T`` steps and the step cost is
``(wall(2T) - wall(T)) / T``. A matching round is ``floor(n/2)`` interactions, so its cost
should be linear in n; the benchmark fits the slope of log(seconds per round) against log(n)
over every repeat and gives its 95% t interval (slope 1 = linear). Node losses are not
recorded (``record_nodes=False``): a record of them costs n passes over the data, which at
n = 10,000 is 4.7e11 multiply-adds per record.

Memory: the least-squares constants (``hdo_theory/objectives/constants.py``, computed once per
objective and timed here on their own) need ``O(d^2 + N d)``: no per-node ``d x d`` matrices
(before issue 14 section 5 they held two ``(n, d, d)`` stacks, 98 GB at n = 10,000). The peak
RSS of the process is printed with each row.

    python benchmarks/bench_scale.py --quick    # 2 repeats, ~300k interactions per run
    python benchmarks/bench_scale.py            # 3 repeats, ~1M interactions per run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np


def _peak_rss_gb() -> float:
    """Peak resident memory of this process so far (Linux: ru_maxrss in kB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _wall(obj, cfg) -> float:
    from hdo_theory.process import simulate

    t0 = time.perf_counter()
    res = simulate(obj, cfg, replicas=1, threads=1, seed=0)
    wall = time.perf_counter() - t0
    if int(res.diverged_at[0]) >= 0:  # a diverged run stops early: its wall is not T steps
        raise SystemExit(f"run diverged at step {int(res.diverged_at[0])}: lower the lr")
    return wall


def step_cost(obj, model: str, T: int) -> float:
    """``(wall(2T) - wall(T)) / T``, each wall the smaller of two runs (the fixed costs of a
    run vary by tenths of a second on a loaded machine); NaN when the difference is not
    positive, i.e. the steps are not resolved above that noise (raise the budget)."""
    from hdo_theory.process import EstimatorSpec, PopulationConfig, ProcessConfig

    # a stable step (the cost of a step does not depend on it): the default lr 0.01 diverges
    # within ~1000 interactions at d = 784 (L ~ 370), after which a run stops early
    lr = 0.1 / (obj.d * obj.constants.L)
    zo = PopulationConfig(EstimatorSpec("zo-forward", rv=1, nu=1e-3, batch=1), lr=lr)
    fo = PopulationConfig(EstimatorSpec("fo", batch=1), lr=lr)
    cfg = lambda t: ProcessConfig(model=model, T=t, record_points=2, record_nodes=False,
                                  record_y=False, zo=zo, fo=fo)
    w1 = min(_wall(obj, cfg(T)) for _ in range(2))
    w2 = min(_wall(obj, cfg(2 * T)) for _ in range(2))
    return (w2 - w1) / T if w2 > w1 else math.nan


def slope_interval(ns, secs, level=0.95):
    """Least-squares slope of log(secs) on log(ns) and its t interval."""
    from scipy import stats

    x, y = np.log(np.asarray(ns, float)), np.log(np.asarray(secs, float))
    k = x.size
    xm = x.mean()
    sxx = np.sum((x - xm) ** 2)
    b = np.sum((x - xm) * (y - y.mean())) / sxx
    resid = y - (y.mean() + b * (x - xm))
    se = math.sqrt(np.sum(resid**2) / (k - 2) / sxx) if k > 2 else math.nan
    q = stats.t.ppf(0.5 + level / 2, k - 2) if k > 2 else math.nan
    return b, b - q * se, b + q * se


def main(argv=None) -> int:
    from hdo_theory.objectives import make_objective
    from hdo_theory.process import ProcessConfig, simulate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--ns", type=int, nargs="+", default=[1000, 3000, 10000])
    ap.add_argument("--d", type=int, default=784)
    ap.add_argument("--n-samples", type=int, default=60_000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    reps = 2 if a.quick else 3
    # interactions per measured run; a pairwise interaction is one model-pair update, a
    # matching round visits every node: both runs last about a second or more at d = 784
    budget = 300_000 if a.quick else 1_000_000
    rows = []
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}, d = {a.d}, N = {a.n_samples}",
          flush=True)
    for n in a.ns:
        tb = time.perf_counter()
        obj = make_objective("least-squares", d=a.d, n0=n // 2, n1=n - n // 2,
                             n_samples=a.n_samples, seed=0)
        build = time.perf_counter() - tb
        tc = time.perf_counter()
        _ = obj.constants  # the problem constants (cached on the objective), timed on their own
        consts = time.perf_counter() - tc
        simulate(obj, ProcessConfig(model="matching", T=1, record_points=2,
                                    record_nodes=False))  # compile, constants, caches
        for _ in range(reps):
            rnd = step_cost(obj, "matching", max(1, budget // (n // 2)))
            inter = step_cost(obj, "pairwise", budget)
            rows.append({"n": n, "round_s": rnd, "rounds_per_s": 1 / rnd,
                         "interaction_s": inter, "interactions_per_s": 1 / inter,
                         "round_us_per_interaction": 1e6 * rnd / (n // 2),
                         "objective_build_s": build, "constants_s": consts,
                         "peak_rss_gb": _peak_rss_gb()})
            r = rows[-1]
            print(f"n={n:6d}: matching {r['rounds_per_s']:8.2f} rounds/s "
                  f"({r['round_us_per_interaction']:.2f} us per interaction), pairwise "
                  f"{r['interactions_per_s']:9.0f} interactions/s (objective built in "
                  f"{build:.1f} s, constants in {consts:.1f} s, peak RSS "
                  f"{r['peak_rss_gb']:.2f} GB)", flush=True)
    ok = [r for r in rows if math.isfinite(r["round_s"])]
    b, lo, hi = slope_interval([r["n"] for r in ok], [r["round_s"] for r in ok])
    print(f"slope of log(seconds per round) vs log(n): {b:.3f}, 95% interval "
          f"[{lo:.3f}, {hi:.3f}] (1 = linear in n) over {len(ok)} runs")
    if a.json:
        print(json.dumps({"rows": rows, "slope": [b, lo, hi]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
