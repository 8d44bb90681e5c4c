"""Benchmark of the exact engine (hdo_theory.exact), issue 12 section 5.

1. Cost per interaction against n and d on the fast path (shared diagonal A, isotropic noise):
   pairwise (the engine's route: the lazy O(n d) kernel over runs of ENGINE_BATCH steps, the
   state written out once per run; the one-step O(n^2 d) kernel beside it), matching (one
   round = floor(n/2) interactions; cost per round divided by floor(n/2)) and a ring graph.
   Target: n = 64, d = 100 at most 200 us per interaction on one core.
2. Exact engine against Monte Carlo for the same precision: E gap at step T to 1e-3 relative
   (95% half-width). Monte Carlo time = R_needed x measured time per replica, with
   R_needed = (1.96 sd / (1e-3 mean))^2 from the measured replica standard deviation.
   Target: the exact engine at least 100x faster.

    python benchmarks/bench_exact.py            # full
    python benchmarks/bench_exact.py --quick    # a few seconds of timing per section
    python benchmarks/bench_exact.py --json out.json
    python benchmarks/bench_exact.py --target-only  # n = 64, d = 100 pairwise and matching

Times are wall clock and, in parentheses, CPU time of the timing thread (``time.thread_time``:
under contention it leaves out the time the process waited for a core, so it is the closer
estimate of a quiet machine). The state copy (``np.copyto`` into a kept buffer) is the
memory-traffic yardstick taken at the same moment.

BLAS and Numba are pinned to one thread (set before NumPy is imported). The machine load
(``os.getloadavg``) is printed with every section: numbers taken under contention say so.
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

#: steps per ``steps_inplace`` call when timing the engine's route (a run between two
#: requested steps; the lazy pairwise kernel writes the state out once per call)
ENGINE_BATCH = 1000


def _load() -> str:
    a, b, c = os.getloadavg()
    return f"load average {a:.2f} {b:.2f} {c:.2f}"


def _fm(n, d, model, seed=0):
    from hdo_theory.estimators import EstimatorSpec
    from hdo_theory.exact import build_fast_model
    from hdo_theory.process import PopulationConfig, ProcessConfig
    from hdo_theory.process.topology import make_edges

    rng = np.random.default_rng(seed)
    A = np.diag(np.geomspace(1.0, 0.1, d))
    B = rng.standard_normal((n, d))
    cfg = ProcessConfig(model=model, topology="ring", T=10**6,
                        zo=PopulationConfig(EstimatorSpec("zo-forward", nu=0.1, rv=2), lr=0.01),
                        fo=PopulationConfig(EstimatorSpec("fo"), lr=0.01))
    edges = make_edges("ring", n) if model == "graph" else np.zeros((0, 2), np.int64)
    fm = build_fast_model(A, B, n // 2, 0.1, cfg, [0.01, 0.01], [0.1, 0.1], 1e-3, edges)
    return fm, rng.standard_normal((n, d))


def cost_per_interaction(ns, ds, models, min_time):
    from hdo_theory.exact import fast as F

    rows = []
    for model in models:
        for n in ns:
            for d in ds:
                fm, X0 = _fm(n, d, model)
                m, S = F.initial_state(fm, X0)
                # as the engine's step loop: one carry kept from step to step (a library
                # without StepCarry, e.g. an older checkout, steps without)
                carry = fm.new_carry() if hasattr(fm, "new_carry") else None
                args = () if carry is None else (carry,)
                m, S = fm.step_inplace(m, S, 0, *args)  # compile / warm up
                # the engine's route: every step between two requested steps in one call
                # (pairwise: the lazy O(n d) kernel; an older checkout: one step at a time)
                many = hasattr(fm, "steps_inplace") and carry is not None
                batch = ENGINE_BATCH if many else 1
                if many:
                    m, S = fm.steps_inplace(m, S, 1, 3, carry)  # compile / warm up
                k, t0, c0 = 0, time.perf_counter(), time.thread_time()
                while True:
                    if many:
                        m, S = fm.steps_inplace(m, S, 3 + k, 3 + k + batch, carry)
                    else:
                        m, S = fm.step_inplace(m, S, 3 + k, *args)
                    k += batch
                    el = time.perf_counter() - t0
                    if el >= min_time and k >= 3:
                        break
                cpu = (time.thread_time() - c0) / k
                per_step = el / k
                # the one-step kernel (what a step cost before the lazy route), same state
                k1, t1 = 0, time.perf_counter()
                while time.perf_counter() - t1 < min_time / 3 or k1 < 3:
                    m, S = fm.step_inplace(m, S, 10**6 + k1, *args)
                    k1 += 1
                one_step = (time.perf_counter() - t1) / k1
                per_int = per_step / (n // 2 if model == "matching" else 1)
                cpu_int = cpu / (n // 2 if model == "matching" else 1)
                # a contention-independent yardstick: one copy of the state at the same moment
                # (the step is bound by memory traffic, so its cost in copies is what carries
                # over to a quiet machine)
                kc, t0 = 0, time.perf_counter()
                buf = np.empty_like(S)
                while time.perf_counter() - t0 < min_time / 3 or kc < 3:
                    np.copyto(buf, S)  # into a kept buffer: no page faults of a fresh array
                    kc += 1
                copy = (time.perf_counter() - t0) / kc
                rows.append(dict(model=model, n=n, d=d, us_per_step=per_step * 1e6,
                                 us_per_interaction=per_int * 1e6, steps_timed=k,
                                 cpu_us_per_interaction=cpu_int * 1e6,
                                 us_state_copy=copy * 1e6, step_in_copies=per_step / copy,
                                 us_per_step_one_step_kernel=one_step * 1e6,
                                 steps_per_call=batch,
                                 load=_load()))
                print(f"  {model:9s} n={n:3d} d={d:4d}: {per_int * 1e6:10.1f} us/interaction "
                      f"(CPU {cpu_int * 1e6:.1f} us; "
                      f"{per_step * 1e6:.1f} us/step = {per_step / copy:.2f} state copies, "
                      f"{k} steps, {batch} per call; one-step kernel "
                      f"{one_step * 1e6:.1f} us/step; {_load()})", flush=True)
    return rows


def exact_vs_monte_carlo(n, d, T, replicas):
    from hdo_theory.estimators import EstimatorSpec
    from hdo_theory.exact import expected_dynamics
    from hdo_theory.objectives.explicit import explicit_quadratic
    from hdo_theory.process import PopulationConfig, ProcessConfig, simulate

    rng = np.random.default_rng(1)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = (Q * np.geomspace(1.0, 0.1, d)) @ Q.T
    obj = explicit_quadratic(0.5 * (A + A.T), rng.standard_normal((n, d)), n // 2, 0.3)
    cfg = ProcessConfig(model="pairwise", T=T, record=T, record_nodes=False,
                        x0=tuple(rng.standard_normal(d)),
                        zo=PopulationConfig(EstimatorSpec("zo-forward", nu=0.05), lr=0.02),
                        fo=PopulationConfig(EstimatorSpec("fo"), lr=0.02))
    expected_dynamics(obj, cfg, at=[0, 1])  # warm up (compile)
    t0 = time.perf_counter()
    r = expected_dynamics(obj, cfg, at=[T])
    t_exact = time.perf_counter() - t0
    simulate(obj, cfg, replicas=2, seed=0, threads=1)  # compile
    t0 = time.perf_counter()
    sim = simulate(obj, cfg, replicas=replicas, seed=1, threads=1)
    t_mc = time.perf_counter() - t0
    gaps = sim.metrics["gap"][:, -1]
    mean, sd = float(gaps.mean()), float(gaps.std(ddof=1))
    r_needed = (1.96 * sd / (1e-3 * mean)) ** 2
    t_needed = r_needed * t_mc / replicas
    out = dict(n=n, d=d, T=T, exact_gap=float(r["gap"][0]), mc_gap=mean, mc_sd=sd,
               mc_replicas=replicas, mc_s_per_replica=t_mc / replicas,
               replicas_needed=r_needed, mc_time_needed_s=t_needed, exact_time_s=t_exact,
               speedup=t_needed / t_exact, load=_load())
    print(f"  n={n} d={d} T={T}: exact {t_exact:.3g} s (gap {out['exact_gap']:.6g}); Monte Carlo "
          f"{t_mc / replicas * 1e3:.3g} ms/replica, sd/mean {sd / mean:.3g}, needs "
          f"{r_needed:.3g} replicas = {t_needed:.3g} s; speed-up {out['speedup']:.3g}x ({_load()})",
          flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small grid, short timings")
    ap.add_argument("--json", metavar="FILE", help="also write every number as JSON")
    ap.add_argument("--target-only", action="store_true",
                    help="only the n = 64, d = 100 pairwise and matching cost (section 1)")
    a = ap.parse_args(argv)
    print(f"bench_exact ({'quick' if a.quick else 'full'}); {_load()}")
    if a.target_only:
        cost = cost_per_interaction((64,), (100,), ("pairwise", "matching"), 1.0)
        if a.json:
            with open(a.json, "w") as fh:
                json.dump({"cost": cost}, fh, indent=1)
        return 0
    print("1. cost per interaction (fast path, shared diagonal A)")
    ns = (8, 64) if a.quick else (8, 16, 32, 64)
    ds = (10, 100)
    cost = cost_per_interaction(ns, ds, ("pairwise", "matching", "graph"),
                                0.3 if a.quick else 1.5)
    print("2. exact engine vs Monte Carlo, E gap to 1e-3 relative")
    vs = [exact_vs_monte_carlo(8, 10, 2000, 32 if a.quick else 200)]
    if not a.quick:
        vs.append(exact_vs_monte_carlo(16, 20, 20000, 100))
    target = [r for r in cost if r["model"] == "pairwise" and r["n"] == 64 and r["d"] == 100]
    if target:
        t = target[0]["us_per_interaction"]
        print(f"target n=64 d=100 pairwise <= 200 us/interaction: {t:.1f} us "
              f"({'met' if t <= 200 else 'NOT met'})")
    print(f"target speed-up >= 100x: {min(v['speedup'] for v in vs):.3g}x "
          f"({'met' if min(v['speedup'] for v in vs) >= 100 else 'NOT met'})")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"cost": cost, "exact_vs_mc": vs}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

