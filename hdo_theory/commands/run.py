"""``hdo-theory run``: simulate the HDO gossip process and save the trajectories.

Every option can be given on the command line or in a TOML file (``--config FILE``); the
command line wins. The TOML file holds the same names as the options (dashes or underscores),
either at the top level or grouped in tables: ``[objective]``, ``[process]``, ``[run]`` take the
plain names (``d = 20``, ``T = 5000``, ``replicas = 8``), ``[zo]`` and ``[fo]`` take the
per-population names without their prefix (``[zo] estimator = "zo-forward"``, ``lr = 0.01``).

Example::

    hdo-theory run --objective logistic --d 20 --n0 8 --n1 8 --T 20000 --replicas 8 \\
        --zo-estimator zo-forward --zo-rv 8 --zo-lr 0.005 --fo-lr 0.01 --out runs/logistic.npz
"""

from __future__ import annotations

import argparse
import math
import tomllib
from pathlib import Path

from hdo_theory.atomic import check_writable_folder
from hdo_theory.errors import HDOInputError, check_int

NAME = "run"
HELP = "simulate the HDO gossip process over replicas and save the trajectories (.npz)"

# name -> (type, default, help). Types: int, float, str, bool (flag), "rec", "nu".
OBJECTIVE_OPTS = {
    "objective": (str, "least-squares", "objective name"),
    "d": (int, None, "dimension (default: 10; the digits and breast-cancer data sets fix it)"),
    "n": (int, None, "number of nodes (= n0 + n1; give any two of n, n0, n1)"),
    "n0": (int, None, "zeroth-order nodes (default n/2, or 4)"),
    "n1": (int, None, "first-order nodes (default n - n0, or 4)"),
    "n_samples": (int, None, "data-set size (default: equal shards)"),
    "data_seed": (int, 0, "seed of the synthetic data set and its split"),
    "condition": (float, 10.0, "condition number of the features / Hessians"),
    "noise": (float, None, "sample noise"),
    "heterogeneity": (float, 0.0, "shard skew in [0, 1]"),
    "lam": (float, None, "regularisation"),
}
PROCESS_OPTS = {
    "model": (str, "pairwise", "pairwise | matching | graph"),
    "topology": (str, "complete", "graph for --model graph"),
    "degree": (int, 4, "degree of random-regular graphs"),
    "p": (float, 0.5, "edge probability of erdos-renyi graphs"),
    "torus_rows": (int, None, "rows of the torus (default: most square)"),
    "graph_seed": (int, 0, "seed of random graphs"),
    "T": (int, 1000, "interactions (pairwise, graph) or rounds (matching)"),
    "schedule": (str, "constant", "constant | theorem-convex | theorem-nonconvex | cosine"),
    "warmup": (int, 0, "linear learning-rate warm-up steps"),
    "local_steps_warmup": (int, 0, "initial steps without communication"),
    "record": ("rec", "log", "record every K steps, or 'log'"),
    "record_points": (int, 100, "number of log-spaced records"),
    "lemma2": (bool, False, "record M^G_t and E[Gamma_{t+1} | X_t] (Lemma 2)"),
    "no_node_losses": (bool, False, "skip per-node losses (node_loss, loss_spread, zo/fo_loss)"),
    "fixed_node": (int, 0, "the node whose loss is recorded as node_loss"),
    "ell": (float, None, "strong-convexity constant (default: from the objective's constants)"),
    "divergence_threshold": (float, 1e8, "stop a replica when ||X^i|| exceeds this"),
}
POP_OPTS = {
    "estimator": (str, None, "estimator kind"),
    "rv": (int, 1, "random directions averaged"),
    "nu": ("nu", 1e-3, "smoothing radius, or 'theorem' (eta / sqrt(d))"),
    "batch": (int, 1, "minibatch size"),
    "lr": (float, 0.01, "base learning rate"),
    "momentum": (float, 0.0, "momentum in [0, 1)"),
    "momentum_kind": (str, "heavy-ball", "heavy-ball | ema"),
}
RUN_OPTS = {
    "replicas": (int, 4, "independent replicas"),
    "seed": (int, 0, "root seed of the run"),
    "threads": (int, None, "worker threads (default: NUMBA_NUM_THREADS)"),
    "out": (str, "hdo-run.npz", "results file (.npz)"),
    "no_progress": (bool, False, "no progress bar"),
    "keep_state": (bool, False, "save the final node models"),
}


