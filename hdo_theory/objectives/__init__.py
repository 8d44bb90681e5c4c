"""Synthetic objectives with their node split (docs/theory.md section 1).

An objective is a data set of ``N`` samples, each with a loss ``F(x, j)`` (see
:mod:`hdo_theory.objectives.kernels`), plus two independent splits of the same samples: one copy
among the ``n0`` zeroth-order (ZO) nodes ``0 .. n0-1`` and one copy among the ``n1`` first-order
(FO) nodes ``n0 .. n-1``. Node ``i``'s local objective is the mean over its shard,
``f^i(x) = (1/m_i) sum_{j in shard i} F(x, j)``, and the global objective is

.. math::  f(x) = \\frac{1}{n} \\sum_{i=1}^{n} f^i(x) = \\sum_j w_j F(x, j),
           \\qquad w_j = \\frac{1}{n}\\Big(\\frac{1}{m_{zo(j)}} + \\frac{1}{m_{fo(j)}}\\Big),

the reading every proof step of the paper uses (docs/theory.md#slip-1-the-global-objective
marks the printed ``(1/n0) sum + (1/n1) sum = 2F`` as a slip). When both populations' shards
are equal in size, each population's average local objective is exactly the data-set mean
``F``; the default ``n_samples`` is chosen so that this holds.

Heterogeneity ``h`` in [0, 1] sets how skewed the shards are: each sample gets the score
``h * rank(key_j)/N + (1 - h) * U_j`` (``U_j`` uniform) and shards are contiguous blocks of the
samples sorted by score. ``h = 0`` is an i.i.d. split, ``h = 1`` sorts by the kind's key (label,
target or cluster), the most heterogeneous split.

The explicit quadratic (:mod:`hdo_theory.objectives.explicit`) is the exception to the two-copy
split: ``explicit_quadratic(A, B, n0, noise=0.0)`` gives node ``i`` the function
``F^i(x, xi) = 1/2 x^T A x - B[i] . x + xi . x`` (``A`` shared, symmetric positive definite;
``xi ~ N(0, noise^2 I_d)`` drawn once per estimate and shared by all its function values),
nodes ``0 .. n0-1`` ZO, one sample per node (``batch`` must be 1), with exact constants
``L = lambda_max(A)``, ``ell = lambda_min(A)``, ``x* = A^{-1} mean(B)``,
``varsigma_k^2 = mean_{i in N_k} ||B_i - mean(B)||^2`` and ``s_i^2 = d noise^2``. Its table
row ``"explicit-quadratic"`` generates ``A`` and ``B`` from ``condition``, ``heterogeneity``
and ``seed`` (:func:`~hdo_theory.objectives.explicit.generate_explicit_quadratic`), with the
oracle noise ``noise``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from hdo_theory.errors import HDOInputError, check_choice, check_float, check_int, check_point
from hdo_theory.limits import MAX_D, MAX_N_SAMPLES
from hdo_theory.objectives import constants as C
from hdo_theory.objectives import kernels as K

__all__ = [
    "DEFAULT_D",
    "ExplicitQuadratic",
    "OBJECTIVES",
    "OBJECTIVE_NAMES",
    "REAL_DATA_SHAPES",
    "Objective",
    "ObjectiveInfo",
    "constants_function",
    "default_n_samples",
    "explicit_quadratic",
    "explicit_quadratic_parts",
    "make_objective",
    "make_shards",
    "objective_info",
    "objective_names",
    "objectives_where",
    "real_data_shapes",
    "split_seed_sequence",
    "USER_CONSTANTS",
    "register_objective",
    "register_objective_kind",
    "unregister_objective",
]


@dataclass(frozen=True, eq=False)
class Objective:
    """A data set, its loss kind, and the ZO/FO node split.

    Attributes
    ----------
    name: registry name (``"quadratic"``, ``"least-squares"`` ...).
    d: dimension of ``x``.
    n0, n1: sizes of the ZO and FO populations; ZO nodes are ``0..n0-1``, FO nodes ``n0..n-1``.
    data: the objective-data tuple the Numba kernels take.
    shard_ptr: int64[n+1]; node ``i``'s samples are ``shard_idx[shard_ptr[i]:shard_ptr[i+1]]``.
    shard_idx: int64[total], every node's shard concatenated.
    weights: float64[N], the sample weights ``w_j`` of the global ``f``.
    convex: whether every ``f^i`` is convex (then ``ell`` is the strong-convexity constant).
    meta: the generation parameters (seed included), enough to regenerate the objective.
    """

    name: str
    d: int
    n0: int
    n1: int
    data: tuple
    shard_ptr: np.ndarray
    shard_idx: np.ndarray
    weights: np.ndarray
    convex: bool
    meta: dict = field(default_factory=dict)
    heldout: tuple | None = None  # objective data of a held-out split (real data sets), or None

    # -- sizes ---------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return self.n0 + self.n1

    @property
    def kind(self) -> int:
        return int(self.data[0])

    @property
    def n_samples(self) -> int:
        return int(self.weights.shape[0])

    def shard(self, i: int) -> np.ndarray:
        """Sample indices of node ``i``'s shard."""
        i = check_int("node", i, 0, self.n - 1)
        return self.shard_idx[self.shard_ptr[i] : self.shard_ptr[i + 1]]

    def shard_size(self, i: int) -> int:
        i = check_int("node", i, 0, self.n - 1)
        return int(self.shard_ptr[i + 1] - self.shard_ptr[i])

    def is_zo(self, i: int) -> bool:
        return i < self.n0

    # -- evaluations (Python-level convenience; kernels take ``self.data``) ---------------
    def value(self, x) -> float:
        """Global objective ``f(x)``."""
        x = check_point("x", x, self.d)
        return float(K.weighted_loss(self.data, self.weights, x))

    def grad(self, x) -> np.ndarray:
        """Global gradient ``grad f(x)``."""
        x = check_point("x", x, self.d)
        out = np.empty(self.d)
        K.weighted_grad(self.data, self.weights, x, out)
        return out

    def node_value(self, i: int, x) -> float:
        """Local objective ``f^i(x)`` (mean over node ``i``'s shard)."""
        x = check_point("x", x, self.d)
        return float(K.batch_loss(self.data, self.shard(i), x))

    def node_grad(self, i: int, x) -> np.ndarray:
        """Local gradient ``grad f^i(x)``."""
        x = check_point("x", x, self.d)
        out = np.empty(self.d)
        K.batch_grad(self.data, self.shard(i), x, out)
        return out

    def node_jvp(self, i: int, x, u) -> float:
        """Directional derivative ``u . grad f^i(x)``, computed in forward mode."""
        x = check_point("x", x, self.d)
        u = check_point("u", u, self.d)
        return float(K.batch_jvp(self.data, self.shard(i), x, u))

    def batch_value(self, batch, x) -> float:
        x = check_point("x", x, self.d)
        return float(K.batch_loss(self.data, self._batch(batch), x))

    def batch_grad(self, batch, x) -> np.ndarray:
        x = check_point("x", x, self.d)
        out = np.empty(self.d)
        K.batch_grad(self.data, self._batch(batch), x, out)
        return out

    def batch_jvp(self, batch, x, u) -> float:
        x = check_point("x", x, self.d)
        u = check_point("u", u, self.d)
        return float(K.batch_jvp(self.data, self._batch(batch), x, u))

    def sample_grads(self, samples, x) -> np.ndarray:
        """Matrix whose row ``t`` is ``grad F(x, samples[t])``."""
        x = check_point("x", x, self.d)
        samples = self._batch(samples)
        out = np.empty((samples.shape[0], self.d))
        K.per_sample_grads(self.data, samples, x, out)
        return out

    def random_point(self, seed: int = 0, scale: float = 1.0) -> np.ndarray:
        """A seeded point ``x* + scale * z / sqrt(d) * ||x*||``-free: ``x = x_ref + scale*z``."""
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x9E3779B9]))
        return self.meta.get("x_ref", np.zeros(self.d)) + scale * rng.standard_normal(self.d)

    def _batch(self, batch) -> np.ndarray:
        b = np.ascontiguousarray(batch, dtype=np.int64)
        if b.ndim != 1 or b.shape[0] < 1:
            raise HDOInputError("batch must be a non-empty vector of sample indices")
        if b.min() < 0 or b.max() >= self.n_samples:
            raise HDOInputError(f"batch indices must be in [0, {self.n_samples - 1}]")
        return b

    # -- constants (computed on first use; see hdo_theory.objectives.constants) -------------
    @cached_property
    def constants(self):
        """Problem constants of docs/theory.md section 2 (:class:`.constants.Constants`)."""
        from hdo_theory.objectives.constants import compute_constants

        return compute_constants(self)

    def heldout_metrics(self, x) -> tuple[float, float]:
        """(validation loss, accuracy) of ``x`` on the held-out split (NaN, NaN if none)."""
        x = check_point("x", x, self.d)
        if self.heldout is None:
            return float("nan"), float("nan")
        loss, acc = K.dataset_loss_accuracy(self.heldout, x)
        return float(loss), float(acc)

    def describe(self) -> str:
        return f"{self.name} (d={self.d}, n0={self.n0} ZO + n1={self.n1} FO, N={self.n_samples})"


