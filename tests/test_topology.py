"""Graphs for graph gossip and the spectral gap of the expected mixing matrix."""

import math

import numpy as np
import pytest

from hdo_theory.errors import HDOInputError
from hdo_theory.process.topology import (
    TOPOLOGY_NAMES,
    expected_mixing_matrix,
    is_connected,
    laplacian,
    make_edges,
    spectral_gap,
)


def _degrees(edges, n):
    return np.bincount(edges.ravel(), minlength=n)


@pytest.mark.parametrize("topology", TOPOLOGY_NAMES)
@pytest.mark.parametrize("n", [2, 5, 12])
def test_edges_are_simple_sorted_and_connected(topology, n):
    kw = {"degree": 1 if n == 2 else 4, "p": 0.9}
    if topology == "random-regular" and (n * kw["degree"]) % 2:
        kw["degree"] = 2
    e = make_edges(topology, n, **kw)
    assert e.dtype == np.int64 and e.ndim == 2 and e.shape[1] == 2
    assert np.all(e[:, 0] < e[:, 1])
    assert len({tuple(r) for r in e}) == e.shape[0]  # no duplicates
    assert [tuple(r) for r in e] == sorted(tuple(r) for r in e)
    assert is_connected(e, n)


def test_edge_counts_and_degrees():
    n = 12
    assert make_edges("complete", n).shape[0] == n * (n - 1) // 2
    assert make_edges("ring", n).shape[0] == n
    assert make_edges("star", n).shape[0] == n - 1
    torus = make_edges("torus", n)  # 3 x 4 grid with wrap-around: every node has degree 4
    assert np.all(_degrees(torus, n) == 4) and torus.shape[0] == 2 * n
    rr = make_edges("random-regular", n, degree=5, seed=3)
    assert np.all(_degrees(rr, n) == 5)


def test_random_graphs_are_seeded():
    a = make_edges("erdos-renyi", 20, p=0.4, seed=7)
    b = make_edges("erdos-renyi", 20, p=0.4, seed=7)
    c = make_edges("erdos-renyi", 20, p=0.4, seed=8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    r1 = make_edges("random-regular", 20, degree=3, seed=1)
    assert np.array_equal(r1, make_edges("random-regular", 20, degree=3, seed=1))


def test_spectral_gap_closed_forms():
    # complete graph: lambda_2(L) = n, |E| = n(n-1)/2 -> gap = 1/(n-1), the exact pairwise rate
    # (docs/theory.md#exact-facts)
    for n in (2, 3, 7, 16):
        assert spectral_gap(make_edges("complete", n), n) == pytest.approx(1 / (n - 1), rel=1e-12)
    # ring: lambda_2(L) = 2 - 2 cos(2 pi / n), |E| = n
    n = 10
    want = (2 - 2 * math.cos(2 * math.pi / n)) / (2 * n)
    assert spectral_gap(make_edges("ring", n), n) == pytest.approx(want, rel=1e-12)
    # star: lambda_2(L) = 1, |E| = n - 1
    assert spectral_gap(make_edges("star", n), n) == pytest.approx(1 / (2 * (n - 1)), rel=1e-12)


def test_expected_mixing_matrix_is_the_mean_of_the_edge_matrices():
    n = 6
    e = make_edges("ring", n)
    W = np.zeros((n, n))
    for i, j in e:
        v = np.zeros(n)
        v[i], v[j] = 1.0, -1.0
        W += np.eye(n) - np.outer(v, v) / 2.0
    W /= e.shape[0]
    assert np.allclose(expected_mixing_matrix(e, n), W, atol=1e-15)
    assert np.allclose(laplacian(e, n).sum(axis=1), 0.0)


def test_disconnected_erdos_renyi_is_rejected_naming_p():
    with pytest.raises(HDOInputError, match=r"p=0\.01.*disconnected"):
        make_edges("erdos-renyi", 30, p=0.01, seed=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(topology="hypercube", n=8), "topology"),
        (dict(topology="ring", n=1), "n must"),
        (dict(topology="torus", n=12, torus_rows=5), "torus_rows"),
        (dict(topology="random-regular", n=7, degree=3), "degree"),
        (dict(topology="random-regular", n=7, degree=7), "degree"),
        (dict(topology="erdos-renyi", n=7, p=0.0), "p must"),
        (dict(topology="erdos-renyi", n=7, p=1.5), "p must"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(HDOInputError, match=match):
        make_edges(**kwargs)
