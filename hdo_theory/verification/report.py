"""Write the verification report: ``report.md``, ``report.html`` (figures embedded as base64
PNG) and ``report.json`` (one entry per claim with every record's numbers, config and seed)."""

from __future__ import annotations

import base64
import html
import io
import json
import math

import numpy as np

from hdo_theory import __version__
from hdo_theory.atomic import check_writable_folder, write_text_atomic
from hdo_theory.serialize import jsonable
from hdo_theory.verification.runner import VerifyResult, fmt

CORRECTION = ("Bonferroni over the m decided records of the run: every interval is two-sided at "
              "level 1 - alpha/m (family-wise alpha = {alpha:g}, per record {a:.3g}). A true "
              "one-sided claim is reported violated with probability at most alpha/2 over the "
              "whole run.")


def to_json(res: VerifyResult) -> dict:
    claims = []
    for run in res.runs:
        c = run.claim.describe()
        c.update(verdict=res.claim_verdict(run), seconds=run.seconds, error=run.error,
                 error_record=run.error_info, resumed=run.resumed,
                 counts={v: sum(r.decision.verdict == v for r in run.records)
                         for v in ("holds", "violated", "inconclusive", "outside assumptions")},
                 records=[r.as_dict() for r in run.records])
        claims.append(c)
    return jsonable({
        "version": __version__, "scale": res.scale, "seed": res.seed, "alpha": res.alpha,
        "per_record_alpha": res.per_record_alpha, "correction": "bonferroni",
        "correction_text": CORRECTION.format(alpha=res.alpha, a=res.per_record_alpha),
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
            d = r.as_dict()
            lo, hi = d["ci"]
            rows.append([r.claim, r.reference, r.quantity + _cfg_short(r.config),
                         f"{fmt(r.estimate.value)} [{fmt(lo)}, {fmt(hi)}]",
                         ("= " if r.relation == "eq" else ">= " if r.relation == "ge" else "<= ")
                         + fmt(r.bound), fmt(r.ratio), r.decision.verdict])
    return rows


def _cfg_short(cfg):
    keys = ("objective", "d", "n", "n0", "eta", "nu", "T", "steps", "lr", "rv", "reading")
    parts = [f"{k}={fmt(cfg[k]) if isinstance(cfg[k], float) else cfg[k]}" for k in keys
             if k in cfg and not isinstance(cfg[k], (list, dict))]
    return f" ({', '.join(parts)})" if parts else ""


HEAD = ["claim", "reference", "quantity (config)", "empirical [CI]", "bound", "ratio", "verdict"]


def text_table(res: VerifyResult) -> str:
    rows = [HEAD] + record_rows(res)
    widths = [min(max(len(str(r[k])) for r in rows), w)
              for k, w in enumerate((16, 30, 60, 30, 14, 9, 20))]
    out = []
    for i, r in enumerate(rows):
        out.append("  ".join(str(c)[:w].ljust(w) for c, w in zip(r, widths, strict=True)))
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
        n = {v: sum(r.decision.verdict == v for r in run.records)
             for v in ("holds", "violated", "inconclusive", "outside assumptions")}
        ratios = [r.ratio for r in run.records if math.isfinite(r.ratio) and r.relation != "eq"]
        rng = f"{fmt(min(ratios))} .. {fmt(max(ratios))}" if ratios else "-"
        rows.append([c.id, c.reference, res.claim_verdict(run),
                     f"{n['holds']}/{n['violated']}/{n['inconclusive']}/{n['outside assumptions']}",
                     rng, f"{run.seconds:.1f}"])
    return rows


SUMMARY_HEAD = ["claim", "reference", "verdict", "holds/violated/inconclusive/outside",
                "ratio range", "seconds"]


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
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


def markdown(res: VerifyResult, figs=None) -> str:
    c = res.counts()
    L = [f"# hdo-theory verification report ({res.scale})", "",
         f"hdo-theory {__version__}, seed {res.seed}, {len(res.runs)} claims, "
         f"{len(res.records)} records, {res.seconds:.1f} s.", "",
         f"Verdicts: {c['holds']} holds, {c['violated']} violated, {c['inconclusive']} "
         f"inconclusive, {c['outside assumptions']} outside the lemma's assumptions.", "",
         "Decision rule: **holds** when the upper confidence limit is below the bound, "
         "**violated** when the lower limit is above it, **inconclusive** otherwise (for exact "
         "identities, relation `=`: holds when the interval contains the exact value). "
         + CORRECTION.format(alpha=res.alpha, a=res.per_record_alpha), ""]
    if res.errors:  # before "## Claims": report.html shows this part as it is
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
              f"{d['bound']}." + (f" ERROR: {run.error}" if run.error else "")]
    L += ["", "## All records", "", _md_table(HEAD, record_rows(res)), ""]
    if figs:
        L += ["## Figures", "", "Embedded in report.html:", ""]
        L += [f"- {cap}" for cap, _ in figs]
    return "\n".join(L) + "\n"


def html_doc(res: VerifyResult, md: str, figs) -> str:
    esc = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             "<title>hdo-theory verification report</title><style>",
             "body{font-family:sans-serif;max-width:1200px;margin:auto}"
             "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;"
             "padding:2px 5px}.holds{background:#dfd}.violated{background:#fdd}"
             ".inconclusive{background:#ffd}.outside{background:#eee}",
             "</style></head><body>"]
    sec = md.split("## All records")[0].split("## Claims")
    parts.append("<pre style='white-space:pre-wrap'>" + esc(sec[0]) + "</pre>")
    parts.append("<h2>Claims</h2>" + _html_table(SUMMARY_HEAD, summary_rows(res), 2))
    rest = sec[1].split("## Findings", 1)[1] if len(sec) > 1 else ""
    parts.append("<h2>Findings and definitions</h2><pre style='white-space:pre-wrap'>"
                 + esc(rest) + "</pre>")
    parts.append("<h2>Figures</h2>")
    for cap, b64 in figs:
        parts.append(f"<figure><img src='data:image/png;base64,{b64}'/><figcaption>{esc(cap)}"
                     "</figcaption></figure>")
    parts.append("<h2>All records</h2>" + _html_table(HEAD, record_rows(res), 6))
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_table(head, rows, verdict_col):
    esc = html.escape
    out = ["<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>"]
    for r in rows:
        cls = str(r[verdict_col]).split()[0]
        out.append(f"<tr class='{esc(cls)}'>" + "".join(f"<td>{esc(str(c))}</td>" for c in r)
                   + "</tr>")
    return "\n".join(out) + "</table>"


def write_report(res: VerifyResult, out_dir) -> dict:
    """Write ``report.md``, ``report.html`` and ``report.json`` into ``out_dir`` (created with
    its parents if missing, like every ``--out``; HDOInputError if it cannot be written)."""
    out = check_writable_folder(out_dir, what="out_dir")
    figs = figures(res)
    md = markdown(res, figs)
    paths = {"md": out / "report.md", "html": out / "report.html", "json": out / "report.json"}
    # atomic: an interrupted write leaves the previous report, never a torn one
    write_text_atomic(paths["md"], md)
    write_text_atomic(paths["html"], html_doc(res, md, figs))
    write_text_atomic(paths["json"], json.dumps(to_json(res), indent=1, allow_nan=False))
    return paths
