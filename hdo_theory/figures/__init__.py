"""Theory figures, regenerable from stored results.

* :mod:`.style`: one look (Okabe-Ito palette, labelled axes, replica bands, population labels).
* :mod:`.store`: run specs, their storage (one file per run, tagged with the spec's hash) and
  execution.
* :mod:`.specs`: one plan per figure (the runs it needs, quick and full) and :func:`ensure`.
* :mod:`.plots`: pure plotting functions, stored results in, Figure out.

:func:`make_figure` ties them together for one figure: load or run its results, plot, and write
``<name>.pdf``, ``<name>.png`` and ``<name>.caption.md`` (caption, quoted numbers, every run's
full configuration and seed, and the command).
"""

from __future__ import annotations

import json
from pathlib import Path

from hdo_theory.atomic import atomic_file, write_text_atomic
from hdo_theory.serialize import jsonable

# plots/specs pull in matplotlib and scipy.stats (about 2 s): they are imported on first use so
# that `hdo-theory --help` and the other commands start fast.

#: Figure name -> (number in the issue, caption).
CAPTIONS = {
    "zo-estimators": (1, "Zeroth-order estimators. Bias (top) on the logistic loss at a full "
                      "shard batch, against the radius nu (d = 10) and the dimension d (nu = 1), "
                      "with Lemma 1 item 4, the sharper nu L sqrt(d), and the sphere (L nu) and "
                      "coordinate (sqrt(d) L nu / 2) bounds dotted in their colours. Second moment "
                      "E||G||^2 (bottom) on the quadratic at batch 1, with the exact closed forms "
                      "(thin lines) and Lemma 5 (6). Markers: Monte Carlo means with 95% CIs."),
    "gamma": (2, "Consensus potential Gamma_t. (a) Pure averaging from spread models: the "
              "measured decay follows the exact (1 - 1/(n-1))^t, well inside Lemma 2's "
              "(1 - 1/(2n))^t (Gamma_t is a product of random contractions, so its distribution "
              "is right-skewed and a replica mean tends to sit below the expectation). "
              "(b) Stepping at Lemma 11's largest admissible rate: Gamma_t "
              "against Lemma 2 iterated with the measured E M^G_t and the Lemma 11 envelope "
              "iterated with the measured E(f(mu_t) - f*) and the objective's constants. Bands: "
              "95% CI of the replica mean."),
    "convex": (3, "Strongly convex rate (Theorem 1 schedule eta = 4 n log T/(T ell), "
               "nu = eta/sqrt(d), pairwise gossip, n = 8). Final f(y_T) - f* and "
               "||mu_T - x*||^2 against T for n0/n in {0, 1/2, 1}: replica means with 95% CIs, "
               "fitted log-log slopes (solid; +- 1.96 bootstrap s.e. in the legend) and "
               "Theorem 1's bound with its O() constant fitted (dotted). A caret below a point: "
               "its interval reaches 0 (no lower whisker on the log scale)."),
    "nonconvex": (4, "Non-convex rate (Theorem 1 schedule eta = n/sqrt(dT), nu = eta/sqrt(d)): "
                  "average ||grad f(mu_t)||^2 over the run against T, with the sqrt(d/T) "
                  "reference and Theorem 1's bound shape (fitted constant)."),
    "speedup": (5, "Speedup in parallel time against n (half ZO, half FO): for each n the best "
                "learning rate of a grid, time to reach a common target, relative to the "
                "smallest n; the claimed n/log n (convex) and sqrt(n) (non-convex) curves and "
                "linear speedup for reference. Whiskers: 95% intervals from the replica band of "
                "the mean curve at the best rate (the times its lower and upper edges first "
                "reach the target, for n and for the reference n, combined conservatively); a "
                "caret below a point: the interval reaches 0 (n's upper edge never reaches the "
                "target); a caret above: no finite upper end (the reference's upper edge never "
                "reaches it; null in the numbers)."),
    "phase": (6, "Phase diagram over (n0, d) at n1 = 4 FO nodes and equal parallel time: "
              "log10 of the final gap with n0 ZO nodes added over the FO-only gap (replica "
              "means); values in parentheses have a 95% interval containing 0 (delta method, "
              "Welch t quantile: with few replicas the run cannot tell there whether ZO nodes "
              "help or hurt); the line d n0 = n of claim 3 (drawn by interpolation between "
              "grid cells)."),
    "populations": (7, "The paper's population comparison (matching rounds, batch 2, lr 0.01, "
                    "rv 128, forward differences). 1 ZO / 1 FO are single workers (an isolated "
                    "pair that never averages). Synthetic logistic regression (training loss at "
                    "the mean model) and digits (softmax; training loss, and held-out loss and "
                    "accuracy of the mean model recorded along the run; single workers' "
                    "held-out values, of their own models, only at the end). Quick version: "
                    "200 rounds (synthetic), 100 rounds with rv 32 on digits and a subset of "
                    "populations. Bands: 95% CI over replicas (on log axes drawn down to a third "
                    "of the mean at most); markers: 95% CI, a caret instead of the lower whisker "
                    "where the interval reaches 0."),
    "ablations": (8, "Ablations for 90 ZO + 3 FO (claims 5 and 6): number of random vectors "
                  "rv, learning rate, and forward differences against the unbiased "
                  "directional estimator."),
    "consensus": (9, "Consensus for 16 nodes with n0 in {0, 4, 8, 12, 16} (claim 7): spread of "
                  "the node losses std_i f(X^i_t) and the model spread Gamma_t."),
    "interaction": (10, "Interaction models at equal parallel time (8 ZO + 8 FO): uniform "
                    "pairs, random matchings, ring, torus and random 4-regular graphs; the "
                    "legend gives each model's spectral gap (complete graph: 1/(n-1); matching: "
                    "its per-round averaging contraction)."),
    "exact": (11, "Exact expected dynamics (hdo_theory.exact) on an explicit quadratic (d = 4, "
              "n0 = n1 = 2, condition 2, heterogeneity 0.5, oracle noise 0.5; Theorem 1 "
              "schedule eta = 4 n log T/(T ell), nu = eta/sqrt(d), pairwise gossip). (a) The "
              "exact E[f(y_T) - f*] + ell/8 E||mu_T - x*||^2 against T (line, 8 points per "
              "decade, no sampling), Monte Carlo replica means with 95% CIs at a few horizons, "
              "and Theorem 1's explicit bound with the constants as printed (C = 1, dotted). "
              "(b) Local log-log slopes of the exact error and of the bound: both approach -1 "
              "like -1 + 1/log T."),
}

