"""Plotting as pure functions of stored results (benchopt style): data in, Figure out.

Each ``plot_<figure>(data)`` takes the ``{key: Results | table}`` mapping of
:func:`hdo_theory.figures.specs.ensure` and returns a :class:`matplotlib.figure.Figure`; each
``summarise_<figure>(data)`` returns the numbers the caption quotes (fitted slopes, whether a
claim reproduces ...). Nothing here runs a simulation or touches the disk.
"""

from __future__ import annotations

import math

import numpy as np

from hdo_theory.figures import style
from hdo_theory.verification import bounds as B
from hdo_theory.verification.stats import loglog_slope, predicted_exponent

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def bound_params(res, **over) -> B.BoundParams:
    """The :class:`~.verification.bounds.BoundParams` of a run, from what its Results store."""
    info, c = res.info, res.constants
    n0, n1, d = int(info["n0"]), int(info["n1"]), int(info["d"])
    s = np.asarray(c.get("s_sq") or [0.0] * (n0 + n1), dtype=float)
    s = np.where(np.isfinite(s), s, 0.0)
    eta = float(info["lr_zo"] if n0 else info["lr_fo"])
    kw = dict(n0=n0, n1=n1, d=d, L=float(c.get("L", info.get("L") or math.nan)), eta=eta,
              ell=float(c.get("ell") or 0.0), nu=float(info["nu_zo"]) if n0 else None,
              varsigma0_sq=float(c.get("varsigma0_sq", 0.0)),
              varsigma1_sq=float(c.get("varsigma1_sq", 0.0)),
              sum_s_sq0=float(s[:n0].sum()), sum_s_sq1=float(s[n0:].sum()),
              T=int(res.t[-1]), f0_gap=float(res.mean("gap")[0]),
              dist0_sq=float(res.mean("dist_sq")[0]))
    kw.update(over)
    return B.BoundParams(**kw)


def _final(res, name):
    return res[name][:, -1]


def _mean_ci(v):
    m, lo, hi = style.mean_band(np.asarray(v, dtype=float)[:, None])
    return float(m[0]), float(lo[0]), float(hi[0])


def _keys(data, prefix):
    return [k for k in data if k.startswith(prefix)]


def _parse(key: str) -> dict:
    out = {}
    for part in key.split(","):
        k, _, v = part.partition("=")
        out[k] = float(v) if v.replace(".", "", 1).replace("e-", "", 1).isdigit() else v
    return out


# ---------------------------------------------------------------------------------------------
# (1) ZO estimators
# ---------------------------------------------------------------------------------------------


def _rows(data, panel, kind):
    return [r for r in data["table"]["rows"] if r["panel"] == panel and r["kind"] == kind]


def _xval(row, xkey):
    return float(row["nu"]) if xkey == "nu" else float(row["objective"]["d"])


def plot_zo_estimators(data):
    from hdo_theory.estimators import ESTIMATORS, GAUSSIAN_SMOOTHING_BIAS
    from hdo_theory.figures.specs import bias_kinds, moment_kinds

    BIAS_KINDS, MOMENT_KINDS = bias_kinds(), moment_kinds()

    with style.style():
        fig, axes = style.new_figure(2, 2)
        panels = (("bias-nu", "nu", "bias", BIAS_KINDS, r"smoothing radius $\nu$",
                   r"bias $\|E\,G - \nabla f^i(x)\|$", "logistic, d = 10, full-shard batch"),
                  ("bias-d", "d", "bias", BIAS_KINDS, "dimension d",
                   r"bias $\|E\,G - \nabla f^i(x)\|$", r"logistic, $\nu$ = 1, full-shard batch"),
                  ("moment-d", "d", "second_moment", MOMENT_KINDS, "dimension d",
                   r"$E\|G\|^2$", r"quadratic, $\nu$ = 0.1, batch 1"),
                  ("moment-nu", "nu", "second_moment", MOMENT_KINDS, r"smoothing radius $\nu$",
                   r"$E\|G\|^2$", "quadratic, d = 10, batch 1"))
        for p, (panel, xkey, qkey, kinds, xl, yl, title) in enumerate(panels):
            ax = axes.flat[p]
            for k, kind in enumerate(kinds):
                rows = sorted(_rows(data, panel, kind), key=lambda r: _xval(r, xkey))
                if not rows:
                    continue
                x = np.array([_xval(r, xkey) for r in rows], float)
                v = np.array([r[qkey]["value"] for r in rows], float)
                lo = np.array([r[qkey]["ci"][0] for r in rows], float)
                hi = np.array([r[qkey]["ci"][1] for r in rows], float)
                # an interval reaching 0 gets a caret, not a whisker to the axis floor
                style.log_errorbar(ax, x, v, lo, hi, color=style.color(k),
                                   marker=style.marker(k), ms=4, label=kind)
                ex = np.array([r[qkey]["exact"] if r[qkey]["exact"] is not None else np.nan
                               for r in rows], float)
                if np.any(np.isfinite(ex) & (ex > 0)):
                    ax.plot(x, ex, color=style.color(k), lw=1, ls=style.linestyle(k), alpha=0.9)
                bd = np.array([r[qkey]["bound"] if r[qkey]["bound"] is not None else np.nan
                               for r in rows], float)
                own_bound = ESTIMATORS[kind].bias_bound not in (None, GAUSSIAN_SMOOTHING_BIAS)
                if qkey == "bias" and own_bound and np.any(bd > 0):  # not the shared Lemma 1
                    ax.plot(x, bd, color=style.color(k), lw=0.9, ls=":")
            # the shared Lemma 1 item 4 / Lemma 5 (6) line, from the first estimator it bounds
            ref_kind = next((k for k in kinds if ESTIMATORS[k].lemma5
                             and ESTIMATORS[k].bias_bound is GAUSSIAN_SMOOTHING_BIAS), None)
            ref = sorted(_rows(data, panel, ref_kind), key=lambda r: _xval(r, xkey))
            if ref:
                x = np.array([_xval(r, xkey) for r in ref], float)
                bd = np.array([r[qkey]["bound"] or np.nan for r in ref], float)
                name = "Lemma 1 item 4" if qkey == "bias" else "Lemma 5 (6)"
                ax.plot(x, bd, label=name, **style.BOUND_STYLE)
                if qkey == "bias":
                    sh = np.array([r[qkey].get("sharper_bound") or np.nan for r in ref], float)
                    ax.plot(x, sh, label=r"$\nu L\sqrt{d}$", ls="--", **style.BOUND_STYLE)
            style.label_axes(ax, xl, yl, logx=True, logy=True, title=title)
            if xkey == "d":  # label the dimensions used, not only powers of ten
                from matplotlib.ticker import ScalarFormatter

                dvals = sorted({_xval(r, "d") for r in data["table"]["rows"]
                                if r["panel"] == panel})
                ax.set_xticks(dvals)
                ax.xaxis.set_major_formatter(ScalarFormatter())
            style.panel_letter(ax, p)
            if p % 2:  # one legend per row (both panels of a row show the same estimators),
                style.legend_outside(ax, "right")  # beside the row: never over the markers
        fig.suptitle("Zeroth-order estimators: measured (95% CI; caret: interval reaches 0), "
                     "exact (thin lines), bounds (black)", fontsize=9.5)
    return fig


