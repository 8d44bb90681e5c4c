"""Calibrated assertions on gradient estimators, for the user's own test suite.

Every assertion draws the estimator (by name or :class:`~hdo_theory.estimators.EstimatorSpec`,
so registered plugins work like the built-ins) at a point ``x`` for a node, and takes

* ``tol``: the smallest effect it must detect (a bias norm, a moment difference, ...);
* ``false_failure``: the probability that it fails although the property holds (per call);
* ``power``: the probability that it fails when the effect is at least ``tol``;
* ``seed``: default :func:`~.draws.derived_seed` of the inputs, so hypothesis never sees a
  flaky failure (an example always gets the same draws).

The number of draws is computed from these, not chosen (formulas below, ``alpha`` the
``false_failure``, ``beta = 1 - power``, ``z_p`` the standard normal quantile); it is capped at
``max_draws`` and a larger need is a one-line :class:`~hdo_theory.errors.HDOInputError`.

* **Vector means** (:func:`assert_unbiased`), concentration bound: with ``V = tr Cov(G)`` and
  ``N`` draws the mean error ``e`` satisfies ``||e|| <= sqrt(V/N) c(a)``, ``c(a) = 1 +
  sqrt(2 ln(1/a))``, with probability ``>= 1 - a`` (CLT plus Gaussian concentration, the
  confidence ball of :mod:`hdo_theory.estimators.monte_carlo`). The assertion fails when
  ``||mean - T|| > sqrt(V/N) c(alpha)``; a bias ``>= tol`` escapes with probability ``<= beta``
  when ``tol >= sqrt(V/N) (c(alpha) + c(beta))``, i.e.

  .. math:: N = \\lceil V (c(\\alpha) + c(\\beta))^2 / tol^2 \\rceil.

  ``V``: the exact variance when :func:`~hdo_theory.estimators.closed_forms.exact_moments`
  knows it, else a pilot estimate (2000 draws) for ``N`` and the final draws' own estimate for
  the decision.
* **Scalar moments** (:func:`assert_moment_close`, :func:`assert_moment_le`,
  :func:`assert_rv_scaling`), CLT with the variance ``sigma^2`` of the summand measured on a
  pilot run: a two-sided test (close) needs

  .. math:: N = \\lceil \\sigma^2 (z_{1-\\alpha/2} + z_{1-\\beta})^2 / tol^2 \\rceil,

  a one-sided one (``<=``) the same with ``z_{1-alpha}``; the decision uses the Student-t
  interval of :func:`hdo_theory.verification.stats.mean_estimate` on the final draws.
* **Pathwise identities** (:func:`assert_linear_in_F`, :func:`assert_shift_invariant`): two
  routes computed on the same random stream agree draw by draw up to rounding, so a draw whose
  difference exceeds ``tol`` (relative to the draw's scale, well above rounding) is certain
  evidence (``false_failure`` is then 0 and is not spent; ``tol`` must exceed the rounding of a
  draw, about ``eps |F| / (nu ||G||)`` for a finite difference: the default ``1e-6`` does for
  ``nu >= 1e-6`` on losses of moderate size). An estimator that breaks the identity
  by more than ``tol`` on a fraction ``>= violation_rate`` of the draws is caught with
  probability ``>= power`` after

  .. math:: N = \\lceil \\ln(1 - power) / \\ln(1 - violation\\_rate) \\rceil

  draws.

A failure raises :class:`EstimatorAssertionError` (an ``AssertionError``) whose message shows the
estimate, its interval, the target and the draws.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import stats as sps

from hdo_theory.errors import HDOInputError, check_choice, check_float, check_int, check_point
from hdo_theory.estimators import EstimatorSpec, estimator_info, resolve_nu
from hdo_theory.estimators.closed_forms import QUADRATIC_LOSS_KINDS, exact_moments
from hdo_theory.estimators.monte_carlo import ball_radius_factor, smoothed_gradient
from hdo_theory.objectives import kernels as OK
from hdo_theory.objectives.constants import node_gradient_variance
from hdo_theory.testing.draws import derived_seed, estimator_draws
from hdo_theory.verification.stats import Estimate, mean_estimate

__all__ = [
    "EstimatorAssertionError",
    "LINEAR_FAMILIES",
    "MOMENTS",
    "PILOT_DRAWS",
    "assert_linear_in_F",
    "assert_moment_close",
    "assert_moment_le",
    "assert_rv_scaling",
    "assert_shift_invariant",
    "assert_unbiased",
    "draws_for_mean",
    "draws_for_norm",
    "draws_for_pathwise",
    "linear_combination",
]

#: Draws of the pilot run that measures a variance when no exact one is known.
PILOT_DRAWS = 2000
#: ``moment=``: ``"second"`` ``E||G||^2``, ``"centered"`` ``E||G - grad f^i(x)||^2``,
#: ``"variance"`` ``E||G - E G||^2`` (from disjoint pairs: ``E||G - G'||^2 / 2``).
MOMENTS = ("second", "centered", "variance")
_MAX_DRAWS = 4_000_000


class EstimatorAssertionError(AssertionError):
    """A calibrated assertion failed; the message holds estimate, interval, target, draws."""


# ---------------------------------------------------------------------------------------------
# Draw counts
# ---------------------------------------------------------------------------------------------


def _c(a: float) -> float:
    return ball_radius_factor(1.0 - a)  # 1 + sqrt(2 ln(1/a))


def draws_for_norm(trace_cov: float, tol: float, false_failure: float, power: float) -> int:
    """``N = ceil(V (c(alpha) + c(1 - power))^2 / tol^2)``, ``c(a) = 1 + sqrt(2 ln(1/a))``:
    draws for a confidence ball of a mean vector to detect a shift ``>= tol``."""
    return max(2, math.ceil(trace_cov * (_c(false_failure) + _c(1.0 - power)) ** 2 / tol**2))


def draws_for_mean(variance: float, tol: float, false_failure: float, power: float,
                   two_sided: bool = True) -> int:
    """``N = ceil(sigma^2 (z_{1-alpha/2} + z_{power})^2 / tol^2)`` (``z_{1-alpha}`` one-sided):
    CLT draws for a scalar mean to detect a difference ``>= tol``."""
    za = sps.norm.ppf(1.0 - (false_failure / 2.0 if two_sided else false_failure))
    return max(2, math.ceil(variance * (za + sps.norm.ppf(power)) ** 2 / tol**2))


def draws_for_pathwise(power: float, violation_rate: float) -> int:
    """``N = ceil(ln(1 - power) / ln(1 - violation_rate))``: draws that catch, with probability
    ``>= power``, an identity broken on a fraction ``>= violation_rate`` of the draws."""
    return max(1, math.ceil(math.log(1.0 - power) / math.log(1.0 - violation_rate)))


def _cap(n, max_draws, what):
    if n > max_draws:
        raise HDOInputError(f"{what}: tol, false_failure and power need {n} draws, more than "
                            f"max_draws = {max_draws}; raise tol or max_draws")
    return n


# ---------------------------------------------------------------------------------------------
# Common inputs
# ---------------------------------------------------------------------------------------------


def _spec(estimator, rv=None, nu=None, batch=None) -> EstimatorSpec:
    if isinstance(estimator, EstimatorSpec):
        spec = estimator
    elif isinstance(estimator, str):
        spec = EstimatorSpec(estimator)
    else:
        raise HDOInputError(f"estimator must be a registered name or an EstimatorSpec, "
                            f"got {type(estimator).__name__}")
    kw = {k: v for k, v in (("rv", rv), ("nu", nu), ("batch", batch)) if v is not None}
    return dataclasses.replace(spec, **kw) if kw else spec


def _inputs(objective, estimator, x, node, false_failure, power):
    spec = _spec(estimator)
    node = check_int("node", node, 0, objective.n - 1)
    if x is None:
        x = objective.random_point(0)
    x = check_point("x", x, objective.d)
    check_float("false_failure", false_failure, 0.0, 0.5, lo_open=True, hi_open=True)
    check_float("power", power, 0.5, 1.0, hi_open=True)
    return spec, node, x


def _seed(seed, *parts):
    return derived_seed(*parts) if seed is None else check_int("seed", seed, 0)


def _rows(objective, node, x, spec, n, seed):
    return np.concatenate(list(estimator_draws(objective, node, x, spec, n, seed)), axis=0)


def _fmt_cfg(objective, spec, node, n, seed):
    return (f"{spec.kind} (rv={spec.rv}, nu={spec.nu}, batch={spec.batch}) on {objective.name} "
            f"(d={objective.d}) node {node}; {n} draws, seed {seed}")


# ---------------------------------------------------------------------------------------------
# Unbiasedness
# ---------------------------------------------------------------------------------------------


def _declared_target(objective, spec, node, x, nu, seed):
    """(vector, trace_cov_of_mean, name) of the estimator's declared mean (its table row)."""
    info = estimator_info(spec.kind)
    g = objective.node_grad(node, x)
    if info.mean == "grad f":
        return g, 0.0, "grad f^i(x)"
    if info.mean == "unknown":
        raise HDOInputError(f"estimator {spec.kind!r} declares mean 'unknown': pass "
                            f"target='grad f' or a vector")
    if objective.kind in QUADRATIC_LOSS_KINDS:  # both smoothings shift a quadratic by a constant
        return g, 0.0, f"{info.mean} = grad f^i(x) (quadratic loss)"
    ball = info.mean == "grad f_ball"
    method = "monte-carlo" if ball else "antithetic"
    ref = smoothed_gradient(objective, node, x, nu, 20_000, seed, ball=ball, method=method)
    return ref["mean"], ref["trace_cov_of_mean"], f"{info.mean} ({method} reference)"


