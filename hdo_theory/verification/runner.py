"""Run claims, decide every record at the family-wise corrected level, and summarise.

Decision procedure (see :mod:`.stats`): the records of a run are decided together, family by
family. A record's ``family`` is ``"builtin"`` for the package's claims and the plugin's name
for a plugin's (:attr:`~.claims.Claim.family`). Within a family, **Holm's** step-down procedure
runs over the one-sided null hypotheses of its ``m`` decided records (those inside their
statement's assumptions, exact ones left out: they are decided on their value, see
:func:`.stats.decide`): "theta <= bound" (rejected: violated), "theta >= bound" (rejected:
holds), and for a claim with an equivalence margin (:attr:`~.claims.Claim.margin`) the TOST null
"|theta - bound| >= margin" (rejected: equivalent; its p-value is the larger of the two TOST
p-values). The probability of any false verdict in a family is at most ``alpha = 0.05``, and
every record is shown with its two-sided interval at Holm's level ``1 - 2 a*``, on which the
interval rule gives exactly Holm's decisions (:func:`.stats.decide_family`). Adding a plugin
never changes the built-in claims' verdicts. Records outside a statement's assumptions are
reported as such and not counted.

A claim that raises, returns something other than a list of :class:`~.claims.Record`, or (a
plugin claim) returns a record that cannot be decided (:meth:`~.claims.Record.problems`: NaN,
no interval) becomes an error record naming the claim; the run goes on.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from hdo_theory import __version__
from hdo_theory.atomic import write_text_atomic
from hdo_theory.errors import HDOInputError, check_int
from hdo_theory.serialize import jsonable
from hdo_theory.verification import stats as S
from hdo_theory.verification.claims import REGISTRY, Context, Record


@dataclass
class ClaimRun:
    claim: object
    records: list
    seconds: float
    error: str | None = None  # "Type: message" of the exception the claim raised
    #: the error record: claim id, exception type and message, configuration if known
    error_info: dict | None = None
    figures: dict = field(default_factory=dict)  # what this claim added to the report figures
    findings: list = field(default_factory=list)  # this claim's own findings
    resumed: bool = False  # reused from a previous run's claim file (--resume)


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
    #: family -> (number of decided records m, per-record level alpha/m)
    families: dict = field(default_factory=dict)

    @property
    def records(self):
        return [r for run in self.runs for r in run.records]

    @property
    def errors(self) -> list[dict]:
        """The error records: one per claim that raised."""
        return [run.error_info for run in self.runs if run.error]

    def counts(self) -> dict:
        out = {v: 0 for v in S.VERDICTS}
        for r in self.records:
            out[r.decision.verdict] += 1
        return out

    def claim_verdict(self, run: ClaimRun) -> str:
        """Summary verdict of one claim: violated > inconclusive > equivalent > holds; errors
        reported."""
        if run.error:
            return "error"
        vs = {r.decision.verdict for r in run.records}
        for v in ("violated", "inconclusive", "equivalent", "holds", "outside assumptions"):
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
    """Decide every record in place, Holm within each family (:func:`decide_families`);
    returns ``2 a*`` of the ``"builtin"`` family (of the only family when there is no built-in
    record): every interval of the family is shown at level ``1 - 2 a*``."""
    fams = decide_families(records, alpha)
    if not fams:
        return float(alpha)
    return fams.get("builtin", next(iter(fams.values())))[1]


def equivalence_of(record, claim) -> dict | None:
    """The equivalence margin of ``record`` under ``claim`` (None: no equivalence verdict):
    ``{"margin": relative, "scale": s, "absolute": margin * s, "reason": ...}`` with ``s`` the
    record's :attr:`~.claims.Record.equivalence_scale` (default ``|bound|``); identities
    (relation ``eq``) and records without a usable scale get none."""
    rel = getattr(claim, "margin", None) if claim is not None else None
    if rel is None or record.relation == "eq":
        return None
    scale = record.equivalence_scale
    if scale is None:
        scale = abs(float(record.bound))
    if not (math.isfinite(scale) and scale > 0):
        return None
    return {"margin": float(rel), "scale": float(scale), "absolute": float(rel) * float(scale),
            "reason": claim.margin_reason}


def _power_note(r, level: float) -> str:
    """Why an inconclusive record is undecided, in replicas: the factor by which its replicas
    would have to grow for power 0.99 at Holm's level ``level`` (per side), at the equivalence
    margin when the claim has one, else at the observed difference (a post-hoc figure)."""
    from scipy.stats import norm

    est = r.margin if r.margin is not None else r.estimate
    se = float(est.se)
    if not (math.isfinite(se) and se > 0) or est.method == "exact":
        return ""
    if est.method == "norm":  # the confidence-ball radius rule of Estimate.interval
        q = 1.0 + math.sqrt(2.0 * math.log(1.0 / level))
    else:
        q = float(norm.isf(level))
    z = q + float(norm.isf(0.01))
    if r.equivalence is not None:
        effect, at = r.equivalence["absolute"], "at the equivalence margin"
    else:
        b = 0.0 if r.margin is not None else float(r.bound)
        effect, at = abs(float(est.value) - b), "at the observed difference (post hoc)"
    if not effect > 0:
        return ""
    factor = (z * se / effect) ** 2
    return (f"; underpowered: about {factor:.3g}x the replicas would decide it with power 0.99 "
            f"{at}")


def decide_families(records, alpha: float, claims=None) -> dict:
    """Decide every record in place by Holm within its family (:func:`.stats.decide_family`);
    returns ``{family: (m, 2 a*, summary)}`` with ``m`` the family's counted records, ``2 a*``
    the two-sided level of its shown intervals and ``summary`` the procedure's numbers
    (hypotheses, rejections, Holm's and Bonferroni's per-side levels). ``claims``: claim id ->
    :class:`~.claims.Claim` for the equivalence margins (default: the registry)."""
    claims = REGISTRY if claims is None else claims
    groups: dict[str, list] = {}
    for r in records:
        groups.setdefault(getattr(r, "family", "builtin") or "builtin", []).append(r)
    out = {}
    for fam, recs in groups.items():
        items = []
        for r in recs:
            r.equivalence = equivalence_of(r, claims.get(r.claim))
            margin = None if r.equivalence is None else r.equivalence["absolute"]
            if r.margin is not None:  # paired estimate of empirical - bound, against 0
                items.append((r.margin, 0.0, r.relation, r.outside, margin))
            else:
                items.append((r.estimate, r.bound, r.relation, r.outside, margin))
        fd = S.decide_family(items, alpha)
        for r, d, pv in zip(recs, fd.decisions, fd.pvalues, strict=True):
            if d.verdict == "inconclusive":
                d = replace(d, reason=d.reason + _power_note(r, fd.level))
            seq = r.extra.get("sequential") if isinstance(r.extra, dict) else None
            if seq:
                what = (f"stopped by the time limit after {seq['replicas']} replicas (budget "
                        f"{seq['looks'][-1]}), not reproducible by the budget alone"
                        if seq.get("stopped_by") == "time limit" else
                        f"{seq['replicas']} replicas ({seq['stopped_by']})")
                d = replace(d, reason=f"{d.reason}; {what}")
            r.decision = d
            r.p_values = pv or None
        summary = {"procedure": "holm", "m": fd.m, "hypotheses": fd.n_hypotheses,
                   "max_true_nulls": fd.max_true, "rejected": fd.rejected,
                   "holm_level": fd.level, "bonferroni_level": fd.bonferroni_level}
        out[fam] = (fd.m, 2 * fd.level, summary)
    _point_to_exact_twins(records)
    return out


def _point_to_exact_twins(records) -> None:
    """Append to the reason of every undecided record whose ``extra["exact_twin"]`` names a
    claim the exact twin's verdicts in this run (the same statement decided on exact values,
    :mod:`.claims.exact_claims`), or that it did not run. Verdicts are not changed."""
    by_claim: dict[str, list] = {}
    for r in records:
        if r.decision is not None:
            by_claim.setdefault(r.claim, []).append(r.decision.verdict)
    for r in records:
        twin = r.extra.get("exact_twin") if isinstance(r.extra, dict) else None
        if not twin or r.decision is None or r.decision.verdict != "inconclusive":
            continue
        got = by_claim.get(twin)
        if got:
            counts = ", ".join(f"{got.count(v)} {v}" for v in S.VERDICTS if v in got)
            note = f"; its exact twin {twin} (exact values, no sampling error): {counts}"
        else:
            note = f"; its exact twin {twin} (exact values) was not run"
        r.decision = replace(r.decision, reason=r.decision.reason + note)


def error_record(cid: str, exc: BaseException, config=None) -> dict:
    """The error record of claim ``cid``: exception type and message, configuration if known."""
    return jsonable({"claim": cid, "type": type(exc).__name__, "message": str(exc),
                     "config": config})


# ---------------------------------------------------------------------------------------------
# Checking a grid without running it
# ---------------------------------------------------------------------------------------------


def check_planned(ctx, planned) -> None:
    """Build ``planned``'s objective and make the checks its run would make (nothing runs):
    :func:`hdo_theory.process.check_config` for a process configuration, the minibatch against
    the node's shard for an estimator drawn at one node."""
    from hdo_theory.estimators import EstimatorSpec
    from hdo_theory.process import ProcessConfig, check_config
    from hdo_theory.verification.claims import _common as C

    obj = (planned.build() if planned.build is not None
           else C.objective(ctx, planned.objective, **planned.objective_kwargs))
    cfg = planned.config
    if isinstance(cfg, ProcessConfig):
        check_config(obj, cfg)
    elif isinstance(cfg, EstimatorSpec):
        m = obj.shard_size(planned.node)
        if cfg.batch > m:
            raise HDOInputError(f"batch must be <= node {planned.node}'s shard size {m}, "
                                f"got {cfg.batch}")
    elif cfg is not None:
        raise TypeError(f"planned config must be a ProcessConfig, an EstimatorSpec or None, "
                        f"got {type(cfg).__name__}")


