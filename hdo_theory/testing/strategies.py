"""hypothesis strategies for estimator property tests (needs ``hypothesis``: the ``testing``
extra). Every strategy reads the tables (:data:`hdo_theory.objectives.OBJECTIVES`,
:data:`hdo_theory.estimators.ESTIMATORS`) when it draws, so registered plugins are included.

* :func:`objectives`: an objective of a synthetic kind whose table row has a constants
  function (so ``objective.constants`` holds its exact constants: ``L``, ``x*`` ...), with small
  drawn ``d``, ``n0``, ``n1``, ``seed``, ``heterogeneity`` and the row's parameter defaults
  (kind-specific parameters drawn within the ranges its ``check_params`` accepts).
* :func:`points`: ``x* + r v``, ``v`` a unit vector, ``0 <= r <= radius``: a point in the ball
  ``||x - x*|| <= radius`` (default: the ball on which the objective's constants hold, capped
  at ``max_radius``).
* :func:`estimator_specs`: a valid :class:`~hdo_theory.estimators.EstimatorSpec` (``rv`` in
  ``[1, max_rv]``, ``nu`` log-uniform in ``[nu_min, nu_max]``, ``batch`` in ``[1, max_batch]``).
* :func:`populations`: ``(n0, n1, zo, fo)`` with one
  :class:`~hdo_theory.process.PopulationConfig` per population (ZO estimators for the ZO
  population, ``fo`` or any estimator for the FO one).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from hdo_theory.estimators import EstimatorSpec, estimator_names, zo_estimator_names
from hdo_theory.objectives import OBJECTIVES, make_objective

__all__ = ["estimator_specs", "objective_names_with_constants", "objectives", "points",
           "populations"]

#: kind-specific parameters drawn by :func:`objectives`, within the row's check_params ranges
_PARAMS = {
    "quadratic": {"groups": st.integers(1, 4)},
    "cosine-wells": {"alpha": st.floats(0.0, 2.0), "beta": st.floats(0.5, 3.0)},
}


def objective_names_with_constants() -> tuple[str, ...]:
    """Synthetic objective rows with a constants function (exact ``objective.constants``)."""
    return tuple(n for n, o in OBJECTIVES.items() if o.constants is not None and not o.real_data)


@st.composite
def objectives(draw, names=None, d=None, n0=None, n1=None, seed=None, heterogeneity=None):
    """An :class:`~hdo_theory.objectives.Objective` with exact constants (see module doc).

    Each size argument is a strategy; defaults: ``d`` in 2..6, ``n0``, ``n1`` in 1..3, ``seed``
    in 0..2^16, ``heterogeneity`` in {0, 0.5, 1}."""
    d = st.integers(2, 6) if d is None else d
    n0 = st.integers(1, 3) if n0 is None else n0
    n1 = st.integers(1, 3) if n1 is None else n1
    seed = st.integers(0, 2**16) if seed is None else seed
    heterogeneity = st.sampled_from([0.0, 0.5, 1.0]) if heterogeneity is None else heterogeneity
    names = tuple(names) if names is not None else objective_names_with_constants()
    name = draw(st.sampled_from(names))
    params = {k: draw(v) for k, v in _PARAMS.get(name, {}).items()
              if k in OBJECTIVES[name].extra_params}
    return make_objective(name, d=draw(d), n0=draw(n0), n1=draw(n1), seed=draw(seed),
                          heterogeneity=draw(heterogeneity), **params)


@st.composite
def points(draw, objective, radius: float | None = None, max_radius: float = 2.0):
    """A point with ``||x - x*|| <= radius`` (default ``min(constants.radius, max_radius)``,
    ``max_radius`` where the constants are global)."""
    c = objective.constants
    x_star = np.asarray(c.x_star, dtype=float)
    if radius is None:
        radius = max_radius if c.radius is None else min(float(c.radius), max_radius)
    z = np.array(draw(st.lists(st.floats(-1.0, 1.0), min_size=objective.d,
                               max_size=objective.d)))
    nz = float(np.linalg.norm(z))
    v = z / nz if nz > 1e-6 else np.eye(objective.d)[0]
    r = draw(st.floats(0.0, 1.0)) * float(radius)
    return x_star + r * v


@st.composite
def estimator_specs(draw, kinds=None, max_rv: int = 4, nu_min: float = 1e-3, nu_max: float = 0.3,
                    max_batch: int = 1):
    """A valid :class:`~hdo_theory.estimators.EstimatorSpec` (default kinds: every registered
    estimator, read when drawing)."""
    kinds = tuple(kinds) if kinds is not None else estimator_names()
    log_nu = draw(st.floats(math.log(nu_min), math.log(nu_max)))
    return EstimatorSpec(draw(st.sampled_from(kinds)), rv=draw(st.integers(1, max_rv)),
                         nu=float(math.exp(log_nu)), batch=draw(st.integers(1, max_batch)))


@st.composite
def populations(draw, n0=None, n1=None, zo_kinds=None, fo_kinds=("fo",), lr=None):
    """``(n0, n1, zo, fo)``: population sizes and one
    :class:`~hdo_theory.process.PopulationConfig` per population (strategies; defaults ``n0``,
    ``n1`` in 1..4, ``lr`` in [1e-3, 0.1], ZO kinds: every zeroth-order estimator)."""
    from hdo_theory.process import PopulationConfig

    n0 = st.integers(1, 4) if n0 is None else n0
    n1 = st.integers(1, 4) if n1 is None else n1
    lr = st.floats(1e-3, 0.1) if lr is None else lr

    zo_kinds = tuple(zo_kinds) if zo_kinds is not None else zo_estimator_names()
    zo = PopulationConfig(draw(estimator_specs(zo_kinds)), lr=draw(lr))
    fo = PopulationConfig(draw(estimator_specs(fo_kinds)), lr=draw(lr))
    return draw(n0), draw(n1), zo, fo