def assert_unbiased(objective, estimator, x=None, node: int = 0, target="grad f",
                    tol: float | None = None, false_failure: float = 1e-3, power: float = 0.99,
                    seed: int | None = None, eta: float | None = None,
                    max_draws: int = _MAX_DRAWS) -> dict:
    """Assert ``E G = T`` at ``x`` for ``node``: fails when the confidence ball of
    ``||mean(G) - T||`` excludes 0.

    ``target``: ``"grad f"`` (``grad f^i(x)``), ``"declared"`` (the estimator row's ``mean``:
    ``grad f``, or ``grad f_nu`` / ``grad f_ball``, exact on the quadratic losses and a Monte
    Carlo reference otherwise, whose error is added to the ball) or a vector. ``tol``: the
    smallest bias ``||E G - T||`` to detect (default ``0.1 ||T||``). Draws:
    :func:`draws_for_norm` with ``V`` exact (closed form) or from a pilot run; with a Monte
    Carlo target (trace of its mean's covariance ``t``) the ball has radius ``c(alpha) sqrt(V/N
    + t)`` and ``N = ceil(V / ((tol / (c(alpha) + c(beta)))^2 - t))``. Returns the
    numbers (``value``, ``ci``, ``radius``, ``draws``, ``variance_source``).
    """
    spec, node, x = _inputs(objective, estimator, x, node, false_failure, power)
    seed = _seed(seed, "assert_unbiased", objective, spec, node, x,
                 target if isinstance(target, str) else np.asarray(target, float), tol)
    nu = resolve_nu(spec.nu, objective.d, eta)
    if isinstance(target, str):
        check_choice("target", target, ("grad f", "declared"))
        if target == "grad f":
            T, t_cov, t_name = objective.node_grad(node, x), 0.0, "grad f^i(x)"
        else:
            T, t_cov, t_name = _declared_target(objective, spec, node, x, nu, seed + 1)
    else:
        T, t_cov, t_name = check_point("target", target, objective.d), 0.0, "given vector"
    if tol is None:
        tol = 0.1 * float(np.linalg.norm(T))
        if tol == 0.0:
            raise HDOInputError("assert_unbiased: the target is 0, give tol (> 0)")
    tol = check_float("tol", tol, 0.0, lo_open=True)
    exact = exact_moments(objective, node, x, spec.kind, spec.rv, nu, spec.batch) or {}
    if "variance" in exact:
        V, v_source = max(float(exact["variance"]), 0.0), "exact (closed form)"
    else:
        pilot = _rows(objective, node, x, spec, PILOT_DRAWS, seed + 2)
        V, v_source = float(np.sum(pilot.var(axis=0, ddof=1))), f"pilot ({PILOT_DRAWS} draws)"
    if t_cov > 0.0:  # a Monte Carlo target: its error shares the ball, V/N + t_cov
        room = (tol / (_c(false_failure) + _c(1.0 - power))) ** 2 - t_cov
        if room <= 0.0:
            raise HDOInputError(f"assert_unbiased: the Monte Carlo reference of {t_name} is too "
                                f"noisy for tol = {tol:.3g}; raise tol or pass target=")
        n = _cap(max(2, math.ceil(V / room)), max_draws, "assert_unbiased")
    else:
        n = _cap(draws_for_norm(V, tol, false_failure, power), max_draws, "assert_unbiased")
    G = _rows(objective, node, x, spec, n, seed)
    dev = G.mean(axis=0) - T
    if not v_source.startswith("exact"):
        V = float(np.sum(G.var(axis=0, ddof=1)))
    value = float(np.linalg.norm(dev))
    radius = math.sqrt(V / n + t_cov) * _c(false_failure)
    out = {"value": value, "ci": [max(0.0, value - radius), value + radius], "radius": radius,
           "target": t_name, "draws": n, "seed": seed, "variance": V,
           "variance_source": v_source, "tol": tol}
    if value > radius:
        raise EstimatorAssertionError(
            f"biased: ||mean(G) - T|| = {value:.4g}, {100 * (1 - false_failure):.4g}% ball "
            f"[{out['ci'][0]:.4g}, {out['ci'][1]:.4g}] excludes 0; T = {t_name} "
            f"(||T|| = {np.linalg.norm(T):.4g}); {_fmt_cfg(objective, spec, node, n, seed)}; "
            f"variance {v_source}")
    return out


