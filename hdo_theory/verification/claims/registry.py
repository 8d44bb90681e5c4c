"""The claim registry: what a claim is, what it returns, and the run context.

A :class:`Claim` names its paper reference, what is measured, on which objectives and over
which grid (quick and full), and the bound; its ``run(ctx)`` returns :class:`Record` s, one per
grid point and quantity. A record carries the empirical :class:`~..stats.Estimate`,
the bound, the relation the paper asserts (``le``: empirical <= bound, ``ge``, or ``eq`` for an
exact identity), the configuration and seed, and the stated conditions the configuration breaks
(``outside``). The verdict is *not* decided by the claim: :mod:`..runner` decides all
records of a run together, at the Bonferroni-corrected level.

A record whose estimate has method ``"exact"`` (a closed form, or the exact expected dynamics of
:mod:`hdo_theory.exact` on a quadratic) has no interval: its JSON ``ci``, ``ratio_ci`` and
``margin_ci`` are None, its ``ratio`` is the exact tightness ratio, and the runner decides it on
the value itself (:func:`..stats.decide`). ``method`` in the JSON says which.

When the bound is itself estimated (e.g. Lemma 2's right-hand side holds ``E Gamma_t`` and
``E M^G_t``), the record also carries ``margin``: an estimate of ``empirical - bound`` from the
same replicas (paired), and the decision is made on ``margin`` against 0.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hdo_theory.verification.stats import Decision, Estimate


@dataclass
class Record:
    claim: str
    reference: str
    quantity: str
    estimate: Estimate
    bound: float
    bound_label: str
    relation: str = "le"
    config: dict = field(default_factory=dict)
    seed: int = 0
    outside: list = field(default_factory=list)
    margin: Estimate | None = None
    extra: dict = field(default_factory=dict)
    decision: Decision | None = None

    @property
    def exact(self) -> bool:
        """Decided on an exact value (no sampling error, no interval)."""
        est = self.margin if self.margin is not None else self.estimate
        return est.method == "exact"

    @property
    def ratio(self) -> float:
        if self.bound and math.isfinite(self.bound) and self.bound != 0:
            return self.estimate.value / self.bound
        return math.nan

    def as_dict(self) -> dict:
        lo, hi = (self.decision.lo, self.decision.hi) if self.decision else (math.nan, math.nan)
        if self.margin is not None and self.decision is not None:
            # decision interval is on the margin; the estimate's own interval at the same level
            lo, hi = self.estimate.interval(1 - self.decision.level)
        ratio_ci = [lo / self.bound, hi / self.bound] if self.bound and self.bound > 0 else None
        exact = self.exact
        if exact:  # no sampling error: no interval to report
            ratio_ci = None
        return {
            "claim": self.claim,
            "reference": self.reference,
            "quantity": self.quantity,
            "empirical": self.estimate.value,
            "method": "exact" if exact else self.estimate.method,
            "ci": None if exact else [lo, hi],
            "estimate": self.estimate.as_dict(),
            "bound": self.bound,
            "bound_label": self.bound_label,
            "relation": self.relation,
            "ratio": self.ratio,
            "ratio_ci": ratio_ci,
            "margin": self.margin.as_dict() if self.margin is not None else None,
            "margin_ci": [self.decision.lo, self.decision.hi]
            if (self.margin is not None and self.decision and not exact) else None,
            "verdict": self.decision.verdict if self.decision else None,
            "reason": self.decision.reason if self.decision else None,
            "level": self.decision.level if self.decision else None,
            "outside": list(self.outside),
            "config": self.config,
            "seed": self.seed,
            "extra": self.extra,
        }


@dataclass
class Planned:
    """One configuration a claim's grid runs, as :func:`Claim.configs` lists it (nothing run).

    ``objective`` and ``objective_kwargs`` rebuild the objective (``make_objective``, or
    ``build()`` when given);
    ``config`` is what runs on it: a :class:`~hdo_theory.process.ProcessConfig` (checked with
    :func:`hdo_theory.process.check_config`, the checks ``simulate`` makes), an
    :class:`~hdo_theory.estimators.EstimatorSpec` drawn at node ``node`` (its batch against that
    shard), or None (only the objective is built).
    """

    objective: str
    objective_kwargs: dict
    config: object = None
    node: int = 0
    label: str = ""
    #: builds the objective instead of ``make_objective(objective, **objective_kwargs)`` (e.g. an
    #: explicit quadratic, whose matrices are built from ``objective_kwargs``); None: the default
    build: Callable | None = None

    def describe(self) -> dict:
        cfg = self.config.as_dict() if hasattr(self.config, "as_dict") else (
            None if self.config is None else repr(self.config))
        return {"objective": self.objective, **self.objective_kwargs, "label": self.label,
                "config": cfg}


@dataclass(frozen=True)
class Claim:
    id: str
    reference: str
    measures: str
    objectives: str
    grid: dict  # {"quick": description, "full": description}
    bound: str
    run: Callable[[Context], list[Record]]
    #: ``run`` writes its own finding about its results: no automatic "violated" finding
    own_finding: bool = False
    #: automatic "bound loose by orders of magnitude" finding; False for claims compared with a
    #: qualitative threshold (0 or 1; the sec. 4 claims) or that write their own (Lemma 1.4)
    report_looseness: bool = True
    #: ``configs(ctx)``: the :class:`Planned` configurations of the grid at ``ctx.scale``, built
    #: without running anything (``run`` builds its configurations with the same helpers), so
    #: :func:`..runner.check_claims` can check a whole grid in seconds before it runs. None: the
    #: claim declares none (a plug-in claim; reported as unchecked)
    configs: Callable[[Context], list[Planned]] | None = None

    def describe(self) -> dict:
        return {"id": self.id, "reference": self.reference, "measures": self.measures,
                "objectives": self.objectives, "grid": dict(self.grid), "bound": self.bound}


@dataclass
class Context:
    """What a claim's ``run`` gets: the scale, the master seed, and shared caches."""

    scale: str = "quick"
    seed: int = 0
    log: Callable[[str], None] = lambda msg: None
    figures: dict = field(default_factory=dict)  # name -> plotting data (see report.py)
    findings: list = field(default_factory=list)  # dicts: title, text, config
    cache: dict = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    #: the configuration being run, set by the claim helpers (reported if the claim raises)
    current: dict | None = None

    @property
    def quick(self) -> bool:
        return self.scale == "quick"

    def pick(self, quick, full):
        return quick if self.quick else full

    def seed_for(self, *keys) -> int:
        """A 32-bit seed derived from the master seed and ``keys`` (strings or ints)."""
        ints = [int(self.seed)] + [_key(k) for k in keys]
        return int(np.random.SeedSequence(ints).generate_state(1)[0])

    def rng(self, *keys) -> np.random.Generator:
        return np.random.default_rng(self.seed_for(*keys))


def _key(k) -> int:
    if isinstance(k, (int, np.integer)):
        return int(k) & 0xFFFFFFFF
    h = 2166136261
    for ch in str(k).encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h


REGISTRY: dict[str, Claim] = {}


def register(claim: Claim) -> Claim:
    if claim.id in REGISTRY:
        raise ValueError(f"duplicate claim id {claim.id}")
    REGISTRY[claim.id] = claim
    return claim
