"""Benchmark of the pairwise HDO process: Numba ``simulate`` against a plain NumPy reference.

Run from the repository root::

    .venv/bin/python benchmarks/bench_process.py            # full run (~5-10 min on 2 cores)
    .venv/bin/python benchmarks/bench_process.py --quick    # smaller T and fewer repeats (~1-2 min)
    .venv/bin/python benchmarks/bench_process.py --json out.json   # also write every number

One run measures (issue 3, section 8):

1. interactions per second of :func:`hdo_theory.process.simulate` (one thread) and of
   :mod:`numpy_reference` (both of its ways of writing the ZO estimator) at the reference
   configuration: least squares, ``d = 100``, ``n = 64``, ``n0 = 48`` ZO nodes (forward
   difference, ``rv = 8``, batch 16), ``n1 = 16`` FO nodes (batch 16), and their ratio
   (target: Numba >= 20x NumPy);
2. a correctness check that the two compare the same process: one replica on the same random
   stream (NumPy with the kernel-compatible sampler) must follow the same trajectory, and
   independent replicas (NumPy with its default sampler, as timed) must agree in the mean
   log-gap at ``T`` (Welch t test, 95% interval of the difference);
3. scaling over ``d`` in {10, 100, 1000, 10000} and over ``rv``; cost linearity in
   ``T * d * rv`` (least-squares fit of time per interaction on ``1, d, d * rv``, log-log
   slope in ``T``);
4. replicas on 1 vs 2 threads (target ~2x);
5. memory: Numba runtime (NRT) allocations, tracemalloc peak and RSS for growing ``T``, in a
   subprocess with ``NUMBA_NRT_STATS=1`` (so the timed runs do not pay for the counters);
6. Numba compile time (fresh cache directory, in a subprocess; full run only), reported
   separately: every timed run is warmed up first;
7. where the time goes: the component kernels of one interaction timed alone.

Timings are taken around each call, repeated, as on-CPU time (``time.process_time``, the
headline: on a shared machine it does not count the time a run waited for a core) and as
wall-clock time (``time.perf_counter``); we report the median and the minimum (least
disturbed by other processes). The threads section reads both: cores obtained = CPU / wall.
BLAS is pinned to one thread (``OPENBLAS_NUM_THREADS=1`` etc., set below before NumPy is
imported) so that "one core" holds for the NumPy reference too; ``OPENBLAS_CORETYPE`` /
``OPENBLAS_L2_SIZE`` are left as the environment has them and reported.
"""

from __future__ import annotations

import os

# one core for the single-thread measurements: BLAS threads and Numba's pool (simulate's
# replica threads are explicit and used only in the threads section)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numba  # noqa: E402
from numpy_reference import least_squares_optimum, run_pairwise_numpy  # noqa: E402
from scipy import stats  # noqa: E402

from hdo_theory.estimators import EstimatorSpec  # noqa: E402
from hdo_theory.objectives import Objective, make_objective, make_shards  # noqa: E402
from hdo_theory.objectives.kernels import KIND_LEAST_SQUARES  # noqa: E402
from hdo_theory.process import (  # noqa: E402
    PopulationConfig,
    ProcessConfig,
    replica_generators,
    simulate,
)
from hdo_theory.rng import kernel_generator  # noqa: E402


def numpy_rng(*seed):
    """The NumPy reference's generator: the same bit generator (SFC64) as ``simulate`` uses, so
    both draw from the same kind of stream (NumPy's own SFC64 normals are also ~25% cheaper than
    PCG64's on this machine, which only helps the reference)."""
    return kernel_generator(np.random.SeedSequence(list(seed)))


REF = dict(d=100, n0=48, n1=16, rv=8, batch=16, nu=1e-3, lr_zo=1e-3, lr_fo=1e-2)
_REFERENCE_OBJECTIVE: list = []


def reference_objective():
    """The reference problem, built once per process (its constants are computed on first use)."""
    if not _REFERENCE_OBJECTIVE:
        _REFERENCE_OBJECTIVE.append(
            make_objective("least-squares", d=REF["d"], n0=REF["n0"], n1=REF["n1"], seed=0)
        )
    return _REFERENCE_OBJECTIVE[0]


# ---------------------------------------------------------------------------------------------
# Problems and configurations
# ---------------------------------------------------------------------------------------------


class _KnownOptimum:
    """Stand-in for ``objective.constants`` holding only ``x*`` and ``f*``.

    ``simulate`` needs the optimum to record gaps; the full constants (Lipschitz constants,
    heterogeneity and variance bounds) cost minutes at ``d >= 1000`` and are not what is
    benchmarked here. ``x*`` comes from :func:`numpy_reference.least_squares_optimum`.
    """

    ell = None  # unknown here (the Constants fields that simulate reads: x_star, f_star, ell, L)
    L = None

    def __init__(self, objective):
        self.x_star, self.f_star = least_squares_optimum(objective)

    def as_dict(self):
        return {"x_star": self.x_star, "f_star": self.f_star,
                "source": "benchmark: numpy_reference.least_squares_optimum"}


def with_known_optimum(objective):
    # Objective.constants is a functools.cached_property: pre-fill its cache slot
    objective.__dict__["constants"] = _KnownOptimum(objective)
    return objective


