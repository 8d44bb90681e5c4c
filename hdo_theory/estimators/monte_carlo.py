"""Monte Carlo statistics of one gradient estimator at one point, with confidence intervals,
held against the exact closed forms (:mod:`.closed_forms`) and the paper's bounds.

:func:`estimator_stats` draws ``G`` (the estimator of :mod:`hdo_theory.estimators`, one fresh
minibatch per draw, sampled without replacement from the node's shard) ``draws`` times and
reports, each as ``{value, ci, exact, bound, ratio ...}``:

==================  ========================================  ==============================
key                 quantity                                  confidence interval
==================  ========================================  ==============================
``mean_norm``       ``||E G||``                               confidence ball (below)
``bias``            ``||E G - grad f^i(x)||``                 confidence ball
``bias_vs_target``  ``||E G - T||``, ``T`` the estimator's    confidence ball (both Monte
                    theoretical mean (``grad f^i_nu`` for     Carlo errors if ``T`` is
                    Gaussian smoothing, ball smoothing for    estimated)
                    the sphere, exact otherwise)
``second_moment``   ``E ||G||^2``                             CLT on i.i.d. ``||G||^2``
``centered_moment`` ``E ||G - grad f^i(x)||^2``               CLT on i.i.d. ``||G - g||^2``
``variance``        ``E ||G - E G||^2``                       batch means (``t``, K-1 d.o.f.)
==================  ========================================  ==============================

Confidence ball for a vector mean. ``D_hat - D = e`` is, by the CLT, ``N(0, Sigma / N)`` with
``tr Sigma = V`` (the variance above). Gaussian concentration of the 1-Lipschitz map
``z -> ||Sigma^{1/2} z||`` gives ``||e|| <= sqrt(V/N) + sqrt(2 lambda_max(Sigma) ln(1/alpha) / N)``
with probability ``>= 1 - alpha``; with ``lambda_max <= tr Sigma = V`` the radius is
``r = sqrt(V/N) (1 + sqrt(2 ln(1/alpha)))``. By the triangle inequality ``| ||D_hat|| - ||D|| |
<= ||e||``, so ``[max(0, ||D_hat|| - r), ||D_hat|| + r]`` covers ``||D||`` with probability
``>= 1 - alpha`` (conservative; valid also when ``D = 0``, where a delta-method interval fails).

Rounding. A deterministic estimate (``coord-fd`` or ``fo`` on a full-shard batch) has a
zero-width interval, and its exact value agrees only to floating-point rounding. Every entry of
``estimator_stats`` whose statistical interval is narrower than the rounding tolerance derived
from the operation count (``_rounding_tolerance``: ``c (d + b) eps`` times the scale of the
terms, divided by ``nu`` for a finite difference) is widened to ``value +- tol`` and carries
``rounding_tol``; ``exact_in_ci`` is decided on the widened interval.

Bounds (``L`` from ``objective.constants``, ``s_i^2`` exact at ``x`` from
:func:`hdo_theory.objectives.constants.node_gradient_variance`):

* bias of ``zo-forward`` / ``zo-central``: Lemma 1 item 4 (and the sharper ``nu L sqrt(d)``);
  ``zo-sphere``: ``L nu``; ``coord-fd``: ``sqrt(d) L nu / 2``; ``fo``, ``zo-directional``: 0.
* ``E||G||^2``: Lemma 5 (6); ``E||G - grad f^i||^2``: Lemma 5 (7). They are stated for the
  forward difference; they also hold for ``zo-central`` (``||G_c||^2 <= (||G_+||^2 +
  ||G_-||^2)/2`` and ``G_-`` is ``G_+`` at ``-u``), for ``zo-directional`` (``(d+2) <= 2(d+4)``)
  and for ``rv > 1`` (averaging can only lower both moments, by convexity). Not applied to
  ``fo``, ``zo-sphere`` (different scaling in ``d``) or ``coord-fd``.

Reproducibility: one ``numpy.random.SeedSequence(seed)`` spawns the estimator stream and the
reference stream; the numbers are a function of (objective, node, x, spec, draws, seed) only,
bit-identical across runs and independent of ``chunk`` (the kernel consumes one generator
sequentially and adds into the same accumulators in the same order).
"""

from __future__ import annotations

import math
import sys
import time

import numba
import numpy as np
from scipy import stats as sps

from hdo_theory.errors import HDOInputError, check_choice, check_float, check_int, check_point
from hdo_theory.estimators import (
    EstimatorSpec,
    direction_buffer,
    estimate,
    estimator_info,
    kernel_data,
    resolve_nu,
)
from hdo_theory.estimators.closed_forms import exact_moments
from hdo_theory.objectives.constants import node_gradient_variance
from hdo_theory.objectives.kernels import (
    KIND_EXPLICIT_QUADRATIC,
    KIND_LEAST_SQUARES,
    KIND_QUADRATIC,
    batch_grad,
    batch_loss,
    draw_batch,
)
from hdo_theory.rng import kernel_generator, standard_normals
from hdo_theory.serialize import jsonable
from hdo_theory.verification import bounds

_JIT = dict(nogil=True, cache=True)