# ---------------------------------------------------------------------------------------------
# Moments
# ---------------------------------------------------------------------------------------------


def _moment_samples(G, moment, g):
    if moment == "second":
        return np.einsum("ij,ij->i", G, G)
    if moment == "centered":
        R = G - g
        return np.einsum("ij,ij->i", R, R)
    k = G.shape[0] // 2  # disjoint pairs: E ||G - G'||^2 / 2 = tr Cov(G)
    D = G[:k] - G[k:2 * k]
    return 0.5 * np.einsum("ij,ij->i", D, D)


def _moment_run(objective, spec, node, x, moment, tol, false_failure, power, seed, max_draws,
                two_sided, what):
    check_choice("moment", moment, MOMENTS)
    per = 2 if moment == "variance" else 1  # draws per summand
    g = objective.node_grad(node, x)
    pilot = _moment_samples(_rows(objective, node, x, spec, per * PILOT_DRAWS, seed + 2),
                            moment, g)
    if tol is None:
        tol = 0.05 * abs(float(pilot.mean()))
    tol = check_float("tol", tol, 0.0, lo_open=True)
    n = draws_for_mean(float(pilot.var(ddof=1)), tol, false_failure, power, two_sided)
    n = _cap(per * n, max_draws, what) // per
    q = _moment_samples(_rows(objective, node, x, spec, per * n, seed), moment, g)
    return mean_estimate(q), tol, per * n


