"""Shared helpers of the claim modules: cached objectives, the problem constants the claims
use (all from ``objective.constants``, which :mod:`hdo_theory.objectives.constants` computes for
every objective kind), and conversions from the estimator-statistics dictionaries to
:class:`~..stats.Estimate`.
"""

from __future__ import annotations

import math

import numpy as np

from hdo_theory.estimators.monte_carlo import antithetic_smoothing_bias  # noqa: F401 (claims)
from hdo_theory.objectives import make_objective
from hdo_theory.verification import bounds as B
from hdo_theory.verification.stats import Estimate

_Z95 = 1.959963984540054


def objective(ctx, name, **kw):
    """``make_objective(name, **kw)``, cached per run (objectives are deterministic in kw)."""
    key = ("objective", name, tuple(sorted(kw.items())))
    if key not in ctx.cache:
        ctx.current = {"objective": name, **kw}
        ctx.cache[key] = make_objective(name, **kw)
    return ctx.cache[key]


def lipschitz(obj) -> tuple[float, str]:
    """``(L, source)``: Assumption 2's constant for every per-sample gradient."""
    return float(obj.constants.L), "objective.constants"


def from_clt_entry(entry: dict, n: int, level: float = 0.95) -> Estimate:
    """Estimate from an ``estimator_stats`` CLT entry (``value``, symmetric normal ``ci``)."""
    z = _Z95 if level == 0.95 else float(__import__("scipy.stats").stats.norm.ppf(0.5 + level / 2))
    lo, hi = entry["ci"]
    return Estimate(float(entry["value"]), (hi - lo) / (2 * z), math.inf, int(n), "mean")


# ---------------------------------------------------------------------------------------------
# Problem constants for the process lemmas
# ---------------------------------------------------------------------------------------------


def strong_convexity(obj) -> float:
    """``ell`` from ``objective.constants``; 0 for kinds without strong convexity
    (``ell`` is None: non-convex logistic, robust, cosine wells, softmax)."""
    ell = obj.constants.ell
    return 0.0 if ell is None else float(ell)


def x_star(obj):
    from hdo_theory.process import problem_facts

    f = problem_facts(obj)
    return np.asarray(f["x_star"]), float(f["f_star"])


def ball_check(obj, res, label: str = "") -> tuple[list[str], dict]:
    """Did the run stay where the objective's constants hold? ``(outside messages, info)``.

    For the quadratic and least-squares objectives ``objective.constants`` takes the
    heterogeneity and variance constants (Assumptions 3, 4) as exact suprema over the ball
    ``||x - x*|| <= R`` (``Constants.radius``); other kinds have global bounds (radius None).
    A lemma checked with ball constants is inside its assumptions only if every node model of
    every replica stayed in the ball for the whole run. The process records the running maximum
    ``max_node_dist_sq`` of ``max_i ||X^i - x*||^2`` (updated after every interaction), so this
    is checked exactly, not only at the records; a replica that diverged (``res.diverged_at``)
    left the ball too. ``info`` holds the farthest distance reached (over the finite records)
    and ``R`` for the record's configuration.
    """
    R = obj.constants.radius
    md = np.asarray(res["max_node_dist_sq"], dtype=float)
    finite = md[np.isfinite(md)]
    far = float(np.sqrt(finite.max())) if finite.size else float("nan")
    div = getattr(res, "diverged_at", None)
    n_div = 0 if div is None else int(np.sum(np.asarray(div) >= 0))
    info = {"max_node_dist": far, "constants_radius": None if R is None else float(R)}
    if R is None:
        return [], info
    where = f"{label}: " if label else ""
    out = []
    if np.isfinite(far) and far > R:
        out.append(f"{where}node models left the ball ||x - x*|| <= R = {R:.3g} on which the "
                   f"constants are suprema (farthest node: {far:.3g})")
    if n_div:
        # a diverged replica stops before its last step is recorded: it left every ball
        out.append(f"{where}{n_div} replica(s) diverged, i.e. left the ball ||x - x*|| <= "
                   f"R = {R:.3g} on which the constants are suprema")
    return out, info


def noise_constants(obj, batch: int) -> dict:
    """``varsigma_k^2`` and ``sum_{N_k} s_i^2`` (minibatch ``batch``) for the process lemmas,
    from ``objective.constants``."""
    c = obj.constants
    s = np.asarray(c.s_sq(batch), dtype=float)
    return {"varsigma0_sq": float(c.varsigma0_sq), "varsigma1_sq": float(c.varsigma1_sq),
            "sum_s_sq0": float(s[: obj.n0].sum()), "sum_s_sq1": float(s[obj.n0:].sum()),
            "source": "objective.constants"}


