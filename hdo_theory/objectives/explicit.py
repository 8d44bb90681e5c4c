"""The explicit quadratic: one shared Hessian, one linear term per node, an additive-noise oracle.

:func:`explicit_quadratic` ``(A, B, n0, noise=0.0)`` builds an :class:`~hdo_theory.objectives.
Objective` with ``n = B.shape[0]`` nodes in dimension ``d = A.shape[0]``. Node ``i`` has

.. math::  F^i(x, \\xi) = \\tfrac12 x^\\top A x - B_i \\cdot x + \\xi \\cdot x,
           \\qquad \\xi \\sim N(0, \\text{noise}^2 I_d),
           \\qquad f^i(x) = E_\\xi F^i(x, \\xi) = \\tfrac12 x^\\top A x - B_i \\cdot x,

with ``A`` symmetric positive definite and shared by all nodes. Nodes ``0 .. n0-1`` are
zeroth-order (ZO), the rest first-order (FO). ``xi`` is drawn fresh for each oracle call (each
estimate) and shared by every function value of that estimate: both values of one finite
difference and all ``rv`` directions, as a minibatch is. Node ``i``'s shard is its own function
(sample ``i``, one sample per node), so the minibatch size must be 1.

Exact constants (docs/theory.md section 2), with ``Bbar = (1/n) sum_i B_i``:

* ``L = lambda_max(A)`` (every ``grad F^i(., xi) = A x - B_i + xi`` is ``L``-Lipschitz);
* ``ell = lambda_min(A)`` (``f(x) = 1/2 x^T A x - Bbar . x`` has Hessian ``A``);
* ``x* = A^{-1} Bbar``, ``f* = -1/2 Bbar . x*``;
* heterogeneity (Assumption 3: ``(1/n_k) sum_{i in N_k} ||grad f^i(x) - grad f(x)||^2 <=
  varsigma_k^2`` for all x): ``grad f^i(x) - grad f(x) = -(B_i - Bbar)`` does not depend on x,
  so ``varsigma_k^2 = (1/n_k) sum_{i in N_k} ||B_i - Bbar||^2`` exactly, over all of R^d;
* ``s_i^2 = E ||grad F^i(x, xi) - grad f^i(x)||^2 = E ||xi||^2 = d noise^2`` (Assumption 4).

The kernel data tuple (:mod:`hdo_theory.objectives.kernels`, kind ``KIND_EXPLICIT_QUADRATIC``):
``mats[0] = A``, ``centers = B``, ``params = [noise]``. The exact-dynamics code reads these
through :func:`explicit_quadratic_parts`, never through the tuple's layout.

The ``"explicit-quadratic"`` row of the objective table generates one from scalar parameters
(:func:`generate_explicit_quadratic`): ``A = Q diag(lambda) Q^T`` with ``Q`` a random rotation
and ``lambda`` log-spaced in ``[1/condition, 1]``, centres ``c_i = c_0 + heterogeneity z_i``
(``c_0, z_i ~ N(0, I_d)``) and ``B_i = A c_i`` (so node ``i``'s own minimiser is ``c_i``), and
the oracle noise ``noise``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hdo_theory.errors import HDOInputError, check_float, check_int
from hdo_theory.limits import MAX_D, MAX_N_SAMPLES
from hdo_theory.objectives import constants as C
from hdo_theory.objectives import kernels as K

__all__ = [
    "EXPLICIT_QUADRATIC_SYMMETRY_RTOL",
    "ExplicitQuadratic",
    "explicit_quadratic",
    "explicit_quadratic_constants",
    "explicit_quadratic_parts",
    "generate_explicit_quadratic",
]

#: ``A`` counts as symmetric when ``max |A - A^T| <= EXPLICIT_QUADRATIC_SYMMETRY_RTOL max |A|``;
#: it is then replaced by ``(A + A^T) / 2``.
EXPLICIT_QUADRATIC_SYMMETRY_RTOL = 1e-10

_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class ExplicitQuadratic:
    """The defining data of an explicit quadratic (copies; see :func:`explicit_quadratic`).

    A: ``(d, d)`` symmetric positive definite Hessian shared by all nodes.
    B: ``(n, d)``; node ``i``'s linear term is ``-B[i] . x``.
    n0: the ZO nodes are ``0 .. n0-1``.
    noise: standard deviation of each coordinate of the additive oracle noise ``xi``.
    """

    A: np.ndarray
    B: np.ndarray
    n0: int
    noise: float

    @property
    def n(self) -> int:
        return int(self.B.shape[0])

    @property
    def d(self) -> int:
        return int(self.A.shape[0])


def _check_A(A) -> np.ndarray:
    try:
        A = np.array(A, dtype=np.float64)
    except (TypeError, ValueError):
        raise HDOInputError("A must be a (d, d) array of numbers") from None
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] < 1:
        raise HDOInputError(f"A must be a square (d, d) matrix with 1 <= d <= {MAX_D}, "
                            f"got shape {A.shape}")
    if A.shape[0] > MAX_D:
        raise HDOInputError(f"A must be (d, d) with d <= {MAX_D}, got d = {A.shape[0]}")
    if not np.all(np.isfinite(A)):
        raise HDOInputError("A must be finite (no NaN or inf entries)")
    scale = float(np.max(np.abs(A)))
    asym = float(np.max(np.abs(A - A.T)))
    if asym > EXPLICIT_QUADRATIC_SYMMETRY_RTOL * scale:
        raise HDOInputError(f"A must be symmetric: max |A - A^T| <= "
                            f"{EXPLICIT_QUADRATIC_SYMMETRY_RTOL:g} max |A|, got "
                            f"max |A - A^T| = {asym:.3g} with max |A| = {scale:.3g}")
    A = 0.5 * (A + A.T)
    eig = np.linalg.eigvalsh(A)
    d = A.shape[0]
    # lambda_min must be resolved above the rounding of the eigensolver (about d eps lambda_max)
    floor = d * _EPS * max(abs(float(eig[-1])), abs(float(eig[0])))
    if not eig[0] > floor:
        raise HDOInputError(f"A must be positive definite: lambda_min(A) > d eps lambda_max(A) "
                            f"= {floor:.3g}, got lambda_min(A) = {float(eig[0]):.6g}")
    return A


def _check_B(B, d: int) -> np.ndarray:
    try:
        B = np.array(B, dtype=np.float64)
    except (TypeError, ValueError):
        raise HDOInputError(f"B must be an (n, {d}) array of numbers") from None
    if B.ndim != 2 or B.shape[1] != d or not 2 <= B.shape[0] <= MAX_N_SAMPLES:
        raise HDOInputError(f"B must have shape (n, {d}) with 2 <= n <= {MAX_N_SAMPLES} "
                            f"(one row per node, d from A), got shape {B.shape}")
    if not np.all(np.isfinite(B)):
        raise HDOInputError("B must be finite (no NaN or inf entries)")
    return B


def explicit_quadratic(A, B, n0, noise=0.0):
    """The explicit quadratic objective (module docstring): ``n = B.shape[0]`` nodes,
    ``F^i(x, xi) = 1/2 x^T A x - B[i] . x + xi . x`` with ``xi ~ N(0, noise^2 I_d)``.

    Parameters
    ----------
    A: ``(d, d)`` symmetric (``max |A - A^T| <= 1e-10 max |A|``; symmetrised) positive definite
        (``lambda_min(A) > d eps lambda_max(A)``) finite matrix, shared by all nodes.
    B: ``(n, d)`` finite array, ``n >= 2``: node ``i``'s linear term.
    n0: number of ZO nodes, in ``[0, n]``: nodes ``0 .. n0-1`` are ZO, the ``n - n0`` others FO.
    noise: oracle noise standard deviation, ``>= 0``. One ``xi`` per estimate, shared by all
        its function values (both values of a difference, all ``rv`` directions).

    The objective has ``n`` samples, sample ``i`` being node ``i``'s function (shard ``[i]``),
    so :func:`~hdo_theory.process.simulate` and the estimator statistics need ``batch = 1``.
    """
    A = _check_A(A)
    d = A.shape[0]
    B = _check_B(B, d)
    n = B.shape[0]
    n0 = check_int("n0", n0, 0, n)
    noise = check_float("noise", noise, 0.0)
    meta = dict(name="explicit-quadratic", d=d, n0=n0, n1=n - n0, n_samples=n, noise=noise,
                source="explicit_quadratic(A, B, n0, noise)")
    return _build(A, B, n0, noise, meta)


def _pack_explicit(A, B, noise):
    from hdo_theory.objectives import _pack

    n, d = B.shape
    return _pack(K.KIND_EXPLICIT_QUADRATIC, [noise], mats=A[None, :, :], centers=B, N=n, d=d)


def _build(A, B, n0, noise, meta):
    from hdo_theory.objectives import Objective

    n, d = B.shape
    data = _pack_explicit(A, B, noise)
    shard_ptr = np.arange(n + 1, dtype=np.int64)
    shard_idx = np.arange(n, dtype=np.int64)
    weights = np.full(n, 1.0 / n)
    return Objective("explicit-quadratic", d, n0, n - n0, data, shard_ptr, shard_idx, weights,
                     True, meta)


def explicit_quadratic_parts(objective) -> ExplicitQuadratic:
    """``(A, B, n0, noise)`` of an explicit-quadratic objective (copies of the arrays); any
    other objective raises :class:`HDOInputError`."""
    if getattr(objective, "kind", None) != K.KIND_EXPLICIT_QUADRATIC:
        raise HDOInputError(f"objective must be an explicit quadratic (explicit_quadratic(A, B, "
                            f"n0, noise) or --objective explicit-quadratic), got "
                            f"{getattr(objective, 'name', type(objective).__name__)!r}")
    data = objective.data
    return ExplicitQuadratic(A=data[5][0].copy(), B=data[6].copy(), n0=int(objective.n0),
                             noise=float(data[1][0]))


def generate_explicit_quadratic(rng, d, n, condition, heterogeneity):
    """``(A, B)`` of the table row: ``A = Q diag(lambda) Q^T`` (``Q`` a random rotation,
    ``lambda`` log-spaced in ``[1/condition, 1]``), ``B_i = A c_i`` with centres
    ``c_i = c_0 + heterogeneity z_i`` (``c_0, z_i ~ N(0, I_d)``), drawn from ``rng``."""
    from hdo_theory.objectives import _spectrum_cov

    root = _spectrum_cov(rng, d, condition)
    A = root @ root.T
    A = 0.5 * (A + A.T)
    c0 = rng.standard_normal(d)
    centres = c0[None, :] + heterogeneity * rng.standard_normal((n, d))
    return A, centres @ A


def _gen_explicit_quadratic(rng, d, N, condition, noise, lam, params):
    """The objective-table generator. Its row has ``one_sample_per_node``, so ``N = n`` and
    ``params["heterogeneity"]`` is the spread of the centres; ``lam`` is unused."""
    A, B = generate_explicit_quadratic(rng, d, N, condition, params["heterogeneity"])
    return _pack_explicit(A, B, noise), np.arange(N, dtype=np.float64), {}


# ---------------------------------------------------------------------------------------------
# Constants (the objective table's constants function for this kind)
# ---------------------------------------------------------------------------------------------


def explicit_quadratic_constants(P, radius=None):
    """Exact constants of an explicit quadratic (module docstring); ``radius`` is not needed
    (every sup is over all of R^d) and is ignored."""
    parts = explicit_quadratic_parts(P.obj)
    A, B, n0, noise = parts.A, parts.B, parts.n0, parts.noise
    d = A.shape[0]
    eig = np.linalg.eigvalsh(A)
    # Deviations from node 0 first: identical rows give exactly zero deviations, so Bbar == B[0]
    # and varsigma = 0 hold exactly (a plain mean of equal rows may round off them, depending
    # on the summation order the machine's numpy picks), and the spread is computed without
    # cancellation against a large common offset.
    shift = B - B[0][None, :]
    shift_bar = shift.mean(axis=0)
    Bbar = B[0] + shift_bar
    x_star = np.linalg.solve(A, Bbar)
    x_star = x_star + np.linalg.solve(A, Bbar - A @ x_star)  # one step of iterative refinement
    dev = np.sum((shift - shift_bar[None, :]) ** 2, axis=1)  # ||grad f^i - grad f||^2, any x
    vs0 = float(dev[:n0].mean()) if n0 else 0.0
    vs1 = float(dev[n0:].mean()) if n0 < B.shape[0] else 0.0
    oracle_var = d * noise * noise
    return C.Constants(
        L=float(eig[-1]),
        L_how="exact: lambda_max(A) (grad F^i(x, xi) = A x - B_i + xi)",
        ell=float(eig[0]),
        ell_how="exact: lambda_min(A) (Hess f = A)",
        x_star=x_star,
        # f* = -1/2 Bbar.x* in exact arithmetic; evaluated by the objective's own route so that
        # f(x*) - f* is exactly 0 at the returned x* on every machine (BLAS kernels differ).
        f_star=float(P.obj.value(x_star)),
        star_how="closed form: x* = A^{-1} mean_i B_i (one refinement step), f* = f(x*)",
        varsigma0_sq=vs0,
        varsigma1_sq=vs1,
        varsigma_how=("exact over R^d: grad f^i - grad f = -(B_i - Bbar) does not depend on x; "
                      "varsigma_k^2 = mean over population k of ||B_i - Bbar||^2"),
        varsigma_exact=True,
        radius=None,
        n0=n0,
        shard_sizes=np.ones(B.shape[0], dtype=np.int64),
        node_var_pop=np.zeros(B.shape[0]),
        s_how=f"exact: s_i^2 = E||xi||^2 = d noise^2 = {oracle_var:.6g} (additive oracle noise; "
              "one sample per node, so no minibatch variance)",
        s_exact=True,
        witnesses={"varsigma0_sq": x_star.copy(), "varsigma1_sq": x_star.copy(), "s_node": None},
        varsigma_seen=(vs0, vs1),
        node_var_seen=np.zeros(B.shape[0]),
        oracle_var=oracle_var,
    )
