"""Learning-rate schedules for the gossip process.

A schedule is a base learning rate ``eta`` per population times a factor ``s(t)`` in ``(0, 1]``
that depends on the step index ``t = 0 .. T-1`` (interactions, or rounds for the matching model).

============================ ===================================================================
name                         learning rate at step ``t``
============================ ===================================================================
``constant``                 ``eta``
``theorem-convex``           ``eta = 4 n log T / (T ell)`` (Theorem 1, strongly convex), constant;
                             replaces both populations' base rates
``theorem-nonconvex``        ``eta = n / sqrt(d T)`` (Theorem 1, non-convex), constant; replaces
                             both populations' base rates
``cosine``                   ``eta * (1 + cos(pi t / T)) / 2`` (cosine annealing to 0 at ``t = T``)
============================ ===================================================================

Any schedule can be combined with a linear warm-up of ``warmup`` steps: the factor is multiplied
by ``(t + 1) / warmup`` for ``t < warmup``.

The factor is evaluated inside the Numba kernels through :func:`schedule_factor` (no per-step
array is allocated, so memory does not grow with ``T``).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from hdo_theory.errors import HDOInputError, check_choice, check_float, check_int

SCHEDULE_NAMES: tuple[str, ...] = ("constant", "theorem-convex", "theorem-nonconvex", "cosine")

# Kernel codes: the theorem schedules are constant rates once their value is fixed.
SCHED_CONSTANT = 0
SCHED_COSINE = 1

__all__ = [
    "SCHEDULE_NAMES",
    "theorem_convex_lr",
    "theorem_nonconvex_lr",
    "cosine_factor",
    "schedule_factor",
    "schedule_code",
    "lr_factors",
]


def theorem_convex_lr(n: int, T: int, ell: float) -> float:
    """Theorem 1 (strongly convex): :math:`\\eta = 4 n \\log T / (T \\ell)`.

    Needs ``n >= 2``, ``T >= 2`` (so that ``log T > 0``) and ``ell > 0``.
    """
    n = check_int("n", n, 2)
    T = check_int("T", T, 2)
    if ell is None:
        raise HDOInputError("ell must be a number > 0 for the theorem-convex schedule, got None")
    ell = check_float("ell", ell, 0.0, lo_open=True)
    return 4.0 * n * math.log(T) / (T * ell)


def theorem_nonconvex_lr(n: int, d: int, T: int) -> float:
    """Theorem 1 (non-convex): :math:`\\eta = n / \\sqrt{d T}`. Needs ``n >= 2``, ``d, T >= 1``."""
    n = check_int("n", n, 2)
    d = check_int("d", d, 1)
    T = check_int("T", T, 1)
    return n / math.sqrt(d * T)


def cosine_factor(t: int, T: int) -> float:
    """Cosine annealing factor :math:`(1 + \\cos(\\pi t / T)) / 2`: 1 at ``t = 0``, 0 at ``T``."""
    return 0.5 * (1.0 + math.cos(math.pi * t / T))


def schedule_code(name: str) -> int:
    """Kernel code of schedule ``name`` (the theorem schedules are constant in the kernel)."""
    check_choice("schedule", name, SCHEDULE_NAMES)
    return SCHED_COSINE if name == "cosine" else SCHED_CONSTANT


@numba.njit(nogil=True, cache=True)
def schedule_factor(code, t, T, warmup):
    """Factor ``s(t)`` multiplying the base learning rate at step ``t`` (see module docstring)."""
    f = 1.0
    if code == SCHED_COSINE:
        f = 0.5 * (1.0 + math.cos(math.pi * t / T))
    if warmup > 0 and t < warmup:
        f *= (t + 1.0) / warmup
    return f


def lr_factors(name: str, T: int, warmup: int = 0, steps=None) -> np.ndarray:
    """The factors ``s(t)`` at ``steps`` (default ``0 .. T-1``), for plots and checks."""
    code = schedule_code(name)
    T = check_int("T", T, 1)
    warmup = check_int("warmup", warmup, 0, T)
    ts = np.arange(T) if steps is None else np.asarray(steps, dtype=np.int64)
    return np.array([schedule_factor(code, int(t), T, warmup) for t in ts])
