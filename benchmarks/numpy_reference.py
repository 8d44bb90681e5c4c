"""A plain NumPy implementation of pairwise HDO on least squares: the benchmark's baseline.

This is the process of docs/theory.md section 4 (Algorithm 1) written the way a researcher would
write it without Numba: a Python loop over interactions, NumPy vector operations inside one
interaction. It reads the same objective data as :func:`hdo_theory.process.simulate` (the
feature matrix, targets, ridge ``lam`` and the node shards of an
:class:`~hdo_theory.objectives.Objective` of kind least squares) and uses the same estimator
definitions (docs/theory.md section 3):

* FO node ``i``:   ``G = (1/b) sum_{j in xi} (a_j.x - y_j) a_j + lam x``
* ZO forward difference with ``rv`` directions, ``u_r ~ N(0, I_d)``, one minibatch ``xi``
  shared by every function value:  ``G = (1/rv) sum_r (F(x + nu u_r; xi) - F(x; xi)) / nu * u_r``
  with ``F(x; xi) = (1/b) sum_{j in xi} [ (a_j.x - y_j)^2 / 2 + lam ||x||^2 / 2 ]``.

Per interaction: draw an unordered pair ``{i, j}`` uniformly, both nodes estimate at their
current model, both step with their population's learning rate, both take the average.

Two switches choose how the work inside one interaction is written; none changes the process:

``directions``
    ``"loop"`` (default): one direction at a time, calling the minibatch loss once per
    direction, the literal transcription of Definition 2. ``"batched"``: all ``rv`` directions
    as one ``(rv, d)`` matrix and their ``rv`` minibatch losses from one matrix product.
``sampler``
    ``"choice"`` (default): the minibatch is ``rng.choice(shard, b, replace=False)``.
    ``"kernel"``: a partial Fisher-Yates shuffle of a persistent copy of the shard index,
    consuming the random stream exactly as :func:`hdo_theory.objectives.kernels.draw_batch`
    does. With ``"kernel"`` and the replica's generator from
    :func:`hdo_theory.process.replica_generators`, this implementation makes the same pair
    draws, the same minibatches and the same directions as the Numba kernel (NumPy's and
    Numba's ``Generator`` produce identical streams), so both runs follow the same trajectory
    up to floating-point rounding (BLAS sums in a different order). That is what
    ``tests/test_numpy_reference.py`` checks.

The pair draw (``i`` uniform, then ``j`` uniform among the other ``n - 1``) and the order in
which randomness is consumed (pair, minibatch of ``i``, directions of ``i``, minibatch of ``j``,
directions of ``j``) follow :mod:`hdo_theory.process.kernels`.

Only what the benchmark needs is supported: pairwise model, constant learning rates, no
momentum, no warm-up, estimators ``fo`` and ``zo-forward``, least-squares objectives.
Anything else raises :class:`hdo_theory.errors.HDOInputError`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hdo_theory.errors import HDOInputError, check_choice, check_int
from hdo_theory.objectives.kernels import KIND_LEAST_SQUARES

__all__ = ["ReferenceRun", "run_pairwise_numpy", "least_squares_optimum"]

SAMPLERS = ("choice", "kernel")
DIRECTIONS = ("loop", "batched")
SUPPORTED_ESTIMATORS = ("fo", "zo-forward")


@dataclass
class ReferenceRun:
    """One run of the NumPy reference.

    t: int64 ``(k,)`` interaction counts at which ``f_mu`` and ``gamma`` were recorded
        (``0``, every ``record_every`` interactions, and ``T``).
    f_mu: global loss ``f(mu_t)`` of the mean model at those counts.
    gamma: consensus potential ``Gamma_t = (1/n) sum_i ||X^i_t - mu_t||^2``.
    X: final node models ``(n, d)``.
    wall_time_s: seconds spent in the interaction loop (recording included).
    """

    t: np.ndarray
    f_mu: np.ndarray
    gamma: np.ndarray
    X: np.ndarray
    wall_time_s: float


def least_squares_optimum(objective) -> tuple[np.ndarray, float]:
    """``(x*, f*)`` of the global least-squares objective from its normal equations.

    ``f(x) = sum_j w_j [(a_j.x - y_j)^2 / 2 + lam ||x||^2 / 2]`` is minimised by
    ``(A^T W A + lam sum(w) I) x = A^T W y``. Without ridge (``lam = 0``) the weighted
    least-squares problem is solved by ``lstsq`` instead (the minimum-norm minimiser when there
    are fewer samples than dimensions).
    """
    A, y, lam = _least_squares_data(objective)
    w = objective.weights
    if lam == 0.0:
        sw = np.sqrt(w)
        x_star = np.linalg.lstsq(A * sw[:, None], y * sw, rcond=None)[0]
    else:
        H = (A.T * w) @ A + lam * w.sum() * np.eye(objective.d)
        x_star = np.linalg.solve(H, A.T @ (w * y))
    return x_star, _global_loss(A, y, lam, w, x_star)


def _least_squares_data(objective):
    kind, params, feats, targets = objective.data[:4]
    if int(kind) != KIND_LEAST_SQUARES:
        raise HDOInputError(
            f"objective must be least-squares for the NumPy reference, got {objective.name!r}"
        )
    return feats, targets, float(params[0])


def _global_loss(A, y, lam, w, x) -> float:
    r = A @ x - y
    return float(0.5 * np.dot(w, r * r) + 0.5 * lam * w.sum() * np.dot(x, x))


def _population(config, which: str):
    pop = getattr(config, which)
    spec = pop.estimator
    check_choice(f"{which} estimator (NumPy reference)", spec.kind, SUPPORTED_ESTIMATORS)
    if pop.momentum != 0.0:
        raise HDOInputError(f"{which} momentum must be 0 for the NumPy reference")
    if isinstance(spec.nu, str):
        raise HDOInputError(f"{which} nu must be a number for the NumPy reference")
    return spec.kind, spec.rv, float(spec.nu), spec.batch, float(pop.lr)


def run_pairwise_numpy(
    objective,
    config,
    rng: np.random.Generator,
    *,
    record_every: int | None = None,
    sampler: str = "choice",
    directions: str = "loop",
) -> ReferenceRun:
    """Run ``config.T`` pairwise interactions of HDO on ``objective`` with NumPy.

    ``config`` is a :class:`hdo_theory.process.ProcessConfig` (pairwise, constant schedule, no
    momentum or warm-up); ``x0`` as there (default ``objective.random_point(0)``).
    ``rng`` drives every random choice. ``record_every`` (default ``T``): record ``f(mu_t)``
    and ``Gamma_t`` every that many interactions.
    """
    check_choice("sampler", sampler, SAMPLERS)
    check_choice("directions", directions, DIRECTIONS)
    if config.model != "pairwise":
        raise HDOInputError(
            f"model must be 'pairwise' for the NumPy reference, got {config.model!r}"
        )
    if config.schedule != "constant" or config.warmup or config.local_steps_warmup:
        raise HDOInputError("the NumPy reference supports only a constant schedule without warm-up")
    A, y, lam = _least_squares_data(objective)
    n, n0, d, T = objective.n, objective.n0, objective.d, config.T
    pops = (_population(config, "zo"), _population(config, "fo"))
    record_every = T if record_every is None else check_int("record_every", record_every, 1)

    # every node starts from the same point (or from a per-node start, as in simulate)
    x0 = objective.random_point(0) if config.x0 is None else np.asarray(config.x0, dtype=float)
    X = np.tile(x0, (n, 1)) if x0.ndim == 1 else x0.copy()
    shards = [objective.shard(i) for i in range(n)]
    perm = objective.shard_idx.copy()  # the kernel sampler's persistent permutation
    ptr = objective.shard_ptr
    w = objective.weights

    def minibatch(i, b):
        if sampler == "choice":
            return rng.choice(shards[i], size=b, replace=False)
        # partial Fisher-Yates on node i's slice of perm, the kernel's draw_batch
        start, m = ptr[i], ptr[i + 1] - ptr[i]
        r = np.arange(b) + rng.integers(0, m - np.arange(b))
        seg = perm[start : start + m]
        for k in range(b):
            seg[k], seg[r[k]] = seg[r[k]], seg[k]
        return seg[:b].copy()

    def loss(x, Ab, yb):
        r = Ab @ x - yb
        return 0.5 * np.dot(r, r) / r.shape[0] + 0.5 * lam * np.dot(x, x)

    def estimate(i, x):
        kind, rv, nu, b, _ = pops[0 if i < n0 else 1]
        batch = minibatch(i, b)
        Ab, yb = A[batch], y[batch]
        if kind == "fo":
            return Ab.T @ (Ab @ x - yb) / b + lam * x
        f0 = loss(x, Ab, yb)
        if directions == "loop":
            g = np.zeros(d)
            for _ in range(rv):
                u = rng.standard_normal(d)
                g += (loss(x + nu * u, Ab, yb) - f0) / nu * u
            return g / rv
        U = rng.standard_normal((rv, d))
        Xp = x + nu * U  # (rv, d): the rv probe points
        R = Xp @ Ab.T - yb  # (rv, b): residuals at every probe point
        f = 0.5 * np.einsum("rj,rj->r", R, R) / b + 0.5 * lam * np.einsum("rk,rk->r", Xp, Xp)
        return ((f - f0) / nu) @ U / rv

    rec_t, rec_f, rec_g = [], [], []

    def record(t):
        mu = X.mean(axis=0)
        rec_t.append(t)
        rec_f.append(_global_loss(A, y, lam, w, mu))
        rec_g.append(float(np.mean(np.sum((X - mu) ** 2, axis=1))))

    start_time = time.perf_counter()
    record(0)
    for t in range(1, T + 1):
        i = rng.integers(0, n)
        j = rng.integers(0, n - 1)
        if j >= i:
            j += 1
        gi = estimate(i, X[i])  # both estimates at the current models, before either moves
        gj = estimate(j, X[j])
        X[i] -= pops[0 if i < n0 else 1][4] * gi
        X[j] -= pops[0 if j < n0 else 1][4] * gj
        avg = 0.5 * (X[i] + X[j])
        X[i] = avg
        X[j] = avg
        if t % record_every == 0 or t == T:
            record(t)
    wall = time.perf_counter() - start_time
    return ReferenceRun(
        t=np.array(rec_t, dtype=np.int64),
        f_mu=np.array(rec_f),
        gamma=np.array(rec_g),
        X=X,
        wall_time_s=wall,
    )
