"""Exact expected dynamics of the gossip process on quadratics, without Monte Carlo.

On a quadratic objective every estimator of :mod:`hdo_theory.estimators` is an affine function
of the node model plus noise whose second moment is an affine function of the model's second
moment, so the mean ``m`` and second moment ``S`` of the stacked node models evolve by an
exact affine map, averaged in closed form over the pair (matching, edge) draw
(docs/theory.md section 9). :func:`expected_dynamics` runs that map and reports
the expectations that :func:`hdo_theory.process.simulate` estimates by replicas.

Scope (anything else is refused with a one-line :class:`~hdo_theory.errors.HDOInputError`):

* objective: the explicit quadratic (``hdo_theory.objectives.explicit_quadratic``: shared
  Hessian, isotropic additive noise; the fast path, ``O(n^2 d)`` per interaction, ``O(n d)`` for
  runs of uniform pairwise steps by :mod:`hdo_theory.exact.lazy`), or the
  built-in ``quadratic`` and ``least-squares`` kinds (the dense path of
  :mod:`hdo_theory.exact.dense`: per-sample Hessians, minibatches without replacement,
  ``O(n^2 d^3 + n d^4)`` per step, ``n d <= 512``);
* estimators: ``fo``, ``coord-fd``, ``zo-forward``, ``zo-central``, ``zo-directional``,
  ``zo-sphere`` (any ``rv``; ``batch = 1`` on the explicit quadratic, any batch on the dense
  kinds);
* models ``pairwise``, ``matching``, ``graph`` (every topology), local warm-up steps;
* schedules ``constant``, ``cosine``, ``theorem-convex``, ``theorem-nonconvex``, with a linear
  warm-up;
* Theorem 1's weighted average ``y_t`` (metric ``y_gap``) when ``record_y`` is on (default for
  convex objectives);
* no momentum (the state does not carry momentum buffers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hdo_theory.errors import HDOInputError, check_int
from hdo_theory.exact import engine as _engine
from hdo_theory.exact import fast as _fast
from hdo_theory.exact import moments as _mo

__all__ = [
    "EXACT_METRICS",
    "NON_QUADRATIC_METRICS",
    "ExactDynamics",
    "expected_dynamics",
    "check_at",
    "build_fast_model",
    "build_dense_model",
    "DENSE_KINDS",
    "PATHS",
]

#: Metrics the engine computes exactly (expectations of quadratic forms of the state).
EXACT_METRICS: tuple[str, ...] = (
    "gap",
    "dist_sq",
    "grad_norm_sq",
    "gamma",
    "mg",
    "y_gap",
    "node_loss",
    "zo_loss",
    "fo_loss",
    "lemma2_cond",
)
#: Metrics of :func:`~hdo_theory.process.simulate` that are not expectations of quadratic forms.
NON_QUADRATIC_METRICS: tuple[str, ...] = (
    "loss_spread",
    "max_node_dist_sq",
    "heldout_loss",
    "heldout_acc",
)


@dataclass(frozen=True)
class ExactDynamics:
    """Exact expectations at the steps ``t``: ``r["gap"]`` is an array over ``t``.

    ``info`` holds the resolved rates, radii, the path taken (``"fast"``) and the wall time;
    ``mean`` is the exact mean model ``E mu_t`` (``(len(t), d)``, original coordinates; not a
    metric: a vector, not an expectation of a quadratic form).
    """

    t: np.ndarray
    values: dict
    info: dict = field(default_factory=dict)
    mean: np.ndarray | None = None

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self.values)

    def __getitem__(self, name: str) -> np.ndarray:
        if name in self.values:
            return self.values[name]
        if name in NON_QUADRATIC_METRICS:
            raise HDOInputError(
                f"metric {name!r} is not an expectation of a quadratic form of the state; the "
                f"exact engine gives {', '.join(self.values)}"
            )
        if name == "y_gap":
            raise HDOInputError(
                "metric 'y_gap' needs Theorem 1's average y_t, which this run does not carry "
                "(set record_y=True and give ell)"
            )
        raise HDOInputError(f"metric must be one of {', '.join(self.values)}; got {name!r}")

    def __contains__(self, name) -> bool:
        return name in self.values

    def as_dict(self) -> dict:
        """JSON-ready: ``{"t": [...], "metrics": {name: [...]}, "info": {...}}``."""
        return {
            "t": [int(v) for v in self.t],
            "metrics": {k: [float(x) for x in v] for k, v in self.values.items()},
            "info": dict(self.info),
        }

    def to_long(self) -> list[dict]:
        """One row ``{"t", "metric", "value"}`` per step and metric (tidy / long format)."""
        return [
            {"t": int(t), "metric": k, "value": float(v[i])}
            for k, v in self.values.items()
            for i, t in enumerate(self.t)
        ]


def check_at(at, T: int) -> np.ndarray:
    """``at`` as a strictly increasing int64 array of steps in ``[0, T]`` (one-line errors)."""
    try:
        arr = np.asarray(at)
    except Exception:
        raise HDOInputError("at must be a list of step counts") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or arr.size == 0:
        raise HDOInputError(f"at must be a non-empty list of step counts in [0, {T}]")
    out = np.array([check_int("at", v, 0, T) for v in arr.tolist()], dtype=np.int64)
    if np.any(np.diff(out) <= 0):
        raise HDOInputError(f"at must be strictly increasing, got {out.tolist()}")
    return out


def _explicit_arrays(objective):
    """``(A, B, n0, noise)`` of an explicit quadratic objective, else None."""
    from hdo_theory.objectives import kernels as K
    from hdo_theory.objectives.explicit import explicit_quadratic_parts

    if getattr(objective, "kind", None) != K.KIND_EXPLICIT_QUADRATIC:
        return None
    p = explicit_quadratic_parts(objective)
    return p.A, p.B, p.n0, p.noise


def _check_scope(config, n: int, n0: int, explicit: bool) -> None:
    for label, pc, m in (("zo", config.zo, n0), ("fo", config.fo, n - n0)):
        if m == 0:
            continue
        _mo.check_estimator(pc.estimator.kind, label)
        if pc.momentum > 0:
            raise HDOInputError(
                f"{label}_momentum={pc.momentum:g} is outside the exact engine's scope (the "
                "state does not carry momentum buffers); supported: momentum 0"
            )
        if explicit and pc.estimator.batch != 1:
            raise HDOInputError(
                f"{label}_batch must be 1 for the explicit quadratic (one oracle noise draw "
                f"per estimate), got {pc.estimator.batch}"
            )


def build_fast_model(A, B, n0: int, noise: float, config, lrs, nus, ycoef, edges):
    """The :class:`~hdo_theory.exact.fast.FastModel` of the explicit quadratic ``(A, B, n0,
    noise)`` under ``config`` with resolved rates ``lrs``, radii ``nus``, y coefficient
    ``ycoef`` (``None``: y not carried) and graph ``edges``."""
    A = np.asarray(A, dtype=float)
    B = np.asarray(B, dtype=float)
    n, d = B.shape
    lam, Q = np.linalg.eigh(0.5 * (A + A.T))
    c1 = np.zeros(2)
    c2 = np.zeros(2)
    K = np.zeros((2, d))
    six = _mo.gaussian_sixth_bracket_diag(lam)
    for p, pc in enumerate((config.zo, config.fo)):
        kind = pc.estimator.kind
        if kind not in _mo.DIRECTION_KIND:
            continue  # empty population (checked by _check_scope otherwise)
        rv = pc.estimator.rv
        c1[p], c2[p] = _mo.pmp_coefficients(kind, rv, d)
        K[p] = 0.25 * nus[p] ** 2 * _mo.sixth_moment_scale(kind, d) / rv * six
    return _fast.FastModel(
        lam=lam, Q=Q, Bt=B @ Q, sigma2=float(noise) ** 2, n0=int(n0),
        lrs=np.asarray(lrs, dtype=float), c1=c1, c2=c2, K=K, model=config.model,
        edges=np.asarray(edges, dtype=np.int64).reshape(-1, 2), local=config.local_steps_warmup,
        sched=config.schedule, T=config.T, warmup=config.warmup, ycoef=ycoef,
    )


#: The objective kinds of the dense path (per-sample Hessians, minibatches).
DENSE_KINDS = ("quadratic", "least-squares")
PATHS = ("fast", "dense")


def expected_dynamics(objective, config, at=None, path: str | None = None) -> ExactDynamics:
    """Exact expectations of the process ``config`` on ``objective`` at the steps ``at``.

    objective: an explicit quadratic (``hdo_theory.objectives.explicit_quadratic``: the fast
        path) or a built-in ``quadratic`` / ``least-squares`` objective (the dense path:
        per-sample Hessians, minibatches drawn without replacement from each node's shard).
    config: a :class:`~hdo_theory.process.ProcessConfig` (``x0`` a point or per-node ``(n, d)``
        starts); checked exactly as :func:`~hdo_theory.process.simulate` checks it, then
        against the engine's scope (module docstring).
    at: strictly increasing steps in ``[0, T]`` counted as ``simulate`` counts them
        (interactions; rounds for ``matching``); default: ``config``'s record steps.
    path: ``"fast"`` or ``"dense"`` (default: fast for the explicit quadratic, dense for the
        other kinds); the explicit quadratic runs on either (a check of one against the other).

    Returns an :class:`ExactDynamics`; ``r[name]`` for ``name`` in :data:`EXACT_METRICS`.
    """
    import time

    from hdo_theory import process as P
    from hdo_theory.exact import dense as _dense
    from hdo_theory.objectives import Objective
    from hdo_theory.objectives import kernels as K

    if not isinstance(config, P.ProcessConfig):
        raise HDOInputError(f"config must be a ProcessConfig, got {type(config).__name__}")
    if not isinstance(objective, Objective):
        raise HDOInputError(f"objective must be an Objective, got {type(objective).__name__}")
    if path is not None:
        from hdo_theory.errors import check_choice

        check_choice("path", path, PATHS)
    arrays = _explicit_arrays(objective)
    dense_kind = objective.kind in (K.KIND_QUADRATIC, K.KIND_LEAST_SQUARES)
    if arrays is None and not dense_kind:
        raise HDOInputError(
            f"objective {objective.name!r} is outside the exact engine's scope; supported: the "
            f"explicit quadratic (hdo_theory.objectives.explicit_quadratic) and the kinds "
            f"{', '.join(DENSE_KINDS)}"
        )
    if path is None:
        path = "fast" if arrays is not None else "dense"
    if path == "fast" and arrays is None:
        raise HDOInputError(f"path='fast' needs the explicit quadratic (shared Hessian, "
                            f"isotropic noise); objective {objective.name!r} takes path='dense'")
    n, d = objective.n, objective.d
    if path == "dense" and n * d > _dense.MAX_DENSE_ND:
        raise HDOInputError(f"the dense path supports n d <= {_dense.MAX_DENSE_ND} (its state "
                            f"has (n+1)^2 d^2 numbers), got n={n}, d={d}")
    P.check_config(objective, config)
    _check_scope(config, n, objective.n0, arrays is not None)
    facts = P.problem_facts(objective)
    _ipar, _pi, pop_f, fpar, edges, info = P._resolve(objective, config, facts)
    ycoef = float(fpar[P.PK.F_YCOEF]) if info["y_recorded"] and info["ell"] is not None else None
    if at is None:
        at = P.record_steps(config.T, config.record, config.record_points)
    at = check_at(at, config.T)
    lrs = [info["lr_zo"], info["lr_fo"]]
    nus = [info["nu_zo"], info["nu_fo"]]
    if path == "fast":
        A, B, n0, noise = arrays
        model = build_fast_model(A, B, n0, noise, config, lrs, nus, ycoef, edges)
    else:
        model = build_dense_model(objective, config, lrs, nus, ycoef, edges)
    t0 = time.perf_counter()
    means: list = []
    values = _engine.run(model, P._start_nodes(objective, config), at, config.fixed_node,
                         means=means)
    if ycoef is None:
        values.pop("y_gap", None)
    out_info = dict(path=path, lr_zo=lrs[0], lr_fo=lrs[1], nu_zo=nus[0], nu_fo=nus[1],
                    y_carried=ycoef is not None, wall_time_s=time.perf_counter() - t0,
                    steps_unit="rounds" if config.model == "matching" else "interactions")
    return ExactDynamics(t=at, values=values, info=out_info, mean=np.array(means))


def build_dense_model(objective, config, lrs, nus, ycoef, edges):
    """The :class:`~hdo_theory.exact.dense.DenseModel` of ``objective`` (explicit quadratic,
    quadratic or least-squares kind) under ``config`` with resolved rates, radii, y
    coefficient and graph edges."""
    from hdo_theory.exact import dense as _dense

    n, n0 = objective.n, objective.n0
    arrays = _explicit_arrays(objective)
    batches = [config.zo.estimator.batch if i < n0 else config.fo.estimator.batch
               for i in range(n)]
    if arrays is not None:
        A, B, n0, noise = arrays
        H = np.repeat(0.5 * (A + A.T)[None], n, axis=0)
        shards = [np.array([i]) for i in range(n)]
        dm = _dense.DenseModel(H, B, shards, [1] * n, np.full(n, 1.0 / n), n0, noise**2,
                               config, lrs, nus, ycoef, edges)
        dm.fstar = -0.5 * float(B.mean(axis=0) @ dm.xs)
        return dm
    H, h = _dense.sample_hessians(objective)
    shards = [objective.shard(i) for i in range(n)]
    dm = _dense.DenseModel(H, h, shards, batches, objective.weights, n0, 0.0, config, lrs,
                           nus, ycoef, edges)
    dm.fstar = float(objective.value(dm.xs))
    return dm
