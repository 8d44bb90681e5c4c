"""One plan per figure: the runs it needs (quick and full), as :class:`~.store.RunSpec` lists.

Each ``plan_<figure>(quick)`` returns ``{key: RunSpec}``; the keys are what the pure plotting
function of :mod:`hdo_theory.figures.plots` reads. :func:`ensure` loads what a results folder
holds and runs (then saves) what is missing. ``quick`` plans are small (each figure seconds to
about a minute on two cores); full plans are the publication versions.

Seeds: figure ``k`` uses root seeds ``1000 k + j`` for its ``j``-th run; every replica seed
derives from the root through :class:`numpy.random.SeedSequence` (see
:func:`hdo_theory.process.simulate`).
"""

from __future__ import annotations

import math
import sys

import numpy as np

from hdo_theory.errors import HDOInputError
from hdo_theory.estimators import ESTIMATORS, EstimatorSpec
from hdo_theory.figures.store import MissingResults, Runner, RunSpec, load_run, save_run
from hdo_theory.process import PopulationConfig, ProcessConfig

__all__ = ["PLANS", "ensure", "PAPER_POPULATIONS"]

#: The populations of the paper's Figure 2, as (n0 ZO, n1 FO). ``1 ZO`` / ``1 FO`` are single
#: workers; the process needs n >= 2, so both come from one run of an isolated pair
#: (1 ZO + 1 FO that never average: ``local_steps_warmup = T``), read per population.
PAPER_POPULATIONS = ((1, 0), (0, 1), (16, 0), (0, 6), (64, 0), (0, 12), (128, 0), (0, 24),
                     (256, 0), (256, 24))
QUICK_REAL_POPULATIONS = ((1, 0), (0, 1), (0, 24), (256, 0), (256, 24))


def _seed(fig: int, j: int) -> int:
    return 1000 * fig + j


def _zo(kind="zo-forward", rv=1, nu=1e-3, batch=1, lr=0.01) -> PopulationConfig:
    return PopulationConfig(EstimatorSpec(kind, rv=rv, nu=nu, batch=batch), lr=lr)


def _fo(batch=1, lr=0.01) -> PopulationConfig:
    return PopulationConfig(EstimatorSpec("fo", batch=batch), lr=lr)


def _proc(rid, objective, config: ProcessConfig, replicas, seed, kind="process", **extra):
    params = {"objective": dict(objective), "config": config.as_dict(), "replicas": int(replicas),
              "seed": int(seed), **extra}
    return RunSpec(rid, kind, params)


def _q(quick):
    return "quick" if quick else "full"


# ---------------------------------------------------------------------------------------------
# (1) ZO estimators: bias and second moment against d and nu
# ---------------------------------------------------------------------------------------------

def bias_kinds() -> tuple[str, ...]:
    """The biased zeroth-order estimators of the estimator table (the bias panels)."""
    return tuple(n for n, e in ESTIMATORS.items() if e.zero_order and not e.unbiased)


def moment_kinds() -> tuple[str, ...]:
    """The zeroth-order estimators drawing random directions (the second-moment panels)."""
    return tuple(n for n, e in ESTIMATORS.items() if e.zero_order and e.random_directions)


