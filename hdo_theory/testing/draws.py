"""Draws of an estimator at a point, in row blocks from one seeded stream, for the assertions.

:func:`estimator_draws` yields blocks of rows ``G_t`` (one estimator draw each, a fresh
minibatch of ``spec.batch`` samples drawn without replacement from the node's shard per draw,
exactly as :func:`hdo_theory.estimators.monte_carlo.estimator_stats` draws them). The built-in
estimators run in one batched Numba loop (:func:`draw_estimator_rows`); an estimator registered
later (a plugin) goes through :func:`hdo_theory.estimators.estimate_once`, one Python call per
draw (slower, same distribution). The stream is a function of ``seed`` only, so two objectives
with the same shard sizes and the same ``seed`` see the same minibatch indices and directions:
the paired assertions (:func:`~.assert_linear_in_F`, :func:`~.assert_shift_invariant`) rely on it.

:func:`derived_seed` is the default seed of every assertion: a hash of its inputs, so that a
hypothesis example always gets the same draws (no flaky failures) and different examples get
different ones.
"""

from __future__ import annotations

import hashlib

import numba
import numpy as np

from hdo_theory.errors import HDOInputError, check_int, check_point
from hdo_theory.estimators import (
    EstimatorSpec,
    direction_buffer,
    estimate,
    estimate_once,
    resolve_nu,
)
from hdo_theory.objectives.kernels import draw_batch
from hdo_theory.rng import kernel_generator

__all__ = ["BLOCK", "derived_seed", "draw_estimator_rows", "estimator_draws"]

#: Rows per block (a block is ``BLOCK x d`` floats).
BLOCK = 1 << 14


@numba.njit(nogil=True, cache=True)
def draw_estimator_rows(obj, est, rv, nu, perm, b, x, rng, out, U, xtmp):
    """Row ``t`` of ``out`` := one draw of estimator ``est`` on a fresh minibatch of ``b``
    samples of ``perm`` (the node's shard, permuted in place; the whole shard if ``b = m``).
    The same minibatch and direction stream as
    :func:`~hdo_theory.estimators.monte_carlo.draw_estimator_chunk`."""
    m = perm.shape[0]
    for t in range(out.shape[0]):
        if b < m:
            batch = draw_batch(rng, perm, 0, m, b)
        else:
            batch = perm[0:m]
        estimate(obj, est, rv, nu, batch, x, rng, out[t], U, xtmp)


def _builtin(kind: str) -> bool:
    from hdo_theory.estimators import _BUILTIN

    return kind in _BUILTIN


def estimator_draws(objective, node: int, x, spec: EstimatorSpec, draws: int, seed: int,
                    eta: float | None = None, block: int = BLOCK):
    """Yield ``(n_t, d)`` blocks of estimator draws, ``draws`` rows in all, from ``seed``."""
    if not isinstance(spec, EstimatorSpec):
        raise HDOInputError(f"spec must be an EstimatorSpec, got {type(spec).__name__}")
    node = check_int("node", node, 0, objective.n - 1)
    x = check_point("x", x, objective.d)
    draws = check_int("draws", draws, 1)
    m = objective.shard_size(node)
    b = check_int("batch", spec.batch, 1, m)
    nu = resolve_nu(spec.nu, objective.d, eta)
    rng = kernel_generator(np.random.SeedSequence(check_int("seed", seed, 0)))
    d = objective.d
    if _builtin(spec.kind):
        perm = np.array(objective.shard(node), dtype=np.int64)
        U, xtmp = direction_buffer(d), np.empty(d)
        left = draws
        while left > 0:
            out = np.empty((min(block, left), d))
            draw_estimator_rows(objective.data, spec.code, spec.rv, nu, perm, b, x, rng, out,
                                U, xtmp)
            left -= out.shape[0]
            yield out
        return
    left = draws
    while left > 0:  # a registered plugin: the public one-draw route
        out = np.empty((min(block, left), d))
        for t in range(out.shape[0]):
            out[t] = estimate_once(objective, spec, node, x, rng, eta=eta)
        left -= out.shape[0]
        yield out


def _feed(h, value):
    if isinstance(value, np.ndarray):
        h.update(str(value.dtype).encode() + str(value.shape).encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (tuple, list)):
        h.update(b"(")
        for v in value:
            _feed(h, v)
        h.update(b")")
    elif isinstance(value, dict):
        _feed(h, sorted(value.items()))
    elif isinstance(value, EstimatorSpec):
        _feed(h, ("EstimatorSpec", value.kind, value.rv, value.nu, value.batch))
    elif hasattr(value, "data") and hasattr(value, "shard_idx"):  # an Objective
        _feed(h, ("Objective", value.name, value.d, value.n0, value.n1, value.data,
                  value.shard_ptr, value.shard_idx))
    else:
        h.update(repr(value).encode())
    h.update(b";")


def derived_seed(*parts) -> int:
    """A 63-bit seed that is a deterministic function of ``parts`` (objectives are hashed by
    their data and split, specs by their fields, arrays by their bytes): BLAKE2b of the parts."""
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        _feed(h, p)
    return int.from_bytes(h.digest(), "little") >> 1
