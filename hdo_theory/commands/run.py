"""``hdo-theory run``: simulate the HDO gossip process and save the trajectories.

Every option can be given on the command line or in a TOML file (``--config FILE``); the
command line wins. The options (names, defaults, ranges) and the TOML layout are defined once,
in :mod:`hdo_theory.runs.options`; this module only wires them to argparse and prints.
The TOML file holds the same names as the options (dashes or underscores), either at the
top level or grouped in tables: ``[objective]``, ``[process]``, ``[run]`` take the
plain names (``d = 20``, ``T = 5000``, ``replicas = 8``), ``[zo]`` and ``[fo]`` take the
per-population names without their prefix (``[zo] estimator = "zo-forward"``, ``lr = 0.01``).

Example::

    hdo-theory run --objective logistic --d 20 --n0 8 --n1 8 --T 20000 --replicas 8 \\
        --zo-estimator zo-forward --zo-rv 8 --zo-lr 0.005 --fo-lr 0.01 --out runs/logistic.npz
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from hdo_theory.atomic import check_writable_folder
from hdo_theory.commands import add_plugin, add_progress, plugin_list, progress_wanted
from hdo_theory.errors import HDOInputError
from hdo_theory.runs.options import (  # noqa: F401 - build, load_toml, resolve_options: API
    OPTION_GROUPS,
    all_options,
    build,
    load_toml,
    resolve_options,
    simulate_kwargs,
)
from hdo_theory.serialize import jsonable

NAME = "run"
HELP = "simulate the HDO gossip process over replicas and save the trajectories (.npz)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """One flag per option of :mod:`hdo_theory.runs.options` (``zo_lr`` -> ``--zo-lr``)."""
    p.add_argument("--config", metavar="FILE",
                   help="TOML file with any of the options below (default: none; the command "
                        "line wins over it)")
    p.add_argument("--json", action="store_true",
                   help="print the summary as one JSON object on stdout (the other lines go "
                        "to stderr)")
    add_plugin(p)
    opts = all_options()
    for title, table in OPTION_GROUPS.items():
        g = p.add_argument_group(title)
        keys = (
            [k for k in opts if k.startswith(("zo_", "fo_"))] if table is None else list(table)
        )
        for k in keys:
            o = opts[k]
            if k == "no_progress":  # the schema's no_progress: --no-progress, and --progress
                add_progress(g)
                continue
            if o.type is bool and k.startswith("no_"):  # --no-node-losses / --node-losses
                pair = g.add_mutually_exclusive_group()
                on = "--" + k[3:].replace("_", "-")
                pair.add_argument("--" + k.replace("_", "-"), dest=k, action="store_const",
                                  const=True, default=None,
                                  help=f"{o.help} (default: {on}, they are recorded)")
                pair.add_argument(on, dest=k, action="store_const", const=False,
                                  help=f"undo --no-{on[2:]} (e.g. one set in --config)")
                continue
            flag = "--" + k.replace("_", "-")
            if k == "T":
                flag = "--T"
            shown = f" (default: {o.default})" if o.default is not None else ""
            if o.type is bool:
                shown = f" (default: {'on' if o.default else 'off'})"
            rng = o.range_text()
            shown += f" (range {rng})" if rng else ""
            if o.type is bool:  # --flag / --no-flag: the command line can undo a TOML "true"
                g.add_argument(flag, dest=k, action=argparse.BooleanOptionalAction,
                               default=None, help=(o.help + shown).replace("%", "%%"))
            else:
                conv = {int: int, float: float, str: str, "rec": str, "nu": str,
                        "sample": str}[o.type]
                g.add_argument(flag, dest=k, type=conv, default=None,
                               help=(o.help + shown).replace("%", "%%"),
                               metavar=k.upper() if len(k) < 3 else None)


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def summary_table(res) -> str:
    """The end-of-run table: final values, rate over the last decade, consensus, divergences.

    Each statistic says how many replicas it covers: a final mean is over the replicas whose
    last record is finite, a rate over the replicas that never diverged; with divergences the
    steps at which they happened are listed.
    """
    s = res.summary()
    R = s["R"]

    def final(label, name):
        k = s.get(f"final_{name}_replicas", R)
        if name not in res.recorded:  # all NaN, or absent from a loaded file
            note = "not recorded"
        else:
            note = f"mean, {k} of {R} replicas" if k < R else f"mean, {R} replicas"
        return (f"{label}  ({note})", s.get(f"final_{name}"))

    k_rate = s["rate_replicas"]
    rate_note = f"{k_rate} of {R} never-diverged replicas" if k_rate < R else f"{R} replicas"
    steps = s["diverged_at"]
    div = f"{s['diverged']} of {R}"
    if steps:
        shown = ", ".join(str(t) for t in steps[:12]) + (", ..." if len(steps) > 12 else "")
        unit = "rounds" if res.config.get("model") == "matching" else "interactions"
        div += f", at {unit} {shown}"
    rows = [
        ("replicas", R),
        ("steps T", s["T"]),
        final("final f(mu_T) - f*", "gap"),
        (f"rate of the gap over the last decade (log-log slope, {rate_note})",
         s.get("rate_gap")),
        final("final ||mu_T - x*||^2", "dist_sq"),
        (f"rate of ||mu - x*||^2 over the last decade ({rate_note})", s.get("rate_dist_sq")),
        final("final consensus Gamma_T", "gamma"),
        final("final f(y_T) - f*", "y_gap"),
        final("final loss spread across nodes", "loss_spread"),
        ("diverged replicas", div),
        ("spectral gap of the gossip graph", res.info.get("spectral_gap")),
        ("Gamma fraction removed per step at eta=0", res.info.get("averaging_contraction")),
        ("wall time (s)", res.info.get("wall_time_s")),
    ]
    w = max(len(r[0]) for r in rows)
    return "\n".join(f"{name:<{w}}  {_fmt(v)}" for name, v in rows)


def run(args) -> int:
    from hdo_theory.process import simulate

    plugin_list(args)
    values = resolve_options(args)
    out = Path(values["out"])
    if out.suffix != ".npz":
        raise HDOInputError(f"out must be a .npz file path, got {str(out)!r}")
    if out.exists() and not out.is_file():
        raise HDOInputError(f"out must be a .npz file path, got {str(out)!r} "
                            "(an existing folder or other non-file)")
    obj, cfg = build(values)
    # fail now, not after the whole simulation, if the results cannot be saved
    check_writable_folder(out.parent, what="out")
    # --progress / --no-progress win; else a TOML no_progress = true; else only on a terminal
    if getattr(args, "progress", None) is not None:
        progress = bool(args.progress)
    else:
        progress = False if values["no_progress"] else progress_wanted(None)
    as_json = bool(getattr(args, "json", False))
    info = sys.stderr if as_json else sys.stdout
    print(f"hdo-theory run: {obj.describe()}, model={cfg.model}, T={cfg.T}, "
          f"replicas={values['replicas']}", file=info)
    res = simulate(obj, cfg, **simulate_kwargs(values, progress=progress))
    path = res.save(out)
    if as_json:
        print(json.dumps(summary_json(res, path), allow_nan=False))
    else:
        print(summary_table(res))
    print(f"results written to {path}", file=info)
    return 0


def summary_json(res, path=None) -> dict:
    """What the summary table shows, as JSON types (NaN as ``null``): :meth:`Results.summary`
    plus the recorded metrics, the step unit, the gossip graph's facts, the wall time and the
    results file."""
    out = dict(res.summary())
    out["step_unit"] = "rounds" if res.config.get("model") == "matching" else "interactions"
    out["recorded"] = list(res.recorded)
    for k in ("spectral_gap", "averaging_contraction", "wall_time_s"):
        out[k] = res.info.get(k)
    if path is not None:
        out["out"] = str(path)
    return jsonable(out)
