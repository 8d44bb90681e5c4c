"""Peak memory growth of ``simulate`` against the size of its results buffer (issue 14).

Target: growth at most 1.1 x the buffer + 50 MB for buffers of 200 MB and more. The buffer is
``len(METRICS) x R x n_rec`` float64 (``record=1``: ``n_rec = T + 1``). Each configuration
runs in a fresh subprocess (so earlier runs do not inflate the peak): after a warm-up run
(compilation, caches) the child resets its peak RSS (``/proc/self/clear_refs``), reads
``VmRSS``, runs ``simulate`` and reads ``VmHWM``; growth = ``VmHWM - VmRSS before``. The
child also reports the peak that tracemalloc traced (NumPy's allocations, exact).

    python benchmarks/bench_memory.py --quick     # one 224 MB buffer (R = 100, T = 20,000)
    python benchmarks/bench_memory.py             # 224 MB and 448 MB buffers
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

MB = 1e6
REPO = Path(__file__).resolve().parents[1]


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1]) * 1024  # kB
    raise KeyError(field)


def child(R: int, T: int, trace: bool) -> dict:
    from hdo_theory.objectives import make_objective
    from hdo_theory.process import METRICS, ProcessConfig, simulate

    obj = make_objective("least-squares", d=3, n0=2, n1=2, seed=0)
    # node losses off: they cost time, not memory (every metric has its row either way)
    cfg = ProcessConfig(T=T, record=1, record_nodes=False)
    simulate(obj, ProcessConfig(T=10, record=1), replicas=2, threads=2)  # compile, warm
    buffer = len(METRICS) * R * (T + 1) * 8
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        reset = True
    except OSError:
        reset = False
    rss0 = _status("VmRSS")
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    res = simulate(obj, cfg, replicas=R, seed=0, threads=2)
    wall = time.perf_counter() - t0
    traced = tracemalloc.get_traced_memory()[1] if trace else None
    hwm = _status("VmHWM")
    assert res["gap"].shape == (R, T + 1)
    growth = hwm - rss0
    return {"R": R, "T": T, "buffer_MB": buffer / MB, "growth_MB": growth / MB,
            "ratio": growth / buffer, "bound_MB": (1.1 * buffer + 50 * MB) / MB,
            "within_bound": growth <= 1.1 * buffer + 50 * MB, "hwm_reset": reset,
            "tracemalloc_peak_MB": None if traced is None else traced / MB,
            "simulate_s": wall}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one 224 MB buffer")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument("--repo", default=str(REPO),
                    help="checkout to measure (default: this one; another for a before/after)")
    ap.add_argument("--child", nargs=3, type=int, metavar=("R", "T", "TRACE"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child(a.child[0], a.child[1], bool(a.child[2]))))
        return 0
    sizes = [(100, 20_000)] if a.quick else [(100, 20_000), (200, 20_000)]
    rows = []
    for R, T in sizes:
        for trace in (0, 1):  # RSS without tracemalloc's own overhead, then traced
            out = subprocess.run([sys.executable, __file__, "--child", str(R), str(T),
                                  str(trace)], capture_output=True, text=True, check=True,
                                 env={**__import__("os").environ, "PYTHONPATH": a.repo})
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if a.json:
        print(json.dumps(rows, indent=1))
    for r in rows:
        tm = ("" if r["tracemalloc_peak_MB"] is None
              else f", tracemalloc peak {r['tracemalloc_peak_MB']:.1f} MB")
        print(f"R={r['R']} T={r['T']}: buffer {r['buffer_MB']:.1f} MB, peak RSS growth "
              f"{r['growth_MB']:.1f} MB = {r['ratio']:.3f} x buffer (bound "
              f"{r['bound_MB']:.0f} MB: {'ok' if r['within_bound'] else 'EXCEEDED'})"
              f"{tm}, simulate {r['simulate_s']:.1f} s")
    return 0 if all(r["within_bound"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
