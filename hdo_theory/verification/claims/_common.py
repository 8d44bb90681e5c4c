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