def assert_moment_close(objective, estimator, exact=None, moment: str = "second", x=None,
                        node: int = 0, tol: float | None = None, false_failure: float = 1e-3,
                        power: float = 0.99, seed: int | None = None, eta: float | None = None,
                        max_draws: int = _MAX_DRAWS) -> dict:
    """Assert that a moment (:data:`MOMENTS`) equals ``exact`` (default: the closed form of
    :func:`~hdo_theory.estimators.closed_forms.exact_moments`; an error if there is none).

    Fails when the two-sided ``1 - false_failure`` Student-t interval of the moment excludes
    ``exact``. ``tol``: the smallest difference to detect (default 5% of the moment, from the
    pilot). Draws: :func:`draws_for_mean` (two-sided) with the pilot's variance."""
    spec, node, x = _inputs(objective, estimator, x, node, false_failure, power)
    nu = resolve_nu(spec.nu, objective.d, eta)
    if exact is None:
        known = exact_moments(objective, node, x, spec.kind, spec.rv, nu, spec.batch) or {}
        key = {"second": "second_moment", "centered": "centered_moment"}.get(moment, moment)
        if key not in known:
            raise HDOInputError(f"assert_moment_close: no closed form of the {moment} moment "
                                f"of {spec.kind!r} on {objective.name}; pass exact=")
        exact = known[key]
    exact = check_float("exact", exact)
    seed = _seed(seed, "assert_moment_close", objective, spec, node, x, moment, exact, tol)
    est, tol, n = _moment_run(objective, spec, node, x, moment, tol, false_failure, power, seed,
                              max_draws, True, "assert_moment_close")
    lo, hi = est.interval(false_failure)
    out = {"value": est.value, "ci": [lo, hi], "exact": exact, "draws": n, "seed": seed,
           "tol": tol}
    if not lo <= exact <= hi:
        raise EstimatorAssertionError(
            f"{moment} moment {est.value:.6g}, {100 * (1 - false_failure):.4g}% CI "
            f"[{lo:.6g}, {hi:.6g}] excludes the exact {exact:.6g}; "
            f"{_fmt_cfg(objective, spec, node, n, seed)}")
    return out


