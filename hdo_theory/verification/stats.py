"""Confidence intervals, the holds / violated / inconclusive decision rule, and slope fits.

Every empirical quantity the verification reports is an :class:`Estimate`: a point value with
the ingredients of a confidence interval (standard error and degrees of freedom, or the
radius rule for a vector norm). Intervals are built only at decision time, once the number of
decisions in the run is known, so the family-wise correction can be applied:

* **Bonferroni** over all ``m`` decisions of one run: each interval is two-sided at level
  ``1 - alpha/m``. For a true one-sided claim a false "violated" needs the lower limit above
  the bound, probability at most ``alpha/(2m)``, so the run's family-wise false-violation
  probability is at most ``alpha/2`` (``alpha`` for equality claims, which can fail on both sides).

Intervals:

* ``"mean"``: CLT with the Student-t quantile on ``n - 1`` degrees of freedom.
* ``"norm"``: for ``||m||`` where ``m`` is a mean vector of ``N`` i.i.d. draws with covariance
  ``S``: by the CLT ``e = m_hat - m ~ N(0, S/N)``, and Gaussian concentration of the 1-Lipschitz
  map ``z -> ||(S/N)^{1/2} z||`` with ``lambda_max <= tr S`` gives
  ``||e|| <= sqrt(tr S / N) (1 + sqrt(2 ln(2/alpha)))`` with probability ``>= 1 - alpha/2``. By the
  triangle inequality the interval is ``||m_hat|| -/+`` that radius, clipped at 0 (conservative,
  valid also when ``m = 0``; the same rule as :mod:`.estimators.monte_carlo`). ``se`` holds
  ``sqrt(tr S / N)``.
* ``"slope"``: OLS slope of the log of replica means against the log of the grid variable; its
  standard error comes from a replica bootstrap (replicas resampled within each grid point,
  the fit repeated), and the interval uses the normal quantile.
* ``"exact"``: no sampling error (a closed form or a deterministic computation, e.g. the
  exact expected dynamics of :mod:`hdo_theory.exact`); the interval is
  ``value -/+ 1e-9 max(1, |value|)``, floating-point rounding only. An inequality decided on an
  exact value is never inconclusive (:func:`decide`): **holds** when the value satisfies the
  relation up to that rounding, **violated** otherwise. Exact decisions spend no error
  probability, so the Bonferroni count ``m`` leaves them out (:func:`counted_decisions`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as _st

DEFAULT_ALPHA = 0.05
VERDICTS = ("holds", "violated", "inconclusive", "outside assumptions")
OUTSIDE = "outside the lemma's assumptions"
EXACT_RTOL = 1e-9


@dataclass(frozen=True)
class Estimate:
    """A point estimate with what it takes to build a confidence interval at any level."""

    value: float
    se: float = 0.0
    dof: float = math.inf
    n: int = 0
    method: str = "mean"  # "mean" | "norm" | "slope" | "exact"

    def interval(self, alpha: float) -> tuple[float, float]:
        """Two-sided ``1 - alpha`` confidence interval."""
        v, se = float(self.value), float(self.se)
        if self.method == "exact" or se == 0.0:
            tol = EXACT_RTOL * max(1.0, abs(v))  # floating-point rounding only
            return v - tol, v + tol
        if not math.isfinite(v) or not math.isfinite(se):
            return -math.inf, math.inf
        if self.method == "norm":
            # the radius event ||e|| > r is one event that can push either limit past the
            # truth; spending alpha/2 on it keeps each side at alpha/2, like the t intervals
            q = 1.0 + math.sqrt(2.0 * math.log(2.0 / alpha))
        elif self.method == "mean" and math.isfinite(self.dof):
            q = float(_st.t.ppf(1 - alpha / 2, max(self.dof, 1)))
        else:
            q = float(_st.norm.ppf(1 - alpha / 2))
        lo, hi = v - q * se, v + q * se
        if self.method == "norm":
            lo = max(lo, 0.0)
        return lo, hi

    def as_dict(self) -> dict:
        return asdict(self)


def mean_estimate(samples) -> Estimate:
    """CLT estimate of ``E[X]`` from i.i.d. draws (t interval on ``n - 1`` dof)."""
    x = np.asarray(samples, dtype=np.float64).ravel()
    n = x.shape[0]
    if n == 0:
        return Estimate(math.nan, math.nan, 0, 0)
    if n == 1:
        return Estimate(float(x[0]), math.inf, 0, 1)
    return Estimate(float(x.mean()), float(x.std(ddof=1) / math.sqrt(n)), n - 1, n)


def norm_of_mean_estimate(vectors) -> Estimate:
    """Estimate of ``||E[V]||`` from i.i.d. rows of ``vectors`` (see the module docstring)."""
    V = np.asarray(vectors, dtype=np.float64)
    N = V.shape[0]
    m = V.mean(axis=0)
    tr = float(np.sum(V.var(axis=0, ddof=1))) if N > 1 else math.inf
    return Estimate(float(np.linalg.norm(m)), math.sqrt(tr / N), math.inf, N, "norm")


def exact(value: float) -> Estimate:
    return Estimate(float(value), 0.0, math.inf, 0, "exact")


def scaled(e: Estimate, factor: float) -> Estimate:
    """``factor * e`` (factor > 0)."""
    return Estimate(e.value * factor, e.se * abs(factor), e.dof, e.n, e.method)


# ---------------------------------------------------------------------------------------------
# Decision rule
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    verdict: str
    reason: str
    lo: float
    hi: float
    level: float

    def as_dict(self) -> dict:
        return asdict(self)


def decide(est: Estimate, bound: float, alpha: float, relation: str = "le",
           outside: list[str] | None = None) -> Decision:
    """Apply the decision rule at confidence level ``1 - alpha`` (already corrected).

    ``relation`` is what the claim asserts about the true value ``theta``:

    * ``"le"`` (``theta <= bound``): **holds** if the upper limit is below the bound,
      **violated** if the lower limit is above it, else **inconclusive**;
    * ``"ge"`` (``theta >= bound``): mirror image;
    * ``"eq"`` (an exact identity): **holds** if the interval contains the value (no evidence
      against it), **violated** if it excludes it.

    A configuration outside the statement's assumptions (``outside`` non-empty) gets the verdict
    "outside assumptions", whatever the numbers.
    """
    lo, hi = est.interval(alpha)
    level = 1 - alpha
    if outside:
        return Decision("outside assumptions", f"{OUTSIDE}: " + "; ".join(outside), lo, hi, level)
    if not (math.isfinite(est.value) and math.isfinite(bound)):
        return Decision("inconclusive", "non-finite estimate or bound", lo, hi, level)
    if est.method == "exact" and relation in ("le", "ge"):
        return _decide_exact(float(est.value), float(bound), relation)
    ci = f"{100 * level:.4g}% CI [{lo:.4g}, {hi:.4g}]"
    if relation == "le":
        if hi < bound:
            return Decision("holds", f"{ci} lies below {bound:.4g}", lo, hi, level)
        if lo > bound:
            return Decision("violated", f"{ci} lies above {bound:.4g}", lo, hi, level)
        return Decision("inconclusive", f"{ci} contains the bound {bound:.4g}", lo, hi, level)
    if relation == "ge":
        if lo > bound:
            return Decision("holds", f"{ci} lies above {bound:.4g}", lo, hi, level)
        if hi < bound:
            return Decision("violated", f"{ci} lies below {bound:.4g}", lo, hi, level)
        return Decision("inconclusive", f"{ci} contains {bound:.4g}", lo, hi, level)
    if relation == "eq":
        if lo <= bound <= hi:
            return Decision("holds", f"{ci} contains the exact value {bound:.6g}", lo, hi, level)
        return Decision("violated", f"{ci} excludes the exact value {bound:.6g}", lo, hi, level)
    raise ValueError(f"relation must be le, ge or eq, got {relation!r}")


def _decide_exact(value: float, bound: float, relation: str) -> Decision:
    """An inequality on an exact value: no interval, no level. Ties within floating-point
    rounding (``EXACT_RTOL`` relative) satisfy the (non-strict) relation."""
    tol = EXACT_RTOL * max(1.0, abs(value), abs(bound))
    ok = value <= bound + tol if relation == "le" else value >= bound - tol
    sign = "<=" if relation == "le" else ">="
    if ok:
        why = f"exact value {value:.6g} {sign} {bound:.6g} (no sampling error)"
        return Decision("holds", why, value, value, 1.0)
    why = f"exact value {value:.6g} breaks {sign} {bound:.6g} (no sampling error)"
    return Decision("violated", why, value, value, 1.0)


def counted_decisions(estimates_outside) -> int:
    """``m`` of the Bonferroni correction: the decisions that can err by sampling, i.e. pairs
    ``(estimate, outside)`` inside their statement's assumptions whose estimate is not exact."""
    return sum(1 for est, out in estimates_outside if not out and est.method != "exact")