def summarise_zo_estimators(data) -> dict:
    out = {}
    for r in data["table"]["rows"]:
        q = "bias" if r["panel"].startswith("bias") else "second_moment"
        e = r[q]
        key = f"{r['panel']}/{r['kind']}/d={r['objective']['d']}/nu={r['nu']}"
        out[key] = {"value": e["value"], "ci": e["ci"], "exact": e["exact"], "bound": e["bound"],
                    "ratio_to_bound": (e["value"] / e["bound"]) if e["bound"] else None,
                    # relative slack 1e-9: a deterministic estimator's CI is a point, and its
                    # exact value agrees only to rounding
                    "exact_in_ci": (e["ci"][0] - 1e-9 * abs(e["exact"]) <= e["exact"]
                                    <= e["ci"][1] + 1e-9 * abs(e["exact"]))
                    if e["exact"] is not None else None}
    return out


# ---------------------------------------------------------------------------------------------
# (2) Gamma_t and the Lemma 2 / Lemma 11 envelopes
# ---------------------------------------------------------------------------------------------


def _iterate(T, a, add):
    """``g_{t+1} = a g_t + add(t)`` from ``g_0`` given as ``add(-1)``; returns ``g_0..g_T``."""
    g = np.empty(T + 1)
    g[0] = add(-1)
    for t in range(T):
        g[t + 1] = a * g[t] + add(t)
    return g


def gamma_envelopes(res) -> dict:
    """Lemma 2 and Lemma 11 iterated from ``E Gamma_0`` with the run's recorded replica means
    ``E M^G_t`` and ``E(f(mu_t) - f*)`` (step-wise constant between records)."""
    p = bound_params(res)
    n, T = p.n, int(res.t[-1])
    steps = np.arange(T + 1)
    g0 = float(res.mean("gamma")[0])
    mg = np.interp(steps, res.t, np.nan_to_num(res.mean("mg")))
    gap = np.interp(steps, res.t, np.nan_to_num(res.mean("gap")))
    l2 = _iterate(T, 1 - 1 / (2 * n), lambda t: g0 if t < 0 else 4 / n * p.eta**2 * mg[t])
    noise = B.lemma11_gamma_next(p, 0.0, 0.0)
    l11 = _iterate(T, 1 - 1 / (4 * n), lambda t: g0 if t < 0 else
                   noise + 24 * p.eta**2 * (2 * p.d + 9) * p.L * gap[t] / n)
    return {"t": steps, "lemma2": l2, "lemma11": l11, "params": p}


def plot_gamma(data):
    with style.style():
        fig, axes = style.new_figure(1, 2)
        res = data["averaging"]
        n = int(res.info["n"])
        ax = axes[0, 0]
        style.plot_band(ax, res.t, res["gamma"], k=4, label=r"$\Gamma_t$ (mean, 95% band)",
                    logy=True)
        g0 = float(res.mean("gamma")[0])
        t = res.t.astype(float)
        ax.plot(t, g0 * B.exact_pairwise_contraction(n) ** t, ls="--", color=style.color(0),
                label=r"exact $(1-\frac{1}{n-1})^t\,\Gamma_0$")
        ax.plot(t, g0 * (1 - 1 / (2 * n)) ** t, label=r"Lemma 2: $(1-\frac{1}{2n})^t\,\Gamma_0$",
                **style.BOUND_STYLE)
        style.label_axes(ax, "interactions t", r"$\Gamma_t$", logy=True,
                     title=rf"pure averaging ($\eta$ = 0), n = {n}")
        style.panel_letter(ax, 0)
        res = data["stepping"]
        env = gamma_envelopes(res)
        ax = axes[0, 1]
        sel = res.t >= 1
        style.plot_band(ax, res.t[sel], res["gamma"][:, sel], k=4, label=r"$\Gamma_t$", logy=True)
        ax.plot(env["t"][1:], env["lemma2"][1:], label=r"Lemma 2 (with measured $M^G_t$)",
                **style.BOUND_STYLE)
        ax.plot(env["t"][1:], env["lemma11"][1:], ls="--", label="Lemma 11 envelope",
                **style.BOUND_STYLE)
        p = env["params"]
        style.label_axes(ax, "interactions t", r"$\Gamma_t$", logx=True, logy=True,
                     title=rf"{style.population_label(p.n0, p.n1)}, $\eta = 1/(14L\sqrt{{d+4}})$")
        style.legend_outside(ax, "below")
        style.panel_letter(ax, 1)
        style.place_legends(fig, [axes[0, 0]])  # a free corner of (a), or below it
    return fig


