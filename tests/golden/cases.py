"""Golden cases: a fixed set of ``simulate`` runs and ``estimator_stats`` calls, hashed.

Taken on the layout *before* the redesign (issue: one folder per stage) and kept since, so any
later move of code is proved value-preserving: on the machine recorded in ``golden.json`` (CPU
model, OpenBLAS kernel family and LLVM target CPU: :func:`machine_identity`) the hashes must
match bit for bit; on another machine the values must agree within the rounding budget
derived in :func:`rounding_budget` (the kernels are compiled with reassociating fast math, so
another vector width may sum in another order).

Regenerate (only in a commit of its own that says why the values changed on purpose)::

    PYTHONPATH=tests python -m golden.cases --write
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
GOLDEN_JSON = HERE / "golden.json"
GOLDEN_NPZ = HERE / "golden.npz"

EPS = np.finfo(np.float64).eps


def _api():
    """The public entry points the cases use (one place to update when import paths move)."""
    from hdo_theory.estimators import EstimatorSpec
    from hdo_theory.estimators.monte_carlo import estimator_stats
    from hdo_theory.objectives import make_objective
    from hdo_theory.process import PopulationConfig, ProcessConfig, simulate

    return make_objective, EstimatorSpec, PopulationConfig, ProcessConfig, simulate, estimator_stats


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_core() -> str:
    """The kernel family OpenBLAS picked at run time (``threadpoolctl``'s ``architecture``).

    The objectives' data and constants go through BLAS (``@``, ``solve``), and OpenBLAS chooses
    its kernels per CPU (``SkylakeX`` with AVX-512, ``Haswell``/``Zen`` without), which sum in
    another order. Virtual machines often report one ``model name`` ("AMD EPYC") for different
    CPUs, so the model string alone does not say whether bits can match: CI once ran on an
    "AMD EPYC" whose OpenBLAS used Haswell kernels, and every hash differed by rounding.
    """
    import threadpoolctl

    np.ones((2, 2)) @ np.ones((2, 2))  # make sure numpy's BLAS is loaded before asking
    cores = sorted({str(i.get("architecture")) for i in threadpoolctl.threadpool_info()
                    if i.get("user_api") == "blas"})
    return ",".join(cores) or "none"


def llvm_cpu() -> str:
    """The CPU Numba compiles the kernels for (LLVM's host CPU name), or its override."""
    import os

    import llvmlite.binding as llvm

    return os.environ.get("NUMBA_CPU_NAME") or llvm.get_host_cpu_name()


def machine_identity() -> dict[str, str]:
    """What decides the rounding of the golden cases: bits must match only when all agree."""
    return dict(cpu=cpu_model(), blas_core=blas_core(), llvm_cpu=llvm_cpu())


def _sim_cases():
    make_objective, Est, Pop, Cfg, _, _ = _api()
    lg = dict(d=5, n0=3, n1=3, seed=11)
    zo = lambda kind, **kw: Pop(Est(kind, rv=kw.pop("rv", 2), nu=kw.pop("nu", 1e-2),
                                    batch=kw.pop("batch", 2)), lr=kw.pop("lr", 0.05), **kw)
    fo = lambda **kw: Pop(Est("fo", batch=kw.pop("batch", 2)), lr=kw.pop("lr", 0.05), **kw)
    common = dict(T=240, record=40, record_lemma2=True)
    return {
        # (objective name, objective kwargs, config kwargs)
        "pairwise-forward-logistic": ("logistic", lg, dict(zo=zo("zo-forward"), fo=fo(), **common)),
        "matching-central-momentum": ("least-squares", lg, dict(
            model="matching", zo=zo("zo-central", momentum=0.3),
            fo=fo(momentum=0.4, momentum_kind="ema"), **common)),
        "graph-ring-directional": ("quadratic", lg, dict(
            model="graph", topology="ring", zo=zo("zo-directional"), fo=fo(), **common)),
        "graph-regular-sphere": ("robust", lg, dict(
            model="graph", topology="random-regular", degree=2, zo=zo("zo-sphere"), fo=fo(),
            **common)),
        "matching-odd-coordfd": ("cosine-wells", dict(d=4, n0=2, n1=3, seed=5), dict(
            model="matching", zo=zo("coord-fd", lr=0.02), fo=fo(lr=0.02), **common)),
        "pairwise-nonconvex-warmup": ("logistic-nonconvex", lg, dict(
            zo=zo("zo-forward", rv=4), fo=fo(), schedule="cosine", warmup=30,
            local_steps_warmup=10, **common)),
        "theorem-convex": ("logistic", lg, dict(
            zo=zo("zo-forward", nu="theorem"), fo=fo(), schedule="theorem-convex", T=300,
            record=50)),
        "theorem-nonconvex": ("cosine-wells", dict(d=4, n0=3, n1=3, seed=2), dict(
            zo=zo("zo-central", nu="theorem"), fo=fo(), schedule="theorem-nonconvex", T=300,
            record="log", record_points=12)),
        "per-node-start-fo-only": ("least-squares", dict(d=3, n0=0, n1=4, seed=9), dict(
            zo=zo("zo-forward"), fo=fo(), x0=np.arange(12.0).reshape(4, 3) / 10, T=200,
            record=20)),
    }


def _stats_cases():
    _, Est, *_ = _api()
    out = {}
    for obj_name in ("quadratic", "logistic"):
        for kind in ("fo", "zo-forward", "zo-central", "zo-directional", "zo-sphere", "coord-fd"):
            out[f"stats-{obj_name}-{kind}"] = (obj_name, dict(d=4, n0=3, n1=3, seed=1),
                                                Est(kind, rv=2, nu=0.05, batch=2))
    return out


def _canonical(obj):
    """Deterministic bytes of a JSON-like tree (floats by repr, run time left out)."""
    if isinstance(obj, dict):
        return {k: _canonical(v) for k, v in sorted(obj.items()) if k != "elapsed_seconds"}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return repr(float(obj))
    if isinstance(obj, np.ndarray):
        return [_canonical(v) for v in obj.tolist()]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    return obj


def _stats_numbers(tree, prefix="") -> dict[str, float]:
    """Every float leaf of an estimator_stats dict, by path (for the cross-CPU comparison)."""
    out = {}
    if isinstance(tree, dict):
        for k, v in sorted(tree.items()):
            if k != "elapsed_seconds":
                out.update(_stats_numbers(v, f"{prefix}/{k}"))
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            out.update(_stats_numbers(v, f"{prefix}/{i}"))
    elif isinstance(tree, (float, np.floating)):
        out[prefix] = float(tree)
    return out


def run_all() -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """``(hashes, arrays)`` of every case."""
    make_objective, _, _, Cfg, simulate, estimator_stats = _api()
    hashes: dict[str, str] = {}
    arrays: dict[str, np.ndarray] = {}
    for name, (oname, okw, ckw) in _sim_cases().items():
        obj = make_objective(oname, **okw)
        res = simulate(obj, Cfg(**ckw), replicas=2, seed=7, threads=1, keep_state=True)
        h = hashlib.sha256()
        for k in sorted(res.metrics):
            h.update(k.encode())
            h.update(np.ascontiguousarray(res[k]).tobytes())
            arrays[f"{name}/{k}"] = np.asarray(res[k])
        h.update(res.diverged_at.tobytes())
        h.update(res.state["X"].tobytes())
        arrays[f"{name}/diverged_at"] = res.diverged_at
        arrays[f"{name}/X"] = res.state["X"]
        hashes[name] = h.hexdigest()
    for name, (oname, okw, spec) in _stats_cases().items():
        obj = make_objective(oname, **okw)
        r = estimator_stats(obj, 0, obj.random_point(1), spec, draws=4096, seed=3,
                            progress=False)
        hashes[name] = hashlib.sha256(
            json.dumps(_canonical(r), sort_keys=True).encode()).hexdigest()
        nums = _stats_numbers(r)
        arrays[f"{name}/keys"] = np.array(list(nums), dtype=str)
        arrays[f"{name}/values"] = np.array(list(nums.values()), dtype=float)
    return hashes, arrays


def run_all_isolated() -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """:func:`run_all` in a fresh interpreter whose Numba cache is empty.

    Why: on this machine a kernel compiled in the running process and the same kernel loaded
    from Numba's on-disk cache can differ in the last bit for the transcendental functions of
    the cosine-wells objective (measured: ``batch_grad`` differs by one ulp). Golden values are
    therefore always taken and checked on freshly compiled kernels, so the comparison does not
    depend on which test of the suite happened to compile a kernel first.
    """
    import os
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "arrays.npz"
        env = dict(os.environ, NUMBA_CACHE_DIR=str(Path(tmp) / "numba-cache"))
        repo = HERE.parent.parent
        env["PYTHONPATH"] = os.pathsep.join(
            [str(repo), str(HERE.parent)] + [p for p in [env.get("PYTHONPATH")] if p])
        subprocess.run([sys.executable, "-m", "golden.cases", "--dump", str(out)], check=True,
                       env=env, cwd=repo)
        with np.load(out) as z:
            arrays = {k: z[k] for k in z.files if not k.startswith("hash/")}
            hashes = {k[5:]: str(z[k]) for k in z.files if k.startswith("hash/")}
    return hashes, arrays


def largest_case() -> tuple[int, int]:
    """``(T, d)``: the most interactions and the largest dimension among the simulate cases."""
    from hdo_theory.objectives import DEFAULT_D

    _, _, _, Cfg, _, _ = _api()
    sims = _sim_cases().values()
    T = max(ckw.get("T", Cfg().T) for _, _, ckw in sims)
    d = max(okw.get("d", DEFAULT_D) for _, okw, _ in sims)
    return int(T), int(d)


def rounding_budget(T: int, d: int) -> float:
    """Relative tolerance for a value computed on another CPU.

    The random streams do not depend on any computed value (pair, minibatch and direction draws
    come from the generator alone), so a different CPU changes only the rounding of the
    arithmetic. A reassociated sum of ``m`` terms differs by at most ``m eps sum|terms|``;
    each interaction does ``O(d)`` such sums per node and a stable run (the cases are chosen
    with ``eta L < 1``) carries an earlier error forward without growth, so after ``T``
    interactions the relative difference is at most about ``c T d eps`` with ``c`` the number of
    sums per interaction (here at most 64: two estimates of up to ``2 rv + 1`` function values
    each, the step, the averaging and the recorded metrics).
    """
    return 64.0 * T * d * EPS


def write() -> None:
    hashes, arrays = run_all_isolated()
    import numba

    meta = dict(
        **machine_identity(),
        machine=platform.machine(),
        python=sys.version.split()[0],
        numpy=np.__version__,
        numba=numba.__version__,
        note=("taken on the layout before the stage-folder redesign (commit 61805dd), "
              "freshly compiled kernels; see tests/golden/cases.py"),
        hashes=hashes,
    )
    GOLDEN_JSON.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    np.savez_compressed(GOLDEN_NPZ, **arrays)


if __name__ == "__main__":
    if "--dump" in sys.argv:
        hashes, arrays = run_all()
        np.savez(sys.argv[sys.argv.index("--dump") + 1], **arrays,
                 **{f"hash/{k}": np.array(v) for k, v in hashes.items()})
    elif "--write" in sys.argv:
        write()
        print(f"wrote {GOLDEN_JSON} and {GOLDEN_NPZ}")
    else:
        hashes, _ = run_all()
        print(json.dumps(hashes, indent=1))