def check_claim(claim, ctx) -> int | None:
    """Check every configuration of ``claim``'s grid at ``ctx.scale`` without running it;
    returns how many were checked (None: the claim declares no ``configs``). Raises on the
    first configuration that fails, its description added to the exception (``planned``)."""
    if claim.configs is None:
        return None
    plans = claim.configs(ctx)
    for p in plans:
        try:
            check_planned(ctx, p)
        except Exception as exc:
            exc.planned = p.describe()
            raise
    return len(plans)


def check_claims(ids=None, scale: str = "quick", seed: int = 0, ctx=None) -> dict:
    """``{claim id: number of configurations checked (None: no configs declared)}``; raises on
    the first claim whose grid fails a check."""
    ctx = ctx or Context(scale=scale, seed=seed)
    return {cid: check_claim(REGISTRY[cid], ctx) for cid in resolve_ids(ids)}


# ---------------------------------------------------------------------------------------------
# One file per finished claim (resume)
# ---------------------------------------------------------------------------------------------

CLAIM_FILE_FORMAT = "hdo-theory-claim-run/1"


def claim_path(out_dir, cid: str) -> Path:
    return Path(out_dir) / "claims" / f"{cid}.json"


def _rec_to_dict(r: Record) -> dict:
    # spend and skew only when not at their defaults (older claim files stay as they were)
    est = lambda e: None if e is None else [e.value, e.se, e.dof, e.n, e.method] + (
        [e.spend] if e.spend != 1.0 or e.skew else []) + ([e.skew] if e.skew else [])
    d = {"claim": r.claim, "reference": r.reference, "quantity": r.quantity,
         "estimate": est(r.estimate), "bound": r.bound, "bound_label": r.bound_label,
         "relation": r.relation, "config": r.config, "seed": r.seed,
         "outside": list(r.outside), "margin": est(r.margin), "extra": r.extra,
         "family": r.family, "equivalence_scale": r.equivalence_scale}
    if r.measured:  # only then: the claim files of records without measured constants unchanged
        d["measured"] = list(r.measured)
    return d