#: Welford accumulator layout (per batch row): count, mean and M2 of ||G||^2, of ||G - g||^2.
_W_N, _W_MQ, _W_SQ, _W_MR, _W_SR = range(5)


# ---------------------------------------------------------------------------------------------
# Numba kernels
# ---------------------------------------------------------------------------------------------


@numba.njit(**_JIT)
def _welford(acc, i_mean, i_m2, n, value):
    """Welford update of (mean, M2) stored at acc[i_mean], acc[i_m2]; ``n`` is the new count."""
    delta = value - acc[i_mean]
    acc[i_mean] += delta / n
    acc[i_m2] += delta * (value - acc[i_mean])


@numba.njit(**_JIT)
def _accumulate(G, g_ref, sum_dev, acc):
    """Fold one draw ``G``: running sum of ``G - g_ref`` and Welford moments of ``||G||^2`` and
    ``||G - g_ref||^2``."""
    q = 0.0
    r = 0.0
    for k in range(G.shape[0]):
        e = G[k] - g_ref[k]
        sum_dev[k] += e
        q += G[k] * G[k]
        r += e * e
    acc[_W_N] += 1.0
    cnt = acc[_W_N]
    _welford(acc, _W_MQ, _W_SQ, cnt, q)
    _welford(acc, _W_MR, _W_SR, cnt, r)


@numba.njit(**_JIT)
def draw_estimator_chunk(obj, est, rv, nu, perm, b, x, g_ref, rng, n_draws, G, u, xtmp,
                         sum_dev, acc):
    """Add ``n_draws`` estimator draws to one batch's accumulators; return evaluations used.

    Each draw takes a fresh minibatch of ``b`` samples from ``perm`` (the node's shard, permuted
    in place; the whole shard when ``b == len(perm)``). ``sum_dev += G - g_ref``;
    ``acc`` (Welford, layout ``_W_*``) tracks ``||G||^2`` and ``||G - g_ref||^2``.
    ``G`` and ``xtmp`` are length-d work vectors, ``u`` the estimator's direction buffer
    (:func:`~hdo_theory.estimators.direction_buffer`).
    """
    m = perm.shape[0]
    evals = 0
    for _t in range(n_draws):
        if b < m:
            batch = draw_batch(rng, perm, 0, m, b)
        else:
            batch = perm[0:m]
        evals += estimate(obj, est, rv, nu, batch, x, rng, G, u, xtmp)
        _accumulate(G, g_ref, sum_dev, acc)
    return evals


@numba.njit(**_JIT)
def draw_smoothed_gradient_chunk(obj, shard, x, nu, ball, g_ref, rng, n_draws, u, xtmp, H,
                                 sum_dev, acc):
    """Monte Carlo of the smoothed gradient ``E grad f^i(x + nu w)``.

    ``w ~ N(0, I)`` (Gaussian smoothing, ``grad f_nu``) or, with ``ball``, ``w`` uniform in the
    unit ball (ball smoothing, the mean of the sphere estimator). Accumulates like
    :func:`draw_estimator_chunk` with ``H = grad f^i(x + nu w)`` in place of ``G``.
    """
    d = x.shape[0]
    for _t in range(n_draws):
        standard_normals(rng, u)
        scale = nu
        if ball:
            nrm = 0.0
            for k in range(d):
                nrm += u[k] * u[k]
            scale = nu * rng.random() ** (1.0 / d) / math.sqrt(nrm)
        for k in range(d):
            xtmp[k] = x[k] + scale * u[k]
        batch_grad(obj, shard, xtmp, H)
        _accumulate(H, g_ref, sum_dev, acc)


@numba.njit(**_JIT)
def draw_value_gap_chunk(obj, shard, x, nu, f0, rng, n_draws, u, xtmp, acc):
    """Welford (count, mean, M2) into acc[0:3] of the antithetic smoothing gap
    ``(f^i(x + nu u) + f^i(x - nu u)) / 2 - f^i(x)``, ``u ~ N(0, I)``.

    Its mean is ``f^i_nu(x) - f^i(x)`` (``u`` is symmetric); the linear term cancels, so the
    noise is ``O(nu^2)`` like the quantity itself (the one-sided gap has ``O(nu)`` noise).
    """
    d = x.shape[0]
    for _t in range(n_draws):
        standard_normals(rng, u)
        for k in range(d):
            xtmp[k] = x[k] + nu * u[k]
        fp = batch_loss(obj, shard, xtmp)
        for k in range(d):
            xtmp[k] = x[k] - nu * u[k]
        fm = batch_loss(obj, shard, xtmp)
        acc[0] += 1.0
        _welford(acc, 1, 2, acc[0], 0.5 * (fp + fm) - f0)


# ---------------------------------------------------------------------------------------------
# Interval helpers
# ---------------------------------------------------------------------------------------------


def ball_radius_factor(level: float) -> float:
    """``1 + sqrt(2 ln(1/alpha))``, ``alpha = 1 - level``: the confidence-ball radius per
    ``sqrt(tr Cov / N)`` (see the module docstring)."""
    return 1.0 + math.sqrt(2.0 * math.log(1.0 / (1.0 - level)))


