"""Benchmark of ``hdo-theory sweep``: cells per minute on the local pool and the Dask overhead.

Run from the repository root::

    .venv/bin/python benchmarks/bench_sweep.py                  # 200 tiny cells, 3 repeats
    .venv/bin/python benchmarks/bench_sweep.py --T 5000         # heavier cells (~40 ms each)
    .venv/bin/python benchmarks/bench_sweep.py --quick --json out.json

The grid: least squares, ``d = 3``, ``n = 4``, ``T`` interactions (default 50: a cell costs a
few milliseconds, so the sweep machinery itself is what is measured), 10 learning rates x 2
``rv`` x 10 seeds = 200 cells. For each executor:

* ``inline``: cells run in the driver process one after another (compute + the driver's writes;
  the floor for one worker);
* ``pool-1``, ``pool-2``: :class:`~hdo_theory.runs.sweep.LocalPoolExecutor` with 1 and 2 worker
  processes;
* ``dask-2``: a ``distributed.LocalCluster`` with 2 worker processes (one thread each), driven
  through :class:`~hdo_theory.runs.sweep.DaskExecutor`; results travel back to the driver, which
  writes the cell files (the default, right for any cluster);
* ``dask-2fs``: the same with ``shared_filesystem=True`` (``--shared-fs``): the workers write
  the cell files, like the local pool's workers do (both skipped without the ``dask`` extra).

Every executor is started once and warmed up (a throw-away sweep of ``4 x workers`` cells, so
every worker has imported the package and loaded the Numba cache); then the 200-cell sweep
is timed into a fresh folder, ``--repeats`` times; we report the minimum and the median wall
time and cells per minute. The start-up time of each executor (pool or cluster start plus the
warm-up sweep) is reported separately. The Dask overhead per cell is
``(wall(dask-2*) - wall(pool-2)) / cells``, in milliseconds of wall time, and the same per
worker-cell (times 2 workers), i.e. the extra busy time a worker slot spends per cell.

Timings are wall clock (``time.perf_counter``). On a shared machine wall time says little
about scaling, so each sweep also records its CPU time: this process (driver, and for Dask the
in-process scheduler and client) plus the worker processes (and Dask nannies), read from
``/proc`` before and after. ``CPU ms/cell`` (best repeat) is nearly insensitive to other load
and is the fair measure of overhead. ``cores obtained`` = CPU / wall of the best repeat says
how much of the machine the sweep actually got: 2 workers can only show 2x when it is near 2.
The load average is printed too.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from hdo_theory.runs.sweep import (  # noqa: E402
    InlineExecutor,
    LocalPoolExecutor,
    load_spec,
    plan,
    run_sweep,
)

GRID = """\
[sweep]
seed = 0
seeds = {seeds}
retries = 0

[base]
objective = "least-squares"
d = 3
n = 4
T = {T}

[axes]
zo_lr = {lrs}
[axes.zo]
rv = [1, 4]
"""


def make_spec(folder: Path, T: int, n_lr: int, seeds: int, name: str):
    lrs = [round(0.001 * (k + 1), 6) for k in range(n_lr)]
    p = folder / f"{name}.toml"
    p.write_text(GRID.format(T=T, seeds=seeds, lrs=lrs))
    return load_spec(p)


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu_s(pids) -> float:
    """utime + stime of live processes (from /proc; 0 where unavailable)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def worker_pids(executor) -> list[int]:
    """The processes that run cells (and their Dask nannies), besides this one."""
    pool = getattr(executor, "_pool", None)
    if pool is not None:
        return list(getattr(pool, "_processes", {}) or {})
    client = getattr(executor, "client", None)
    if client is not None:
        # a LocalCluster's nannies live in this process: count every pid once, not ours
        pids = set(client.run(os.getpid).values()) | set(client.run(os.getppid).values())
        return sorted(pids - {os.getpid()})
    return []