def _all_opts() -> dict:
    opts = {}
    opts.update(OBJECTIVE_OPTS)
    opts.update(PROCESS_OPTS)
    for pop in ("zo", "fo"):
        for k, (typ, default, hlp) in POP_OPTS.items():
            if k == "estimator":
                default = "zo-forward" if pop == "zo" else "fo"
            opts[f"{pop}_{k}"] = (typ, default, f"{pop.upper()} {hlp}")
    opts.update(RUN_OPTS)
    return opts


def _parse_rec(v):
    if isinstance(v, str) and v.strip().lower() == "log":
        return "log"
    try:
        return check_int("record", int(v) if isinstance(v, str) else v, 1)
    except (ValueError, TypeError):
        raise HDOInputError(f"record must be a positive integer or 'log', got {v!r}") from None


def _parse_nu(v):
    if isinstance(v, str) and v.strip().lower() == "theorem":
        return "theorem"
    try:
        return float(v)
    except (ValueError, TypeError):
        raise HDOInputError(f"nu must be a positive number or 'theorem', got {v!r}") from None


def _coerce(name: str, typ, value):
    """Convert a TOML value to the option's type, or raise naming the option."""
    if value is None:
        return None
    if typ == "rec":
        return _parse_rec(value)
    if typ == "nu":
        return _parse_nu(value)
    if typ is bool:
        if not isinstance(value, bool):
            raise HDOInputError(f"{name} must be true or false, got {value!r}")
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise HDOInputError(f"{name} must be an integer, got {value!r}")
        return value
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise HDOInputError(f"{name} must be a number, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise HDOInputError(f"{name} must be a string, got {value!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="TOML file with any of the options below")
    groups = {
        "objective": OBJECTIVE_OPTS,
        "process": PROCESS_OPTS,
        "population (zo / fo)": None,
        "run": RUN_OPTS,
    }
    opts = _all_opts()
    for title, table in groups.items():
        g = p.add_argument_group(title)
        keys = (
            [k for k in opts if k.startswith(("zo_", "fo_"))] if table is None else list(table)
        )
        for k in keys:
            typ, default, hlp = opts[k]
            flag = "--" + k.replace("_", "-")
            if k == "T":
                flag = "--T"
            shown = f" (default: {default})" if default is not None else ""
            if typ is bool:
                g.add_argument(flag, dest=k, action="store_const", const=True, default=None,
                               help=hlp)
            else:
                conv = {int: int, float: float, str: str, "rec": str, "nu": str}[typ]
                g.add_argument(flag, dest=k, type=conv, default=None, help=hlp + shown,
                               metavar=k.upper() if len(k) < 3 else None)


def load_toml(path) -> dict:
    """Flatten a TOML config into option names (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise HDOInputError(f"config file {str(path)!r} does not exist")
    if not path.is_file():
        raise HDOInputError(f"config must be a file, got {str(path)!r} (not a regular file)")
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise HDOInputError(f"config file {path}: {str(exc).splitlines()[0]}") from None
    opts = _all_opts()
    flat = {}

    def put(key, value):
        key = key.replace("-", "_")
        if key not in opts:
            raise HDOInputError(f"config file {path}: unknown option {key!r}")
        flat[key] = _coerce(key, opts[key][0], value)

    for k, v in doc.items():
        if isinstance(v, dict):
            if k in ("zo", "fo"):
                for kk, vv in v.items():
                    put(f"{k}_{kk}", vv)
            elif k in ("objective", "process", "run"):
                for kk, vv in v.items():
                    put(kk, vv)
            else:
                raise HDOInputError(f"config file {path}: unknown table [{k}]")
        else:
            put(k, v)
    return flat


def resolve_options(args) -> dict:
    """Merge defaults < TOML file < command line into one dict of option values."""
    opts = _all_opts()
    values = {k: v[1] for k, v in opts.items()}
    if getattr(args, "config", None):
        values.update(load_toml(args.config))
    for k in opts:
        v = getattr(args, k, None)
        if v is not None:
            typ = opts[k][0]
            values[k] = _parse_rec(v) if typ == "rec" else _parse_nu(v) if typ == "nu" else v
    n, n0, n1 = values["n"], values["n0"], values["n1"]
    for name, v in (("n", n), ("n0", n0), ("n1", n1)):
        if v is not None:
            check_int(name, v, 0)
    if n is not None:
        check_int("n", n, 2)
        if n0 is None and n1 is None:
            n0 = n // 2
            n1 = n - n0
        elif n0 is None:
            n0 = n - n1
        elif n1 is None:
            n1 = n - n0
        if n0 < 0 or n1 < 0 or n0 + n1 != n:
            raise HDOInputError(f"n0 + n1 must equal n: got n0={n0}, n1={n1}, n={n}")
    else:
        n0 = 4 if n0 is None else n0
        n1 = 4 if n1 is None else n1
    values["n0"], values["n1"] = n0, n1
    values["n"] = n0 + n1
    if values["d"] is None:  # a real data set fixes d (make_objective rejects any other d)
        from hdo_theory.objectives import DEFAULT_D, REAL_DATA_SHAPES

        values["d"] = REAL_DATA_SHAPES.get(values["objective"], (DEFAULT_D,))[0]
    return values


def build(values: dict):
    """(objective, ProcessConfig) from resolved option values."""
    from hdo_theory.estimators import EstimatorSpec
    from hdo_theory.objectives import make_objective
    from hdo_theory.process import PopulationConfig, ProcessConfig

    kw = {}
    for k in ("n_samples", "noise", "lam"):
        if values[k] is not None:
            kw[k] = values[k]
    obj = make_objective(
        values["objective"], d=values["d"], n0=values["n0"], n1=values["n1"],
        seed=values["data_seed"], condition=values["condition"],
        heterogeneity=values["heterogeneity"], **kw,
    )
    pops = {}
    for pop in ("zo", "fo"):
        spec = EstimatorSpec(
            kind=values[f"{pop}_estimator"], rv=values[f"{pop}_rv"], nu=values[f"{pop}_nu"],
            batch=values[f"{pop}_batch"],
        )
        pops[pop] = PopulationConfig(
            spec, lr=values[f"{pop}_lr"], momentum=values[f"{pop}_momentum"],
            momentum_kind=values[f"{pop}_momentum_kind"],
        )
    cfg = ProcessConfig(
        model=values["model"], topology=values["topology"], degree=values["degree"],
        p=values["p"], torus_rows=values["torus_rows"], graph_seed=values["graph_seed"],
        T=values["T"], zo=pops["zo"], fo=pops["fo"], schedule=values["schedule"],
        warmup=values["warmup"], local_steps_warmup=values["local_steps_warmup"],
        record=values["record"], record_points=values["record_points"],
        record_lemma2=bool(values["lemma2"]), record_nodes=not values["no_node_losses"],
        fixed_node=values["fixed_node"],
        ell=values["ell"], divergence_threshold=values["divergence_threshold"],
    )
    return obj, cfg


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def summary_table(res) -> str:
    """The end-of-run table: final values, rate over the last decade, consensus, divergences."""
    s = res.summary()
    rows = [
        ("replicas", s["R"]),
        ("steps T", s["T"]),
        ("final f(mu_T) - f*  (mean)", s.get("final_gap")),
        ("rate of the gap over the last decade (log-log slope)", s.get("rate_gap")),
        ("final ||mu_T - x*||^2  (mean)", s.get("final_dist_sq")),
        ("rate of ||mu - x*||^2 over the last decade", s.get("rate_dist_sq")),
        ("final consensus Gamma_T  (mean)", s.get("final_gamma")),
        ("final f(y_T) - f*  (mean)", s.get("final_y_gap")),
        ("final loss spread across nodes", s.get("final_loss_spread")),
        ("diverged replicas", f"{s['diverged']} of {s['R']}"),
        ("spectral gap of the gossip graph", res.info.get("spectral_gap")),
        ("Gamma fraction removed per step at eta=0", res.info.get("averaging_contraction")),
        ("wall time (s)", res.info.get("wall_time_s")),
    ]
    w = max(len(r[0]) for r in rows)
    return "\n".join(f"{name:<{w}}  {_fmt(v)}" for name, v in rows)


def run(args) -> int:
    from hdo_theory.process import simulate

    values = resolve_options(args)
    out = Path(values["out"])
    if out.suffix != ".npz":
        raise HDOInputError(f"out must be a .npz file path, got {str(out)!r}")
    obj, cfg = build(values)
    # fail now, not after the whole simulation, if the results cannot be saved
    check_writable_folder(out.parent, what="out")
    print(f"hdo-theory run: {obj.describe()}, model={cfg.model}, T={cfg.T}, "
          f"replicas={values['replicas']}")
    res = simulate(
        obj, cfg, replicas=values["replicas"], seed=values["seed"], threads=values["threads"],
        progress=not values["no_progress"], keep_state=bool(values["keep_state"]),
    )
    path = res.save(out)
    print(summary_table(res))
    print(f"results written to {path}")
    return 0