def summarise_gamma(data) -> dict:
    res = data["stepping"]
    env = gamma_envelopes(res)
    gm = res.mean("gamma")
    idx = res.t
    r2 = gm[1:] / env["lemma2"][idx][1:]
    r11 = gm[1:] / env["lemma11"][idx][1:]
    avg = data["averaging"]
    n = int(avg.info["n"])
    tt = avg.t[1:].astype(float)
    m = avg.mean("gamma")
    rate = float(np.exp(np.polyfit(tt, np.log(m[1:] / m[0]), 1)[0]))
    return {"averaging_measured_factor": rate, "averaging_exact_factor":
            B.exact_pairwise_contraction(n), "lemma2_factor": 1 - 1 / (2 * n),
            "stepping_max_ratio_to_lemma2": float(np.nanmax(r2)),
            "stepping_max_ratio_to_lemma11": float(np.nanmax(r11)),
            "eta": env["params"].eta}


# ---------------------------------------------------------------------------------------------
# (3) convex, (4) non-convex rates
# ---------------------------------------------------------------------------------------------


def _by_n0(data):
    groups: dict[int, list] = {}
    for key, res in data.items():
        kv = _parse(key)
        groups.setdefault(int(kv["n0"]), []).append((int(kv["T"]), res))
    return {n0: sorted(v, key=lambda z: z[0]) for n0, v in sorted(groups.items())}


def _rate_panel(ax, groups, value_of, bound_of, k0=0):
    fits = {}
    for k, (n0, runs) in enumerate(groups.items()):
        Ts = np.array([T for T, _ in runs], float)
        reps = [value_of(res) for _, res in runs]
        reps = [r[np.isfinite(r)] for r in reps]
        n = int(runs[0][1].info["n"])
        bnd = np.array([bound_of(res) for _, res in runs])
        # a horizon where every replica diverged has no point (reported in the summary)
        ok = np.array([r.size > 0 for r in reps]) & np.isfinite(bnd)
        if ok.sum() < 1:
            fits[n0] = {"slope": math.nan, "diverged_T": Ts.tolist()}
            continue
        diverged_T = Ts[~ok].tolist()
        Ts, bnd = Ts[ok], bnd[ok]
        reps = [r for r, keep in zip(reps, ok, strict=True) if keep]
        mci = np.array([_mean_ci(r) for r in reps])
        fit = loglog_slope(Ts, reps)
        s = fit.slope
        C = float(np.nanmedian(mci[:, 0] / bnd))
        pred = predicted_exponent(Ts, bnd)
        fits[n0] = {"slope": s.value, "slope_se": s.se, "bound_exponent": pred,
                    "diverged_T": diverged_T,
                    "C_fit": C, "T": Ts.tolist(), "mean": mci[:, 0].tolist(),
                    "ci": mci[:, 1:].tolist()}
        lab = rf"$n_0/n$ = {n0}/{n}: slope {s.value:.2f} $\pm$ {1.96 * s.se:.2f}"
        style.log_errorbar(ax, Ts, mci[:, 0], mci[:, 1], mci[:, 2], color=style.color(k + k0),
                           marker=style.marker(k), ms=4, label=lab)
        if math.isfinite(fit.intercept):
            ax.plot(Ts, fit.constant * Ts**s.value, color=style.color(k + k0), lw=1)
        ax.plot(Ts, C * bnd, color=style.color(k + k0), lw=1, ls=":")
    return fits


def plot_convex(data):
    groups = _by_n0(data)
    with style.style():
        fig, axes = style.new_figure(1, 2, width=3.6)
        thm = lambda res: B.theorem1_convex_bound(bound_params(res))  # noqa: E731
        f1 = _rate_panel(axes[0, 0], groups, lambda r: _final(r, "y_gap"), thm)
        style.label_axes(axes[0, 0], "interactions T", r"$f(y_T) - f^*$", logx=True, logy=True,
                     title="strongly convex, Theorem 1 schedule")
        ell = float(next(iter(data.values())).constants.get("ell") or 1.0)
        f2 = _rate_panel(axes[0, 1], groups, lambda r: _final(r, "dist_sq"),
                         lambda res: 8 / ell * thm(res))
        style.label_axes(axes[0, 1], "interactions T", r"$\|\mu_T - x^*\|^2$", logx=True, logy=True,
                     title="distance of the mean model")
        for p, ax in enumerate(axes.flat):
            ax.plot([], [], color="0.3", lw=1, ls=":", label="Theorem 1 shape (fitted C)")
            style.panel_letter(ax, p)
        style.place_legends(fig, axes.flat)
    fig._hdo_summary = {"y_gap": f1, "dist_sq": f2}
    return fig


def summarise_convex(data) -> dict:
    fig = plot_convex(data)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return fig._hdo_summary


def _avg_grad(res):
    sel = res.t < res.t[-1]
    return np.nanmean(res["grad_norm_sq"][:, sel], axis=1)


def plot_nonconvex(data):
    groups = _by_n0(data)
    with style.style():
        fig, axes = style.new_figure(1, 1, width=4.2, height=3.0)
        ax = axes[0, 0]
        fits = _rate_panel(ax, groups, _avg_grad,
                           lambda res: B.theorem1_nonconvex_bound(bound_params(res)))
        any_res = next(iter(data.values()))
        d = int(any_res.info["d"])
        Ts = np.array(sorted({int(_parse(k)["T"]) for k in data}), float)
        first = next(iter(fits.values()))
        c = first["mean"][0] / math.sqrt(d / Ts[0])
        ax.plot(Ts, c * np.sqrt(d / Ts), label=r"$\propto\sqrt{d/T}$", ls="--", **style.BOUND_STYLE)
        ax.plot([], [], color="0.3", lw=1, ls=":", label="Theorem 1 shape (fitted C)")
        style.label_axes(ax, "interactions T", r"$\frac{1}{T}\sum_t \|\nabla f(\mu_t)\|^2$",
                     logx=True, logy=True,
                     title=rf"non-convex logistic, d = {d}, $\eta = n/\sqrt{{dT}}$")
        style.place_legends(fig, [ax])
    fig._hdo_summary = fits
    return fig


def summarise_nonconvex(data) -> dict:
    import matplotlib.pyplot as plt

    fig = plot_nonconvex(data)
    plt.close(fig)
    return fig._hdo_summary


# ---------------------------------------------------------------------------------------------
# (5) speedup, (6) phase diagram
# ---------------------------------------------------------------------------------------------


