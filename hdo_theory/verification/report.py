"""Write the verification report: ``report.md``, ``report.html`` (Markdown rendered, a table of
contents, one anchor ``claim-<id>`` per claim, a verdict filter, figures embedded as base64 PNG;
self-contained) and ``report.json`` (one entry per claim with every record's numbers, config and
seed); on request ``report.tex`` (the verdict tables, booktabs)."""

from __future__ import annotations

import base64
import io
import json
import math

import numpy as np

from hdo_theory import __version__
from hdo_theory.atomic import check_writable_folder, write_text_atomic
from hdo_theory.serialize import jsonable
from hdo_theory.verification import stats as S
from hdo_theory.verification.runner import VerifyResult, fmt

CORRECTION = ("Holm's step-down procedure over the one-sided null hypotheses of the m decided "
              "records of each family (\"theta <= bound\" rejected: violated; \"theta >= "
              "bound\" rejected: holds; with an equivalence margin, the TOST null \"|theta - "
              "bound| >= margin\" rejected: equivalent, p-value the larger of the two TOST "
              "p-values), capped at two true nulls per record: the probability of any false "
              "verdict in a family is at most alpha = {alpha:g}, and Holm never decides less "
              "than Bonferroni. Every interval is shown two-sided at Holm's final level 1 - 2a* "
              "(built-in family: 1 - {a:.3g}), on which the interval rule gives exactly Holm's "
              "decisions; the intervals are not simultaneous (Bonferroni's per-side level "
              "alpha/(2m) gives simultaneous ones).")
FAMILIES = ("Families (built-in claims, each plugin apart; a plugin never moves the built-in "
            "verdicts): {text}.")


def correction_text(res: VerifyResult) -> str:
    """The correction sentence: the procedure (Holm), and each family's m, number of
    hypotheses, rejections and level (the built-in family's verdicts never depend on the
    plugins loaded)."""
    text = CORRECTION.format(alpha=res.alpha, a=res.per_record_alpha)
    fams = getattr(res, "families", {}) or {}
    parts = []
    for f, v in fams.items():
        m, a = v[0], v[1]
        summ = v[2] if len(v) > 2 else None
        extra = (f", {summ['hypotheses']} nulls, {summ['rejected']} rejected, a* = "
                 f"{summ['holm_level']:.3g} (Bonferroni {summ['bonferroni_level']:.3g})"
                 if summ else "")
        parts.append(f"{f}: m = {m}{extra}, intervals at 1 - {a:.3g}")
    if parts:
        text += " " + FAMILIES.format(text="; ".join(parts))
    return text


def margin_text(d: dict) -> str:
    """`` Equivalence margin: ... (reason).`` for a claim description with a margin, else ``""``."""
    if d.get("margin") is None:
        return ""
    return (f" Equivalence margin: -/+ {100 * d['margin']:.3g}% of the quantity's scale "
            f"({d['margin_reason']}).")


def family_text(run) -> str:
    """`` Family: ...`` for a claim: the multiple-testing family its records are decided in
    (Holm's procedure), and for records extended by ``--budget`` the stopping rule and the
    replicas each used."""
    fam = getattr(run.claim, "family", None) or "builtin"
    who = "the built-in claims" if fam == "builtin" else f"plugin {fam} alone"
    text = f" Family: {fam} (Holm's step-down procedure over the records of {who})."
    used = []
    for r in run.records:
        seq = r.extra.get("sequential") if isinstance(r.extra, dict) else None
        if seq:
            used.append(f"{r.quantity}{_cfg_short(r.config)}: {seq['replicas']} replicas "
                        f"(look {seq['looks_taken']} of {len(seq['looks'])}, "
                        f"{seq['stopped_by']})")
    if used:
        text += (" Replicas (--budget; doubling looks, linear alpha spending, stopped at the "
                 "first decided look): " + "; ".join(used) + ".")
    return text


