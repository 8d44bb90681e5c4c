"""Communication graphs for graph gossip, and the spectral gap of the gossip process on them.

Graph gossip draws one edge ``{i, j}`` uniformly from the edge set ``E`` per interaction and
applies ``W_ij = I - (e_i - e_j)(e_i - e_j)^T / 2`` (both endpoints take their average). The
expected mixing matrix is

.. math:: \\bar W = E[W_{ij}] = I - \\frac{L_G}{2 |E|},

with ``L_G`` the graph Laplacian. Its **spectral gap**
``1 - lambda_2(W_bar) = lambda_2(L_G) / (2|E|)`` sets the contraction of pure averaging: for
node models ``X`` centred at their mean,
``E[n Gamma_{t+1} | X] = n Gamma_t - tr(X^T L_G X) / (2|E|) <= (1 - gap) n Gamma_t``.
The complete graph has ``gap = 1/(n-1)``, the exact pairwise rate of docs/theory.md#exact-facts.

Topologies (``n`` nodes, every generator returns a sorted int64 array of shape ``(|E|, 2)`` with
``i < j`` and no duplicates):

* ``complete``: all ``n(n-1)/2`` pairs.
* ``ring``: ``{i, i+1 mod n}``.
* ``torus``: a ``rows x cols`` grid with wrap-around, ``rows`` the largest divisor of ``n`` not
  above ``sqrt(n)`` unless given (``rows = 1`` degenerates to a ring).
* ``star``: node 0 joined to every other node.
* ``random-regular``: ``degree``-regular, drawn by the seeded edge-switch chain started from a
  circulant graph (``10 |E|`` double-edge switches keeping the graph simple), approximately
  uniform; rejected if disconnected.
* ``erdos-renyi``: each pair present with probability ``p`` (seeded); a disconnected draw is
  rejected with an error naming ``p`` (no silent re-draw, so the seed fixes the graph).
"""

from __future__ import annotations

import math

import numpy as np

from hdo_theory.errors import HDOInputError, check_choice, check_float, check_int

TOPOLOGY_NAMES: tuple[str, ...] = (
    "complete",
    "ring",
    "torus",
    "star",
    "random-regular",
    "erdos-renyi",
)

__all__ = [
    "TOPOLOGY_NAMES",
    "make_edges",
    "laplacian",
    "spectral_gap",
    "is_connected",
    "expected_mixing_matrix",
]


def _normalise(pairs, n: int) -> np.ndarray:
    e = {(min(i, j), max(i, j)) for i, j in pairs if i != j}
    arr = np.array(sorted(e), dtype=np.int64).reshape(-1, 2)
    return arr


def _complete(n):
    i, j = np.triu_indices(n, 1)
    return np.stack([i, j], axis=1).astype(np.int64)


def _ring(n):
    return _normalise(((i, (i + 1) % n) for i in range(n)), n)


def _torus(n, rows):
    if rows is None:
        rows = max(r for r in range(1, math.isqrt(n) + 1) if n % r == 0)
    rows = check_int("torus_rows", rows, 1, n)
    if n % rows:
        raise HDOInputError(f"torus_rows must divide n={n}, got {rows}")
    cols = n // rows
    pairs = []
    for r in range(rows):
        for c in range(cols):
            v = r * cols + c
            pairs.append((v, r * cols + (c + 1) % cols))
            pairs.append((v, ((r + 1) % rows) * cols + c))
    return _normalise(pairs, n)


def _star(n):
    return np.array([[0, k] for k in range(1, n)], dtype=np.int64)