def assert_moment_le(objective, estimator, bound: float, moment: str = "second", x=None,
                     node: int = 0, tol: float | None = None, false_failure: float = 1e-3,
                     power: float = 0.99, seed: int | None = None, eta: float | None = None,
                     max_draws: int = _MAX_DRAWS) -> dict:
    """Assert that a moment (:data:`MOMENTS`) is at most ``bound`` (e.g. a Lemma 5 bound of
    :mod:`hdo_theory.verification.bounds`).

    Fails when the one-sided ``1 - false_failure`` lower confidence limit exceeds ``bound``.
    ``tol``: the smallest excess over ``bound`` to detect (default 5% of the moment). Draws:
    :func:`draws_for_mean` (one-sided)."""
    spec, node, x = _inputs(objective, estimator, x, node, false_failure, power)
    bound = check_float("bound", bound)
    seed = _seed(seed, "assert_moment_le", objective, spec, node, x, moment, bound, tol)
    est, tol, n = _moment_run(objective, spec, node, x, moment, tol, false_failure, power, seed,
                              max_draws, False, "assert_moment_le")
    lo, hi = est.interval(2.0 * false_failure)  # its lower limit is one-sided 1 - false_failure
    out = {"value": est.value, "lower": lo, "bound": bound, "draws": n, "seed": seed,
           "tol": tol}
    if lo > bound:
        raise EstimatorAssertionError(
            f"{moment} moment {est.value:.6g}, one-sided {100 * (1 - false_failure):.4g}% "
            f"lower limit {lo:.6g} exceeds the bound {bound:.6g}; "
            f"{_fmt_cfg(objective, spec, node, n, seed)}")
    return out


def linear_combination(means, coefs, const: float = 0.0) -> Estimate:
    """``sum_k c_k mean_k + const`` of independent CLT estimates, ``se^2 = sum c_k^2 se_k^2``
    (normal quantile)."""
    value = const + sum(c * m.value for c, m in zip(coefs, means, strict=True))
    se = math.sqrt(sum((c * m.se) ** 2 for c, m in zip(coefs, means, strict=True)))
    return Estimate(value, se, math.inf, int(sum(m.n for m in means)), "mean")


