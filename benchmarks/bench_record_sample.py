"""Recording share of run time by ``record_sample`` mode (issue 14): data passes, node-loss
subsample, the exact quadratic form (``"auto"`` on least squares above N = 32,768).

The workload of ``bench_process.py`` section S: isotropic least squares, ``d = 100``, ``n = 64``
(48 ZO forward-difference nodes ``rv = 8``, 16 FO nodes, batch 16), pairwise, 20 records with
node losses (``record = T // 20``), no ``y_t``. The share is, as in section S,
``1 - cpu(2 records, no node losses) / cpu(20 records with node losses)``, one thread,
on-CPU time (``time.process_time``), median over repeats.

Two run lengths: section S's ``T`` (50,000 interactions, 20,000 with ``--quick``: about 2 epochs
of an FO node's shard at ``N = 196,608``) and a longer ``T = 500,000`` (about 20 FO epochs),
closer to a training run (skipped with ``--quick``)::

    .venv/bin/python benchmarks/bench_record_sample.py [--quick] [--sizes 196608] [--json out]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_process import REF, isotropic_least_squares, process_config  # noqa: E402

from hdo_theory.objectives.quadratic_form import is_quadratic, quadratic_form  # noqa: E402
from hdo_theory.process import simulate  # noqa: E402


def cpu_of(obj, cfg, seed):
    c0 = time.process_time()
    res = simulate(obj, cfg, threads=1, seed=seed)
    c = time.process_time() - c0
    if np.any(res.diverged_at >= 0):
        raise RuntimeError("a replica diverged: the timing would be meaningless")
    return c, res


def row(N, T, repeats, modes=("full", "auto")):
    obj = isotropic_least_squares(REF["d"], REF["n0"], REF["n1"], N)
    base = process_config(T)
    rec = {mode: dataclasses.replace(process_config(T, record=max(1, T // 20)),
                                     record_nodes=True, record_sample=mode)
           for mode in modes}
    for cfg in (base, *rec.values()):  # warm-up: compile / load, optimum
        simulate(obj, dataclasses.replace(cfg, T=40, record=20), threads=1)
    # the quadratic form ("auto" above N = 32,768 with >= form_min_records records) is built
    # once per objective and cached: its one-time cost, apart (the repeats below reuse it)
    form_s = None
    if is_quadratic(obj):
        c0 = time.process_time()
        quadratic_form(obj)
        form_s = time.process_time() - c0
    cpu = {"base": [], **{mode: [] for mode in modes}}
    loads = []
    plan = None
    for r in range(repeats):
        loads.append(os.getloadavg()[0])
        cpu["base"].append(cpu_of(obj, base, r)[0])
        for mode, cfg in rec.items():
            c, res = cpu_of(obj, cfg, r)
            cpu[mode].append(c)
            if mode == "auto":
                plan = res.info["record_sample"]
    med = {k: float(np.median(v)) for k, v in cpu.items()}
    out = {"N": N, "T": T, "cpu_s": cpu, "median_s": med, "loadavg_1min": loads,
           "auto_plan": {k: plan[k] for k in ("mode", "m", "N", "evaluation")} if plan else None,
           "quadratic_form_once_s": form_s}
    text = f"N={N:7d} T={T:7d}: base {med['base']:.2f} s"
    for mode in modes:
        out[f"share_{mode}"] = 1 - med["base"] / med[mode]
        out[f"per_record_ms_{mode}"] = (med[mode] - med["base"]) / 19 * 1e3
        label = f"auto [{plan['mode']} m={plan['m']}]" if mode == "auto" else mode
        share, per = out[f"share_{mode}"], out[f"per_record_ms_{mode}"]
        text += (f", 20 records {label} {med[mode]:.2f} s (share {100 * share:.0f}%, "
                 f"{per:.0f} ms/record)")
    if form_s is not None and plan and plan["evaluation"] == "quadratic form":
        first = 1 - med["base"] / (med["auto"] + form_s)
        text += (f"; the form once per objective {form_s * 1e3:.0f} ms (a first run on a new "
                 f"objective: share {100 * first:.0f}%)")
    print(text + f"; load {np.round(loads, 1).tolist()}", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="T = 20,000 only, 1 repeat")
    ap.add_argument("--sizes", default="49152,196608", help="comma-separated data sizes N")
    ap.add_argument("--repeats", type=int, default=None, help="repeats (default 3, quick 1)")
    ap.add_argument("--modes", default="full,auto", help="record_sample modes to time")
    ap.add_argument("--Ts", default=None, help="comma-separated run lengths T")
    ap.add_argument("--json", type=Path, help="also write every number to this file")
    args = ap.parse_args(argv)
    Ts = (20_000,) if args.quick else (50_000, 500_000)
    if args.Ts:
        Ts = tuple(int(s) for s in args.Ts.split(","))
    repeats = args.repeats or (1 if args.quick else 3)
    report = {"quick": args.quick, "loadavg_start": os.getloadavg(), "rows": []}
    for N in (int(s) for s in args.sizes.split(",")):
        for T in Ts:
            report["rows"].append(row(N, T, repeats, tuple(args.modes.split(","))))
    report["loadavg_end"] = os.getloadavg()
    print(f"load average start {report['loadavg_start']}, end {report['loadavg_end']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
