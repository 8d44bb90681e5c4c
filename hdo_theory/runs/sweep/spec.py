"""The sweep file (TOML): :class:`SweepSpec`, :func:`parse_spec`, :func:`load_spec`.

``[base]`` and ``[axes]`` are read with the option schema of ``hdo-theory run``
(:mod:`hdo_theory.runs.options`): same names, types, ranges and error messages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from hdo_theory.errors import HDOInputError, check_int
from hdo_theory.runs.options import (
    _ASSIGN_RE,  # noqa: F401 - importable from hdo_theory.runs.sweep as before
    _HEADER_RE,  # noqa: F401
    _KEY_PART,  # noqa: F401
    PLAIN_TABLES,
    PREFIXED_TABLES,
    Locator,
    Option,
    _convert_value,
    _split_dotted,  # noqa: F401
    all_options,
    coerce,
    flatten_options,
    read_toml,
    suggest,
)
from hdo_theory.serialize import canonical_json, content_hash

# the names these had before the option schema moved to hdo_theory.runs.options
_Locator = Locator
_suggest = suggest
_run_options = all_options
_OPTION_TABLES_PREFIXED = PREFIXED_TABLES
_OPTION_TABLES_PLAIN = PLAIN_TABLES


def _coerce_option(name: str, typ, value):
    """Old signature of :func:`hdo_theory.runs.options.coerce` (``typ`` is the schema's)."""
    return coerce(name, value)


def _convert_base(key: str, opt: Option, value, where: str, label: str):
    return _convert_value(key, opt, value, where, label)

RUN_ONLY = ("seed", "out", "threads", "no_progress")  # run options a sweep sets per cell
MAX_CELLS = 10_000_000



@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file.

    base: run option name -> value (only what the file sets; coerced like ``hdo-theory run``).
    axes: run option name -> tuple of values, in file order; the grid is their product.
    seed: the sweep's base seed. replicates: replicate ids run for every configuration.
    metrics: metric names ``collect`` keeps (``None``: every recorded metric).
    retries: extra attempts for a cell that raises or whose worker dies. threads: per cell.
    out: default output folder (relative to the file's folder), or ``None``.
    plugins: the plugins (:mod:`hdo_theory.plugins`) the sweep loads, resolved (absolute file
        paths or module names): the file's top-level ``plugins = [...]`` (paths relative to
        the file) then ``hdo-theory sweep --plugin``; every worker loads them before its first
        cell, and the list is stored in ``sweep.json`` (``spec.plugins``).
    """

    base: dict = field(default_factory=dict)
    axes: dict = field(default_factory=dict)
    seed: int = 0
    replicates: tuple[int, ...] = (0,)
    metrics: tuple[str, ...] | None = None
    retries: int = 2
    threads: int = 1
    out: str | None = None
    name: str = "sweep"
    source: str = "<sweep>"
    plugins: tuple[str, ...] = ()

    def identity(self) -> dict:
        """What determines the set of cells (and nothing else)."""
        return {
            "base": self.base,
            "axes": {k: list(v) for k, v in self.axes.items()},
            "seed": self.seed,
            "replicates": list(self.replicates),
        }

    def fingerprint(self) -> str:
        _check_finite(self.base, self.axes, self.source)  # else the hash raises ValueError
        return content_hash(self.identity(), 16)

    def as_dict(self) -> dict:
        return {
            **self.identity(),
            "metrics": None if self.metrics is None else list(self.metrics),
            "retries": self.retries,
            "threads": self.threads,
            "name": self.name,
            "source": self.source,
            "plugins": list(self.plugins),
        }

    @property
    def n_cells(self) -> int:
        return math.prod(len(v) for v in self.axes.values()) * len(self.replicates)




_SWEEP_KEYS = ("seed", "seeds", "metrics", "retries", "threads", "out", "name")


def _where(source: str, loc: Locator, path: tuple[str, ...]) -> str:
    return loc.where(source, path)


def _refuse_run_only(key: str) -> str | None:
    if key not in RUN_ONLY:
        return None
    why = {
        "seed": "cell seeds derive from [sweep] seed and each cell's configuration; "
                "set [sweep] seed and seeds",
        "threads": "set [sweep] threads (threads per cell)",
    }.get(key, "the sweep sets it per cell")
    return f"{key!r} cannot be set in a sweep ({why})"


def _flatten_options(table: dict, top: str, source: str, loc: Locator, convert=None,
                     paths: dict | None = None) -> dict:
    """A ``[base]`` / ``[axes]`` table -> option name -> value (see
    :func:`hdo_theory.runs.options.flatten_options`); the run-only options are refused."""
    return flatten_options(table, top, source, loc, convert, paths, refuse=_refuse_run_only)


def _convert_axis(key: str, opt: Option, value, where: str, label: str):
    if not isinstance(value, list):
        raise HDOInputError(
            f"{where}: {label}: an axis must be a list of values, got {value!r}"
        )
    if not value:
        raise HDOInputError(f"{where}: {label}: axis {key!r} is empty")
    out = []
    for v in value:
        if isinstance(v, (list, dict)):
            raise HDOInputError(f"{where}: {label}: axis values must be scalars, got {v!r}")
        try:
            c = opt.check(key, v)
        except HDOInputError as exc:
            raise HDOInputError(f"{where}: {label}: {exc}") from None
        if any(canonical_json(c) == canonical_json(o) for o in out):
            raise HDOInputError(f"{where}: {label}: axis {key!r} repeats the value {v!r}")
        out.append(c)
    return tuple(out)


def _parse_sweep_table(t: dict, source: str, loc: Locator) -> dict:
    from hdo_theory.process import METRICS

    out: dict = {}
    for k, v in t.items():
        path = ("sweep", k)
        where = _where(source, loc, path)
        label = f"[sweep] {k}"
        if k not in _SWEEP_KEYS:
            raise HDOInputError(
                f"{where}: {label}: unknown key {k!r} (allowed: {', '.join(_SWEEP_KEYS)})"
                f"{suggest(k, _SWEEP_KEYS)}"
            )
        try:
            if k == "seed":
                out["seed"] = _strict_int("seed", v, 0)
            elif k == "retries":
                out["retries"] = _strict_int("retries", v, 0, 100)
            elif k == "threads":
                out["threads"] = _strict_int("threads", v, 1, 4096)
            elif k == "seeds":
                if isinstance(v, list):
                    if not v:
                        raise HDOInputError("seeds is empty")
                    reps = [_strict_int("seeds", x, 0) for x in v]
                    if len(set(reps)) != len(reps):
                        raise HDOInputError(f"seeds repeats a replicate id: {v!r}")
                    out["replicates"] = tuple(reps)
                else:
                    out["replicates"] = tuple(range(_strict_int("seeds", v, 1, 1_000_000)))
            elif k == "metrics":
                if not isinstance(v, list) or not v:
                    raise HDOInputError(f"metrics must be a non-empty list of names, got {v!r}")
                for m in v:
                    if m not in METRICS:
                        raise HDOInputError(
                            f"metrics: {m!r} is not a metric (one of {', '.join(METRICS)})"
                            f"{suggest(str(m), METRICS)}"
                        )
                if len(set(v)) != len(v):
                    raise HDOInputError(f"metrics repeats a name: {v!r}")
                out["metrics"] = tuple(v)
            elif k in ("out", "name"):
                if not isinstance(v, str) or not v:
                    raise HDOInputError(f"{k} must be a non-empty string, got {v!r}")
                out[k] = v
        except HDOInputError as exc:
            raise HDOInputError(f"{where}: {label}: {exc}") from None
    return out


def _strict_int(name: str, v, lo=None, hi=None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise HDOInputError(f"{name} must be an integer, got {v!r}")
    return check_int(name, v, lo, hi)


def parse_spec(doc: dict, text: str | None = None, source: str = "<sweep>") -> SweepSpec:
    """Validate a parsed sweep document (``text``, when given, is used for line numbers)."""
    loc = Locator(text)
    doc = dict(doc)
    plugins = _load_file_plugins(doc.pop("plugins", None), source, loc)
    for k, v in doc.items():
        if k not in ("sweep", "base", "axes"):
            raise HDOInputError(
                f"{_where(source, loc, (k,))}: unknown top-level key {k!r} (a sweep file has "
                f"the tables [sweep], [base] and [axes]){suggest(k, ('sweep', 'base', 'axes'))}"
            )
        if not isinstance(v, dict):
            raise HDOInputError(f"{_where(source, loc, (k,))}: {k} must be a table [{k}]")
    sweep = _parse_sweep_table(doc.get("sweep", {}), source, loc)
    base = _flatten_options(doc.get("base", {}), "base", source, loc)
    paths: dict = {}
    axes = _flatten_options(doc.get("axes", {}), "axes", source, loc, _convert_axis, paths)
    if not base and not axes:
        # an empty file (or one with only [sweep]) would run the defaults of `hdo-theory
        # run`: almost certainly a wrong or truncated file, never what a sweep is for
        what = "is empty" if not doc else "sets no option"
        raise HDOInputError(
            f"{source}: the sweep file {what}: [base] and [axes] are both empty (set at "
            f"least one run option, e.g. [base] T = 1000, or an axis such as [axes] "
            f"zo_lr = [0.01, 0.02])"
        )
    _check_finite(base, axes, source)
    for k in axes:
        if k in base:
            raise HDOInputError(
                f"{_where(source, loc, paths[k])}: {k!r} is both in [base] and in [axes]; "
                f"keep one"
            )
    spec = SweepSpec(
        base=base,
        axes=axes,
        seed=sweep.get("seed", 0),
        replicates=sweep.get("replicates", (0,)),
        metrics=sweep.get("metrics"),
        retries=sweep.get("retries", 2),
        threads=sweep.get("threads", 1),
        out=sweep.get("out"),
        name=sweep.get("name", Path(source).stem if source != "<sweep>" else "sweep"),
        source=source,
        plugins=plugins,
    )
    if spec.n_cells > MAX_CELLS:
        raise HDOInputError(f"{source}: the grid has {spec.n_cells} cells, more than {MAX_CELLS}")
    return _resolve_data_paths(spec)


def _load_file_plugins(value, source: str, loc: Locator) -> tuple[str, ...]:
    """The top-level ``plugins = ["my_est.py", "pkg.module"]``: resolved (files relative to
    the sweep file's folder) and loaded now, so that [base] and [axes] may name their
    estimators and objectives."""
    from hdo_theory.plugins import load_plugin, resolve_spec

    if value is None:
        return ()
    where = _where(source, loc, ("plugins",))
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise HDOInputError(f"{where}: plugins must be a list of file paths (*.py) or module "
                            f"names, got {value!r}")
    base = Path(source).parent if source != "<sweep>" else None
    out = []
    for v in value:
        try:
            load_plugin(v, base)
        except HDOInputError as exc:
            raise HDOInputError(f"{where}: {exc}") from None
        key = resolve_spec(v, base)
        if key not in out:
            out.append(key)
    return tuple(out)


def _resolve_data_paths(spec: SweepSpec) -> SweepSpec:
    """``data = "x.npz"`` in [base] / [axes] is relative to the sweep file's folder."""
    from dataclasses import replace

    if spec.source == "<sweep>":
        return spec
    root = Path(spec.source).parent

    def fix(v):
        return v if v is None or Path(v).is_absolute() else str((root / v).resolve())

    base = dict(spec.base)
    axes = dict(spec.axes)
    if base.get("data") is not None:
        base["data"] = fix(base["data"])
    if "data" in axes:
        axes["data"] = tuple(fix(v) for v in axes["data"])
    return replace(spec, base=base, axes=axes)


def _nonfinite(v) -> bool:
    return isinstance(v, float) and not math.isfinite(v)


def _check_finite(base: dict, axes: dict, source: str) -> None:
    """NaN / inf cannot be hashed (canonical JSON refuses them) nor be a valid option value:
    refuse them by name. The option schema already refuses them in a file (with the line);
    this catches a spec built in Python (:class:`SweepSpec` or :func:`parse_spec` of a dict
    whose values bypassed the schema)."""
    for k, v in base.items():
        if _nonfinite(v):
            raise HDOInputError(f"{source}: [base] {k}: {k} must be a finite number, got {v}")
    for k, vals in axes.items():
        for v in vals:
            if _nonfinite(v):
                raise HDOInputError(
                    f"{source}: [axes] {k}: axis values must be finite numbers, got {v}"
                )


def load_spec(path) -> SweepSpec:
    """Read and validate a sweep TOML file (errors name the key and line)."""
    doc, text, path = read_toml(path, "sweep file")
    return parse_spec(doc, text, str(path))

