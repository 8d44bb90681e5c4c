"""The JVP estimator as the paper's reference implementation draws it, as an estimator plugin.

The paper's JVP estimator (``zo-directional``, docs/theory.md section 3) is
``G = (1/rv) sum_r (u_r . grad F(x, xi)) u_r`` with Gaussian tangents ``u_r ~ N(0, I_d)``;
its mean is ``E[u u^T] grad f^i = grad f^i``. The authors' reference implementation draws the
tangents uniform on ``[0, 1)^d`` instead (a ``rand`` where a ``randn`` was meant). This file
registers that estimator under the name ``authors-jvp`` and measures its bias with
:func:`hdo_theory.estimators.monte_carlo.estimator_stats`, next to the Gaussian one.

Claim: with ``u`` uniform on ``[0, 1)^d``,

.. math::

   M := E[u u^T] = \\frac{1}{12} I + \\frac{1}{4} \\mathbf{1}\\mathbf{1}^T, \\qquad
   E[G] = M \\nabla f^i(x) \\ne \\nabla f^i(x).

Proof. The coordinates are independent with ``E u_k = 1/2`` and ``E u_k^2 = int_0^1 t^2 dt =
1/3``. Off the diagonal ``E[u_k u_l] = E u_k E u_l = 1/4``; on it ``E u_k^2 = 1/3 = 1/12 +
1/4``. So ``M = I/12 + 11^T/4``. Given the minibatch ``xi``, ``u`` is independent of ``xi`` and
``E[(u . grad F) u | xi] = E[u u^T] grad F(x, xi) = M grad F(x, xi)``; averaging the ``rv``
directions does not change the mean, and taking the expectation over ``xi`` (linear) gives
``E G = M grad f^i(x)``. ``M`` has the eigenvalue ``1/12`` on the hyperplane ``1^perp``
(multiplicity ``d - 1``) and ``1/12 + d/4`` on ``1``, so ``E G`` is a multiple of
``grad f^i`` only when ``grad f^i`` lies in ``1^perp`` or along ``1``: in general the estimator
is biased, with bias ``(M - I) grad f^i``, of norm between ``(11/12) ||grad f^i||`` and
``(d/4 - 11/12) ||grad f^i||``. (``M`` is positive definite, so ``-E G`` is still a descent
direction: the reference implementation runs a preconditioned method, not the analysed one.)

Run it (at most a minute on 2 cores, compile included)::

    python examples/authors_jvp.py

or load it into the command line (the file registers the plugin when imported)::

    hdo-theory estimator-stats --plugin examples/authors_jvp.py --estimator authors-jvp
"""

from __future__ import annotations

import numba
import numpy as np

from hdo_theory.estimators import batch_jvp, register_estimator

NAME = "authors-jvp"


@numba.njit(cache=True, nogil=True)
def authors_jvp(obj, batch, x, rng, nu, rv, out, U, xtmp):
    """``(1/rv) sum_r (u_r . grad F(x, batch)) u_r`` with ``u_r`` uniform on ``[0, 1)^d``."""
    d = x.shape[0]
    u = U[0]
    out[:] = 0.0
    for _r in range(rv):
        for k in range(d):
            u[k] = rng.random()  # the reference implementation's tangent: uniform, not Gaussian
        coef = batch_jvp(obj, batch, x, u) / rv
        for k in range(d):
            out[k] += coef * u[k]
    return rv


def second_moment_matrix(d: int) -> np.ndarray:
    """``E[u u^T] = I/12 + 11^T/4`` for ``u`` uniform on ``[0, 1)^d`` (proof above)."""
    return np.eye(d) / 12.0 + np.ones((d, d)) / 4.0


def authors_jvp_moments(objective, node, x, rv, nu, batch):
    """The exact mean ``M grad f^i(x)`` (every objective: the mean is linear in ``F``)."""
    return {"mean": second_moment_matrix(objective.d) @ objective.node_grad(node, x)}


register_estimator(NAME, authors_jvp, zero_order=True, mean="unknown",
                   mean_label="(I/12 + 11^T/4) grad f^i (uniform [0, 1) tangents)",
                   moments=authors_jvp_moments,
                   description="JVP with tangents uniform on [0, 1) (the authors' reference code)")


def compare(objective_name: str = "least-squares", d: int = 10, draws: int = 200_000,
            rv: int = 1, batch: int = 4, seed: int = 0) -> dict:
    """Bias of ``authors-jvp`` and of the Gaussian ``zo-directional`` at one seeded point.

    Returns ``{name: (empirical bias, its 95% interval, exact bias)}`` with the bias
    ``||E G - grad f^i(x)||`` (the PEPit-like (empirical, theoretical) pair of each estimator),
    and ``"grad_norm"``: ``||grad f^i(x)||``.
    """
    from hdo_theory.estimators import EstimatorSpec
    from hdo_theory.estimators.monte_carlo import estimator_stats
    from hdo_theory.objectives import make_objective

    objective = make_objective(objective_name, d=d, n0=2, n1=2, seed=seed)
    x = objective.random_point(seed=seed)
    out = {}
    for name in (NAME, "zo-directional"):
        spec = EstimatorSpec(name, rv=rv, nu=1e-3, batch=batch)
        s = estimator_stats(objective, 0, x, spec, draws=draws, seed=seed, progress=False)
        b = s["bias"]
        out[name] = (b["value"], tuple(b["ci"]), b["exact"])
        out["grad_norm"] = s["point"]["grad_norm"]
    return out


if __name__ == "__main__":
    res = compare()
    g = res.pop("grad_norm")
    print("bias ||E G - grad f^0(x)|| on least squares (d=10, node 0, batch 4, rv 1, 200000 draws);"
          f" ||grad f^0(x)|| = {g:.4f}")
    for name, (val, ci, exact) in res.items():
        print(f"  {name:15s} measured {val:.4f}  95% CI [{ci[0]:.4f}, {ci[1]:.4f}]  "
              f"exact {exact:.4f}  (measured / ||grad f^0|| = {val / g:.3f})")
