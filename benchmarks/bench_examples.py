"""Wall and CPU time of every script in examples/, from an empty and from a warm Numba cache.

Target (issue 11): each example at most 60 s on 2 cores. A timed test would measure the load
of whatever else runs, so the target is checked here, on a machine whose load is printed with
every number. Usage::

    python benchmarks/bench_examples.py            # every example, empty cache then warm
    python benchmarks/bench_examples.py --warm     # warm cache only

Each script runs in its own process from a scratch folder, as tests/test_examples.py runs it
(``examples/test_*.py`` with pytest). "Empty cache" points NUMBA_CACHE_DIR at a fresh folder,
so every kernel the example needs is compiled, as on a fresh CI machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 60.0


def run(path: Path, cache_dir: str) -> tuple[float, float, int]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HDO_THEORY_NO_ENTRY_POINTS="1",
               MPLBACKEND="Agg", NUMBA_CACHE_DIR=cache_dir)
    if path.name.startswith("test_"):
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)]
    else:
        cmd = [sys.executable, str(path)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    tic = time.perf_counter()
    with tempfile.TemporaryDirectory() as cwd:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - tic
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, p.returncode


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warm", action="store_true", help="warm cache only")
    args = ap.parse_args(argv)
    print(f"# {datetime.datetime.now():%Y-%m-%d %H:%M}, load {os.getloadavg()[0]:.2f}, "
          f"{os.cpu_count()} cores; target {TARGET_S:.0f} s per example")
    print("| example | cache | wall s | CPU s | exit | within target |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    worst = 0.0
    for path in sorted((ROOT / "examples").glob("*.py")):
        with tempfile.TemporaryDirectory() as cache:
            modes = ["warm"] if args.warm else ["empty", "warm"]
            if args.warm:
                run(path, cache)  # fill the cache first
            for mode in modes:
                wall, cpu, rc = run(path, cache)
                worst = max(worst, wall)
                print(f"| {path.name} | {mode} | {wall:.1f} | {cpu:.1f} | {rc} | "
                      f"{'yes' if wall <= TARGET_S and rc == 0 else 'NO'} |", flush=True)
    print(f"# load at the end {os.getloadavg()[0]:.2f}; slowest {worst:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
