"""Gradient estimators (docs/theory.md section 3): the estimator table, :class:`EstimatorSpec`.

:data:`ESTIMATORS` (rows :class:`EstimatorInfo`, added with :func:`register_estimator`) is the one
place an estimator is declared: its kernel code, whether it is zeroth order, its mean, its bias
bound, whether Lemma 5 applies and its closed-form moments. Names, CLI choices, figure panels
and test parametrisations are derived from it (:func:`estimator_names` and friends).

The Numba kernel :func:`~hdo_theory.estimators.kernels.estimate` computes every estimator;
:mod:`.closed_forms` holds their exact moments and :mod:`.monte_carlo` their Monte Carlo
statistics (bias, moments, intervals) against closed forms and the paper's bounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from hdo_theory.errors import HDOInputError, check_choice, check_float, check_int
from hdo_theory.estimators import closed_forms as cf
from hdo_theory.estimators.kernels import (
    DIRECTION_BLOCK,
    EST_COORD_FD,
    EST_FO,
    EST_ZO_CENTRAL,
    EST_ZO_DIRECTIONAL,
    EST_ZO_FORWARD,
    EST_ZO_SPHERE,
    direction_buffer,
    estimate,
)
from hdo_theory.limits import MAX_RV
from hdo_theory.verification import bounds

__all__ = [
    "DIRECTION_BLOCK",
    "ESTIMATORS",
    "ESTIMATOR_CODES",
    "ESTIMATOR_NAMES",
    "ZO_ESTIMATORS",
    "BiasBound",
    "EstimatorInfo",
    "EstimatorSpec",
    "estimator_codes",
    "estimator_info",
    "estimator_names",
    "estimators_where",
    "register_estimator",
    "unregister_estimator",
    "zo_estimator_names",
    "direction_buffer",
    "estimate",
    "estimate_once",
    "resolve_nu",
]

# ---------------------------------------------------------------------------------------------
# The estimator table: one row per estimator, the single place an estimator is declared
# ---------------------------------------------------------------------------------------------

#: What an estimator's mean ``E G`` is (the target of ``bias_vs_target`` in estimator_stats).
MEANS = ("grad f", "grad f_nu", "grad f_ball", "unknown")
_MEAN_LABELS = {"grad f": "grad f^i(x)", "grad f_nu": "grad f^i_nu (Gaussian smoothing)",
                "grad f_ball": "grad of ball-smoothed f^i", "unknown": "unknown"}


@dataclass(frozen=True)
class BiasBound:
    """A bound on ``||E G - grad f^i(x)||``: ``bound(nu, L, d)``, its name, and an optional
    sharper bound ``sharper(nu, L, d)``. ``needs_L=False`` for bounds that hold without ``L``
    (the unbiased estimators: 0)."""

    name: str
    bound: Callable[[float, float, int], float]
    sharper: Callable[[float, float, int], float] | None = None
    needs_L: bool = True


UNBIASED = BiasBound("unbiased (exact mean grad f^i)", lambda nu, L, d: 0.0, needs_L=False)
GAUSSIAN_SMOOTHING_BIAS = BiasBound("Lemma 1 item 4", bounds.lemma1_smoothing_bias,
                                    bounds.sharper_smoothing_bias)
BALL_SMOOTHING_BIAS = BiasBound("ball smoothing: L nu",
                                lambda nu, L, d: bounds.sphere_smoothing_bias(nu, L))
COORDINATE_FD_BIAS = BiasBound("central differences: sqrt(d) L nu / 2",
                               bounds.coordinate_fd_bias)


@dataclass(frozen=True)
class EstimatorInfo:
    """One row of the estimator table.

    name: the registry name (``EstimatorSpec.kind``, CLI ``--estimator``).
    code: the branch constant of :func:`~hdo_theory.estimators.kernels.estimate`.
    zero_order: uses function values (or JVPs) only; False only for ``fo``.
    random_directions: draws ``rv`` random directions per call (False: ``rv`` is ignored).
    mean: what ``E G`` is, one of :data:`MEANS`; ``mean_label`` names it in reports
        (default: the standard label of ``mean``).
    bias_bound: the :class:`BiasBound` on ``||E G - grad f^i||``, or None if none is known.
    lemma5: whether the Lemma 5 moment bounds (6), (7) apply.
    moments: closed-form moments ``moments(objective, node, x, rv, nu, batch) -> dict | None``
        (see :func:`.closed_forms.exact_moments`), or None.
    description: one line for docs and ``--help``.
    """

    name: str
    code: int
    zero_order: bool
    mean: str
    bias_bound: BiasBound | None
    lemma5: bool
    moments: Callable | None
    description: str
    random_directions: bool = True
    mean_label: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise HDOInputError(f"estimator name must be a non-empty string, got {self.name!r}")
        check_choice(f"mean of estimator {self.name!r}", self.mean, MEANS)
        if not self.mean_label:
            object.__setattr__(self, "mean_label", _MEAN_LABELS[self.mean])

    @property
    def unbiased(self) -> bool:
        return self.bias_bound is UNBIASED


#: name -> row, in registration order (the built-ins first). Add rows with register_estimator.
ESTIMATORS: dict[str, EstimatorInfo] = {}


def register_estimator(info: EstimatorInfo) -> EstimatorInfo:
    """Add ``info`` to :data:`ESTIMATORS` (run time or import time; the built-ins use this too).

    Raises :class:`HDOInputError` if the name or the kernel code is already registered.
    """
    if not isinstance(info, EstimatorInfo):
        raise HDOInputError(f"register_estimator takes an EstimatorInfo, got {type(info).__name__}")
    if info.name in ESTIMATORS:
        raise HDOInputError(f"estimator {info.name!r} is already registered")
    for other in ESTIMATORS.values():
        if other.code == info.code:
            raise HDOInputError(f"estimator {info.name!r}: kernel code {info.code} is already "
                                f"used by estimator {other.name!r}")
    ESTIMATORS[info.name] = info
    return info


def unregister_estimator(name: str) -> None:
    """Remove a row added at run time (tests); the built-ins cannot be removed."""
    if name in _BUILTIN:
        raise HDOInputError(f"estimator {name!r} is built in and cannot be unregistered")
    ESTIMATORS.pop(name, None)


def estimator_info(name: str) -> EstimatorInfo:
    """The row of estimator ``name`` (HDOInputError listing the choices if unknown)."""
    check_choice("estimator", name, estimator_names())
    return ESTIMATORS[name]


def estimator_names() -> tuple[str, ...]:
    """Every registered estimator, in table order."""
    return tuple(ESTIMATORS)


def zo_estimator_names() -> tuple[str, ...]:
    """The zeroth-order estimators (``zero_order`` rows), in table order."""
    return tuple(n for n, e in ESTIMATORS.items() if e.zero_order)


def estimator_codes() -> dict[str, int]:
    """name -> kernel branch constant."""
    return {n: e.code for n, e in ESTIMATORS.items()}


def estimators_where(**fields) -> tuple[str, ...]:
    """Names of the rows whose fields equal ``fields`` (``estimators_where(zero_order=True)``)."""
    return tuple(n for n, e in ESTIMATORS.items()
                 if all(getattr(e, k) == v for k, v in fields.items()))


_DERIVED = {"ESTIMATOR_NAMES": estimator_names, "ZO_ESTIMATORS": zo_estimator_names,
            "ESTIMATOR_CODES": estimator_codes}


def __getattr__(name):
    # ESTIMATOR_NAMES, ZO_ESTIMATORS, ESTIMATOR_CODES: derived from the table on every access,
    # so they include rows registered at run time (an earlier ``from .. import`` keeps its copy:
    # code that must see later registrations calls estimator_names() etc.).
    if name in _DERIVED:
        return _DERIVED[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


for _row in (
    EstimatorInfo("fo", EST_FO, False, "grad f", UNBIASED, False, cf.fo_moments,
                  "first order: the minibatch gradient", random_directions=False),
    EstimatorInfo("zo-forward", EST_ZO_FORWARD, True, "grad f_nu", GAUSSIAN_SMOOTHING_BIAS, True,
                  cf.forward_moments, "Gaussian forward difference (Definition 2)"),
    EstimatorInfo("zo-central", EST_ZO_CENTRAL, True, "grad f_nu", GAUSSIAN_SMOOTHING_BIAS, True,
                  cf.central_moments, "Gaussian central difference"),
    EstimatorInfo("zo-directional", EST_ZO_DIRECTIONAL, True, "grad f", UNBIASED, True,
                  cf.directional_moments, "Gaussian directional derivative (forward-mode JVP)"),
    EstimatorInfo("zo-sphere", EST_ZO_SPHERE, True, "grad f_ball", BALL_SMOOTHING_BIAS, False,
                  cf.sphere_moments, "forward difference along a uniform unit-sphere direction"),
    EstimatorInfo("coord-fd", EST_COORD_FD, True, "unknown", COORDINATE_FD_BIAS, False,
                  cf.coordinate_fd_moments, "coordinate central differences (2d evaluations)",
                  random_directions=False, mean_label="coordinate central difference of f^i"),
):
    register_estimator(_row)
_BUILTIN = frozenset(ESTIMATORS)
del _row


@dataclass(frozen=True)
class EstimatorSpec:
    """An estimator choice for one population: kind, directions averaged, radius, batch size.

    ``nu`` is a positive float, or ``"theorem"`` for Theorem 1's ``nu = eta / sqrt(d)`` (resolved
    with :func:`resolve_nu` once the step size is known).
    """

    kind: str = "fo"
    rv: int = 1
    nu: float | str = 1e-3
    batch: int = 1

    def __post_init__(self):
        check_choice("estimator", self.kind, estimator_names())
        check_int("rv", self.rv, 1, MAX_RV)
        check_int("batch", self.batch, 1)
        if not (isinstance(self.nu, str) and self.nu == "theorem"):
            check_float("nu", self.nu, 0.0, lo_open=True)

    @property
    def code(self) -> int:
        return ESTIMATORS[self.kind].code

    @property
    def info(self) -> EstimatorInfo:
        return ESTIMATORS[self.kind]

    @property
    def is_zo(self) -> bool:
        return ESTIMATORS[self.kind].zero_order

    def as_dict(self) -> dict:
        return asdict(self)


def resolve_nu(nu, d: int, eta: float | None = None) -> float:
    """Return the numeric smoothing radius: ``nu`` itself, or ``eta / sqrt(d)`` for "theorem"."""
    if isinstance(nu, str):
        if nu != "theorem":
            raise HDOInputError(f"nu must be a positive number or 'theorem', got {nu!r}")
        if eta is None:
            raise HDOInputError("nu='theorem' needs the learning rate eta (nu = eta / sqrt(d))")
        eta = check_float("eta", eta, 0.0, lo_open=True)
        return eta / math.sqrt(d)
    return check_float("nu", nu, 0.0, lo_open=True)


def estimate_once(objective, spec: EstimatorSpec, node: int, x, rng, batch=None, eta=None):
    """Python convenience: one draw of ``spec`` at ``x`` for ``node`` (allocates; not for loops).

    ``batch`` defaults to a fresh minibatch of ``spec.batch`` samples drawn without replacement
    from the node's shard using ``rng``.
    """
    from hdo_theory.errors import check_point

    x = check_point("x", x, objective.d)
    nu = resolve_nu(spec.nu, objective.d, eta)
    shard = objective.shard(node)
    if batch is None:
        if spec.batch > shard.shape[0]:
            raise HDOInputError(
                f"batch must be <= the shard size {shard.shape[0]} of node {node}, got {spec.batch}"
            )
        batch = rng.choice(shard, size=spec.batch, replace=False)
    batch = np.ascontiguousarray(batch, dtype=np.int64)
    out = np.empty(objective.d)
    estimate(
        objective.data, spec.code, spec.rv, nu, batch, x, rng, out,
        direction_buffer(objective.d), np.empty(objective.d),
    )
    return out