def sequential_summary(res: VerifyResult) -> dict | None:
    """The optional-stopping rule and the replicas each sequential record used (``--budget``),
    or None when no record was extended."""
    used = {}
    for run in res.runs:
        for r in run.records:
            seq = r.extra.get("sequential") if isinstance(r.extra, dict) else None
            if seq:
                used[f"{r.claim}: {r.quantity}"] = {k: seq[k] for k in
                                                   ("replicas", "looks", "looks_taken",
                                                    "stopped_by", "spend")}
    if not used:
        return None
    return {"rule": "looks at the grid's replica count, doubled up to the budget (the last "
                    "look); look k spends the share w_k = n_k / sum_j n_j of the error "
                    "probability (p-values / w_k, intervals at alpha w_k), so the guarantee "
                    "holds whatever rule stops; a claim stops at the first look decided at "
                    f"the per-side planning level {S.PLANNING_LEVEL:.3g}",
            "records": used}


def _sequential_text(res: VerifyResult) -> str:
    seq = sequential_summary(res)
    if seq is None:
        return ""
    parts = "; ".join(f"{k}: {v['replicas']} replicas, {v['stopped_by']}"
                      for k, v in seq["records"].items())
    return f" Precision-driven replicas (--budget): {seq['rule']}. Used: {parts}."


def _family_json(v) -> dict:
    m, a = v[0], v[1]
    out = {"m": m, "per_record_alpha": a}
    if len(v) > 2 and v[2]:
        out.update(v[2])
    return out


def to_json(res: VerifyResult) -> dict:
    claims = []
    for run in res.runs:
        c = run.claim.describe()
        c["family"] = getattr(run.claim, "family", None) or "builtin"
        c.update(verdict=res.claim_verdict(run), seconds=run.seconds, error=run.error,
                 error_record=run.error_info, resumed=run.resumed,
                 counts={v: sum(r.decision.verdict == v for r in run.records)
                         for v in S.VERDICTS},
                 records=[r.as_dict() for r in run.records])
        claims.append(c)
    return jsonable({
        "version": __version__, "scale": res.scale, "seed": res.seed, "alpha": res.alpha,
        "per_record_alpha": res.per_record_alpha, "correction": "holm",
        "correction_text": correction_text(res),
        "families": {f: _family_json(v)
                     for f, v in (getattr(res, "families", {}) or {}).items()},
        "sequential": sequential_summary(res),
        "seconds": res.seconds, "counts": res.counts(), "claims": claims,
        "findings": res.findings, "errors": res.errors,
    })


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def record_rows(res: VerifyResult):
    rows = []
    for run in res.runs:
        for r in run.records:
            rows.append([r.claim, r.reference, r.quantity + _cfg_short(r.config),
                         empirical_cell(r),
                         _rel(r.relation) + fmt(r.bound), fmt(r.ratio), r.decision.verdict])
    return rows


def empirical_cell(r) -> str:
    """The "empirical [CI]" cell: ``value [lo, hi]``, or ``value (exact)`` for a record decided
    on an exact value (method "exact": no sampling error, so no interval)."""
    if r.exact:
        return f"{fmt(r.estimate.value, 6)} (exact)"
    lo, hi = r.as_dict()["ci"]
    return f"{fmt(r.estimate.value)} [{fmt(lo)}, {fmt(hi)}]"


def _cfg_short(cfg):
    keys = ("objective", "d", "n", "n0", "eta", "nu", "T", "steps", "lr", "rv", "reading")
    parts = [f"{k}={fmt(cfg[k]) if isinstance(cfg[k], float) else cfg[k]}" for k in keys
             if k in cfg and not isinstance(cfg[k], (list, dict))]
    return f" ({', '.join(parts)})" if parts else ""


HEAD = ["claim", "reference", "quantity (config)", "empirical [CI]", "bound", "ratio", "verdict"]

#: config keys shown first (in this order) when they vary between a claim's records
CONFIG_ORDER = ("objective", "reading", "nu_mode", "eta", "nu", "d", "n", "n0", "n1", "T",
                "steps", "lr", "batch", "rv", "replicas", "draws")


def _cfg_value(v) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return fmt(v)
    if isinstance(v, (list, tuple)):
        vals = [_cfg_value(x) for x in v]
        return f"{vals[0]}..{vals[-1]}" if len(vals) > 2 else "[" + ",".join(vals) + "]"
    if isinstance(v, dict):
        return "{...}"
    return str(v)