def _first_below(x, y, eps):
    ok = np.flatnonzero(np.isfinite(y) & (y <= eps))
    return float(x[ok[0]]) if ok.size else math.inf


#: Human names of the speedup figure's target metrics (titles), and their symbols.
SPEEDUP_METRICS = {"gap": ("optimality gap of the mean model", r"$f(\mu_t) - f^*$"),
                   "grad_norm_sq": ("squared gradient norm of the mean model",
                                    r"$\|\nabla f(\mu_t)\|^2$")}


def speedup_table(data, case) -> dict:
    """Per n: the best learning rate's parallel time to reach the target, and the speedup
    against the smallest n. Target: 1.2 x the largest over n of the best final replica-mean
    metric (so every n reaches it).

    Intervals (``time_ci``, ``speedup_ci``), at the best rate: the time at which the 95% band
    of the replica mean (:func:`~hdo_theory.figures.style.mean_band`) first reaches the target
    with its lower edge (earliest) and with its upper edge (latest; ``inf`` if it never does).
    A speedup's interval divides the reference's earliest time by n's latest and its latest
    by n's earliest (both uncertainties, conservatively); ``[0, ...]`` means n may never reach
    the target. The reference n has speedup 1 by definition and no interval."""
    metric = "gap" if case == "convex" else "grad_norm_sq"
    runs: dict[int, list] = {}
    for key, res in data.items():
        kv = _parse(key.replace(":", ","))
        if key.startswith(case + ","):
            runs.setdefault(int(kv["n"]), []).append((kv["lr"], res))
    best_final = {n: min(np.nanmin(r.mean(metric)[-5:]) for _, r in v) for n, v in runs.items()}
    eps = 1.2 * max(best_final.values())
    out = {}
    for n, v in sorted(runs.items()):
        times = [(_first_below(r.parallel_time, r.mean(metric), eps), lr) for lr, r in v]
        tbest, lr = min(times)
        lrs = sorted(lr_ for lr_, _ in v)
        res = next(r for lr_, r in v if lr_ == lr)
        _, lo, hi = style.mean_band(res[metric])
        t_ci = [_first_below(res.parallel_time, lo, eps), _first_below(res.parallel_time, hi, eps)]
        # a best rate at the grid's edge means the grid may not hold the true best rate
        out[n] = {"time": tbest, "lr": lr, "lr_at_grid_edge": lr in (lrs[0], lrs[-1]),
                  "time_ci": t_ci, "replicas": int(res[metric].shape[0])}
    n_ref = min(out)
    ref_lo, ref_hi = out[n_ref]["time_ci"]
    for n in out:
        out[n]["speedup"] = out[n_ref]["time"] / out[n]["time"]
        lo_n, hi_n = out[n]["time_ci"]
        with np.errstate(all="ignore"):
            out[n]["speedup_ci"] = None if n == n_ref else [
                float(np.divide(ref_lo, hi_n)) if math.isfinite(hi_n) else 0.0,
                float(np.divide(ref_hi, lo_n)) if lo_n > 0 else math.inf]
    return {"target": eps, "metric": metric, "metric_name": SPEEDUP_METRICS[metric][0],
            "by_n": out}


def plot_speedup(data):
    with style.style():
        fig, axes = style.new_figure(1, 2, height=3.0)
        summ = {}
        for p, (case, claim, fn) in enumerate((
                ("convex", r"$n/\log n$", lambda n: n / np.log(n)),
                ("nonconvex", r"$\sqrt{n}$", np.sqrt))):
            ax = axes[0, p]
            tab = speedup_table(data, case)
            summ[case] = tab
            ns = np.array(sorted(tab["by_n"]), float)
            rows = [tab["by_n"][int(n)] for n in ns]
            sp = np.array([r["speedup"] for r in rows])
            ci = np.array([r["speedup_ci"] or [r["speedup"]] * 2 for r in rows], float)
            reps = min(r["replicas"] for r in rows)
            ax.plot(ns, sp, marker="o", color=style.color(4),
                    label=f"measured (best lr per n; 95% CI, {reps} replicas)")
            # one-sided carets: a lower end of 0 (n's upper band edge never reaches the target)
            # hangs below the point; an unbounded upper end (the reference's upper band edge
            # never reaches it) stands on the point
            style.log_errorbar(ax, ns, sp, ci[:, 0], ci[:, 1], color=style.color(4),
                               marker="none", caret_ms=10)
            ax.plot(ns, fn(ns) / fn(ns[0]), label=f"claimed {claim}", ls="--", **style.BOUND_STYLE)
            ax.plot(ns, ns / ns[0], label="linear", ls=":", **style.BOUND_STYLE)
            what, sym = SPEEDUP_METRICS[tab["metric"]]
            style.label_axes(ax, "nodes n (half ZO, half FO)",
                         f"speedup over n = {int(ns[0])} (parallel time)", logx=True, logy=True,
                         title=f"{'convex' if case == 'convex' else 'non-convex'}: parallel "
                               f"time until the\n{what}\n{sym} $\\leq$ {tab['target']:.3g}")
            from matplotlib.ticker import ScalarFormatter

            ax.set_xticks(ns)
            ax.xaxis.set_major_formatter(ScalarFormatter())
            style.panel_letter(ax, p)
        style.place_legends(fig, axes.flat)
    fig._hdo_summary = summ
    return fig


def summarise_speedup(data):
    import matplotlib.pyplot as plt

    fig = plot_speedup(data)
    plt.close(fig)
    return fig._hdo_summary


