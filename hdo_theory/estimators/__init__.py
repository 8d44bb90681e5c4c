"""Gradient estimators (THEORY.md section 2): the estimator table, :class:`EstimatorSpec`.

The Numba kernel :func:`~hdo_theory.estimators.kernels.estimate` computes every estimator;
:mod:`.closed_forms` holds their exact moments and :mod:`.monte_carlo` their Monte Carlo
statistics (bias, moments, intervals) against closed forms and the paper's bounds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from hdo_theory.errors import HDOInputError, check_choice, check_float, check_int
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

__all__ = [
    "DIRECTION_BLOCK",
    "ESTIMATOR_CODES",
    "ESTIMATOR_NAMES",
    "ZO_ESTIMATORS",
    "EstimatorSpec",
    "direction_buffer",
    "estimate",
    "estimate_once",
    "resolve_nu",
]

ESTIMATOR_CODES: dict[str, int] = {
    "fo": EST_FO,
    "zo-forward": EST_ZO_FORWARD,
    "zo-central": EST_ZO_CENTRAL,
    "zo-directional": EST_ZO_DIRECTIONAL,
    "zo-sphere": EST_ZO_SPHERE,
    "coord-fd": EST_COORD_FD,
}
ESTIMATOR_NAMES: tuple[str, ...] = tuple(ESTIMATOR_CODES)
ZO_ESTIMATORS = ("zo-forward", "zo-central", "zo-directional", "zo-sphere", "coord-fd")


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
        check_choice("estimator", self.kind, ESTIMATOR_NAMES)
        check_int("rv", self.rv, 1, 1_000_000)
        check_int("batch", self.batch, 1)
        if not (isinstance(self.nu, str) and self.nu == "theorem"):
            check_float("nu", self.nu, 0.0, lo_open=True)

    @property
    def code(self) -> int:
        return ESTIMATOR_CODES[self.kind]

    @property
    def is_zo(self) -> bool:
        return self.kind != "fo"

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
