"""Objectives and their Numba kernels: derivatives, sums, the global f, seeds, input checks.

Tolerances are derived in ``_objective_bounds`` (rounding: ``2 T eps S``; central differences:
``h^2 M3 / 6`` truncation plus rounding over ``2h``); none is tuned.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _objective_bounds import EPS, central_difference_check, jvp_rounding

from hdo_theory.errors import HDOInputError
from hdo_theory.objectives import OBJECTIVE_NAMES, make_objective, objectives_where
from hdo_theory.objectives import kernels as K

REAL = ("digits", "breast-cancer")
#: Rows with the two-copy split (each population's shards cover the whole data set); the
#: explicit quadratic (one function per node) has its own f = mean_i f^i test in
#: tests/test_explicit_quadratic.py.
TWO_COPY = objectives_where(one_sample_per_node=False)


def _directions(d: int, rng) -> list[np.ndarray]:
    """All coordinate vectors (or 6 random ones for large d) and 3 random unit vectors."""
    coords = range(d) if d <= 8 else rng.choice(d, 6, replace=False)
    out = [np.eye(1, d, int(k))[0] for k in coords]
    for _ in range(3):
        u = rng.standard_normal(d)
        out.append(u / np.linalg.norm(u))
    return out


def _points(obj) -> list[np.ndarray]:
    """A point near the origin, a moderate one and a far one (saturated sigmoids etc.)."""
    s = 0.05 if obj.d > 100 else 0.5
    return [obj.random_point(1, s), obj.random_point(2, 4 * s), obj.random_point(3, 40 * s)]


def _L_crude(obj, j) -> float:
    """An upper bound on the per-sample smoothness, independent of hdo_theory.objectives.constants.

    Only used to bound how far a rounded evaluation point moves the gradient (a second-order
    term of the central-difference rounding budget): ||Hess|| <= ||A_g||_F, 2||a||^2 + 2 lam
    (covers every GLM kind, since |phi''| <= 2 and the non-convex regulariser's <= 2 lam),
    1 + alpha beta^2 (cosine wells).
    """
    kind, params, A, y, groups, mats, _ = obj.data
    if kind == K.KIND_QUADRATIC:
        return float(np.linalg.norm(mats[groups[j]]))
    if kind == K.KIND_EXPLICIT_QUADRATIC:
        return float(np.linalg.norm(mats[0]))
    if kind == K.KIND_COSINE_WELLS:
        return 1.0 + float(params[0] * params[1] ** 2)
    return 2.0 * float(A[j] @ A[j]) + 2.0 * float(params[0])


@pytest.mark.parametrize("name", OBJECTIVE_NAMES)
def test_gradient_and_jvp_match_central_differences(name, small_objective):
    obj = small_objective(name)
    rng = np.random.default_rng(np.random.SeedSequence([7, len(name)]))
    samples = rng.choice(obj.n_samples, 3, replace=False)
    dirs = _directions(obj.d, rng)
    for x in _points(obj):
        for j in samples:
            g = np.zeros(obj.d)
            K.sample_grad_add(obj.data, int(j), x, 1.0, g)
            for u in dirs:
                fd, h, tol = central_difference_check(obj, int(j), x, u, _L_crude(obj, int(j)))
                S, T = jvp_rounding(obj, int(j), x, u)
                tol_g = tol + 2 * T * EPS * S  # plus the kernel's own rounding
                jvp = K.sample_jvp(obj.data, int(j), x, u)
                assert abs(fd - float(u @ g)) <= tol_g, (name, j, h, fd, float(u @ g), tol_g)
                assert abs(fd - jvp) <= tol_g, (name, j, h, fd, jvp, tol_g)
                # metamorphic: forward mode and gradient agree to rounding (two 2 T eps S budgets)
                assert abs(jvp - float(u @ g)) <= 4 * T * EPS * S
                # power: the budget resolves the derivative to at least 6 significant digits
                assert tol_g <= 1e-6 * (1.0 + float(np.linalg.norm(g)))


@pytest.mark.parametrize("name", OBJECTIVE_NAMES)
def test_batch_and_weighted_kernels_are_per_sample_sums(name, small_objective):
    """batch_* and weighted_* equal per-sample sums up to summation rounding (2 n eps sum|.|)."""
    obj = small_objective(name)
    rng = np.random.default_rng(3)
    x = obj.random_point(4, 0.05 if obj.d > 100 else 0.7)
    u = rng.standard_normal(obj.d)
    N = obj.n_samples
    F = np.array([K.sample_loss(obj.data, j, x) for j in range(N)])
    G = obj.sample_grads(np.arange(N), x)
    J = np.array([K.sample_jvp(obj.data, j, x, u) for j in range(N)])
    for b in (1, 5, 17):
        if b > N:  # a small data set (one sample per node): only the batches it has
            continue
        batch = rng.choice(N, b, replace=False).astype(np.int64)
        tol = lambda v, b=b: 4 * (b + 1) * EPS * np.sum(np.abs(v), axis=0) / b
        assert abs(K.batch_loss(obj.data, batch, x) - F[batch].mean()) <= tol(F[batch])
        out = np.empty(obj.d)
        K.batch_grad(obj.data, batch, x, out)
        assert np.all(np.abs(out - G[batch].mean(axis=0)) <= tol(G[batch]))
        assert abs(K.batch_jvp(obj.data, batch, x, u) - J[batch].mean()) <= tol(J[batch])
    w = obj.weights
    assert abs(K.weighted_loss(obj.data, w, x) - w @ F) <= 4 * (N + 1) * EPS * (w @ np.abs(F))
    out = np.empty(obj.d)
    K.weighted_grad(obj.data, w, x, out)
    assert np.all(np.abs(out - w @ G) <= 4 * (N + 1) * EPS * (w @ np.abs(G)))
    # node gradient / jvp are the shard means
    i = obj.n - 1
    S = obj.shard(i)
    m = S.shape[0]
    assert np.all(
        np.abs(obj.node_grad(i, x) - G[S].mean(0)) <= 4 * (m + 1) * EPS * np.abs(G[S]).mean(0)
    )
    assert abs(obj.node_jvp(i, x, u) - J[S].mean()) <= 4 * (m + 1) * EPS * np.abs(J[S]).mean()


def _equal_split(name) -> dict:
    """Population sizes giving equal shards in both populations (synthetic: via default N)."""
    if name not in REAL:
        return dict(n0=2, n1=3)
    N = make_objective(name, n0=2, n1=2).n_samples
    for n0, n1 in ((2, 3), (2, 2), (3, 4), (5, 7)):
        if N % n0 == 0 and N % n1 == 0:
            return dict(n0=n0, n1=n1)
    raise AssertionError(N)


@pytest.mark.parametrize("name", TWO_COPY)
def test_f_is_mean_of_local_objectives_and_slip_reading_is_twice_f(name, small_objective):
    """f = (1/n) sum_i f^i = data-set mean F when shards are equal; the printed reading
    (1/n0) sum_{N0} f^i + (1/n1) sum_{N1} f^i is 2F, which is NOT the f we use
    (docs/theory.md#slip-1-the-global-objective).
    """
    obj = small_objective(name, **_equal_split(name))
    sizes = np.diff(obj.shard_ptr)
    assert np.all(sizes[: obj.n0] == sizes[0]) and np.all(sizes[obj.n0 :] == sizes[-1])
    x = obj.random_point(6, 0.05 if obj.d > 100 else 0.8)
    N = obj.n_samples
    F = np.array([K.sample_loss(obj.data, j, x) for j in range(N)])
    W = float(np.mean(np.abs(F)))  # = sum_j w_j |F_j| for equal shards
    tol = 4 * (N + obj.n + int(sizes.max()) + 4) * EPS * W
    f = obj.value(x)
    nodes = np.array([obj.node_value(i, x) for i in range(obj.n)])
    assert abs(f - nodes.mean()) <= tol
    assert abs(f - F.mean()) <= tol  # equal shards: f is the plain data-set mean
    pop0, pop1 = nodes[: obj.n0].mean(), nodes[obj.n0 :].mean()
    assert abs(pop0 - F.mean()) <= tol and abs(pop1 - F.mean()) <= tol
    slip = pop0 + pop1
    assert abs(slip - 2.0 * f) <= 2 * tol
    assert abs(slip - f) >= abs(f) - 2 * tol > 0.0  # the slip reading is off by f itself
    # gradients follow the same identity
    g = obj.grad(x)
    gn = np.array([obj.node_grad(i, x) for i in range(obj.n)]).mean(axis=0)
    G = obj.sample_grads(np.arange(N), x)
    assert np.all(
        np.abs(g - gn) <= 4 * (N + obj.n + int(sizes.max()) + 4) * EPS * np.abs(G).mean(0)
    )


def _arrays(obj):
    return [np.asarray(a) for a in obj.data] + [obj.shard_ptr, obj.shard_idx, obj.weights]


@pytest.mark.parametrize("name", OBJECTIVE_NAMES)
def test_same_seed_same_arrays_different_seed_differs(name):
    kw = dict(n0=2, n1=3, heterogeneity=0.3) | ({} if name in REAL else {"d": 4})
    a = _arrays(make_objective(name, seed=5, **kw))
    b = _arrays(make_objective(name, seed=5, **kw))
    c = _arrays(make_objective(name, seed=6, **kw))
    assert all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("name", OBJECTIVE_NAMES)
def test_heterogeneity_one_skews_the_shards(name):
    """At x = 0, the h = 1 split is at least twice as heterogeneous as an i.i.d. split.

    Reference: for a uniformly random split of N samples into shards of m, the exact expected
    heterogeneity of a population is (N - m) / (m (N - 1)) * (1/N) sum_j ||g_j - gbar||^2
    (finite-population sampling), with grad f = gbar when shards are equal.
    """
    from hdo_theory.objectives.constants import heterogeneity_at

    split = _equal_split(name)
    kw = dict(seed=11, **split)
    if name not in REAL:
        kw.update(d=5, n_samples=600)
    o0 = make_objective(name, heterogeneity=0.0, **kw)
    o1 = make_objective(name, heterogeneity=1.0, **kw)
    x = np.zeros(o0.d)
    N = o0.n_samples
    G = o0.sample_grads(np.arange(N), x)
    pv = float(np.mean(np.sum((G - G.mean(0)) ** 2, axis=1)))
    iid = sum((N - N / k) / ((N / k) * (N - 1)) * pv for k in (split["n0"], split["n1"]))
    h0, h1 = sum(heterogeneity_at(o0, x)), sum(heterogeneity_at(o1, x))
    assert h1 >= 2.0 * iid
    assert h1 > h0


@pytest.mark.parametrize(
    "kwargs, param",
    [
        (dict(name="quadratic", d=0), "d"),
        (dict(name="digits", d=5), "d is fixed to 650"),  # a real data set fixes d
        (dict(name="quadratic", n0=-1), "n0"),
        (dict(name="quadratic", n0=1, n1=0), "n0 + n1"),
        (dict(name="no-such-objective"), "objective"),
        (dict(name="quadratic", n0=4, n1=2, n_samples=3), "n_samples"),
        (dict(name="quadratic", heterogeneity=1.5), "heterogeneity"),
    ],
)
def test_make_objective_rejects_bad_input(kwargs, param):
    name = kwargs.pop("name")
    with pytest.raises(HDOInputError) as e:
        make_objective(name, **kwargs)
    msg = str(e.value)
    assert msg.startswith(param) and "\n" not in msg


def test_nan_point_is_rejected(small_objective):
    obj = small_objective("quadratic")
    x = np.zeros(obj.d)
    x[1] = math.nan
    for call in (obj.value, obj.grad, lambda v: obj.node_value(0, v)):
        with pytest.raises(HDOInputError, match=r"^x must be finite"):
            call(x)
    with pytest.raises(HDOInputError, match=r"^x must be a vector of length"):
        obj.value(np.zeros(obj.d + 1))


def test_kernels_compile_once_per_signature(small_objective):
    obj = small_objective("logistic")
    x = np.zeros(obj.d)
    batch = obj.shard(0)
    K.batch_loss(obj.data, batch, x)
    out = np.empty(obj.d)
    K.batch_grad(obj.data, batch, x, out)
    before = (len(K.batch_loss.signatures), len(K.batch_grad.signatures))
    other = small_objective("cosine-wells")  # another kind: same Numba types by design
    K.batch_loss(other.data, other.shard(1), np.ones(other.d))
    K.batch_grad(other.data, other.shard(1), np.ones(other.d), np.empty(other.d))
    assert (len(K.batch_loss.signatures), len(K.batch_grad.signatures)) == before