def _norm_ci(vec, trace_cov_of_mean, level):
    est = float(np.linalg.norm(vec))
    r = ball_radius_factor(level) * math.sqrt(max(trace_cov_of_mean, 0.0))
    return est, [max(0.0, est - r), est + r]


def _clt_se(m2, n):
    return math.sqrt(max(m2, 0.0) / (n - 1) / n)


def _clt_ci(mean, m2, n, level):
    z = sps.norm.ppf(0.5 + level / 2.0)
    se = _clt_se(m2, n)
    return [mean - z * se, mean + z * se]


def _merge_welford(rows, i_mean, i_m2):
    """Chan et al. merge of per-batch (count, mean, M2): returns (n, mean, M2)."""
    n, mean, m2 = 0.0, 0.0, 0.0
    for row in rows:
        nb, mb, sb = row[_W_N], row[i_mean], row[i_m2]
        if nb == 0:
            continue
        tot = n + nb
        delta = mb - mean
        mean += delta * nb / tot
        m2 += sb + delta * delta * n * nb / tot
        n = tot
    return n, mean, m2


def _summarise(sum_dev, acc, g_ref, level):
    """Point estimates and intervals from per-batch accumulators (K rows)."""
    counts = acc[:, _W_N]
    N, mean_q, m2_q = _merge_welford(acc, _W_MQ, _W_SQ)
    _, mean_r, m2_r = _merge_welford(acc, _W_MR, _W_SR)
    dev = sum_dev.sum(axis=0) / N
    variance = N / (N - 1) * (mean_r - float(dev @ dev))
    # batch means for the variance: each batch's own unbiased variance estimate
    devs_k = sum_dev / counts[:, None]
    var_k = counts / (counts - 1) * (acc[:, _W_MR] - np.sum(devs_k**2, axis=1))
    K = acc.shape[0]
    tq = sps.t.ppf(0.5 + level / 2.0, K - 1)
    se_var = float(np.std(var_k, ddof=1)) / math.sqrt(K)
    return {
        "N": int(N),
        "dev": dev,
        "mean_q": mean_q,
        "ci_q": _clt_ci(mean_q, m2_q, N, level),
        "mean_r": mean_r,
        "ci_r": _clt_ci(mean_r, m2_r, N, level),
        "variance": variance,
        "ci_var": [variance - tq * se_var, variance + tq * se_var],
        "se_q": _clt_se(m2_q, N),
        "se_r": _clt_se(m2_r, N),
        "se_var": se_var,
        "dof_var": K - 1,
        "mean": g_ref + dev,
    }


# ---------------------------------------------------------------------------------------------
# Drivers
# ---------------------------------------------------------------------------------------------