def isotropic_least_squares(d, n0, n1, n_samples, seed=0, noise=0.5):
    """Least squares with N(0, I) features: ``make_objective("least-squares", condition=1)`` in
    distribution, without its d x d QR factorisation (minutes and GBs at d = 10000)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, d, 0xBE7C]))
    A = rng.standard_normal((n_samples, d))
    y = A @ (rng.standard_normal(d) / math.sqrt(d)) + noise * rng.standard_normal(n_samples)
    data = (
        np.int64(KIND_LEAST_SQUARES), np.zeros(1), A, y, np.zeros(n_samples, np.int64),
        np.zeros((0, 0, 0)), np.zeros((n_samples, 0)),
    )
    zo = make_shards(y, n0, 0.0, rng)
    fo = make_shards(y, n1, 0.0, rng)
    shards = zo + fo
    sizes = np.array([s.shape[0] for s in shards], dtype=np.int64)
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n = n0 + n1
    w = np.zeros(n_samples)
    for s in shards:
        w[s] += 1.0 / (n * s.shape[0])
    meta = dict(name="least-squares", d=d, n0=n0, n1=n1, n_samples=n_samples, seed=seed,
                condition=1.0, noise=noise, heterogeneity=0.0, lam=0.0, builder="benchmark")
    obj = Objective("least-squares", d, n0, n1, data, ptr, np.concatenate(shards), w, True, meta)
    return with_known_optimum(obj)


def process_config(T, d=REF["d"], rv=REF["rv"], lr_zo=None, lr_fo=None, record=None):
    """The benchmark configuration: pairwise, ZO forward difference and FO minibatch gradients.

    Default rates scale with ``d`` so that no replica diverges at any ``d`` (a diverged replica
    stops early and would fake a fast run): ``lr_fo = 1/d``, ``lr_zo = 0.1 / (d max(1, d/100))``
    (``1e-2`` and ``1e-3`` at ``d = 100``). Recording is minimal (only steps 0 and ``T``).
    """
    lr_fo = 1.0 / d if lr_fo is None else lr_fo
    lr_zo = 0.1 / (d * max(1.0, d / 100.0)) if lr_zo is None else lr_zo
    return ProcessConfig(
        model="pairwise",
        T=int(T),
        zo=PopulationConfig(EstimatorSpec("zo-forward", rv=rv, nu=REF["nu"], batch=REF["batch"]),
                            lr=lr_zo),
        fo=PopulationConfig(EstimatorSpec("fo", batch=REF["batch"]), lr=lr_fo),
        record=int(T) if record is None else record,
        record_nodes=False,
        record_y=False,
    )


# ---------------------------------------------------------------------------------------------
# Timing helpers
# ---------------------------------------------------------------------------------------------


def measure(fn):
    """``(result, wall seconds, CPU seconds of this process)`` of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def summarize(cpu_us, wall_us, T):
    """Per-interaction times over repeats. The headline is on-CPU time (``process_time``): on a
    shared machine a single-threaded run's wall time also counts the time it waited for a core.
    Both minimum (least disturbed) and median are kept."""
    c = np.asarray(cpu_us, dtype=float)
    w = np.asarray(wall_us, dtype=float)
    return {"median_us": float(np.median(c)), "min_us": float(c.min()), "max_us": float(c.max()),
            "wall_median_us": float(np.median(w)), "wall_min_us": float(w.min()),
            "repeats": int(c.size), "T": int(T)}


def time_numba(objective, cfg_of_T, target_s, repeats):
    """Microseconds per interaction of ``simulate`` (one replica, one thread), after warm-up."""
    T = _calibrate_numba(objective, cfg_of_T, target_s)
    cpu, wall = [], []
    for r in range(repeats):
        res, w, c = measure(lambda r=r: simulate(objective, cfg_of_T(T), threads=1, seed=r))
        if np.any(res.diverged_at >= 0):
            raise RuntimeError("a replica diverged: the timing would be meaningless")
        cpu.append(c / T * 1e6)
        wall.append(w / T * 1e6)
    return summarize(cpu, wall, T)


def time_numpy(objective, cfg_of_T, target_s, repeats, directions, seed=0):
    """Microseconds per interaction of the NumPy reference (default sampler)."""
    T = _calibrate_numpy(objective, cfg_of_T, target_s, directions)
    cpu, wall = [], []
    for r in range(repeats):
        run, w, c = measure(lambda r=r: run_pairwise_numpy(
            objective, cfg_of_T(T), numpy_rng(seed + 1 + r), directions=directions))
        if not np.all(np.isfinite(run.X)):
            raise RuntimeError("the NumPy reference diverged: the timing would be meaningless")
        cpu.append(c / T * 1e6)
        wall.append(w / T * 1e6)
    return summarize(cpu, wall, T)


def _calibrate_numba(objective, cfg_of_T, target_s):
    simulate(objective, cfg_of_T(20), replicas=1, threads=1)  # warm-up: JIT load, optimum
    _, _, c = measure(lambda: simulate(objective, cfg_of_T(200), replicas=1, threads=1))
    return int(np.clip(target_s / (max(c, 1e-6) / 200), 200, 2_000_000))


def _calibrate_numpy(objective, cfg_of_T, target_s, directions):
    run_pairwise_numpy(objective, cfg_of_T(20), numpy_rng(0), directions=directions)
    _, _, c = measure(lambda: run_pairwise_numpy(objective, cfg_of_T(50),
                                                 numpy_rng(0), directions=directions))
    return int(np.clip(target_s / (max(c, 1e-6) / 50), 50, 200_000))


def say(*a):
    print(*a, flush=True)


def fmt(s):
    return (f"{s['median_us']:9.1f} us CPU (min {s['min_us']:.1f}; wall median "
            f"{s['wall_median_us']:.1f}; n={s['repeats']}, T={s['T']})")


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