def _rec_from_dict(d: dict) -> Record:
    est = lambda v: None if v is None else S.Estimate(*v)
    d = dict(d)
    d["estimate"], d["margin"] = est(d["estimate"]), est(d["margin"])
    return Record(**d)


def save_claim_run(out_dir, run: ClaimRun, scale: str, seed: int, budget=None) -> Path:
    """Write ``run`` atomically to ``<out>/claims/<id>.json`` (exact floats, inf and nan kept)."""
    data = {"format": CLAIM_FILE_FORMAT, "version": __version__, "claim": run.claim.id,
            "scale": scale, "seed": int(seed), "budget": budget, "seconds": run.seconds,
            "error": run.error,
            "error_info": run.error_info,
            "records": [_rec_to_dict(r) for r in run.records],
            "figures": run.figures, "findings": run.findings}
    path = claim_path(out_dir, run.claim.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(jsonable(data, nonfinite="keep"), allow_nan=True))
    return path


def load_claim_run(out_dir, claim, scale: str, seed: int, budget=None) -> ClaimRun | None:
    """The finished run of ``claim`` saved in ``out_dir`` by a run with the same scale, seed and
    version, or None (missing, unreadable, another setting, or an error record: rerun)."""
    path = claim_path(out_dir, claim.id)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if (data.get("format") != CLAIM_FILE_FORMAT or data.get("claim") != claim.id
            or data.get("scale") != scale or data.get("seed") != int(seed)
            or data.get("version") != __version__ or data.get("error")
            or data.get("budget") != budget):
        return None
    return ClaimRun(claim, [_rec_from_dict(r) for r in data["records"]], data["seconds"],
                    figures=data["figures"], findings=data["findings"], resumed=True)


