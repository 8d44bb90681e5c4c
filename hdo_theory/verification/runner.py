"""Run claims, decide every record at the family-wise corrected level, and summarise.

Decision procedure (see :mod:`.stats`): all records of a run are decided together.
With ``m`` decided records (those inside their statement's assumptions) each interval is
two-sided at level ``1 - alpha/m`` (**Bonferroni**, family-wise ``alpha = 0.05`` by default), so
the probability that any true one-sided claim is reported "violated" is at most ``alpha/2``
(at most ``alpha`` counting equality claims). Records outside a statement's assumptions are
reported as such and not counted.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from hdo_theory.errors import HDOInputError
from hdo_theory.verification import stats as S
from hdo_theory.verification.claims import REGISTRY, Context


@dataclass
class ClaimRun:
    claim: object
    records: list
    seconds: float
    error: str | None = None


@dataclass
class VerifyResult:
    scale: str
    seed: int
    alpha: float
    per_record_alpha: float
    runs: list
    figures: dict
    findings: list
    seconds: float

    @property
    def records(self):
        return [r for run in self.runs for r in run.records]

    def counts(self) -> dict:
        out = {v: 0 for v in S.VERDICTS}
        for r in self.records:
            out[r.decision.verdict] += 1
        return out

    def claim_verdict(self, run: ClaimRun) -> str:
        """Summary verdict of one claim: violated > inconclusive > holds; errors reported."""
        if run.error:
            return "error"
        vs = {r.decision.verdict for r in run.records}
        for v in ("violated", "inconclusive", "holds", "outside assumptions"):
            if v in vs:
                return v
        return "no records"


def resolve_ids(ids) -> list[str]:
    """Validate claim IDs (exact ID or a prefix such as ``lemma1``)."""
    if not ids:
        return list(REGISTRY)
    out = []
    for cid in ids:
        hits = [k for k in REGISTRY if k == cid or k.startswith(cid + ".")]
        if not hits:
            known = ", ".join(REGISTRY)
            raise HDOInputError(f"unknown claim ID {cid!r}; known IDs: {known}")
        out.extend(h for h in hits if h not in out)
    return out


def decide_all(records, alpha: float) -> float:
    """Decide every record in place; returns the per-record level used."""
    m = sum(1 for r in records if not r.outside)
    a = S.bonferroni_alpha(alpha, m)
    for r in records:
        if r.margin is not None:
            d = S.decide(r.margin, 0.0, a, r.relation, r.outside)
            r.decision = d
        else:
            r.decision = S.decide(r.estimate, r.bound, a, r.relation, r.outside)
    return a


def run_verification(ids=None, scale: str = "quick", seed: int = 0, alpha: float = S.DEFAULT_ALPHA,
                     log=print) -> VerifyResult:
    ids = resolve_ids(ids)
    ctx = Context(scale=scale, seed=seed, log=log)
    t0 = time.perf_counter()
    runs = []
    for k, cid in enumerate(ids, 1):
        claim = REGISTRY[cid]
        log(f"[{k}/{len(ids)}] {cid} ({claim.reference}) ...")
        t1 = time.perf_counter()
        try:
            recs = claim.run(ctx)
            err = None
        except HDOInputError:
            raise
        except Exception as exc:  # one claim failing must not lose the others' results
            recs, err = [], f"{type(exc).__name__}: {exc}"
        dt = time.perf_counter() - t1
        runs.append(ClaimRun(claim, recs, dt, err))
        log(f"      {len(recs)} records in {dt:.1f} s" + (f"  ERROR {err}" if err else ""))
    a = decide_all([r for run in runs for r in run.records], alpha)
    findings = list(ctx.findings) + auto_findings(runs)
    return VerifyResult(scale, seed, alpha, a, runs, ctx.figures, findings,
                        time.perf_counter() - t0)


def _size(cfg: dict) -> tuple:
    """Order configurations by size (smallest first) for "smallest reproducing configuration"."""
    keys = ("d", "n", "n0", "T", "steps", "replicas", "draws")
    return tuple(cfg.get(k, 0) if isinstance(cfg.get(k, 0), (int, float)) else 0 for k in keys)


def _cfg_text(cfg: dict) -> str:
    keep = ("objective", "d", "n", "n0", "n1", "eta", "nu", "T", "steps", "batch", "reading",
            "replicas", "draws")
    return ", ".join(f"{k}={cfg[k]:.4g}" if isinstance(cfg[k], float) else f"{k}={cfg[k]}"
                     for k in keep if k in cfg and not isinstance(cfg[k], (list, dict)))


def auto_findings(runs) -> list[dict]:
    """Findings derived from the decided records: violations, bounds loose by >= 100x,
    fitted O() constants of Theorem 1."""
    out = []
    for run in runs:
        recs = run.records
        bad = [r for r in recs if r.decision.verdict == "violated"]
        if bad and not run.claim.own_finding:
            r = min(bad, key=lambda r: _size(r.config))
            out.append({"title": f"{run.claim.id}: violated ({len(bad)} of {len(recs)} records)",
                        "text": f"{r.reference}: {r.quantity} = {r.estimate.value:.4g} against "
                                f"{r.bound_label} = {r.bound:.4g} ({r.decision.reason}). "
                                f"Smallest configuration: {_cfg_text(r.config)}, seed {r.seed}.",
                        "config": r.config})
        loose = [r for r in recs if r.relation == "le" and r.bound > 0 and r.margin is None
                 and r.estimate.value > 0 and r.ratio < 1e-2
                 and r.decision.verdict == "holds"]
        if loose and run.claim.report_looseness:
            r = min(loose, key=lambda r: _size(r.config))
            lo = min(x.ratio for x in loose)
            out.append({"title": f"{run.claim.id}: bound loose by orders of magnitude",
                        "text": f"{len(loose)} of {len(recs)} records have empirical/bound "
                                f"< 1e-2 (smallest ratio {lo:.2g}; {r.bound_label}). Smallest "
                                f"configuration: {_cfg_text(r.config)} (ratio {r.ratio:.2g}).",
                        "config": r.config})
        for r in recs:
            if "fitted_constant" in r.extra:
                out.append({"title": f"{run.claim.id}: fitted O() constant",
                            "text": f"Smallest C with replica-mean <= C x explicit bound "
                                    f"(constants as printed) on the grid: C = "
                                    f"{r.extra['fitted_constant']:.3g}; fitted slope "
                                    f"{r.estimate.value:.3f} vs the bound's exponent "
                                    f"{r.bound:.3f} ({r.decision.verdict}). Configuration: "
                                    f"{_cfg_text(r.config)}.", "config": r.config})
    return out


def fmt(x, digits=3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"