def phase_grid(data):
    """``(ds, n0s, Z, SE, HW)``: ``Z[i, j] = log10(mean final gap of (d_i, n0_j) / that of
    (d_i, 0))`` over replicas, its standard error by the delta method,
    ``SE^2 = (a + a0) / ln(10)^2`` with ``a = var(g) / (R mean(g)^2)`` (relative variance of a
    replica mean), and the 95% half-width ``HW = t_{0.975, nu} SE`` with Welch-Satterthwaite
    degrees of freedom ``nu = (a + a0)^2 / (a^2 / (R - 1) + a0^2 / (R0 - 1))`` (few replicas:
    the normal quantile would be too narrow). The reference column (n0 = 0) is 0 exactly."""
    from scipy import stats

    cells = {}
    for key, res in data.items():
        kv = _parse(key)
        g = np.asarray(res.final("gap"), dtype=float)
        cells[(int(kv["d"]), int(kv["n0"]))] = g[np.isfinite(g)]
    ds = sorted({d for d, _ in cells})
    n0s = sorted({n0 for _, n0 in cells})
    Z = np.full((len(ds), len(n0s)), np.nan)
    SE = np.full_like(Z, np.nan)
    HW = np.full_like(Z, np.nan)

    def rel_var(g):  # var(mean g) / mean(g)^2
        return float(np.var(g, ddof=1) / (g.size * np.mean(g) ** 2)) if g.size > 1 else np.nan

    for i, d in enumerate(ds):
        for j, n0 in enumerate(n0s):
            if (d, n0) not in cells or (d, 0) not in cells:
                continue
            g, g0 = cells[(d, n0)], cells[(d, 0)]
            if not (g.size and g0.size and np.mean(g) > 0 and np.mean(g0) > 0):
                continue
            Z[i, j] = math.log10(float(np.mean(g)) / float(np.mean(g0)))
            if n0 == 0:
                SE[i, j] = HW[i, j] = 0.0
                continue
            a, a0 = rel_var(g), rel_var(g0)
            SE[i, j] = math.sqrt(a + a0) / math.log(10)
            dof = (a + a0) ** 2 / (a**2 / (g.size - 1) + a0**2 / (g0.size - 1))
            HW[i, j] = float(stats.t.ppf(0.975, dof)) * SE[i, j]
    return ds, n0s, Z, SE, HW


def plot_phase(data):
    ds, n0s, Z, SE, HW = phase_grid(data)
    n1 = int(next(iter(data.values())).info["n1"])
    with style.style():
        fig, axes = style.new_figure(1, 1, width=4.2, height=3.2)
        ax = axes[0, 0]
        lim = max(0.1, float(np.nanmax(np.abs(Z))))
        im = ax.imshow(Z, origin="lower", cmap="PuOr_r", vmin=-lim, vmax=lim, aspect="auto")
        for i in range(len(ds)):
            for j in range(len(n0s)):
                if not np.isfinite(Z[i, j]):
                    continue
                if n0s[j] == 0:
                    txt = "ref"
                elif abs(Z[i, j]) > HW[i, j]:
                    txt = f"{Z[i, j]:+.2f}"
                else:  # 95% interval contains 0: the run cannot tell whether ZO helps or hurts
                    txt = f"({Z[i, j]:+.2f})"
                ax.text(j, i, txt, ha="center", va="center", fontsize=6.5)
        ax.set_xticks(range(len(n0s)), [str(v) for v in n0s])
        ax.set_yticks(range(len(ds)), [str(v) for v in ds])
        # the line d n0 = n = n0 + n1, i.e. n0 = n1 / (d - 1), in index coordinates
        dd = np.geomspace(max(ds[0], 1.5), ds[-1], 60)
        line_n0 = n1 / (dd - 1)
        xi = np.interp(line_n0, n0s, np.arange(len(n0s)))
        yi = np.interp(np.log(dd), np.log(ds), np.arange(len(ds)))
        keep = (line_n0 >= n0s[0]) & (line_n0 <= n0s[-1])
        ax.plot(xi[keep], yi[keep], label=r"$d\,n_0 = n$", **style.BOUND_STYLE)
        ax.grid(False)
        ax.legend(loc="upper right")
        cb = fig.colorbar(im, ax=ax)
        cb.set_label(r"$\log_{10}$ final gap / FO-only gap")
        style.label_axes(ax, f"ZO nodes n0 (added to {n1} FO); (.): 95% CI contains 0",
                     "dimension d", title="where ZO nodes help (< 0) or hurt (> 0)")
    return fig


def summarise_phase(data):
    ds, n0s, Z, SE, HW = phase_grid(data)
    resolved = np.where(np.isfinite(Z), np.abs(Z) > HW, False)
    return {"d": ds, "n0": n0s, "log10_ratio": Z.tolist(), "se": SE.tolist(),
            "half_width_95": HW.tolist(), "resolved_95": resolved.tolist()}


# ---------------------------------------------------------------------------------------------
# (7) populations, (8) ablations, (9) consensus, (10) interaction models
# ---------------------------------------------------------------------------------------------


def _pop_series(data, prefix, n0, n1, kind):
    """``(t, Y)`` replica curves of population (n0, n1): ``kind`` is ``train`` (f at the mean
    model; single workers: f at their own model), ``gap`` (the same minus f*),
    ``heldout_loss`` or ``heldout_acc`` (of the mean model, recorded along the run; single
    workers: of their own model, stored at the start and the end only). Held-out series keep
    only records with a finite value."""
    if n0 + n1 == 1:
        res = data.get(f"{prefix}:single")
        if res is None:
            return None
        tag = "zo" if n0 else "fo"
        name = f"{tag}_loss" if kind in ("train", "gap") else f"{kind}_{tag}"
    else:
        res = data.get(f"{prefix}:{n0},{n1}")
        if res is None:
            return None
        name = "gap" if kind in ("train", "gap") else kind
    Y = res[name]
    if kind == "train" and name == "gap":
        Y = Y + float(res.info["f_star"])
    if kind == "gap" and name != "gap":
        Y = Y - float(res.info["f_star"])
    t = res.t
    if kind != "train":
        sel = np.any(np.isfinite(Y), axis=0)
        t, Y = t[sel], Y[:, sel]
    return t, Y


def _pop_style(n0, n1):
    from hdo_theory.figures.specs import PAPER_POPULATIONS

    if n0 and n1:
        return dict(color="#000000", ls="-", lw=2.2)
    zo = [p for p in PAPER_POPULATIONS if p[0] and not p[1]]
    fo = [p for p in PAPER_POPULATIONS if p[1] and not p[0]]
    if n0:
        return dict(color=style.color(zo.index((n0, n1)) if (n0, n1) in zo else 0), ls="-")
    return dict(color=style.color(fo.index((n0, n1)) if (n0, n1) in fo else 0), ls="--")


