"""Gradient estimators (THEORY.md section 2) as Numba kernels writing into caller buffers.

One kernel, :func:`estimate`, serves every estimator kind; the gossip process and the
statistics layer call it with preallocated work vectors, so nothing is allocated per call.
Random directions come from a ``numpy.random.Generator`` passed into Numba, so every draw is
reproducible from a seed. One minibatch ``xi`` is drawn per call and shared by the ``rv``
directions and by both function values of each difference (THEORY.md: "the same sample xi is
used for both function values of one difference").

With ``u ~ N(0, I_d)``, ``v`` uniform on the unit sphere, ``F = F(., xi)`` the minibatch loss and
``rv`` directions averaged:

.. math::

   G_{fo} &= \\nabla F(x)                                                       \\\\
   G_{fwd} &= \\frac{1}{rv}\\sum_r \\frac{F(x + \\nu u_r) - F(x)}{\\nu} u_r
        \\qquad (\\text{Definition 2; mean } \\nabla f_\\nu)                     \\\\
   G_{cen} &= \\frac{1}{rv}\\sum_r \\frac{F(x + \\nu u_r) - F(x - \\nu u_r)}{2\\nu} u_r  \\\\
   G_{dir} &= \\frac{1}{rv}\\sum_r (u_r \\cdot \\nabla F(x))\\, u_r
        \\qquad (\\text{forward-mode JVP; unbiased})                              \\\\
   G_{sph} &= \\frac{1}{rv}\\sum_r d\\,\\frac{F(x + \\nu v_r) - F(x)}{\\nu} v_r      \\\\
   G_{coord} &= \\sum_{k=1}^d \\frac{F(x + \\nu e_k) - F(x - \\nu e_k)}{2\\nu} e_k
        \\qquad (2d \\text{ evaluations; } rv \\text{ is ignored})

The theorem's smoothing radius ``nu = eta / sqrt(d)`` (Theorem 1) is available as
``nu="theorem"`` through :func:`resolve_nu`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numba
import numpy as np

from hdo_theory.errors import HDOInputError, check_choice, check_float, check_int
from hdo_theory.objective_kernels import batch_grad, batch_jvp, batch_loss

EST_FO = 0
EST_ZO_FORWARD = 1
EST_ZO_CENTRAL = 2
EST_ZO_DIRECTIONAL = 3
EST_ZO_SPHERE = 4
EST_COORD_FD = 5

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

# Same floating-point flags as the objective kernels (vectorised sums; NaN/inf preserved).
_JIT = dict(nogil=True, cache=True, fastmath={"reassoc", "contract", "nsz"})


@numba.njit(**_JIT)
def estimate(obj, est, rv, nu, batch, x, rng, out, u, xtmp):
    """Write one draw of estimator ``est`` at ``x`` on minibatch ``batch`` into ``out``.

    ``u`` and ``xtmp`` are work vectors of length d. Returns the number of function-value
    (or JVP / gradient) evaluations of the minibatch loss used, for cost accounting.
    """
    d = x.shape[0]
    if est == EST_FO:
        batch_grad(obj, batch, x, out)
        return 1
    out[:] = 0.0
    if est == EST_COORD_FD:
        for k in range(d):
            xtmp[:] = x
            xtmp[k] = x[k] + nu
            fp = batch_loss(obj, batch, xtmp)
            xtmp[k] = x[k] - nu
            fm = batch_loss(obj, batch, xtmp)
            out[k] = (fp - fm) / (2.0 * nu)
        return 2 * d
    f0 = 0.0
    evals = 0
    if est == EST_ZO_FORWARD or est == EST_ZO_SPHERE:
        f0 = batch_loss(obj, batch, x)
        evals = 1
    inv_rv = 1.0 / rv
    for _r in range(rv):
        for k in range(d):
            u[k] = rng.standard_normal()
        if est == EST_ZO_DIRECTIONAL:
            coef = batch_jvp(obj, batch, x, u)
            evals += 1
        elif est == EST_ZO_FORWARD:
            for k in range(d):
                xtmp[k] = x[k] + nu * u[k]
            coef = (batch_loss(obj, batch, xtmp) - f0) / nu
            evals += 1
        elif est == EST_ZO_CENTRAL:
            for k in range(d):
                xtmp[k] = x[k] + nu * u[k]
            fp = batch_loss(obj, batch, xtmp)
            for k in range(d):
                xtmp[k] = x[k] - nu * u[k]
            coef = (fp - batch_loss(obj, batch, xtmp)) / (2.0 * nu)
            evals += 2
        else:  # EST_ZO_SPHERE: v = u / ||u|| is uniform on the sphere
            nrm = 0.0
            for k in range(d):
                nrm += u[k] * u[k]
            nrm = math.sqrt(nrm)
            for k in range(d):
                u[k] /= nrm
                xtmp[k] = x[k] + nu * u[k]
            coef = d * (batch_loss(obj, batch, xtmp) - f0) / nu
            evals += 1
        for k in range(d):
            out[k] += inv_rv * coef * u[k]
    return evals


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
        np.empty(objective.d), np.empty(objective.d),
    )
    return out