# ---------------------------------------------------------------------------------------------
# Shards
# ---------------------------------------------------------------------------------------------


def make_shards(keys: np.ndarray, n_pop: int, heterogeneity: float, rng) -> list[np.ndarray]:
    """Split sample indices ``0..N-1`` into ``n_pop`` near-equal shards (sizes differ by <= 1).

    Scores ``h * rank(key)/N + (1-h) * U`` are sorted and cut into contiguous blocks.
    """
    N = keys.shape[0]
    if n_pop == 0:
        return []
    rank = np.empty(N)
    rank[np.argsort(keys, kind="stable")] = np.arange(N) / N
    score = heterogeneity * rank + (1.0 - heterogeneity) * rng.random(N)
    order = np.argsort(score, kind="stable")
    return [np.sort(s).astype(np.int64) for s in np.array_split(order, n_pop)]


def default_n_samples(n0: int, n1: int, d: int) -> int:
    """Smallest multiple of lcm(n0, n1) that is at least ``max(4 d, 16 max(n0, n1))``.

    Equal shard sizes in both populations make each population's mean objective exactly the
    data-set mean. Falls back to ``max(4 d, 16 max(n0, n1))`` (unequal shards, still exact
    weights) when that multiple would exceed 50,000 samples.
    """
    pops = [p for p in (n0, n1) if p > 0]
    lcm = math.lcm(*pops)
    target = max(4 * d, 16 * max(pops))
    m = lcm * math.ceil(target / lcm)
    return m if m <= 50_000 else target


def _pack(kind, params, feats=None, targets=None, groups=None, mats=None, centers=None, N=0, d=0):
    f64 = np.float64
    return (
        np.int64(kind),
        np.ascontiguousarray(params, dtype=f64),
        np.ascontiguousarray(feats if feats is not None else np.zeros((N, 0)), dtype=f64),
        np.ascontiguousarray(targets if targets is not None else np.zeros(N), dtype=f64),
        np.ascontiguousarray(groups if groups is not None else np.zeros(N, np.int64), np.int64),
        np.ascontiguousarray(mats if mats is not None else np.zeros((0, 0, 0)), dtype=f64),
        np.ascontiguousarray(centers if centers is not None else np.zeros((N, 0)), dtype=f64),
    )


def _spectrum_cov(rng, d, condition):
    """Random covariance with eigenvalues log-spaced in [1/condition, 1]: returns its root."""
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    eig = np.geomspace(1.0, 1.0 / condition, d) if d > 1 else np.ones(1)
    return Q * np.sqrt(eig)  # rows a = root @ z have covariance Q diag(eig) Q^T


def _gen_quadratic(rng, d, N, condition, noise, lam, params):
    G = int(params.get("groups", 4))
    mats = np.empty((G, d, d))
    for g in range(G):
        Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
        eig = np.geomspace(1.0, 1.0 / condition, d) if d > 1 else np.ones(1)
        eig = eig * rng.uniform(0.5, 1.0)  # groups differ in scale too
        mats[g] = (Q * eig) @ Q.T
        mats[g] = 0.5 * (mats[g] + mats[g].T)
    groups = rng.integers(0, G, N).astype(np.int64)
    means = rng.standard_normal((G, d))
    centers = means[groups] + noise * rng.standard_normal((N, d))
    keys = groups + 0.5 * np.tanh(centers[:, 0])
    data = _pack(K.KIND_QUADRATIC, [0.0], groups=groups, mats=mats, centers=centers, N=N, d=d)
    return data, keys, {"groups": G}


def _glm_features(rng, d, N, condition):
    root = _spectrum_cov(rng, d, condition)
    return rng.standard_normal((N, d)) @ root.T


def _gen_least_squares(rng, d, N, condition, noise, lam, params):
    A = _glm_features(rng, d, N, condition)
    x_true = rng.standard_normal(d)
    y = A @ x_true + noise * rng.standard_normal(N)
    data = _pack(K.KIND_LEAST_SQUARES, [lam], feats=A, targets=y, N=N, d=d)
    return data, y, {}


def _gen_logistic(rng, d, N, condition, noise, lam, params, kind=K.KIND_LOGISTIC):
    A = _glm_features(rng, d, N, condition)
    x_true = rng.standard_normal(d) * (3.0 / math.sqrt(max(1e-12, np.mean(np.sum(A**2, 1)))))
    margin = A @ x_true + noise * rng.standard_normal(N)
    y = np.where(margin >= 0, 1.0, -1.0)
    keys = y + 0.1 * np.tanh(margin)
    data = _pack(kind, [lam], feats=A, targets=y, N=N, d=d)
    return data, keys, {}


def _gen_logistic_nonconvex(rng, d, N, condition, noise, lam, params):
    return _gen_logistic(rng, d, N, condition, noise, lam, params, kind=K.KIND_LOGISTIC_NONCVX)


def _gen_robust(rng, d, N, condition, noise, lam, params):
    A = _glm_features(rng, d, N, condition)
    x_true = rng.standard_normal(d) / math.sqrt(d)
    # heavy-tailed noise (Student t, 2 degrees of freedom): the reason for a robust loss
    y = A @ x_true + noise * rng.standard_t(2.0, N)
    data = _pack(K.KIND_ROBUST, [lam], feats=A, targets=y, N=N, d=d)
    return data, y, {}