def section_reference(P):
    say("\n== 1. Reference configuration: d=100, n=64 (n0=48 ZO fwd rv=8 b=16, n1=16 FO b=16) ==")
    obj = reference_objective()
    t0 = time.perf_counter()
    simulate(obj, process_config(10), threads=1)
    first_call = time.perf_counter() - t0
    say(f"first simulate call on this problem (JIT cache load + objective constants): "
        f"{first_call:.1f} s; excluded below")
    cfg = lambda T: process_config(T)  # noqa: E731
    # interleaved repeats: numba, numpy loop, numpy batched, numba, ... so that all three see
    # the same background load and the ratio is robust to it
    T_nb = _calibrate_numba(obj, cfg, P.target_numba)
    T_np = {k: _calibrate_numpy(obj, cfg, P.target_numpy, k) for k in ("loop", "batched")}
    cpu = {"numba": [], "loop": [], "batched": []}
    wall = {"numba": [], "loop": [], "batched": []}
    loads = []
    for r in range(P.rep_ref):
        loads.append(os.getloadavg()[0])
        res, w, c = measure(lambda r=r: simulate(obj, cfg(T_nb), threads=1, seed=r))
        cpu["numba"].append(c / T_nb * 1e6)
        wall["numba"].append(w / T_nb * 1e6)
        if np.any(res.diverged_at >= 0):
            raise RuntimeError("a replica diverged: the timing would be meaningless")
        for k in ("loop", "batched"):
            _, w, c = measure(lambda r=r, k=k: run_pairwise_numpy(
                obj, cfg(T_np[k]), numpy_rng(100 + r), directions=k))
            cpu[k].append(c / T_np[k] * 1e6)
            wall[k].append(w / T_np[k] * 1e6)
    nb = summarize(cpu["numba"], wall["numba"], T_nb)
    say(f"numba simulate (1 thread)  {fmt(nb)} -> {1e6 / nb['median_us']:,.0f} interactions/s")
    out = {"numba": nb, "first_call_s_incl_constants": first_call, "loadavg_1min": loads}
    for k in ("loop", "batched"):
        npr = summarize(cpu[k], wall[k], T_np[k])
        per_rep = np.array(cpu[k]) / np.array(cpu["numba"])
        ratio = npr["median_us"] / nb["median_us"]
        ratio_min = npr["min_us"] / nb["min_us"]
        ratio_wall = npr["wall_median_us"] / nb["wall_median_us"]
        say(f"numpy reference ({k:7s})  {fmt(npr)} -> {1e6 / npr['median_us']:,.0f} "
            f"interactions/s")
        say(f"    ratio numpy/numba = {ratio:.1f}x (CPU medians; min/min {ratio_min:.1f}x; wall "
            f"medians {ratio_wall:.1f}x; per interleaved repeat {np.round(per_rep, 1).tolist()})")
        out[f"numpy_{k}"] = npr
        out[f"ratio_{k}"] = ratio
        out[f"ratio_{k}_min"] = ratio_min
        out[f"ratio_{k}_wall"] = ratio_wall
        out[f"ratio_{k}_per_repeat"] = per_rep.tolist()
    say(f"1-min load average at each repeat: {np.round(loads, 2).tolist()}")
    say(f"target >= 20x: {'met' if out['ratio_loop'] >= 20 else 'NOT met'} against the loop "
        f"form, {'met' if out['ratio_batched'] >= 20 else 'NOT met'} against the batched form")
    return obj, out


def section_correctness(P, obj):
    say("\n== 2. Same process? (reference configuration) ==")
    T, R, seed = P.T_check, P.R_check, 7
    cfg = process_config(T)
    # (a) same random stream: same trajectory up to rounding
    sim = simulate(obj, cfg, replicas=1, seed=seed, threads=1, keep_state=True)
    rng, _ = replica_generators(seed, 1, 0)
    same = run_pairwise_numpy(obj, cfg, rng, sampler="kernel", directions="batched")
    x_nb = sim.state["X"][0]
    diff = float(np.max(np.abs(same.X - x_nb)))
    moved = float(np.max(np.abs(x_nb - obj.random_point(0))))
    say(f"(a) same stream, T={T}: max |X_numpy - X_numba| = {diff:.2e}  (models moved by up to "
        f"{moved:.2e}; a single differing random choice would show at that scale)")
    # (b) independent replicas, the timed NumPy form: compare mean log gap at T
    sims = simulate(obj, cfg, replicas=R, seed=seed + 1, threads=1)
    f_star = sims.info["f_star"]
    lg_nb = np.log(sims.metrics["gap"][:, -1])
    lg_np = np.array([
        math.log(run_pairwise_numpy(obj, cfg, kernel_generator(s), directions="batched")
                 .f_mu[-1] - f_star)
        for s in np.random.SeedSequence(seed + 2).spawn(R)
    ])
    t = stats.ttest_ind(lg_nb, lg_np, equal_var=False)
    ci = t.confidence_interval(0.95)
    gap0 = float(sims.metrics["gap"][0, 0])
    say(f"(b) {R} + {R} independent replicas, T={T}, gap at t=0 {gap0:.3g}: mean log gap "
        f"numba {lg_nb.mean():.4f} (sd {lg_nb.std(ddof=1):.3f}), numpy {lg_np.mean():.4f} "
        f"(sd {lg_np.std(ddof=1):.3f}); difference 95% CI [{ci.low:+.4f}, {ci.high:+.4f}], "
        f"Welch p = {t.pvalue:.3f}")
    return {"same_stream_max_abs_diff": diff, "same_stream_moved": moved, "T": T, "R": R,
            "mean_log_gap_numba": float(lg_nb.mean()), "mean_log_gap_numpy": float(lg_np.mean()),
            "diff_ci95": [float(ci.low), float(ci.high)], "welch_p": float(t.pvalue),
            "gap_t0": gap0}


def section_d(P):
    say("\n== 3a. Scaling over d (isotropic least squares, N=768 samples, rv=8, b=16) ==")
    rows = []
    for d in P.ds:
        t0 = time.perf_counter()
        obj = isotropic_least_squares(d, REF["n0"], REF["n1"], 768)
        build = time.perf_counter() - t0
        cfg = lambda T, d=d: process_config(T, d=d)  # noqa: E731
        nb = time_numba(obj, cfg, P.target_numba, P.rep_numba)
        row = {"d": d, "build_s": build, "numba": nb}
        line = f"d={d:6d}  numba {fmt(nb)}"
        for dirs in ("loop", "batched"):
            npr = time_numpy(obj, cfg, P.target_numpy, P.rep_numpy, dirs)
            row[f"numpy_{dirs}"] = npr
            row[f"ratio_{dirs}"] = npr["median_us"] / nb["median_us"]
            line += f" | numpy {dirs} {npr['median_us']:9.1f} us ({row[f'ratio_{dirs}']:.1f}x)"
        say(line)
        rows.append(row)
    return rows


def section_rv(P):
    say("\n== 3b. Scaling over rv (reference configuration otherwise) ==")
    obj = reference_objective()
    rows = []
    for rv in P.rvs:
        cfg = lambda T, rv=rv: process_config(T, rv=rv)  # noqa: E731
        nb = time_numba(obj, cfg, P.target_numba, P.rep_numba)
        row = {"rv": rv, "numba": nb}
        line = f"rv={rv:3d}  numba {fmt(nb)}"
        for dirs in ("loop", "batched"):
            npr = time_numpy(obj, cfg, P.target_numpy, P.rep_numpy, dirs)
            row[f"numpy_{dirs}"] = npr
            row[f"ratio_{dirs}"] = npr["median_us"] / nb["median_us"]
            line += f" | numpy {dirs} {npr['median_us']:8.1f} us ({row[f'ratio_{dirs}']:.1f}x)"
        say(line)
        rows.append(row)
    return rows