def varying_keys(records) -> list[str]:
    """The config keys that tell ``records`` (one claim's) apart: of the keys whose value
    differs between them (a key missing from some records counts as differing), taken in
    order (:data:`CONFIG_ORDER` first, then alphabetically), each key that separates records
    the keys before it do not; derived values that follow from earlier keys (an objective's
    constants, a step size tied to eta) are left out."""
    def val(r, k):
        return json.dumps(jsonable(r.config.get(k, "<missing>")), sort_keys=True)

    keys = {k for r in records for k in r.config}
    vary = {k for k in keys if len({val(r, k) for r in records}) > 1}
    ordered = [k for k in CONFIG_ORDER if k in vary] + sorted(vary - set(CONFIG_ORDER))
    chosen, groups = [], 1
    for k in ordered:
        n = len({tuple(val(r, j) for j in (*chosen, k)) for r in records})
        if n > groups:
            chosen, groups = [*chosen, k], n
    return chosen


def config_labels(records) -> list[str]:
    """For each record, ``k=v`` of the config keys that vary between ``records`` (see
    :func:`varying_keys`); what tells a claim's records apart."""
    keys = varying_keys(records)
    return [", ".join(f"{k}={_cfg_value(r.config[k])}" for k in keys if k in r.config)
            for r in records]


TEXT_HEAD = ["claim", "reference", "config (what varies)", "quantity", "empirical [CI]", "bound",
             "ratio", "verdict"]


def text_rows(res: VerifyResult):
    """Rows of the terminal table: per claim, the config keys that vary between its records
    come before the (truncated) quantity, so rows of one claim can be told apart."""
    rows = []
    for run in res.runs:
        for r, label in zip(run.records, config_labels(run.records), strict=True):
            rows.append([r.claim, r.reference, label or "-", r.quantity,
                         empirical_cell(r),
                         _rel(r.relation) + fmt(r.bound), fmt(r.ratio), r.decision.verdict])
    return rows


def _rel(relation) -> str:
    return "= " if relation == "eq" else ">= " if relation == "ge" else "<= "


