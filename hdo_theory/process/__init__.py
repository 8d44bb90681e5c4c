"""The HDO gossip process (docs/theory.md section 4): configuration and the replica driver.

:func:`simulate` runs ``R`` independent replicas of one :class:`ProcessConfig` on an
:class:`~hdo_theory.objectives.Objective` and returns a :class:`~hdo_theory.process.results.Results`
with the recorded trajectories. The step loop is the Numba kernel
:func:`hdo_theory.process.kernels.run_chunk`; this module validates the configuration, resolves
learning rates, radii and the problem's optimum, allocates every buffer once per replica, and
runs the replicas on a thread pool (the kernel releases the GIL).

Determinism: replica ``r`` draws everything from ``SeedSequence(seed).spawn(R)[r]``, split into
a process stream and a probe stream (recording probes only), see :func:`replica_generators`.
Each replica's work is independent of the thread it runs on and of the chunking used for the
progress bar, so results are bit-identical for any ``threads`` or ``NUMBA_NUM_THREADS``.

Conventions that the paper leaves open, fixed here:

* ZO nodes are ``0 .. n0-1`` and use ``config.zo``; FO nodes ``n0 .. n-1`` use ``config.fo``.
* ``T`` counts interactions for ``model="pairwise"`` and ``"graph"`` and rounds for
  ``"matching"`` (one round = ``floor(n/2)`` interactions; with odd ``n`` the unmatched node
  steps without averaging).
* The theorem schedules replace both populations' base learning rates by the theorem's single
  ``eta``; ``nu="theorem"`` resolves to ``eta_pop / sqrt(d)`` with the population's base rate.
* Theorem 1's average ``y_t`` uses ``a_t = eta_ref(t) ell / (2n)`` with ``eta_ref`` the
  node-weighted mean of the two populations' rates ``(n0 eta_zo + n1 eta_fo) / n`` times the
  schedule factor (exact for a common rate). Without a known ``ell`` the weights are uniform.
* Learning rate ``0`` is allowed (pure averaging); negative rates are rejected.
"""

from __future__ import annotations

import threading
import time
import weakref
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field

import numpy as np

from hdo_theory import __version__
from hdo_theory.errors import HDOInputError, check_bool, check_choice, check_float, check_int
from hdo_theory.estimators import EstimatorSpec, direction_buffer, kernel_data, resolve_nu
from hdo_theory.limits import MAX_RECORD_POINTS, MAX_REPLICAS, MAX_T, MAX_THREADS
from hdo_theory.objectives.quadratic_form import is_quadratic, quadratic_form
from hdo_theory.process import kernels as PK
from hdo_theory.process.results import Results
from hdo_theory.process.schedules import (
    SCHEDULE_NAMES,
    schedule_code,
    theorem_convex_lr,
    theorem_nonconvex_lr,
)
from hdo_theory.process.topology import TOPOLOGY_NAMES, make_edges, spectral_gap
from hdo_theory.rng import kernel_generator

MODEL_NAMES: tuple[str, ...] = ("pairwise", "matching", "graph")
MOMENTUM_KINDS: tuple[str, ...] = ("heavy-ball", "ema")

__all__ = [
    "PopulationConfig",
    "ProcessConfig",
    "simulate",
    "check_config",
    "replica_generators",
    "record_steps",
    "record_sample_plan",
    "form_min_records",
    "RECORD_FORM_MAX_D",
    "record_subsample",
    "check_record_sample",
    "RECORD_SAMPLE_FULL_UP_TO",
    "RECORD_SAMPLE_AUTO_M",
    "MODEL_NAMES",
    "METRICS",
]

METRICS = PK.METRICS

#: Largest number of recorded steps (``T // record + 2`` with a fixed ``record``): every record
#: holds one float64 per metric and replica, so more than this is a memory error waiting to happen.
MAX_RECORDS = 10_000_000

#: ``record_sample="auto"``: node losses over the full data set (exact) up to this many
#: samples; above it from the quadratic form for a quadratic objective (see
#: :func:`form_min_records`), else on a fixed subsample of :data:`RECORD_SAMPLE_AUTO_M`. At
#: ``N = 196,608`` (``n = 64``, ``d = 100``, 20 records) the exact pass was 98% of a run's time
#: (``benchmarks/README.md``, issue 14); 4,096 samples cut it by ``N / m = 48``.
RECORD_SAMPLE_FULL_UP_TO = 32_768
RECORD_SAMPLE_AUTO_M = 4_096
#: Largest ``d`` for which records use the quadratic form: a record's node losses cost
#: ``n d^2`` from the form against ``n m d`` on the auto subsample (``m =``
#: :data:`RECORD_SAMPLE_AUTO_M`), so above ``d = m`` the subsample is cheaper (and the
#: Hessian, ``8 d^2`` bytes, is 128 MiB at the cap).
RECORD_FORM_MAX_D = RECORD_SAMPLE_AUTO_M