def section_linearity(P):
    say("\n== 3c. Cost linearity in T * d * rv (numba, 1 thread) ==")
    pts = []
    for d in P.lin_ds:
        obj = isotropic_least_squares(d, REF["n0"], REF["n1"], 768)
        for rv in P.lin_rvs:
            cfg = lambda T, d=d, rv=rv: process_config(T, d=d, rv=rv)  # noqa: E731
            nb = time_numba(obj, cfg, P.target_numba, P.rep_numba)
            pts.append((d, rv, nb["min_us"], nb["median_us"]))
    d = np.array([p[0] for p in pts], float)
    rv = np.array([p[1] for p in pts], float)
    y = np.array([p[2] for p in pts])  # min over repeats: the least disturbed estimate
    # model: per interaction a constant (pair, minibatch draws, step), a part per dimension (FO
    # gradient, ZO base value, step and average), a part per direction independent of d (the
    # b per-sample calls of each probe loss) and the bulk, per dimension per direction (rv
    # probe points, rv losses of b samples, rv d Gaussian draws)
    M = np.column_stack([np.ones_like(d), d, rv, d * rv])
    # relative least squares: every point weighs the same whatever its size
    coef, *_ = np.linalg.lstsq(M / y[:, None], np.ones_like(y), rcond=None)
    rel = (y - M @ coef) / y
    say("CPU time per interaction ~ c0 + c1 d + c2 rv + c3 d rv  (fit on the minimum of repeats):")
    say(f"  c0 = {coef[0]:.3g} us, c1 = {coef[1] * 1e3:.3g} ns per dim, c2 = {coef[2] * 1e3:.3g} "
        f"ns per direction, c3 = {coef[3] * 1e3:.3g} ns per dim per direction")
    for p, r in zip(pts, rel, strict=True):
        share = coef[3] * p[0] * p[1] / p[2]
        say(f"  d={p[0]:5d} rv={p[1]:3d}: {p[2]:10.1f} us   fit residual {100 * r:+.1f}%   "
            f"share of the d*rv term {100 * share:.0f}%")
    say(f"  max |relative residual| = {100 * np.max(np.abs(rel)):.1f}%")
    # linearity in T at the reference configuration
    obj = reference_objective()
    simulate(obj, process_config(20), threads=1)
    Ts, secs = [], []
    for T in P.Ts:
        best = math.inf
        for _ in range(P.rep_numba):
            _, _, c = measure(lambda T=T: simulate(obj, process_config(T), threads=1))
            best = min(best, c)
        Ts.append(T)
        secs.append(best)
        say(f"  T={T:7d}: {best:.3f} s CPU ({best / T * 1e6:.1f} us per interaction)")
    slope = float(np.polyfit(np.log(Ts), np.log(secs), 1)[0])
    per_T, fixed = np.polyfit(Ts, secs, 1)
    say(f"  straight-line fit: CPU time = {fixed * 1e3:.2f} ms per call + {per_T * 1e6:.2f} us "
        f"x T; log-log slope {slope:.3f} (1 = linear)")
    return {"points": pts, "coef_us": coef.tolist(), "rel_residuals": rel.tolist(),
            "T_points": list(zip(Ts, secs, strict=True)), "T_slope": slope,
            "T_fit_per_call_s": float(fixed), "T_fit_per_interaction_s": float(per_T)}


def section_threads(P):
    say("\n== 4. Replicas on 1 vs 2 threads (reference configuration) ==")
    obj = reference_objective()
    R = P.R_threads
    simulate(obj, process_config(20), replicas=2, threads=2)
    _, _, c = measure(lambda: simulate(obj, process_config(500), threads=1))
    T = int(max(500, P.target_threads / (max(c, 1e-6) / 500)))
    walls = {1: [], 2: []}
    cpus = {1: [], 2: []}
    load0 = os.getloadavg()[0]
    for _ in range(P.rep_threads):
        for k in (1, 2):
            _, w, c = measure(lambda k=k: simulate(obj, process_config(T), replicas=R,
                                                   threads=k, seed=1))
            walls[k].append(w)
            cpus[k].append(c)
    load1 = os.getloadavg()[0]
    gil = _gil_check(obj, T)
    say(f"  GIL: a pure-Python counter thread ran at {100 * gil:.0f}% of its solo rate while "
        f"simulate ran beside it (0% would mean the kernel holds the GIL; full release gives "
        f"~100% with a free second core, ~50% when both share one core)")
    w1, w2 = min(walls[1]), min(walls[2])
    med = float(np.median(walls[1]) / np.median(walls[2]))
    # cores actually obtained = CPU seconds / wall seconds; CPU per interaction shows whether
    # the threads slow each other down (serialisation, shared-cache contention)
    cores = {k: float(np.median(np.array(cpus[k]) / np.array(walls[k]))) for k in (1, 2)}
    cpu_per = {k: float(np.median(cpus[k]) / (R * T) * 1e6) for k in (1, 2)}
    say(f"R={R} replicas x T={T}: wall 1 thread {w1:.2f} s, 2 threads {w2:.2f} s (min of "
        f"{P.rep_threads}); speedup {w1 / w2:.2f}x (median/median {med:.2f}x); target ~2x")
    say(f"  cores obtained (CPU s / wall s): 1 thread {cores[1]:.2f}, 2 threads {cores[2]:.2f}; "
        f"CPU per interaction: 1 thread {cpu_per[1]:.1f} us, 2 threads {cpu_per[2]:.1f} us "
        f"(ratio {cpu_per[2] / cpu_per[1]:.2f}; 1.00 = no slowdown from running side by side)")
    say(f"  all walls: 1 thread {np.round(walls[1], 2).tolist()}, 2 threads "
        f"{np.round(walls[2], 2).tolist()}; 1-min load average {load0:.2f} -> {load1:.2f}")
    if cores[2] < 1.6:
        say("  NOTE: the second core was not available to this process (other sessions were "
            "running; Linux shares CPU between sessions, not threads), so the wall speedup "
            "cannot reach 2x here. What can be read off: the CPU cost per interaction with two "
            f"threads side by side is {cpu_per[2] / cpu_per[1]:.2f}x that with one, so on two "
            f"free cores the speedup would be about 2 / {cpu_per[2] / cpu_per[1]:.2f} "
            f"= {min(2.0, 2 * cpu_per[1] / cpu_per[2]):.2f}x (capped at 2)")
    return {"R": R, "T": T, "walls": walls, "cpus": cpus, "speedup_min": w1 / w2,
            "speedup_median": med, "cores_obtained": cores, "cpu_us_per_interaction": cpu_per,
            "loadavg_1min": [load0, load1], "gil_counter_rate": gil}