FIGURE_NAMES = tuple(CAPTIONS)
#: Resolution of the PNGs (quick and full alike; the PDF is vector).
PNG_DPI = 200
__all__ = ["FIGURE_NAMES", "CAPTIONS", "PLANS", "PLOTS", "make_figure", "ensure"]


def __getattr__(name):
    if name == "PLOTS":
        from hdo_theory.figures.plots import PLOTS

        return PLOTS
    if name in ("PLANS", "ensure"):
        from hdo_theory.figures import specs

        return getattr(specs, name)
    raise AttributeError(f"module 'hdo_theory.figures' has no attribute {name!r}")


def make_figure(name: str, results_dir, out_dir, quick: bool, run_missing: bool = True,
                command: str = "", runner=None, log=None, plan: dict | None = None) -> dict:
    """Load (or run) figure ``name``'s results and write its PDF, PNG and caption file.

    Returns ``{"pdf", "png", "caption", "summary"}``. Raises
    :class:`~hdo_theory.figures.store.MissingResults` when results are missing and
    ``run_missing`` is false. ``plan`` replaces the figure's own plan (tests use tiny ones).
    """
    import matplotlib.pyplot as plt

    from hdo_theory.figures.plots import PLOTS
    from hdo_theory.figures.specs import PLANS, ensure

    plan = plan if plan is not None else PLANS[name](quick)
    data = ensure(name, results_dir, quick, run_missing=run_missing, runner=runner, log=log,
                  plan=plan)
    plot, summarise = PLOTS[name]
    fig = plot(data)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pdf, png = out / f"{name}.pdf", out / f"{name}.png"
    with atomic_file(pdf, "wb") as fh:
        fig.savefig(fh, format="pdf")
    with atomic_file(png, "wb") as fh:
        fig.savefig(fh, format="png", dpi=PNG_DPI)
    plt.close(fig)
    summary = jsonable(summarise(data))
    num, cap = CAPTIONS[name]
    lines = [f"# Figure {num}: {name}{' (quick)' if quick else ''}", "", cap, "",
             f"Command: `{command}`" if command else "",
             "" if run_missing else f"Results made by: `hdo-theory figures"
             f"{' --quick' if quick else ''} --only {name}` (this figure was re-plotted from "
             "stored results)", "",
             "## Numbers", "", "```json", json.dumps(summary, indent=1)[:20000], "```", "",
             "## Runs (full configuration and seeds)", ""]
    for key, spec in plan.items():
        lines += [f"### {key}: `{spec.filename}`", "", "```json",
                  json.dumps({"kind": spec.kind, "spec_hash": spec.spec_hash, **spec.params},
                             default=repr), "```", ""]
    cap_path = out / f"{name}.caption.md"
    write_text_atomic(cap_path, "\n".join(lines))
    write_text_atomic(out / f"{name}.summary.json", json.dumps(summary, indent=1))
    return {"pdf": pdf, "png": png, "caption": cap_path, "summary": summary}