def text_table(res: VerifyResult) -> str:
    rows = [TEXT_HEAD] + text_rows(res)
    widths = [min(max(len(str(r[k])) for r in rows), w)
              for k, w in enumerate((16, 24, 48, 30, 30, 14, 9, 20))]
    out = []
    for i, r in enumerate(rows):
        out.append("  ".join(str(c)[:w].ljust(w) for c, w in zip(r, widths, strict=True))
                   .rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _md_table(head, rows):
    esc = lambda s: str(s).replace("|", "\\|")
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def summary_rows(res: VerifyResult):
    rows = []
    for run in res.runs:
        c = run.claim
        n = {v: sum(r.decision.verdict == v for r in run.records) for v in S.VERDICTS}
        ratios = [r.ratio for r in run.records if math.isfinite(r.ratio) and r.relation != "eq"]
        rng = f"{fmt(min(ratios))} .. {fmt(max(ratios))}" if ratios else "-"
        rows.append([c.id, c.reference, res.claim_verdict(run),
                     f"{n['holds']}/{n['violated']}/{n['equivalent']}/{n['inconclusive']}/"
                     f"{n['outside assumptions']}",
                     rng, f"{run.seconds:.1f}"])
    return rows


SUMMARY_HEAD = ["claim", "reference", "verdict", "holds/violated/equivalent/inconclusive/outside",
                "ratio range", "seconds"]


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def figures(res: VerifyResult) -> list[tuple[str, str]]:
    """(caption, base64 PNG) for every figure whose data the run produced."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    F = res.figures
    if F.get("moments"):
        fig, ax = plt.subplots(figsize=(6, 4))
        for (obj, nu), style in zip(sorted({(m["objective"], m["nu"]) for m in F["moments"]}),
                                    ("o-", "s-", "^-", "v-", "d-", "x-"), strict=False):
            pts = sorted((m["d"], m["second"], m["bound"]) for m in F["moments"]
                         if m["objective"] == obj and m["nu"] == nu)
            ds = [p[0] for p in pts]
            line, = ax.loglog(ds, [p[1] for p in pts], style, label=f"{obj}, nu={nu}: E||G||^2")
            ax.loglog(ds, [p[2] for p in pts], "--", color=line.get_color(),
                      label=f"{obj}, nu={nu}: Lemma 5 (6)")
        ax.set_xlabel("d")
        ax.set_ylabel("second moment")
        ax.legend(fontsize=6)
        out.append(("Forward-difference second moment E||G_nu||^2 (b = 1) against Lemma 5 (6) "
                    "across d", _png(fig)))
    if F.get("lemma1_4"):
        fig, ax = plt.subplots(figsize=(6, 4))
        for obj in sorted({m["objective"] for m in F["lemma1_4"]} - {"quadratic"}):
            for nu in sorted({m["nu"] for m in F["lemma1_4"]}):
                pts = sorted((m["d"], m["value"], m["bound"], m["sharper"]) for m in F["lemma1_4"]
                             if m["objective"] == obj and m["nu"] == nu)
                ds = [p[0] for p in pts]
                line, = ax.loglog(ds, [p[1] for p in pts], "o-", label=f"{obj} nu={nu}")
                ax.loglog(ds, [p[2] for p in pts], "--", color=line.get_color())
                ax.loglog(ds, [p[3] for p in pts], ":", color=line.get_color())
        ax.set_xlabel("d")
        ax.set_ylabel("||grad f_nu - grad f||")
        ax.set_title("measured (solid), Lemma 1 item 4 (dashed), nu L sqrt(d) (dotted)",
                     fontsize=8)
        ax.legend(fontsize=6)
        out.append(("Smoothing bias against Lemma 1 item 4 across d", _png(fig)))
    for key, label in (("gamma_convex", "convex"), ("gamma_nonconvex", "non-convex")):
        g = F.get(key)
        if not g:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.semilogy(g["t"], g["gamma"], "k-", label="E[Gamma_(t+1) | X_t] (measured)")
        for name, vals in g["envelopes"].items():
            ax.semilogy(g["t"], vals, "--", label=name)
        ax.set_xlabel("interaction t")
        ax.legend(fontsize=7)
        ax.set_title(f"{label}: {g['title']}", fontsize=8)
        out.append((f"Gamma_t against the Lemma 2 / {'11' if label == 'convex' else '17'} "
                    f"envelope ({label})", _png(fig)))
    for key, label in (("theorem1_convex", "convex"), ("theorem1_nonconvex", "non-convex")):
        g = F.get(key)
        if not g:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.loglog(g["T"], g["empirical"], "ko-", label=f"measured (slope {g['slope']:.3f})")
        ax.loglog(g["T"], [g["constant"] * b for b in g["bound"]], "r--",
                  label=f"Theorem 1 x fitted C = {g['constant']:.3g} "
                        f"(exponent {g['predicted']:.3f})")
        ax.set_xlabel("T (interactions)")
        ax.set_ylabel(g["ylabel"])
        ax.legend(fontsize=7)
        out.append((f"Theorem 1 ({label}): convergence against the bound, fitted slope",
                    _png(fig)))
    g = F.get("exact_theorem1")
    if g:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.loglog(g["T"], g["exact"], "k-", label="exact (hdo_theory.exact)")
        ax.loglog(g["T"], g["bound"], "r:", label="Theorem 1 explicit bound (C = 1)")
        ax.set_xlabel("T (interactions)")
        ax.set_ylabel("E[f(y_T)-f*] + ell/8 E||mu_T-x*||^2")
        ax.legend(fontsize=7)
        out.append(("Theorem 1 (convex), exact error curve on an explicit quadratic against the "
                    "explicit bound (no sampling)", _png(fig)))
    g = F.get("exact_lemma2")
    if g:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.semilogy(g["t"], g["exact"], "k-", label="E Gamma_(t+1) (exact)")
        ax.semilogy(g["t"], g["bound"], "r--", label="Lemma 2 right-hand side (exact)")
        ax.set_xlabel("interaction t")
        ax.legend(fontsize=7)
        ax.set_title(f"explicit quadratic, eta = {g['eta']}", fontsize=8)
        out.append(("Lemma 2, exact: E Gamma_(t+1) against its right-hand side at every "
                    "recorded step", _png(fig)))
    for key in sorted(k for k in F if k.startswith("curves_")):
        g = F[key]
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, (t, y) in g["curves"].items():
            ax.semilogy(t, np.maximum(np.asarray(y, dtype=float), 1e-300), label=name)
        ax.set_xlabel(g.get("xlabel", "step"))
        ax.set_ylabel(g.get("ylabel", ""))
        ax.legend(fontsize=7)
        out.append((g["title"], _png(fig)))
    return out


# ---------------------------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------------------------


def _md_intro(res: VerifyResult) -> list[str]:
    """The report's opening paragraphs (Markdown), after the title and before the errors."""
    c = res.counts()
    return [f"hdo-theory {__version__}, seed {res.seed}, {len(res.runs)} claims, "
            f"{len(res.records)} records, {res.seconds:.1f} s.", "",
            f"Verdicts: {c['holds']} holds, {c['violated']} violated, {c['equivalent']} "
            f"equivalent, {c['inconclusive']} inconclusive, {c['outside assumptions']} outside "
            f"the lemma's assumptions.", "",
            "Decision rule, in this order: **holds** when the whole interval is on the claimed "
            "side of the bound, **violated** when it is on the other side, **equivalent** "
            "(claims with an equivalence margin, stated with its reason in the claim) when it "
            "lies within bound -/+ margin: no difference beyond the margin, **inconclusive** "
            "otherwise (for exact identities, relation `=`: holds when the interval contains "
            "the exact value). "
            "A record marked **(exact)** (method `exact`: a closed form or the exact expected "
            "dynamics on a quadratic) has no interval: it holds or is violated on its value, "
            "and its ratio is the exact tightness ratio; it is not counted in m. "
            + correction_text(res) + _sequential_text(res), ""]


def markdown(res: VerifyResult, figs=None) -> str:
    L = [f"# hdo-theory verification report ({res.scale})", "", *_md_intro(res)]
    if res.errors:
        L += [f"**{len(res.errors)} claim(s) raised an error** (no records; the run went on):",
              ""]
        L += [f"- ERROR {e['claim']}: {e['type']}: {e['message']}"
              + (f" (configuration: {json.dumps(e['config'], sort_keys=True)})"
                 if e.get("config") else "") for e in res.errors]
        L += [""]
    L += ["## Claims", "", _md_table(SUMMARY_HEAD, summary_rows(res)), ""]
    L += ["## Findings", ""]
    if res.findings:
        for f in res.findings:
            L += [f"### {f['title']}", "", f["text"], ""]
    else:
        L += ["(none in this run)", ""]
    L += ["## Claim definitions", ""]
    for run in res.runs:
        d = run.claim.describe()
        L += [f"- **{d['id']}** ({d['reference']}): measures {d['measures']}; objectives: "
              f"{d['objectives']}; grid ({res.scale}): {d['grid'].get(res.scale)}; bound: "
              f"{d['bound']}." + margin_text(d) + family_text(run)
              + (f" ERROR: {run.error}" if run.error else "")]
    L += ["", "## All records", "", _md_table(HEAD, record_rows(res)), ""]
    if figs:
        L += ["## Figures", "", "Embedded in report.html:", ""]
        L += [f"- {cap}" for cap, _ in figs]
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------------------------------------
# HTML: Markdown prose rendered with markdown-it-py, the page laid out by a jinja2 template
# (hdo_theory/verification/templates/report.html.j2, package data); self-contained, no CDN
# ---------------------------------------------------------------------------------------------

TEMPLATE = "templates/report.html.j2"

#: (verdict css class, label) for the HTML filter; the css class of "outside assumptions" is
#: "outside", of a claim that raised "error"
FILTER_VERDICTS = (("holds", "holds"), ("violated", "violated"), ("equivalent", "equivalent"),
                   ("inconclusive", "inconclusive"),
                   ("outside", "outside assumptions"), ("error", "error"))

RECORD_HEAD = ["config (what varies)", "quantity", "empirical [CI]", "bound", "ratio", "verdict"]


def _css(verdict: str) -> str:
    return {"outside assumptions": "outside", "no records": "none"}.get(verdict, verdict)


def render_markdown(text: str, inline: bool = False) -> str:
    """CommonMark + tables to HTML (``inline``: one line, no enclosing paragraph); raw HTML in
    ``text`` is escaped, not passed through."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    return md.renderInline(text) if inline else md.render(text)


def _repo_theory_doc():
    """``docs/theory.md`` of the repository checkout this package runs from, or None (an
    installed package has no docs folder)."""
    from pathlib import Path

    import hdo_theory
    from hdo_theory.verification.theory_refs import THEORY_DOC

    p = Path(hdo_theory.__file__).resolve().parents[1] / THEORY_DOC
    return p if p.is_file() else None


def theory_links(out_dir=None):
    """(function claim id -> href, a sentence saying what the hrefs point to). From a repository
    checkout with ``out_dir`` known: a path relative to ``out_dir`` to the checkout's
    ``docs/theory.md`` plus the section anchor (valid while the report stays where it was
    written); otherwise ``docs/theory.md#<section>`` relative to a repository root."""
    import os

    from hdo_theory.verification.theory_refs import THEORY_DOC, theory_anchor

    doc = _repo_theory_doc()
    if doc is not None and out_dir is not None:
        rel = os.path.relpath(doc, os.path.abspath(out_dir)).replace(os.sep, "/")

        def href(cid):
            return rel + theory_anchor(cid)[len(THEORY_DOC):]

        return href, (f"the section of {THEORY_DOC} that states each claim, in the repository "
                      f"checkout this report was written from (relative link {rel}; GitHub-style "
                      f"heading anchors)")
    return theory_anchor, (f"the section of {THEORY_DOC} that states each claim, relative to "
                           f"the root of a hdo-theory repository checkout (GitHub-style heading "
                           f"anchors)")


def html_doc(res: VerifyResult, md: str, figs, out_dir=None) -> str:
    """The HTML report. ``md`` is accepted for compatibility; the page is built from ``res``
    (prose through :func:`render_markdown`, the layout from the packaged template)."""
    from importlib.resources import files

    import jinja2
    from markupsafe import Markup

    from hdo_theory.verification.theory_refs import theory_anchor

    href, note = theory_links(out_dir)
    summary = {row[0]: row for row in summary_rows(res)}
    claims = []
    totals = {v: 0 for v, _ in FILTER_VERDICTS}
    for run in res.runs:
        d = run.claim.describe()
        verdict = res.claim_verdict(run)
        recs = []
        for r, label in zip(run.records, config_labels(run.records), strict=True):
            css = _css(r.decision.verdict)
            totals[css] = totals.get(css, 0) + 1
            recs.append({"css": css, "verdict": r.decision.verdict,
                         "title": f"{r.decision.reason}; family {r.family or 'builtin'}; "
                                  f"seed {r.seed}; config "
                                  + json.dumps(jsonable(r.config), sort_keys=True),
                         "cells": [label or "-", r.quantity, empirical_cell(r),
                                   _rel(r.relation) + fmt(r.bound) + f" ({r.bound_label})",
                                   fmt(r.ratio)]})
        err = None
        if run.error:
            totals["error"] += 1
            info = run.error_info or {"type": "", "message": run.error, "config": None}
            err = {**info, "config_json": json.dumps(info.get("config"), sort_keys=True)
                   if info.get("config") else ""}
        claims.append({"id": d["id"], "reference": d["reference"], "verdict": verdict,
                       "css": _css(verdict), "summary": summary[d["id"]],
                       "theory_href": href(d["id"]), "theory_ref": theory_anchor(d["id"]),
                       "measures": d["measures"], "objectives": d["objectives"],
                       "grid": d["grid"].get(res.scale),
                       # the template closes the sentence with "."
                       "bound": d["bound"] + "." + (margin_text(d) + family_text(run))
                       .rstrip("."),
                       "nrec": len(run.records), "seconds": f"{run.seconds:.1f}",
                       "resumed": run.resumed, "records": recs, "error": err})
    errors = [{**e, "config_json": json.dumps(e["config"], sort_keys=True)
               if e.get("config") else ""} for e in res.errors]
    findings = [{"title": Markup(render_markdown(f["title"], inline=True)),
                 "html": Markup(render_markdown(f["text"]))} for f in res.findings]
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=False, lstrip_blocks=False)
    tpl = env.from_string(files("hdo_theory.verification").joinpath(TEMPLATE)
                          .read_text(encoding="utf-8"))
    return tpl.render(
        scale=res.scale, version=__version__,
        intro_html=Markup(render_markdown("\n".join(_md_intro(res)))),
        errors=errors, claims=claims, findings=findings, figures=figs,
        verdicts=FILTER_VERDICTS, totals=totals, summary_head=SUMMARY_HEAD,
        record_head=RECORD_HEAD, theory_note=note)


