"""Constants of the affine kinds without (n, d, d) stacks (issue 14 section 5).

Reference: the implementation before the change (kept below, verbatim up to names), which held
the per-node heterogeneity matrices ``M_i`` and variance forms ``Mv_i`` as ``(n, d, d)`` stacks.
The streamed implementation (chunked stacks for quadratic; Gram expansion and a rank-``m_i``
basis per shard for least squares) computes the same quantities in another order, so the two
agree to rounding. Tolerance: both are sums of ``O(N + d)`` products of entries of scale
``S = max ||a_j||^2`` (or ``max |A_g|``), then a trust-region solve whose value is a continuous
function of the forms; rounding budget ``2 (N + d) eps`` relative to the value's scale
``c + ||M|| R^2 + 2 ||m|| R``, times 64 for the eigendecomposition (as in test_constants'
``_trs_rounding``). The cases cover shards smaller than d (reduced basis), at least d (direct
forms), single-sample shards (variance form zero up to rounding) and one-node populations.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from hdo_theory.objectives import constants as C
from hdo_theory.objectives import make_objective

EPS = np.finfo(float).eps


# --- the reference: the stacked implementation as it was -------------------------------------


def _ref_affine(P, B_node_het, e_node_het, node_var_quads, x_star, radius):
    d = P.d
    R = C.default_radius(P.obj, x_star) if radius is None else radius
    zero_tol = 1e-12 * C._affine_scale(P)
    vs = [0.0, 0.0]
    for k, idx in enumerate((np.arange(P.n0), np.arange(P.n0, P.n))):
        if idx.size == 0:
            continue
        Mi, bi = B_node_het[idx], e_node_het[idx]
        if np.max(np.abs(Mi)) <= zero_tol:
            vs[k] = float(np.mean(np.sum(bi**2, axis=1)))
            continue
        stacked = Mi.reshape(-1, d)
        Mq = stacked.T @ stacked / idx.size
        mq = stacked.T @ bi.reshape(-1) / idx.size
        cq = float(np.mean(np.sum(bi**2, axis=1)))
        vs[k] = max(C.max_quadratic_on_ball(Mq, mq, cq, R).value, 0.0)
    var_pop = np.zeros(P.n)
    for i, (Mv, mv, cv) in enumerate(node_var_quads):
        if np.max(np.abs(Mv)) <= zero_tol**2 and np.max(np.abs(mv)) <= zero_tol * math.sqrt(
            max(cv, 0.0)
        ):
            var_pop[i] = max(cv, 0.0)
            continue
        var_pop[i] = max(C.max_quadratic_on_ball(Mv, mv, cv, R).value, 0.0)
    return vs, var_pop, R


def _ref_least_squares(P, x_star):
    A, w, d = P.A, P.w, P.d
    norms2 = np.sum(A**2, axis=1)
    Hd = (A.T * w) @ A
    r = A @ x_star - P.y
    E = r[:, None] * A
    Mhet = np.empty((P.n, d, d))
    quads = []
    for i in range(P.n):
        S = P.obj.shard(i)
        As, Es = A[S], E[S]
        m = S.shape[0]
        Bbar = As.T @ As / m
        Mhet[i] = Bbar - Hd
        Mv = (As.T * norms2[S]) @ As / m - As.T @ ((As @ As.T) @ As) / (m * m)
        ebar = Es.mean(axis=0)
        mv = As.T @ (norms2[S] * r[S]) / m - Bbar @ ebar
        cv = float(np.mean(np.sum((Es - ebar) ** 2, axis=1)))
        quads.append((0.5 * (Mv + Mv.T), mv, cv))
    bhet = C._node_means(P.obj, E) - (w @ E)[None, :]
    return _ref_affine(P, Mhet, bhet, quads, x_star, None)


def _ref_quadratic(P, x_star):
    mats, groups, centers, w = P.mats, P.groups, P.centers, P.w
    G, d = mats.shape[0], P.d
    Wg = np.bincount(groups, weights=w, minlength=G)
    E = C._group_apply(mats, groups, x_star[None, :] - centers)
    onehot = np.zeros((P.obj.n_samples, G))
    onehot[np.arange(groups.shape[0]), groups] = 1.0
    frac = C._node_means(P.obj, onehot)
    Mhet = np.einsum("ig,gab->iab", frac - Wg[None, :], mats)
    bhet = C._node_means(P.obj, E) - (w @ E)[None, :]
    quads = []
    for i in range(P.n):
        S = P.obj.shard(i)
        fr = frac[i]
        Bbar = np.einsum("g,gab->ab", fr, mats)
        Es = E[S]
        ebar = Es.mean(axis=0)
        Mv, mv = np.zeros((d, d)), np.zeros(d)
        for g in np.flatnonzero(fr):
            D = mats[g] - Bbar
            Mv += fr[g] * (D @ D)
            mv += D @ (Es[groups[S] == g] - ebar).sum(axis=0) / S.shape[0]
        cv = float(np.mean(np.sum((Es - ebar) ** 2, axis=1)))
        quads.append((0.5 * (Mv + Mv.T), mv, cv))
    return _ref_affine(P, Mhet, bhet, quads, x_star, None)


# --- old vs new -------------------------------------------------------------------------------

CASES = [
    # (kind, d, n0, n1, N): shards of 1-2 samples (m < d, some m = 1), shards of m >= d,
    # mixed shard sizes, a one-node population
    ("least-squares", 12, 5, 6, 17),
    ("least-squares", 4, 2, 3, 60),
    ("least-squares", 9, 3, 3, 40),
    ("least-squares", 6, 1, 4, 25),
    ("quadratic", 5, 3, 4, 30),
    ("quadratic", 8, 1, 3, 11),
]


def _budget(value, scale):
    return 64 * 2 * scale["terms"] * EPS * (abs(value) + scale["form"])


@pytest.mark.parametrize("kind,d,n0,n1,N", CASES)
def test_streamed_constants_equal_stacked_reference(kind, d, n0, n1, N):
    obj = make_objective(kind, d=d, n0=n0, n1=n1, n_samples=N, seed=3)
    P = C._Prob(obj)
    c = C.compute_constants(obj)
    ref = (_ref_least_squares if kind == "least-squares" else _ref_quadratic)(P, c.x_star)
    vs, var_pop, R = ref
    assert c.radius == R
    S = C._affine_scale(P)
    # value scale of each trust-region solve: (S R + gradient scale)^2
    g = float(np.max(np.abs(obj.sample_grads(np.arange(N), c.x_star)))) * math.sqrt(d)
    form = (S * R + g) ** 2
    scale = {"terms": N + d, "form": form}
    for got, want in ((c.varsigma0_sq, vs[0]), (c.varsigma1_sq, vs[1])):
        assert abs(got - want) <= _budget(want, scale), (got, want)
    assert np.all(np.abs(c.node_var_pop - var_pop) <= _budget(var_pop, scale))


def test_reduced_basis_witness_attains_the_value():
    """Each node's variance witness (mapped back from the shard basis) attains its value: the
    exact population variance at the witness equals the ball maximum to rounding."""
    obj = make_objective("least-squares", d=10, n0=3, n1=3, n_samples=14, seed=5)
    c = C.compute_constants(obj)
    W = c.witnesses["s_node"]
    for i in range(obj.n):
        assert np.linalg.norm(W[i] - c.x_star) <= c.radius * (1 + 1e-12)
        G = obj.sample_grads(obj.shard(i), W[i])
        seen = float(np.mean(np.sum((G - G.mean(axis=0)) ** 2, axis=1)))
        scale = float(np.max(np.sum(G**2, axis=1))) + 1e-300
        assert abs(seen - c.node_var_pop[i]) <= 64 * (obj.n_samples + obj.d) * EPS * scale


def test_no_n_d_d_stack(monkeypatch):
    """Memory: no array of n * d * d floats or more is allocated while computing the constants
    of a least-squares objective with many small shards (n = 400, d = 60: a stack would be
    1.44e6 floats; the largest legitimate arrays are N x d = 4.8e4 and d x d)."""
    obj = make_objective("least-squares", d=60, n0=200, n1=200, n_samples=800, seed=1)
    limit = obj.n * obj.d * obj.d
    seen = []
    for name in ("empty", "zeros", "stack", "concatenate"):
        orig = getattr(np, name)

        def wrapped(*a, _orig=orig, **k):
            out = _orig(*a, **k)
            seen.append(out.size)
            return out

        monkeypatch.setattr(C.np, name, wrapped)
    C.compute_constants(obj)
    assert seen and max(seen) < limit
