"""A plain-Python reference of the gossip process in mixing-matrix form, for metamorphic tests.

It consumes the replica's process stream in exactly the kernel's order (pair / matching draw,
then minibatch and estimate of each node), using the kernel's own sampling helpers, but
applies the averaging as a dense matrix product ``X <- W Y`` (``Y`` = the stepped models), with
``W_ij = I - (e_i - e_j)(e_i - e_j)^T / 2`` and, for a matching, the product of its pairs'
matrices. Momentum and schedules are not modelled here (constant learning rates only).
"""

import numpy as np

from hdo_theory.estimators import direction_buffer, resolve_nu
from hdo_theory.process import kernels as PK
from hdo_theory.process import replica_generators


def pair_matrix(n, i, j):
    v = np.zeros(n)
    v[i], v[j] = 1.0, -1.0
    return np.eye(n) - np.outer(v, v) / 2.0


def reference_run(obj, cfg, seed, T, R=1, r=0, x0=None):
    """Return (X_T, steps) where steps[t] = list of (node, eta * G) applied at step t."""
    rng, _ = replica_generators(seed, R, r)
    n, d, n0 = obj.n, obj.d, obj.n0
    perm = obj.shard_idx.copy()
    X = np.tile(obj.random_point(0) if x0 is None else np.asarray(x0, float), (n, 1))
    if X.shape != (n, d):
        X = np.asarray(x0, float).reshape(n, d).copy()
    g, u, xtmp = np.zeros(d), direction_buffer(d), np.zeros(d)
    match = np.arange(n, dtype=np.int64)
    edges = None
    if cfg.model == "graph":
        from hdo_theory.process.topology import make_edges

        edges = make_edges(cfg.topology, n, degree=cfg.degree, p=cfg.p, seed=cfg.graph_seed)
    steps = []

    def est(k):
        pc = cfg.zo if k < n0 else cfg.fo
        spec = pc.estimator
        nu = resolve_nu(spec.nu, d, pc.lr) if isinstance(spec.nu, str) else spec.nu
        PK._estimate_node(
            obj.data,
            obj.shard_ptr,
            perm,
            k,
            spec.code,
            spec.rv,
            spec.batch,
            nu,
            X[k],
            rng,
            g,
            u,
            xtmp,
        )
        return pc.lr * g.copy()

    for t in range(T):
        if cfg.model == "matching":
            PK.shuffle_nodes(rng, match)
            pairs = [(int(match[2 * q]), int(match[2 * q + 1])) for q in range(n // 2)]
            solo = [int(match[n - 1])] if n % 2 else []
        else:
            i, j = PK.draw_edge(rng, edges) if edges is not None else PK.draw_pair(rng, n)
            pairs, solo = [(int(i), int(j))], []
        Y = X.copy()
        applied = []
        for i, j in pairs:
            di = est(i)
            dj = est(j)
            Y[i] -= di
            Y[j] -= dj
            applied += [(i, di), (j, dj)]
        for k in solo:
            dk = est(k)
            Y[k] -= dk
            applied.append((k, dk))
        W = np.eye(n)
        if t >= cfg.local_steps_warmup:
            for i, j in pairs:
                W = pair_matrix(n, i, j) @ W
        X = W @ Y
        steps.append(applied)
    return X, steps