def _gil_check(obj, T):
    """Rate of a pure-Python counting thread beside ``simulate``, relative to running alone."""
    import threading

    def count(stop, box):
        k = 0
        while not stop.is_set():
            k += 1
        box.append(k)

    def rate(during):
        stop, box = threading.Event(), []
        th = threading.Thread(target=count, args=(stop, box))
        t0 = time.perf_counter()
        th.start()
        during()
        stop.set()
        th.join()
        return box[0] / (time.perf_counter() - t0)

    solo = rate(lambda: time.sleep(0.5))
    beside = rate(lambda: simulate(obj, process_config(T), threads=1))
    return beside / solo


_MEMORY_CHILD = r"""
import json, os, sys, time, tracemalloc
import numpy as np
from numba.core.runtime import rtsys
sys.path.insert(0, sys.argv[1])
from bench_process import process_config, with_known_optimum
from hdo_theory.objectives import make_objective
from hdo_theory.process import simulate

def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB

obj = with_known_optimum(make_objective("least-squares", d=int(sys.argv[2]), n0=48, n1=16))
cfg = lambda T: process_config(T, d=obj.d, record="log")
simulate(obj, cfg(100), threads=1)
rows = []
for T in json.loads(sys.argv[3]):
    a = rtsys.get_allocation_stats()
    rss0 = status("VmRSS")
    tracemalloc.start()
    t0 = time.perf_counter()
    simulate(obj, cfg(T), threads=1)
    wall = time.perf_counter() - t0
    cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    b = rtsys.get_allocation_stats()
    rows.append(dict(T=T, nrt_allocs=b.alloc - a.alloc, nrt_frees=b.free - a.free,
                     tracemalloc_peak_kB=peak / 1024, rss_before_kB=rss0,
                     rss_after_kB=status("VmRSS"), hwm_kB=status("VmHWM"), wall_s=wall))
print(json.dumps(rows))
"""


def section_memory(P):
    say("\n== 5. Memory with growing T (subprocess, NUMBA_NRT_STATS=1, record='log') ==")
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    d = REF["d"]
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, str(HERE), str(d), json.dumps(P.mem_Ts)],
        env=env, capture_output=True, text=True, check=True,
    )
    rows = json.loads(out.stdout.strip().splitlines()[-1])
    for r in rows:
        say(f"T={r['T']:8d}: NRT allocations {r['nrt_allocs']:9d} "
            f"({r['nrt_allocs'] / r['T']:.2f} per interaction, all freed: "
            f"{r['nrt_allocs'] == r['nrt_frees']}); "
            f"tracemalloc peak {r['tracemalloc_peak_kB']:.0f} kB; "
            f"RSS {r['rss_before_kB']} -> {r['rss_after_kB']} kB (high-water {r['hwm_kB']} kB)")
    per = [r["nrt_allocs"] / r["T"] for r in rows]
    growth = rows[-1]["rss_after_kB"] - rows[-1]["rss_before_kB"]
    say(f"  RSS growth over the largest run: {growth} kB; "
        f"NRT allocations per interaction: {per[-1]:.2f} (a per-interaction allocation "
        f"that is freed again: churn, not growth)")
    return rows


_COMPILE_CHILD = r"""
import time, sys
t0 = time.perf_counter()
from hdo_theory.objectives import make_objective
from hdo_theory.estimators import EstimatorSpec
from hdo_theory.process import PopulationConfig, ProcessConfig, simulate
t_import = time.perf_counter() - t0
obj = make_objective("least-squares", d=10, n0=4, n1=4, seed=0)
obj.constants
cfg = ProcessConfig(model="pairwise", T=10, zo=PopulationConfig(EstimatorSpec("zo-forward", rv=2,
      batch=2), lr=1e-3), fo=PopulationConfig(EstimatorSpec("fo", batch=2), lr=1e-2),
      record=10, record_nodes=False, record_y=False)
t0 = time.perf_counter(); simulate(obj, cfg, threads=1); first = time.perf_counter() - t0
t0 = time.perf_counter(); simulate(obj, cfg, threads=1); second = time.perf_counter() - t0
print(t_import, first, second)
"""


def section_compile(P):
    say("\n== 6. Numba compile time (excluded from every timing above) ==")
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, cache in (("fresh cache (compile)", tmp), ("warm cache (load)", tmp)):
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", _COMPILE_CHILD], env=env,
                                 capture_output=True, text=True, check=True)
            total = time.perf_counter() - t0
            t_imp, first, second = map(float, out.stdout.split())
            say(f"{label:22s}: first simulate call {first:6.2f} s (a warm call: {second * 1e3:.1f} "
                f"ms); import {t_imp:.2f} s; whole subprocess {total:.1f} s")
            res[label] = {"import_s": t_imp, "first_call_s": first, "warm_call_s": second}
    return res


