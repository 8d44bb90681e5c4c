"""The one option schema of ``hdo-theory run``, ``run --config FILE.toml`` and sweep files.

Every option has one :class:`Option`: its name, type, default, help text and allowed range or
choices. The command line (:mod:`hdo_theory.commands.run` builds its flags from
:data:`OPTION_GROUPS`), a run config file (:func:`load_toml`) and the ``[base]`` / ``[axes]``
tables of a sweep (:mod:`hdo_theory.runs.sweep`) all convert and check a value with
:meth:`Option.check`, so a bad value gets the same message everywhere; in a TOML file the
message is prefixed with the file, the line (:class:`Locator`) and the key, and an unknown
key gets a "did you mean" suggestion (:func:`suggest`).

Public interface:

* :data:`OBJECTIVE_OPTS`, :data:`PROCESS_OPTS`, :data:`POP_OPTS` (per population, without the
  ``zo_`` / ``fo_`` prefix), :data:`RUN_OPTS`: name -> :class:`Option`;
  :func:`all_options`: every option by its full name (``zo_lr``, ``fo_estimator``, ...);
* :func:`coerce` (one value, no location), :func:`flatten_options` (a TOML table laid out
  like a run config file -> option name -> converted value, errors located),
  :func:`load_toml` (a run config file);
* :func:`resolve` (given values -> every option, defaults and the n / n0 / n1 rules applied),
  :func:`resolve_options` (argparse namespace: defaults < ``--config`` file < command line);
* :func:`build` (resolved values -> ``(objective, ProcessConfig)``) and
  :func:`simulate_kwargs` (resolved values -> the keyword arguments of ``simulate``).

The TOML layout: the option names (dashes or underscores) at the top level or grouped in
tables: ``[objective]``, ``[process]``, ``[run]`` take the plain names (``d = 20``,
``T = 5000``, ``replicas = 8``), ``[zo]`` and ``[fo]`` the per-population names without their
prefix (``[zo] estimator = "zo-forward"``, ``lr = 0.01``). An option may be given once.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hdo_theory.errors import HDOInputError, check_float, check_int, range_text
from hdo_theory.limits import (
    MAX_D,
    MAX_N_SAMPLES,
    MAX_RECORD_POINTS,
    MAX_REPLICAS,
    MAX_RV,
    MAX_T,
    MAX_THREADS,
)

__all__ = [
    "Option",
    "OBJECTIVE_OPTS",
    "PROCESS_OPTS",
    "POP_OPTS",
    "RUN_OPTS",
    "OPTION_GROUPS",
    "POPULATIONS",
    "PREFIXED_TABLES",
    "PLAIN_TABLES",
    "MAX_T",
    "all_options",
    "coerce",
    "parse_record",
    "parse_nu",
    "Locator",
    "suggest",
    "flatten_options",
    "load_toml",
    "read_toml",
    "resolve",
    "resolve_options",
    "build",
    "data_objective",
    "simulate_kwargs",
]

POPULATIONS = ("zo", "fo")
PREFIXED_TABLES = POPULATIONS  # [zo] lr = ... is zo_lr
PLAIN_TABLES = ("objective", "process", "run")


def _names(module: str, attr: str) -> Callable[[], tuple[str, ...]]:
    """Choices read from the stage module that defines them, when first needed."""

    def get():
        import importlib

        return tuple(getattr(importlib.import_module(module), attr))

    return get


@dataclass(frozen=True)
class Option:
    """One option: ``type`` is ``int``, ``float``, ``str``, ``bool`` (a flag), ``"rec"``
    (a positive integer or ``"log"``), ``"nu"`` (a positive number or ``"theorem"``) or
    ``"sample"`` (``"auto"``, ``"full"`` or an integer ``>= 2``).

    ``lo`` / ``hi`` (with ``lo_open`` / ``hi_open``) bound numbers; ``choices`` (a tuple, or a
    function returning one) lists the allowed strings. These are the checks that need no
    other option; the ones that do (``warmup <= T``, ``fixed_node < n``, a data set's fixed
    ``d``) are made when the configuration is built.
    """

    type: object
    default: object
    help: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple | Callable[[], tuple] | None = None

    def allowed(self) -> tuple[str, ...] | None:
        c = self.choices
        return c() if callable(c) else c

    def range_text(self) -> str:
        """The allowed range of a number, for the help text ("" if unbounded)."""
        if self.lo is None and self.hi is None:
            return ""
        left = "(" if self.lo_open or self.lo is None else "["
        right = ")" if self.hi_open or self.hi is None else "]"
        lo = "-inf" if self.lo is None else _num(self.lo)
        hi = "inf" if self.hi is None else _num(self.hi)
        return f"{left}{lo}, {hi}{right}"

    def check(self, name: str, value):
        """``value`` converted to the option's type and checked, or :class:`HDOInputError`
        naming ``name`` (and the allowed range or choices). ``None`` (not set) passes."""
        if value is None:
            return None
        typ = self.type
        if typ == "rec":
            return parse_record(value, name)
        if typ == "sample":
            from hdo_theory.process import check_record_sample

            return check_record_sample(value, name)
        if typ == "nu":
            v = parse_nu(value, name)
            return v if v == "theorem" else self._number(name, v)
        if typ is bool:
            if not isinstance(value, bool):
                raise HDOInputError(f"{name} must be true or false, got {value!r}")
            return value
        if typ is int:
            if isinstance(value, bool) or not isinstance(value, int):
                rng = range_text(self.lo, self.hi)
                raise HDOInputError(f"{name} must be an integer{rng}, got {value!r}")
            return check_int(name, value, self.lo, self.hi)
        if typ is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise HDOInputError(f"{name} must be a number, got {value!r}")
            return self._number(name, float(value))
        if not isinstance(value, str):
            raise HDOInputError(f"{name} must be a string, got {value!r}")
        choices = self.allowed()
        if choices is not None and value not in choices:
            raise HDOInputError(
                f"{name} must be one of {', '.join(choices)}; got {value!r}"
                f"{suggest(value, choices)}"
            )
        return value

    def _number(self, name: str, v: float) -> float:
        return check_float(name, v, self.lo, self.hi, lo_open=self.lo_open,
                           hi_open=self.hi_open)


def _num(v) -> str:
    return str(v) if isinstance(v, int) else f"{v:g}"


O = Option
OBJECTIVE_OPTS: dict[str, Option] = {
    "objective": O(str, "least-squares", "objective name",
                   choices=_names("hdo_theory.objectives", "OBJECTIVE_NAMES")),
    "d": O(int, None, "dimension (default: 10; the digits and breast-cancer data sets fix it)",
           lo=1, hi=MAX_D),
    "n": O(int, None, "number of nodes (= n0 + n1; give any two of n, n0, n1; default: n0 + n1)",
           lo=2, hi=2 * MAX_N_SAMPLES),
    "n0": O(int, None, "zeroth-order nodes (default n/2, or 4)", lo=0, hi=MAX_N_SAMPLES),
    "n1": O(int, None, "first-order nodes (default n - n0, or 4)", lo=0, hi=MAX_N_SAMPLES),
    "n_samples": O(int, None, "data-set size (default: equal shards)", lo=1, hi=MAX_N_SAMPLES),
    "data_seed": O(int, 0, "seed of the synthetic data set and its split", lo=0),
    "condition": O(float, 10.0, "condition number of the features / Hessians", lo=1.0),
    "noise": O(float, None, "sample noise (default: the objective's own)", lo=0.0),
    "heterogeneity": O(float, 0.0, "shard skew in [0, 1]", lo=0.0, hi=1.0),
    "lam": O(float, None, "regularisation (default: the objective's own)", lo=0.0),
    "data": O(str, None, "the user's own data: a .npz or .csv file (replaces --objective: "
                         "--data-kind regression on it, d fixed by the file; default: none)"),
    "data_kind": O(str, "least-squares", "regression run on --data",
                   choices=("least-squares", "logistic", "softmax")),
    "data_features": O(str, None, "with --data: the features' array (.npz; default: "
                                  "features or X) or comma-separated columns (.csv; default: "
                                  "every column but the target)"),
    "data_targets": O(str, None, "with --data: the targets' array (.npz; default: targets "
                                 "or y) or column (.csv; default: the last column)"),
}
PROCESS_OPTS: dict[str, Option] = {
    "model": O(str, "pairwise", "pairwise | matching | graph",
               choices=_names("hdo_theory.process", "MODEL_NAMES")),
    "topology": O(str, "complete", "graph for --model graph",
                  choices=_names("hdo_theory.process.topology", "TOPOLOGY_NAMES")),
    "degree": O(int, 4, "degree of random-regular graphs", lo=1),
    "p": O(float, 0.5, "edge probability of erdos-renyi graphs", lo=0.0, hi=1.0, lo_open=True),
    "torus_rows": O(int, None, "rows of the torus (default: most square)", lo=1),
    "graph_seed": O(int, 0, "seed of random graphs", lo=0),
    "T": O(int, 1000, "interactions (pairwise, graph) or rounds (matching)", lo=1, hi=MAX_T),
    "schedule": O(str, "constant", "constant | theorem-convex | theorem-nonconvex | cosine",
                  choices=_names("hdo_theory.process.schedules", "SCHEDULE_NAMES")),
    "warmup": O(int, 0, "linear learning-rate warm-up steps", lo=0),
    "local_steps_warmup": O(int, 0, "initial steps without communication", lo=0),
    "record": O("rec", "log", "record every K steps, or 'log'"),
    "record_points": O(int, 100, "number of log-spaced records", lo=2, hi=MAX_RECORD_POINTS),
    "lemma2": O(bool, False, "record M^G_t and E[Gamma_{t+1} | X_t] (Lemma 2)"),
    "no_node_losses": O(bool, False,
                        "skip per-node losses (node_loss, loss_spread, zo/fo_loss)"),
    "fixed_node": O(int, 0, "the node whose loss is recorded as node_loss", lo=0),
    "record_sample": O("sample", "auto",
                       "how recorded losses are evaluated: 'full' (data passes, exact), "
                       "'quadratic' (least squares / quadratic: the exact quadratic form, "
                       "O(n d^2) a record), M (node losses on a fixed random subsample of M "
                       "samples per replica, with stated errors *_se) or 'auto' (full up to "
                       "32768 samples; above, quadratic for quadratic objectives with "
                       "d <= 4096 and at least max(16, d // 16) records, else 4096)"),
    "ell": O(float, None, "strong-convexity constant (default: from the objective's constants)",
             lo=0.0, lo_open=True),
    "divergence_threshold": O(float, 1e8, "stop a replica when ||X^i|| exceeds this",
                              lo=0.0, lo_open=True),
}
POP_OPTS: dict[str, Option] = {
    "estimator": O(str, None, "estimator kind",
                   choices=_names("hdo_theory.estimators", "ESTIMATOR_NAMES")),
    "rv": O(int, 1, "random directions averaged", lo=1, hi=MAX_RV),
    "nu": O("nu", 1e-3, "smoothing radius, or 'theorem' (eta / sqrt(d))", lo=0.0,
            lo_open=True),
    "batch": O(int, 1, "minibatch size", lo=1),
    "lr": O(float, 0.01, "base learning rate", lo=0.0),
    "momentum": O(float, 0.0, "momentum in [0, 1)", lo=0.0, hi=1.0, hi_open=True),
    "momentum_kind": O(str, "heavy-ball", "heavy-ball | ema",
                       choices=_names("hdo_theory.process", "MOMENTUM_KINDS")),
}
RUN_OPTS: dict[str, Option] = {
    "replicas": O(int, 4, "independent replicas", lo=1, hi=MAX_REPLICAS),
    "seed": O(int, 0, "root seed of the run", lo=0),
    "threads": O(int, None, "worker threads (default: NUMBA_NUM_THREADS)", lo=1, hi=MAX_THREADS),
    "out": O(str, "hdo-run.npz",
             "results file (.npz); missing parent folders are created"),
    "no_progress": O(bool, False, "no progress bar"),
    "keep_state": O(bool, False, "save the final node models"),
}
del O

# title -> table, for the command line's argument groups (None: the per-population options)
OPTION_GROUPS: dict[str, dict[str, Option] | None] = {
    "objective": OBJECTIVE_OPTS,
    "process": PROCESS_OPTS,
    "population (zo / fo)": None,
    "run": RUN_OPTS,
}


def all_options() -> dict[str, Option]:
    """Every option by its full name, in command-line order."""
    opts: dict[str, Option] = {}
    opts.update(OBJECTIVE_OPTS)
    opts.update(PROCESS_OPTS)
    for pop in POPULATIONS:
        for k, o in POP_OPTS.items():
            default = ("zo-forward" if pop == "zo" else "fo") if k == "estimator" else o.default
            opts[f"{pop}_{k}"] = Option(o.type, default, f"{pop.upper()} {o.help}", o.lo, o.hi,
                                        o.lo_open, o.hi_open, o.choices)
    opts.update(RUN_OPTS)
    return opts


def parse_record(v, name: str = "record"):
    """``"log"`` or a positive integer (a string from the command line is converted)."""
    if isinstance(v, str) and v.strip().lower() == "log":
        return "log"
    try:
        return check_int(name, int(v) if isinstance(v, str) else v, 1)
    except (ValueError, TypeError):
        raise HDOInputError(f"{name} must be a positive integer or 'log', got {v!r}") from None


def parse_nu(v, name: str = "nu"):
    """``"theorem"`` or a number (a string from the command line is converted)."""
    if isinstance(v, str) and v.strip().lower() == "theorem":
        return "theorem"
    if isinstance(v, bool):
        raise HDOInputError(f"{name} must be a positive number or 'theorem', got {v!r}")
    try:
        return float(v)
    except (ValueError, TypeError):
        raise HDOInputError(f"{name} must be a positive number or 'theorem', got {v!r}") from None


def coerce(name: str, value):
    """``value`` (from TOML or Python) converted and checked as option ``name``."""
    opts = all_options()
    if name not in opts:
        raise HDOInputError(f"unknown option {name!r}{suggest(name, opts)}")
    return opts[name].check(name, value)


# ---------------------------------------------------------------------------------------------
# TOML: line numbers, suggestions, the table layout
# ---------------------------------------------------------------------------------------------

_KEY_PART = r'(?:"[^"]*"|\'[^\']*\'|[A-Za-z0-9_\-]+)'
_HEADER_RE = re.compile(r"^\s*\[\[?\s*([^\]]*?)\s*\]\]?\s*(?:#.*)?$")
_ASSIGN_RE = re.compile(rf"^\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=")


def _split_dotted(s: str) -> tuple[str, ...]:
    parts = re.findall(_KEY_PART, s)
    return tuple(p.strip("\"'") for p in parts)


class Locator:
    """Line numbers of keys in a TOML text (tomllib gives none); best effort, never raises."""

    def __init__(self, text: str | None):
        self.lines: dict[tuple[str, ...], int] = {}
        if not text:
            return
        table: tuple[str, ...] = ()
        for i, line in enumerate(text.splitlines(), start=1):
            m = _HEADER_RE.match(line)
            if m:
                table = _split_dotted(m.group(1))
                self.lines.setdefault(table, i)
                continue
            m = _ASSIGN_RE.match(line)
            if m:
                self.lines.setdefault(table + _split_dotted(m.group(1)), i)

    def line(self, path: tuple[str, ...]) -> int | None:
        """The line of the key ``path`` (or of its closest enclosing table), or ``None``."""
        for k in range(len(path), 0, -1):
            if path[:k] in self.lines:
                return self.lines[path[:k]]
        return None

    def where(self, source: str, path: tuple[str, ...]) -> str:
        """``"source, line N"``, or ``source`` when the line is unknown."""
        line = self.line(path)
        return f"{source}, line {line}" if line is not None else source


def suggest(name: str, choices) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _label(path: tuple[str, ...]) -> str:
    return f"[{'.'.join(path[:-1])}] {path[-1]}" if len(path) > 1 else path[-1]


def _convert_value(key: str, opt: Option, value, where: str, label: str):
    try:
        return opt.check(key, value)
    except HDOInputError as exc:
        raise HDOInputError(f"{where}: {label}: {exc}") from None


def flatten_options(
    table: dict,
    top: str | None,
    source: str,
    loc: Locator,
    convert: Callable | None = None,
    paths: dict | None = None,
    refuse: Callable[[str], str | None] | None = None,
) -> dict:
    """Walk a table laid out like a run config file into option name -> converted value.

    top: the table's own name (``"base"``, ``"axes"`` in a sweep; ``None`` for a run config
    file, whose options are at the top level). ``convert(key, option, value, where, label)``
    converts one value (default: :meth:`Option.check`, the error prefixed with ``where`` and
    ``label``). ``paths``, when given, receives option name -> TOML key path. ``refuse(key)``
    returns why an option cannot be set here, or ``None``. Errors: :class:`HDOInputError`
    ``"<source>, line <N>: <[table] key>: <message>"``.
    """
    opts = all_options()
    convert = convert or _convert_value
    pre = () if top is None else (top,)
    flat: dict = {}

    def put(name: str, value, path: tuple[str, ...]):
        where = loc.where(source, path)
        key = name.replace("-", "_")
        label = _label(path)
        why = refuse(key) if refuse is not None else None
        if why is not None:
            raise HDOInputError(f"{where}: {label}: {why}")
        if key not in opts:
            raise HDOInputError(f"{where}: {label}: unknown option {key!r}{suggest(key, opts)}")
        if key in flat:
            raise HDOInputError(f"{where}: {label}: option {key!r} is given twice")
        flat[key] = convert(key, opts[key], value, where, label)
        if paths is not None:
            paths[key] = path

    for k, v in table.items():
        if isinstance(v, dict):
            if k in PREFIXED_TABLES:
                for kk, vv in v.items():
                    put(f"{k}_{kk}", vv, (*pre, k, kk))
            elif k in PLAIN_TABLES:
                for kk, vv in v.items():
                    put(kk, vv, (*pre, k, kk))
            else:
                where = loc.where(source, (*pre, k))
                allowed = PREFIXED_TABLES + PLAIN_TABLES
                dotted = ".".join((*pre, k))
                listed = ", ".join(f"[{'.'.join((*pre, t))}]" for t in allowed)
                raise HDOInputError(
                    f"{where}: unknown table [{dotted}] (allowed: {listed}){suggest(k, allowed)}"
                )
        else:
            put(k, v, (*pre, k))
    return flat


def read_toml(path, what: str) -> tuple[dict, str, Path]:
    """``(document, text, path)`` of a TOML file; every failure is one line that names
    ``what`` (``"config file"``, ``"sweep file"``) and the path. Shared by :func:`load_toml`
    and the sweep's ``load_spec``, so both report a missing or malformed file alike."""
    path = Path(path)
    if not path.exists():
        raise HDOInputError(f"{what} {str(path)!r} does not exist")
    if not path.is_file():
        raise HDOInputError(f"{what} {str(path)!r} is not a file (a folder?)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HDOInputError(f"{what} {path}: cannot read it ({exc.__class__.__name__})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HDOInputError(f"{what} {path}: {str(exc).splitlines()[0]}") from None
    return doc, text, path


def load_toml(path) -> dict:
    """A run config file -> option name -> value (only what the file sets; layout in the
    module docstring). Errors name the file, the line, the key and the allowed values."""
    doc, text, path = read_toml(path, "config file")
    out = flatten_options(doc, None, f"config file {path}", Locator(text))
    if out.get("data") is not None and not Path(out["data"]).is_absolute():
        out["data"] = str((Path(path).parent / out["data"]).resolve())  # relative to the file
    return out


# ---------------------------------------------------------------------------------------------
# Resolution and building
# ---------------------------------------------------------------------------------------------


def resolve(given: dict) -> dict:
    """Every option's value: ``given`` (name -> value; ``None`` = not set) over the defaults,
    each value checked, then n / n0 / n1 completed (any two of them) and ``d`` defaulted (a
    real data set fixes it)."""
    opts = all_options()
    values = {k: o.default for k, o in opts.items()}
    for k, v in given.items():
        if k not in opts:
            raise HDOInputError(f"unknown option {k!r}{suggest(k, opts)}")
        if v is not None:
            values[k] = opts[k].check(k, v)
    n, n0, n1 = values["n"], values["n0"], values["n1"]
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
    if values["data"] is None:
        for k in ("data_features", "data_targets"):
            if given.get(k) is not None:
                raise HDOInputError(f"{k} needs data (a .npz or .csv file)")
    if values["d"] is None and values["data"] is None:
        # a real data set fixes d (make_objective rejects any other d); --data: the file does
        from hdo_theory.objectives import DEFAULT_D, REAL_DATA_SHAPES

        values["d"] = REAL_DATA_SHAPES.get(values["objective"], (DEFAULT_D,))[0]
    return values


def resolve_options(args) -> dict:
    """Merge defaults < ``args.config`` (TOML file) < the other attributes of ``args``
    (an argparse namespace; ``None`` = not given) into every option's value."""
    opts = all_options()
    given: dict = {}
    if getattr(args, "config", None):
        given.update(load_toml(args.config))
    for k in opts:
        v = getattr(args, k, None)
        if v is not None:
            given[k] = v
    return resolve(given)


def build(values: dict):
    """``(objective, ProcessConfig)`` from resolved option values (see :func:`resolve`)."""
    from hdo_theory.estimators import EstimatorSpec
    from hdo_theory.objectives import make_objective
    from hdo_theory.process import PopulationConfig, ProcessConfig

    kw = {}
    for k in ("n_samples", "noise", "lam"):
        if values[k] is not None:
            kw[k] = values[k]
    if values.get("data") is not None:
        obj = data_objective(values)
    else:
        obj = make_objective(
        values["objective"], d=values["d"], n0=values["n0"], n1=values["n1"],
        seed=values["data_seed"], condition=values["condition"],
            heterogeneity=values["heterogeneity"], **kw,
        )
    pops = {}
    for pop in POPULATIONS:
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
        fixed_node=values["fixed_node"], record_sample=values["record_sample"],
        ell=values["ell"], divergence_threshold=values["divergence_threshold"],
    )
    return obj, cfg