def _gen_cosine_wells(rng, d, N, condition, noise, lam, params):
    alpha = float(params.get("alpha", 1.0))
    beta = float(params.get("beta", 2.0))
    tilt = 0.3 * rng.standard_normal(d)
    a = tilt + noise * rng.standard_normal((N, d))
    data = _pack(K.KIND_COSINE_WELLS, [alpha, beta], feats=a, N=N, d=d)
    return data, a[:, 0], {"alpha": alpha, "beta": beta}


def _load_real(name):
    """Standardised features with a bias column, and labels, from scikit-learn's bundled sets."""
    try:
        from sklearn import datasets
    except ImportError:  # pragma: no cover - depends on the optional extra
        raise HDOInputError(
            f"objective {name!r} needs scikit-learn: pip install 'hdo-theory[data]'"
        ) from None
    loader = {"digits": datasets.load_digits, "breast-cancer": datasets.load_breast_cancer}[name]
    X, y = loader(return_X_y=True)
    X = np.asarray(X, dtype=np.float64)
    sd = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    X = np.hstack([X, np.ones((X.shape[0], 1))])
    return X, np.asarray(y)


def _heldout_split(rng, labels, fraction):
    """Stratified split: indices (train, held-out), ``fraction`` of each class held out."""
    train, held = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(fraction * idx.shape[0]))
        held.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def _gen_digits(rng, d, N, condition, noise, lam, params):
    X, y = _load_real("digits")
    tr, ho = _heldout_split(rng, y, params.get("heldout_fraction", 0.2))
    K_cls = 10
    pars = [lam, float(K_cls)]
    data = _pack(K.KIND_SOFTMAX, pars, feats=X[tr], targets=y[tr].astype(float))
    held = _pack(K.KIND_SOFTMAX, pars, feats=X[ho], targets=y[ho].astype(float))
    return data, y[tr] + 0.0, {"classes": K_cls, "heldout": held, "n_heldout": len(ho)}


def _gen_breast_cancer(rng, d, N, condition, noise, lam, params):
    X, y = _load_real("breast-cancer")
    tr, ho = _heldout_split(rng, y, params.get("heldout_fraction", 0.2))
    t = np.where(y == 1, 1.0, -1.0)
    data = _pack(K.KIND_LOGISTIC, [lam], feats=X[tr], targets=t[tr])
    held = _pack(K.KIND_LOGISTIC, [lam], feats=X[ho], targets=t[ho])
    return data, t[tr], {"heldout": held, "n_heldout": len(ho)}


#: Dimension of the synthetic kinds when ``d`` is not given.
DEFAULT_D = 10
#: Largest data set (``n_samples``); also the largest ``n0`` and ``n1`` (a shard per node).


# ---------------------------------------------------------------------------------------------
# The objective table: one row per objective, the single place an objective is declared
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectiveInfo:
    """One row of the objective table.

    name: registry name (``make_objective(name)``, CLI ``--objective``).
    generator: ``generator(rng, d, N, condition, noise, lam, params) -> (data, keys, extra)``:
        the kernel data tuple (``_pack``), the per-sample shard keys and extra meta entries
        (``"heldout"``: held-out objective data).
    kind: the loss kind code of :mod:`hdo_theory.objectives.kernels` (``KIND_*``).
    convex: whether every ``f^i`` is convex.
    constants: ``constants(P, radius) -> Constants`` of :mod:`.constants` (``P`` the unpacked
        problem), or None if not implemented.
    real_data: a fixed data set (then ``shape = (d, N)``, the dimension and training size it
        fixes) rather than a synthetic generator.
    lam, noise: defaults of ``make_objective``'s ``lam`` and ``noise``.
    check_params: validates the kind-specific ``**params`` (raises HDOInputError), or None.
    extra_params: the names of the kind-specific ``**params`` the row accepts; any other
        keyword to :func:`make_objective` is refused (with a "did you mean").
    description: one line for docs and ``--help``.
    one_sample_per_node: node ``i``'s shard is sample ``i`` (``N = n0 + n1``; ``n_samples``
        is ignored) instead of the two-copy split; the generator then also gets
        ``params["heterogeneity"]`` (the explicit quadratic: heterogeneity spreads the
        nodes' functions, not a shard split).
    source: a user kind's origin (:func:`register_objective_kind`), for sweep workers to
        re-import it: the module name of its loss function when importable by name, else the
        absolute path of its file; None for the built-ins.
    """

    name: str
    generator: Callable
    kind: int
    convex: bool
    constants: Callable | None
    real_data: bool = False
    lam: float = 0.0
    noise: float = 0.5
    shape: tuple[int, int] | None = None
    check_params: Callable[[dict], None] | None = None
    description: str = ""
    extra_params: tuple[str, ...] = ()
    one_sample_per_node: bool = False
    source: str | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise HDOInputError(f"objective name must be a non-empty string, got {self.name!r}")
        if self.real_data != (self.shape is not None):
            raise HDOInputError(f"objective {self.name!r}: a real data set fixes shape = (d, N) "
                                "and only a real data set does")


#: name -> row, in registration order (built-ins first). Add rows with register_objective.
OBJECTIVES: dict[str, ObjectiveInfo] = {}


def register_objective(info: ObjectiveInfo) -> ObjectiveInfo:
    """Add ``info`` to :data:`OBJECTIVES` (the built-ins use this too); a name already
    registered raises :class:`HDOInputError`."""
    if not isinstance(info, ObjectiveInfo):
        raise HDOInputError(f"register_objective takes an ObjectiveInfo, got {type(info).__name__}")
    if info.name in OBJECTIVES:
        raise HDOInputError(f"objective {info.name!r} is already registered")
    OBJECTIVES[info.name] = info
    return info


def unregister_objective(name: str) -> None:
    """Remove a row added at run time (tests); the built-ins cannot be removed."""
    if name in _BUILTIN:
        raise HDOInputError(f"objective {name!r} is built in and cannot be unregistered")
    OBJECTIVES.pop(name, None)


def objective_info(name: str) -> ObjectiveInfo:
    """The row of objective ``name`` (HDOInputError listing the choices if unknown)."""
    check_choice("objective", name, objective_names())
    return OBJECTIVES[name]


def objective_names() -> tuple[str, ...]:
    """Every registered objective, in table order."""
    return tuple(OBJECTIVES)


def objectives_where(**fields) -> tuple[str, ...]:
    """Names of the rows whose fields equal ``fields`` (``objectives_where(real_data=False)``)."""
    return tuple(n for n, o in OBJECTIVES.items()
                 if all(getattr(o, k) == v for k, v in fields.items()))


def real_data_shapes() -> dict[str, tuple[int, int]]:
    """Real data sets: name -> (dimension of x, number of training samples)."""
    return {n: o.shape for n, o in OBJECTIVES.items() if o.real_data}


def constants_function(objective):
    """The table's constants function for ``objective``: its row's, or (an objective built
    outside :func:`make_objective`) that of the first row with the same kernel kind."""
    row = OBJECTIVES.get(objective.name)
    if row is None or row.kind != objective.kind:
        row = next((o for o in OBJECTIVES.values() if o.kind == objective.kind), None)
    return None if row is None else row.constants