def _merge_figures(into: dict, new: dict) -> None:
    for k, v in new.items():
        if isinstance(v, list) and isinstance(into.get(k), list):
            into[k].extend(v)
        else:
            into[k] = list(v) if isinstance(v, list) else v


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


class ClaimRecordError(Exception):
    """A claim returned records that cannot be decided (NaN, no interval, not a Record)."""


def _checked_records(claim, recs) -> list:
    """``recs`` with claim, reference and family filled in from ``claim``; raises
    :class:`ClaimRecordError` when they are not a list of records, or (a plugin claim) when a
    record cannot be decided."""
    family = getattr(claim, "family", None) or "builtin"
    if not isinstance(recs, (list, tuple)) or not all(isinstance(r, Record) for r in recs):
        got = type(recs).__name__ if not isinstance(recs, (list, tuple)) else "a list holding " \
            + ", ".join(sorted({type(r).__name__ for r in recs if not isinstance(r, Record)}))
        raise ClaimRecordError(f"claim {claim.id!r} must return a list of Record, got {got}")
    for r in recs:
        r.claim = r.claim or claim.id
        r.reference = r.reference or claim.reference
        r.family = family
        if family != "builtin":
            bad = r.problems()
            if (getattr(claim, "margin", None) is not None and r.relation != "eq"
                    and equivalence_of(r, claim) is None):
                bad.append(f"record {r.quantity!r}: the claim has an equivalence margin but the "
                           f"record no scale for it (bound {r.bound!r}); give "
                           f"equivalence_scale > 0")
            if bad:
                raise ClaimRecordError(f"claim {claim.id!r}: " + "; ".join(bad))
    return list(recs)


def run_claim(claim, ctx) -> ClaimRun:
    """Run one claim; an exception (not KeyboardInterrupt) becomes its error record, and so do
    records that cannot be decided (:func:`_checked_records`). The claim's figures and
    findings are collected apart (saved with it)."""
    figs, finds = ctx.figures, ctx.findings
    ctx.figures, ctx.findings, ctx.current = {}, [], None
    t1 = time.perf_counter()
    try:
        recs, err, info = _checked_records(claim, claim.run(ctx)), None, None
    except Exception as exc:  # one claim failing must not lose the others' results
        recs, err = [], f"{type(exc).__name__}: {exc}"
        info = error_record(claim.id, exc, ctx.current)
        info["family"] = getattr(claim, "family", None) or "builtin"
    finally:
        own_figs, own_finds = ctx.figures, ctx.findings
        ctx.figures, ctx.findings = figs, finds
    return ClaimRun(claim, recs, time.perf_counter() - t1, err, info, own_figs, own_finds)


