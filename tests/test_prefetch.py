"""The minibatch prefetch (issue 14, section 3) is a cache hint only.

``prefetch_batch`` is called by the process after every minibatch draw. It must compile for
every objective kind's data tuple (the features, or the quadratic's centres, are the rows it
hints) and leave every array and the random stream untouched; that the trajectories are
bit-identical with it is what ``tests/test_golden.py`` checks (its hashes were made before the
prefetch existed).
"""

from __future__ import annotations

import numpy as np
import pytest

from hdo_theory.objectives import OBJECTIVE_NAMES, make_objective
from hdo_theory.objectives.kernels import _prefetch_row, batch_loss, prefetch_batch

SYNTHETIC = [n for n in OBJECTIVE_NAMES if n not in ("digits", "breast-cancer")]


@pytest.mark.parametrize("name", SYNTHETIC)
def test_prefetch_batch_changes_nothing(name):
    obj = make_objective(name, d=6, n0=2, n1=2, seed=3)
    data = obj.data
    before = [np.array(a, copy=True) for a in data[1:]]
    batch = obj.shard(1)[:3].copy()
    x = obj.random_point(1)
    loss = batch_loss(data, batch, x)
    prefetch_batch(data, batch)
    for a, b in zip(data[1:], before, strict=True):
        assert np.array_equal(a, b)
    assert batch_loss(data, batch, x) == loss


def test_prefetch_row_on_strided_and_wide_rows():
    import numba

    @numba.njit
    def touch(A, rows):
        for j in rows:
            _prefetch_row(A, j)
        return A[rows[0], 0]

    A = np.arange(40.0).reshape(4, 10)
    assert touch(A, np.array([0, 3], dtype=np.int64)) == 0.0
    assert touch(A[:, ::3], np.array([1, 2], dtype=np.int64)) == 10.0  # non-contiguous view
    assert touch(np.zeros((2, 1000)), np.array([1], dtype=np.int64)) == 0.0  # 8000-byte rows


# ---------------------------------------------------------------------------------------------
# Drawing ahead (process.kernels._pair_estimates): draw_directions + estimate_drawn stand in
# for estimate. Exact claims: the same value bit for bit, the same evaluation count and the
# same position in the random stream afterwards (so every later draw is the same).
# ---------------------------------------------------------------------------------------------

from hdo_theory.estimators.kernels import (  # noqa: E402
    EST_COORD_FD,
    EST_FO,
    EST_ZO_CENTRAL,
    EST_ZO_DIRECTIONAL,
    EST_ZO_FORWARD,
    EST_ZO_SPHERE,
    direction_buffer,
    draw_ahead,
    draw_directions,
    estimate,
    estimate_drawn,
)
from hdo_theory.rng import kernel_generator, standard_normals  # noqa: E402

GLMS = ["least-squares", "logistic", "logistic-nonconvex", "robust"]
CODES = [EST_FO, EST_ZO_FORWARD, EST_ZO_CENTRAL, EST_ZO_DIRECTIONAL, EST_ZO_SPHERE, EST_COORD_FD]


def _next_normals(rng, d=3):
    out = np.empty(d)
    standard_normals(rng, out)
    return out


@pytest.mark.parametrize("name", GLMS)
def test_estimate_drawn_is_estimate_bit_for_bit(name):
    obj = make_objective(name, d=7, n0=2, n1=2, seed=5)
    if name != "least-squares":  # a regulariser, so R(x + nu u) is exercised too
        obj = make_objective(name, d=7, n0=2, n1=2, seed=5, lam=0.1)
    data = obj.data
    batch = obj.shard(0)[:5].copy()
    x = obj.random_point(2)
    for code in CODES:
        for rv in (1, 3, 4, 9):  # short, exact and long last blocks
            ss = np.random.SeedSequence([11, code, rv])
            rng_a, rng_b = kernel_generator(ss), kernel_generator(ss)
            out_a, out_b = np.empty(7), np.empty(7)
            ev_a = estimate(data, code, rv, 1e-3, batch, x, rng_a, out_a, direction_buffer(7),
                            np.empty(7))
            U = np.zeros((12, 7))
            assert draw_ahead(data, code, rv, U)
            draw_directions(data, code, rv, rng_b, U)
            ev_b = estimate_drawn(data, code, rv, 1e-3, batch, x, U, out_b, np.empty(7))
            assert ev_a == ev_b, (code, rv)
            assert np.array_equal(out_a, out_b), (code, rv, out_a - out_b)
            assert np.array_equal(_next_normals(rng_a), _next_normals(rng_b)), (code, rv)


def test_draw_ahead_refuses_what_it_cannot_reproduce():
    quad = make_objective("quadratic", d=4, n0=1, n1=1, seed=0).data
    U = np.zeros((8, 4))
    assert draw_ahead(quad, EST_FO, 1, U)  # draws nothing: any kind
    assert not draw_ahead(quad, EST_ZO_FORWARD, 2, U)  # generic path: draws between evaluations
    ls = make_objective("least-squares", d=4, n0=1, n1=1, seed=0).data
    assert draw_ahead(ls, EST_ZO_FORWARD, 8, U)
    assert not draw_ahead(ls, EST_ZO_FORWARD, 9, U)  # no room for the directions
    noisy = make_objective("explicit-quadratic", d=4, n0=1, n1=1, seed=0, noise=0.5).data
    assert not draw_ahead(noisy, EST_FO, 1, U)  # oracle noise is drawn inside estimate
