"""Confidence intervals, p-values, Holm's procedure, the holds / violated / equivalent /
inconclusive decision rule, optional stopping (alpha spending over looks), and slope fits.

Every empirical quantity the verification reports is an :class:`Estimate`: a point value with
the ingredients of a confidence interval (standard error and degrees of freedom, or the
radius rule for a vector norm). Intervals are built only at decision time, once the number of
decisions in the run is known, so the family-wise correction can be applied:

* **Holm** (step-down) over the one-sided null hypotheses of one family's records
  (:func:`decide_family`): a record with relation ``le`` carries "theta <= bound" (rejected:
  **violated**) and "theta >= bound" (rejected: **holds**); with an equivalence margin
  ``delta`` also the TOST null "|theta - bound| >= delta" (rejected: **equivalent**), whose
  p-value is the larger of the two one-sided TOST p-values. At most two of a record's nulls are
  true at once, so the step-down thresholds ``alpha / min(N - j + 1, 2 m)`` (Shaffer's cap on
  the number of true nulls, ``m`` counted records, ``N`` hypotheses) are valid: the
  probability of any false verdict (false holds, violated or equivalent) in the family is at
  most ``alpha``, under any dependence, and every threshold is at least Bonferroni's
  ``alpha/(2m)`` (the old two-sided ``1 - alpha/m`` intervals), so Holm never has less power.
  Holm's decisions are those of one level: with ``k`` rejections,
  ``a* = alpha / min(N - k, 2m)`` separates rejected (``p <= a*``) from kept (``p > a*``)
  p-values, so every record is *shown* with its two-sided ``1 - 2 a*`` interval and the
  interval rule of :func:`decide` at that level reproduces Holm exactly.

Intervals:

* ``"mean"``: CLT with the Student-t quantile on ``n - 1`` degrees of freedom, corrected for
  the skewness of the estimator by Hall's transformation (:func:`hall_transform`): with
  ``T = (theta_hat - theta) / se`` and ``a = skew`` (the estimator's own skewness
  ``kappa_3 / se^3``; ``gamma_hat / sqrt(n)`` for a mean of ``n`` draws of sample skewness
  ``gamma_hat``), the Edgeworth expansion of the studentized mean
  ``P(T <= x) = Phi(x) + a (2 x^2 + 1) phi(x) / 6 + O(1/n)`` is removed to ``O(1/n)`` by the
  monotone map ``g(T) = T + a/6 + a T^2/3 + a^2 T^3/27`` (Hall 1992, JRSS B 54, 221-228), and
  the interval is ``{theta: |g(T)| <= q}``, ``q`` the Student-t quantile:
  ``[theta_hat - se g^{-1}(q), theta_hat - se g^{-1}(-q)]``. A right-skewed quantity
  (``a > 0``; a Monte Carlo mean of fourth powers) gets an interval reaching further to the
  right; ``a = 0`` is the plain t interval. Why: the plain t interval's lower tail on a
  right-skewed statistic is too light at Holm's small per-side levels (docs/calibration.md:
  ``E ||(u.g) u||^2``, 2000 draws, per-side 0.0025: "interval entirely below the truth" at
  rate 0.0068 with the t interval, 0.0032 with this one; "entirely above" 0.0006 and 0.0027).
* ``"norm"``: for ``||m||`` where ``m`` is a mean vector of ``N`` i.i.d. draws with covariance
  ``S``: by the CLT ``e = m_hat - m ~ N(0, S/N)``, and Gaussian concentration of the 1-Lipschitz
  map ``z -> ||(S/N)^{1/2} z||`` with ``lambda_max <= tr S`` gives
  ``||e|| <= sqrt(tr S / N) (1 + sqrt(2 ln(2/alpha)))`` with probability ``>= 1 - alpha/2``. By the
  triangle inequality the interval is ``||m_hat|| -/+`` that radius, clipped at 0 (conservative,
  valid also when ``m = 0``; the same rule as :mod:`.estimators.monte_carlo`). ``se`` holds
  ``sqrt(tr S / N)``.
* ``"slope"``: OLS slope of the log of replica means against the log of the grid variable; its
  standard error comes from a replica bootstrap (replicas resampled within each grid point,
  the fit repeated; each point's bootstrap means rescaled by ``sqrt(R_k / (R_k - 1))`` so that
  their variance is the unbiased ``s_k^2 / R_k``, not the plug-in ``(R_k - 1)/R_k`` of it), and
  the interval uses the Student-t quantile on the Satterthwaite degrees of freedom of that
  variance (:func:`loglog_slope`; normal when ``dof`` is infinite). Why: with 16 replicas per
  point the plain bootstrap s.e. with the normal quantile missed on each side about 3x the
  per-side level 0.0025 (docs/calibration.md, slope family).
* ``"exact"``: no sampling error (a closed form or a deterministic computation, e.g. the
  exact expected dynamics of :mod:`hdo_theory.exact`); the interval is
  ``value -/+ 1e-9 max(1, |value|)``, floating-point rounding only. An inequality decided on an
  exact value is never inconclusive (:func:`decide`): **holds** when the value satisfies the
  relation up to that rounding, **violated** otherwise. Exact decisions spend no error
  probability, so the count ``m`` leaves them out (:func:`counted_decisions`).

Optional stopping: an estimate taken at look ``k`` of a planned schedule carries the share
``spend = w_k`` of the error probability that look may use (:func:`spending_weights`, fixed
before any data); its p-values are divided by ``w_k`` and its interval is built at
``alpha * w_k``. By the union bound over the planned looks the guarantee holds whatever rule
decides when to stop (:func:`run_sequential`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as _st

DEFAULT_ALPHA = 0.05
VERDICTS = ("holds", "violated", "equivalent", "inconclusive", "outside assumptions")
OUTSIDE = "outside the lemma's assumptions"
EXACT_RTOL = 1e-9
#: the per-side level a sequential claim stops at (``verify --budget``): Holm's worst level for
#: a family of 200 records, ``alpha / 400``. Any stopping rule keeps the guarantee (the looks'
#: spending weights do that); this one only decides when more replicas stop paying.
PLANNING_LEVEL = DEFAULT_ALPHA / 400


@dataclass(frozen=True)
class Estimate:
    """A point estimate with what it takes to build a confidence interval at any level."""

    value: float
    se: float = 0.0
    dof: float = math.inf
    n: int = 0
    method: str = "mean"  # "mean" | "norm" | "slope" | "exact"
    #: share of the error probability this estimate may use: ``w_k`` of its look under an
    #: optional-stopping schedule (:func:`spending_weights`), 1 for a fixed sample size
    spend: float = 1.0
    #: skewness of the estimator's sampling distribution, ``kappa_3 / se^3`` (``"mean"`` only;
    #: :func:`hall_transform`); 0: symmetric, the plain t interval
    skew: float = 0.0

    def interval(self, alpha: float) -> tuple[float, float]:
        """Two-sided ``1 - alpha * spend`` confidence interval (``1 - alpha`` at a fixed size)."""
        alpha = alpha * float(self.spend)
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
        elif self.method in ("mean", "slope") and math.isfinite(self.dof):
            q = float(_st.t.ppf(1 - alpha / 2, max(self.dof, 1)))
        else:
            q = float(_st.norm.ppf(1 - alpha / 2))
        if self.method == "mean" and self.skew:
            a = float(self.skew)
            lo, hi = v - se * hall_inverse(q, a), v - se * hall_inverse(-q, a)
        else:
            lo, hi = v - q * se, v + q * se
        if self.method == "norm":
            lo = max(lo, 0.0)
        return lo, hi

    def as_dict(self) -> dict:
        return asdict(self)


def mean_estimate(samples) -> Estimate:
    """CLT estimate of ``E[X]`` from i.i.d. draws: t interval on ``n - 1`` dof with Hall's
    skewness correction (:func:`hall_transform`).

    .. math::

        \\hat\\theta = \\bar x,\\quad \\mathrm{se} = s / \\sqrt n,\\quad
        \\mathrm{skew} = \\hat\\gamma / \\sqrt n,\\quad
        \\hat\\gamma = \\tfrac1n \\sum_i (x_i - \\bar x)^3 / s^3

    (``skew`` 0 below 3 draws or when ``s = 0``). The correction is used only when the draws
    resolve the skewness, ``|gamma_hat| > 2 sd(gamma_hat)`` with the normal-theory
    ``sd(gamma_hat)^2 = 6 (n - 2) / ((n + 1)(n + 3))``; otherwise ``skew = 0`` (the plain t
    interval). Why: with few draws ``gamma_hat`` is mostly noise, and the expansion evaluated
    at Holm's far quantiles then stretches one side of the interval by many standard errors
    (claim 4's 12 shard splits: ``gamma_hat = -0.79`` against its sd ``0.55`` moved the lower
    limit to 19.5 se below the mean at the t quantile 5.5), where the one-term expansion is
    no longer a correction.
    """
    x = np.asarray(samples, dtype=np.float64).ravel()
    n = x.shape[0]
    if n == 0:
        return Estimate(math.nan, math.nan, 0, 0)
    if n == 1:
        return Estimate(float(x[0]), math.inf, 0, 1)
    mean = float(x.mean())
    sd = float(x.std(ddof=1))
    skew = 0.0
    if n >= 3 and sd > 0 and math.isfinite(sd):
        gamma = float(np.mean((x - mean) ** 3)) / sd**3
        sd_gamma = math.sqrt(6.0 * (n - 2) / ((n + 1) * (n + 3)))
        if math.isfinite(gamma) and abs(gamma) > 2.0 * sd_gamma:
            skew = gamma / math.sqrt(n)
    return Estimate(mean, sd / math.sqrt(n), n - 1, n, skew=skew)


def hall_transform(t, a: float):
    """Hall's (1992) skewness-removing transformation of a studentized statistic ``t`` whose
    estimator has skewness ``a`` (``gamma / sqrt(n)`` for a mean):

    .. math::

        g(t) = t + \\frac a6 + \\frac{a t^2}3 + \\frac{a^2 t^3}{27}
             = \\frac{(1 + a t / 3)^3 - 1}a + \\frac a6 .

    ``P(T <= x) = Phi(x) + a (2x^2 + 1) phi(x) / 6 + O(1/n)`` for the studentized mean (the
    first Edgeworth term; its ``(2x^2 + 1)/6`` is the studentized one, ``E T = -a/2`` and
    ``kappa_3(T) = -2a``), so ``g(T)`` is standard normal to ``O(1/n)``; ``g`` is increasing
    (``g' = (1 + a t/3)^2``) for every ``a``, so intervals and p-values stay inverses.
    """
    return t + a / 6.0 + a * t * t / 3.0 + a * a * t**3 / 27.0


def hall_inverse(y: float, a: float) -> float:
    """The inverse of :func:`hall_transform`:
    ``g^{-1}(y) = (3/a) ((1 + a (y - a/6))^{1/3} - 1)`` (real cube root; ``y`` at ``a = 0``)."""
    if a == 0.0:
        return float(y)
    u = a * (y - a / 6.0)
    # (1 + u)^(1/3) - 1 without cancellation for small a
    c = math.expm1(math.log1p(u) / 3.0) if u > -1.0 else float(np.cbrt(1.0 + u)) - 1.0
    return 3.0 * c / a


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
    """``factor * e`` (a negative factor mirrors the skewness)."""
    return Estimate(e.value * factor, e.se * abs(factor), e.dof, e.n, e.method, e.spend,
                    e.skew if factor >= 0 else -e.skew)


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
           outside: list[str] | None = None, margin: float | None = None) -> Decision:
    """Apply the decision rule to the two-sided ``1 - alpha`` interval (``alpha`` already
    corrected; :func:`decide_family` passes ``2 a*``, Holm's level).

    ``relation`` is what the claim asserts about the true value ``theta``; the verdicts are
    tried in this order of precedence:

    * ``"le"`` (``theta <= bound``): **holds** if the upper limit is below the bound,
      **violated** if the lower limit is above it, **equivalent** (only with an equivalence
      ``margin`` ``delta > 0``, absolute) if the interval lies inside
      ``(bound - delta, bound + delta)`` (TOST: no difference beyond the margin), else
      **inconclusive**;
    * ``"ge"`` (``theta >= bound``): mirror image;
    * ``"eq"`` (an exact identity): **holds** if the interval contains the value (no evidence
      against it), **violated** if it excludes it (no margin).

    A configuration outside the statement's assumptions (``outside`` non-empty) gets the verdict
    "outside assumptions", whatever the numbers.
    """
    lo, hi = est.interval(alpha)
    level = 1 - alpha * float(est.spend)
    if outside:
        return Decision("outside assumptions", f"{OUTSIDE}: " + "; ".join(outside), lo, hi, level)
    if not (math.isfinite(est.value) and math.isfinite(bound)):
        return Decision("inconclusive", "non-finite estimate or bound", lo, hi, level)
    if est.method == "exact" and relation in ("le", "ge"):
        return _decide_exact(float(est.value), float(bound), relation)
    ci = f"{100 * level:.4g}% CI [{lo:.4g}, {hi:.4g}]"
    if relation in ("le", "ge"):
        below = Decision("holds" if relation == "le" else "violated",
                         f"{ci} lies below {bound:.4g}", lo, hi, level)
        above = Decision("violated" if relation == "le" else "holds",
                         f"{ci} lies above {bound:.4g}", lo, hi, level)
        if hi < bound:
            return below
        if lo > bound:
            return above
        if margin is not None and bound - margin < lo and hi < bound + margin:
            return Decision("equivalent", f"{ci} lies within {bound:.4g} -/+ {margin:.3g} (the "
                            f"equivalence margin): no difference beyond the margin", lo, hi,
                            level)
        beyond = (f", and reaches beyond the equivalence margin -/+ {margin:.3g}"
                  if margin is not None else "")
        what = "the bound " if relation == "le" else ""
        return Decision("inconclusive", f"{ci} contains {what}{bound:.4g}{beyond}", lo, hi,
                        level)
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
# One-sided p-values (the inverses of Estimate.interval), Holm, TOST
# ---------------------------------------------------------------------------------------------


def p_above(est: Estimate, bound: float) -> float:
    """One-sided p-value of the null ``theta <= bound`` (small when the estimate is well above).

    The inverse of :meth:`Estimate.interval`: ``p_above(est, b) <= a`` exactly when the lower
    limit of the two-sided ``1 - 2a`` interval is above ``b`` (same quantile, same method), and
    divided by ``est.spend`` under optional stopping (capped at 1).

    .. math::

        p = \\bar F\\big((\\hat\\theta - b) / \\mathrm{se}\\big)

    with ``F`` the Student-t (``"mean"`` with finite dof) or normal law; for ``"norm"`` the
    radius rule ``q = 1 + sqrt(2 ln(1/a))`` inverted: ``p = exp(-(z - 1)^2 / 2)`` for ``z > 1``.
    """
    return _p_one_sided(est, float(bound), +1)


def p_below(est: Estimate, bound: float) -> float:
    """One-sided p-value of the null ``theta >= bound`` (mirror of :func:`p_above`)."""
    return _p_one_sided(est, float(bound), -1)


def _p_one_sided(est: Estimate, bound: float, sign: int) -> float:
    v, se, w = float(est.value), float(est.se), float(est.spend)
    if not (math.isfinite(v) and math.isfinite(bound)) or math.isnan(se):
        return 1.0
    if est.method == "exact" or se == 0.0:
        tol = EXACT_RTOL * max(1.0, abs(v))  # the rounding interval of Estimate.interval
        return 0.0 if sign * (v - bound) > tol else 1.0
    if est.method == "norm" and sign > 0 and bound < 0.0:
        return 0.0  # a norm is >= 0 > bound (the interval is clipped at 0)
    z = sign * (v - bound) / se
    if est.method == "mean" and est.skew:
        z = sign * hall_transform((v - bound) / se, float(est.skew))  # Hall: g(T) ~ t
    if est.method == "norm":
        p = math.exp(-0.5 * (z - 1.0) ** 2) if z > 1.0 else 1.0
    elif est.method in ("mean", "slope") and math.isfinite(est.dof):
        p = float(_st.t.sf(z, max(est.dof, 1)))
    else:
        p = float(_st.norm.sf(z))
    return min(1.0, p / w)


def tost_p(est: Estimate, bound: float, margin: float) -> float:
    """p-value of the equivalence null ``|theta - bound| >= margin`` (two one-sided tests):
    the larger of ``p_above(bound - margin)`` and ``p_below(bound + margin)``. It is ``<= a``
    exactly when the ``1 - 2a`` interval lies inside ``(bound - margin, bound + margin)``."""
    return max(p_above(est, bound - margin), p_below(est, bound + margin))


def record_pvalues(est: Estimate, bound: float, relation: str,
                   margin: float | None = None) -> dict:
    """The one-sided null hypotheses of one record and their p-values, keyed by the verdict a
    rejection gives: ``le``: ``violated`` (null ``theta <= bound``), ``holds`` (null
    ``theta >= bound``) and, with a margin, ``equivalent`` (:func:`tost_p`); ``ge`` mirrored;
    ``eq``: ``violated above`` and ``violated below`` (both nulls are the identity)."""
    if relation == "le":
        out = {"violated": p_above(est, bound), "holds": p_below(est, bound)}
    elif relation == "ge":
        out = {"violated": p_below(est, bound), "holds": p_above(est, bound)}
    elif relation == "eq":
        return {"violated above": p_above(est, bound), "violated below": p_below(est, bound)}
    else:
        raise ValueError(f"relation must be le, ge or eq, got {relation!r}")
    if margin is not None:
        out["equivalent"] = tost_p(est, bound, margin)
    return out


def holm(pvalues, alpha: float, max_true: int | None = None) -> tuple[list[bool], float]:
    """Holm's step-down procedure at family-wise level ``alpha``; ``(rejected, a*)``.

    Sort the ``N`` p-values, ``p_(1) <= ... <= p_(N)``, and reject ``p_(1), ..., p_(k)`` for the
    largest ``k`` with ``p_(j) <= alpha / c_j`` for every ``j <= k``, where

    .. math::

        c_j = \\min(N - j + 1,\\ M)

    and ``M = max_true`` bounds how many nulls can be true at once (Shaffer 1986; ``None``:
    ``M = N``, plain Holm). Valid under any dependence: if the first true null rejected has
    rank ``j``, all ``m_0 <= min(N - j + 1, M)`` true nulls are still in play, so a false
    rejection needs ``min_{true} p <= alpha / m_0``, probability ``<= alpha``. ``a*`` is the one
    level reproducing the decisions: rejected exactly when ``p <= a* = alpha / c_{k+1}``
    (``alpha`` when all are rejected).
    """
    p = np.asarray(list(pvalues), dtype=np.float64)
    N = p.shape[0]
    M = N if max_true is None else max(1, min(int(max_true), N))
    order = np.argsort(p, kind="stable")
    k = 0
    while k < N and p[order[k]] <= alpha / min(N - k, M):
        k += 1
    level = alpha / min(N - k, M) if k < N else alpha
    rejected = [bool(x <= level) for x in p] if k < N else [True] * N
    return rejected, float(level)


@dataclass(frozen=True)
class FamilyDecision:
    """What :func:`decide_family` decided: one :class:`Decision` per item and the procedure."""

    decisions: list
    level: float  # Holm's one-sided level a*; every interval is shown at 1 - 2 a* (x spend)
    alpha: float  # the family-wise level
    m: int  # records counted (inside their assumptions, not exact)
    n_hypotheses: int  # N: their one-sided nulls
    max_true: int  # M = 2 m: the most nulls that can be true at once
    rejected: int  # nulls rejected
    pvalues: list  # per item: {verdict: p} (empty for uncounted items)

    @property
    def bonferroni_level(self) -> float:
        """The per-side level Bonferroni would use (``alpha / (2m)``); ``level`` >= it."""
        return self.alpha / max(2 * self.m, 1)


def decide_family(items, alpha: float = DEFAULT_ALPHA) -> FamilyDecision:
    """Decide one multiple-testing family by Holm (:func:`holm`, ``M = 2 m``).

    ``items``: tuples ``(estimate, bound, relation, outside, margin)`` (``margin``: the absolute
    equivalence margin or None). Items outside their assumptions and exact estimates are not
    counted (no sampling error to spend on); the others contribute the nulls of
    :func:`record_pvalues`. Every item is then decided by :func:`decide` on its two-sided
    ``1 - 2 a*`` interval, which reproduces Holm's rejections (``p <= a*``) exactly and
    applies the precedence holds, violated, equivalent, inconclusive.
    """
    items = [tuple(it) for it in items]
    counted = [not out and est.method != "exact" for est, _b, _r, out, _m in items]
    pvals, flat = [], []
    for (est, bound, rel, _out, margin), c in zip(items, counted, strict=True):
        pv = record_pvalues(est, float(bound), rel, margin) if c else {}
        pvals.append(pv)
        flat += list(pv.values())
    m = int(sum(counted))
    rejected, level = holm(flat, alpha, max_true=2 * m)
    decisions = [decide(est, float(bound), 2 * level, rel, out, margin)
                 for est, bound, rel, out, margin in items]
    return FamilyDecision(decisions, level, float(alpha), m, len(flat), 2 * m,
                          int(sum(rejected)), pvals)


# ---------------------------------------------------------------------------------------------
# Optional stopping: planned looks, alpha spending, the sequential loop
# ---------------------------------------------------------------------------------------------


def look_schedule(first: int, budget: int) -> list[int]:
    """Planned looks: ``first, 2 first, 4 first, ...`` replicas, the last one ``budget``.

    Fixed by the two numbers before any data, so the spending weights are too.
    """
    first, budget = max(1, int(first)), max(1, int(budget))
    looks = []
    n = min(first, budget)
    while n < budget:
        looks.append(n)
        n *= 2
    return looks + [budget]


def spending_weights(looks) -> list[float]:
    """Share ``w_k`` of the error probability spent at look ``k``: proportional to the
    replicas of the look (linear alpha spending in the information fraction), summing to 1.

    .. math::

        w_k = n_k / \\sum_j n_j

    By the union bound over the planned looks, ``P(some look k rejects a true null at level
    a w_k) <= sum_k a w_k = a``, whatever rule decides when to stop; so an estimate of look
    ``k`` tested with p-values ``p / w_k`` (:attr:`Estimate.spend`) keeps the fixed-size
    guarantee under optional stopping. With doubling looks about half of the error
    probability is kept for the last look (the full budget).
    """
    n = np.asarray(list(looks), dtype=np.float64)
    return list(n / n.sum())


@dataclass(frozen=True)
class SequentialRun:
    estimate: Estimate  # the estimate of the last look taken, its spend set
    replicas: int  # replicas used
    looks: list  # the planned looks
    looks_taken: int
    stopped_by: str  # "decided" | "budget" | "time limit"

    def as_dict(self) -> dict:
        return {"replicas": self.replicas, "looks": list(self.looks),
                "looks_taken": self.looks_taken, "stopped_by": self.stopped_by,
                "spend": self.estimate.spend,
                "rule": "doubling looks, linear alpha spending (w_k = n_k / sum_j n_j)"}


def run_sequential(estimate_at, decided, first: int, budget: int, time_limit=None,
                   clock=None) -> SequentialRun:
    """Take the planned looks (:func:`look_schedule`) until ``decided(estimate)`` or the budget.

    ``estimate_at(n)`` returns the :class:`Estimate` from the first ``n`` replicas (replica
    streams indexed by replica, so the result is bit-identical whatever the stopping point and
    resumable); ``decided(est)`` is the stopping rule (any rule keeps the guarantee, see
    :func:`spending_weights`). ``time_limit`` (seconds, None: none) is only a cap: a run it stops
    early is marked ``stopped_by = "time limit"`` (then not reproducible by the budget alone).
    """
    import time

    clock = clock or time.perf_counter
    looks = look_schedule(first, budget)
    w = spending_weights(looks)
    t0 = clock()
    est, why = None, "budget"
    k = 0
    for k, n in enumerate(looks):
        est = Estimate(**{**asdict(estimate_at(n)), "spend": w[k]})
        if decided(est):
            why = "decided"
            break
        if k + 1 < len(looks) and time_limit is not None and clock() - t0 > time_limit:
            why = "time limit"
            break
    return SequentialRun(est, looks[k], looks, k + 1, why)


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
    replicas for the slope's s.e., with degrees of freedom for a t interval.

    ``replicas[k]`` holds the independent replica values at grid point ``x[k]`` (replicas
    at different grid points are independent runs). Grid points with non-positive means are
    dropped (log undefined); at least two, at two distinct ``x``, are needed.

    Resample ``b`` draws each point's replicas with replacement; its means are rescaled,
    ``m_k + sqrt(R_k/(R_k-1)) (m*_k - m_k)``, so each has the unbiased variance ``s_k^2/R_k``
    (the plain bootstrap's is ``(R_k - 1)/R_k`` of it), and ``se`` is the standard deviation
    of the resampled slopes. Its degrees of freedom are Satterthwaite's for the delta-method
    variance of the slope, a weighted sum of independent ``s_k^2`` on ``R_k - 1`` dof:

    .. math::

        \\hat s = \\sum_k c_k \\log m_k,\\quad
        c_k = \\frac{\\ell_k - \\bar\\ell}{\\sum_j (\\ell_j - \\bar\\ell)^2},\\quad
        w_k = c_k^2 \\frac{s_k^2}{R_k m_k^2},\\quad
        \\nu = \\frac{(\\sum_k w_k)^2}{\\sum_k w_k^2 / (R_k - 1)}

    (``ell_k = log x_k``; ``nu`` infinite, the normal quantile, when a point has one replica).
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
    m = means[keep]
    R = np.array([r.shape[0] for r in kept], dtype=np.float64)
    inflate = np.sqrt(np.where(R > 1, R / np.maximum(R - 1, 1), 1.0))
    boots = []
    for bm in m + inflate * (_bootstrap_means(kept, n_boot, rng) - m):
        if np.all(bm > 0):
            boots.append(_ols(lx, np.log(bm))[0])
    se = float(np.std(boots, ddof=1)) if len(boots) > 10 else math.inf
    return SlopeFit(Estimate(s, se, _slope_dof(lx, kept, m), int(R.sum()), "slope"), a,
                    list(x), list(means))


def _slope_dof(lx, kept, m) -> float:
    """Satterthwaite's degrees of freedom of the slope's delta-method variance
    (:func:`loglog_slope`); infinite when a point has a single replica or no spread."""
    R = np.array([r.shape[0] for r in kept], dtype=np.float64)
    if np.any(R < 2):
        return math.inf
    c = (lx - lx.mean()) / np.sum((lx - lx.mean()) ** 2)
    w = c**2 * np.array([r.var(ddof=1) for r in kept]) / (R * m**2)
    den = float(np.sum(w**2 / (R - 1)))
    dof = float(w.sum()) ** 2 / den if den > 0 else math.inf
    return dof if math.isfinite(dof) else math.inf


def _bootstrap_means(kept, n_boot: int, rng) -> np.ndarray:
    """``(n_boot, K)`` replica-bootstrap means: resample ``i``, grid point ``k`` draws
    ``rng.integers(0, R_k, R_k)`` in the order resample-major, grid point, replica.

    With one replica count ``R`` at every grid point the indices come from one call
    ``rng.integers(0, R, (n_boot, K, R))``, which draws the same numbers in the same order as
    the loop (the fallback for unequal counts), so the fit is bit-identical either way
    (tests/test_stats.py checks) and the batched path is several times faster.
    """
    sizes = {r.shape[0] for r in kept}
    if len(sizes) == 1:
        R = sizes.pop()
        idx = rng.integers(0, R, (n_boot, len(kept), R))
        Y = np.stack(kept)
        return np.take_along_axis(np.broadcast_to(Y, idx.shape), idx, axis=2).mean(axis=2)
    return np.array([[r[rng.integers(0, r.shape[0], r.shape[0])].mean() for r in kept]
                     for _ in range(n_boot)])


def predicted_exponent(x, bound_values) -> float:
    """OLS slope of ``log bound`` against ``log x`` over the same grid (:func:`loglog_fit`):
    the bound's exponent, log factors included exactly as they act on that grid."""
    return loglog_fit(x, bound_values)[0]


def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """``P(Bin(n, p) >= k)``: the p-value for "the violation rate exceeds ``p``"."""
    return float(_st.binom.sf(k - 1, n, p))