# ---------------------------------------------------------------------------------------------
# Planned configurations (Claim.configs) and the simulate call that reports its configuration
# ---------------------------------------------------------------------------------------------


def planned(name, kw: dict, config=None, node: int = 0, label: str = ""):
    """A :class:`~.registry.Planned` entry: objective ``name(**kw)`` and what runs on it."""
    from hdo_theory.verification.claims.registry import Planned

    return Planned(name, dict(kw), config, node, label)


def simulate(ctx, obj, config, **kw):
    """:func:`hdo_theory.process.simulate`, with the configuration noted in ``ctx.current`` (an
    error record names it if the run raises)."""
    from hdo_theory.process import simulate as _simulate

    ctx.current = {"objective": obj.name, "d": obj.d, "n0": obj.n0, "n1": obj.n1,
                   "n_samples": obj.n_samples, "config": config.as_dict(),
                   **{k: v for k, v in kw.items() if k in ("replicas", "seed")}}
    return _simulate(obj, config, **kw)


# ---------------------------------------------------------------------------------------------
# Precision-driven replicas (verify --budget)
# ---------------------------------------------------------------------------------------------


def bound_params(obj, eta, T=1, f0_gap=0.0, dist0_sq=0.0, convex=None,
                 batch=1) -> B.BoundParams:
    """The bound parameters of ``obj`` at step size ``eta``: its exact (or measured) ``L``, the
    noise constants at minibatch ``batch``, ``ell`` when ``convex`` (default: ``obj.convex``),
    and the run's ``T``, ``f0_gap``, ``dist0_sq``; where the constants came from rides in
    ``extra`` (not part of the bound)."""
    L, _ = lipschitz(obj)
    nc = noise_constants(obj, batch)
    convex = obj.convex if convex is None else convex
    return B.BoundParams(n0=obj.n0, n1=obj.n1, d=obj.d, L=L, eta=eta,
                         ell=strong_convexity(obj) if convex else 0.0,
                         varsigma0_sq=nc["varsigma0_sq"], varsigma1_sq=nc["varsigma1_sq"],
                         sum_s_sq0=nc["sum_s_sq0"], sum_s_sq1=nc["sum_s_sq1"], T=T,
                         f0_gap=f0_gap, dist0_sq=dist0_sq,
                         extra={"constants_source": nc["source"]})


def replicas_until_decided(ctx, claim_id: str, replicas: int, measure, bound: float,
                           relation: str = "le", scale: float | None = None):
    """``(estimate, payload, sequential)``: the claim's measurement at a replica count chosen
    by the data under alpha spending (:func:`..stats.run_sequential`).

    ``measure(R)`` runs the claim's configurations with ``R`` replicas each (replica streams are
    indexed by replica, so the first ``R`` replicas never depend on how many more are run) and
    returns ``(estimate, payload)``. Without ``ctx.budget``: one call at the grid's
    ``replicas`` (``sequential`` None, nothing changes). With it: looks at ``replicas``,
    ``2 replicas``, ... up to ``ctx.budget``, stopping at the first look decided at the
    planning level :data:`..stats.PLANNING_LEVEL` per side (holds, violated, or equivalent with
    the claim's margin times ``scale``, default ``|bound|``); the estimate carries its look's
    share of the error probability (``spend``), so the runner's Holm decision keeps its
    guarantee under this optional stopping. ``sequential``: the rule, the looks and the
    replicas used, for the record's ``extra``.
    """
    from hdo_theory.verification import stats as S
    from hdo_theory.verification.claims.registry import REGISTRY

    if ctx.budget is None:
        return (*measure(int(replicas)), None)
    claim = REGISTRY.get(claim_id)
    rel_margin = getattr(claim, "margin", None)
    sc = abs(float(bound)) if scale is None else float(scale)
    margin = rel_margin * sc if rel_margin is not None and sc > 0 else None
    payloads = {}

    def estimate_at(n):
        est, payload = measure(int(n))
        payloads[n] = payload
        return est

    def decided(est):
        d = S.decide(est, float(bound), 2 * S.PLANNING_LEVEL, relation, margin=margin)
        return d.verdict != "inconclusive"

    run = S.run_sequential(estimate_at, decided, min(int(replicas), ctx.budget), ctx.budget,
                           time_limit=ctx.time_limit)
    return run.estimate, payloads[run.replicas], run.as_dict()


