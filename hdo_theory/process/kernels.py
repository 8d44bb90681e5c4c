"""Numba kernels of the HDO gossip process (docs/theory.md#algorithm-1) with recording.

One replica is advanced by :func:`run_chunk` from step ``t0`` to ``t1``; all of its state lives
in caller-owned arrays, so a run can be split into chunks (for a progress bar) without changing
a single bit of the result, and nothing is allocated inside the step loop.

Models (``MODEL_*``):

* pairwise: per interaction one unordered pair ``{i, j}`` is drawn uniformly from the
  ``n(n-1)/2`` pairs (``i`` uniform, ``j`` uniform among the others). Both nodes compute their
  estimate at their current model *before either moves*, both step, then both take the average.
* matching: per round a uniformly random permutation (Fisher-Yates) is cut into ``floor(n/2)``
  consecutive pairs; every node steps and each pair averages. With odd ``n`` the unmatched
  node (the permutation's last entry) steps without averaging.
* graph: per interaction one edge drawn uniformly from the edge list, then as pairwise.

During the first ``local_warmup`` steps nodes step but do not average (local steps without
communication).

Random streams: ``rng`` drives the process (pair / matching draws, minibatches, estimator
directions) in a fixed order per interaction: pair draw, minibatch of ``i``, estimate of ``i``,
minibatch of ``j``, estimate of ``j``. ``rng_probe`` (with its own minibatch permutation
buffer) drives only the recording probes (``M^G_t`` and the Lemma 2 conditional expectation),
so recording never changes the trajectory.

Recorded metrics (rows of ``out``, see :data:`METRICS`) at each step count in ``rec_t``:

* ``gap = f(mu_t) - f*``, ``dist_sq = ||mu_t - x*||^2``, ``grad_norm_sq = ||grad f(mu_t)||^2``
* ``gamma = (1/n) sum_i ||X^i_t - mu_t||^2``
* ``mg = (1/n) sum_i ||G^i(X^i_t)||^2`` with one fresh estimator draw per node (probe stream)
* ``y_gap = f(y_t) - f*`` for Theorem 1's weighted average
  ``y_t = sum_{s<=t} w_s mu_{s-1} / sum w_s``,
  ``w_s = prod_{r<=s} (1 - a_r)^{-1}``, ``a_r = eta_r ell / (2n)`` (kept as a running weighted mean
  in log space, so the exponentially growing weights never overflow)
* ``node_loss = f(X^k_t)`` for the fixed node ``k``, ``loss_spread = std_i f(X^i_t)`` (population
  std, global loss at each node's model), ``zo_loss`` / ``fo_loss``: mean of ``f(X^i_t)`` over
  each population
  (exact: one pass over the data for all nodes, or, with ``ipar[I_QUAD]``, the objective's
  quadratic form, ``O(d^2)`` a node; with a ``record_sample`` subsample: estimated on it,
  unbiased for the first, third and fourth, with stated errors :data:`SE_METRICS`, see
  :func:`sampled_node_losses`; ``gap`` and every other metric stay exact)
* ``lemma2_cond``: an unbiased estimate of ``E[Gamma_{t+1} | X_t]``: the choice of pair (pairwise,
  graph) or matching is averaged in closed form, the estimator noise is one sample per node
  (the same draws as ``mg``). NaN during local warm-up steps.
* ``heldout_loss``, ``heldout_acc``: mean loss and accuracy of the mean model ``mu_t`` on the
  objective's held-out split (real data sets only; NaN otherwise)
* ``max_node_dist_sq``: ``max_{s <= t} max_i ||X^i_s - x*||^2``, the farthest any node model has
  been from ``x*`` so far, updated after every interaction (not only at records). Constants
  that are suprema over a ball ``||x - x*|| <= R`` (quadratic, least squares) hold along a run
  only while this stays ``<= R^2``; the verification checks it.

Arguments of :func:`run_chunk` (and, with ``out`` and the subsample instead of ``recording``,
of ``_record``): six tuples and the step range,
``run_chunk(problem, params, state, streams, workspace, recording, t0, t1)``.
Numba types a tuple of arrays like its members passed one by one; the kernel unpacks them on
entry, so the grouping costs nothing in the step loop. Read-only inputs:

* ``problem = (obj, weights, shard_ptr, x_star, edges, held, quad)``: the objective's data tuple
  (:mod:`hdo_theory.objectives.kernels`), the per-sample weights of the global loss, the node
  shard pointers into the minibatch permutation buffers, ``x*``, the graph's edge list
  (``(0, 2)`` unless ``model=graph``) and the held-out data tuple (the training data when there
  is none; only read when ``ipar[I_DO_HELD]``) and ``quad = (H, r)``, the quadratic form
  of :mod:`hdo_theory.objectives.quadratic_form` around ``x*`` the records use when
  ``ipar[I_QUAD]`` (empty arrays otherwise);
* ``params = (ipar, pop_i, pop_f, fpar)``: the parameter arrays whose layouts are the ``I_*``,
  ``P_*`` and ``F_*`` constants below.

Per-replica arrays, updated in place (built by ``hdo_theory.process._Replica``):

* ``state = (X, B, mu_run, y, fstate, istate, match_perm, perm)``: node models ``(n, d)``,
  momentum buffers (``(n, d)``, or ``(1, d)`` without momentum), the running mean, Theorem 1's
  ``y``, ``fstate`` / ``istate`` (layouts ``S_*``), the matching permutation and the process
  stream's minibatch permutation buffer (a copy of the objective's shard index);
* ``streams = (rng, rng_probe, perm_probe)``: the process generator, the probe generator and the
  probe's own minibatch permutation buffer;
* ``workspace = (G, u, xtmp, mu, gbuf, g, dk, sY, sD, Dbuf, nodebuf)``: scratch, contents
  meaningless between calls: the pair's two estimates ``(2, d)``, the estimator directions and
  point buffer, the exact mean, a gradient, the probe estimate and displacement, two ``d``-sums,
  the per-node displacements (``(n, d)`` for the graph Lemma 2 probe, else ``(1, d)``) and a
  per-node scalar buffer ``(n,)``;
* ``recording = (rec_t, out, sample_idx, sample_w, se_out, sample_buf)``: the sorted step
  counts to record at, this replica's ``(len(METRICS), len(rec_t))`` record array, and the
  node-loss subsample (``record_sample``): the sample indices ``(m,)`` and their importance
  weights ``(m,)`` (both empty: node losses over the full data set, exact), the
  ``(len(SE_METRICS), len(rec_t))`` array of the subsample's stated errors (untouched when
  exact) and a ``(3, n)`` scratch buffer. See :func:`sampled_node_losses`.

Divergence: if an updated node is non-finite or has ``||X^i|| > threshold`` the replica stops,
``istate[0]`` holds the step count at which it happened, and the remaining records stay NaN.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from hdo_theory.estimators import estimate
from hdo_theory.objectives.kernels import (
    _without_plugins,
    dataset_loss_accuracy,
    draw_batch,
    prefetch_batch,
    sample_loss,
    weighted_loss_grad,
    weighted_losses,
)
from hdo_theory.process.schedules import schedule_factor
from hdo_theory.rng import bounded_index

MODEL_PAIRWISE = 0
MODEL_MATCHING = 1
MODEL_GRAPH = 2

METRICS: tuple[str, ...] = (
    "gap",
    "dist_sq",
    "grad_norm_sq",
    "gamma",
    "mg",
    "y_gap",
    "node_loss",
    "loss_spread",
    "zo_loss",
    "fo_loss",
    "lemma2_cond",
    "heldout_loss",
    "heldout_acc",
    "max_node_dist_sq",
)
(
    M_GAP,
    M_DIST,
    M_GRAD,
    M_GAMMA,
    M_MG,
    M_YGAP,
    M_NODE,
    M_SPREAD,
    M_ZO,
    M_FO,
    M_L2,
    M_HLOSS,
    M_HACC,
    M_MAXDIST,
) = range(len(METRICS))

#: The stated errors of the subsampled node losses (``record_sample``), rows of ``se_out``:
#: standard errors of ``node_loss``, ``zo_loss``, ``fo_loss`` and an upper bound on the
#: root-mean-square error of ``loss_spread`` (see :func:`sampled_node_losses`).
SE_METRICS: tuple[str, ...] = ("node_loss_se", "loss_spread_se", "zo_loss_se", "fo_loss_se")
SE_NODE, SE_SPREAD, SE_ZO, SE_FO = range(len(SE_METRICS))

# ipar layout (int64)
(
    I_MODEL,
    I_N0,
    I_N,
    I_SCHED,
    I_T,
    I_WARMUP,
    I_LOCAL,
    I_FIXED,
    I_DO_Y,
    I_DO_NODES,
    I_DO_L2,
    I_DO_HELD,
) = range(12)
# the stop word: the one ipar entry written while kernels run (simulate sets it on Ctrl-C so
# every replica's kernel returns within one step; read once per step, it costs one load)
I_STOP = 12
# records evaluate f and grad f from the quadratic form (problem[6]) instead of data passes
I_QUAD = 13
N_IPAR = 14
# pop_i[p] layout (int64): estimator code, rv, batch, momentum is EMA
P_CODE, P_RV, P_BATCH, P_EMA = range(4)
# pop_f[p] layout (float64): nu, base learning rate, momentum
P_NU, P_LR, P_MOM = range(3)
# fpar layout (float64): f*, ell/(2n) * reference lr (y weights), divergence threshold
F_FSTAR, F_YCOEF, F_THRESH = range(3)
# istate: diverged_at (-1 = never), next record index
S_DIVERGED, S_REC = range(2)
# fstate: log of the running sum of y weights, log of the current weight, running max over
# steps and nodes of ||X^i - x*||^2
S_LOGW_SUM, S_LOGW, S_MAXDIST = range(3)

_JIT = dict(nogil=True, cache=True)


@numba.njit(inline="always", **_JIT)
def draw_pair(rng, n):
    """A uniform unordered pair of distinct nodes: ``i`` uniform, ``j`` uniform among the rest."""
    i = bounded_index(rng, n)
    j = bounded_index(rng, n - 1)
    if j >= i:
        j += 1
    return i, j


@numba.njit(inline="always", **_JIT)
def draw_edge(rng, edges):
    """An edge ``(i, j)`` drawn uniformly from the rows of ``edges``."""
    e = bounded_index(rng, edges.shape[0])
    return edges[e, 0], edges[e, 1]


@numba.njit(inline="always", **_JIT)
def shuffle_nodes(rng, perm):
    """In-place Fisher-Yates shuffle: afterwards ``perm`` is a uniform random permutation."""
    n = perm.shape[0]
    for k in range(n - 1):
        r = k + bounded_index(rng, n - k)
        tmp = perm[k]
        perm[k] = perm[r]
        perm[r] = tmp


@numba.njit(inline="always", **_JIT)
def _estimate_node(obj, shard_ptr, perm, i, code, rv, b, nu, x, rng, out, u, xtmp):
    """One estimator draw for node ``i`` at ``x`` on a fresh minibatch from its shard."""
    start = shard_ptr[i]
    m = shard_ptr[i + 1] - start
    batch = draw_batch(rng, perm, start, m, b)
    prefetch_batch(obj, batch)  # the rows load while the estimator draws its directions
    estimate(obj, code, rv, nu, batch, x, rng, out, u, xtmp)


@numba.njit(inline="always", **_JIT)
def _estimate_pop(obj, shard_ptr, perm, i, n0, pop_i, pop_f, x, rng, out, u, xtmp):
    p = 0 if i < n0 else 1
    _estimate_node(
        obj,
        shard_ptr,
        perm,
        i,
        pop_i[p, P_CODE],
        pop_i[p, P_RV],
        pop_i[p, P_BATCH],
        pop_f[p, P_NU],
        x,
        rng,
        out,
        u,
        xtmp,
    )


@numba.njit(inline="always", **_JIT)
def _apply_step(X, B, i, g, p, pop_i, pop_f, fac, mu_run, inv_n):
    """X^i -= eta_p s(t) * direction, direction = g or the momentum buffer; returns nothing."""
    eta = pop_f[p, P_LR] * fac
    mom = pop_f[p, P_MOM]
    d = X.shape[1]
    if mom > 0.0:
        c = (1.0 - mom) if pop_i[p, P_EMA] != 0 else 1.0
        for k in range(d):
            B[i, k] = mom * B[i, k] + c * g[k]
            s = eta * B[i, k]
            X[i, k] -= s
            mu_run[k] -= s * inv_n
    else:
        for k in range(d):
            s = eta * g[k]
            X[i, k] -= s
            mu_run[k] -= s * inv_n


@numba.njit(inline="always", **_JIT)
def _norm_sq_row(X, i):
    s = 0.0
    for k in range(X.shape[1]):
        s += X[i, k] * X[i, k]
    return s


@numba.njit(inline="always", **_JIT)
def _dist_sq_row(X, i, x_star):
    s = 0.0
    for k in range(X.shape[1]):
        s += (X[i, k] - x_star[k]) ** 2
    return s


@numba.njit(inline="always", **_JIT)
def _raise_max(fstate, dist_sq):
    # NaN (a diverging node) compares False: the replica stops and records nothing further
    if dist_sq > fstate[S_MAXDIST]:
        fstate[S_MAXDIST] = dist_sq


@numba.njit(inline="always", **_JIT)
def _bad(nrm_sq, thr_sq):
    return nrm_sq != nrm_sq or nrm_sq > thr_sq


@numba.njit(inline="always", **_JIT)
def _interact(
    obj,
    shard_ptr,
    perm,
    n0,
    pop_i,
    pop_f,
    X,
    B,
    mu_run,
    i,
    j,
    fac,
    communicate,
    rng,
    G,
    u,
    xtmp,
    thr_sq,
    x_star,
    fstate,
):
    """Algorithm 1 on the pair (i, j). Returns True if the pair diverged.

    Also raises ``fstate[S_MAXDIST]`` to the moved nodes' squared distance to ``x_star``."""
    n = X.shape[0]
    inv_n = 1.0 / n
    # both estimates at the current models, before either node moves
    _estimate_pop(obj, shard_ptr, perm, i, n0, pop_i, pop_f, X[i], rng, G[0], u, xtmp)
    _estimate_pop(obj, shard_ptr, perm, j, n0, pop_i, pop_f, X[j], rng, G[1], u, xtmp)
    _apply_step(X, B, i, G[0], 0 if i < n0 else 1, pop_i, pop_f, fac, mu_run, inv_n)
    _apply_step(X, B, j, G[1], 0 if j < n0 else 1, pop_i, pop_f, fac, mu_run, inv_n)
    if communicate:
        s = 0.0
        dist = 0.0
        for k in range(X.shape[1]):
            v = 0.5 * (X[i, k] + X[j, k])
            X[i, k] = v
            X[j, k] = v
            s += v * v
            dist += (v - x_star[k]) ** 2
        _raise_max(fstate, dist)
        return _bad(s, thr_sq)
    _raise_max(fstate, _dist_sq_row(X, i, x_star))
    _raise_max(fstate, _dist_sq_row(X, j, x_star))
    return _bad(_norm_sq_row(X, i), thr_sq) or _bad(_norm_sq_row(X, j), thr_sq)


