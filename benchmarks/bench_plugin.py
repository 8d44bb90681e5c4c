"""Benchmark of estimator plugins (issue 11): a user-registered copy of ``zo-forward`` against the
built-in in ``simulate``, and the compile time a new plugin costs.

Run from the repository root::

    .venv/bin/python benchmarks/bench_plugin.py --quick   # ~1-3 min on a quiet machine
    .venv/bin/python benchmarks/bench_plugin.py           # also the compile times (subprocesses)
    .venv/bin/python benchmarks/bench_plugin.py --compile-only   # only the compile times

1. Throughput at the reference configuration of benchmarks/bench_process.py (least squares,
   ``d = 100``, 48 ZO nodes with forward differences ``rv = 8``, batch 16, 16 FO nodes), one
   replica, one thread, after warm-up: on-CPU microseconds per interaction (median and minimum
   over repeats) of the built-in ``zo-forward``, of the plugin ``bench-zo-forward`` (one
   minibatch pass per function value) and of ``bench-zo-forward-block`` (the public block API
   ``batch_losses_along``: one pass per block of 4 directions on GLMs, as the built-in's fast
   path), all in benchmarks/plugin_copies.py, and their ratios to the built-in in the same run
   (target: plugin <= 1.3x built-in). The same on the quadratic (``d = 100``, no GLM fast path
   in the built-in), which isolates the cost of the plugin route itself.
2. Compile time (full run only): a fresh process with an empty cache directory (cold) and a
   second process with the same cache (cached), each timing its first ``simulate`` call with
   the plugin (wall and CPU seconds). The plugin rides in the objective data as a reference
   typed by its signature (hdo_theory.objectives.kernels.NativeFunction), so ``run_chunk`` and
   the statistics kernels compiled for it are cached on disk like the built-ins': the second
   process loads everything from the cache. (Before, the dispatcher itself rode in the data
   and its type, compared by identity, never hit the cache.) ``--compile-only`` runs just this
   section.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import plugin_copies  # noqa: E402, F401  (registers bench-zo-forward)
from bench_process import REF, process_config, reference_objective  # noqa: E402

from hdo_theory.estimators import EstimatorSpec  # noqa: E402
from hdo_theory.objectives import make_objective  # noqa: E402
from hdo_theory.process import PopulationConfig, simulate  # noqa: E402


def _with_estimator(cfg, kind):
    import dataclasses

    zo = cfg.zo
    spec = EstimatorSpec(kind, rv=zo.estimator.rv, nu=zo.estimator.nu, batch=zo.estimator.batch)
    return dataclasses.replace(cfg, zo=PopulationConfig(spec, lr=zo.lr))


def per_interaction(objective, kind, T, repeats):
    cfg = _with_estimator(process_config(T), kind)
    simulate(objective, _with_estimator(process_config(10), kind))  # warm-up (compile)
    cpu, wall = [], []
    for r in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        simulate(objective, cfg, seed=r)
        cpu.append((time.process_time() - c0) / T * 1e6)
        wall.append((time.perf_counter() - w0) / T * 1e6)
    return {"cpu_median_us": float(np.median(cpu)), "cpu_min_us": float(np.min(cpu)),
            "wall_median_us": float(np.median(wall)), "T": T, "repeats": repeats}


_KINDS = ("zo-forward", "bench-zo-forward", "bench-zo-forward-block")


def section_throughput(T, repeats):
    out = {}
    quad = make_objective("quadratic", d=REF["d"], n0=REF["n0"], n1=REF["n1"], seed=0)
    for label, objective in (("least-squares (reference)", reference_objective()),
                             ("quadratic d=100", quad)):
        objective.constants  # noqa: B018 - computed before timing
        row = {k: per_interaction(objective, k, T, repeats) for k in _KINDS}
        base = row["zo-forward"]
        for k in _KINDS[1:]:
            row[k]["ratio_cpu_median"] = row[k]["cpu_median_us"] / base["cpu_median_us"]
            row[k]["ratio_cpu_min"] = row[k]["cpu_min_us"] / base["cpu_min_us"]
            print(f"{label}: built-in {base['cpu_median_us']:.1f} us, {k} "
                  f"{row[k]['cpu_median_us']:.1f} us per interaction (CPU median); ratio "
                  f"{row[k]['ratio_cpu_median']:.2f} (min-based {row[k]['ratio_cpu_min']:.2f}; "
                  "target <= 1.3)", flush=True)
        out[label] = row
    return out


_COMPILE_SNIPPET = """
import sys, time
sys.path.insert(0, {here!r})
t0 = time.perf_counter()
c0 = time.process_time()
import plugin_copies
from bench_process import process_config
from hdo_theory.objectives import make_objective
from hdo_theory.process import simulate
from bench_plugin import _with_estimator
t1 = time.perf_counter()
obj = make_objective("least-squares", d=10, n0=4, n1=4, seed=0)
obj.constants
t2 = time.perf_counter()
c2 = time.process_time()
simulate(obj, _with_estimator(process_config(10, d=10), "bench-zo-forward"))
t3 = time.perf_counter()
c3 = time.process_time()
print(t1 - t0, t3 - t2, c3 - c2)
"""


def section_compile():
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold", "cached"):
            r = subprocess.run([sys.executable, "-c", _COMPILE_SNIPPET.format(here=str(HERE))],
                               env=env, capture_output=True, text=True, check=True)
            imp, first, first_cpu = (float(v) for v in r.stdout.split()[-3:])
            out[label] = {"import_and_register_s": imp, "first_simulate_s": first,
                          "first_simulate_cpu_s": first_cpu}
            print(f"compile ({label}): import + register {imp:.1f} s, first simulate with the "
                  f"plugin {first:.1f} s wall, {first_cpu:.1f} s CPU", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller T, fewer repeats, no compile")
    ap.add_argument("--compile-only", action="store_true", help="only the compile section")
    ap.add_argument("--json", default=None, help="also write every number to this file")
    a = ap.parse_args()
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on "
          f"{os.cpu_count()} cores", flush=True)
    res = {"load_start": load, "quick": a.quick}
    if not a.compile_only:
        res["throughput"] = section_throughput(2000 if a.quick else 20000, 3 if a.quick else 7)
    if not a.quick or a.compile_only:
        res["compile"] = section_compile()
    res["load_end"] = os.getloadavg()
    print(f"load average at end: {res['load_end'][0]:.2f}", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