def data_objective(values: dict):
    """The objective of ``data = FILE`` (:func:`hdo_theory.objectives.from_arrays` on
    :func:`~hdo_theory.objectives.load_data_file`): ``data_kind`` regression, split among n0 +
    n1 nodes by ``data_seed`` and ``heterogeneity``; ``d`` given must equal the file's."""
    from hdo_theory.objectives import from_arrays, load_data_file

    A, y = load_data_file(values["data"], values.get("data_features"),
                          values.get("data_targets"))
    obj = from_arrays(values["data_kind"], A, y, values["n0"], values["n1"], lam=values["lam"],
                      heterogeneity=values["heterogeneity"], seed=values["data_seed"],
                      name=f"{values['data_kind']} on {Path(values['data']).name}")
    if values.get("d") is not None and values["d"] != obj.d:
        raise HDOInputError(f"d is fixed to {obj.d} by the data file {values['data']!r}; omit "
                            f"d (got d={values['d']})")
    return obj


def simulate_kwargs(values: dict, **overrides) -> dict:
    """The keyword arguments of :func:`hdo_theory.process.simulate` (replicas, seed, threads,
    progress, keep_state) from resolved option values; ``overrides`` win. Run-only options
    missing from ``values`` (a sweep cell has none) take their defaults."""
    kw = {
        "replicas": values["replicas"],
        "seed": values.get("seed", RUN_OPTS["seed"].default),
        "threads": values.get("threads"),
        "progress": not values.get("no_progress", False),
        "keep_state": bool(values.get("keep_state")),
    }
    kw.update(overrides)
    return kw