def check_budget(budget, time_limit=None) -> tuple[int | None, float | None]:
    """``(budget, time_limit)`` validated: ``budget`` (replicas per configuration, for the
    claims that extend their replicas until decided) an integer >= 1 or None; ``time_limit``
    (seconds) a number > 0 or None. One-line :class:`HDOInputError` naming the option."""
    from hdo_theory.errors import check_float, check_int
    from hdo_theory.limits import MAX_REPLICAS

    if budget is not None:
        if isinstance(budget, str):
            try:
                budget = int(budget)
            except ValueError:
                pass
        budget = check_int("--budget", budget, 1, MAX_REPLICAS)
    if time_limit is not None:
        time_limit = check_float("--time-limit", time_limit, 0.0, lo_open=True)
    return budget, time_limit


def run_verification(ids=None, scale: str = "quick", seed: int = 0, alpha: float = S.DEFAULT_ALPHA,
                     log=print, out_dir=None, resume: bool = False,
                     progress: bool = False, jobs: int = 1, budget: int | None = None,
                     time_limit: float | None = None) -> VerifyResult:
    """Run the claims ``ids``. Every claim's grid is checked first (:func:`check_claim`, nothing
    runs); a claim whose check fails or which raises becomes an error record and the run goes
    on. With ``out_dir`` every finished claim is saved as it completes
    (``<out>/claims/<id>.json``, atomic); ``resume`` reuses the saved claims of a run with the
    same scale and seed instead of running them again. All records are decided together at the
    end either way. ``progress`` shows a tqdm bar on stderr counting finished claims.
    ``jobs`` > 1 runs the claims in that many worker processes
    (:mod:`hdo_theory.verification.parallel`; the same records as ``jobs=1``).

    Ctrl-C (KeyboardInterrupt) is raised again after writing ``<out>/interrupted.json``
    (:func:`_save_interrupted`): the finished claims stay saved and ``resume`` continues.

    ``budget`` (replicas): the claims that support it (Theorem 1's rates, claims 1 and 3;
    claims 4, 5 and 7, whose looks are over shard splits of ``replicas_per_split`` replicas
    each) take
    doubling looks from their grid's replica count up to ``budget`` and stop once decided, with
    alpha spending over the looks (:func:`.stats.run_sequential`); bit-identical for a given
    budget and resumable (the budget is part of a claim file's identity). ``time_limit``
    (seconds) caps each such claim's extension; a record it stopped early says so."""
    ids = resolve_ids(ids)
    budget, time_limit = check_budget(budget, time_limit)
    ctx = Context(scale=scale, seed=seed, log=log, budget=budget, time_limit=time_limit)
    t0 = time.perf_counter()
    if out_dir is not None and not resume:  # a fresh run: no stale claim files to resume from
        for cid in ids:
            claim_path(out_dir, cid).unlink(missing_ok=True)
    failed = {}
    for cid in ids:
        try:
            check_claim(REGISTRY[cid], ctx)
        except Exception as exc:
            failed[cid] = error_record(cid, exc, getattr(exc, "planned", ctx.current))
            failed[cid]["stage"] = "configuration check"
            log(f"configuration check failed: {cid}: {type(exc).__name__}: {exc}")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(ids), desc="claims", unit="claim", leave=False)
    runs: list = []  # filled as claims finish (each also saved at once)
    current = [None]  # the claim running now
    try:
        try:
            _run_claims_into(runs, current, ids, ctx, failed, scale, seed, log, out_dir,
                             resume, bar, jobs)
        finally:
            if bar is not None:
                bar.close()
        records = [r for run in runs for r in run.records]
        families = decide_families(records, alpha)
        a = families.get("builtin", next(iter(families.values()), (0, alpha, None)))[1]
        figures = {}
        for run in runs:
            _merge_figures(figures, run.figures)
        findings = [f for run in runs for f in run.findings] + auto_findings(runs)
    except KeyboardInterrupt:  # keep what finished, say what did not, then stop (exit 130)
        if out_dir is not None:
            path = _save_interrupted(out_dir, ids, runs, current[0], scale, seed)
            log(f"interrupted{f' during {current[0]}' if current[0] else ''}: "
                f"{len(runs)} finished claim(s) kept in {Path(out_dir) / 'claims'}, "
                f"summary {path}; --resume continues")
        raise
    if out_dir is not None:  # this run finished: an older interrupted summary no longer holds
        interrupted_path(out_dir).unlink(missing_ok=True)
    return VerifyResult(scale, seed, alpha, a, runs, figures, findings,
                        time.perf_counter() - t0, families)


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


