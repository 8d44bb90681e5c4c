"""The exact quadratic form of a quadratic objective: ``f`` and ``grad f`` in ``O(d^2)``.

For the least-squares and quadratic kinds ``f`` is a quadratic, so around any point ``x_ref``

.. math:: f(x) = f(x_{ref}) + r^\\top e + \\tfrac12 e^\\top H e, \\qquad
          \\nabla f(x) = r + H e, \\qquad e = x - x_{ref},

with the Hessian ``H = sum_j w_j grad^2 F(., j)`` and ``r = grad f(x_ref)``, exactly (no Taylor
remainder). The process records with it at large ``N`` (``record_sample="auto"`` or
``"quadratic"``): a record then costs ``O(n d^2)`` (every node's loss included, exactly)
instead of two or three passes over the data set plus a node-loss subsample
(``benchmarks/README.md``, issue 14: 60 ms a record at ``N = 196,608``, ``d = 100``).

Taking ``x_ref = x*`` (the objective's optimum) keeps the gap free of cancellation:
``f(x) - f* = r^T e + e^T H e / 2`` with ``r`` at rounding level, where ``f(x) - f*`` from a
data pass subtracts two nearly equal sums.

Kinds and Hessians (``w`` the sample weights, ``lam`` the ridge weight):

* least squares, ``F(x, j) = (a_j^T x - y_j)^2 / 2 + lam ||x||^2 / 2``:
  ``H = sum_j w_j a_j a_j^T + lam (sum_j w_j) I``;
* quadratic, ``F(x, j) = (x - c_j)^T A_{g_j} (x - c_j) / 2``: ``H = sum_j w_j A_{g_j}``.

Every other kind returns ``None`` (not handled: the explicit quadratic is a quadratic too, but
its data are small wherever it is used). ``H`` is summed in blocks of
:data:`GRAM_BLOCK` rows with one BLAS thread, so it does not depend on the machine's thread
count, and cached per objective (one ``O(N d^2)`` pass: about 0.1 s at ``N = 196,608``,
``d = 100``, a few records' worth of data passes, paid once per objective, not per run).
Non-negative weights (every built-in data set) take BLAS ``syrk`` on ``sqrt(w) A``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from hdo_theory.objectives import kernels as K

__all__ = ["GRAM_BLOCK", "QuadraticForm", "hessian", "is_quadratic", "quadratic_form"]

#: Rows per block of the Hessian sum (bounds the temporary to ``GRAM_BLOCK x d`` floats; 1,024
#: was the fastest of 512 to 32,768 at ``N = 196,608``, ``d = 100``: 81 ms, 139 ms at 8,192).
GRAM_BLOCK = 1024

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class QuadraticForm:
    """``f(x) = f_ref + r . e + e^T H e / 2``, ``grad f(x) = r + H e``, ``e = x - x_ref``."""

    H: np.ndarray
    x_ref: np.ndarray
    r: np.ndarray
    f_ref: float

    def value(self, x) -> float:
        e = np.asarray(x, dtype=float) - self.x_ref
        return float(self.f_ref + self.r @ e + 0.5 * e @ (self.H @ e))

    def grad(self, x) -> np.ndarray:
        e = np.asarray(x, dtype=float) - self.x_ref
        return self.r + self.H @ e


def is_quadratic(objective) -> bool:
    """Whether :func:`quadratic_form` has a form for ``objective``'s kind."""
    data = getattr(objective, "data", None)
    return data is not None and int(data[0]) in (K.KIND_LEAST_SQUARES, K.KIND_QUADRATIC)


def hessian(objective) -> np.ndarray | None:
    """``H = sum_j w_j grad^2 F(., j)`` of a least-squares or quadratic objective, else None."""
    if not is_quadratic(objective):
        return None
    from threadpoolctl import threadpool_limits

    kind, params, feats, _, groups, mats, _ = objective.data[:7]
    w = np.asarray(objective.weights, dtype=np.float64)
    d = int(objective.d)
    H = np.zeros((d, d))
    with threadpool_limits(limits=1):  # the rounding must not depend on the core count
        if int(kind) == K.KIND_LEAST_SQUARES:
            if np.all(w >= 0.0):
                # B^T B with B = sqrt(w) A: NumPy hands B.T @ B to BLAS syrk (half the work)
                sw = np.sqrt(w)
                for s in range(0, w.shape[0], GRAM_BLOCK):
                    B = feats[s : s + GRAM_BLOCK] * sw[s : s + GRAM_BLOCK, None]
                    H += B.T @ B
            else:
                for s in range(0, w.shape[0], GRAM_BLOCK):
                    A = feats[s : s + GRAM_BLOCK]
                    H += (A.T * w[s : s + GRAM_BLOCK]) @ A
            lam = float(params[0])
            if lam != 0.0:
                H[np.diag_indices(d)] += lam * float(w.sum())
        else:
            gw = np.bincount(np.asarray(groups, dtype=np.int64), weights=w,
                             minlength=mats.shape[0])
            for g in range(mats.shape[0]):
                if gw[g] != 0.0:
                    H += gw[g] * mats[g]
    return 0.5 * (H + H.T)  # exactly symmetric


def quadratic_form(objective, x_ref=None, f_ref=None) -> QuadraticForm | None:
    """The :class:`QuadraticForm` of ``objective`` around ``x_ref`` (default: its optimum
    ``x*`` with ``f_ref = f*`` from its constants), or ``None`` if its kind is not quadratic.
    ``r = grad f(x_ref)`` is one data pass; the form around ``x*`` is cached per objective."""
    if not is_quadratic(objective):
        return None
    default = x_ref is None
    if default and objective in _CACHE:
        return _CACHE[objective]
    if default:
        c = objective.constants
        x_ref, f_ref = np.asarray(c.x_star, dtype=float), float(c.f_star)
    x_ref = np.ascontiguousarray(x_ref, dtype=np.float64)
    if f_ref is None:
        f_ref = objective.value(x_ref)
    H = _CACHE[objective].H if objective in _CACHE else hessian(objective)
    form = QuadraticForm(H=np.ascontiguousarray(H), x_ref=x_ref.copy(),
                         r=np.asarray(objective.grad(x_ref), dtype=float).copy(),
                         f_ref=float(f_ref))
    if default:
        _CACHE[objective] = form
    return form