def time_sweep(spec, cells, executor, folder: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and the workers) of one sweep."""
    out = folder / "run"
    if out.exists():
        shutil.rmtree(out)
    pids = worker_pids(executor)
    c0 = time.process_time() + _proc_cpu_s(pids)
    t0 = time.perf_counter()
    rep = run_sweep(spec, out, executor, cells=cells)
    wall = time.perf_counter() - t0
    cpu = time.process_time() + _proc_cpu_s(pids) - c0
    if not rep.ok or rep.done + rep.diverged != len(cells):
        raise RuntimeError(f"benchmark sweep did not finish: {rep}")
    shutil.rmtree(out)
    return wall, cpu


def bench_executor(name, start, spec, cells, warm_spec, repeats, folder: Path) -> dict:
    t0 = time.perf_counter()
    executor = start()
    try:
        warm = folder / f"warm-{name}"
        run_sweep(warm_spec, warm, executor)
        startup = time.perf_counter() - t0
        runs = [time_sweep(spec, cells, executor, folder) for _ in range(repeats)]
    finally:
        executor.close()
    n = len(cells)
    walls = [w for w, _ in runs]
    cpus = [c for _, c in runs]
    best, med = min(walls), statistics.median(walls)
    row = {
        "executor": name,
        "workers": getattr(executor, "workers", 1),
        "cells": n,
        "startup_s": startup,
        "wall_min_s": best,
        "wall_median_s": med,
        "cells_per_min_best": 60.0 * n / best,
        "cells_per_min_median": 60.0 * n / med,
        "ms_per_cell_best": 1000.0 * best / n,
        "walls_s": walls,
        "cpu_s": cpus,
        "cpu_ms_per_cell": 1000.0 * min(cpus) / n,
        "cores_obtained": cpus[walls.index(best)] / best,
    }
    print(f"{name:8s} workers={row['workers']}  start-up {startup:6.2f} s  "
          f"wall min {best:6.2f} s  median {med:6.2f} s  "
          f"{row['cells_per_min_best']:7.0f} cells/min (best) {row['cells_per_min_median']:7.0f} "
          f"(median)  CPU {row['cpu_ms_per_cell']:5.1f} ms/cell  "
          f"cores obtained {row['cores_obtained']:4.2f}", flush=True)
    return row


def start_dask(shared_fs: bool):
    import distributed

    from hdo_theory.runs.sweep import DaskExecutor

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    ex = DaskExecutor(cluster.scheduler_address, timeout=30, shared_filesystem=shared_fs)
    close = ex.close

    def close_all(cancel=False):
        close(cancel)
        cluster.close()

    ex.close = close_all
    return ex


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, default=50, help="interactions per cell (default 50)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one repeat")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)
    repeats = 1 if args.quick else args.repeats

    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        folder = Path(tmp)
        spec = make_spec(folder, args.T, n_lr=10, seeds=10, name="grid")
        cells = plan(spec)
        print(f"grid: {len(cells)} cells, d=3, n=4, T={args.T}; {repeats} timed repeat(s)")
        for name, start, workers in (
            ("inline", InlineExecutor, 1),
            ("pool-1", lambda: LocalPoolExecutor(1), 1),
            ("pool-2", lambda: LocalPoolExecutor(2), 2),
        ):
            warm = make_spec(folder, args.T, n_lr=1, seeds=2 * workers, name=f"warm{name}")
            rows.append(bench_executor(name, start, spec, cells, warm, repeats, folder))
        if not args.no_dask:
            try:
                import distributed  # noqa: F401
            except ImportError:
                print("dask-2   skipped: pip install -e '.[dask]'")
            else:
                warm = make_spec(folder, args.T, n_lr=1, seeds=4, name="warmdask")
                rows.append(bench_executor("dask-2", lambda: start_dask(False), spec, cells,
                                           warm, repeats, folder))
                rows.append(bench_executor("dask-2fs", lambda: start_dask(True), spec, cells,
                                           warm, repeats, folder))
    by = {r["executor"]: r for r in rows}
    summary = {}
    if "pool-1" in by and "pool-2" in by:
        summary["speedup_2_vs_1_workers"] = by["pool-1"]["wall_min_s"] / by["pool-2"]["wall_min_s"]
        print(f"2 workers vs 1: {summary['speedup_2_vs_1_workers']:.2f}x throughput (best walls)")
    for name in ("dask-2", "dask-2fs"):
        if name in by and "pool-2" in by:
            n = by["pool-2"]["cells"]
            d = by[name]["wall_min_s"] - by["pool-2"]["wall_min_s"]
            dc = by[name]["cpu_ms_per_cell"] - by["pool-2"]["cpu_ms_per_cell"]
            summary[f"{name}_overhead_ms_per_cell"] = 1000.0 * d / n
            summary[f"{name}_overhead_ms_per_worker_cell"] = 2000.0 * d / n
            summary[f"{name}_overhead_cpu_ms_per_cell"] = dc
            print(f"{name} vs local pool (2 workers): {1000.0 * d / n:+.2f} ms wall per cell, "
                  f"{2000.0 * d / n:+.2f} ms of worker-slot time per cell, {dc:+.2f} ms CPU "
                  f"per cell")
    if args.json:
        Path(args.json).write_text(json.dumps({"T": args.T, "rows": rows, "summary": summary,
                                               "loadavg": os.getloadavg()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