def plot_populations(data):
    from hdo_theory.figures.specs import PAPER_POPULATIONS

    panels = (("synthetic", "gap", r"$f(\mu_t) - f^*$", True),
              ("noisy", "gap", r"$f(\mu_t) - f^*$", True),
              ("digits", "train", "training loss f", True),
              ("digits", "heldout_loss", "held-out loss", True),
              ("digits", "heldout_acc", "held-out accuracy", False))
    titles = {"synthetic": "logistic d = 50: paper setting",
              "noisy": "logistic d = 50: lr 0.1, rv 8",
              "digits": "digits, softmax (d = 650)"}
    with style.style():
        fig, axes = style.new_figure(2, 3, width=3.3, height=2.7)
        for p, (prefix, kind, yl, logy) in enumerate(panels):
            ax = axes.flat[p]
            for n0, n1 in PAPER_POPULATIONS:
                got = _pop_series(data, prefix, n0, n1, kind)
                if got is None:
                    continue
                t, Y = got
                st = _pop_style(n0, n1)
                if kind.startswith("heldout") and n0 + n1 == 1:
                    # single workers' held-out values exist at the end only: a marker at T
                    # (with its 95% CI), never a straight line drawn from the start
                    _end_marker(ax, t, Y, st, style.population_label(n0, n1), logy=logy)
                    continue
                style.plot_band(ax, t, Y, label=style.population_label(n0, n1), logy=logy, **st)
            style.label_axes(ax, "rounds (random matchings)", yl, logy=logy, title=titles[prefix])
            style.panel_letter(ax, p)
        _final_dots(axes.flat[5], data)
        style.panel_letter(axes.flat[5], 5)
        h, lab = axes.flat[0].get_legend_handles_labels()
        fig.legend(h, lab, loc="outside right center", fontsize=7.5)
    return fig


def _end_marker(ax, t, Y, line_style, label, logy=False):
    m, lo, hi = _mean_ci(Y[:, -1])
    if not np.isfinite(m):
        return
    if logy:  # an interval reaching 0 gets a caret, not a whisker to the axis floor
        style.log_errorbar(ax, [t[-1]], [m], [lo], [hi], color=line_style["color"],
                           marker="D", ms=4, label=label)
        return
    err = [[m - lo], [hi - m]] if np.isfinite(lo) else None
    ax.errorbar([t[-1]], [m], yerr=err, color=line_style["color"], marker="D", ms=4,
                capsize=2, ls="none", label=label)


def _final_dots(ax, data):
    """Final f(mu) - f* per population (mean over the last 10% of rounds, 95% CI), both
    synthetic settings side by side."""
    from hdo_theory.figures.specs import PAPER_POPULATIONS

    labels = [style.population_label(*p) for p in PAPER_POPULATIONS]
    y = np.arange(len(labels))
    for k, (prefix, name) in enumerate((("synthetic", "paper setting"),
                                        ("noisy", "noise-dominated"))):
        for i, (n0, n1) in enumerate(PAPER_POPULATIONS):
            got = _pop_series(data, prefix, n0, n1, "gap")
            if got is None:
                continue
            m, lo, hi = _final_stats(*got)
            style.log_errorbar(ax, [i + 0.15 * (2 * k - 1)], [m], [lo], [hi], axis="x",
                               color=style.color(4 + k), marker=style.marker(k), ms=4,
                               label=name if i == 0 else None)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    style.label_axes(ax, r"final $f(\mu) - f^*$ (last 10% of rounds)", "population", logx=True,
                 title="logistic: final gap, 95% CI")
    style.legend_outside(ax, "below", fontsize=6.5, ncol=2)


def _final_stats(t, Y, last=0.1):
    """Mean over the last ``last`` fraction of records, per replica -> (mean, lo, hi)."""
    sel = t >= t[-1] * (1 - last)
    return _mean_ci(np.nanmean(Y[:, sel], axis=1))


def summarise_populations(data) -> dict:
    """Claim 4 with numbers, per data set: final losses (mean over the last 10% of rounds,
    95% CI over replicas), which FO populations 256 ZO beats, whether the hybrid beats both
    24 FO and 256 ZO (each "beats" needs the 95% CIs apart), and the round after which the
    hybrid's mean stays below 24 FO's. Single workers' held-out values exist at the last round
    only, so theirs are that round's values."""
    from hdo_theory.figures.specs import PAPER_POPULATIONS

    out = {}
    for prefix in ("synthetic", "noisy", "digits"):
        kinds = ["train"] + (["heldout_loss", "heldout_acc"] if prefix == "digits" else [])
        sec = {}
        for kind in kinds:
            fin = {}
            for n0, n1 in PAPER_POPULATIONS:
                got = _pop_series(data, prefix, n0, n1, kind)
                if got is not None:
                    fin[style.population_label(n0, n1)] = _final_stats(*got)
            sec[kind] = {"final": fin}
            better = (lambda a, b: a > b) if kind == "heldout_acc" else (lambda a, b: a < b)
            hy, zo, fo = "24 FO + 256 ZO", "256 ZO", "24 FO"
            if hy in fin and fo in fin and zo in fin:
                sec[kind]["hybrid_beats_24FO"] = better(fin[hy][0], fin[fo][0]) and not (
                    fin[hy][1] <= fin[fo][2] and fin[fo][1] <= fin[hy][2])
                sec[kind]["hybrid_beats_256ZO"] = better(fin[hy][0], fin[zo][0]) and not (
                    fin[hy][1] <= fin[zo][2] and fin[zo][1] <= fin[hy][2])
                sec[kind]["256ZO_beats"] = [k for k in fin if k.endswith(" FO") and "+" not in k
                                            and better(fin[zo][0], fin[k][0])
                                            and (fin[zo][2] < fin[k][1] or fin[zo][1] > fin[k][2])]
            if kind == "train":
                a = _pop_series(data, prefix, 256, 24, kind)
                b = _pop_series(data, prefix, 0, 24, kind)
                if a is not None and b is not None and a[0].shape == b[0].shape:
                    diff = np.nanmean(a[1], 0) - np.nanmean(b[1], 0)
                    ahead = np.flatnonzero(diff >= 0)
                    sec[kind]["hybrid_ahead_of_24FO_from_round"] = (
                        int(a[0][ahead[-1] + 1]) if ahead.size and ahead[-1] + 1 < diff.size
                        else (0 if not ahead.size else None))
        out[prefix] = sec
    return out