# ---------------------------------------------------------------------------------------------
# Re-drawn shard splits: the split as the experimental unit (claims 4, 5, 7)
# ---------------------------------------------------------------------------------------------


def split_objective(ctx, claim_id: str, name: str, kw: dict, split: int):
    """Objective ``name(**kw)`` with its node split re-drawn: split number ``split`` of the
    claim's shard seed (``make_objective(..., shard_seed=, shard_replica=split)``; the data set
    is the one ``kw`` makes, only the split changes). Cached per run like :func:`objective`."""
    return objective(ctx, name, **kw, shard_seed=ctx.seed_for(claim_id, "shard-split"),
                     shard_replica=int(split))


def splits_until_decided(ctx, claim_id: str, splits: int, replicas_per_split: int, per_split,
                         summarize):
    """``(tests, units, sequential)``: a claim measured over independent shard splits, the split
    being the unit of its intervals, with ``--budget`` extending the number of splits.

    Why the split is the unit: the process kernel runs one objective (one split) per call, and
    replicas of one split share it, so replicas are independent *given* the split but not
    across splits. Each split ``s`` (:func:`split_objective`, its own process seeds) is run
    with ``replicas_per_split`` replicas and reduced to one tuple of unit values
    ``per_split(s)`` (per-split replica means, or a per-split fit); these tuples are i.i.d.
    over ``s`` (independent split draws, independent replica streams), so a Student-t interval
    over splits (``summarize`` uses :func:`..stats.mean_estimate` on them) covers the
    split-averaged quantity with split-to-split and replica variation both inside it, and no
    replica is counted as an independent unit across splits.

    ``summarize(units)`` returns the claim's tests, a list of ``(estimate, bound, relation,
    scale)`` (``scale``: the record's equivalence scale, None for ``|bound|``). Without
    ``ctx.budget``: ``splits`` splits, ``sequential`` None. With it: the budget counts replicas
    per configuration, so it allows ``B = max(1, budget // replicas_per_split)`` splits; looks
    at ``splits, 2 splits, ...`` up to ``B`` (:func:`..stats.look_schedule`), stopping at the
    first look where every test is decided at the planning level (as
    :func:`replicas_until_decided`); every estimate carries its look's spending weight, so
    Holm's guarantee holds under this optional stopping, and split ``s`` depends only on
    ``(seed, s)``: the results are bit-identical for a given budget and resumable.
    """
    from dataclasses import replace

    from hdo_theory.verification import stats as S
    from hdo_theory.verification.claims.registry import REGISTRY

    w = int(replicas_per_split)
    units: dict[int, tuple] = {}

    def units_upto(k):
        for s in range(k):
            if s not in units:
                units[s] = tuple(per_split(s))
        return [units[s] for s in range(k)]

    if ctx.budget is None:
        u = units_upto(int(splits))
        return summarize(u), u, None
    claim = REGISTRY.get(claim_id)
    rel_margin = getattr(claim, "margin", None)
    cap = max(1, int(ctx.budget) // w)
    taken = {}

    def estimate_at(k):
        taken[k] = summarize(units_upto(k))
        return taken[k][0][0]

    def decided(_est):
        k = max(taken)
        for est, bound, rel, scale in taken[k]:
            sc = abs(float(bound)) if scale is None else abs(float(scale))
            margin = rel_margin * sc if rel_margin is not None and sc > 0 else None
            if S.decide(est, float(bound), 2 * S.PLANNING_LEVEL, rel,
                        margin=margin).verdict == "inconclusive":
                return False
        return True

    run = S.run_sequential(estimate_at, decided, min(int(splits), cap), cap,
                           time_limit=ctx.time_limit)
    k = run.replicas
    tests = [(replace(est, spend=run.estimate.spend), b, rel, sc)
             for est, b, rel, sc in taken[k]]
    seq = run.as_dict()
    seq.update(replicas=k * w, looks=[n * w for n in run.looks], splits=k,
               split_looks=list(run.looks), replicas_per_split=w,
               rule=seq["rule"] + "; the looks count shard splits of "
                                  f"{w} replicas each (the split is the unit)")
    return tests, units_upto(k), seq
