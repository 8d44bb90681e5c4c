"""Calibration of the verdicts, claim family by claim family.

For every family of claim (``bound``, ``identity``, ``slope``, ``comparison``, ``equivalence``,
and ``sequential``: a bound under optional stopping) this module builds an **exactly true
surrogate** (synthetic statistics with a known true value sitting exactly on the bound: the
least favourable case) and its **halved-bound twin** (the same statistics against a bound that
is false by a stated amount), and runs both through the claims' own decision code:
the estimate builders the claims use (:func:`..stats.mean_estimate`,
:func:`..stats.norm_of_mean_estimate`, :func:`..stats.loglog_slope`, the Welch difference of
the section 4 claims) and :func:`..runner.decide_families` (Holm, equivalence margins from the
:class:`~.claims.Claim`), with ``TRUE_PER_RUN`` true records and ``TWIN_PER_RUN`` twins in one
family per run, as in a verification run.

Measured per family: the **false-verdict rate** (runs in which some true record is reported
violated, or, for ``equivalence``, equivalent at a true difference equal to the margin), which
must be at most the family-wise ``alpha``, and the **power** (fraction of twin records reported
violated, or equivalent at difference 0), which must be at least 0.99. Each is judged by a
binomial test (:func:`check`) with false-failure probability ``FAIL_P``.

The surrogates:

* ``bound``: ``E ||u||^2 = d`` for ``u ~ N(0, I_d)`` (Lemma 1 item 1 at ``k = 2``, exact),
  claimed ``<= d``; twin ``<= d/2``. Plus a ``norm`` record: ``||E V|| <= ||m||`` for
  ``V ~ N(m, I)`` (the confidence-ball rule of the bias claims); twin ``<= ||m||/2``.
* ``identity``: ``E ||(u.g) u||^2 = (d + 2) ||g||^2`` (relation ``eq``); twin: half of it.
* ``slope``: replicas ``Y = C x^s exp(sigma Z - sigma^2/2)`` (so ``E Y = C x^s`` exactly) on a
  4-point grid, the replica-bootstrap log-log slope claimed ``<= s``; twin ``<= 2 s`` (the
  bound's decay twice as fast: "halved" in the exponent's scale).
* ``comparison``: two independent skewed (gamma) replica sets with equal means, difference
  claimed ``<= 0``; twin: the second set's values halved (``a - b/2 <= 0``, a halved bound).
* ``equivalence``: the same Welch difference with a claim margin of 10% of the reference mean:
  at a true difference equal to the margin the TOST rejection (interval inside -/+ margin,
  reported "equivalent" unless "violated" takes precedence) must be rare (<= alpha); at
  difference 0 "equivalent" must be found (power).
* ``sequential``: the ``bound`` surrogate under the claims' own optional-stopping code
  (:func:`.claims._common.replicas_until_decided`, as ``verify --budget`` runs it): doubling
  looks from 25 to 400 draws with alpha spending, stopped as soon as it is decided.

Command (the numbers of docs/calibration.md)::

    python -m hdo_theory.verification.calibration [--runs N] [--quick] [--json] [--tails]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

from hdo_theory.verification import stats as S

FAIL_P = 1e-3
FAMILIES = ("bound", "identity", "slope", "comparison", "equivalence", "sequential")
TRUE_PER_RUN = 8
TWIN_PER_RUN = 4
MIN_POWER = 0.99


def _claim_table(margin: float):
    from hdo_theory.verification.claims.registry import Claim

    return {"calibration.equivalence": Claim(
        "calibration.equivalence", "calibration", "difference", "-", {}, "0",
        lambda ctx: [], margin=margin, margin_reason="calibration surrogate")}


def _record(est, bound, relation="le", claim="calibration", **kw):
    from hdo_theory.verification.claims.registry import Record

    return Record(claim, "calibration", "surrogate", est, float(bound), "bound",
                  relation=relation, **kw)


def _welch(a, b) -> S.Estimate:
    from hdo_theory.verification.claims.experiment_claims import _diff

    return _diff(a, b)


# one function per family: (rng, twin) -> (record, what counts as the event)
def _bound(rng, twin, d=8, n=400):
    u2 = np.sum(rng.standard_normal((n, d)) ** 2, axis=1)  # E = d exactly
    return _record(S.mean_estimate(u2), d / 2 if twin else d)


def _bound_norm(rng, twin, d=4, n=1600):
    m = np.full(d, 0.5)  # ||m|| = 1
    V = m + rng.standard_normal((n, d))
    b = float(np.linalg.norm(m))
    return _record(S.norm_of_mean_estimate(V), b / 2 if twin else b)


def _identity(rng, twin, d=6, n=2000):
    g = np.linspace(0.5, 1.5, d)
    u = rng.standard_normal((n, d))
    G = (u @ g)[:, None] * u
    exact = (d + 2) * float(g @ g)
    return _record(S.mean_estimate(np.sum(G**2, axis=1)), exact / 2 if twin else exact, "eq")


def _slope(rng, twin, s=-1.0, R=16, sigma=0.3, n_boot=400):
    x = np.array([1.0, 2.0, 4.0, 8.0])
    reps = [2.0 * xk**s * np.exp(sigma * rng.standard_normal(R) - sigma**2 / 2) for xk in x]
    fit = S.loglog_slope(x, reps, n_boot=n_boot, seed=int(rng.integers(2**31)))
    return _record(fit.slope, 2 * s if twin else s)


def _comparison(rng, twin, R=64):
    a = rng.gamma(4.0, 0.25, R)  # mean 1, skewed like final gaps
    b = rng.gamma(4.0, 0.25, R)
    return _record(_welch(a, 0.5 * b if twin else b), 0.0)


def _equivalence(rng, twin, margin=0.1):
    # twin: true difference 0 (power to find "equivalent": 256 replicas per arm, se = margin/9);
    # else exactly the margin, with se = margin/3 (32 replicas per arm) so that "violated"
    # does not simply take precedence: the false event counted is the TOST rejection itself
    R = 256 if twin else 32
    shift = 0.0 if twin else margin
    a = rng.gamma(64.0, 1 / 64.0, R) + shift  # sd 0.125, reference mean 1
    b = rng.gamma(64.0, 1 / 64.0, R)
    return _record(_welch(a, b), 0.0, claim="calibration.equivalence", equivalence_scale=1.0)


def _sequential(rng, twin, d=8, first=25, budget=400):
    # the claims' own optional-stopping code path (verify --budget): doubling looks from 25 to
    # 400 draws, stopped at the first look decided at the planning level, alpha spending
    from hdo_theory.verification.claims import _common as C
    from hdo_theory.verification.claims.registry import Context

    u2 = np.sum(rng.standard_normal((budget, d)) ** 2, axis=1)
    bound = d / 2 if twin else d
    est, _, seq = C.replicas_until_decided(Context(budget=budget), "calibration", first,
                                           lambda n: (S.mean_estimate(u2[:n]), None), bound)
    return _record(est, bound, extra={"sequential": seq})


SURROGATES = {"bound": (_bound, _bound_norm), "identity": (_identity,), "slope": (_slope,),
              "comparison": (_comparison,), "equivalence": (_equivalence,),
              "sequential": (_sequential,)}


def _is_event(family: str, twin: bool, r) -> bool:
    """The counted event: for the true records a false verdict (violated; for equivalence the
    TOST rejection "interval inside bound -/+ margin" at a true difference equal to the margin,
    whether or not "violated" takes precedence); for the twins the verdict they must get."""
    d = r.decision
    if family == "equivalence":
        if twin:
            return d.verdict == "equivalent"
        m = r.equivalence["absolute"]
        return r.bound - m < d.lo and d.hi < r.bound + m
    return d.verdict == "violated"


def run_family(family: str, runs: int, seed: int = 0, alpha: float = S.DEFAULT_ALPHA) -> dict:
    """Simulate ``runs`` verification families of surrogate ``family``; returns the counts."""
    from hdo_theory.verification.runner import decide_families

    makers = SURROGATES[family]
    claims = _claim_table(0.1)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), FAMILIES.index(family)]))
    false_runs = twin_hits = twin_total = 0
    t0 = time.perf_counter()
    for _ in range(runs):
        true = [makers[k % len(makers)](rng, False) for k in range(TRUE_PER_RUN)]
        twins = [makers[k % len(makers)](rng, True) for k in range(TWIN_PER_RUN)]
        decide_families(true + twins, alpha, claims=claims)
        false_runs += any(_is_event(family, False, r) for r in true)
        twin_hits += sum(_is_event(family, True, r) for r in twins)
        twin_total += len(twins)
    return {"family": family, "runs": runs, "alpha": alpha, "false_runs": false_runs,
            "false_rate": false_runs / runs, "twin_hits": twin_hits, "twin_total": twin_total,
            "power": twin_hits / twin_total, "seconds": time.perf_counter() - t0,
            **check_counts(false_runs, runs, twin_hits, twin_total, alpha)}


def tail_rates(family: str, runs: int, side: float = 0.0025, seed: int = 0) -> dict:
    """Per-record one-sided miss rates of a surrogate's true records at the per-side level
    ``side`` (0.0025: Holm's level in these families): the fraction of two-sided
    ``1 - 2 side`` intervals entirely below the true value and entirely above it, each to be
    compared with ``side``. For a ``"mean"`` estimate also the same draws' plain t interval
    (skewness set to 0: the interval before Hall's correction). Families whose records are
    single surrogates: ``identity``, ``bound`` (its mean record), ``slope``, ``comparison``."""
    maker = SURROGATES[family][0]
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), FAMILIES.index(family),
                                                        0x7A11]))
    below = above = t_below = t_above = 0
    for _ in range(runs):
        r = maker(rng, False)
        e, truth = r.estimate, float(r.bound)
        lo, hi = e.interval(2 * side)
        below += hi < truth
        above += lo > truth
        if e.method == "mean":
            lo, hi = S.Estimate(e.value, e.se, e.dof, e.n, e.method).interval(2 * side)
            t_below += hi < truth
            t_above += lo > truth
    out = {"family": family, "runs": runs, "side": side, "below": below / runs,
           "above": above / runs}
    if e.method == "mean":
        out.update(plain_t_below=t_below / runs, plain_t_above=t_above / runs)
    return out


def check_counts(false_runs, runs, twin_hits, twin_total, alpha) -> dict:
    """Binomial tests: ``p_false = P(Bin(runs, alpha) >= false_runs)`` and
    ``p_power = P(Bin(twin_total, 0.99) <= twin_hits)``; each fails below ``FAIL_P`` (a
    false failure has probability < FAIL_P when the rate is at nominal / the power 0.99)."""
    from scipy import stats as st

    p_false = S.binomial_upper_tail(false_runs, runs, alpha)
    p_power = float(st.binom.cdf(twin_hits, twin_total, MIN_POWER))
    return {"p_false": p_false, "p_power": p_power,
            "ok": bool(p_false > FAIL_P and p_power > FAIL_P)}


def check(result: dict) -> None:
    """Raise AssertionError naming the family when a binomial test of :func:`run_family`
    fails."""
    if result["p_false"] <= FAIL_P:
        raise AssertionError(f"{result['family']}: false-verdict rate {result['false_rate']:.4f} "
                             f"above alpha = {result['alpha']} (p = {result['p_false']:.2g})")
    if result["p_power"] <= FAIL_P:
        raise AssertionError(f"{result['family']}: power {result['power']:.4f} below "
                             f"{MIN_POWER} (p = {result['p_power']:.2g})")


def table(results) -> str:
    head = ("| family | runs | false-verdict rate (alpha) | binomial p | power on the twin | "
            "binomial p (power >= 0.99) | seconds |")
    rows = [head, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        rows.append(f"| {r['family']} | {r['runs']} | {r['false_rate']:.4f} ({r['alpha']:g}) | "
                    f"{r['p_false']:.3g} | {r['power']:.4f} ({r['twin_hits']}/"
                    f"{r['twin_total']}) | {r['p_power']:.3g} | {r['seconds']:.1f} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m hdo_theory.verification.calibration",
                                description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=None,
                   help="runs per family (default 4000; --quick 400; slope a quarter)")
    p.add_argument("--quick", action="store_true", help="400 runs per family")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("--tails", action="store_true",
                   help="per-record one-sided miss rates at the per-side level 0.0025 "
                        "(tail_rates) of the listed families instead of the family runs")
    args = p.parse_args(argv)
    from hdo_theory.errors import check_int

    runs = check_int("--runs", args.runs if args.runs is not None
                     else (400 if args.quick else 4000), 1)
    if args.tails:
        res = [tail_rates(f, runs, seed=args.seed) for f in args.families
               if f in ("identity", "bound", "slope", "comparison")]
        print(json.dumps(res, indent=1))
        return 0
    out = []
    for fam in args.families:
        n = max(1, runs // 4) if fam == "slope" else runs  # 400 bootstrap fits per record
        out.append(run_family(fam, n, args.seed))
    print(json.dumps(out, indent=1) if args.json else table(out))
    return 0 if all(r["ok"] for r in out) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

_ = math