@numba.njit(inline="always", **_JIT)
def _solo(obj, shard_ptr, perm, n0, pop_i, pop_f, X, B, mu_run, i, fac, rng, G, u, xtmp, thr_sq,
          x_star, fstate):
    """The unmatched node of an odd matching round: steps without averaging."""
    _estimate_pop(obj, shard_ptr, perm, i, n0, pop_i, pop_f, X[i], rng, G[0], u, xtmp)
    _apply_step(X, B, i, G[0], 0 if i < n0 else 1, pop_i, pop_f, fac, mu_run, 1.0 / X.shape[0])
    _raise_max(fstate, _dist_sq_row(X, i, x_star))
    return _bad(_norm_sq_row(X, i), thr_sq)


@numba.njit(**_JIT)
def _probe_direction(B, k, g, p, pop_i, pop_f, fac, dk):
    """dk = the displacement node k would take with estimate g (momentum buffer not updated)."""
    eta = pop_f[p, P_LR] * fac
    mom = pop_f[p, P_MOM]
    if mom > 0.0:
        c = (1.0 - mom) if pop_i[p, P_EMA] != 0 else 1.0
        for q in range(g.shape[0]):
            dk[q] = eta * (mom * B[k, q] + c * g[q])
    else:
        for q in range(g.shape[0]):
            dk[q] = eta * g[q]