def assert_rv_scaling(objective, estimator, rv: int | None = None, x=None, node: int = 0,
                      tol: float | None = None, false_failure: float = 1e-3, power: float = 0.99,
                      seed: int | None = None, eta: float | None = None,
                      max_draws: int = _MAX_DRAWS) -> dict:
    """Assert the ``rv``-average identity (all ``rv`` directions share one minibatch ``xi``)::

        E ||G_rv||^2 = E ||G_1||^2 / rv + (1 - 1/rv) M,    M = E ||g_xi||^2,

    ``g_xi`` the mean of one direction's estimate given ``xi`` (with the minibatch held fixed,
    ``batch`` = the shard, it says the variance scales as ``1/rv``). ``M`` is exact
    (``||grad f^i(x)||^2 + s_i^2``, :func:`~hdo_theory.objectives.constants.node_gradient_variance`)
    when ``g_xi = grad F(x, xi)``: an estimator declaring mean ``grad f`` (it is then unbiased
    for every minibatch loss too), or declaring ``grad f_nu`` / ``grad f_ball`` on a quadratic
    loss; otherwise it is measured as ``2 E||G_2||^2 - E||G_1||^2`` (then ``rv >= 3``: for
    ``rv = 2`` that is the identity itself). ``rv`` defaults to the spec's. The difference of
    the two sides is a combination of independent means (:func:`linear_combination`); fails when
    its two-sided CLT interval excludes 0. ``tol``: smallest difference to detect (default 5%
    of ``E||G_rv||^2``); draws per run: :func:`draws_for_mean` with the combined pilot variance.
    """
    spec, node, x = _inputs(objective, estimator, x, node, false_failure, power)
    spec = _spec(spec, rv=rv)
    k = spec.rv
    if k < 2:
        raise HDOInputError(f"assert_rv_scaling needs rv >= 2, got rv={k}")
    info = estimator_info(spec.kind)
    if not info.random_directions:
        raise HDOInputError(f"estimator {spec.kind!r} draws no random directions (rv is ignored)")
    seed = _seed(seed, "assert_rv_scaling", objective, spec, node, x, tol)
    g = objective.node_grad(node, x)
    exact_M = info.mean == "grad f" or (info.mean in ("grad f_nu", "grad f_ball")
                                        and objective.kind in QUADRATIC_LOSS_KINDS)
    runs = {k: 1.0, 1: -1.0 / k}
    const = 0.0
    if exact_M:
        M = float(g @ g) + node_gradient_variance(objective, node, x, spec.batch)
        const = -(1.0 - 1.0 / k) * M
        m_source = "exact: ||grad f^i||^2 + s_i^2"
    else:
        if k == 2:
            raise HDOInputError(f"assert_rv_scaling: {spec.kind!r} has no known conditional mean "
                                f"on {objective.name}, so M is measured from rv=2; use rv >= 3")
        runs = {k: 1.0, 1: -1.0 / k + (1.0 - 1.0 / k), 2: -2.0 * (1.0 - 1.0 / k)}
        m_source = "measured: 2 E||G_2||^2 - E||G_1||^2"
    specs = {r: dataclasses.replace(spec, rv=r) for r in runs}
    pilots = {r: _moment_samples(_rows(objective, node, x, specs[r], PILOT_DRAWS,
                                       seed + 10 + r), "second", g) for r in runs}
    if tol is None:
        tol = 0.05 * float(pilots[k].mean())
    tol = check_float("tol", tol, 0.0, lo_open=True)
    var = sum(c * c * float(pilots[r].var(ddof=1)) for r, c in runs.items())
    n = _cap(draws_for_mean(var, tol, false_failure, power), max_draws // len(runs),
             "assert_rv_scaling")
    means = [mean_estimate(_moment_samples(_rows(objective, node, x, specs[r], n, seed + r),
                                           "second", g)) for r in runs]
    diff = linear_combination(means, list(runs.values()), const)
    lo, hi = diff.interval(false_failure)
    out = {"difference": diff.value, "ci": [lo, hi], "M_source": m_source, "draws": n * len(runs),
           "seed": seed, "tol": tol, "second_moments": {r: m.value for r, m in
                                                         zip(runs, means, strict=True)}}
    if not lo <= 0.0 <= hi:
        raise EstimatorAssertionError(
            f"rv scaling broken: E||G_rv||^2 - E||G_1||^2/rv - (1 - 1/rv) M = {diff.value:.4g}, "
            f"{100 * (1 - false_failure):.4g}% CI [{lo:.4g}, {hi:.4g}] excludes 0 (M {m_source}; "
            f"second moments by rv {out['second_moments']}); "
            f"{_fmt_cfg(objective, spec, node, n * len(runs), seed)}")
    return out