class _Progress:
    """A tqdm bar that appears only when forced, or on a TTY once the run looks long (> 2 s)."""

    def __init__(self, total, desc, mode):
        self.total, self.desc, self.mode = total, desc, mode
        self.done, self.bar, self.t0 = 0, None, time.perf_counter()

    def update(self, k):
        self.done += k
        if self.bar is None and self._wanted():
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, desc=self.desc, unit="draw", file=sys.stderr,
                            initial=self.done, dynamic_ncols=True)
        elif self.bar is not None:
            self.bar.update(k)

    def _wanted(self):
        if self.mode is not None:
            return bool(self.mode)
        if not sys.stderr.isatty() or self.done == 0:
            return False
        elapsed = time.perf_counter() - self.t0
        return elapsed * self.total / self.done > 2.0

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _n_batches(draws: int) -> int:
    """Batch-means batches: 32, fewer for short runs (at least 2 draws per batch)."""
    return max(2, min(32, draws // 8))


def _run_batched(total, level_desc, progress, chunk, fn):
    """Split ``total`` draws into K batch rows and adaptive chunks; ``fn(row, n)`` draws ``n``.

    The first chunk is small; later chunks aim at ~0.25 s so the bar updates smoothly. Results
    do not depend on the chunking (see the module docstring).
    """
    K = _n_batches(total)
    sizes = np.full(K, total // K, dtype=np.int64)
    sizes[: total % K] += 1
    bar = _Progress(total, level_desc, progress)
    step = min(256, chunk)
    try:
        for row in range(K):
            left = int(sizes[row])
            while left > 0:
                n = min(step, left)
                t0 = time.perf_counter()
                fn(row, n)
                dt = time.perf_counter() - t0
                left -= n
                bar.update(n)
                if dt > 0:
                    step = int(min(chunk, max(256, n * 0.25 / dt)))
    finally:
        bar.close()
    return K


def estimator_stats(objective, node: int, x, spec: EstimatorSpec, draws: int, seed: int,
                    eta: float | None = None, chunk: int = 1 << 16, level: float = 0.95,
                    ref_draws: int | None = None, progress: bool | None = None,
                    L: float | None = None) -> dict:
    """Empirical bias and moments of ``spec`` at ``x`` for ``node``, with CIs, exact values and
    bounds. See the module docstring for every key and interval.

    Parameters
    ----------
    objective: an :class:`~hdo_theory.objectives.Objective`.
    node: node index (any node may use any estimator here).
    x: the point, a length-``d`` vector.
    spec: the estimator (kind, rv, nu, batch); ``nu="theorem"`` needs ``eta``.
    draws: number of estimator draws (>= 16).
    seed: master seed (``numpy.random.SeedSequence``).
    chunk: most draws per Numba call (progress-bar granularity; results do not depend on it).
    level: confidence level of every interval, in (0, 1).
    ref_draws: draws for the Monte Carlo smoothed-gradient reference when it has no closed
        form (default ``min(draws, 50_000)``).
    progress: ``True``/``False`` force the tqdm bar on/off; ``None`` shows it on a TTY when the
        run is expected to take more than 2 s.
    L: the smoothness constant for the bounds (default ``objective.constants.L``).
    """
    if not isinstance(spec, EstimatorSpec):
        raise HDOInputError("spec must be an EstimatorSpec")
    d = objective.d
    node = check_int("node", node, 0, objective.n - 1)
    x = check_point("x", x, d)
    draws = check_int("draws", draws, 16, 10**11)
    seed = check_int("seed", seed, 0)
    chunk = check_int("chunk", chunk, 1)
    level = check_float("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    nu = resolve_nu(spec.nu, d, eta)
    m = objective.shard_size(node)
    b = check_int("batch", spec.batch, 1, m)
    if b > m:  # pragma: no cover - check_int above
        raise HDOInputError(f"batch must be <= the shard size {m} of node {node}")
    ref_draws = min(draws, 50_000) if ref_draws is None else check_int("ref_draws", ref_draws, 16)

    est_ss, ref_ss = np.random.SeedSequence(seed).spawn(2)
    rng = kernel_generator(est_ss)
    g = objective.node_grad(node, x)
    g2 = float(g @ g)
    s2 = node_gradient_variance(objective, node, x, b)
    perm = np.array(objective.shard(node), dtype=np.int64)

    K = _n_batches(draws)
    sum_dev = np.zeros((K, d))
    acc = np.zeros((K, 5))
    work = np.empty((2, d))
    U = direction_buffer(d)
    evals = [0]

    obj = kernel_data(objective.data, spec.code)  # a plugin's kernel rides in the data tuple

    def fn(row, n):
        evals[0] += draw_estimator_chunk(obj, spec.code, spec.rv, nu, perm, b, x, g,
                                         rng, n, work[0], U, work[1], sum_dev[row], acc[row])

    t0 = time.perf_counter()
    _run_batched(draws, spec.kind, progress, chunk, fn)
    s = _summarise(sum_dev, acc, g, level)
    N = s["N"]

    exact = exact_moments(objective, node, x, spec.kind, spec.rv, nu, b) or {}
    if L is None:
        L, L_source = _lipschitz(objective)
    else:
        L, L_source = check_float("L", L, 0.0), "given"
    var_for_ball = max(s["variance"], 0.0) / N
    tol = _rounding_tolerance(objective, node, x, spec, nu, b, g, L)

    # ---- mean and bias -------------------------------------------------------------------
    mean_norm, mean_ci = _norm_ci(s["mean"], var_for_ball, level)
    bias, bias_ci = _norm_ci(s["dev"], var_for_ball, level)
    bias_bound, bias_bound_name, sharper = _bias_bound(spec.kind, nu, L, d)
    ball_se = math.sqrt(var_for_ball)
    out_bias = _entry(bias, bias_ci,
                      _vec_norm(exact["mean"] - g) if "mean" in exact else None,
                      bias_bound, bias_bound_name, ("norm", ball_se, math.inf, N), tol=tol)
    if sharper is not None:
        out_bias["sharper_bound"] = sharper
        out_bias["sharper_bound_name"] = "nu L sqrt(d) (grad f_nu = E grad f(x + nu u))"

    target = _target(objective, node, x, spec.kind, nu, g, exact, ref_draws, ref_ss, level,
                     chunk, progress)
    if target["vector"] is not None:
        tv = s["mean"] - target["vector"]
        val, ci = _norm_ci(tv, var_for_ball + target["trace_cov_of_mean"], level)
        ci, widened = _widen(val, ci, tol)
        bias_vs_target = {"target": target["name"], "target_source": target["source"],
                          "value": val, "ci": ci, "exact": 0.0, "method": "norm",
                          "se": math.sqrt(var_for_ball + target["trace_cov_of_mean"]),
                          "dof": None, "n": N}
        if widened:
            bias_vs_target["rounding_tol"] = float(tol)
    else:
        bias_vs_target = {"target": target["name"], "target_source": None, "value": None,
                          "ci": None, "exact": None}

    # ---- moments -------------------------------------------------------------------------
    m5 = spec.info.lemma5 and L is not None
    second = _entry(s["mean_q"], s["ci_q"], exact.get("second_moment"),
                    bounds.lemma5_second_moment(nu, L, d, g2, s2) if m5 else None,
                    "Lemma 5 (6)" + (" = Lemma 1 item 5 (b = m)" if b == m else "")
                    if m5 else None, ("mean", s["se_q"], math.inf, N),
                    tol=_square_tolerance(s["mean_q"], tol, d))
    centered = _entry(s["mean_r"], s["ci_r"], exact.get("centered_moment"),
                      bounds.lemma5_centered_moment(nu, L, d, g2, s2) if m5 else None,
                      "Lemma 5 (7)" if m5 else None, ("mean", s["se_r"], math.inf, N),
                      tol=_square_tolerance(s["mean_r"], 2.0 * tol, d))
    variance = _entry(s["variance"], s["ci_var"], exact.get("variance"), None, None,
                      ("mean", s["se_var"], s["dof_var"], N),
                      tol=_square_tolerance(s["variance"], 2.0 * tol, d))
    elapsed = time.perf_counter() - t0

    return {
        "config": {
            "objective": objective.name,
            "objective_meta": jsonable(objective.meta, nonfinite="keep", arrays="drop"),
            "d": d,
            "n0": objective.n0,
            "n1": objective.n1,
            "node": node,
            "node_is_zo": bool(objective.is_zo(node)),
            "shard_size": m,
            "estimator": spec.kind,
            "rv": spec.rv,
            "nu": nu,
            "batch": b,
            "draws": N,
            "seed": seed,
            "level": level,
            "batches": K,
        },
        "point": {
            "x_norm": _vec_norm(x),
            "grad_norm": math.sqrt(g2),
            "grad_norm_sq": g2,
            "s_sq": s2,
            "L": L,
            "L_source": L_source,
        },
        "mean_norm": _entry(mean_norm, mean_ci,
                            _vec_norm(exact["mean"]) if "mean" in exact else None, None, None,
                            ("norm", ball_se, math.inf, N), tol=tol),
        "bias": out_bias,
        "bias_vs_target": bias_vs_target,
        "second_moment": second,
        "centered_moment": centered,
        "variance": variance,
        "exact_source": _exact_source(objective, spec.kind, exact),
        "evaluations": int(evals[0]),
        "elapsed_seconds": elapsed,
    }


def smoothed_value_gap(objective, node: int, x, nu: float, draws: int, seed: int,
                       level: float = 0.95, chunk: int = 1 << 16, L: float | None = None) -> dict:
    """Monte Carlo of ``f^i_nu(x) - f^i(x)`` (``f_nu(x) = E_u f(x + nu u)``) with a CLT interval,
    against Lemma 1 item 3 ``|f_nu - f| <= nu^2 L d / 2`` and, on the quadratic, the exact
    ``(nu^2/2) tr A_bar`` (``A_bar`` the shard's mean Hessian). The entry is for ``|f_nu - f|``;
    ``signed`` holds ``f_nu - f``. Antithetic draws (see :func:`draw_value_gap_chunk`).
    ``L`` defaults to ``objective.constants.L``."""
    node = check_int("node", node, 0, objective.n - 1)
    x = check_point("x", x, objective.d)
    nu = check_float("nu", nu, 0.0, lo_open=True)
    draws = check_int("draws", draws, 16)
    level = check_float("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    rng = kernel_generator(np.random.SeedSequence(check_int("seed", seed, 0)))
    shard = np.ascontiguousarray(objective.shard(node), dtype=np.int64)
    f0 = objective.node_value(node, x)
    acc = np.zeros(3)
    u, xt = np.empty(objective.d), np.empty(objective.d)
    left = draws
    while left > 0:
        n = min(chunk, left)
        draw_value_gap_chunk(objective.data, shard, x, nu, f0, rng, n, u, xt, acc)
        left -= n
    exact = None
    if objective.kind == KIND_QUADRATIC:
        groups, mats = objective.data[4], objective.data[5]
        exact = 0.5 * nu**2 * float(np.mean(np.trace(mats[groups[shard]], axis1=1, axis2=2)))
    if L is None:
        L, _ = _lipschitz(objective)
    bound = bounds.lemma1_smoothing_value_gap(nu, L, objective.d) if L is not None else None
    lo, hi = _clt_ci(acc[1], acc[2], acc[0], level)
    abs_ci = [0.0 if lo <= 0.0 <= hi else min(abs(lo), abs(hi)), max(abs(lo), abs(hi))]
    e = _entry(abs(acc[1]), abs_ci, None if exact is None else abs(exact), bound,
               "Lemma 1 item 3", ("abs-mean", _clt_se(acc[2], acc[0]), math.inf, int(acc[0])))
    e["signed"] = {"value": float(acc[1]), "ci": [lo, hi], "exact": exact}
    e["draws"] = int(acc[0])
    return e


#: ``method=`` of :func:`smoothing_bias` / :func:`smoothed_gradient`.
SMOOTHING_METHODS = ("monte-carlo", "antithetic")


def antithetic_smoothing_bias(obj, node, x, nu, draws, rng):
    """Rows ``(grad f^i(x + nu u) + grad f^i(x - nu u))/2 - grad f^i(x)``, ``u ~ N(0, I)``.

    Their mean is exactly ``grad f^i_nu(x) - grad f^i(x)`` (``u`` is symmetric), the mean of the
    forward-difference estimator minus the gradient, i.e. node ``i``'s bias ``b_i``. The
    antithetic pair cancels the odd (order ``nu``) part, so the spread is ``O(nu^2)``.
    ``rng`` is a ``numpy.random.Generator`` (the rows use ``rng.standard_normal((draws, d))``).
    The Lemma 1 item 4 and Lemma 3 claims use it (re-exported by their ``_common``).
    """
    shard = np.ascontiguousarray(obj.shard(node), dtype=np.int64)
    d = obj.d
    g0 = np.empty(d)
    batch_grad(obj.data, shard, x, g0)
    gp, gm = np.empty(d), np.empty(d)
    out = np.empty((draws, d))
    U = rng.standard_normal((draws, d))
    for r in range(draws):
        batch_grad(obj.data, shard, x + nu * U[r], gp)
        batch_grad(obj.data, shard, x - nu * U[r], gm)
        out[r] = 0.5 * (gp + gm) - g0
    return out


def smoothed_gradient(objective, node: int, x, nu: float, draws: int, seed: int,
                      ball: bool = False, method: str = "monte-carlo", level: float = 0.95,
                      chunk: int = 1 << 16) -> dict:
    """Monte Carlo of the smoothed gradient ``grad f^i_nu(x) = E grad f^i(x + nu w)`` and of the
    smoothing-bias vector ``grad f^i_nu(x) - grad f^i(x)``.

    ``method="monte-carlo"``: i.i.d. draws of ``grad f^i(x + nu w)`` (``w ~ N(0, I)``, or with
    ``ball`` uniform in the unit ball), batched in Numba; their spread is ``O(L nu sqrt(d))``,
    the size of the bias bound itself. ``method="antithetic"`` (Gaussian only): the pairs of
    :func:`antithetic_smoothing_bias`, whose odd part cancels, so the spread is ``O(nu^2)``
    and a small bias is resolved instead of drowned in noise. Returns ``mean`` (the smoothed
    gradient), ``bias_vector``, ``trace_cov_of_mean`` (``tr Cov / N`` of the rows, for a
    confidence ball), ``draws`` and ``method``.
    """
    node = check_int("node", node, 0, objective.n - 1)
    x = check_point("x", x, objective.d)
    nu = check_float("nu", nu, 0.0, lo_open=True)
    draws = check_int("draws", draws, 16)
    method = check_choice("method", method, SMOOTHING_METHODS)
    level = check_float("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    g = objective.node_grad(node, x)
    ss = np.random.SeedSequence(check_int("seed", seed, 0))
    if method == "monte-carlo":
        s = _smoothed_gradient_mc(objective, node, x, nu, bool(ball), g, draws, ss, level, chunk,
                                  False)
        dev, var, N = s["dev"], max(s["variance"], 0.0), s["N"]
    else:
        if ball:
            raise HDOInputError("method='antithetic' is for Gaussian smoothing (ball=False)")
        rng = np.random.default_rng(ss)
        left, rows_all = draws, []
        while left > 0:  # sequential chunks: the same stream as one call
            rows = antithetic_smoothing_bias(objective, node, x, nu, min(chunk, left), rng)
            rows_all.append(rows)
            left -= rows.shape[0]
        rows = np.concatenate(rows_all)
        N = rows.shape[0]
        dev = rows.mean(axis=0)
        var = float(np.sum(rows.var(axis=0, ddof=1)))
    return {"mean": g + dev, "bias_vector": dev, "trace_cov_of_mean": var / N, "draws": int(N),
            "method": method}


def smoothing_bias(objective, node: int, x, nu: float, draws: int, seed: int, ball: bool = False,
                   level: float = 0.95, chunk: int = 1 << 16, L: float | None = None,
                   method: str = "monte-carlo") -> dict:
    """Monte Carlo of the smoothing bias ``||grad f^i_nu(x) - grad f^i(x)||`` (confidence ball).

    ``grad f_nu(x) = E grad f^i(x + nu w)`` with ``w ~ N(0, I)`` (Gaussian smoothing), or with
    ``ball``, ``w`` uniform in the unit ball (the mean of the sphere estimator). Bound: Lemma 1
    item 4 (Gaussian; the sharper ``nu L sqrt(d)`` is ``sharper_bound``) or ``L nu`` (ball).
    ``L`` defaults to ``objective.constants.L``. Exact on the quadratic losses: 0.

    ``method`` (:func:`smoothed_gradient`): ``"monte-carlo"`` draws ``grad f^i(x + nu w)``,
    whose noise ``<= L nu sqrt(d)`` is the order of the bound: the interval is honest but a
    small bias is overstated by the noise in the point estimate (several times at ``nu =
    0.01``). ``"antithetic"`` (Gaussian only) averages ``grad f^i(x + nu u)`` and
    ``grad f^i(x - nu u)``: noise ``O(nu^2)``, like the bias itself. An interval narrower than
    the rounding of one row (``ROUNDING_C (d + m) eps (||grad f^i(x)|| + L (||x|| + nu
    sqrt(d)))``, the gradient's summation bound over the ``m`` shard samples) is widened to it
    (``rounding_tol``), as in :func:`estimator_stats`.
    """
    s = smoothed_gradient(objective, node, x, nu, draws, seed, ball, method, level, chunk)
    x = check_point("x", x, objective.d)
    level = check_float("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    val, ci = _norm_ci(s["bias_vector"], s["trace_cov_of_mean"], level)
    if L is None:
        L, _ = _lipschitz(objective)
    d = objective.d
    if L is None:
        bound, name, sharper = None, None, None
    elif ball:
        bound, name, sharper = bounds.sphere_smoothing_bias(nu, L), "ball smoothing: L nu", None
    else:
        bound, name = bounds.lemma1_smoothing_bias(nu, L, d), "Lemma 1 item 4"
        sharper = bounds.sharper_smoothing_bias(nu, L, d)
    quadratic_loss = objective.kind in (KIND_QUADRATIC, KIND_LEAST_SQUARES, KIND_EXPLICIT_QUADRATIC)
    # the antithetic rows are O(nu^2): on a quadratic loss they are exactly 0 but for rounding,
    # so the ball is widened to the rounding of one row (the systematic part survives the mean)
    m = objective.shard_size(node)
    g = objective.node_grad(node, x)
    grad_scale = _vec_norm(g) + (float(L) * (_vec_norm(x) + nu * math.sqrt(d))
                                 if L is not None and math.isfinite(L) else 0.0)
    tol = ROUNDING_C * (d + m) * _EPS * grad_scale
    e = _entry(val, ci, 0.0 if quadratic_loss else None, bound, name,
               ("norm", math.sqrt(s["trace_cov_of_mean"]), math.inf, s["draws"]), tol=tol)
    e["sharper_bound"] = sharper
    e["draws"] = s["draws"]
    e["method"] = s["method"]
    return e


# ---------------------------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------------------------


#: Safety factor of the rounding tolerance (see :func:`_rounding_tolerance`).
ROUNDING_C = 4.0
_EPS = float(np.finfo(np.float64).eps)


def _rounding_tolerance(objective, node, x, spec, nu, b, g, L) -> float:
    """A bound on the floating-point error of one estimate ``G`` (a length-``d`` vector),
    derived from the number of floating-point operations, not fitted:

    * a batch loss or gradient is a mean of ``b`` per-sample terms, each built from a
      ``d``-term dot product, so it carries a relative error of at most about ``(d + b) eps``
      of the magnitude of its terms (the summation bound ``gamma_n = n eps / (1 - n eps)``);
    * the magnitude of a loss term is taken as ``|f^i(x)| + ||grad f^i(x)|| (||x|| + nu sqrt(d))``
      (its value plus its first-order change over the perturbation), that of a gradient term as
      ``||grad f^i(x)|| + L ||x||`` (``L`` when known);
    * a zeroth-order estimator divides a difference of two such losses by ``nu`` and sums ``d``
      of them along directions of norm up to ``sqrt(d)``: ``sqrt(d) (loss scale) / nu``;
    * ``ROUNDING_C = 4`` covers the few operations on top (the difference, the division, the
      average over ``rv`` directions and over the draws).

    So ``tol = c (d + b) eps (sqrt(d) loss_scale / nu [zeroth order] + gradient_scale)``. It
    matters only when the estimate is deterministic (coord-fd or fo on a full-shard batch): its
    interval then has zero width and an exact value agrees only to rounding.
    """
    d = objective.d
    gn = _vec_norm(g)
    xn = _vec_norm(x)
    grad_scale = gn + (float(L) * xn if L is not None and math.isfinite(L) else 0.0)
    scale = grad_scale
    if spec.info.zero_order:
        fx = abs(float(objective.node_value(node, x)))
        loss_scale = fx + gn * (xn + float(nu) * math.sqrt(d))
        scale += math.sqrt(d) * loss_scale / float(nu)
    return ROUNDING_C * (d + b) * _EPS * scale


def _square_tolerance(value, tol_vec, d) -> float:
    """Rounding tolerance of a mean of ``||G - c||^2`` given ``tol_vec`` on the vector
    ``G - c``: ``(sqrt(v) + t)^2 - v`` plus the ``d``-term sum of squares (``d eps v``)."""
    v = abs(float(value))
    return 2.0 * math.sqrt(v) * tol_vec + tol_vec**2 + ROUNDING_C * d * _EPS * v


def _widen(value, ci, tol):
    """``(ci, widened)``: ``ci`` widened to at least ``value +- tol`` (never below 0 when it
    started at or above 0: norms and moments), and whether it had to be."""
    if tol is None or not tol > 0 or (ci[0] <= value - tol and ci[1] >= value + tol):
        return ci, False
    lo = value - tol
    if ci[0] >= 0.0:
        lo = max(0.0, lo)
    return [min(ci[0], lo), max(ci[1], value + tol)], True


def _entry(value, ci, exact, bound, bound_name, interval, tol=None):
    """One reported quantity. ``interval = (method, se, dof, n)`` lets a caller rebuild the
    interval at another level: ``"mean"`` (CLT; Student t if ``dof`` is not None), ``"norm"``
    (confidence ball, ``se = sqrt(tr Cov / N)``), ``"abs-mean"`` (CLT interval of a mean, folded
    to its absolute value).

    ``tol``: the floating-point rounding tolerance of ``value`` (:func:`_rounding_tolerance`).
    When the statistical interval is narrower than ``value +- tol`` (a deterministic estimate
    has a zero-width one) it is widened to that, and the entry gets ``rounding_tol``; a
    statistical interval wider than the rounding is left exactly as it is.
    """
    method, se, dof, n = interval
    ci, widened = _widen(value, ci, tol)
    e = {"value": float(value), "ci": [float(ci[0]), float(ci[1])],
         "exact": None if exact is None else float(exact),
         "method": method, "se": float(se), "dof": _dof(dof), "n": int(n)}
    if exact is not None:
        e["exact_in_ci"] = bool(ci[0] <= exact <= ci[1])
    if widened:
        e["rounding_tol"] = float(tol)
    e["bound"] = None if bound is None else float(bound)
    e["bound_name"] = bound_name
    if bound is not None and bound > 0:
        e["ratio"] = float(value) / bound
        e["ratio_ci"] = [float(ci[0]) / bound, float(ci[1]) / bound]
    else:
        e["ratio"] = e["ratio_ci"] = None
    return e


def _dof(dof):
    """Degrees of freedom of a t interval; ``None`` for the normal quantile (strict JSON)."""
    return None if dof is None or math.isinf(dof) else float(dof)


def _vec_norm(v) -> float:
    return float(np.linalg.norm(v))


def _lipschitz(objective):
    """``(L, source)`` from ``objective.constants``, or ``(None, reason)`` if unavailable."""
    try:
        c = objective.constants
    except HDOInputError as exc:
        return None, f"unavailable: {exc}"
    return float(c.L), getattr(c, "L_how", None) or "objective.constants"


def _bias_bound(kind, nu, L, d):
    """(bound, name, sharper) on ``||E G - grad f^i(x)||`` for ``kind`` (its table row's
    ``bias_bound``)."""
    bb = estimator_info(kind).bias_bound
    if bb is None or (L is None and bb.needs_L):
        return None, None, None
    sharper = None if bb.sharper is None else bb.sharper(nu, L, d)
    return bb.bound(nu, L, d), bb.name, sharper


def _target(objective, node, x, kind, nu, g, exact, ref_draws, ref_ss, level, chunk, progress):
    """The estimator's theoretical mean and how it is known."""
    # (the explicit quadratic's noise term xi.x is linear: smoothing leaves its gradient alone too)
    quadratic = objective.kind in (KIND_QUADRATIC, KIND_EXPLICIT_QUADRATIC)
    info = estimator_info(kind)
    if info.mean == "grad f":
        return {"name": info.mean_label, "source": "exact", "vector": g, "trace_cov_of_mean": 0.0}
    if info.mean == "unknown":  # known only through the closed-form mean, if there is one
        if "mean" in exact:
            return {"name": info.mean_label, "source": "exact", "vector": exact["mean"],
                    "trace_cov_of_mean": 0.0}
        return {"name": info.mean_label, "source": None, "vector": None,
                "trace_cov_of_mean": 0.0}
    ball = info.mean == "grad f_ball"
    name = info.mean_label
    if quadratic:  # both smoothings shift a quadratic by a constant: gradient unchanged
        return {"name": name, "source": "exact (quadratic: equals grad f^i)", "vector": g,
                "trace_cov_of_mean": 0.0}
    s = _smoothed_gradient_mc(objective, node, x, nu, ball, g, ref_draws, ref_ss, level, chunk,
                              progress)
    return {"name": name, "source": f"monte carlo ({s['N']} draws of grad f^i(x + nu w))",
            "vector": s["mean"], "trace_cov_of_mean": max(s["variance"], 0.0) / s["N"]}


def _smoothed_gradient_mc(objective, node, x, nu, ball, g, draws, seed_seq, level, chunk,
                          progress):
    """Batched Monte Carlo of ``E grad f^i(x + nu w)``; returns :func:`_summarise` output."""
    d = objective.d
    rng = kernel_generator(seed_seq)
    shard = np.ascontiguousarray(objective.shard(node), dtype=np.int64)
    K = _n_batches(draws)
    sum_dev = np.zeros((K, d))
    acc = np.zeros((K, 5))
    work = np.empty((3, d))

    def fn(row, n):
        draw_smoothed_gradient_chunk(objective.data, shard, x, nu, ball, g, rng, n, work[0],
                                     work[1], work[2], sum_dev[row], acc[row])

    _run_batched(draws, "reference", progress, chunk, fn)
    return _summarise(sum_dev, acc, g, level)


def _exact_source(objective, kind, exact):
    if not exact:
        return None
    if objective.kind == KIND_QUADRATIC:
        return "closed form on the quadratic (unconditional over the minibatch)"
    if objective.kind == KIND_EXPLICIT_QUADRATIC:
        return "closed form on the explicit quadratic (unconditional over the oracle noise)"
    if objective.kind == KIND_LEAST_SQUARES and not estimator_info(kind).mean == "grad f":
        return ("closed form on least squares, a quadratic minibatch loss (unconditional over "
                "the minibatch)")
    if "second_moment" not in exact:
        return f"mean only: {estimator_info(kind).mean_label}"
    return "closed form valid on every objective"


