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


def test_prefetch_row_is_a_hint_only():
    """``prefetch_row`` (the in-pass hint of ``batch_grad`` and the GLM ZO path, rows
    ``ROW_PREFETCH_DISTANCE`` ahead) reads and writes nothing."""
    import numba

    from hdo_theory.objectives.kernels import ROW_PREFETCH_DISTANCE, prefetch_row

    @numba.njit
    def hint_all(A):
        for j in range(A.shape[0]):
            prefetch_row(A, j)

    A = np.arange(60.0).reshape(6, 10)
    before = A.copy()
    hint_all(A)
    assert np.array_equal(A, before)
    assert ROW_PREFETCH_DISTANCE >= 1
