"""``hdo-theory estimator-stats``: bias and moments of one gradient estimator at one point.

Draws the estimator many times at a seeded point of one node's local objective and prints,
with confidence intervals, the mean norm, the bias (against ``grad f^i`` and against the
estimator's own theoretical mean), ``E||G||^2``, ``E||G - grad f^i||^2`` and the variance, next
to the exact closed form where one is known and the paper's bound (Lemma 1, Lemma 5) with the
ratio empirical / bound. ``--json`` prints one JSON object instead of the table.

The exact values are unconditional: expectations over the direction(s) AND over the minibatch
(drawn without replacement from the node's shard), so they are right for every ``--batch``.
"""

from __future__ import annotations

import json
import math

from hdo_theory.commands import add_plugin, add_progress, plugin_list, progress_wanted
from hdo_theory.errors import check_choice, check_float, check_int
from hdo_theory.estimators import EstimatorSpec, estimator_names
from hdo_theory.limits import MAX_RV
from hdo_theory.objectives import DEFAULT_D, objective_names, real_data_shapes
from hdo_theory.serialize import jsonable

NAME = "estimator-stats"
HELP = "bias, moments and variance of one gradient estimator: CIs, closed forms, bounds"


def add_arguments(p) -> None:
    p.add_argument("--objective", default="quadratic",
                   help=f"one of {', '.join(objective_names())}")
    p.add_argument("--estimator", default="zo-forward",
                   help=f"one of {', '.join(estimator_names())}")
    p.add_argument("--d", type=int, default=None,
                   help=f"dimension (>= 1; default: {DEFAULT_D}; the "
                        f"{' and '.join(real_data_shapes())} data sets fix it)")
    p.add_argument("--nu", default="1e-3",
                   help="smoothing radius (> 0), or 'theorem' for eta / sqrt(d) (needs --eta)")
    p.add_argument("--eta", type=float, default=None,
                   help="learning rate for --nu theorem (default: none)")
    p.add_argument("--rv", type=int, default=1, help="random directions averaged per draw (>= 1)")
    p.add_argument("--batch", type=int, default=1,
                   help="minibatch size, at most the node's shard size (default 1)")
    p.add_argument("--draws", type=int, default=100_000, help="Monte Carlo draws (>= 16)")
    p.add_argument("--node", type=int, default=0, help="node index; ZO nodes are 0..n0-1")
    p.add_argument("--n0", type=int, default=4, help="number of ZO nodes (default 4)")
    p.add_argument("--n1", type=int, default=4, help="number of FO nodes (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the Monte Carlo draws")
    p.add_argument("--point-seed", type=int, default=None,
                   help="seed of the random evaluation point (default: --seed)")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the objective's data set")
    p.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    p.add_argument("--ref-draws", type=int, default=None,
                   help="draws for the Monte Carlo smoothed-gradient reference, when needed "
                        "(default: min(--draws, 50000))")
    add_plugin(p)
    add_progress(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    from hdo_theory.estimators.monte_carlo import estimator_stats
    from hdo_theory.objectives import make_objective

    plugins = plugin_list(args)
    check_choice("objective", args.objective, objective_names())
    check_choice("estimator", args.estimator, estimator_names())
    d = None if args.d is None else check_int("d", args.d, 1, 100_000)
    nu = args.nu if args.nu == "theorem" else check_float("nu", args.nu, 0.0, lo_open=True)
    spec = EstimatorSpec(args.estimator, check_int("rv", args.rv, 1, MAX_RV), nu,
                         check_int("batch", args.batch, 1))
    draws = check_int("draws", args.draws, 16, 10**11)
    seed = check_int("seed", args.seed, 0)
    point_seed = seed if args.point_seed is None else check_int("point-seed", args.point_seed, 0)
    obj = make_objective(args.objective, d=d, n0=args.n0, n1=args.n1,
                         seed=check_int("data-seed", args.data_seed, 0))
    node = check_int("node", args.node, 0, obj.n - 1)
    m = obj.shard_size(node)
    if spec.batch > m:
        check_int(f"batch (shard size of node {node} is {m})", spec.batch, 1, m)
    x = obj.random_point(point_seed)
    res = estimator_stats(obj, node, x, spec, draws, seed, eta=args.eta, level=args.level,
                          ref_draws=args.ref_draws,
                          progress=progress_wanted(args.progress))
    res["config"]["point_seed"] = point_seed
    res["config"]["data_seed"] = args.data_seed
    if plugins:
        res["config"]["plugins"] = plugins
    if args.json:
        print(json.dumps(jsonable(res), allow_nan=False))
    else:
        print(format_table(res))
    return 0


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return f"{v:.6g}"


def _fmt_ci(ci) -> str:
    return "-" if ci is None else f"[{_fmt(ci[0])}, {_fmt(ci[1])}]"


def _fmt_ratio(e) -> str:
    if e.get("ratio") is None:
        return "-"
    return f"{e['ratio']:.4g} ({e['ratio_ci'][1]:.4g})"


def format_table(res: dict) -> str:
    """A readable table of an :func:`~hdo_theory.estimators.monte_carlo.estimator_stats` result."""
    c, pt = res["config"], res["point"]
    pct = f"{100 * c['level']:g}%"
    lines = [
        f"estimator {c['estimator']} (rv={c['rv']}, nu={c['nu']:g}, batch={c['batch']}) "
        f"on {c['objective']} d={c['d']}, node {c['node']} "
        f"({'ZO' if c['node_is_zo'] else 'FO'}, shard {c['shard_size']}) of n0={c['n0']} + "
        f"n1={c['n1']}",
        f"{c['draws']} draws, seed {c['seed']}, point seed {c.get('point_seed', '-')}: "
        f"||grad f^i(x)||^2 = {_fmt(pt['grad_norm_sq'])}, s_i^2 = {_fmt(pt['s_sq'])}, "
        f"L = {_fmt(pt['L'])} ({pt['L_source']})",
        "",
    ]
    rows = [("quantity", "empirical", f"{pct} CI", "exact", "bound", "ratio (upper CI)",
             "bound from")]
    named = [
        ("||E G||", res["mean_norm"]),
        ("||E G - grad f^i||", res["bias"]),
        ("||E G - target||", res["bias_vs_target"]),
        ("E||G||^2", res["second_moment"]),
        ("E||G - grad f^i||^2", res["centered_moment"]),
        ("E||G - E G||^2", res["variance"]),
    ]
    for label, e in named:
        rows.append((label, _fmt(e.get("value")), _fmt_ci(e.get("ci")), _fmt(e.get("exact")),
                     _fmt(e.get("bound")), _fmt_ratio(e), e.get("bound_name") or "-"))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    for i, r in enumerate(rows):
        lines.append("  ".join(s.ljust(w) for s, w in zip(r, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    bt = res["bias_vs_target"]
    lines += ["", f"target = {bt['target']} ({bt['target_source'] or 'unknown'})"]
    if res["bias"].get("sharper_bound") is not None:
        lines.append(f"sharper bias bound {res['bias']['sharper_bound_name']}: "
                     f"{_fmt(res['bias']['sharper_bound'])}")
    if res.get("exact_source"):
        lines.append(f"exact values: {res['exact_source']}")
    rounded = [label for label, e in named if e.get("rounding_tol") is not None]
    if rounded:
        lines.append("deterministic estimate: CIs of " + ", ".join(rounded) + " widened to the "
                     "floating-point rounding tolerance (derived from the operation count)")
    lines.append(f"{res['evaluations']} evaluations in {res['elapsed_seconds']:.2f} s")
    return "\n".join(lines)