INTERRUPTED_FILE = "interrupted.json"  # <out>/interrupted.json: what an interrupted verify did


def interrupted_path(out_dir) -> Path:
    return Path(out_dir) / INTERRUPTED_FILE


def _save_interrupted(out_dir, ids, runs, current, scale, seed) -> Path:
    """The summary of a verify stopped by Ctrl-C: the claims it finished (each saved in
    ``claims/<id>.json``), the one it was running (lost) and those it never reached, plus the
    command that continues it (``--resume`` runs only the unfinished ones)."""
    done = [run.claim.id for run in runs]
    running = set(current.split(", ")) if current else set()  # several with --jobs
    data = {"format": "hdo-theory-verify-interrupted/1", "version": __version__,
            "interrupted": True, "scale": scale, "seed": int(seed), "finished": done,
            "seconds": {run.claim.id: run.seconds for run in runs},
            "interrupted_claim": current,
            "not_run": [c for c in ids if c not in done and c not in running],
            "resume": f"hdo-theory verify --{scale} --resume --seed {int(seed)} "
                      f"--out {str(out_dir)!r} (with the same --claims)"}
    return write_text_atomic(interrupted_path(out_dir), json.dumps(data, indent=1))


def _run_claims_into(runs, current, ids, ctx, failed, scale, seed, log, out_dir, resume,
                     bar, jobs: int = 1) -> None:
    """Run (or resume) every claim in order into ``runs``, saving each as it finishes;
    ``current[0]`` names the claim running (``None`` once all are done). ``jobs`` > 1: in
    worker processes (:func:`.parallel.run_claims_parallel`), ``runs`` in the same order."""
    jobs = check_int("jobs", jobs, 1, 1024)
    if jobs > 1 and len(ids) > 1:
        from hdo_theory.verification.parallel import run_claims_parallel

        return run_claims_parallel(runs, current, ids, ctx, failed, scale, seed, log, out_dir,
                                   resume, bar, jobs)
    for k, cid in enumerate(ids, 1):
        current[0] = cid
        claim = REGISTRY[cid]
        old = (load_claim_run(out_dir, claim, scale, seed, ctx.budget)
               if (resume and out_dir) else None)
        if old is not None:
            log(f"[{k}/{len(ids)}] {cid}: resumed ({len(old.records)} records)")
            runs.append(old)
            if bar is not None:
                bar.update(1)
            continue
        log(f"[{k}/{len(ids)}] {cid} ({claim.reference}) ...")
        if cid in failed:
            info = failed[cid]
            run = ClaimRun(claim, [], 0.0, f"{info['type']}: {info['message']}", info)
        else:
            run = run_claim(claim, ctx)
        runs.append(run)
        if out_dir is not None:
            save_claim_run(out_dir, run, scale, seed, ctx.budget)
        log(f"      {len(run.records)} records in {run.seconds:.1f} s"
            + (f"  ERROR {run.error}" if run.error else ""))
        if bar is not None:
            bar.update(1)
    current[0] = None