_DERIVED = {"OBJECTIVE_NAMES": objective_names, "REAL_DATA_SHAPES": real_data_shapes}


def __getattr__(name):
    # OBJECTIVE_NAMES, REAL_DATA_SHAPES: derived from the table on every access (an earlier
    # ``from .. import`` keeps its copy; code that must see later registrations calls
    # objective_names() / real_data_shapes()).
    if name in _DERIVED:
        return _DERIVED[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check_quadratic_params(params):
    check_int("groups", params.get("groups", 4), 1, 1000)


def _check_cosine_params(params):
    check_float("alpha", params.get("alpha", 1.0), 0.0)
    check_float("beta", params.get("beta", 2.0), 0.0, lo_open=True)


# after Objective and _pack, which it builds on
from hdo_theory.objectives.explicit import (  # noqa: E402
    ExplicitQuadratic,
    _gen_explicit_quadratic,
    explicit_quadratic,
    explicit_quadratic_constants,
    explicit_quadratic_parts,
)

for _row in (
    ObjectiveInfo("quadratic", _gen_quadratic, K.KIND_QUADRATIC, True, C._quadratic,
                  lam=0.0, noise=0.5, check_params=_check_quadratic_params,
                  extra_params=("groups",),
                  description="grouped quadratics (exact closed forms)"),
    ObjectiveInfo("least-squares", _gen_least_squares, K.KIND_LEAST_SQUARES, True,
                  C._least_squares, lam=0.0, noise=0.5, description="linear least squares"),
    ObjectiveInfo("logistic", _gen_logistic, K.KIND_LOGISTIC, True, C._bounded_glm,
                  lam=0.01, noise=0.5,
                  description="l2-regularised logistic regression (strongly convex)"),
    ObjectiveInfo("logistic-nonconvex", _gen_logistic_nonconvex, K.KIND_LOGISTIC_NONCVX, False,
                  C._bounded_glm, lam=0.1, noise=0.5,
                  description="logistic loss with a non-convex regulariser"),
    ObjectiveInfo("robust", _gen_robust, K.KIND_ROBUST, False, C._bounded_glm, lam=0.001,
                  noise=0.5, description="robust regression r^2/(1+r^2), heavy-tailed noise"),
    ObjectiveInfo("cosine-wells", _gen_cosine_wells, K.KIND_COSINE_WELLS, False,
                  C._cosine_wells, lam=0.0, noise=0.5, check_params=_check_cosine_params,
                  extra_params=("alpha", "beta"),
                  description="non-convex cosine wells"),
    ObjectiveInfo("digits", _gen_digits, K.KIND_SOFTMAX, True, C._softmax, real_data=True,
                  lam=1e-3, noise=0.0, shape=(10 * 65, 1438), extra_params=("heldout_fraction",),
                  description="softmax regression on scikit-learn's digits"),
    ObjectiveInfo("breast-cancer", _gen_breast_cancer, K.KIND_LOGISTIC, True, C._bounded_glm,
                  real_data=True, lam=1e-3, noise=0.0, shape=(31, 455),
                  extra_params=("heldout_fraction",),
                  description="logistic regression on scikit-learn's breast cancer set"),
    ObjectiveInfo("explicit-quadratic", _gen_explicit_quadratic, K.KIND_EXPLICIT_QUADRATIC,
                  True, explicit_quadratic_constants, lam=0.0, noise=0.5,
                  one_sample_per_node=True,
                  description="explicit quadratic 1/2 x^T A x - B_i.x + xi.x, one function "
                              "per node, additive oracle noise (batch 1; exact constants)"),
):
    register_objective(_row)
_BUILTIN = frozenset(OBJECTIVES)
del _row


def make_objective(
    name: str,
    *,
    d: int | None = None,
    n0: int = 4,
    n1: int = 4,
    n_samples: int | None = None,
    seed: int = 0,
    condition: float = 10.0,
    noise: float | None = None,
    heterogeneity: float = 0.0,
    lam: float | None = None,
    shard_seed: int | None = None,
    shard_replica: int = 0,
    **params,
) -> Objective:
    """Generate objective ``name`` from ``seed`` and split it among ``n0`` ZO + ``n1`` FO nodes.

    Parameters
    ----------
    name: one of :func:`objective_names` (the rows of :data:`OBJECTIVES`).
    d: dimension (>= 1); default 10 for the synthetic kinds. The real data sets
        (:func:`real_data_shapes`) fix it: leave it out, or give exactly their dimension.
    n0, n1: population sizes (each in ``[0, MAX_N_SAMPLES]``, or the real data set's training
        size: every shard holds a sample; n0 + n1 >= 2).
    n_samples: data-set size ``N``; default :func:`default_n_samples`. Must be at least
        ``max(n0, n1)`` so that every shard holds a sample. The default depends on ``n0`` and
        ``n1`` (equal shards); when comparing populations on *the same* data set, pass a fixed
        ``n_samples`` (the data are a function of ``seed``, ``d`` and ``N`` only). At most
        :data:`MAX_N_SAMPLES`; the default is capped there. Ignored by ``explicit-quadratic``
        (one sample per node: ``N = n0 + n1``).
    seed: the data set and the split are a deterministic function of it.
    condition: condition number of the feature covariance / Hessians (>= 1).
    noise: sample noise (target noise, centre spread or tilt spread), >= 0; for
        ``explicit-quadratic`` the additive oracle noise's standard deviation.
    heterogeneity: shard skew in [0, 1] (0: i.i.d. shards, 1: sorted by the kind's key); for
        ``explicit-quadratic`` the spread of the nodes' centres (0: identical nodes).
    lam: regularisation strength (>= 0), where the kind has one.
    shard_seed: None (default: the split is a function of ``seed``, as always) or an integer
        in ``[0, 2**32 - 1]``: the node split is re-drawn from
        ``SeedSequence([shard_seed, fnv32(name), shard_replica, 0x5A4D])`` while the data set
        stays the one ``seed`` makes (:func:`split_seed_sequence`). Giving
        ``shard_replica = 0, 1, ...`` yields independent random splits of the same samples,
        so an experiment can average over splits (the split-to-split variation then enters
        its intervals) instead of conditioning on one. For equal ``seed``, ``n_samples``,
        ``shard_seed`` and ``shard_replica`` two objectives with the same ``n0`` share their
        ZO shards and with the same ``n1`` their FO shards (each population's split is its
        own stream), so population comparisons stay paired within a split. Not for
        one-sample-per-node kinds (nothing to re-draw).
    shard_replica: which split of ``shard_seed`` (an integer in ``[0, 2**32 - 1]``; default 0);
        only with ``shard_seed``.
    params: kind-specific extras (``groups`` for quadratic; ``alpha``, ``beta`` for cosine wells;
        ``heldout_fraction`` for the real data sets): the row's ``extra_params``. Any other
        keyword raises :class:`HDOInputError` naming it (with a "did you mean").
    """
    info = objective_info(name)
    unknown = [k for k in params if k not in info.extra_params]
    if unknown:
        known = (*_MAKE_OBJECTIVE_KEYWORDS, *info.extra_params)
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        extras = ", ".join(info.extra_params) or "none"
        raise HDOInputError(f"make_objective: unknown keyword {unknown[0]!r} for objective "
                            f"{name!r}{hint}; its kind-specific keywords: {extras}")
    if info.real_data:
        fixed_d = info.shape[0]
        if d is not None and d != fixed_d:
            raise HDOInputError(f"d is fixed to {fixed_d} by the {name} data set; omit --d "
                                f"(got d={d!r})")
        d = fixed_d
    d = check_int("d", DEFAULT_D if d is None else d, 1, MAX_D)
    # every shard holds at least one sample, so neither population can outnumber the data set
    n_max = info.shape[1] if info.real_data else MAX_N_SAMPLES
    n0 = check_int("n0", n0, 0, n_max)
    n1 = check_int("n1", n1, 0, n_max)
    if n0 + n1 < 2:
        raise HDOInputError(f"n0 + n1 must be >= 2 (got n0={n0}, n1={n1})")
    seed = check_int("seed", seed, 0)
    condition = check_float("condition", condition, 1.0)
    heterogeneity = check_float("heterogeneity", heterogeneity, 0.0, 1.0)
    noise = check_float("noise", info.noise if noise is None else noise, 0.0)
    lam = check_float("lam", info.lam if lam is None else lam, 0.0)
    shard_seed, shard_replica = _check_shard_seed(name, info, shard_seed, shard_replica)
    if info.check_params is not None:
        info.check_params(params)
    if info.real_data:
        # the data set fixes d (checked above) and N; the requested n_samples is ignored
        n_samples = info.shape[1]
    if info.one_sample_per_node:  # one sample per node: N = n, n_samples is ignored
        n_samples = check_int("n0 + n1", n0 + n1, 2, MAX_N_SAMPLES)
        params = {**params, "heterogeneity": heterogeneity}
    if n_samples is None:  # the default is capped at the largest data set (n0, n1 fit in it)
        n_samples = min(default_n_samples(n0, n1, d), MAX_N_SAMPLES)
    N = check_int("n_samples", n_samples, max(n0, n1, 1), MAX_N_SAMPLES)

    ss = np.random.SeedSequence([seed, _stable_hash(name)])
    data_ss, zo_ss, fo_ss = ss.spawn(3)
    if shard_seed is not None:  # the same data, a split of its own (shard_replica-th)
        zo_ss, fo_ss = split_seed_sequence(name, shard_seed, shard_replica).spawn(2)
    rng = np.random.default_rng(data_ss)
    data, keys, extra = info.generator(rng, d, N, condition, noise, lam, params)
    convex = info.convex
    heldout = extra.pop("heldout", None)
    N = int(data[3].shape[0])  # real data sets: the stratified split fixes the training size

    if info.one_sample_per_node:
        shards = [np.array([i], dtype=np.int64) for i in range(n0 + n1)]
    else:
        zo = make_shards(keys, n0, heterogeneity, np.random.default_rng(zo_ss))
        fo = make_shards(keys, n1, heterogeneity, np.random.default_rng(fo_ss))
        shards = zo + fo
    sizes = np.array([s.shape[0] for s in shards], dtype=np.int64)
    shard_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    shard_idx = np.concatenate(shards).astype(np.int64)
    n = n0 + n1
    weights = np.zeros(N)
    for s in shards:
        weights[s] += 1.0 / (n * s.shape[0])

    meta = dict(
        name=name,
        d=d,
        n0=n0,
        n1=n1,
        n_samples=N,
        seed=seed,
        condition=condition,
        noise=noise,
        heterogeneity=heterogeneity,
        lam=lam,
        **extra,
    )
    if shard_seed is not None:  # only then: the default meta (and every hash of it) unchanged
        meta.update(shard_seed=shard_seed, shard_replica=shard_replica)
    return Objective(name, d, n0, n1, data, shard_ptr, shard_idx, weights, convex, meta, heldout)


def split_seed_sequence(name: str, shard_seed: int, shard_replica: int = 0):
    """The :class:`numpy.random.SeedSequence` of split ``shard_replica`` of ``shard_seed`` for
    objective ``name`` (``make_objective(..., shard_seed=, shard_replica=)``): its two spawned
    children draw the ZO and the FO population's split. Distinct ``shard_replica`` give
    independent streams (SeedSequence entropy differs), so the splits are independent draws."""
    shard_seed = check_int("shard_seed", shard_seed, 0, 2**32 - 1)
    shard_replica = check_int("shard_replica", shard_replica, 0, 2**32 - 1)
    return np.random.SeedSequence([shard_seed, _stable_hash(name), shard_replica, 0x5A4D])


def _check_shard_seed(name, info, shard_seed, shard_replica):
    """``(shard_seed, shard_replica)`` validated for :func:`make_objective` (one-line errors
    naming the parameter)."""
    if shard_seed is None:
        if not (isinstance(shard_replica, (int, np.integer)) and not isinstance(
                shard_replica, bool) and shard_replica == 0):
            raise HDOInputError(f"shard_replica needs shard_seed (an integer in [0, 2**32 - 1]); "
                                f"got shard_replica={shard_replica!r} without it")
        return None, 0
    shard_seed = check_int("shard_seed", shard_seed, 0, 2**32 - 1)
    shard_replica = check_int("shard_replica", shard_replica, 0, 2**32 - 1)
    if info.one_sample_per_node:
        raise HDOInputError(f"shard_seed: objective {name!r} has one sample per node, so there "
                            f"is no shard split to re-draw; leave shard_seed out")
    return shard_seed, shard_replica


_MAKE_OBJECTIVE_KEYWORDS = ("d", "n0", "n1", "n_samples", "seed", "condition", "noise",
                            "heterogeneity", "lam", "shard_seed", "shard_replica")


def _stable_hash(s: str) -> int:
    """A process-independent 32-bit hash (Python's hash() is salted per process)."""
    h = 2166136261
    for ch in s.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h


# ---------------------------------------------------------------------------------------------
# The user's own data: least squares, logistic and softmax regression on given arrays
# ---------------------------------------------------------------------------------------------

#: kinds :func:`from_arrays` builds: name -> (kernel kind code, default lam)
ARRAY_KINDS = {"least-squares": (K.KIND_LEAST_SQUARES, 0.0), "logistic": (K.KIND_LOGISTIC, 0.01),
               "softmax": (K.KIND_SOFTMAX, 1e-3)}


def _check_array(name: str, a, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise HDOInputError(f"{name} must be a numeric array, got {type(a).__name__}") from None
    if arr.ndim != ndim:
        shape = "(N, p): one row per sample" if ndim == 2 else "(N,): one entry per sample"
        raise HDOInputError(f"{name} must have shape {shape}, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise HDOInputError(f"{name} must be finite; entry {where if ndim > 1 else where[0]} is "
                            f"{arr[where]}")
    return arr


def _labels(kind: str, targets: np.ndarray) -> tuple[np.ndarray, int]:
    """The kernel's targets and the number of classes (0: regression)."""
    if kind == "least-squares":
        return targets, 0
    values = np.unique(targets)
    if kind == "logistic":
        if set(values) <= {-1.0, 1.0}:
            return targets, 2
        if set(values) <= {0.0, 1.0}:  # the stated rule: 0 -> -1, 1 -> +1
            return np.where(targets == 1.0, 1.0, -1.0), 2
        raise HDOInputError(f"targets of logistic regression must be labels in {{-1, +1}} (or "
                            f"{{0, 1}}, read as 0 -> -1, 1 -> +1), got {values[:5].tolist()}")
    if not np.all(values == np.round(values)) or values[0] < 0:
        raise HDOInputError(f"targets of softmax regression must be class labels 0, 1, ..., K-1, "
                            f"got {values[:5].tolist()}")
    return targets, int(values[-1]) + 1


def _check_partition(partition, n0: int, n1: int, N: int) -> list[np.ndarray]:
    """The shards of a user partition: n0 ZO shards then n1 FO shards, each population's shards
    covering the samples 0..N-1 exactly once."""
    if isinstance(partition, (str, bytes)) or not hasattr(partition, "__len__"):
        raise HDOInputError("partition must be a list of n0 + n1 index arrays (ZO nodes first)")
    if len(partition) != n0 + n1:
        raise HDOInputError(f"partition must hold n0 + n1 = {n0 + n1} index arrays (ZO nodes "
                            f"first), got {len(partition)}")
    shards = []
    for i, s in enumerate(partition):
        a = np.asarray(s)
        if a.ndim != 1 or a.shape[0] < 1 or not np.issubdtype(a.dtype, np.integer):
            raise HDOInputError(f"partition[{i}] must be a non-empty vector of integer sample "
                                f"indices, got {a.dtype} of shape {a.shape}")
        if a.min() < 0 or a.max() >= N:
            bad = int(a.min() if a.min() < 0 else a.max())
            raise HDOInputError(f"partition[{i}] holds index {bad}; sample indices are "
                                f"0..{N - 1}")
        shards.append(np.sort(a.astype(np.int64)))
    for pop, lo, hi in (("ZO", 0, n0), ("FO", n0, n0 + n1)):
        if hi == lo:
            continue
        count = np.bincount(np.concatenate(shards[lo:hi]), minlength=N)
        if count.max() > 1:
            j = int(np.argmax(count > 1))
            raise HDOInputError(f"partition: the {pop} shards overlap (sample {j} is in "
                                f"{int(count[j])} of them); each population's shards must "
                                f"cover every sample exactly once")
        if count.min() < 1:
            j = int(np.argmin(count))
            raise HDOInputError(f"partition: the {pop} shards do not cover sample {j}; each "
                                f"population's shards must cover every sample exactly once")
    return shards


def from_arrays(kind: str, features, targets, n0: int = 4, n1: int = 4, *, partition=None,
                lam: float | None = None, heterogeneity: float = 0.0, seed: int = 0,
                name: str | None = None) -> Objective:
    """An objective on the user's own data: ``kind`` regression of ``targets`` on ``features``
    split among ``n0`` ZO + ``n1`` FO nodes, with the built-in kinds' exact constants.

    .. math::  F(x, j) = \\tfrac12 (a_j^\\top x - y_j)^2 + \\tfrac{\\lambda}{2}\\|x\\|^2
       \\ \\text{(least squares)},\\quad \\log(1 + e^{-y_j a_j^\\top x}) + \\tfrac{\\lambda}{2}
       \\|x\\|^2\\ \\text{(logistic)},\\quad \\text{cross-entropy of } \\mathrm{softmax}(X a_j)
       + \\tfrac{\\lambda}{2}\\|x\\|^2\\ \\text{(softmax)}

    (the loss kinds of :mod:`hdo_theory.objectives.kernels`; constants from
    :mod:`hdo_theory.objectives.constants`, as for ``make_objective("least-squares")``,
    ``"logistic"`` and ``"digits"``).

    Parameters
    ----------
    kind: ``"least-squares"``, ``"logistic"`` or ``"softmax"`` (:data:`ARRAY_KINDS`).
    features: float array ``(N, p)``, finite; used as given (add a column of ones for an
        intercept; standardise first if you want to).
    targets: ``(N,)``: real numbers (least squares), labels in {-1, +1} (logistic; {0, 1} is
        read as 0 -> -1, 1 -> +1) or class labels 0..K-1 (softmax; ``d = K p``).
    n0, n1: ZO and FO population sizes (n0 + n1 >= 2; at most N each: a shard per node).
    partition: None (split as ``make_objective`` does: each population's copy of the samples
        cut into near-equal shards, ``heterogeneity`` skewing them by target or label), or a
        list of ``n0 + n1`` index arrays, ZO nodes first, where each population's shards cover
        every sample exactly once (non-i.i.d. studies).
    lam: l2 regularisation >= 0 (default: 0, 0.01, 1e-3 as the built-in kinds).
    heterogeneity: shard skew in [0, 1] when no ``partition`` is given.
    seed: seed of the split (and of the constants' sampled checks).
    name: the objective's name in reports (default ``"<kind> (arrays)"``).
    """
    check_choice("kind", kind, tuple(ARRAY_KINDS))
    code, lam_default = ARRAY_KINDS[kind]
    A = _check_array("features", features, 2)
    y = _check_array("targets", targets, 1)
    N, p = A.shape
    if y.shape[0] != N:
        raise HDOInputError(f"targets must have one entry per row of features ({N}), got "
                            f"{y.shape[0]}")
    if p < 1:
        raise HDOInputError("features must have at least one column")
    check_int("N (rows of features)", N, 1, MAX_N_SAMPLES)
    n0 = check_int("n0", n0, 0, N)
    n1 = check_int("n1", n1, 0, N)
    if n0 + n1 < 2:
        raise HDOInputError(f"n0 + n1 must be >= 2 (got n0={n0}, n1={n1})")
    lam = check_float("lam", lam_default if lam is None else lam, 0.0)
    heterogeneity = check_float("heterogeneity", heterogeneity, 0.0, 1.0)
    seed = check_int("seed", seed, 0)
    y, classes = _labels(kind, y)
    if kind == "softmax":
        if classes < 2:
            raise HDOInputError("targets of softmax regression must hold at least 2 classes")
        d = classes * p
        data = _pack(code, [lam, float(classes)], feats=A, targets=y)
    else:
        d = p
        data = _pack(code, [lam], feats=A, targets=y)
    check_int("d (the dimension the arrays give)", d, 1, MAX_D)
    if partition is None:
        ss = np.random.SeedSequence([seed, _stable_hash("from_arrays:" + kind)])
        zo_ss, fo_ss = ss.spawn(2)
        keys = y + 0.0
        shards = (make_shards(keys, n0, heterogeneity, np.random.default_rng(zo_ss))
                  + make_shards(keys, n1, heterogeneity, np.random.default_rng(fo_ss)))
    else:
        shards = _check_partition(partition, n0, n1, N)
    sizes = np.array([s.shape[0] for s in shards], dtype=np.int64)
    shard_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    shard_idx = np.concatenate(shards).astype(np.int64)
    n = n0 + n1
    weights = np.zeros(N)
    for s in shards:
        weights[s] += 1.0 / (n * s.shape[0])
    import hashlib

    digest = hashlib.sha256(A.tobytes() + y.tobytes() + shard_idx.tobytes()).hexdigest()[:16]
    label = name or f"{kind} (arrays)"
    meta = dict(name=label, kind=kind, d=d, n0=n0, n1=n1, n_samples=N, seed=seed, lam=lam,
                heterogeneity=heterogeneity, partition="given" if partition is not None
                else "make_shards", data_sha256=digest)
    if classes and kind == "softmax":
        meta["classes"] = classes
    return Objective(label, d, n0, n1, data, shard_ptr, shard_idx, weights, True, meta)


__all__ += ["ARRAY_KINDS", "from_arrays"]


def load_data_file(path, features: str | None = None, targets: str | None = None):
    """``(features, targets)`` arrays read from a ``.npz`` or ``.csv`` file, for
    :func:`from_arrays` (and ``hdo-theory run --data``).

    ``.npz``: the arrays named ``features`` and ``targets`` (default: ``features`` or ``X``,
    and ``targets`` or ``y``). ``.csv``: comma-separated numbers, optionally under a header
    line of column names; the target is the column named ``targets`` (default: the last
    column) and the features are the columns named in ``features`` (comma-separated; default:
    every other column).
    """
    from pathlib import Path

    p = Path(path)
    if p.suffix.lower() not in (".npz", ".csv"):
        raise HDOInputError(f"data file must be a .npz or .csv file, got {str(path)!r}")
    if not p.is_file():
        raise HDOInputError(f"data file {str(path)!r} does not exist")
    if p.suffix.lower() == ".npz":
        try:
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as exc:
            raise HDOInputError(f"data file {str(path)!r} is not a readable .npz file: "
                                f"{type(exc).__name__}: {exc}") from None

        def pick(given, defaults, what):
            names = [given] if given else defaults
            for n in names:
                if n in arrays:
                    return arrays[n]
            raise HDOInputError(f"data file {str(path)!r} has no array named "
                                f"{' or '.join(map(repr, names))} ({what}); its arrays: "
                                f"{', '.join(arrays) or 'none'}")

        return pick(features, ["features", "X"], "features"), pick(targets, ["targets", "y"],
                                                                     "targets")
    lines = [ln for ln in p.read_text().splitlines() if ln.strip()]
    if not lines:
        raise HDOInputError(f"data file {str(path)!r} is empty")
    head = [c.strip() for c in lines[0].split(",")]

    def numeric(c):
        try:
            float(c)
            return True
        except ValueError:
            return False

    header = None if all(numeric(c) for c in head) else head
    rows = lines[1:] if header else lines
    try:
        table = np.array([[float(c) for c in ln.split(",")] for ln in rows], dtype=np.float64)
    except ValueError as exc:
        raise HDOInputError(f"data file {str(path)!r}: every row must be comma-separated "
                            f"numbers ({exc})") from None
    except Exception:
        table = None
    ncol = len(head)
    if table is None or table.ndim != 2 or table.shape[1] != ncol or table.shape[0] < 1:
        raise HDOInputError(f"data file {str(path)!r}: every row must have the header's "
                            f"{ncol} columns")
    names = header or [str(k) for k in range(ncol)]

    def column(n):
        if n not in names:
            raise HDOInputError(f"data file {str(path)!r} has no column {n!r}; its columns: "
                                f"{', '.join(names)}")
        return names.index(n)

    t = ncol - 1 if targets is None else column(targets)
    f = ([k for k in range(ncol) if k != t] if features is None
         else [column(n.strip()) for n in features.split(",")])
    if not f:
        raise HDOInputError(f"data file {str(path)!r} needs at least one feature column")
    return table[:, f], table[:, t]


__all__ += ["load_data_file"]
# User-defined objective kinds: per-sample loss, gradient and JVP as Numba functions
# ---------------------------------------------------------------------------------------------

_USER_SIGNATURES = ("loss(x, j, params, feats, targets) -> float",
                    "grad_add(x, j, params, feats, targets, scale, out) -> None "
                    "(out += scale * grad F(x, j))",
                    "jvp(x, j, params, feats, targets, u) -> float (u . grad F(x, j))")
#: Constants of a user kind that may be given; the rest are measured on the stated ball.
USER_CONSTANTS = ("L", "ell", "x_star")


def register_objective_kind(name: str, loss, grad_add, jvp, *, features, targets,
                            params=(), d: int | None = None, convex: bool = False,
                            constants: dict | None = None, radius: float = 1.0,
                            description: str = "") -> ObjectiveInfo:
    """Register a fully user-defined objective ``name`` over the user's data arrays, in one call.

    ``loss``, ``grad_add``, ``jvp``: Numba-compiled (``@numba.njit``) per-sample functions::

        loss(x, j, params, feats, targets) -> float                  # F(x, j)
        grad_add(x, j, params, feats, targets, scale, out) -> None   # out += scale grad F(x, j)
        jvp(x, j, params, feats, targets, u) -> float                # u . grad F(x, j)

    with ``j`` the sample's row, ``feats = features`` (``float64[N, p]``), ``targets``
    (``float64[N]``) and ``params`` (``float64[:]``). ``d``: the dimension of ``x`` (default:
    the length of a given ``x_star``, else the feature count ``p``).
    ``make_objective(name, n0=, n1=, seed=, heterogeneity=)`` then splits the ``N`` samples among
    the nodes (shard keys: the targets) and every estimator, ``simulate`` and ``estimator_stats``
    run on it.

    ``constants``: any of :data:`USER_CONSTANTS` given by the user (``L``: smoothness of every
    ``F(., j)`` on the ball; ``ell``: strong convexity, or None; ``x_star``: a minimiser). The rest
    is **measured** on the stated ball ``||x - x*|| <= radius`` and labelled so in the
    constants' ``*_how`` strings (``"measured: ..."``, which ``problem_facts`` and every result
    that records the constants carry): ``x*`` by L-BFGS on ``f`` from
    ``random_point(0, 0.1 / sqrt(d))`` (a stationary point when ``f`` is not convex), ``L`` as the
    largest per-sample gradient-difference quotient over sampled pairs in the ball (a lower estimate
    of the true constant, not a bound), the heterogeneity and the per-node variance as their largest
    values at sampled points of the ball.
    """
    import numba.core.dispatcher

    from hdo_theory.estimators import _plugin_source

    if not isinstance(name, str) or not name:
        raise HDOInputError(f"objective name must be a non-empty string, got {name!r}")
    for fn, sig in zip((loss, grad_add, jvp), _USER_SIGNATURES, strict=True):
        if not isinstance(fn, numba.core.dispatcher.Dispatcher):
            what = "a plain Python function" if callable(fn) else type(fn).__name__
            raise HDOInputError(f"objective kind {name!r}: {sig.split('(')[0]} is {what}; it must "
                                f"be Numba-compiled (@numba.njit) with the signature {sig}")
    feats = np.ascontiguousarray(features, dtype=np.float64)
    y = np.ascontiguousarray(targets, dtype=np.float64)
    if feats.ndim != 2 or y.ndim != 1 or feats.shape[0] != y.shape[0] or y.shape[0] < 2:
        raise HDOInputError(f"objective kind {name!r}: features must be (N, p) and targets (N,) "
                            f"with N >= 2, got {feats.shape} and {y.shape}")
    if not (np.all(np.isfinite(feats)) and np.all(np.isfinite(y))):
        raise HDOInputError(f"objective kind {name!r}: features and targets must be finite")
    pars = np.ascontiguousarray(params, dtype=np.float64).reshape(-1)
    constants = dict(constants or {})
    unknown = [k for k in constants if k not in USER_CONSTANTS]
    if unknown:
        raise HDOInputError(f"objective kind {name!r}: unknown constant {unknown[0]!r}; given "
                            f"constants may be {', '.join(USER_CONSTANTS)} (the rest is measured)")
    radius = check_float("radius", radius, 0.0, lo_open=True)
    fns = (loss, grad_add, jvp)
    packed = _pack(K.KIND_USER, pars, feats=feats, targets=y)
    # signature-typed references, not the dispatchers: the kernels' cache serves every user kind
    data = (*packed, (K.native_user_functions(loss, grad_add, jvp, packed), ()))
    d = _user_dimension(name, constants, data) if d is None else check_int("d", d, 1, MAX_D)
    old = OBJECTIVES.get(name)
    if old is not None:
        if getattr(old.generator, "user_fns", None) is not None and all(
                _same_numba_function(a, b)
                for a, b in zip(old.generator.user_fns, fns, strict=True)):
            return old
        what = "a built-in" if name in _BUILTIN else "an objective already registered"
        raise HDOInputError(f"objective kind {name!r}: the name clashes with {what}")
    _trial_user_kind(name, data, d)

    def generator(rng, d_, N, condition, noise, lam, params_):
        return data, y.copy(), {"user_kind": True}

    generator.user_fns = fns
    info = ObjectiveInfo(name, generator, K.KIND_USER, bool(convex),
                         _user_constants_function(constants, radius), real_data=True, lam=0.0,
                         noise=0.0, shape=(d, int(y.shape[0])),
                         description=description or f"user kind {name}",
                         source=_plugin_source(loss))
    return register_objective(info)


def _same_numba_function(a, b) -> bool:
    import os

    pa, pb = getattr(a, "py_func", a), getattr(b, "py_func", b)
    ca, cb = getattr(pa, "__code__", None), getattr(pb, "__code__", None)
    if a is b:
        return True
    if ca is None or cb is None:
        return False
    return (os.path.realpath(ca.co_filename), pa.__qualname__, ca.co_firstlineno) == (
        os.path.realpath(cb.co_filename), pb.__qualname__, cb.co_firstlineno)


def _user_dimension(name, constants, data) -> int:
    """The dimension of x: from a given x_star, else the data's feature count."""
    if "x_star" in constants:
        xs = np.asarray(constants["x_star"], dtype=float).reshape(-1)
        return check_int("dimension of x_star", xs.shape[0], 1, MAX_D)
    return check_int(f"dimension of objective kind {name!r} (the feature count; give x_star "
                     "for another dimension)", data[2].shape[1], 1, MAX_D)


def _trial_user_kind(name, data, d):
    """Compile and run the user functions once on the first two samples (one-line errors)."""
    import numba.core.errors

    x = np.full(d, 0.1)
    u = np.full(d, 1.0 / d)
    batch = np.arange(2, dtype=np.int64)
    out = np.zeros(d)
    for what, call in (("loss", lambda: K.batch_loss(data, batch, x)),
                       ("grad_add", lambda: K.batch_grad(data, batch, x, out)),
                       ("jvp", lambda: K.batch_jvp(data, batch, x, u))):
        try:
            val = call()
        except numba.core.errors.TypingError as exc:
            first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
            sig = _USER_SIGNATURES[("loss", "grad_add", "jvp").index(what)]
            raise HDOInputError(f"objective kind {name!r}: {what} does not compile with the "
                                f"signature {sig} ({first})") from None
        except Exception as exc:  # noqa: BLE001 - the trial run failing is the user's function's
            raise HDOInputError(f"objective kind {name!r}: {what} failed on the first two samples "
                                f"at x = 0.1: {type(exc).__name__}: {exc}") from None
        if what != "grad_add" and not np.isfinite(val):
            raise HDOInputError(f"objective kind {name!r}: {what} is not finite on the first two "
                                "samples at x = 0.1")
    if not np.all(np.isfinite(out)):
        raise HDOInputError(f"objective kind {name!r}: grad_add left non-finite values at x = 0.1")


def _user_constants_function(given: dict, radius: float):
    """``constants(P, radius)`` of a user kind: given values, the rest measured on the ball."""

    def constants(P, r=None):
        from hdo_theory.objectives import constants as C

        r = radius if r is None else r
        obj = P.obj
        d = obj.d
        if "x_star" in given:
            x_star = np.asarray(given["x_star"], dtype=float).reshape(-1).copy()
            star_how = "given"
        else:
            import scipy.optimize

            # from a small seeded point, not 0: 0 is a saddle of many networks
            start = obj.random_point(0, scale=0.1 / math.sqrt(d))
            res = scipy.optimize.minimize(lambda x: (obj.value(x), obj.grad(x)), start,
                                          jac=True, method="L-BFGS-B",
                                          options=dict(maxiter=5000, gtol=1e-9))
            x_star = res.x
            star_how = ("measured: L-BFGS from random_point(0, 0.1 / sqrt(d)) (a stationary "
                        "point of f; "
                        f"||grad f|| = {float(np.linalg.norm(obj.grad(x_star))):.1e})")
        rng = np.random.default_rng(np.random.SeedSequence([int(obj.meta.get("seed", 0)), 0x1A7]))
        if "L" in given:
            L = check_float("L", given["L"], 0.0, lo_open=True)
            L_how = f"given by the user (on the ball ||x - x*|| <= {r:g})"
        else:
            L = _measured_smoothness(obj, x_star, r, rng)
            L_how = (f"measured: largest per-sample gradient-difference quotient over 16 random "
                     f"pairs in the ball ||x - x*|| <= {r:g} (a lower estimate, not a bound)")
        ell = given.get("ell")
        ell = None if ell is None else check_float("ell", ell, 0.0)
        ell_how = "given by the user" if "ell" in given else "unknown (not given; not measured)"
        het, var = C._sampled_maxima(P, x_star, r, {})
        how = (f"measured: largest value at x* and {C._N_SAMPLED} random points of the ball "
               f"||x - x*|| <= {r:g} (a lower estimate, not a bound)")
        return C._finish(P, x_star, star_how, L=L, L_how=L_how, ell=ell, ell_how=ell_how,
                         varsigma0_sq=het[0], varsigma1_sq=het[1], varsigma_how=how,
                         varsigma_exact=False, radius=r, node_var_pop=var, s_how=how,
                         s_exact=False, witnesses={"varsigma0_sq": None, "varsigma1_sq": None,
                                                   "s_node": None})

    return constants


def _measured_smoothness(obj, x_star, radius, rng, pairs: int = 16) -> float:
    """max over sampled pairs (x, y) of the ball and samples j of
    ``||grad F(x, j) - grad F(y, j)|| / ||x - y||``."""
    d = obj.d
    samples = np.arange(obj.n_samples, dtype=np.int64)
    best = 0.0

    def point():
        u = rng.standard_normal(d)
        return x_star + radius * rng.random() ** (1.0 / d) * u / np.linalg.norm(u)

    for _ in range(pairs):
        x, y = point(), point()
        dist = float(np.linalg.norm(x - y))
        if dist == 0.0:
            continue
        gx, gy = obj.sample_grads(samples, x), obj.sample_grads(samples, y)
        best = max(best, float(np.max(np.linalg.norm(gx - gy, axis=1))) / dist)
    return best