# ---------------------------------------------------------------------------------------------
# LaTeX: the verdict tables (booktabs)
# ---------------------------------------------------------------------------------------------

_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
        "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
        "|": r"\textbar{}"}


def tex_escape(text) -> str:
    """``text`` with the LaTeX specials escaped (safe in a text-mode table cell)."""
    return "".join(_TEX.get(ch, ch) for ch in str(text))


LATEX_HEAD = ["claim", "quantity (config)", "empirical [CI]", "bound", "ratio", "verdict"]


def latex(res: VerifyResult) -> str:
    """A standalone LaTeX document (``report.tex``): the claim summary and, per claim, a
    booktabs ``tabular`` of its records (claim, quantity with the config keys that vary,
    empirical [CI], bound, ratio, verdict). Needs the booktabs package only."""
    e = tex_escape
    c = res.counts()
    L = ["% hdo-theory verification report: verdict tables (written by hdo-theory "
         f"{e(__version__)})",
         r"\documentclass{article}", r"\usepackage[T1]{fontenc}", r"\usepackage{booktabs}",
         r"\usepackage[margin=1.5cm]{geometry}", r"\begin{document}",
         r"\section*{hdo-theory verification report (" + e(res.scale) + ")}",
         e(f"Seed {res.seed}, {len(res.runs)} claims, {len(res.records)} records: "
           f"{c['holds']} holds, {c['violated']} violated, {c['equivalent']} equivalent, "
           f"{c['inconclusive']} inconclusive, "
           f"{c['outside assumptions']} outside assumptions. "
           + correction_text(res)), "",
         r"\begin{tabular}{llllrr}", r"\toprule",
         " & ".join(e(h) for h in SUMMARY_HEAD) + r" \\", r"\midrule"]
    L += [" & ".join(e(x) for x in row) + r" \\" for row in summary_rows(res)]
    L += [r"\bottomrule", r"\end{tabular}", ""]
    for run in res.runs:
        L += [r"\subsection*{" + e(f"{run.claim.id} ({run.claim.reference})") + "}"]
        if run.error:
            L += [e(f"ERROR {run.claim.id}: {run.error}"), ""]
        if not run.records:
            continue
        L += [r"{\small", r"\begin{tabular}{lp{7cm}lllp{2.2cm}}", r"\toprule",
              " & ".join(e(h) for h in LATEX_HEAD) + r" \\", r"\midrule"]
        for r, label in zip(run.records, config_labels(run.records), strict=True):
            cells = [r.claim, r.quantity + (f" ({label})" if label else ""),
                     empirical_cell(r),
                     _rel(r.relation) + fmt(r.bound), fmt(r.ratio), r.decision.verdict]
            L += [" & ".join(e(x) for x in cells) + r" \\"]
        L += [r"\bottomrule", r"\end{tabular}", "}", ""]
    L += [r"\end{document}"]
    return "\n".join(L) + "\n"


def write_report(res: VerifyResult, out_dir, latex_tables: bool = False) -> dict:
    """Write ``report.md``, ``report.html`` and ``report.json`` into ``out_dir`` (created with
    its parents if missing, like every ``--out``; HDOInputError if it cannot be written);
    ``latex_tables``: also ``report.tex`` (:func:`latex`)."""
    out = check_writable_folder(out_dir, what="out_dir")
    figs = figures(res)
    md = markdown(res, figs)
    paths = {"md": out / "report.md", "html": out / "report.html", "json": out / "report.json"}
    # atomic: an interrupted write leaves the previous report, never a torn one
    write_text_atomic(paths["md"], md)
    write_text_atomic(paths["html"], html_doc(res, md, figs, out_dir=out))
    write_text_atomic(paths["json"], json.dumps(to_json(res), indent=1, allow_nan=False))
    if latex_tables:
        paths["tex"] = out / "report.tex"
        write_text_atomic(paths["tex"], latex(res))
    return paths