def bonferroni_alpha(alpha: float, m: int) -> float:
    """Per-decision level for ``m`` decisions at family-wise ``alpha``."""
    return alpha / max(int(m), 1)


# ---------------------------------------------------------------------------------------------
# Log-log slope fits
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlopeFit:
    slope: Estimate
    intercept: float  # log of the fitted constant: y ~ exp(intercept) * x^slope
    x: list
    y_mean: list

    @property
    def constant(self) -> float:
        return math.exp(self.intercept)

    def as_dict(self) -> dict:
        return {"slope": self.slope.as_dict(), "intercept": self.intercept,
                "constant": self.constant, "x": list(self.x), "y_mean": list(self.y_mean)}


def _ols(lx, ly):
    A = np.vstack([lx, np.ones_like(lx)]).T
    coef, *_ = np.linalg.lstsq(A, ly, rcond=None)
    return float(coef[0]), float(coef[1])


def _loglog_points(x, y) -> np.ndarray:
    """The points a log-log fit uses: ``x > 0`` and finite ``y > 0`` (log defined)."""
    return (x > 0) & np.isfinite(x) & np.isfinite(y) & (y > 0)


def loglog_fit(x, y) -> tuple[float, float]:
    """``(slope, intercept)`` of the OLS fit ``log y = intercept + slope log x``.

    The package's one log-log point fit. Points with ``x <= 0`` or with ``y`` non-finite or
    non-positive are dropped (log undefined); ``(nan, nan)`` with fewer than two points left or
    a single distinct ``x``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    keep = _loglog_points(x, y)
    if keep.sum() < 2:
        return math.nan, math.nan
    lx = np.log(x[keep])
    if np.ptp(lx) == 0:
        return math.nan, math.nan
    return _ols(lx, np.log(y[keep]))


def loglog_slope(x, replicas: list, n_boot: int = 400, seed: int = 0) -> SlopeFit:
    """Fit ``log mean(Y_k) = a + s log x_k`` by OLS (:func:`loglog_fit`); bootstrap the
    replicas for the slope's s.e.

    ``replicas[k]`` holds the independent replica values at grid point ``x[k]`` (replicas
    at different grid points are independent runs). Grid points with non-positive means are
    dropped (log undefined); at least two, at two distinct ``x``, are needed.
    """
    x = np.asarray(x, dtype=np.float64)
    reps = [np.asarray(r, dtype=np.float64).ravel() for r in replicas]
    means = np.array([r.mean() for r in reps])
    s, a = loglog_fit(x, means)
    if math.isnan(s):
        return SlopeFit(Estimate(math.nan, math.nan, method="slope"), math.nan, list(x),
                        list(means))
    keep = _loglog_points(x, means)
    lx = np.log(x[keep])
    kept = [r for r, k in zip(reps, keep, strict=True) if k]
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x510BE]))
    boots = []
    for _ in range(n_boot):
        bm = np.array([r[rng.integers(0, r.shape[0], r.shape[0])].mean() for r in kept])
        if np.all(bm > 0):
            boots.append(_ols(lx, np.log(bm))[0])
    se = float(np.std(boots, ddof=1)) if len(boots) > 10 else math.inf
    return SlopeFit(Estimate(s, se, math.inf, int(sum(r.shape[0] for r in kept)), "slope"), a,
                    list(x), list(means))


def predicted_exponent(x, bound_values) -> float:
    """OLS slope of ``log bound`` against ``log x`` over the same grid (:func:`loglog_fit`):
    the bound's exponent, log factors included exactly as they act on that grid."""
    return loglog_fit(x, bound_values)[0]


def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """``P(Bin(n, p) >= k)``: the p-value for "the violation rate exceeds ``p``"."""
    return float(_st.binom.sf(k - 1, n, p))