def _random_regular(n, degree, rng):
    degree = check_int("degree", degree, 1, n - 1)
    if (n * degree) % 2:
        raise HDOInputError(
            f"degree * n must be even for a random regular graph (degree={degree}, n={n})"
        )
    # circulant start: each node joined to its degree//2 neighbours on each side (+ opposite node)
    pairs = set()
    for i in range(n):
        for s in range(1, degree // 2 + 1):
            j = (i + s) % n
            pairs.add((min(i, j), max(i, j)))
        if degree % 2:
            j = (i + n // 2) % n
            pairs.add((min(i, j), max(i, j)))
    edges = list(pairs)
    m = len(edges)
    for _ in range(10 * m):
        a, b = rng.integers(0, m, 2)
        if a == b:
            continue
        (u, v), (x, y) = edges[a], edges[b]
        if rng.random() < 0.5:
            x, y = y, x
        # switch u-v, x-y  ->  u-x, v-y (if it keeps the graph simple)
        if len({u, v, x, y}) < 4:
            continue
        e1, e2 = (min(u, x), max(u, x)), (min(v, y), max(v, y))
        if e1 in pairs or e2 in pairs:
            continue
        pairs.discard(edges[a])
        pairs.discard(edges[b])
        pairs.add(e1)
        pairs.add(e2)
        edges[a], edges[b] = e1, e2
    return _normalise(edges, n)


def _erdos_renyi(n, p, rng):
    p = check_float("p", p, 0.0, 1.0, lo_open=True)
    i, j = np.triu_indices(n, 1)
    keep = rng.random(i.shape[0]) < p
    return np.stack([i[keep], j[keep]], axis=1).astype(np.int64)


def make_edges(
    topology: str,
    n: int,
    *,
    degree: int = 4,
    p: float = 0.5,
    torus_rows: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Edge list (int64 ``(|E|, 2)``, ``i < j``, sorted) of a connected graph on ``n`` nodes.

    ``degree`` is used by ``random-regular``, ``p`` by ``erdos-renyi``, ``torus_rows`` by
    ``torus``, ``seed`` by the two random graphs. Raises :class:`HDOInputError` for a
    disconnected result or parameters the topology cannot use.
    """
    check_choice("topology", topology, TOPOLOGY_NAMES)
    n = check_int("n", n, 2)
    seed = check_int("graph_seed", seed, 0)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x6A09E667]))
    if topology == "complete":
        edges = _complete(n)
    elif topology == "ring":
        edges = _ring(n)
    elif topology == "torus":
        edges = _torus(n, torus_rows)
    elif topology == "star":
        edges = _star(n)
    elif topology == "random-regular":
        edges = _random_regular(n, degree, rng)
    else:
        edges = _erdos_renyi(n, p, rng)
    if not is_connected(edges, n):
        what = {"erdos-renyi": f"p={p}", "random-regular": f"degree={degree}"}.get(topology, "")
        raise HDOInputError(
            f"topology {topology} with n={n} {what} (graph_seed={seed}) is disconnected; "
            "gossip cannot reach consensus (raise p / degree or change graph_seed)"
        )
    return edges


def is_connected(edges: np.ndarray, n: int) -> bool:
    """Whether the graph on ``n`` nodes with these edges is connected (union-find)."""
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i, j in np.asarray(edges).reshape(-1, 2):
        ri, rj = find(int(i)), find(int(j))
        if ri != rj:
            parent[ri] = rj
    return len({find(a) for a in range(n)}) == 1


def laplacian(edges: np.ndarray, n: int) -> np.ndarray:
    """Dense graph Laplacian ``L_G = D - A``."""
    L = np.zeros((n, n))
    for i, j in np.asarray(edges).reshape(-1, 2):
        L[i, i] += 1.0
        L[j, j] += 1.0
        L[i, j] -= 1.0
        L[j, i] -= 1.0
    return L


def expected_mixing_matrix(edges: np.ndarray, n: int) -> np.ndarray:
    """``E[W_ij] = I - L_G / (2 |E|)`` for an edge drawn uniformly per interaction."""
    edges = np.asarray(edges).reshape(-1, 2)
    return np.eye(n) - laplacian(edges, n) / (2.0 * edges.shape[0])


def spectral_gap(edges: np.ndarray, n: int) -> float:
    """``1 - lambda_2(E[W]) = lambda_2(L_G) / (2|E|)``: per-interaction contraction of averaging.

    Zero for a disconnected graph. For the complete graph it is exactly ``1/(n-1)``.
    """
    edges = np.asarray(edges).reshape(-1, 2)
    if edges.shape[0] == 0:
        return 0.0
    ev = np.linalg.eigvalsh(laplacian(edges, n))
    return float(max(ev[1], 0.0) / (2.0 * edges.shape[0]))