def form_min_records(d: int) -> int:
    """Fewest records for which ``record_sample="auto"`` records a quadratic objective (above
    :data:`RECORD_SAMPLE_FULL_UP_TO` samples) from its quadratic form: ``max(16, d // 16)``.
    The form's Hessian is one ``O(N d^2)`` sum (BLAS ``syrk``), about ``d / 30`` fused data
    passes (2026-12-02, ``N = 196,608``, ``d = 100``: 94 ms against 32 ms a pass, one core),
    and a record without the form costs one fused pass plus the node-loss subsample; with
    fewer records the passes are about as cheap, and the margin covers slower BLAS. A
    function of the configuration only, so a run's route (and its rounding) never depends on
    what an earlier call cached."""
    return max(16, d // 16)


#: Child index of a replica's seed sequence that draws its node-loss subsample: far beyond
#: the children the process and probe streams use, so the subsample never shares their bits.
RECORD_SAMPLE_STREAM = 0x5EC0


@dataclass(frozen=True)
class PopulationConfig:
    """Estimator and optimiser of one population (ZO or FO); the paper tunes them per type.

    momentum ``m`` in ``[0, 1)``: ``heavy-ball`` keeps ``b <- m b + g`` and steps ``eta b``;
    ``ema`` keeps ``b <- m b + (1 - m) g``. ``m = 0`` is plain SGD.
    """

    estimator: EstimatorSpec = field(default_factory=EstimatorSpec)
    lr: float = 0.01
    momentum: float = 0.0
    momentum_kind: str = "heavy-ball"

    def __post_init__(self):
        if not isinstance(self.estimator, EstimatorSpec):
            raise HDOInputError(
                f"estimator must be an EstimatorSpec, got {type(self.estimator).__name__}"
            )
        check_float("lr", self.lr, 0.0)
        check_float("momentum", self.momentum, 0.0, 1.0, hi_open=True)
        check_choice("momentum_kind", self.momentum_kind, MOMENTUM_KINDS)


def _default_zo() -> PopulationConfig:
    return PopulationConfig(EstimatorSpec("zo-forward", rv=1, nu=1e-3, batch=1))


def _default_fo() -> PopulationConfig:
    return PopulationConfig(EstimatorSpec("fo", batch=1))


@dataclass(frozen=True)
class ProcessConfig:
    """One configuration of the gossip process.

    model: ``pairwise`` (Algorithm 1), ``matching`` (the paper's experiments) or ``graph``.
    topology: graph for ``model="graph"``: one of :data:`hdo_theory.process.topology.TOPOLOGY_NAMES`
        (``degree`` for random-regular, ``p`` for erdos-renyi, ``torus_rows``, ``graph_seed``).
    T: interactions (pairwise, graph) or rounds (matching).
    Integer fields (``T``, ``warmup``, ``record``, ...) follow :func:`~hdo_theory.errors.check_int`:
    an integral float (``T=10.0``) is stored as the int ``10``, anything else non-integral is
    refused. Flags (``record_lemma2``, ``record_nodes``, ``record_y``) must be real bools
    (``record_y`` may also be ``None``).
    zo, fo: per-population estimator and optimiser.
    schedule: one of :data:`.schedules.SCHEDULE_NAMES`; ``warmup`` linear warm-up steps.
    local_steps_warmup: initial steps in which nodes step without averaging.
    record: record every ``k`` steps (int), or ``"log"`` (``record_points`` log-spaced steps);
        step 0 and step ``T`` are always recorded.
    record_lemma2: also record ``mg`` (M^G_t) and ``lemma2_cond`` (E[Gamma_{t+1} | X_t]).
    record_nodes: record ``node_loss``, ``loss_spread``, ``zo_loss``, ``fo_loss`` (costs
        ``n`` full passes over the data per record).
    record_y: keep Theorem 1's weighted average ``y_t`` (default: when the objective is convex).
    record_sample: how the recorded losses are evaluated: ``"full"`` (passes over every
        sample, exact), ``"quadratic"`` (least-squares and quadratic objectives: every loss
        and gradient metric from the objective's exact quadratic form,
        :mod:`hdo_theory.objectives.quadratic_form`, ``O(n d^2)`` a record, node losses of
        every node exact), an integer ``m >= 2`` (node losses on a fixed random subsample of
        ``m`` samples per replica, drawn once from the replica's seed: unbiased estimates with
        stated errors ``node_loss_se``, ``loss_spread_se``, ``zo_loss_se``, ``fo_loss_se``, see
        :func:`record_sample_plan`; ``m >= N`` means full), or ``"auto"`` (full when ``N <=``
        :data:`RECORD_SAMPLE_FULL_UP_TO`; above it quadratic for a quadratic objective with
        ``d <=`` :data:`RECORD_FORM_MAX_D` and at least :func:`form_min_records` records, else
        ``m =`` :data:`RECORD_SAMPLE_AUTO_M`). The trajectory does not depend on it; the exact
        routes agree to rounding.
    fixed_node: the node whose loss is ``node_loss``.
    x0: start point (length ``d``; every node starts there) or a per-node start ``(n, d)``
        (for averaging experiments); ``None`` = ``objective.random_point(0)``.
    ell: strong-convexity constant to use (``None`` = from the objective's constants).
    divergence_threshold: a replica stops when a node is non-finite or ``||X^i||`` exceeds it.
    """

    model: str = "pairwise"
    topology: str = "complete"
    degree: int = 4
    p: float = 0.5
    torus_rows: int | None = None
    graph_seed: int = 0
    T: int = 1000
    zo: PopulationConfig = field(default_factory=_default_zo)
    fo: PopulationConfig = field(default_factory=_default_fo)
    schedule: str = "constant"
    warmup: int = 0
    local_steps_warmup: int = 0
    record: str | int = "log"
    record_points: int = 100
    record_lemma2: bool = False
    record_nodes: bool = True
    record_y: bool | None = None
    fixed_node: int = 0
    x0: object = None
    ell: float | None = None
    divergence_threshold: float = 1e8
    record_sample: str | int = "auto"

    def __post_init__(self):
        if self.x0 is not None:  # stored as (nested) tuples: hashable, comparable, JSON-able
            try:
                arr = np.asarray(self.x0, dtype=np.float64)
            except (TypeError, ValueError):
                raise HDOInputError("x0 must be a vector (or an n x d array) of numbers") from None
            if arr.ndim not in (1, 2):
                raise HDOInputError(f"x0 must be a vector or an n x d array, got shape {arr.shape}")
            object.__setattr__(
                self,
                "x0",
                tuple(tuple(row) for row in arr.tolist()) if arr.ndim == 2 else tuple(arr.tolist()),
            )
        check_choice("model", self.model, MODEL_NAMES)
        check_choice("topology", self.topology, TOPOLOGY_NAMES)
        # integers follow check_int: an integral float (T=10.0) is accepted and stored as the
        # int 10; a non-integral one (T=10.5), a bool or a string is refused naming the field
        self._set_int("degree", 1)
        check_float("p", self.p, 0.0, 1.0, lo_open=True)
        if self.torus_rows is not None:
            self._set_int("torus_rows", 1)
        self._set_int("graph_seed", 0)
        self._set_int("T", 1, MAX_T)
        for name in ("zo", "fo"):
            if not isinstance(getattr(self, name), PopulationConfig):
                raise HDOInputError(f"{name} must be a PopulationConfig, "
                                    f"got {type(getattr(self, name)).__name__}")
        check_choice("schedule", self.schedule, SCHEDULE_NAMES)
        self._set_int("warmup", 0, self.T)
        self._set_int("local_steps_warmup", 0, self.T)
        if isinstance(self.record, str):
            if self.record != "log":
                raise HDOInputError(
                    f"record must be a positive integer or 'log', got {self.record!r}"
                )
        else:
            try:
                self._set_int("record", 1)
            except HDOInputError:
                raise HDOInputError(
                    f"record must be a positive integer or 'log', got {self.record!r}"
                ) from None
            _check_n_records(self.T, self.record)
        self._set_int("record_points", 2, MAX_RECORD_POINTS)
        # flags must be real bools: bool("no") is True, so a string would turn recording on
        check_bool("record_lemma2", self.record_lemma2)
        check_bool("record_nodes", self.record_nodes)
        check_bool("record_y", self.record_y, allow_none=True)
        self._set_int("fixed_node", 0)
        if self.ell is not None:
            check_float("ell", self.ell, 0.0, lo_open=True)
        check_float("divergence_threshold", self.divergence_threshold, 0.0, lo_open=True)
        object.__setattr__(self, "record_sample", check_record_sample(self.record_sample))

    def _set_int(self, name: str, lo=None, hi=None) -> None:
        object.__setattr__(self, name, check_int(name, getattr(self, name), lo, hi))

    def as_dict(self) -> dict:
        d = asdict(self)
        # a default-valued field added after 0.2 is left out, so the run-spec and sweep hashes
        # (and the caches keyed by them) of every configuration that does not use it stay as
        # they were; from_dict restores the default
        if d.get("record_sample") == "auto":
            del d["record_sample"]
        if d["x0"] is not None:
            d["x0"] = np.asarray(d["x0"], dtype=float).tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ProcessConfig:
        """Inverse of :meth:`as_dict` (used to rebuild a run from its results file)."""
        d = dict(d)
        for pop in ("zo", "fo"):
            if isinstance(d.get(pop), dict):
                p = dict(d[pop])
                if isinstance(p.get("estimator"), dict):
                    p["estimator"] = EstimatorSpec(**p["estimator"])
                d[pop] = PopulationConfig(**p)
        return cls(**d)


def record_steps(T: int, record, record_points: int = 100) -> np.ndarray:
    """Sorted unique step counts to record at: every ``record`` steps, or log-spaced.

    Step 0 and step ``T`` are always included.
    """
    T = check_int("T", T, 1, MAX_T)
    if record == "log":
        pts = np.unique(np.round(np.geomspace(1, T, max(2, record_points - 1))).astype(np.int64))
    else:
        k = check_int("record", record, 1)
        _check_n_records(T, k)
        pts = np.arange(k, T + 1, k, dtype=np.int64)
    return np.unique(np.concatenate([[0], pts, [T]])).astype(np.int64)


def _check_n_records(T: int, record: int) -> None:
    """Recording every ``record`` steps of ``T`` must give at most :data:`MAX_RECORDS` records."""
    n_records = T // record + 2
    if n_records > MAX_RECORDS:
        raise HDOInputError(
            f"record={record} with T={T} gives {n_records} records, more than {MAX_RECORDS}; "
            f"use record >= {-(-T // (MAX_RECORDS - 2))} or record 'log'"
        )


def check_record_sample(value, name: str = "record_sample"):
    """``"auto"``, ``"full"``, ``"quadratic"`` or an integer ``>= 2`` (an integral string or
    float is converted)."""
    if isinstance(value, str) and value.strip().lower() in ("auto", "full", "quadratic"):
        return value.strip().lower()
    msg = (f"{name} must be 'auto', 'full', 'quadratic' or an integer >= 2 (samples), "
           f"got {value!r}")
    if isinstance(value, bool):
        raise HDOInputError(msg)
    try:
        v = int(value.strip()) if isinstance(value, str) else value
        return check_int(name, v, 2)
    except (HDOInputError, ValueError, TypeError):
        raise HDOInputError(msg) from None


def record_sample_plan(objective, config: ProcessConfig) -> dict:
    """What the node losses of a run are computed on (stored as ``results.info["record_sample"]``).

    ``{"mode": "full" | "quadratic" | "subsample" | "off", "m": samples per replica (N when
    full), "N": data-set size, "requested": config.record_sample, "evaluation": "data pass" |
    "quadratic form"}``; a subsample adds how it is drawn and which stated-error metrics it
    records. ``"off"`` when ``record_nodes`` is false (``evaluation`` still says how gap,
    gradient norm and y-gap are computed). ``"quadratic"`` for an objective that is not a
    quadratic is refused with a one-line error.
    """
    N = int(objective.weights.shape[0])
    req = config.record_sample
    quad = is_quadratic(objective)
    d = int(getattr(objective, "d", 0))
    if req == "quadratic" and not quad:
        raise HDOInputError(
            "record_sample='quadratic' needs a least-squares or quadratic objective (an exact "
            "quadratic form); use 'auto', 'full' or a subsample size for this one")
    if req == "quadratic" and d > RECORD_FORM_MAX_D:
        raise HDOInputError(
            f"record_sample='quadratic' needs d <= {RECORD_FORM_MAX_D} (the form's d x d "
            f"Hessian and O(n d^2) node losses a record), got d = {d}; use 'auto' or 'full'")
    n_rec = int(record_steps(config.T, config.record, config.record_points).shape[0])
    use_form = req == "quadratic" or (req == "auto" and quad and N > RECORD_SAMPLE_FULL_UP_TO
                                      and d <= RECORD_FORM_MAX_D
                                      and n_rec >= form_min_records(d))
    plan = {"requested": req, "N": N,
            "evaluation": "quadratic form" if use_form else "data pass"}
    if use_form:
        plan["form"] = ("f(x) = f* + r.e + e^T H e / 2, grad f(x) = r + H e, e = x - x*, "
                        "H the exact Hessian, r = grad f(x*): exact, O(d^2) per point")
    if not config.record_nodes:
        return {**plan, "mode": "off", "m": 0}
    if use_form:
        return {**plan, "mode": "quadratic", "m": N}
    if req == "auto":
        m = N if N <= RECORD_SAMPLE_FULL_UP_TO else RECORD_SAMPLE_AUTO_M
    elif req == "full":
        m = N
    else:
        m = int(req)
    if m >= N:
        return {**plan, "mode": "full", "m": N}
    return {**plan, "mode": "subsample", "m": m,
            "drawn": "per replica, once, i.i.d. with replacement from q_j = |w_j| / sum |w|, "
                     f"from child {RECORD_SAMPLE_STREAM} of the replica's seed sequence",
            "weights": "w_j / (m q_j): the estimates of f(X^k) are unbiased",
            "exact_metrics": "every metric but node_loss, loss_spread, zo_loss, fo_loss",
            "error_metrics": {"node_loss_se": "standard error", "zo_loss_se": "standard error",
                              "fo_loss_se": "standard error",
                              "loss_spread_se": "estimated bound on the root-mean-square "
                                                "error (loss_spread is the plug-in spread)"}}


def _record_form(objective, plan: dict, x_star: np.ndarray, ipar: np.ndarray):
    """``(H, r)`` of the objective's quadratic form around ``x_star`` when the plan records with
    it (and ``ipar[I_QUAD]`` set), else empty arrays of the same types (one compiled kernel)."""
    if plan["evaluation"] != "quadratic form":
        return np.zeros((0, 0)), np.zeros(0)
    form = quadratic_form(objective)  # cached, around the constants' x* (the run's, as a rule)
    if not np.array_equal(form.x_ref, x_star):
        form = quadratic_form(objective, x_ref=x_star, f_ref=None)
    ipar[PK.I_QUAD] = 1
    return np.ascontiguousarray(form.H), np.ascontiguousarray(form.r)


def record_subsample(weights, seed_seq: np.random.SeedSequence, m: int):
    """``(indices, importance weights)`` of one replica's node-loss subsample.

    ``m`` indices drawn i.i.d. from ``q_j = |w_j| / sum_l |w_l|`` (with replacement, so the
    estimate's variance has the plain ``s^2 / m`` form), with weights ``w_j / (m q_j)``:
    ``sum_a sw_a F(x, j_a)`` is unbiased for ``f(x) = sum_j w_j F(x, j)``. Drawn from child
    :data:`RECORD_SAMPLE_STREAM` of ``seed_seq`` (built from its key, not spawned, so the draw
    does not depend on how many children were spawned before); indices sorted, so the record
    pass reads the data in order.
    """
    w = np.asarray(weights, dtype=np.float64)
    aw = np.abs(w)
    total = float(aw.sum())
    child = np.random.SeedSequence(entropy=seed_seq.entropy,
                                   spawn_key=tuple(seed_seq.spawn_key) + (RECORD_SAMPLE_STREAM,))
    u = np.random.Generator(np.random.PCG64(child)).random(int(m)) * total
    idx = np.minimum(np.searchsorted(np.cumsum(aw), u, side="right"), w.shape[0] - 1)
    idx = np.sort(idx).astype(np.int64)
    sw = np.sign(w[idx]) * (total / m)  # = w_j / (m q_j)
    return idx, np.ascontiguousarray(sw)


def replica_generators(seed: int, R: int, r: int):
    """``(process_rng, probe_rng)`` of replica ``r`` of a run with root ``seed``, ``R`` replicas."""
    return _generators_of(np.random.SeedSequence(int(seed)).spawn(int(R))[int(r)])


def _generators_of(ss: np.random.SeedSequence):
    proc, probe = ss.spawn(2)
    return kernel_generator(proc), kernel_generator(probe)


# ---------------------------------------------------------------------------------------------
# The optimum and constants of the objective
# ---------------------------------------------------------------------------------------------

_OPT_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def problem_facts(objective) -> dict:
    """``x_star``, ``f_star``, ``ell``, ``L`` and the constants dict of ``objective``.

    Read from ``objective.constants``, a :class:`hdo_theory.objectives.constants.Constants`
    (fields ``x_star``, ``f_star``, ``ell`` (``None`` if not strongly convex), ``L``); ``ell <= 0``
    counts as unknown (``None``). Every objective kind of :mod:`hdo_theory.objectives` has
    constants, so the L-BFGS fallback is only for objects without a ``constants`` attribute
    (duck-typed objectives from outside the package): there ``x*`` is found by L-BFGS on ``f``
    (gradient tolerance 1e-12) from ``objective.random_point(0)`` (for a non-convex objective
    that is a stationary point, so ``gap`` may be negative), and ``ell``, ``L`` are unknown
    (None). An error while computing the constants is raised, not hidden by the fallback.
    """
    if objective in _OPT_CACHE:
        return _OPT_CACHE[objective]
    facts: dict = {"x_star": None, "f_star": None, "ell": None, "L": None, "constants": {}}
    c = getattr(objective, "constants", None)
    if c is None:
        facts["constants"] = {"error": "constants unavailable: the objective has no constants"}
    else:
        try:
            facts["constants"] = dict(c.as_dict())
        except Exception as exc:  # constants are written concurrently; never block a run
            facts["constants"] = {"error": f"as_dict failed: {exc}"}
        facts["x_star"] = np.asarray(c.x_star, dtype=float).copy()
        facts["f_star"] = float(c.f_star)
        facts["optimum_source"] = "objective.constants"
        facts["ell"] = float(c.ell) if c.ell is not None and float(c.ell) > 0 else None
        facts["L"] = float(c.L) if c.L is not None else None
    if facts["x_star"] is None:
        from scipy.optimize import minimize

        x0 = objective.random_point(0)
        res = minimize(
            objective.value,
            x0,
            jac=objective.grad,
            method="L-BFGS-B",
            options=dict(maxiter=20000, gtol=1e-12, ftol=1e-16, maxcor=30),
        )
        facts["x_star"] = np.asarray(res.x, dtype=float)
        facts["f_star"] = float(objective.value(res.x))
        facts["optimum_source"] = "L-BFGS fallback"
    _OPT_CACHE[objective] = facts
    return facts


# ---------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------


class _Replica:
    """All state and work buffers of one replica (allocated once)."""

    def __init__(self, objective, x0_nodes, seed_seq, need_B, need_D):
        n, d = objective.n, objective.d
        self.X = np.array(x0_nodes, dtype=np.float64, copy=True)
        self.B = np.zeros((n, d) if need_B else (1, d))
        self.mu_run = self.X.mean(axis=0)
        self.y = self.mu_run.copy()
        self.fstate = np.array([-np.inf, 0.0, 0.0])  # layout: kernels S_*
        self.istate = np.array([-1, 0], dtype=np.int64)
        self.match_perm = np.arange(n, dtype=np.int64)
        self.perm = objective.shard_idx.copy()
        self.perm_probe = objective.shard_idx.copy()
        self.rng, self.rng_probe = _generators_of(seed_seq)
        self.G = np.zeros((2, d))
        self.u = direction_buffer(d)  # estimator directions, see estimators.estimate
        self.xtmp = np.zeros(d)
        self.mu = np.zeros(d)
        self.gbuf = np.zeros(d)
        self.g = np.zeros(d)
        self.dk = np.zeros(d)
        self.sY = np.zeros(d)
        self.sD = np.zeros(d)
        self.Dbuf = np.zeros((n, d) if need_D else (1, d))
        self.nodebuf = np.zeros(n)

    # the argument tuples of kernels.run_chunk (layouts in the kernels module docstring)
    @property
    def state(self) -> tuple:
        return (
            self.X,
            self.B,
            self.mu_run,
            self.y,
            self.fstate,
            self.istate,
            self.match_perm,
            self.perm,
        )

    @property
    def streams(self) -> tuple:
        return (self.rng, self.rng_probe, self.perm_probe)

    @property
    def workspace(self) -> tuple:
        return (
            self.G,
            self.u,
            self.xtmp,
            self.mu,
            self.gbuf,
            self.g,
            self.dk,
            self.sY,
            self.sD,
            self.Dbuf,
            self.nodebuf,
        )


def check_config(objective, config: ProcessConfig, facts: dict | None = None) -> None:
    """Make every check :func:`simulate` makes of ``config`` against ``objective``, without
    running anything: ``n >= 2``, the fixed node, the schedule's ``ell``, each population's
    minibatch against its smallest shard and ``nu = 'theorem'`` against its rate, the graph,
    the start point ``x0``, the record steps and ``record_sample`` (:func:`record_sample_plan`:
    ``"quadratic"`` needs a quadratic objective with ``d <=`` :data:`RECORD_FORM_MAX_D`).
    Raises :class:`HDOInputError` like
    ``simulate`` would. ``facts`` (:func:`problem_facts`) is computed only when needed (schedule
    ``theorem-convex`` without ``config.ell``).
    """
    if not isinstance(config, ProcessConfig):
        raise HDOInputError("config must be a ProcessConfig")
    if facts is None and config.schedule == "theorem-convex" and config.ell is None:
        facts = problem_facts(objective)
    _check_against(objective, config, facts or {})
    if config.model == "graph":
        make_edges(config.topology, objective.n, degree=config.degree, p=config.p,
                   torus_rows=config.torus_rows, seed=config.graph_seed)
    _start_nodes(objective, config)
    record_steps(config.T, config.record, config.record_points)
    record_sample_plan(objective, config)


def _check_against(objective, config: ProcessConfig, facts: dict):
    """The checks of ``config`` against ``objective`` that :func:`_resolve` needs first;
    returns ``(ell, lrs)``."""
    n, n0, n1, d = objective.n, objective.n0, objective.n1, objective.d
    if n < 2:
        raise HDOInputError(f"n must be >= 2, got {n}")
    check_int("fixed_node", config.fixed_node, 0, n - 1)
    ell = config.ell if config.ell is not None else facts.get("ell")
    lrs = [config.zo.lr, config.fo.lr]
    # Theorem 1's T counts interactions; a matching round is floor(n/2) of them
    T_interactions = config.T * (n // 2) if config.model == "matching" else config.T
    if config.schedule == "theorem-convex":
        if ell is None:
            raise HDOInputError(
                "ell is needed by schedule theorem-convex and the objective's constants do not "
                "provide it; set ell"
            )
        eta = theorem_convex_lr(n, T_interactions, ell)
        lrs = [eta, eta]
    elif config.schedule == "theorem-nonconvex":
        eta = theorem_nonconvex_lr(n, d, T_interactions)
        lrs = [eta, eta]
    for p, (pc, m) in enumerate(zip([config.zo, config.fo], [n0, n1], strict=True)):
        label = ("zo", "fo")[p]
        spec = pc.estimator
        if m > 0:
            nodes = range(0, n0) if p == 0 else range(n0, n)
            smallest = min(objective.shard_size(i) for i in nodes)
            if spec.batch > smallest:
                raise HDOInputError(
                    f"{label}_batch must be <= the smallest {label.upper()} shard size "
                    f"{smallest} (config.{label}.estimator.batch), got {spec.batch}"
                )
        if isinstance(spec.nu, str) and lrs[p] <= 0:
            raise HDOInputError(f"{label}_nu='theorem' needs a positive {label}_lr "
                                f"(the {label.upper()} learning rate), got {lrs[p]:g}")
    return ell, lrs


def _resolve(objective, config: ProcessConfig, facts: dict):
    """Validate ``config`` against ``objective``; return the kernel parameter arrays and info."""
    n, n0, n1, d = objective.n, objective.n0, objective.n1, objective.d
    ell, lrs = _check_against(objective, config, facts)
    pops = [config.zo, config.fo]
    pop_i = np.zeros((2, 4), dtype=np.int64)
    pop_f = np.zeros((2, 3))
    nus = []
    for p, pc in enumerate(pops):
        spec = pc.estimator
        if isinstance(spec.nu, str):
            nu = resolve_nu(spec.nu, d, lrs[p])
        else:
            nu = float(spec.nu)
        nus.append(nu)
        pop_i[p] = [spec.code, spec.rv, spec.batch, 1 if pc.momentum_kind == "ema" else 0]
        pop_f[p] = [nu, lrs[p], pc.momentum]
    model = {"pairwise": PK.MODEL_PAIRWISE, "matching": PK.MODEL_MATCHING, "graph": PK.MODEL_GRAPH}[
        config.model
    ]
    if config.model == "graph":
        edges = make_edges(
            config.topology,
            n,
            degree=config.degree,
            p=config.p,
            torus_rows=config.torus_rows,
            seed=config.graph_seed,
        )
        gap = spectral_gap(edges, n)
        contraction = gap
    else:
        edges = np.zeros((0, 2), dtype=np.int64)
        gap = 1.0 / (n - 1)  # complete graph
        contraction = gap if config.model == "pairwise" else (n // 2) / (n - 1)
    do_y = objective.convex if config.record_y is None else bool(config.record_y)
    lr_ref = (n0 * lrs[0] + n1 * lrs[1]) / n
    ycoef = lr_ref * ell / (2.0 * n) if ell is not None else 0.0
    ipar = np.zeros(PK.N_IPAR, dtype=np.int64)
    ipar[PK.I_MODEL] = model
    ipar[PK.I_N0] = n0
    ipar[PK.I_N] = n
    ipar[PK.I_SCHED] = schedule_code(config.schedule)
    ipar[PK.I_T] = config.T
    ipar[PK.I_WARMUP] = config.warmup
    ipar[PK.I_LOCAL] = config.local_steps_warmup
    ipar[PK.I_FIXED] = config.fixed_node
    ipar[PK.I_DO_Y] = int(do_y)
    ipar[PK.I_DO_NODES] = int(config.record_nodes)
    ipar[PK.I_DO_L2] = int(config.record_lemma2)
    ipar[PK.I_DO_HELD] = int(objective.heldout is not None)
    fpar = np.array([facts["f_star"], ycoef, config.divergence_threshold])
    info = dict(
        n=n,
        n0=n0,
        n1=n1,
        d=d,
        interactions_per_step=(n // 2) if config.model == "matching" else 1,
        lr_zo=lrs[0],
        lr_fo=lrs[1],
        nu_zo=nus[0],
        nu_fo=nus[1],
        spectral_gap=gap,
        averaging_contraction=contraction,
        n_edges=int(edges.shape[0]) or n * (n - 1) // 2,
        y_recorded=do_y,
        y_ell=ell,
        y_lr_ref=lr_ref,
        x_star=facts["x_star"],
        f_star=facts["f_star"],
        optimum_source=facts.get("optimum_source"),
        ell=ell,
        L=facts.get("L"),
    )
    return ipar, pop_i, pop_f, fpar, edges, info


def _run_constants(objective, facts: dict, config: ProcessConfig) -> dict:
    """The constants dict with the run's minibatch-dependent ``s_i^2`` and ``sigma_k^2`` added.

    ``s_sq[i]`` uses node i's population batch; ``sigma0_sq`` the ZO batch, ``sigma1_sq`` the FO
    batch (Definition 1). Left out if the objective's constants are unavailable.
    """
    out = dict(facts.get("constants", {}))
    if "error" in out:
        return out
    try:
        c = objective.constants
        bz, bf = config.zo.estimator.batch, config.fo.estimator.batch
        n0 = objective.n0
        s_z, s_f = c.s_sq(bz), c.s_sq(bf)
        s = np.concatenate([s_z[:n0], s_f[n0:]])
        out.update(
            zo_batch=bz,
            fo_batch=bf,
            s_sq=[float(v) for v in s],
            sigma0_sq=c.sigma_sq(bz)[0],
            sigma1_sq=c.sigma_sq(bf)[1],
        )
    except Exception as exc:  # never block a run on the constants
        out["sigma_error"] = f"{exc.__class__.__name__}: {exc}"
    return out


def _start_nodes(objective, config):
    n, d = objective.n, objective.d
    if config.x0 is None:
        x0 = objective.random_point(0)
    else:
        x0 = np.asarray(config.x0, dtype=np.float64)
    if x0.shape == (d,):
        nodes = np.tile(x0, (n, 1))
    elif x0.shape == (n, d):
        nodes = x0.copy()
    else:
        raise HDOInputError(f"x0 must have shape ({d},) or ({n}, {d}), got {x0.shape}")
    if not np.all(np.isfinite(nodes)):
        raise HDOInputError("x0 must be finite (no NaN or inf)")
    return np.ascontiguousarray(nodes)


#: Wall time one kernel call aims at: the stop word is checked at every step, and between
#: calls the worker also checks for Ctrl-C, so a call this short bounds the latency even
#: where a single step is long (matching rounds over many nodes).
CHUNK_TARGET_S = 0.1


def _run_bounded(problem, params, st, recording, t0: int, t1: int, stop, bar,
                 steps: int = 1) -> int:
    """Run steps ``t0 .. t1`` of one replica in kernel calls of about :data:`CHUNK_TARGET_S`.

    The first call does ``steps`` steps (one at the start of a replica); each next call is
    sized from the steps per second the previous one measured (at most 4 times larger, so a
    call that included compilation or a slow record does not mislead it). ``run_chunk`` keeps
    all state in the replica's arrays, so the split changes no bit of the result. Returns the
    size for the next call.
    """
    t = t0
    while t < t1 and not stop.is_set():
        t_end = min(t1, t + steps)
        tic = time.perf_counter()
        PK.run_chunk(problem, params, st.state, st.streams, st.workspace, recording, t, t_end)
        elapsed = time.perf_counter() - tic
        if bar is not None:  # the steps this call did (tqdm's update is thread-safe)
            bar.update(t_end - t)
        if st.istate[PK.S_DIVERGED] >= 0:  # a diverged replica does nothing more
            if bar is not None:
                bar.update(t1 - t_end)
            return steps
        done = t_end - t
        t = t_end
        steps = max(1, min(4 * done, int(done * CHUNK_TARGET_S / max(elapsed, 1e-9))))
    return steps


def simulate(
    objective,
    config: ProcessConfig,
    replicas: int = 1,
    seed: int = 0,
    threads: int | None = None,
    progress: bool = False,
    keep_state: bool = False,
    chunks: int | None = None,
) -> Results:
    """Run ``replicas`` independent replicas of ``config`` on ``objective``.

    threads: worker threads over replicas (default: ``min(replicas, NUMBA_NUM_THREADS)``).
    progress: show a tqdm bar on stderr counting steps (interactions, or rounds for
        ``model="matching"``) over all replicas: ``replicas * T`` in all.
    keep_state: store the final node models ``X`` (``(R, n, d)``) in ``results.state``.
    chunks: split each replica's ``T`` steps into at least this many parts (default 1, or 50
        with a progress bar); inside each part the kernel calls are sized to about
        :data:`CHUNK_TARGET_S` of wall time, so Ctrl-C stops a run within a fraction of a
        second. The result does not depend on either split.

    Ctrl-C (``KeyboardInterrupt``) stops every replica within one step (the kernels' stop
    word) and is raised again; nothing of the interrupted run is returned. The returned
    metrics are views of one metric-major buffer ``(len(METRICS), R, n_rec)``: no copy is made
    after the run.
    """
    from hdo_theory.objectives import Objective

    if not isinstance(objective, Objective):
        hint = (f"; build it with make_objective({objective!r})"
                if isinstance(objective, str) else "")
        raise HDOInputError(f"objective must be an Objective (from make_objective), got "
                            f"{type(objective).__name__}{hint}")
    if not isinstance(config, ProcessConfig):
        raise HDOInputError(f"config must be a ProcessConfig, got {type(config).__name__}")
    progress = check_bool("progress", progress)
    keep_state = check_bool("keep_state", keep_state)
    R = check_int("replicas", replicas, 1, MAX_REPLICAS)
    seed = check_int("seed", seed, 0)
    if threads is None:
        import numba

        threads = max(1, min(R, int(numba.config.NUMBA_NUM_THREADS)))
    threads = check_int("threads", threads, 1, MAX_THREADS)
    n_chunks = check_int("chunks", chunks if chunks is not None else (50 if progress else 1), 1)
    n_chunks = min(n_chunks, config.T)

    facts = problem_facts(objective)
    ipar, pop_i, pop_f, fpar, edges, info = _resolve(objective, config, facts)
    # the kernel takes a tuple of the objective's type either way; unused when there is none
    held = objective.heldout if objective.heldout is not None else objective.data
    x_nodes = _start_nodes(objective, config)
    rec_t = record_steps(config.T, config.record, config.record_points)
    n_rec = rec_t.shape[0]
    # metric-major: metric k of every replica is the contiguous block out[k], so the Results
    # metrics are views of this one buffer and nothing is copied after the run (a copy would
    # double the peak memory at the very end, where a run that fitted would die)
    out = np.full((len(PK.METRICS), R, n_rec), np.nan)
    sample_plan = record_sample_plan(objective, config)
    subsample = sample_plan["mode"] == "subsample"
    # (one replica's slice has the same array layout either way: one compiled kernel)
    se_out = np.full((len(PK.SE_METRICS), R if subsample else 1, n_rec), np.nan)
    x_star = np.ascontiguousarray(facts["x_star"], dtype=np.float64)
    quad = _record_form(objective, sample_plan, x_star, ipar)
    need_B = bool(np.any(pop_f[:, PK.P_MOM] > 0))
    need_D = config.model == "graph" and config.record_lemma2
    bounds = np.linspace(0, config.T, n_chunks + 1).round().astype(np.int64)
    # estimator plugins ride in the objective data tuple (no plugin: the data itself)
    obj = kernel_data(objective.data, *(int(c) for c in pop_i[:, PK.P_CODE]))
    problem = (obj, objective.weights, objective.shard_ptr, x_star, edges, held, quad)
    params = (ipar, pop_i, pop_f, fpar)

    bar = None
    if progress:
        from tqdm import tqdm

        unit = "round" if config.model == "matching" else "interaction"
        desc = f"{unit}s" + (f" ({R} replicas)" if R > 1 else "")
        bar = tqdm(total=R * config.T, desc=desc, unit=unit, unit_scale=True, leave=False)
    states: list = [None] * R
    seed_seqs = np.random.SeedSequence(seed).spawn(R)

    stop = threading.Event()

    def work(r: int):
        st = _Replica(objective, x_nodes, seed_seqs[r], need_B, need_D)
        if subsample:
            s_idx, s_w = record_subsample(objective.weights, seed_seqs[r], sample_plan["m"])
            s_out, s_buf = se_out[:, r, :], np.zeros((3, objective.n))
        else:  # empty: exact node losses
            s_idx, s_w = np.zeros(0, np.int64), np.zeros(0)
            s_out, s_buf = se_out[:, 0, :], np.zeros((3, 1))
        recording = (rec_t, out[:, r, :], s_idx, s_w, s_out, s_buf)
        steps = 1
        for c in range(n_chunks):
            steps = _run_bounded(problem, params, st, recording, int(bounds[c]),
                                 int(bounds[c + 1]), stop, bar, steps)
            if stop.is_set():
                return
        states[r] = (int(st.istate[PK.S_DIVERGED]), st.X if keep_state else None)

    t_start = time.perf_counter()
    # the replicas run on worker threads even with threads=1: the main thread only waits, so
    # Ctrl-C reaches it at once (a signal is handled between bytecodes, never inside a kernel
    # call) and it can raise the kernels' stop word (ipar[I_STOP], read every step)
    parallel = threads > 1 and R > 1
    ex = ThreadPoolExecutor(max_workers=threads if parallel else 1)
    try:
        futures = ([ex.submit(work, r) for r in range(R)] if parallel
                   else [ex.submit(lambda: [work(r) for r in range(R)])])
        # wait in short slices: a signal that the OS delivered to a worker thread instead
        # of the main one is still acted on within one slice
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.1, return_when=FIRST_EXCEPTION)
            for f in done:
                f.result()  # a worker's error is raised here
    except BaseException:
        stop.set()
        ipar[PK.I_STOP] = 1
        ex.shutdown(wait=True, cancel_futures=True)  # each kernel returns within one step
        raise
    finally:
        ex.shutdown(wait=True)
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - t_start

    diverged = np.array([s[0] for s in states], dtype=np.int64)
    metrics = {name: out[k] for k, name in enumerate(PK.METRICS)}  # views, no copy
    if subsample:  # the stated errors exist only for estimated node losses
        metrics.update({name: se_out[k] for k, name in enumerate(PK.SE_METRICS)})
    info.update(wall_time_s=wall, threads=threads, replicas=R, chunks=n_chunks,
                record_sample=sample_plan)
    state = {"X": np.stack([s[1] for s in states])} if keep_state else {}
    return Results(
        t=rec_t,
        metrics=metrics,
        diverged_at=diverged,
        config=config.as_dict(),
        seed=seed,
        version=__version__,
        constants=_run_constants(objective, facts, config),
        objective_meta=dict(objective.meta),
        info=info,
        state=state,
    )
