"""The claim registry: what a claim is, what it returns, and the run context.

A :class:`Claim` names its paper reference, what is measured, on which objectives and over
which grid (quick and full), and the bound; its ``run(ctx)`` returns :class:`Record` s, one per
grid point and quantity. A record carries the empirical :class:`~..stats.Estimate`,
the bound, the relation the paper asserts (``le``: empirical <= bound, ``ge``, or ``eq`` for an
exact identity), the configuration and seed, and the stated conditions the configuration breaks
(``outside``). The verdict is *not* decided by the claim: :mod:`..runner` decides all
records of a run together, family by family, by Holm (see :mod:`..runner`).

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
from dataclasses import dataclass, field, replace

import numpy as np

from hdo_theory.verification.stats import Decision, Estimate


@dataclass
class Record:
    """One measured quantity against its bound.

    claim, reference: the claim's id and paper reference (left empty, the runner fills them
    in from the :class:`Claim` that returned the record).
    quantity: what was measured (one line).
    estimate: the empirical :class:`~..stats.Estimate` (value and interval ingredients);
        :func:`estimate_from_interval` and :func:`estimate_from_stats` build one.
    bound, bound_label: the bound's value and its formula / lemma.
    relation: ``"le"`` (empirical <= bound), ``"ge"`` or ``"eq"``.
    config, seed: the configuration measured (JSON-able) and its seed.
    outside: the stated conditions this configuration breaks (then the record is reported
        "outside assumptions" and not counted in the correction).
    margin: an estimate of ``empirical - bound`` when the bound is itself estimated (paired).
    family: the multiple-testing family: ``"builtin"`` or the plugin's name (set by the
        runner from :attr:`Claim.family`).
    """

    claim: str = ""
    reference: str = ""
    quantity: str = ""
    estimate: Estimate | None = None
    bound: float = math.nan
    bound_label: str = ""
    relation: str = "le"
    config: dict = field(default_factory=dict)
    seed: int = 0
    outside: list = field(default_factory=list)
    margin: Estimate | None = None
    extra: dict = field(default_factory=dict)
    decision: Decision | None = None
    family: str = "builtin"
    #: the quantity the claim's relative equivalence margin (:attr:`Claim.margin`) multiplies:
    #: the absolute margin is ``Claim.margin * equivalence_scale`` (None: ``|bound|``)
    equivalence_scale: float | None = None
    #: set by the runner: the equivalence margin used ({"margin", "scale", "absolute",
    #: "reason"}; None: no equivalence verdict) and the record's Holm p-values
    equivalence: dict | None = None
    p_values: dict | None = None
    #: the constants this record's bound uses that were *measured* on a ball rather than
    #: given or computed exactly (a user objective kind, ``register_objective_kind``): the
    #: record says so in its bound label and JSON, since a measured ``L`` is a lower estimate
    measured: list = field(default_factory=list)

    def __post_init__(self):
        if self.measured:
            note = f" [uses measured {', '.join(self.measured)}]"
            if note not in self.bound_label:
                self.bound_label = f"{self.bound_label}{note}"

    @classmethod
    def from_interval(cls, quantity: str, value: float, ci, bound: float, bound_label: str,
                      level: float = 0.95, n: int = 0, **fields) -> Record:
        """A record from a point estimate and its symmetric normal (CLT) confidence interval
        ``ci = (lo, hi)`` at ``level``; the runner rebuilds the interval at the corrected
        level from it (:func:`estimate_from_interval`). ``fields``: any other field."""
        return cls(quantity=quantity, estimate=estimate_from_interval(value, ci, level, n),
                   bound=float(bound), bound_label=bound_label, **fields)

    @classmethod
    def from_stats(cls, result: dict, entry: str, bound: float, bound_label: str,
                   quantity: str | None = None, **fields) -> Record:
        """A record from one entry of an :func:`hdo_theory.estimators.monte_carlo.estimator_stats`
        result (``"bias"``, ``"second_moment"``, ``"centered_moment"``, ``"variance"``,
        ``"mean_norm"``), its interval method kept (:func:`estimate_from_stats`); the
        configuration and seed are the result's."""
        cfg = {k: v for k, v in result.get("config", {}).items() if k != "objective_meta"}
        fields.setdefault("config", cfg)
        how = str(result.get("point", {}).get("L_source") or "")
        if how.startswith("measured") and "L" not in fields.get("measured", []):
            fields["measured"] = [*fields.get("measured", []), "L"]
        fields.setdefault("seed", int(cfg.get("seed", 0)))
        return cls(quantity=quantity or entry, estimate=estimate_from_stats(result, entry),
                   bound=float(bound), bound_label=bound_label, **fields)

    def problems(self) -> list[str]:
        """Why this record cannot be decided (empty: it can): no estimate, a NaN or infinite
        value, no interval (standard error NaN or negative), a NaN bound, an unknown relation."""
        out = []
        e = self.estimate
        if not isinstance(e, Estimate):
            return [f"record {self.quantity!r} has no estimate (an Estimate is required)"]
        if not math.isfinite(float(e.value)):
            out.append(f"record {self.quantity!r}: empirical value is {e.value}")
        if e.method != "exact" and not (float(e.se) >= 0.0):
            out.append(f"record {self.quantity!r}: no interval (standard error {e.se})")
        bad_margin = self.margin is not None and not math.isfinite(float(self.margin.value))
        if math.isnan(float(self.bound)) and self.margin is None or bad_margin:
            out.append(f"record {self.quantity!r}: bound is NaN")
        if self.relation not in ("le", "ge", "eq"):
            out.append(f"record {self.quantity!r}: relation must be le, ge or eq, "
                       f"got {self.relation!r}")
        return out

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
            lo, hi = self.estimate.interval((1 - self.decision.level) / self.estimate.spend)
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
            "family": self.family,
            "equivalence": self.equivalence,
            "p_values": self.p_values,
            "replicas_used": self.extra.get("sequential"),
            "measured": list(self.measured),
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
    #: the multiple-testing family: None = decided by :func:`register` (``"builtin"`` for the
    #: package's own claims, the plugin's name for a claim registered while a plugin loads,
    #: ``"user"`` for one registered by other code)
    family: str | None = None
    #: equivalence margin, relative to the quantity (in (0, 1)): a record is **equivalent**
    #: when its interval lies within ``bound -/+ margin * scale`` (:attr:`Record.equivalence_scale`,
    #: default ``|bound|``). Fixed, with ``margin_reason``, before any run. None: no
    #: equivalence verdict (holds / violated / inconclusive only)
    margin: float | None = None
    margin_reason: str = ""
    #: ask for an equivalence verdict (None: exactly when a margin is given); True without a
    #: margin is an error
    equivalence: bool | None = None

    def __post_init__(self):
        from hdo_theory.errors import HDOInputError

        where = f"claim {self.id!r}: "
        if self.margin is None:
            if self.equivalence:
                raise HDOInputError(where + "an equivalence verdict needs margin, a number in "
                                    "(0, 1) relative to the quantity, and margin_reason; "
                                    "none given")
            return
        m = self.margin
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0.0 < float(m) < 1.0:
            raise HDOInputError(where + f"margin must be a number in (0, 1) (relative to the "
                                f"quantity), got {m!r}")
        if not isinstance(self.margin_reason, str) or not self.margin_reason.strip():
            raise HDOInputError(where + "margin needs margin_reason, a non-empty string "
                                "stating why this margin (fixed before any run)")
        if self.equivalence is False:
            raise HDOInputError(where + "margin given with equivalence=False; drop one")

    def describe(self) -> dict:
        return {"id": self.id, "reference": self.reference, "measures": self.measures,
                "objectives": self.objectives, "grid": dict(self.grid), "bound": self.bound,
                "margin": self.margin, "margin_reason": self.margin_reason or None}


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
    #: precision-driven replicas (``verify --budget``): claims that support it take doubling
    #: looks from their grid's replica count up to ``budget`` replicas per configuration and
    #: stop once decided (:func:`._common.replicas_until_decided`); None: the grid's fixed count
    budget: int | None = None
    #: a cap in seconds on extending one claim's replicas (``verify --time-limit``); a claim it
    #: stops is marked so. None: no cap
    time_limit: float | None = None

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