@numba.njit(**_JIT)
def _lemma2_probe(
    obj,
    shard_ptr,
    perm_probe,
    n0,
    pop_i,
    pop_f,
    X,
    B,
    mu,
    fac,
    model,
    edges,
    rng_probe,
    g,
    dk,
    u,
    xtmp,
    sY,
    sD,
    Dbuf,
    nodebuf,
):
    """Return (E[Gamma_{t+1} | X_t] estimate, M^G_t sample); see the module docstring.

    Centred coordinates ``Xc^k = X^k - mu`` (Gamma is translation invariant), displacements
    ``D^k`` (the step node k would take), ``Yc^k = Xc^k - D^k``. Pairwise, averaged over the
    ``P = n(n-1)/2`` pairs::

        E[n Gamma'] = S (1 - 2/n) + ((n-2) SY + ||sum Yc||^2) / (2P)
                      - ((n-2) SD + ||sum D||^2) / (n P)

    with ``S = sum ||Xc||^2``, ``SY = sum ||Yc||^2``, ``SD = sum ||D||^2``. Matching: each pair is
    in the matching with probability ``floor(n/2) / P``, so
    ``E[n Gamma'] = (1 - floor(n/2)/(n-1)) n Gamma(Y)``. Graph: the average over the edge list of
    ``S - ||Xc^i||^2 - ||Xc^j||^2 + ||Yc^i + Yc^j||^2 / 2 - ||D^i + D^j||^2 / n``.
    """
    n = X.shape[0]
    d = X.shape[1]
    S = 0.0
    SY = 0.0
    SD = 0.0
    SG = 0.0
    sY[:] = 0.0
    sD[:] = 0.0
    for k in range(n):
        p = 0 if k < n0 else 1
        _estimate_pop(obj, shard_ptr, perm_probe, k, n0, pop_i, pop_f, X[k], rng_probe, g, u, xtmp)
        _probe_direction(B, k, g, p, pop_i, pop_f, fac, dk)
        xs = 0.0
        for q in range(d):
            xc = X[k, q] - mu[q]
            yc = xc - dk[q]
            xs += xc * xc
            SY += yc * yc
            SD += dk[q] * dk[q]
            SG += g[q] * g[q]
            sY[q] += yc
            sD[q] += dk[q]
            if model == MODEL_GRAPH:
                Dbuf[k, q] = dk[q]
        nodebuf[k] = xs
        S += xs
    mg = SG / n
    if model == MODEL_PAIRWISE:
        P = 0.5 * n * (n - 1)
        nsY = 0.0
        nsD = 0.0
        for q in range(d):
            nsY += sY[q] * sY[q]
            nsD += sD[q] * sD[q]
        val = (
            S * (1.0 - 2.0 / n) + ((n - 2) * SY + nsY) / (2.0 * P) - ((n - 2) * SD + nsD) / (n * P)
        )
        return val / n, mg
    if model == MODEL_MATCHING:
        nsY = 0.0
        for q in range(d):
            nsY += sY[q] * sY[q]
        gy = SY - nsY / n  # n Gamma(Y)
        return (1.0 - (n // 2) / (n - 1.0)) * gy / n, mg
    # graph
    tot = 0.0
    m = edges.shape[0]
    for e in range(m):
        i = edges[e, 0]
        j = edges[e, 1]
        a = 0.0
        b = 0.0
        for q in range(d):
            yi = X[i, q] - mu[q] - Dbuf[i, q]
            yj = X[j, q] - mu[q] - Dbuf[j, q]
            a += (yi + yj) * (yi + yj)
            dd = Dbuf[i, q] + Dbuf[j, q]
            b += dd * dd
        tot += S - nodebuf[i] - nodebuf[j] + 0.5 * a - b / n
    return tot / m / n, mg


@numba.njit(**_JIT)
def sampled_node_losses(obj, X, idx, sw, n0, fixed, buf, nodebuf, se_out, col):
    r"""Node losses estimated on a fixed subsample; ``nodebuf[k]`` = the estimate of ``f(X^k)``.

    The subsample is ``m`` indices ``j_1 .. j_m`` drawn i.i.d. from a proposal ``q`` with
    importance weights ``sw_a = w_{j_a} / (m q_{j_a})``, so with ``z_{a,k} = m sw_a F(X^k, j_a)``

    .. math::

        \hat f_k = \frac{1}{m} \sum_a z_{a,k}, \qquad
        E[\hat f_k] = \sum_j w_j F(X^k, j) = f(X^k).

    Stated errors (column ``col`` of ``se_out``, rows :data:`SE_METRICS`), from the subsample's
    own spread (``s^2`` the unbiased sample variance over ``a``, so ``E[se^2]`` is the
    estimate's variance exactly):

    * ``node_loss_se = s(z_{., fixed}) / sqrt(m)``; ``zo_loss_se`` / ``fo_loss_se`` the same for
      ``h_a`` = the mean of ``z_{a,k}`` over the population (the population means are linear
      in the node losses, so they are unbiased too);
    * ``loss_spread_se = sqrt((1/n) sum_k s^2(c_{., k}) / m)`` with the node-centred terms
      ``c_{a,k} = z_{a,k} - mean_l z_{a,l}``: by the triangle inequality in ``R^n`` the plug-in
      spread ``std_k \hat f_k`` is within ``sqrt((1/n) sum_k (e_k - mean e)^2)`` of the true
      ``std_k f(X^k)`` (``e_k`` the errors), whose mean square is estimated unbiasedly by
      ``loss_spread_se^2``: an estimated bound on the root-mean-square error. The plug-in
      spread itself is biased upwards by at most that amount.

    All nodes share the subsample, so each sample's row is read once for all ``n`` nodes.
    """
    n = X.shape[0]
    m = idx.shape[0]
    vals = buf[0]
    s1 = buf[1]
    c1 = buf[2]
    for k in range(n):
        s1[k] = 0.0
        c1[k] = 0.0
    s2_fixed = 0.0
    c2 = 0.0
    h0_1 = 0.0
    h0_2 = 0.0
    h1_1 = 0.0
    h1_2 = 0.0
    for a in range(m):
        j = idx[a]
        scale = m * sw[a]
        zsum = 0.0
        h0 = 0.0
        h1 = 0.0
        for k in range(n):
            v = scale * sample_loss(obj, j, X[k])
            vals[k] = v
            s1[k] += v
            zsum += v
            if k < n0:
                h0 += v
            else:
                h1 += v
        s2_fixed += vals[fixed] * vals[fixed]
        zbar = zsum / n
        for k in range(n):
            c = vals[k] - zbar
            c1[k] += c
            c2 += c * c
        if n0 > 0:
            h0 /= n0
            h0_1 += h0
            h0_2 += h0 * h0
        if n - n0 > 0:
            h1 /= n - n0
            h1_1 += h1
            h1_2 += h1 * h1
    c1_sq = 0.0
    for k in range(n):
        nodebuf[k] = s1[k] / m
        c1_sq += c1[k] * c1[k]
    # unbiased sample variances (m - 1), clipped at 0 against rounding
    inv = 1.0 / ((m - 1.0) * m)
    se_out[SE_NODE, col] = math.sqrt(max(s2_fixed - s1[fixed] * s1[fixed] / m, 0.0) * inv)
    se_out[SE_SPREAD, col] = math.sqrt(max(c2 - c1_sq / m, 0.0) * inv / n)
    if n0 > 0:
        se_out[SE_ZO, col] = math.sqrt(max(h0_2 - h0_1 * h0_1 / m, 0.0) * inv)
    if n - n0 > 0:
        se_out[SE_FO, col] = math.sqrt(max(h1_2 - h1_1 * h1_1 / m, 0.0) * inv)


@numba.njit(**_JIT)
def _form_gap_grad(H, r, x_ref, x, grad_out):
    """``f(x) - f(x_ref) = r . e + e^T H e / 2`` and ``grad_out = r + H e`` (``e = x - x_ref``) of
    the quadratic form ``(H, r)`` (:mod:`hdo_theory.objectives.quadratic_form`), no buffer."""
    d = x.shape[0]
    s = 0.0
    for q in range(d):
        he = 0.0
        for k in range(d):
            he += H[q, k] * (x[k] - x_ref[k])
        grad_out[q] = r[q] + he
        s += (x[q] - x_ref[q]) * (r[q] + 0.5 * he)
    return s


@numba.njit(**_JIT)
def _record(problem, params, state, streams, workspace, out, sample, t, col):
    """Fill column ``col`` of ``out`` with the metrics at step ``t`` (see the module docstring).

    ``sample = (sample_idx, sample_w, se_out, sample_buf)`` of ``recording``."""
    obj, weights, shard_ptr, x_star, edges, held, quad = problem
    H, r = quad  # the quadratic form (read only when ipar[I_QUAD])
    ipar, pop_i, pop_f, fpar = params
    X, B, mu_run, y, fstate, istate, match_perm, perm = state
    rng, rng_probe, perm_probe = streams
    G, u, xtmp, mu, gbuf, g, dk, sY, sD, Dbuf, nodebuf = workspace
    n = X.shape[0]
    d = X.shape[1]
    n0 = ipar[I_N0]
    f_star = fpar[F_FSTAR]
    # exact mean (the running mean is only used for y)
    for q in range(d):
        mu[q] = 0.0
    for k in range(n):
        for q in range(d):
            mu[q] += X[k, q]
    for q in range(d):
        mu[q] /= n
    with_y = ipar[I_DO_Y] != 0
    use_form = ipar[I_QUAD] != 0
    if use_form:
        # the exact quadratic form around x*: O(d^2), gap without cancellation
        gap_mu = _form_gap_grad(H, r, x_star, mu, gbuf)
        out[M_GAP, col] = gap_mu
        y_gap = _form_gap_grad(H, r, x_star, y, g) if with_y else 0.0  # g: scratch
    else:
        # f(mu), grad f(mu) and f(y) in one pass over the data (a record at large N is bound
        # by reading it)
        f_mu, f_y = weighted_loss_grad(obj, weights, mu, gbuf, y, with_y)
        out[M_GAP, col] = f_mu - f_star
        y_gap = f_y - f_star
    ds = 0.0
    for q in range(d):
        ds += (mu[q] - x_star[q]) ** 2
    out[M_DIST, col] = ds
    gs = 0.0
    for q in range(d):
        gs += gbuf[q] * gbuf[q]
    out[M_GRAD, col] = gs
    gam = 0.0
    for k in range(n):
        for q in range(d):
            gam += (X[k, q] - mu[q]) ** 2
    out[M_GAMMA, col] = gam / n
    if ipar[I_DO_HELD] != 0:
        hl, ha = dataset_loss_accuracy(held, mu)
        out[M_HLOSS, col] = hl
        out[M_HACC, col] = ha
    if with_y:
        out[M_YGAP, col] = y_gap
    if ipar[I_DO_NODES] != 0:
        s1 = 0.0
        z0 = 0.0
        z1 = 0.0
        sample_idx, sample_w, se_out, sample_buf = sample
        if use_form:
            for k in range(n):  # exact, O(d^2) a node; g is scratch
                nodebuf[k] = f_star + _form_gap_grad(H, r, x_star, X[k], g)
        elif sample_idx.shape[0] == 0:
            weighted_losses(obj, weights, X, nodebuf)  # exact: one data pass for all n nodes
        else:
            sampled_node_losses(_without_plugins(obj), X, sample_idx, sample_w, n0,
                                ipar[I_FIXED], sample_buf, nodebuf, se_out, col)
        for k in range(n):
            v = nodebuf[k]
            s1 += v
            if k < n0:
                z0 += v
            else:
                z1 += v
        mean = s1 / n
        var = 0.0
        for k in range(n):
            var += (nodebuf[k] - mean) ** 2
        out[M_NODE, col] = nodebuf[ipar[I_FIXED]]
        out[M_SPREAD, col] = math.sqrt(var / n)
        if n0 > 0:
            out[M_ZO, col] = z0 / n0
        if n - n0 > 0:
            out[M_FO, col] = z1 / (n - n0)
    if ipar[I_DO_L2] != 0:
        fac = schedule_factor(ipar[I_SCHED], t, ipar[I_T], ipar[I_WARMUP])
        cond, mg = _lemma2_probe(
            obj,
            shard_ptr,
            perm_probe,
            n0,
            pop_i,
            pop_f,
            X,
            B,
            mu,
            fac,
            ipar[I_MODEL],
            edges,
            rng_probe,
            g,
            dk,
            u,
            xtmp,
            sY,
            sD,
            Dbuf,
            nodebuf,
        )
        out[M_MG, col] = mg
        if t >= ipar[I_LOCAL]:
            out[M_L2, col] = cond


@numba.njit(**_JIT)
def _fold_y(y, mu_run, fstate, a):
    """Fold mu_{t-1} into Theorem 1's weighted average with weight w_t = w_{t-1} / (1 - a_t)."""
    if a >= 1.0:  # weights infinite: y is the latest mean
        ratio = 1.0
    else:
        lw = fstate[S_LOGW] - math.log1p(-a)
        ls = fstate[S_LOGW_SUM]
        if ls == -np.inf:
            new = lw
        elif lw > ls:
            new = lw + math.log1p(math.exp(ls - lw))
        else:
            new = ls + math.log1p(math.exp(lw - ls))
        ratio = math.exp(lw - new)
        fstate[S_LOGW] = lw
        fstate[S_LOGW_SUM] = new
    for q in range(y.shape[0]):
        y[q] += ratio * (mu_run[q] - y[q])


@numba.njit(**_JIT)
def run_chunk(problem, params, state, streams, workspace, recording, t0, t1):
    """Advance one replica from step ``t0`` to ``t1`` (see the module docstring).

    The arguments are the tuples described in the module docstring ("Arguments"). ``out`` is
    this replica's ``(len(METRICS), len(rec_t))`` record array (pre-filled with NaN);
    ``istate = [diverged_at, next record index]``. Returns the number of steps done.
    """
    obj, weights, shard_ptr, x_star, edges, held, quad = problem
    ipar, pop_i, pop_f, fpar = params
    X, B, mu_run, y, fstate, istate, match_perm, perm = state
    rng, rng_probe, perm_probe = streams
    G, u, xtmp, mu, gbuf, g, dk, sY, sD, Dbuf, nodebuf = workspace
    rec_t, out, sample_idx, sample_w, se_out, sample_buf = recording
    sample = (sample_idx, sample_w, se_out, sample_buf)
    n = X.shape[0]
    n0 = ipar[I_N0]
    model = ipar[I_MODEL]
    T = ipar[I_T]
    sched = ipar[I_SCHED]
    warm = ipar[I_WARMUP]
    local = ipar[I_LOCAL]
    do_y = ipar[I_DO_Y] != 0
    thr = fpar[F_THRESH]
    thr_sq = thr * thr
    n_rec = rec_t.shape[0]
    if istate[S_DIVERGED] >= 0:
        return 0
    if t0 == 0:  # the start counts: every node's distance to x*
        fstate[S_MAXDIST] = 0.0
        for k in range(n):
            _raise_max(fstate, _dist_sq_row(X, k, x_star))
    if t0 == 0 and istate[S_REC] < n_rec and rec_t[istate[S_REC]] == 0:
        _record(problem, params, state, streams, workspace, out, sample, 0, istate[S_REC])
        out[M_MAXDIST, istate[S_REC]] = fstate[S_MAXDIST]
        istate[S_REC] += 1
    done = 0
    for t in range(t0, t1):
        if ipar[I_STOP] != 0:  # asked to stop (Ctrl-C): the caller discards this replica
            return done
        fac = schedule_factor(sched, t, T, warm)
        if do_y:
            a = fac * fpar[F_YCOEF]
            if model == MODEL_MATCHING and a < 1.0:
                # a round is floor(n/2) interactions: Theorem 1's per-interaction weight
                # (1 - a)^(-1) compounds to (1 - a)^(-floor(n/2)) per round
                a = 1.0 - (1.0 - a) ** (n // 2)
            _fold_y(y, mu_run, fstate, a)
        communicate = t >= local
        bad = False
        if model == MODEL_MATCHING:
            # uniform random permutation (Fisher-Yates), cut into consecutive pairs
            shuffle_nodes(rng, match_perm)
            for q in range(n // 2):
                if _interact(
                    obj,
                    shard_ptr,
                    perm,
                    n0,
                    pop_i,
                    pop_f,
                    X,
                    B,
                    mu_run,
                    match_perm[2 * q],
                    match_perm[2 * q + 1],
                    fac,
                    communicate,
                    rng,
                    G,
                    u,
                    xtmp,
                    thr_sq,
                    x_star,
                    fstate,
                ):
                    bad = True
            if n % 2 == 1:
                if _solo(
                    obj,
                    shard_ptr,
                    perm,
                    n0,
                    pop_i,
                    pop_f,
                    X,
                    B,
                    mu_run,
                    match_perm[n - 1],
                    fac,
                    rng,
                    G,
                    u,
                    xtmp,
                    thr_sq,
                    x_star,
                    fstate,
                ):
                    bad = True
        else:
            if model == MODEL_GRAPH:
                i, j = draw_edge(rng, edges)
            else:
                i, j = draw_pair(rng, n)
            bad = _interact(
                obj,
                shard_ptr,
                perm,
                n0,
                pop_i,
                pop_f,
                X,
                B,
                mu_run,
                i,
                j,
                fac,
                communicate,
                rng,
                G,
                u,
                xtmp,
                thr_sq,
                x_star,
                fstate,
            )
        done += 1
        if bad:
            istate[S_DIVERGED] = t + 1
            return done
        ri = istate[S_REC]
        if ri < n_rec and rec_t[ri] == t + 1:
            _record(problem, params, state, streams, workspace, out, sample, t + 1, ri)
            out[M_MAXDIST, ri] = fstate[S_MAXDIST]
            istate[S_REC] = ri + 1
    return done
