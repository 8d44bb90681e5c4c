"""Whole-command time of ``hdo-theory verify``: ``--jobs 1`` against ``--jobs N``, warm, with
the records of both runs compared bit for bit (``compare_verify_records.py``).

Each setting runs ``python -m hdo_theory.cli verify --<scale> --jobs J --out DIR`` in a child
process; its wall time, the CPU time of the child and its workers (``getrusage``), the sum of
the per-claim seconds and the load average before and after are printed, then the claim
records of the two runs are compared (exit 1 on any difference). Run once before to warm the
Numba cache (``--warm`` does it).

    python benchmarks/bench_verify.py --quick          # cheap claim subset, jobs 1 and 2
    python benchmarks/bench_verify.py                  # verify --quick, all claims
    python benchmarks/bench_verify.py --warm --jobs 2  # warm-up run first
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from compare_verify_records import compare  # noqa: E402

QUICK_SUBSET = ["lemma5", "exact.pairwise", "exact.matching", "lemma1.4", "lemma10",
                "claim2"]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_once(out: Path, jobs: int, claims) -> dict:
    argv = [sys.executable, "-m", "hdo_theory.cli", "verify", "--quick", "--jobs", str(jobs),
            "--out", str(out)] + (["--claims", *claims] if claims else [])
    load0 = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=REPO, env=_env(), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"verify --jobs {jobs} exited {proc.returncode}:\n{proc.stderr}")
    secs = [json.loads(Path(p).read_text())["seconds"]
            for p in glob.glob(str(out / "claims" / "*.json"))]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"jobs": jobs, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "claims_sum_s": round(sum(secs), 1), "claims": len(secs),
            "load": (round(load0, 1), round(os.getloadavg()[0], 1))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"claims {QUICK_SUBSET} only")
    p.add_argument("--jobs", type=int, default=2, help="the parallel setting (default 2)")
    p.add_argument("--warm", action="store_true", help="one untimed run first (compiles)")
    args = p.parse_args(argv)
    claims = QUICK_SUBSET if args.quick else None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.warm:
            run_once(tmp / "warm", args.jobs, claims)
        rows = [run_once(tmp / f"jobs{j}", j, claims) for j in (1, args.jobs)]
        for r in rows:
            print(json.dumps(r))
        problems = compare(tmp / "jobs1", tmp / f"jobs{args.jobs}")
        for x in problems:
            print(x)
        print(f"records of --jobs 1 and --jobs {args.jobs}: "
              + ("identical" if not problems else f"{len(problems)} difference(s)"))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