def _curves(ax, data, keys, labeler, metric="gap", logy=True, x="t", skip_start=False):
    """Replica bands of ``metric`` for ``keys``; ``skip_start`` drops the first record (a
    potential that starts at exactly 0 has no place on a log axis)."""
    for k, key in enumerate(keys):
        res = data[key]
        xs = res.t if x == "t" else res.parallel_time
        sel = slice(1, None) if skip_start else slice(None)
        style.plot_band(ax, xs[sel], res[metric][:, sel], k=k, label=labeler(key, res), logy=logy)


def roughness(res, metric="gap") -> float:
    """Median over replicas of the standard deviation of the second differences of
    ``log metric`` along the records: 0 for a smooth (log-linear) curve."""
    Y = np.log(np.where(res[metric] > 0, res[metric], np.nan))
    d2 = np.diff(Y, n=2, axis=1)
    return float(np.nanmedian(np.nanstd(d2, axis=1)))


def plot_ablations(data):
    with style.style():
        fig, axes = style.new_figure(1, 3, height=3.2)  # room for legends below the panels
        specs = ((_keys(data, "rv="), lambda k, r: f"rv = {k[3:]}", "random vectors, lr 0.01"),
                 (_keys(data, "lr="), lambda k, r: f"lr = {k[3:]}", "learning rate, rv 16"),
                 (_keys(data, "kind="), lambda k, r: k[5:], "estimator, rv 16"))
        for p, (keys, lab, title) in enumerate(specs):
            ax = axes[0, p]
            _curves(ax, data, keys, lab)
            style.label_axes(ax, "rounds", r"$f(\mu_t) - f^*$", logy=True, title=title)
            style.panel_letter(ax, p)
        style.place_legends(fig, axes.flat)
        fig.suptitle("Ablations, 90 ZO + 3 FO (random matchings, batch 2)", fontsize=9.5)
    return fig


def summarise_ablations(data) -> dict:
    fin = {k: _final_stats(r.t, r["gap"]) for k, r in data.items()}
    rvs = sorted(_keys(data, "rv="), key=lambda k: float(k[3:]))
    lrs = sorted(_keys(data, "lr="), key=lambda k: float(k[3:]))
    rv_means = [fin[k][0] for k in rvs]
    rough = {k: roughness(data[k]) for k in lrs}
    lo_rv, hi_rv = fin[rvs[0]], fin[rvs[-1]]
    out = {"final_gap": fin,
           "claim5_rv_means_decrease": bool(np.all(np.diff(rv_means) < 0)),
           # a verdict needs the extremes' 95% CIs apart, not only ordered means
           "claim5_more_rv_faster": bool(np.all(np.diff(rv_means) < 0) and hi_rv[2] < lo_rv[1]),
           "claim6_roughness_by_lr": rough,
           "claim6_smaller_lr_smoother": bool(np.all(np.diff([rough[k] for k in lrs]) >= 0))}
    if "kind=zo-directional" in fin and "kind=zo-forward" in fin:
        a, b = fin["kind=zo-directional"], fin["kind=zo-forward"]
        out["claim5_unbiased_faster"] = bool(a[2] < b[1])  # CIs apart, directional lower
    return out


def plot_consensus(data):
    keys = sorted(data, key=lambda k: int(k.split("=")[1]))
    with style.style():
        fig, axes = style.new_figure(1, 2, height=3.2)  # room for legends below the panels
        _curves(axes[0, 0], data, keys,
                lambda k, r: style.population_label(r.info["n0"], r.info["n1"]),
                metric="loss_spread", skip_start=True)
        style.label_axes(axes[0, 0], "rounds", r"spread: std$_i\, f(X^i_t)$", logx=True, logy=True,
                     title="16 nodes: consensus of node losses")
        _curves(axes[0, 1], data, keys,
                lambda k, r: style.population_label(r.info["n0"], r.info["n1"]), metric="gamma",
                skip_start=True)
        style.label_axes(axes[0, 1], "rounds", r"$\Gamma_t$", logx=True, logy=True,
                     title="16 nodes: model spread")
        for p, ax in enumerate(axes.flat):
            style.panel_letter(ax, p)
        style.place_legends(fig, axes.flat)
    return fig


def summarise_consensus(data) -> dict:
    keys = sorted(data, key=lambda k: int(k.split("=")[1]))
    fin = {k: _final_stats(data[k].t, data[k]["loss_spread"]) for k in keys}
    peak = {k: float(np.nanmax(data[k].mean("loss_spread"))) for k in keys}
    means = [fin[k][0] for k in keys]
    return {"final_spread": fin, "peak_spread": peak,
            "final_over_peak": {k: fin[k][0] / peak[k] if peak[k] > 0 else None for k in keys},
            "claim7_final_spread_means_increase": bool(np.all(np.diff(means) > 0)),
            # the verdict: the extremes' 95% CIs apart (all ZO above all FO)
            "claim7_more_zo_larger_final_spread": bool(fin[keys[-1]][1] > fin[keys[0]][2])}


def _interaction_label(key, res):
    model, topo = key.split(":")
    name = model if model != "graph" else topo
    return f"{name} (gap {float(res.info['spectral_gap']):.3g})"