def section_breakdown(P):
    """Where one interaction's time goes at the reference configuration (component kernels)."""
    say("\n== 7. Where the time goes (reference configuration, per call, CPU time) ==")
    from hdo_theory.estimators import EST_FO, EST_ZO_FORWARD, direction_buffer, estimate
    from hdo_theory.objectives.kernels import batch_loss, draw_batch
    from hdo_theory.rng import bounded_index, standard_normals

    rv_ref, nu_ref = REF["rv"], REF["nu"]

    @numba.njit(nogil=True)
    def zo_estimates(obj, batch, x, rng, out, U, xt, reps):
        for _ in range(reps):
            estimate(obj, EST_ZO_FORWARD, rv_ref, nu_ref, batch, x, rng, out, U, xt)

    @numba.njit(nogil=True)
    def fo_estimates(obj, batch, x, rng, out, U, xt, reps):
        for _ in range(reps):
            estimate(obj, EST_FO, 1, nu_ref, batch, x, rng, out, U, xt)

    @numba.njit(nogil=True)
    def normals_kernel(rng, u, rv, reps):
        for _ in range(reps):
            for _r in range(rv):
                standard_normals(rng, u)

    @numba.njit(nogil=True)
    def normals_per_call(rng, u, rv, reps):
        for _ in range(reps):
            for _r in range(rv):
                for k in range(u.shape[0]):
                    u[k] = rng.standard_normal()

    @numba.njit(nogil=True)
    def losses(obj, batch, x, count, reps):
        s = 0.0
        for _ in range(reps):
            for _c in range(count):
                s += batch_loss(obj, batch, x)
        return s

    @numba.njit(nogil=True)
    def batches(rng, perm, m, b, reps):
        for _ in range(reps):
            draw_batch(rng, perm, 0, m, b)

    @numba.njit(nogil=True)
    def ints_generator(rng, m, reps):
        s = 0
        for _ in range(reps):
            s += rng.integers(0, m)
        return s

    @numba.njit(nogil=True)
    def ints_bounded_index(rng, m, reps):
        s = 0
        for _ in range(reps):
            s += bounded_index(rng, m)
        return s

    obj = reference_objective()
    d, b, rv = REF["d"], REF["batch"], REF["rv"]
    rng = numpy_rng(0)  # SFC64Generator, as in simulate
    rng_sfc_plain = np.random.Generator(np.random.SFC64(0))  # same bits, Numba's generic path
    rng_pcg = np.random.default_rng(0)
    x = obj.random_point(0)
    out, U, u, xt = np.zeros(d), direction_buffer(d), np.zeros(d), np.zeros(d)
    batch = obj.shard(0)[:b].copy()
    perm = obj.shard_idx.copy()
    shard = obj.shard(REF["n0"])
    items = {
        "numba: one ZO estimate (rv=8, b=16)": lambda r: zo_estimates(obj.data, batch, x, rng,
                                                                      out, U, xt, r),
        "numba:   its rv*d = 800 Gaussian draws": lambda r: normals_kernel(rng, u, rv, r),
        "numba:   its rv+1 = 9 minibatch losses (unblocked)": lambda r: losses(
            obj.data, batch, x, rv + 1, r),
        "numba: 800 normals, rng.standard_normal() SFC64": lambda r: normals_per_call(
            rng_sfc_plain, u, rv, r),
        "numba: 800 normals, rng.standard_normal() PCG64": lambda r: normals_per_call(
            rng_pcg, u, rv, r),
        "numba: one FO estimate (b=16)": lambda r: fo_estimates(obj.data, batch, x, rng, out, U,
                                                                xt, r),
        "numba: one minibatch draw (16 of 48)": lambda r: batches(rng, perm, 48, b, r),
        "numba: rng.integers(0, 48), per call": lambda r: ints_generator(rng, 48, r),
        "numba: bounded_index(rng, 48), per call": lambda r: ints_bounded_index(rng, 48, r),
        "numpy: rng.standard_normal((8, 100)) SFC64": lambda r: [rng.standard_normal((rv, d))
                                                                 for _ in range(r)],
        "numpy: rng.standard_normal((8, 100)) PCG64": lambda r: [
            rng_pcg.standard_normal((rv, d)) for _ in range(r)],
        "numpy: rng.choice(shard, 16, replace=False)": lambda r: [
            rng.choice(shard, b, replace=False) for _ in range(r)],
    }
    res = {}
    for name, fn in items.items():
        fn(2)
        best = math.inf
        for _ in range(7):
            _, _, c = measure(lambda fn=fn: fn(2000))
            best = min(best, c / 2000 * 1e6)
        res[name] = best
        say(f"  {name:52s} {best:8.3f} us")
    zo = res["numba: one ZO estimate (rv=8, b=16)"]
    fo = res["numba: one FO estimate (b=16)"]
    bt = res["numba: one minibatch draw (16 of 48)"]
    n0, n = REF["n0"], REF["n0"] + REF["n1"]
    expect = 2 * (n0 / n) * zo + 2 * (1 - n0 / n) * fo + 2 * bt
    share = 2 * (n0 / n) * res["numba:   its rv*d = 800 Gaussian draws"] / expect
    say(f"  expected per interaction from these: 2 (n0/n) ZO + 2 (n1/n) FO + 2 minibatch draws = "
        f"{expect:.1f} us, of which Gaussian draws {100 * share:.0f}% (hot caches: the process "
        f"also reads a new node's rows and model each time)")
    res["expected_per_interaction_us"] = expect
    res["gaussian_share"] = share
    return res


# ---------------------------------------------------------------------------------------------
# Issue 14: the data-size axis and the hardware floor
# ---------------------------------------------------------------------------------------------

SIZES_FULL = (3_072, 49_152, 196_608)


@numba.njit(nogil=True, fastmath={"reassoc", "contract", "nsz"})
def _stream_sum(a, reps):
    s = 0.0
    for _ in range(reps):
        for k in range(a.shape[0]):
            s += a[k]
    return s


@numba.njit(nogil=True, fastmath={"reassoc", "contract", "nsz"})
def _random_rows(A, y, rows):
    """Read ``A[j]`` and ``y[j]`` for each listed row (indices known in advance, so the CPU may
    overlap the loads: the best a minibatch pass can do)."""
    s = 0.0
    for t in range(rows.shape[0]):
        j = rows[t]
        z = y[j]
        for k in range(A.shape[1]):
            z += A[j, k]
        s += z
    return s