def plan_zo_estimators(quick: bool) -> dict:
    """Bias on the logistic loss (non-quadratic: Gaussian smoothing shifts the gradient) at a
    full shard batch (no minibatch noise), second moments on the quadratic (exact closed forms)
    at batch 1 (so ``s_i^2 > 0`` enters Lemma 5)."""
    draws = 20_000 if quick else 400_000
    nus = (0.1, 0.3, 1.0, 3.0) if quick else tuple(np.geomspace(0.05, 5.0, 9).round(4))
    ds = (2, 8, 32) if quick else (2, 4, 8, 16, 32, 64, 128)
    d_fix, nu_fix = 10, 1.0
    rows = []

    def obj(name, d):
        return {"name": name, "d": int(d), "n0": 1, "n1": 1, "seed": 0}

    j = 0
    for kind in bias_kinds():
        for nu in nus:
            rows.append(dict(panel="bias-nu", objective=obj("logistic", d_fix), node=0, kind=kind,
                             rv=1, nu=float(nu), batch="shard", draws=draws, seed=_seed(1, j)))
            j += 1
        for d in ds:
            rows.append(dict(panel="bias-d", objective=obj("logistic", d), node=0, kind=kind,
                             rv=1, nu=nu_fix, batch="shard", draws=draws, seed=_seed(1, j)))
            j += 1
    for kind in moment_kinds():
        for d in ds:
            rows.append(dict(panel="moment-d", objective=obj("quadratic", d), node=0, kind=kind,
                             rv=1, nu=0.1, batch=1, draws=draws, seed=_seed(1, j)))
            j += 1
        for nu in nus:
            rows.append(dict(panel="moment-nu", objective=obj("quadratic", d_fix), node=0,
                             kind=kind, rv=1, nu=float(nu), batch=1, draws=draws,
                             seed=_seed(1, j)))
            j += 1
    return {"table": RunSpec(f"zo-estimators-{_q(quick)}", "estimator-table", {"rows": rows})}


# ---------------------------------------------------------------------------------------------
# (2) Gamma_t against the Lemma 2 / Lemma 11 envelopes
# ---------------------------------------------------------------------------------------------

GAMMA_OBJECTIVE = {"name": "logistic", "d": 10, "n0": 8, "n1": 8, "seed": 0, "lam": 0.5}


def plan_gamma(quick: bool) -> dict:
    """(a) pure averaging from spread models (eta = 0): exact contraction vs Lemma 2;
    (b) stepping at Lemma 11's largest admissible rate ``eta = 1/(14 L sqrt(d+4))`` with the
    theorem's radius ``nu = eta / sqrt(d)``, from a common start (Gamma_0 = 0)."""
    from hdo_theory.objectives import make_objective

    o = GAMMA_OBJECTIVE
    n, d = o["n0"] + o["n1"], o["d"]
    R = 16 if quick else 64
    rng = np.random.default_rng(np.random.SeedSequence(_seed(2, 99)))
    spread = rng.standard_normal((n, d))
    kw = dict(o)
    L = make_objective(kw.pop("name"), **kw).constants.L
    eta = 1.0 / (14.0 * L * math.sqrt(d + 4))
    T_avg = 150 if quick else 400
    T_step = 3000 if quick else 20000
    avg = ProcessConfig(model="pairwise", T=T_avg, zo=_zo(lr=0.0), fo=_fo(lr=0.0), x0=spread,
                        record=1, record_nodes=False, record_lemma2=True)
    step = ProcessConfig(model="pairwise", T=T_step, zo=_zo(nu="theorem", lr=eta),
                         fo=_fo(lr=eta), record=1 if quick else 5, record_nodes=False,
                         record_lemma2=True)
    return {
        # Gamma_t is a product of random contractions (right-skewed): many cheap replicas
        "averaging": _proc(f"gamma-averaging-{_q(quick)}", o, avg, 4 * R, _seed(2, 0)),
        "stepping": _proc(f"gamma-stepping-{_q(quick)}", o, step, R, _seed(2, 1)),
    }


# ---------------------------------------------------------------------------------------------
# (3) convex rates against T, (4) non-convex
# ---------------------------------------------------------------------------------------------

CONVEX_OBJECTIVE = {"name": "logistic", "d": 10, "seed": 0, "lam": 0.5}
NONCONVEX_OBJECTIVE = {"name": "logistic-nonconvex", "d": 10, "seed": 0}