def plot_interaction(data):
    keys = list(data)
    with style.style():
        fig, axes = style.new_figure(1, 2)
        _curves(axes[0, 0], data, keys, _interaction_label, metric="gamma", x="parallel",
                skip_start=True)
        style.label_axes(axes[0, 0], "parallel time (interactions / n)", r"$\Gamma_t$", logx=True,
                     logy=True,
                     title="consensus distance")
        _curves(axes[0, 1], data, keys, _interaction_label, metric="gap", x="parallel")
        style.label_axes(axes[0, 1], "parallel time (interactions / n)", r"$f(\mu_t) - f^*$",
                     logy=True, title="8 ZO + 8 FO, equal parallel time")
        for p, ax in enumerate(axes.flat):
            style.panel_letter(ax, p)
        # both panels show the same models: one legend, beside the figure (never over a curve)
        h, lab = axes[0, 0].get_legend_handles_labels()
        fig.legend(h, lab, loc="outside right center", fontsize=7.5)
    return fig


def summarise_interaction(data) -> dict:
    return {k: {"spectral_gap": float(r.info["spectral_gap"]),
                "final_gamma": _final_stats(r.parallel_time, r["gamma"]),
                "final_gap": _final_stats(r.parallel_time, r["gap"])} for k, r in data.items()}


# ---------------------------------------------------------------------------------------------
# (11) exact expected dynamics against Monte Carlo and Theorem 1
# ---------------------------------------------------------------------------------------------


def exact_curve(data) -> dict:
    """The exact figure's numbers: per ``T`` of the exact curve the Theorem 1 error
    ``E[f(y_T) - f*] + ell/8 E||mu_T - x*||^2`` and the explicit bound (constants as printed,
    ``C = 1``), their local log-log slopes, and per Monte Carlo horizon the replica mean with
    its 95% interval and its z-score against the exact value."""
    doc = data["exact"]
    c = doc["constants"]
    rows = doc["configs"]
    T = np.array([r["T"] for r in rows], dtype=float)
    err = np.array([r["y_gap"] + c["ell"] / 8 * r["dist_sq"] for r in rows])
    bnd = np.array([B.theorem1_convex_bound(B.BoundParams(eta=r["lr"], T=int(r["T"]), **c))
                    for r in rows])
    mid = np.sqrt(T[1:] * T[:-1])
    slope = np.diff(np.log(err)) / np.diff(np.log(T))
    bslope = np.diff(np.log(bnd)) / np.diff(np.log(T))
    mc = []
    for key in sorted(_keys(data, "mc,"), key=lambda k: int(k.split("T=")[1])):
        res = data[key]
        ok = res.diverged_at < 0
        v = res["y_gap"][ok, -1] + c["ell"] / 8 * res["dist_sq"][ok, -1]
        m, lo, hi = _mean_ci(v)
        Tk = int(res.t[-1])
        hit = np.nonzero(T == Tk)[0]
        ex = float(err[hit[0]]) if hit.size else math.nan
        se = float(np.std(v, ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan
        mc.append({"T": Tk, "mean": m, "ci": [lo, hi], "replicas": int(v.size), "exact": ex,
                   "z": (m - ex) / se if se > 0 else math.nan})
    return {"T": T.tolist(), "exact": err.tolist(), "bound": bnd.tolist(),
            "ratio": (err / bnd).tolist(), "T_mid": mid.tolist(), "local_slope": slope.tolist(),
            "bound_local_slope": bslope.tolist(), "monte_carlo": mc}


def plot_exact(data):
    e = exact_curve(data)
    T, mc = np.asarray(e["T"]), e["monte_carlo"]
    with style.style():
        fig, axes = style.new_figure(1, 2, width=3.6)
        ax = axes[0, 0]
        ax.plot(T, e["exact"], color=style.color(0), lw=1.5, label="exact (hdo_theory.exact)")
        if mc:
            style.log_errorbar(ax, [r["T"] for r in mc], [r["mean"] for r in mc],
                               [r["ci"][0] for r in mc], [r["ci"][1] for r in mc],
                               color=style.color(1), marker=style.marker(1), ms=4,
                               label=f"Monte Carlo, {mc[0]['replicas']} replicas (95% CI)")
        ax.plot(T, e["bound"], color=style.color(2), lw=1, ls=":",
                label="Theorem 1 bound (C = 1)")
        style.label_axes(ax, "interactions T", r"$E f(y_T) - f^* + \frac{\ell}{8}E\|\mu_T - x^*\|^2$",
                         logx=True, logy=True, title="exact error, Theorem 1 schedule")
        ax = axes[0, 1]
        ax.plot(e["T_mid"], e["local_slope"], color=style.color(0), lw=1.5, label="exact error")
        ax.plot(e["T_mid"], e["bound_local_slope"], color=style.color(2), lw=1, ls=":",
                label="Theorem 1 bound")
        ax.axhline(-1.0, color="0.5", lw=0.8, ls="--", label="-1")
        style.label_axes(ax, "interactions T", "local log-log slope", logx=True,
                         title="local slope d log(error) / d log T")
        for p, a in enumerate(axes.flat):
            style.panel_letter(a, p)
        style.place_legends(fig, axes.flat)
    fig._hdo_summary = e
    return fig


def summarise_exact(data) -> dict:
    e = exact_curve(data)
    last = [k for k, t in enumerate(e["T"]) if t >= e["T"][-1] / 10]
    k0 = last[0]
    e["last_decade"] = {
        "T": [e["T"][k0], e["T"][-1]],
        "slope": math.log(e["exact"][-1] / e["exact"][k0]) / math.log(e["T"][-1] / e["T"][k0]),
        "bound_slope": math.log(e["bound"][-1] / e["bound"][k0])
        / math.log(e["T"][-1] / e["T"][k0])}
    return e


PLOTS = {
    "zo-estimators": (plot_zo_estimators, summarise_zo_estimators),
    "gamma": (plot_gamma, summarise_gamma),
    "convex": (plot_convex, summarise_convex),
    "nonconvex": (plot_nonconvex, summarise_nonconvex),
    "speedup": (plot_speedup, summarise_speedup),
    "phase": (plot_phase, summarise_phase),
    "populations": (plot_populations, summarise_populations),
    "ablations": (plot_ablations, summarise_ablations),
    "consensus": (plot_consensus, summarise_consensus),
    "interaction": (plot_interaction, summarise_interaction),
    "exact": (plot_exact, summarise_exact),
}