# ---------------------------------------------------------------------------------------------
# Pathwise identities: linearity in F, shift invariance
# ---------------------------------------------------------------------------------------------

_NAMES = ("kind", "params", "feats", "targets", "groups", "mats", "centers")


def _with_data(objective, **slots):
    data = tuple(np.ascontiguousarray(slots[n]) if n in slots else v
                 for n, v in zip(_NAMES, objective.data, strict=True))
    return dataclasses.replace(objective, data=data)


#: The objective kinds :func:`assert_linear_in_F` supports, with how ``F2`` and ``a F1 + b F2``
#: are built (each an exact combination of the per-sample losses).
LINEAR_FAMILIES = {
    "quadratic": "F2: the Hessians of the groups in reverse order (A_g @ A_g for one group), "
                 "same centres; a F1 + b F2 has Hessians a A + b A2 (any a, b)",
    "least-squares": "F2: regularisation lam + 1; a F1 + b F2 has lam a lam1 + b lam2 "
                     "(needs a + b = 1)",
    "cosine-wells": "F2: the tilts of the samples rolled by one; a F1 + b F2 has tilts "
                    "a t1 + b t2 (needs a + b = 1)",
}


def _linear_family(objective, a, b):
    kind = objective.kind
    if kind == OK.KIND_QUADRATIC:
        mats = objective.data[5]
        mats2 = mats[::-1].copy() if mats.shape[0] > 1 else np.einsum("gij,gjk->gik", mats, mats)
        return _with_data(objective, mats=mats2), _with_data(objective, mats=a * mats + b * mats2)
    if kind not in (OK.KIND_LEAST_SQUARES, OK.KIND_COSINE_WELLS):
        raise HDOInputError(f"assert_linear_in_F supports the objective kinds "
                            f"{', '.join(LINEAR_FAMILIES)}, got {objective.name}")
    if not math.isclose(a + b, 1.0, rel_tol=0.0, abs_tol=1e-12):
        raise HDOInputError(f"assert_linear_in_F on {objective.name} needs a + b = 1 (its loss "
                            f"has a fixed part), got a={a}, b={b}")
    if kind == OK.KIND_LEAST_SQUARES:
        p = objective.data[1]
        p2 = p.copy()
        p2[0] += 1.0
        return _with_data(objective, params=p2), _with_data(objective, params=a * p + b * p2)
    f = objective.data[2]
    f2 = np.roll(f, 1, axis=0)
    return _with_data(objective, feats=f2), _with_data(objective, feats=a * f + b * f2)


def _pathwise(objective, spec, node, x, seed, n, routes, tol, what):
    """Draw every route's objective on the same stream; fail on a draw where the combination
    ``sum_k c_k G_k`` exceeds ``tol`` times the draw's scale ``sum_k |c_k| ||G_k||``."""
    worst, where = 0.0, None
    gens = [estimator_draws(o, node, x, spec, n, seed) for o, _ in routes]
    start = 0
    for blocks in zip(*gens, strict=True):
        comb = sum(c * B for (_, c), B in zip(routes, blocks, strict=True))
        scale = sum(abs(c) * np.linalg.norm(B, axis=1) for (_, c), B in
                    zip(routes, blocks, strict=True))
        rel = np.linalg.norm(comb, axis=1) / np.maximum(scale, np.finfo(float).tiny)
        t = int(np.argmax(rel))
        if rel[t] > worst:
            worst, where = float(rel[t]), start + t
        start += blocks[0].shape[0]
    out = {"worst_relative_difference": worst, "draw": where, "draws": n, "seed": seed,
           "tol": tol}
    if worst > tol:
        raise EstimatorAssertionError(
            f"{what}: on draw {where} the two routes differ by {worst:.3g} of the draw's scale "
            f"(target 0, tol {tol:.3g}); {_fmt_cfg(objective, spec, node, n, seed)}")
    return out