@numba.njit(nogil=True, fastmath={"reassoc", "contract", "nsz"})
def _fma_rate(x, u, reps):
    """``reps * 8 * len(x)`` multiply-adds on L1-resident vectors: 8 independent dot products
    per pass (the shape of the ZO block: one row against several directions)."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    d = x.shape[0]
    for _ in range(reps):
        for k in range(d):
            a = x[k]
            s0 += a * u[0, k]
            s1 += a * u[1, k]
            s2 += a * u[2, k]
            s3 += a * u[3, k]
            s4 += a * u[4, k]
            s5 += a * u[5, k]
            s6 += a * u[6, k]
            s7 += a * u[7, k]
        x[0] += 1e-300 * (s0 + s1)  # keeps the passes from being folded together
    return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7


def _best_of(fn, k=5):
    best = math.inf
    for _ in range(k):
        _, _, c = measure(fn)
        best = min(best, c)
    return best


def section_floor(P):
    """What the machine can do: normals (NumPy's own generator), memory, multiply-adds."""
    say("\n== F. The floor: what this machine can do (one core, CPU time, best of 5) ==")
    res = {"loadavg_1min": os.getloadavg()[0]}
    n_norm = 2_000_000 if P.quick else 8_000_000
    buf = np.empty(n_norm)
    for name, gen in (("SFC64", np.random.Generator(np.random.SFC64(0))),
                      ("PCG64", np.random.default_rng(0))):
        gen.standard_normal(out=buf[:1000])
        c = _best_of(lambda gen=gen: gen.standard_normal(out=buf))
        res[f"ns_per_normal_numpy_{name}"] = c / n_norm * 1e9
        say(f"  NumPy Generator({name}).standard_normal(out=...), bulk: "
            f"{res[f'ns_per_normal_numpy_{name}']:.2f} ns per draw")
    res["ns_per_normal"] = res["ns_per_normal_numpy_SFC64"]  # the yardstick (simulate's bits)
    big = np.ones((256 if P.quick else 512) * 2**20 // 8)
    _stream_sum(big[:1000], 1)
    c = _best_of(lambda big=big: _stream_sum(big, 1), 3)
    res["stream_GBps"] = big.nbytes / c / 1e9
    say(f"  streaming read ({big.nbytes / 2**20:.0f} MiB): {res['stream_GBps']:.1f} GB/s")
    del big
    d = REF["d"]
    x = np.random.default_rng(1).standard_normal(d)
    u = np.random.default_rng(2).standard_normal((8, d))
    reps = 200_000 if P.quick else 1_000_000
    _fma_rate(x, u, 2)
    c = _best_of(lambda: _fma_rate(x, u, reps))
    res["gfma_per_s"] = reps * 8 * d / c / 1e9
    say(f"  multiply-adds (8 dot products of length {d}, L1-resident): "
        f"{res['gfma_per_s']:.2f} G FMA/s")
    rng = np.random.default_rng(3)
    res["ns_per_random_row"] = {}
    for N in P.sizes:
        A = rng.standard_normal((2 * N, d))  # two copies' worth, as the process's data
        yv = rng.standard_normal(2 * N)
        rows = rng.integers(0, 2 * N, 400_000 if P.quick else 2_000_000)
        _random_rows(A, yv, rows[:100])
        c = _best_of(lambda A=A, yv=yv, rows=rows: _random_rows(A, yv, rows), 3)
        ns = c / rows.shape[0] * 1e9
        res["ns_per_random_row"][str(N)] = ns
        say(f"  random rows of {d} doubles from a {2 * N} x {d} matrix "
            f"({A.nbytes / 2**20:.0f} MiB): {ns:.1f} ns per row "
            f"({(d + 1) * 8 / ns:.2f} GB/s)")
    return res


def interaction_work(d=REF["d"], n0=REF["n0"], n1=REF["n1"], rv=REF["rv"], b=REF["batch"]):
    """Least work of one pairwise interaction of the benchmark configuration (expected over the
    pair): Gaussian draws, multiply-adds and minibatch rows read.

    ZO node: ``rv d`` normals; margins and projections ``(rv + 1) b d`` multiply-adds (each row
    against ``x`` and the ``rv`` directions), the estimate ``rv d``; FO node: ``2 b d`` (margins
    and the gradient sum); both: step and average ``3 d``. ``b`` rows of ``d + 1`` doubles per
    node. Two nodes per interaction, ZO with probability ``n0 / n``.
    """
    pz = n0 / (n0 + n1)
    zo_fma = (rv + 1) * b * d + rv * d
    fo_fma = 2 * b * d
    return {"normals": 2 * pz * rv * d, "fma": 2 * (pz * zo_fma + (1 - pz) * fo_fma) + 6 * d,
            "rows": 2 * b}


def floor_us(floor, N, work=None):
    """``(floor, compute, memory, parts)`` in microseconds per interaction at data size ``N``:
    compute = normals at NumPy's own rate + multiply-adds at the measured rate; memory = the
    minibatch rows at the measured random-row time for that size."""
    w = interaction_work() if work is None else work
    gauss = w["normals"] * floor["ns_per_normal"] * 1e-3
    fma = w["fma"] / floor["gfma_per_s"] * 1e-3
    mem = w["rows"] * floor["ns_per_random_row"][str(N)] * 1e-3
    return max(gauss + fma, mem), gauss + fma, mem, {"gauss_us": gauss, "fma_us": fma,
                                                      "rows_us": mem}


def _size_row(P, floor, N):
    """One data size of :func:`section_sizes` (a function, so no lambda binds a loop variable)."""
    obj = isotropic_least_squares(REF["d"], REF["n0"], REF["n1"], N)
    cfg = lambda T: process_config(T)  # noqa: E731
    rec20 = lambda T: dataclasses_replace(  # noqa: E731
        process_config(T, record=max(1, T // 20)), record_nodes=True)
    # T large enough that the two fixed records (step 0 and T: f, grad f over all N samples,
    # about 0.1 s at N = 196,608) are a small part of a call; their cost is reported apart
    T_nb = max(P.T_min_sizes, _calibrate_numba(obj, cfg, P.target_numba))
    T_np = {k: max(P.T_min_sizes // 20, _calibrate_numpy(obj, cfg, P.target_numpy, k))
            for k in ("loop", "batched")}
    simulate(obj, rec20(40), threads=1)
    fixed = float(np.median([measure(lambda: simulate(obj, cfg(1), threads=1))[2]
                             for _ in range(3)]))
    cpu = {"numba": [], "loop": [], "batched": [], "record_nodes": []}
    loads = []
    for r in range(P.rep_sizes):
        loads.append(os.getloadavg()[0])
        res, _, c = measure(lambda r=r: simulate(obj, cfg(T_nb), threads=1, seed=r))
        if np.any(res.diverged_at >= 0):
            raise RuntimeError("a replica diverged: the timing would be meaningless")
        cpu["numba"].append(c / T_nb * 1e6)
        _, _, c = measure(lambda r=r: simulate(obj, rec20(T_nb), threads=1, seed=r))
        cpu["record_nodes"].append(c / T_nb * 1e6)
        for k in ("loop", "batched"):
            _, _, c = measure(lambda r=r, k=k: run_pairwise_numpy(
                obj, cfg(T_np[k]), numpy_rng(100 + r), directions=k))
            cpu[k].append(c / T_np[k] * 1e6)
    med = {k: float(np.median(v)) for k, v in cpu.items()}
    fl, comp, mem, parts = floor_us(floor, N)
    row = {"N": N, "feature_MiB": obj.data[2].nbytes / 2**20, "T_numba": T_nb,
           "T_numpy": T_np, "cpu_us": cpu, "median_us": med,
           "ratio_loop": med["loop"] / med["numba"],
           "ratio_batched": med["batched"] / med["numba"],
           "ratio_loop_per_repeat": (np.array(cpu["loop"]) / cpu["numba"]).tolist(),
           "floor_us": fl, "compute_us": comp, "memory_us": mem, "floor_parts_us": parts,
           "multiple_of_floor": med["numba"] / fl,
           "fixed_record_cost_s": fixed,
           "numba_net_us": med["numba"] - fixed / T_nb * 1e6,
           "multiple_of_floor_net": (med["numba"] - fixed / T_nb * 1e6) / fl,
           "record_nodes_share": 1.0 - med["numba"] / med["record_nodes"],
           "loadavg_1min": loads}
    say(f"  N={N:7d} ({row['feature_MiB']:.0f} MiB of features): numba {med['numba']:.2f} us,"
        f" numpy loop {med['loop']:.1f} us ({row['ratio_loop']:.1f}x), batched "
        f"{med['batched']:.1f} us ({row['ratio_batched']:.1f}x); per repeat (loop) "
        f"{np.round(row['ratio_loop_per_repeat'], 1).tolist()}")
    say(f"      floor {fl:.2f} us = max(compute {comp:.2f} [normals {parts['gauss_us']:.2f} + "
        f"FMA {parts['fma_us']:.2f}], memory {mem:.2f} [{interaction_work()['rows']} rows]) "
        f"-> numba at {row['multiple_of_floor']:.2f}x the floor (T={T_nb}; without the "
        f"two fixed records, {fixed * 1e3:.0f} ms a call: {row['numba_net_us']:.2f} us, "
        f"{row['multiple_of_floor_net']:.2f}x)")
    say(f"      default recording (record_nodes, 20 records): {med['record_nodes']:.2f} us, "
        f"i.e. {100 * row['record_nodes_share']:.0f}% of the run time; load "
        f"{np.round(loads, 2).tolist()}")
    return row


def section_sizes(P, floor):
    """Issue 14, section 1: the reference configuration at growing data sizes, same-run ratios
    against both NumPy forms, and each time as a multiple of its floor; plus the cost of the
    default node-loss recording."""
    say("\n== S. Data-size axis: reference configuration at N samples (isotropic least squares,"
        " d=100, n=64) ==")
    out = {}
    for N in P.sizes:
        out[str(N)] = _size_row(P, floor, N)
    for N, row in out.items():
        ok = "met" if row["ratio_loop"] >= 20 else "NOT met"
        fok = "met" if row["multiple_of_floor"] <= 2 else "NOT met"
        say(f"  N={N}: {row['ratio_loop']:.1f}x the loop (target 20x: {ok}); "
            f"{row['multiple_of_floor']:.2f}x the floor (target 2x at N >= 49152: {fok})")
    return out


def dataclasses_replace(obj, **kw):
    import dataclasses

    return dataclasses.replace(obj, **kw)


def machine_info():
    info = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "cpu": _cpu_model(),
        "nproc": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "env": {k: os.environ.get(k) for k in (
            "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
            "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
    }
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [{k: p.get(k) for k in ("internal_api", "version", "architecture",
                                                "num_threads")} for p in threadpool_info()]
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    return info


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


class Params:
    def __init__(self, quick: bool):
        self.quick = quick
        self.target_numba = 0.3 if quick else 1.0  # seconds per timed call
        self.target_numpy = 0.4 if quick else 1.5
        self.rep_numba = 3 if quick else 5
        self.rep_numpy = 2 if quick else 3
        self.rep_ref = 3 if quick else 7
        self.T_check = 1000 if quick else 3000
        self.R_check = 6 if quick else 12
        self.ds = (10, 100, 1000) if quick else (10, 100, 1000, 10000)
        self.rvs = (1, 4, 16) if quick else (1, 2, 4, 8, 16, 32)
        self.lin_ds = (10, 100, 1000)
        self.lin_rvs = (1, 4, 16)
        self.Ts = (1000, 4000, 16000) if quick else (2000, 8000, 32000)
        self.R_threads = 2 if quick else 4
        self.target_threads = 0.5 if quick else 1.5  # seconds per replica
        self.rep_threads = 2 if quick else 3
        self.mem_Ts = [1000, 10000] if quick else [1000, 10000, 100000]
        self.sizes = SIZES_FULL  # issue 14: the data-size axis, the same in both modes
        self.rep_sizes = 3 if quick else 5
        self.T_min_sizes = 20_000 if quick else 50_000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller T, fewer repeats and sizes")
    ap.add_argument("--json", type=Path, help="also write every measured number to this file")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip "
                    "(floor,sizes,reference,correctness,d,rv,linearity,threads,memory,breakdown,compile;"
                    " sizes needs floor)")
    args = ap.parse_args(argv)
    P = Params(args.quick)
    skip = set(filter(None, args.skip.split(",")))
    t_start = time.perf_counter()
    report = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "quick": args.quick,
              "machine": machine_info()}
    say(f"bench_process ({'quick' if args.quick else 'full'}): {json.dumps(report['machine'])}")
    obj = None
    if "floor" not in skip:
        report["floor"] = section_floor(P)
        if "sizes" not in skip:
            report["sizes"] = section_sizes(P, report["floor"])
    if "reference" not in skip:
        obj, report["reference"] = section_reference(P)
    if "correctness" not in skip:
        if obj is None:
            obj = reference_objective()
        report["correctness"] = section_correctness(P, obj)
    for name, fn in (("d", section_d), ("rv", section_rv), ("linearity", section_linearity),
                     ("threads", section_threads), ("memory", section_memory),
                     ("breakdown", section_breakdown)):
        if name not in skip:
            report[name] = fn(P)
    if "compile" not in skip and not args.quick:
        report["compile"] = section_compile(P)
    report["loadavg_end"] = os.getloadavg()
    report["total_s"] = time.perf_counter() - t_start
    say(f"\nload average start {report['machine']['loadavg_start']}, end {report['loadavg_end']};"
        f" total {report['total_s']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=_jsonable))
    return 0


def _jsonable(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    return str(o)


if __name__ == "__main__":
    raise SystemExit(main())