def _family_of(claim: Claim) -> str:
    from hdo_theory.plugins import current_plugin

    if claim.family:
        return claim.family
    module = getattr(claim.run, "__module__", "") or ""
    if module.startswith("hdo_theory."):  # the package's own (also when a plugin's import
        return "builtin"                  # is what first imports the claim modules)
    plugin = current_plugin()
    return plugin if plugin is not None else "user"


def register(claim: Claim) -> Claim:
    """Add ``claim`` to :data:`REGISTRY` (``hdo-theory verify`` runs every registered claim);
    returns it with its :attr:`Claim.family` filled in. An id already registered (a built-in
    or another plugin's) raises :class:`~hdo_theory.errors.HDOInputError`."""
    from hdo_theory.errors import HDOInputError

    if not isinstance(claim, Claim):
        raise HDOInputError(f"register takes a Claim, got {type(claim).__name__}")
    if not isinstance(claim.id, str) or not claim.id or any(c.isspace() for c in claim.id):
        raise HDOInputError(f"claim id must be a non-empty string without spaces, "
                            f"got {claim.id!r}")
    if claim.id in REGISTRY:
        other = REGISTRY[claim.id].family
        what = "a built-in claim" if other == "builtin" else f"a claim of {other}"
        raise HDOInputError(f"claim id {claim.id!r} clashes with {what}; choose another id")
    if not callable(claim.run):
        raise HDOInputError(f"claim {claim.id!r}: run must be callable run(ctx) -> [Record]")
    claim = replace(claim, family=_family_of(claim))
    REGISTRY[claim.id] = claim
    return claim