def assert_linear_in_F(objective, estimator, a: float = 0.7, b: float = 0.3, x=None,
                       node: int = 0, tol: float = 1e-6, false_failure: float = 1e-3,
                       power: float = 0.99, violation_rate: float = 0.05,
                       seed: int | None = None) -> dict:
    """Assert ``G(a F1 + b F2) = a G(F1) + b G(F2)`` draw by draw on the same random stream.

    ``F1`` is ``objective``; ``F2`` and the combination are built from it as
    :data:`LINEAR_FAMILIES` says (quadratic: any ``a, b``; least squares and cosine wells:
    ``a + b = 1``); any other kind is a one-line error. ``tol``: the relative difference
    ``||G(aF1+bF2) - aG(F1) - bG(F2)|| / (|a| ||G(F1)|| + |b| ||G(F2)|| + ||G(aF1+bF2)||)`` above
    rounding that counts as a violation; draws: :func:`draws_for_pathwise`. ``false_failure``
    is not spent (an exact identity: see the module docstring)."""
    spec, node, x = _inputs(objective, estimator, x, node, false_failure, power)
    check_float("violation_rate", violation_rate, 0.0, 1.0, lo_open=True, hi_open=True)
    a, b = check_float("a", a), check_float("b", b)
    F2, Fab = _linear_family(objective, a, b)
    seed = _seed(seed, "assert_linear_in_F", objective, spec, node, x, a, b, tol)
    n = draws_for_pathwise(power, violation_rate)
    return _pathwise(objective, spec, node, x, seed, n, [(Fab, 1.0), (objective, -a), (F2, -b)],
                     tol, "not linear in F")


def assert_shift_invariant(objective, estimator, shift: float = 3.0, x=None, node: int = 0,
                           tol: float = 1e-6, false_failure: float = 1e-3, power: float = 0.99,
                           violation_rate: float = 0.05, seed: int | None = None) -> dict:
    """Assert that adding a constant to every minibatch loss changes no estimate (zeroth-order
    estimators: differences of values only), draw by draw on the same random stream.

    Least squares only: the kernels have no constant term, but a least-squares sample with zero
    features has the constant loss ``y^2/2`` (plus the regularisation, which both routes share).
    Every fourth sample of the node's shard gets zero features; the second route adds ``shift``
    to their targets, so each minibatch loss moves by a constant (``0`` or a sum of
    ``((y + shift)^2 - y^2) / (2 b)``) and nothing else. ``tol``, draws: as
    :func:`assert_linear_in_F`."""
    spec, node, x = _inputs(objective, estimator, x, node, false_failure, power)
    check_float("violation_rate", violation_rate, 0.0, 1.0, lo_open=True, hi_open=True)
    shift = check_float("shift", shift)
    if objective.kind != OK.KIND_LEAST_SQUARES:
        raise HDOInputError(f"assert_shift_invariant supports least-squares objectives only (a "
                            f"zero-feature sample has a constant loss), got {objective.name}")
    const = objective.shard(node)[::4]
    feats = objective.data[2].copy()
    feats[const] = 0.0
    t2 = objective.data[3].copy()
    t2[const] += shift
    Fa = _with_data(objective, feats=feats)
    Fb = _with_data(objective, feats=feats, targets=t2)
    seed = _seed(seed, "assert_shift_invariant", objective, spec, node, x, shift, tol)
    n = draws_for_pathwise(power, violation_rate)
    return _pathwise(Fa, spec, node, x, seed, n, [(Fb, 1.0), (Fa, -1.0)], tol,
                     "not shift invariant")
