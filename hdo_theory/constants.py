"""Problem constants of THEORY.md section 1, each with how it was obtained.

INTERFACE (fixed; the implementation is filled in by the constants work):

``compute_constants(objective) -> Constants``
``node_gradient_variance(objective, i, x, batch) -> float``  exact s_i^2 at a point x for a
    minibatch of ``batch`` samples drawn without replacement from node i's shard.
"""

from __future__ import annotations

import numpy as np

from hdo_theory.errors import HDOInputError, check_int, check_point


def node_gradient_variance(objective, i: int, x, batch: int) -> float:
    """Exact :math:`E\\|\\nabla F^i(x, \\xi) - \\nabla f^i(x)\\|^2` for a minibatch at ``x``.

    For a minibatch of ``b`` of the ``m`` shard samples drawn without replacement, the variance
    of the minibatch mean is the finite-population formula

    .. math:: \\frac{m - b}{b (m - 1)} \\cdot \\frac1m \\sum_{j} \\|\\nabla F(x, j) - \\nabla f^i(x)\\|^2

    (zero when ``b = m``; for ``m = 1`` the variance is zero).
    """
    x = check_point("x", x, objective.d)
    m = objective.shard_size(i)
    b = check_int("batch", batch, 1, m)
    if m == 1 or b == m:
        return 0.0
    G = objective.sample_grads(objective.shard(i), x)
    pop = float(np.mean(np.sum((G - G.mean(axis=0)) ** 2, axis=1)))
    return (m - b) / (b * (m - 1)) * pop


def compute_constants(objective):  # pragma: no cover - replaced by the full implementation
    raise HDOInputError("constants are not implemented yet")