def claim(id: str, reference: str, bound: str, measures: str = "", objectives: str = "",
          grid: dict | None = None, **fields) -> Callable[[Callable], Claim]:
    """Decorator: register ``run(ctx) -> [Record]`` as a claim::

        @claim("my.lemma", reference="My Lemma 1", bound="nu L sqrt(d)")
        def my_lemma(ctx): ...

    ``grid`` (``{"quick": ..., "full": ...}``) describes what runs at each scale (default:
    the same at both); ``fields``: any other :class:`Claim` field."""
    def wrap(run: Callable) -> Claim:
        doc = (run.__doc__ or "").strip().split("\n")[0]
        g = grid or {"quick": "as run", "full": "as run"}
        return register(Claim(id, reference, measures or doc or id, objectives or "-", g, bound,
                              run, **fields))
    return wrap


def estimate_from_interval(value: float, ci, level: float = 0.95, n: int = 0) -> Estimate:
    """An :class:`~..stats.Estimate` from a point value and its symmetric normal (CLT) confidence
    interval ``ci = (lo, hi)`` at ``level``: standard error ``(hi - lo) / (2 z)``, ``z`` the
    normal ``(1 + level)/2`` quantile, so the runner can rebuild it at the corrected level.
    ``ci = (value, value)`` is an exact value (no sampling error)."""
    from scipy.stats import norm

    lo, hi = (float(c) for c in ci)
    value = float(value)
    if lo == hi == value:
        return Estimate(value, 0.0, math.inf, int(n), "exact")
    if not 0.0 < level < 1.0:
        from hdo_theory.errors import HDOInputError

        raise HDOInputError(f"level must be in (0, 1), got {level!r}")
    z = float(norm.ppf(0.5 + level / 2))
    return Estimate(value, (hi - lo) / (2 * z), math.inf, int(n), "mean")


def estimate_from_stats(result: dict, entry: str) -> Estimate:
    """The :class:`~..stats.Estimate` of entry ``entry`` of an ``estimator_stats`` result, with
    its own interval method (``"norm"``: confidence ball; ``"mean"``: CLT, Student t when it
    has degrees of freedom). At the entry's own level a CLT interval comes back as printed; a
    ball comes back wider, since the verification spends ``alpha/2`` on each side (radius
    factor ``1 + sqrt(2 ln(2/alpha))``, :mod:`..stats`)."""
    from hdo_theory.errors import HDOInputError

    e = result.get(entry) if isinstance(result, dict) else None
    if not isinstance(e, dict) or e.get("value") is None or "se" not in e:
        have = ", ".join(k for k, v in (result or {}).items()
                         if isinstance(v, dict) and "se" in v)
        raise HDOInputError(f"estimator_stats entry {entry!r} has no estimate; entries: {have}")
    method = e.get("method", "mean")
    method = "mean" if method == "abs-mean" else method
    dof = e.get("dof")
    return Estimate(float(e["value"]), float(e["se"]),
                    math.inf if dof is None else float(dof), int(e.get("n", 0)), method)