def _n0_grid(n):
    return (0, n // 2, n)


def plan_convex(quick: bool) -> dict:
    """Theorem 1 (strongly convex) schedule ``eta = 4 n log T/(T ell)``, ``nu = eta/sqrt(d)``,
    pairwise model, n = 8, ``n0/n`` in {0, 1/2, 1}, one run per ``T``."""
    n = 8
    Ts = (2000, 4000, 8000, 16000, 32000) if quick else tuple(2000 * 2**k for k in range(8))
    R = 6 if quick else 32
    out = {}
    j = 0
    for n0 in _n0_grid(n):
        o = dict(CONVEX_OBJECTIVE, n0=n0, n1=n - n0)
        for T in Ts:
            cfg = ProcessConfig(model="pairwise", T=T, schedule="theorem-convex",
                                zo=_zo(nu="theorem"), fo=_fo(), record="log", record_points=30,
                                record_nodes=False)
            out[f"n0={n0},T={T}"] = _proc(f"convex-n0_{n0}-T_{T}-{_q(quick)}", o, cfg, R,
                                          _seed(3, j))
            j += 1
    return out


def plan_nonconvex(quick: bool) -> dict:
    """Theorem 1 (non-convex) schedule ``eta = n/sqrt(dT)``, ``nu = eta/sqrt(d)``, n = 8."""
    n = 8
    Ts = (1000, 2000, 4000, 8000, 16000) if quick else tuple(1000 * 2**k for k in range(8))
    R = 6 if quick else 32
    out = {}
    j = 0
    for n0 in _n0_grid(n):
        o = dict(NONCONVEX_OBJECTIVE, n0=n0, n1=n - n0)
        for T in Ts:
            cfg = ProcessConfig(model="pairwise", T=T, schedule="theorem-nonconvex",
                                zo=_zo(nu="theorem"), fo=_fo(), record=max(1, T // 200),
                                record_nodes=False, record_y=False)
            out[f"n0={n0},T={T}"] = _proc(f"nonconvex-n0_{n0}-T_{T}-{_q(quick)}", o, cfg, R,
                                          _seed(4, j))
            j += 1
    return out


# ---------------------------------------------------------------------------------------------
# (5) speedup against n, (6) phase diagram over (n0, d)
# ---------------------------------------------------------------------------------------------

SPEEDUP_LRS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


def plan_speedup(quick: bool) -> dict:
    """Half ZO / half FO populations of size n, pairwise model, the same parallel time
    ``P`` (``T = P n`` interactions), a learning-rate grid; the plot takes, per n, the best rate's
    parallel time to reach a target (convex: logistic gap; non-convex: ||grad f||^2)."""
    ns = (2, 4, 8, 16) if quick else (2, 4, 8, 16, 32, 64)
    P = 150 if quick else 600
    R = 4 if quick else 16
    out = {}
    j = 0
    for case, base in (("convex", CONVEX_OBJECTIVE), ("nonconvex", NONCONVEX_OBJECTIVE)):
        for n in ns:
            o = dict(base, n0=n // 2, n1=n - n // 2)
            for lr in SPEEDUP_LRS:
                cfg = ProcessConfig(model="pairwise", T=P * n, zo=_zo(lr=lr, nu=1e-4),
                                    fo=_fo(lr=lr), record="log", record_points=60,
                                    record_nodes=False, record_y=False)
                out[f"{case},n={n},lr={lr}"] = _proc(
                    f"speedup-{case}-n_{n}-lr_{lr}-{_q(quick)}", o, cfg, R, _seed(5, j))
                j += 1
    return out


def plan_phase(quick: bool) -> dict:
    """Fixed n1 = 4 FO nodes; add n0 ZO nodes for each dimension d; equal parallel time.
    Compares the final gap with the FO-only population (n0 = 0) of the same d."""
    n1 = 4
    n0s = (0, 1, 2, 4, 8, 16) if quick else (0, 1, 2, 4, 8, 16, 32)
    ds = (2, 8, 32) if quick else (2, 4, 8, 16, 32, 64)
    P = 150 if quick else 500
    R = 4 if quick else 16
    out = {}
    j = 0
    for d in ds:
        for n0 in n0s:
            n = n0 + n1
            o = dict(CONVEX_OBJECTIVE, d=d, n0=n0, n1=n1)
            cfg = ProcessConfig(model="pairwise", T=P * n, zo=_zo(lr=0.05, nu=1e-4),
                                fo=_fo(lr=0.05), record="log", record_points=20,
                                record_nodes=False, record_y=False)
            out[f"d={d},n0={n0}"] = _proc(f"phase-d_{d}-n0_{n0}-{_q(quick)}", o, cfg, R,
                                          _seed(6, j))
            j += 1
    return out


# ---------------------------------------------------------------------------------------------
# (7) the paper's population comparison, (8) ablations, (9) consensus, (10) interaction models
# ---------------------------------------------------------------------------------------------

#: One data set for every population: 4608 = 6 x lcm(256, 128, 64, 24, 16, 12, 6) samples, so
#: every paper population gets equal shards of the same data (the default size depends on n).
SYNTH_LOGISTIC = {"name": "logistic", "d": 50, "seed": 0, "n_samples": 4608}
DIGITS = {"name": "digits", "seed": 0}
#: Objectives with a held-out split (the real data sets).
HELDOUT_DATA = ("digits", "breast-cancer")
#: Models start at 0 (the usual initialisation of logistic / softmax regression).
START_AT_ZERO = {"logistic": 50, "digits": 650}


def _paper_cfg(T, rv=128, lr=0.01, kind="zo-forward", batch=2, isolated=False, record=5,
               nodes=False, d=50):
    return ProcessConfig(model="matching", T=T, zo=_zo(kind=kind, rv=rv, batch=batch, lr=lr),
                         fo=_fo(batch=batch, lr=lr), record=record, record_nodes=nodes,
                         record_y=False, local_steps_warmup=T if isolated else 0,
                         x0=[0.0] * d)


def _population_runs(prefix, base, pops, T, R, fig, quick, rv=128, lr=0.01,
                     j0=0):
    out = {}
    j = j0
    done_pair = False
    for n0, n1 in pops:
        if n0 + n1 == 1:  # single workers: one isolated 1 ZO + 1 FO pair serves both
            if done_pair:
                continue
            done_pair = True
            n0, n1, iso = 1, 1, True
            key = "single"
        else:
            iso = False
            key = f"{n0},{n1}"
        cfg = _paper_cfg(T, rv=rv, lr=lr, isolated=iso, record=max(1, T // 50), nodes=iso,
                         d=START_AT_ZERO[base["name"]])
        o = dict(base, n0=n0, n1=n1)
        rid = f"{prefix}-n0_{n0}-n1_{n1}{'-isolated' if iso else ''}-{_q(quick)}"
        # held-out metrics of mu_t are recorded by the process; an isolated pair's mu_t is no
        # worker's model, so its workers' own held-out metrics are evaluated at the end
        extra = {"node_heldout": True} if iso and base.get("name") in HELDOUT_DATA else {}
        out[key] = _proc(rid, o, cfg, R, _seed(fig, j), **extra)
        j += 1
    return out


def plan_populations(quick: bool) -> dict:
    """The paper's Figure 2 setting (matching model, batch 2, lr 0.01, rv 128, T 500 rounds,
    forward differences) on synthetic logistic regression (d = 50) and on digits (softmax,
    d = 650) with held-out loss and accuracy of the mean model recorded along the run (single
    workers: of their own models, at the start and the end). Quick: fewer rounds,
    and rv 32 on digits (rv 128 there costs minutes)."""
    T = 200 if quick else 500
    Tr = 100 if quick else 500
    out = {}
    for k, v in _population_runs("populations-logistic", SYNTH_LOGISTIC, PAPER_POPULATIONS, T,
                                 3 if quick else 8, 7, quick).items():
        out[f"synthetic:{k}"] = v
    # the same populations in a noise-dominated regime: a 10x rate reaches the noise floor
    # within the horizon, and rv 8 << d = 50 makes ZO noise large (as rv 128 << 7850 on MNIST)
    for k, v in _population_runs("populations-logistic-noisy", SYNTH_LOGISTIC, PAPER_POPULATIONS,
                                 T, 3 if quick else 8, 7, quick, rv=8, lr=0.1,
                                 j0=200).items():
        out[f"noisy:{k}"] = v
    pops = QUICK_REAL_POPULATIONS if quick else PAPER_POPULATIONS
    for k, v in _population_runs("populations-digits", DIGITS, pops, Tr, 2 if quick else 3, 7,
                                 quick, rv=32 if quick else 128).items():
        out[f"digits:{k}"] = v
    return out


ABLATION_RVS = (8, 16, 32, 64)
ABLATION_LRS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5)


def plan_ablations(quick: bool) -> dict:
    """90 ZO + 3 FO, synthetic logistic (d = 50), matching model, batch 2: rv grid (lr 0.01),
    lr grid (rv 16), and forward differences vs the unbiased directional estimator (rv 16)."""
    T = 150 if quick else 500
    R = 2 if quick else 8
    o = dict(SYNTH_LOGISTIC, n0=90, n1=3)
    out = {}
    j = 0
    rec = max(1, T // 100)
    for rv in ABLATION_RVS:
        out[f"rv={rv}"] = _proc(f"ablation-rv_{rv}-{_q(quick)}", o,
                                _paper_cfg(T, rv=rv, record=rec), R, _seed(8, j))
        j += 1
    for lr in ABLATION_LRS:
        out[f"lr={lr}"] = _proc(f"ablation-lr_{lr}-{_q(quick)}", o,
                                _paper_cfg(T, rv=16, lr=lr, record=rec), R, _seed(8, j))
        j += 1
    for kind in ("zo-forward", "zo-directional"):
        out[f"kind={kind}"] = _proc(f"ablation-kind_{kind}-{_q(quick)}", o,
                                    _paper_cfg(T, rv=16, kind=kind, record=rec), R, _seed(8, j))
        j += 1
    return out


CONSENSUS_N0 = (0, 4, 8, 12, 16)


def plan_consensus(quick: bool) -> dict:
    """16 nodes, n0 in {0, 4, 8, 12, 16}, matching model, synthetic logistic (d = 50), batch 2,
    lr 0.01, rv 32; per-node losses recorded (``loss_spread`` = std over nodes of f(X^i))."""
    T = 200 if quick else 1000
    R = 4 if quick else 16
    out = {}
    for j, n0 in enumerate(CONSENSUS_N0):
        o = dict(SYNTH_LOGISTIC, n0=n0, n1=16 - n0)
        cfg = _paper_cfg(T, rv=32, record=max(1, T // 100), nodes=True)
        out[f"n0={n0}"] = _proc(f"consensus-n0_{n0}-{_q(quick)}", o, cfg, R, _seed(9, j))
    return out


INTERACTIONS = (("pairwise", "complete"), ("matching", "complete"), ("graph", "ring"),
                ("graph", "torus"), ("graph", "random-regular"))


def plan_interaction(quick: bool) -> dict:
    """n = 16 (8 ZO + 8 FO), convex logistic (d = 10), lr 0.05: every model run for the same
    parallel time ``P`` (pairwise / graph: ``T = P n`` interactions; matching: ``T = 2P``
    rounds of ``n/2`` interactions)."""
    n = 16
    P = 100 if quick else 500
    R = 4 if quick else 16
    o = dict(CONVEX_OBJECTIVE, n0=8, n1=8)
    out = {}
    for j, (model, topo) in enumerate(INTERACTIONS):
        T = 2 * P if model == "matching" else P * n
        rec = max(1, T // 150)
        cfg = ProcessConfig(model=model, topology=topo, degree=4, T=T, zo=_zo(lr=0.05, nu=1e-4),
                            fo=_fo(lr=0.05), record=rec, record_nodes=False, record_y=False)
        out[f"{model}:{topo}"] = _proc(f"interaction-{model}-{topo}-{_q(quick)}", o, cfg, R,
                                       _seed(10, j))
    return out


# ---------------------------------------------------------------------------------------------
# (11) exact expected dynamics against Monte Carlo and Theorem 1
# ---------------------------------------------------------------------------------------------

#: the explicit quadratic of the exact figure (the ``theorem1.convex.exact`` claim's problem)
EXACT_OBJECTIVE = {"name": "explicit-quadratic", "d": 4, "n0": 2, "n1": 2, "condition": 2.0,
                   "heterogeneity": 0.5, "noise": 0.5, "seed": 13}


def _exact_cfg(T: int) -> ProcessConfig:
    return ProcessConfig(model="pairwise", T=T, schedule="theorem-convex", zo=_zo(nu="theorem"),
                         fo=_fo(), record="log", record_points=20, record_nodes=False)


def plan_exact(quick: bool, exact_T=None, mc_T=None, replicas=None) -> dict:
    """Theorem 1 (strongly convex) schedule on an explicit quadratic: the exact error curve
    (:func:`hdo_theory.exact.expected_dynamics`, 8 points per decade from ``10^3`` to ``10^7``
    quick, ``10^8`` full) and Monte Carlo runs at a few horizons. ``exact_T``, ``mc_T`` and
    ``replicas`` replace the grids (tests)."""
    top = 7 if quick else 8
    exact_T = exact_T or [int(round(10 ** (k / 8))) for k in range(24, 8 * top + 1)]
    mc_T = mc_T or ((1000, 10000, 100000) if quick else (1000, 10000, 100000, 1000000))
    R = replicas or (16 if quick else 64)
    out = {"exact": RunSpec(f"exact-curve-{_q(quick)}" if replicas is None else "exact-curve-t",
                            "exact-curve",
                            {"objective": dict(EXACT_OBJECTIVE), "metrics": ["y_gap", "dist_sq"],
                             "configs": [_exact_cfg(T).as_dict() for T in exact_T]})}
    for j, T in enumerate(mc_T):
        out[f"mc,T={T}"] = _proc(f"exact-mc-T_{T}-{_q(quick)}", EXACT_OBJECTIVE, _exact_cfg(T), R,
                                 _seed(11, j))
    return out


PLANS = {
    "zo-estimators": plan_zo_estimators,
    "gamma": plan_gamma,
    "convex": plan_convex,
    "nonconvex": plan_nonconvex,
    "speedup": plan_speedup,
    "phase": plan_phase,
    "populations": plan_populations,
    "ablations": plan_ablations,
    "consensus": plan_consensus,
    "interaction": plan_interaction,
    "exact": plan_exact,
}


def ensure(name: str, folder, quick: bool, run_missing: bool = True, runner=None, log=None,
           plan: dict | None = None) -> dict:
    """The loaded data of every run figure ``name`` needs, ``{key: Results | table}``.

    A file that is corrupt, foreign or made for another configuration is reported through
    ``log`` by name and skipped (then re-run if ``run_missing``). Without ``run_missing`` a
    missing run raises :class:`MissingResults` naming the files and the command that makes them.
    """
    if name not in PLANS:
        raise HDOInputError(f"figure must be one of {', '.join(PLANS)}, got {name!r}")
    log = log or (lambda msg: print(msg, file=sys.stderr))
    plan = plan if plan is not None else PLANS[name](quick)
    runner = runner or Runner()
    data, missing = {}, []
    for key, spec in plan.items():
        got, problem = load_run(spec, folder)
        if problem:
            log(f"skipped {problem}")
        if got is None and run_missing:
            log(f"running {spec.id} ...")
            got = runner.execute(spec)
            save_run(spec, got, folder)
        if got is None:
            missing.append(spec.filename)
        else:
            data[key] = got
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise MissingResults(
            f"figure {name} needs {', '.join(missing[:3])}{more} in {folder}; produce them with "
            f"`hdo-theory figures --only {name}{' --quick' if quick else ''} --out DIR` "
            "(without --from, missing runs are run)"
        )
    return data
