"""Two checkouts of hdo-theory timed against each other in ONE run (same-run ratio).

The reference configuration of ``bench_process.py`` (least squares, d = 100, n = 64: 48 ZO
zo-forward rv 8 batch 16, 16 FO batch 16, one thread). Used to prove that a refactor does not
slow the kernels down (the redesign's bound: median new/old at most 1.05)::

    git worktree add OLD_DIR <commit before the change>
    python benchmarks/ab_checkouts.py OLD_DIR . [repeats] [T]

Environment: ``AB_N=49152`` times the isotropic least-squares problem of ``bench_process.py``
with that many samples (default: ``make_objective``'s default size); ``AB_RECORD_NODES=1`` and
``AB_RECORDS=20`` record node losses at 20 evenly spaced steps (default: no node losses, one
record at ``T``).

Driver: starts one warmed-up worker per checkout (the old one with its own Numba cache in a
temporary folder) and alternates timed calls old, new, new, old, ... Worker (``--worker``):
reads ``T seed`` per line on stdin, prints CPU and wall microseconds per interaction and the
final gap (which must agree between the checkouts: same seed, same results).
"""
import json
import os
import subprocess
import sys
import time

for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(v, "1")

REF = dict(d=100, n0=48, n1=16, rv=8, batch=16, nu=1e-3, lr_zo=1e-3, lr_fo=1e-2)


def worker():
    import numpy as np

    import hdo_theory
    from hdo_theory.estimators import EstimatorSpec
    from hdo_theory.objectives import make_objective
    from hdo_theory.process import PopulationConfig, ProcessConfig, simulate

    n_samples = int(os.environ.get("AB_N", "0"))  # data-set size axis (issue 14); 0 = default
    if n_samples:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from bench_process import isotropic_least_squares

        obj = isotropic_least_squares(REF["d"], REF["n0"], REF["n1"], n_samples)
    else:
        obj = make_objective("least-squares", d=REF["d"], n0=REF["n0"], n1=REF["n1"], seed=0)
    record_nodes = os.environ.get("AB_RECORD_NODES", "0") == "1"
    n_records = int(os.environ.get("AB_RECORDS", "1"))

    def cfg(T):  # = bench_process.process_config(T) at d = 100
        return ProcessConfig(
            model="pairwise", T=int(T),
            zo=PopulationConfig(EstimatorSpec("zo-forward", rv=REF["rv"], nu=REF["nu"],
                                              batch=REF["batch"]), lr=REF["lr_zo"]),
            fo=PopulationConfig(EstimatorSpec("fo", batch=REF["batch"]), lr=REF["lr_fo"]),
            record=max(1, int(T) // n_records), record_nodes=record_nodes, record_y=False)

    t0 = time.perf_counter()
    simulate(obj, cfg(20), threads=1)  # compile / cache load + constants, excluded
    simulate(obj, cfg(2000), threads=1)
    print(json.dumps({"ready": hdo_theory.__file__, "warmup_s": time.perf_counter() - t0}),
          flush=True)
    for line in sys.stdin:
        T, seed = map(int, line.split())
        w0, c0 = time.perf_counter(), time.process_time()
        res = simulate(obj, cfg(T), threads=1, seed=seed)
        c, w = time.process_time() - c0, time.perf_counter() - w0
        assert np.all(res.diverged_at < 0)
        gap = float(res.metrics["gap"][0, -1])
        print(json.dumps({"cpu_us": c / T * 1e6, "wall_us": w / T * 1e6, "gap": gap}),
              flush=True)


def driver(old, new, repeats, T):
    import tempfile

    import numpy as np
    paths = {"old": os.path.abspath(old), "new": os.path.abspath(new)}
    if os.environ.get("KB_HEAD"):  # third arm: the moved layout before the argument grouping
        paths["head"] = os.environ["KB_HEAD"]
    procs = {}
    for k, p in paths.items():
        env = dict(os.environ, PYTHONPATH=p)
        if k == "old":  # keep the baseline checkout untouched: its Numba cache goes to /tmp
            # AB_OLD_CACHE: reuse one cache folder across A/B runs (compiling costs minutes)
            env["NUMBA_CACHE_DIR"] = (os.environ.get("AB_OLD_CACHE")
                                      or tempfile.mkdtemp(prefix="ab-old-numba-"))
        if k == "head":
            env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="ab-head-numba-")
        procs[k] = subprocess.Popen([sys.executable, __file__, "--worker"], cwd=p, env=env,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    for k, pr in procs.items():
        print(k, pr.stdout.readline().strip(), flush=True)
    res = {k: [] for k in paths}
    wall = {k: [] for k in paths}
    gaps = {k: [] for k in paths}
    loads = []
    for r in range(repeats):
        keys = list(paths)
        order = keys if r % 2 == 0 else keys[::-1]
        loads.append(os.getloadavg()[0])
        for k in order:
            procs[k].stdin.write(f"{T} {r}\n")
            procs[k].stdin.flush()
            out = json.loads(procs[k].stdout.readline())
            res[k].append(out["cpu_us"])
            wall[k].append(out["wall_us"])
            gaps[k].append(out["gap"])
        print(f"repeat {r}: " + " ".join(f"{k} {res[k][-1]:.2f}" for k in paths)
              + f" us/interaction (CPU), load {loads[-1]:.2f}", flush=True)
    for pr in procs.values():
        pr.stdin.close()
        pr.wait()
    mo, mn = np.median(res["old"]), np.median(res["new"])
    wo, wn = np.median(wall["old"]), np.median(wall["new"])
    summary = {
        "T": T, "repeats": repeats,
        "old_cpu_median_us": mo, "new_cpu_median_us": mn, "ratio_new_over_old_cpu": mn / mo,
        "old_cpu_min_us": min(res["old"]), "new_cpu_min_us": min(res["new"]),
        "old_wall_median_us": wo, "new_wall_median_us": wn, "ratio_new_over_old_wall": wn / wo,
        "per_repeat_ratio": [round(b / a, 3) for a, b in zip(res["old"], res["new"], strict=True)],
        "same_gaps": gaps["old"] == gaps["new"], "loadavg_1min": loads,
        "old_cpu_us": res["old"], "new_cpu_us": res["new"],
    }
    if "head" in paths:
        mh = np.median(res["head"])
        summary.update(head_cpu_median_us=mh, ratio_new_over_head_cpu=mn / mh,
                       ratio_head_over_old_cpu=mh / mo, head_cpu_us=res["head"],
                       head_same_gaps=gaps["head"] == gaps["new"])
    print(json.dumps(summary, indent=1), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker()
    else:
        if len(sys.argv) < 3:
            sys.exit("usage: ab_checkouts.py OLD_CHECKOUT NEW_CHECKOUT [repeats] [T]")
        driver(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 9,
               int(sys.argv[4]) if len(sys.argv) > 4 else 60000)
