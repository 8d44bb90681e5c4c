"""Sweeps: grids of ``hdo-theory run`` configurations times seeds, run as independent cells.

A sweep is a TOML file (see ``docs/sweeps.md``)::

    [sweep]
    seed = 0                      # base seed of the sweep
    seeds = 3                     # replicates per configuration (or a list of replicate ids)
    metrics = ["gap", "gamma"]    # metrics ``collect`` puts in the table (default: all recorded)
    retries = 2                   # extra attempts for a cell that raises or whose worker dies

    [base]                        # any option of `hdo-theory run`, same names and tables
    objective = "least-squares"
    d = 3
    n = 4
    T = 50

    [axes]                        # each a non-empty list; the grid is their product
    zo_lr = [0.01, 0.05]
    [axes.zo]
    rv = [1, 4]

A *cell* is one configuration (the base updated with one value of every axis, resolved with
the defaults of ``hdo-theory run``) and one replicate id. Interface:

* :func:`load_spec` / :func:`parse_spec` -> :class:`SweepSpec` (bad input: :class:`HDOInputError`
  naming the key and, when it can be found, the line);
* :func:`plan` -> list of :class:`Cell`, every configuration built once (``objective`` and
  ``ProcessConfig``) so that a configuration error stops the sweep before any cell starts;
* :func:`run_sweep` runs the cells that are not finished through a :class:`CellExecutor`
  (:class:`InlineExecutor`, :class:`LocalPoolExecutor`, :class:`DaskExecutor`) and writes them
  through a :class:`SweepStore`;
* :func:`collect` merges the finished cells into one long-format table.

Identity and seeds (decided):

* ``config_hash`` = SHA-256 of the canonical JSON (sorted keys, exact float ``repr``) of *all*
  resolved run options, defaults included, except the run-only ones (``seed``, ``out``,
  ``threads``, ``no_progress``). The axis positions play no part.
* The cell seed is ``SeedSequence(entropy=base_seed, spawn_key=(128 bits of config_hash,
  replicate))``, folded to 63 bits; so adding an axis value or a replicate never changes the
  seed (hence the results) of a cell that was already there, and reordering axes changes nothing.
* The cell key (its file name) is the first 24 hex digits of SHA-256 of ``config_hash/seed``.

Files in the output folder (decided; the per-cell files are what survives a SIGKILL):

* ``sweep.json``: the spec, its fingerprint, and the cell list (key, replicate, seed, axis values),
  rewritten atomically when a sweep starts;
* ``cells/<key>.npz``: the cell's :class:`~.process.results.Results` (all recorded metrics),
  written atomically by the driver; ``info["sweep_cell"]`` holds the options, seed, host, pid,
  wall time and versions;
* ``status/<key>.json``: one small file per cell, atomically replaced: ``done``, ``diverged``
  (a replica diverged; the results are kept), ``failed`` (with the error and its traceback) or
  ``pending`` with the attempts so far. A cell whose ``.npz`` exists is finished whatever its
  status file says (the ``.npz`` is written first);
* ``index.json``: a snapshot of every cell's status, rewritten atomically every few seconds and
  at the end; it is derived from the two folders above and rebuilt from them on every start.

Determinism: a cell is ``simulate(build(options), seed=cell.seed)``, a pure function of its
options and seed, so its trajectories are bit-identical whichever executor, worker, order or
interruption; only the metadata (host, wall time) differs.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import difflib
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import platform
import re
import socket
import threading
import time
import tomllib
import traceback
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from hdo_theory import __version__
from hdo_theory.atomic import atomic_file, write_text_atomic
from hdo_theory.errors import HDOInputError, check_int

__all__ = [
    "SPEC_FORMAT",
    "SweepSpec",
    "Cell",
    "CellTask",
    "CellOutput",
    "load_spec",
    "parse_spec",
    "plan",
    "config_hash",
    "cell_seed",
    "cell_key",
    "run_cell",
    "SweepStore",
    "SweepReport",
    "run_sweep",
    "CellExecutor",
    "InlineExecutor",
    "LocalPoolExecutor",
    "DaskExecutor",
    "make_executor",
    "collect",
    "CollectReport",
]

SPEC_FORMAT = "hdo-theory-sweep/1"
STATUS_FORMAT = "hdo-theory-sweep-status/1"
FINAL = ("done", "diverged")  # statuses that a re-run skips
RUN_ONLY = ("seed", "out", "threads", "no_progress")  # run options a sweep sets per cell
MAX_CELLS = 10_000_000
INDEX_EVERY_S = 5.0


# ---------------------------------------------------------------------------------------------
# Canonical form, hashes and seeds
# ---------------------------------------------------------------------------------------------


def canonical_json(obj) -> str:
    """Sorted keys, no spaces, floats by ``repr`` (exact); NaN/inf are refused."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


def config_hash(values: dict) -> str:
    """SHA-256 (hex) of the canonical JSON of a cell's resolved run options (run-only removed)."""
    clean = {k: v for k, v in values.items() if k not in RUN_ONLY}
    return hashlib.sha256(canonical_json(clean).encode()).hexdigest()


def cell_seed(base_seed: int, chash: str, replicate: int) -> int:
    """The seed of replicate ``replicate`` of the configuration with hash ``chash``.

    ``SeedSequence(entropy=base_seed, spawn_key=(four 32-bit words of chash, replicate))``,
    two 32-bit words of its state folded into a non-negative 63-bit integer. The grid position
    of the configuration plays no part.
    """
    base_seed = check_int("seed", base_seed, 0)
    replicate = check_int("replicate", replicate, 0)
    words = tuple(int(chash[i:i + 8], 16) for i in range(0, 32, 8))
    ss = np.random.SeedSequence(entropy=base_seed, spawn_key=(*words, replicate))
    hi, lo = (int(w) for w in ss.generate_state(2, dtype=np.uint32))
    return ((hi << 32) | lo) & ((1 << 63) - 1)


def cell_key(chash: str, seed: int) -> str:
    """The cell's file name: 24 hex digits of SHA-256 of ``chash/seed``."""
    return hashlib.sha256(f"{chash}/{int(seed)}".encode()).hexdigest()[:24]


# ---------------------------------------------------------------------------------------------
# The spec (TOML) and its validation
# ---------------------------------------------------------------------------------------------


def _run_options() -> dict:
    """name -> (type, default, help) of every ``hdo-theory run`` option (shared with run)."""
    from hdo_theory.commands.run import _all_opts

    return _all_opts()


def _coerce_option(name: str, typ, value):
    from hdo_theory.commands.run import _coerce

    return _coerce(name, typ, value)


_KEY_PART = r'(?:"[^"]*"|\'[^\']*\'|[A-Za-z0-9_\-]+)'
_HEADER_RE = re.compile(r"^\s*\[\[?\s*([^\]]*?)\s*\]\]?\s*(?:#.*)?$")
_ASSIGN_RE = re.compile(rf"^\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=")


def _split_dotted(s: str) -> tuple[str, ...]:
    parts = re.findall(_KEY_PART, s)
    return tuple(p.strip("\"'") for p in parts)


class _Locator:
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
        for k in range(len(path), 0, -1):
            if path[:k] in self.lines:
                return self.lines[path[:k]]
        return None


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file.

    base: run option name -> value (only what the file sets; coerced like ``hdo-theory run``).
    axes: run option name -> tuple of values, in file order; the grid is their product.
    seed: the sweep's base seed. replicates: replicate ids run for every configuration.
    metrics: metric names ``collect`` keeps (``None``: every recorded metric).
    retries: extra attempts for a cell that raises or whose worker dies. threads: per cell.
    out: default output folder (relative to the file's folder), or ``None``.
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

    def identity(self) -> dict:
        """What determines the set of cells (and nothing else)."""
        return {
            "base": self.base,
            "axes": {k: list(v) for k, v in self.axes.items()},
            "seed": self.seed,
            "replicates": list(self.replicates),
        }

    def fingerprint(self) -> str:
        return hashlib.sha256(canonical_json(self.identity()).encode()).hexdigest()[:16]

    def as_dict(self) -> dict:
        return {
            **self.identity(),
            "metrics": None if self.metrics is None else list(self.metrics),
            "retries": self.retries,
            "threads": self.threads,
            "name": self.name,
            "source": self.source,
        }

    @property
    def n_cells(self) -> int:
        return math.prod(len(v) for v in self.axes.values()) * len(self.replicates)


_SWEEP_KEYS = ("seed", "seeds", "metrics", "retries", "threads", "out", "name")
_OPTION_TABLES_PREFIXED = ("zo", "fo")
_OPTION_TABLES_PLAIN = ("objective", "process", "run")


def _where(source: str, loc: _Locator, path: tuple[str, ...]) -> str:
    line = loc.line(path)
    return f"{source}, line {line}" if line is not None else source


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _flatten_options(table: dict, top: str, source: str, loc: _Locator, convert,
                     paths: dict | None = None) -> dict:
    """Walk a ``[base]`` / ``[axes]`` table laid out like ``hdo-theory run``'s TOML file.

    Top-level names are run options; ``[top.zo]`` / ``[top.fo]`` take the per-population names
    without their prefix; ``[top.objective]``, ``[top.process]``, ``[top.run]`` the plain names.
    """
    opts = _run_options()
    flat: dict = {}

    def put(name: str, value, path: tuple[str, ...]):
        where = _where(source, loc, path)
        key = name.replace("-", "_")
        label = f"[{'.'.join(path[:-1])}] {path[-1]}"
        if key in RUN_ONLY:
            why = {
                "seed": "cell seeds derive from [sweep] seed and each cell's configuration; "
                        "set [sweep] seed and seeds",
                "threads": "set [sweep] threads (threads per cell)",
            }.get(key, "the sweep sets it per cell")
            raise HDOInputError(f"{where}: {label}: {key!r} cannot be set in a sweep ({why})")
        if key not in opts:
            raise HDOInputError(
                f"{where}: {label}: unknown option {key!r}{_suggest(key, opts)}"
            )
        if key in flat:
            raise HDOInputError(f"{where}: {label}: option {key!r} is given twice")
        flat[key] = convert(key, opts[key][0], value, where, label)
        if paths is not None:
            paths[key] = path

    for k, v in table.items():
        if isinstance(v, dict):
            if k in _OPTION_TABLES_PREFIXED:
                for kk, vv in v.items():
                    put(f"{k}_{kk}", vv, (top, k, kk))
            elif k in _OPTION_TABLES_PLAIN:
                for kk, vv in v.items():
                    put(kk, vv, (top, k, kk))
            else:
                where = _where(source, loc, (top, k))
                allowed = _OPTION_TABLES_PREFIXED + _OPTION_TABLES_PLAIN
                raise HDOInputError(
                    f"{where}: unknown table [{top}.{k}] (allowed: "
                    f"{', '.join(f'[{top}.{t}]' for t in allowed)}){_suggest(k, allowed)}"
                )
        else:
            put(k, v, (top, k))
    return flat


def _convert_base(key, typ, value, where, label):
    try:
        return _coerce_option(key, typ, value)
    except HDOInputError as exc:
        raise HDOInputError(f"{where}: {label}: {exc}") from None


def _convert_axis(key, typ, value, where, label):
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
            c = _coerce_option(key, typ, v)
        except HDOInputError as exc:
            raise HDOInputError(f"{where}: {label}: {exc}") from None
        if any(canonical_json(c) == canonical_json(o) for o in out):
            raise HDOInputError(f"{where}: {label}: axis {key!r} repeats the value {v!r}")
        out.append(c)
    return tuple(out)


def _parse_sweep_table(t: dict, source: str, loc: _Locator) -> dict:
    from hdo_theory.process import METRICS

    out: dict = {}
    for k, v in t.items():
        path = ("sweep", k)
        where = _where(source, loc, path)
        label = f"[sweep] {k}"
        if k not in _SWEEP_KEYS:
            raise HDOInputError(
                f"{where}: {label}: unknown key {k!r} (allowed: {', '.join(_SWEEP_KEYS)})"
                f"{_suggest(k, _SWEEP_KEYS)}"
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
                            f"{_suggest(str(m), METRICS)}"
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
    loc = _Locator(text)
    for k, v in doc.items():
        if k not in ("sweep", "base", "axes"):
            raise HDOInputError(
                f"{_where(source, loc, (k,))}: unknown top-level key {k!r} (a sweep file has "
                f"the tables [sweep], [base] and [axes]){_suggest(k, ('sweep', 'base', 'axes'))}"
            )
        if not isinstance(v, dict):
            raise HDOInputError(f"{_where(source, loc, (k,))}: {k} must be a table [{k}]")
    sweep = _parse_sweep_table(doc.get("sweep", {}), source, loc)
    base = _flatten_options(doc.get("base", {}), "base", source, loc, _convert_base)
    paths: dict = {}
    axes = _flatten_options(doc.get("axes", {}), "axes", source, loc, _convert_axis, paths)
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
    )
    if spec.n_cells > MAX_CELLS:
        raise HDOInputError(f"{source}: the grid has {spec.n_cells} cells, more than {MAX_CELLS}")
    return spec


def load_spec(path) -> SweepSpec:
    """Read and validate a sweep TOML file (errors name the key and line)."""
    path = Path(path)
    if not path.exists():
        raise HDOInputError(f"sweep file {str(path)!r} does not exist")
    if not path.is_file():
        raise HDOInputError(f"sweep file {str(path)!r} is not a file (a folder?)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HDOInputError(
            f"sweep file {path}: cannot read it ({exc.__class__.__name__})"
        ) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HDOInputError(f"sweep file {path}: {str(exc).splitlines()[0]}") from None
    return parse_spec(doc, text, str(path))


# ---------------------------------------------------------------------------------------------
# The grid
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One configuration and one replicate: an independent task."""

    key: str
    config_hash: str
    replicate: int
    seed: int
    point: dict  # axis name -> value
    values: dict  # every resolved run option (run-only ones removed)

    def describe(self) -> str:
        pts = ", ".join(f"{k}={v}" for k, v in self.point.items())
        return f"{pts + ', ' if pts else ''}replicate={self.replicate}"


def _resolve_values(spec: SweepSpec, point: dict) -> dict:
    """Base + one axis point, resolved with ``hdo-theory run``'s defaults and n/n0/n1 rules."""
    import argparse

    from hdo_theory.commands.run import resolve_options

    given = {"replicas": 1}  # a sweep cell is one seed; replicas within it only if asked
    given.update(spec.base)
    given.update(point)
    values = resolve_options(argparse.Namespace(**given))
    return {k: v for k, v in values.items() if k not in RUN_ONLY}


def plan(spec: SweepSpec, validate: bool = True) -> list[Cell]:
    """Expand the grid into cells (axes in file order, then replicates).

    validate: build every configuration's objective and ``ProcessConfig`` now, so that a bad
    value stops the sweep before any cell runs (the message names the configuration).
    """
    from hdo_theory.commands.run import build

    names = list(spec.axes)
    cells: list[Cell] = []
    seen: dict[str, dict] = {}
    for combo in itertools.product(*(spec.axes[k] for k in names)):
        point = dict(zip(names, combo, strict=True))
        label = ", ".join(f"{k}={v!r}" for k, v in point.items()) or "the base configuration"
        try:
            values = _resolve_values(spec, point)
            if validate:
                build(values)
        except HDOInputError as exc:
            raise HDOInputError(f"{spec.source}: configuration {label}: {exc}") from None
        chash = config_hash(values)
        if chash in seen:
            other = ", ".join(f"{k}={v!r}" for k, v in seen[chash].items())
            raise HDOInputError(
                f"{spec.source}: configurations {other} and {label} are the same after "
                f"defaults are applied"
            )
        seen[chash] = point
        for rep in spec.replicates:
            seed = cell_seed(spec.seed, chash, rep)
            cells.append(Cell(cell_key(chash, seed), chash, rep, seed, point, values))
    return cells


# ---------------------------------------------------------------------------------------------
# One cell (runs in a worker)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellTask:
    """What a worker needs: the options and seed (small, picklable)."""

    key: str
    seed: int
    values: dict
    threads: int = 1
    save_path: str | None = None  # set when workers share the driver's file system


@dataclass
class CellOutput:
    key: str
    results: object  # hdo_theory.process.results.Results
    meta: dict


@dataclass
class _Outcome:
    """A cell's result as shipped back from a worker; errors are caught in the worker so that
    their tracebacks travel the same way on every executor."""

    key: str
    output: CellOutput | None = None
    error: str | None = None
    traceback: str | None = None
    retryable: bool = True
    host: str = ""


def versions() -> dict:
    import numba

    return {
        "hdo_theory": __version__,
        "numpy": np.__version__,
        "numba": numba.__version__,
        "python": platform.python_version(),
    }


_OBJECTIVES: OrderedDict = OrderedDict()  # per worker process: meta key -> Objective
_OBJECTIVES_LOCK = threading.Lock()  # Dask workers may run cells on several threads
_OBJECTIVES_KEEP = 4


def _shared_objective(obj):
    """The objective this process already built with the same generation parameters, else
    ``obj`` (remembered). Cells of one sweep mostly share their objective, and its constants
    (computed lazily, the costliest part of a tiny cell) are then computed once per worker.
    ``Objective.meta`` holds every generation parameter, seed included, so equal metas mean
    equal objectives; the result of a cell does not depend on whether the cache hit."""
    key = json.dumps({"type": type(obj).__qualname__, "meta": obj.meta}, sort_keys=True,
                     default=lambda a: np.asarray(a).tolist())
    with _OBJECTIVES_LOCK:
        hit = _OBJECTIVES.get(key)
        if hit is not None:
            _OBJECTIVES.move_to_end(key)
            return hit
        _OBJECTIVES[key] = obj
        while len(_OBJECTIVES) > _OBJECTIVES_KEEP:
            _OBJECTIVES.popitem(last=False)
        return obj


def run_cell(task: CellTask) -> CellOutput:
    """Build the cell's objective and configuration and simulate it with the cell's seed."""
    from hdo_theory.commands.run import build
    from hdo_theory.process import simulate

    t0 = time.perf_counter()
    obj, cfg = build(task.values)
    obj = _shared_objective(obj)
    res = simulate(
        obj, cfg, replicas=task.values["replicas"], seed=task.seed, threads=task.threads,
        keep_state=bool(task.values.get("keep_state")),
    )
    meta = {
        "key": task.key,
        "seed": task.seed,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "wall_time_s": time.perf_counter() - t0,
        "versions": versions(),
        "options": task.values,
    }
    res.info["sweep_cell"] = meta
    return CellOutput(task.key, res, meta)


def _execute(cell_fn: Callable, task: CellTask) -> _Outcome:
    """Worker entry point: run ``cell_fn(task)``, turning an exception into an outcome."""
    try:
        out = cell_fn(task)
        out.meta["diverged_replicas"] = int(out.results.n_diverged)
        if task.save_path is not None:  # write here (in parallel), ship only the metadata
            out.results.save(task.save_path)
            out = CellOutput(out.key, None, out.meta)
        return _Outcome(task.key, output=out, host=socket.gethostname())
    except Exception as exc:
        return _Outcome(
            task.key,
            error=f"{exc.__class__.__name__}: {exc}",
            traceback=traceback.format_exc(),
            retryable=not isinstance(exc, HDOInputError),  # bad input is deterministic
            host=socket.gethostname(),
        )


# ---------------------------------------------------------------------------------------------
# Executors: one concurrent.futures-style interface for the loop in run_sweep
# ---------------------------------------------------------------------------------------------


class CellExecutor:
    """What :func:`run_sweep` needs from an executor.

    ``submit(fn, *args)`` returns a :class:`concurrent.futures.Future`; ``capacity`` is how many
    cells to keep in flight; ``death_errors`` are the exceptions a future raises when its worker
    died; ``deaths_attributed`` says whether such an error names the culprit (Dask: yes, it
    already retried the task on other workers; a local pool: no, a dead worker breaks every
    future in the pool, so ``run_sweep`` re-runs the suspects one at a time);
    ``shared_filesystem`` says whether workers see the output folder (then they write the cell
    files themselves, in parallel; otherwise results travel back and the driver writes them);
    ``reset()`` replaces a broken pool; ``close()`` releases everything.
    """

    name = "executor"
    capacity = 1
    workers = 1
    shared_filesystem = False  # True: workers write the cell files themselves
    death_errors: tuple[type[BaseException], ...] = ()
    deaths_attributed = True

    def submit(self, fn, *args) -> cf.Future:  # pragma: no cover - interface
        raise NotImplementedError

    def reset(self) -> None:
        pass

    def close(self, cancel: bool = False) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close(cancel=exc[0] is not None)


class InlineExecutor(CellExecutor):
    """Runs each cell in the calling process at submission (``--workers 0``; debugging, tests)."""

    name = "inline"
    shared_filesystem = True

    def submit(self, fn, *args) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            fut.set_exception(exc)
        return fut


def _parent_watchdog(driver_pid: int, parent_pid: int) -> None:
    """Exit this worker when the driver dies (a SIGKILLed driver cannot stop its pool)."""
    while True:
        time.sleep(1.0)
        gone = os.getppid() != parent_pid
        if not gone:
            try:
                os.kill(driver_pid, 0)
            except ProcessLookupError:
                gone = True
            except PermissionError:
                pass
        if gone:
            os._exit(3)


def _worker_init(driver_pid: int) -> None:
    threading.Thread(
        target=_parent_watchdog, args=(driver_pid, os.getppid()), daemon=True,
        name="hdo-sweep-watchdog",
    ).start()


def _mp_context():
    """forkserver (workers fork from a clean server that has imported this module; no Numba
    state or threads of the driver leak into them), or spawn where forkserver is missing."""
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["hdo_theory.runs.sweep", "hdo_theory.runs.sweep._warmup"])
        return ctx
    return multiprocessing.get_context("spawn")


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class LocalPoolExecutor(CellExecutor):
    """A :class:`concurrent.futures.ProcessPoolExecutor` of ``workers`` processes."""

    name = "local pool"
    shared_filesystem = True
    death_errors = (BrokenProcessPool,)
    deaths_attributed = False

    def __init__(self, workers: int | None = None):
        self.workers = check_int("workers", default_workers() if workers is None else workers,
                                 1, 4096)
        self.capacity = 2 * self.workers
        self._pool = self._new()

    def _new(self):
        return cf.ProcessPoolExecutor(
            max_workers=self.workers, mp_context=_mp_context(), initializer=_worker_init,
            initargs=(os.getpid(),),
        )

    def submit(self, fn, *args) -> cf.Future:
        return self._pool.submit(fn, *args)

    def reset(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = self._new()

    def close(self, cancel: bool = False) -> None:
        self._pool.shutdown(wait=True, cancel_futures=cancel)

    @property
    def name_full(self) -> str:
        return f"local pool of {self.workers} worker{'s' if self.workers != 1 else ''}"


def _probe_tcp(address: str, timeout: float) -> None:
    """Fail at once with a clear message when nothing listens at a tcp:// address."""
    url = urlparse(address if "://" in address else f"tcp://{address}")
    if url.scheme != "tcp":
        return
    if not url.hostname or url.port is None:
        raise HDOInputError(
            f"scheduler must look like tcp://HOST:PORT, got {address!r}"
        )
    try:
        with socket.create_connection((url.hostname, url.port), timeout=min(timeout, 5.0)):
            pass
    except OSError as exc:
        raise HDOInputError(
            f"cannot reach the Dask scheduler at {address}: {exc.strerror or exc} "
            f"(is `dask scheduler` running there and the port open?)"
        ) from None


class DaskExecutor(CellExecutor):
    """Cells on a ``dask.distributed`` cluster through ``Client.get_executor(pure=False)``
    (a :class:`concurrent.futures.Executor`). Needs the ``dask`` extra.

    shared_filesystem: the workers see the output folder at the same path (one machine, or a
    network file system): they write the cell files, and only metadata travels back. Default
    ``False``: results travel to the driver, which writes them (works on any cluster).
    """

    name = "dask"
    deaths_attributed = True

    def __init__(self, address: str, timeout: float = 10.0, shared_filesystem: bool = False):
        try:
            import distributed
        except ImportError:
            raise HDOInputError(
                "--scheduler needs Dask's distributed package: pip install 'hdo-theory[dask]'"
            ) from None
        timeout = float(timeout)
        _probe_tcp(address, timeout)
        try:
            self.client = distributed.Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise HDOInputError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        self.address = address
        self.shared_filesystem = bool(shared_filesystem)
        self.death_errors = (distributed.KilledWorker,)
        self._ex = self.client.get_executor(pure=False)
        self._checked = 0.0
        self._workers = 1
        _ = self.workers

    @property
    def workers(self) -> int:
        """Worker threads of the cluster (asked again every few seconds: workers may join)."""
        now = time.monotonic()
        if now - self._checked > 5.0:
            with contextlib.suppress(Exception):
                self._workers = max(1, sum(self.client.nthreads().values()))
            self._checked = now
        return self._workers

    @property
    def capacity(self) -> int:
        # deeper than the local pool's 2x: each task's round trip through the scheduler is
        # milliseconds, which a deeper queue hides for short cells
        return 4 * self.workers

    def submit(self, fn, *args) -> cf.Future:
        return self._ex.submit(fn, *args)

    def close(self, cancel: bool = False) -> None:
        with contextlib.suppress(Exception):
            self._ex.shutdown(wait=not cancel)
        with contextlib.suppress(Exception):
            self.client.close()

    @property
    def name_full(self) -> str:
        return f"Dask cluster at {self.address} ({self.workers} worker threads)"


def make_executor(workers: int | None = None, scheduler: str | None = None,
                  scheduler_timeout: float = 10.0, shared_fs: bool = False) -> CellExecutor:
    """``scheduler`` -> :class:`DaskExecutor`; ``workers == 0`` -> :class:`InlineExecutor`;
    else a :class:`LocalPoolExecutor` (default size: the CPUs this process may use)."""
    if scheduler:
        return DaskExecutor(scheduler, scheduler_timeout, shared_filesystem=shared_fs)
    if workers == 0:
        return InlineExecutor()
    return LocalPoolExecutor(workers)


# ---------------------------------------------------------------------------------------------
# The output folder
# ---------------------------------------------------------------------------------------------


def _atomic_write_text(path: Path, text: str, durable: bool = True) -> None:
    """Write to a temporary file in the same folder, then rename over ``path``: a reader (or a
    resumed sweep) sees the old file or the new one, never a torn one. ``durable`` also fsyncs
    before the rename (survives power loss, not only a killed process); status files skip it
    because a lost status file is rebuilt from the cell file, or the cell is simply re-run."""
    write_text_atomic(path, text, durable=durable)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class SweepStore:
    """The output folder of a sweep (layout in the module docstring)."""

    def __init__(self, root):
        self.root = Path(root)
        self.spec_path = self.root / "sweep.json"
        self.index_path = self.root / "index.json"
        self.cells_dir = self.root / "cells"
        self.status_dir = self.root / "status"

    def cell_path(self, key: str) -> Path:
        return self.cells_dir / f"{key}.npz"

    def status_path(self, key: str) -> Path:
        return self.status_dir / f"{key}.json"

    def read_spec(self) -> dict | None:
        if not self.spec_path.exists():
            return None
        try:
            doc = json.loads(self.spec_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise HDOInputError(f"{self.spec_path}: unreadable sweep file") from None
        if doc.get("format") != SPEC_FORMAT:
            raise HDOInputError(
                f"{self.spec_path}: not an hdo-theory sweep ({doc.get('format')!r})"
            )
        return doc

    def open(self, spec: SweepSpec, cells: list[Cell], *, force: bool = False,
             resume: bool = False) -> str:
        """Claim the folder for ``spec``; returns ``"new"``, ``"same"`` or ``"taken over"``.

        Refuses a folder holding a different sweep, or other files, unless ``force``; with
        ``resume`` the folder must already hold this sweep.
        """
        old = self.read_spec() if self.root.exists() else None
        fp = spec.fingerprint()
        if old is not None and old.get("fingerprint") == fp:
            how = "same"
        elif resume:
            what = "no sweep" if old is None else f"a different sweep ({old.get('name')!r})"
            raise HDOInputError(
                f"--resume: {self.root} holds {what}; nothing of this sweep to resume"
            )
        elif old is not None:
            if not force:
                raise HDOInputError(
                    f"{self.root} holds a different sweep ({old.get('name')!r}, "
                    f"{old.get('n_cells')} cells, fingerprint {old.get('fingerprint')}); use "
                    f"another --out or pass --force to take the folder over (cells the two "
                    f"sweeps share are reused)"
                )
            how = "taken over"
        elif self.root.exists() and any(self.root.iterdir()):
            if not force:
                raise HDOInputError(
                    f"{self.root} is not empty and holds no sweep; use another --out or pass "
                    f"--force"
                )
            how = "taken over"
        else:
            how = "new"
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        self.status_dir.mkdir(parents=True, exist_ok=True)
        doc = {
            "format": SPEC_FORMAT,
            "fingerprint": fp,
            "name": spec.name,
            "spec": spec.as_dict(),
            "axis_names": list(spec.axes),
            "n_cells": len(cells),
            "written_at": _now(),
            "versions": versions(),
            "cells": [
                {"key": c.key, "replicate": c.replicate, "seed": c.seed, "point": c.point}
                for c in cells
            ],
        }
        _atomic_write_text(self.spec_path, json.dumps(doc, indent=1, allow_nan=False))
        return how

    def read_status(self, key: str) -> dict | None:
        p = self.status_path(key)
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # cannot happen with atomic writes; treat as unknown

    def write_status(self, key: str, status: dict) -> None:
        doc = {"format": STATUS_FORMAT, "key": key, "updated_at": _now(), **status}
        _atomic_write_text(self.status_path(key), json.dumps(doc, indent=1, allow_nan=True),
                           durable=False)

    def scan(self, cells: list[Cell]) -> dict[str, dict]:
        """key -> status record, rebuilt from the folder (the ``.npz`` is the proof of done)."""
        have_npz = {p.stem for p in self.cells_dir.glob("*.npz")} if self.cells_dir.exists() \
            else set()
        have_status = {p.stem for p in self.status_dir.glob("*.json")} \
            if self.status_dir.exists() else set()
        out: dict[str, dict] = {}
        for c in cells:
            st = self.read_status(c.key) if c.key in have_status else None
            if c.key in have_npz:
                if st is None or st.get("status") not in FINAL:
                    with np.load(self.cell_path(c.key), allow_pickle=False) as z:
                        diverged = bool(np.any(z["diverged_at"] >= 0))
                    st = {
                        "status": "diverged" if diverged else "done",
                        "attempts": (st or {}).get("attempts", 1),
                        "recovered": "status rebuilt from the cell file",
                    }
                    self.write_status(c.key, st)
                out[c.key] = st
            elif st is not None and st.get("status") == "failed":
                out[c.key] = st
            else:
                out[c.key] = {"status": "pending",
                              "attempts": (st or {}).get("attempts", 0)}
        return out

    def save_cell(self, cell: Cell, output: CellOutput, attempts: int) -> str:
        """Write the cell's results unless its worker did (``output.results is None``), then
        its status; returns ``done`` or ``diverged``."""
        res = output.results
        if res is not None:
            res.save(self.cell_path(cell.key))
            n_div = int(res.n_diverged)
        else:
            n_div = int(output.meta["diverged_replicas"])
        status = "diverged" if n_div > 0 else "done"
        self.write_status(cell.key, {
            "status": status,
            "attempts": attempts,
            "replicate": cell.replicate,
            "seed": cell.seed,
            "point": cell.point,
            "host": output.meta.get("host"),
            "wall_time_s": output.meta.get("wall_time_s"),
            "diverged_replicas": n_div,
        })
        return status

    def write_index(self, spec: SweepSpec, cells: list[Cell], states: dict) -> None:
        counts: dict[str, int] = {}
        for st in states.values():
            counts[st["status"]] = counts.get(st["status"], 0) + 1
        doc = {
            "format": "hdo-theory-sweep-index/1",
            "fingerprint": spec.fingerprint(),
            "updated_at": _now(),
            "counts": counts,
            "cells": {
                c.key: {
                    "status": states[c.key]["status"],
                    "attempts": states[c.key].get("attempts", 0),
                    "replicate": c.replicate,
                    "point": c.point,
                    **({"error": states[c.key]["error"]} if "error" in states[c.key] else {}),
                }
                for c in cells
            },
        }
        _atomic_write_text(self.index_path, json.dumps(doc, indent=1, allow_nan=True),
                           durable=False)


# ---------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------


@dataclass
class SweepReport:
    out: Path
    total: int
    already: int  # finished before this invocation
    done: int  # done (all, including earlier ones)
    diverged: int
    failed: int
    pending: int
    wall_time_s: float
    executor: str
    failures: list = field(default_factory=list)  # (cell, error)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.pending == 0


class _Bar:
    """tqdm over cells with done / failed / left in the postfix (tqdm provides the ETA)."""

    def __init__(self, total: int, initial: int, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc="cells", unit="cell",
                            dynamic_ncols=True, smoothing=0.1)

    def update(self, n: int, counts: dict):
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix(done=counts["done"], diverged=counts["diverged"],
                                 failed=counts["failed"], left=counts["left"], refresh=False)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def run_sweep(
    spec: SweepSpec,
    out,
    executor: CellExecutor | None = None,
    *,
    cells: list[Cell] | None = None,
    force: bool = False,
    resume: bool = False,
    progress: bool = False,
    cell_fn: Callable = run_cell,
    retries: int | None = None,
    log: Callable[[str], None] | None = None,
) -> SweepReport:
    """Run every cell of ``spec`` that is not finished in ``out``; return the tally.

    executor: where cells run (default: a :class:`LocalPoolExecutor` sized to the machine);
        it is closed on return. cells: the plan (default :func:`plan` of ``spec``).
    cell_fn: ``CellTask -> CellOutput`` (default :func:`run_cell`; must be picklable by
        reference for process executors).
    retries: override ``spec.retries``. A cell that raises, or whose worker dies, gets at most
        ``retries`` further attempts in this invocation, then is recorded ``failed`` with its
        traceback; ``HDOInputError`` is deterministic and is not retried. Re-running the sweep
        gives failed cells a new budget; done and diverged cells are never re-run.
    """
    t_start = time.perf_counter()
    log = log or (lambda s: None)
    retries = spec.retries if retries is None else check_int("retries", retries, 0, 100)
    cells = plan(spec) if cells is None else cells
    store = SweepStore(out)
    owned_executor = executor is None
    how = store.open(spec, cells, force=force, resume=resume)
    states = store.scan(cells)
    already = sum(1 for c in cells if states[c.key]["status"] in FINAL)
    todo = [c for c in cells if states[c.key]["status"] not in FINAL]
    counts = {
        "done": sum(1 for s in states.values() if s["status"] == "done"),
        "diverged": sum(1 for s in states.values() if s["status"] == "diverged"),
        "failed": 0,
        "left": len(todo),
    }
    failures: list = []
    if executor is None:
        executor = make_executor()
    exec_name = getattr(executor, "name_full", executor.name)
    log(f"sweep {spec.name!r}: {len(cells)} cells, {already} already finished "
        f"({'folder ' + how}), {len(todo)} to run on {exec_name if todo else 'nothing'}")
    for c in todo:  # failed cells get a fresh budget; clear their final status
        if states[c.key]["status"] == "failed":
            states[c.key] = {"status": "pending", "attempts": states[c.key].get("attempts", 0)}
    attempts = {c.key: 0 for c in todo}
    total_attempts = {c.key: int(states[c.key].get("attempts", 0)) for c in todo}
    queue = deque(todo)
    suspects: deque[Cell] = deque()  # cells in flight when a local worker died
    inflight: dict[cf.Future, Cell] = {}
    bar = _Bar(len(cells), already, progress)
    last_index = 0.0

    def submit(c: Cell):
        save = str(store.cell_path(c.key)) if executor.shared_filesystem else None
        task = CellTask(c.key, c.seed, c.values, spec.threads, save)
        inflight[executor.submit(_execute, cell_fn, task)] = c

    def charge(c: Cell, error: str, tb: str | None, retryable: bool, death: bool, host: str):
        attempts[c.key] += 1
        total_attempts[c.key] += 1
        if retryable and attempts[c.key] <= retries:
            states[c.key] = {"status": "pending", "attempts": total_attempts[c.key],
                             "error": error}
            store.write_status(c.key, {**states[c.key], "traceback": tb, "host": host,
                                       "replicate": c.replicate, "point": c.point})
            (suspects if death and not executor.deaths_attributed else queue).append(c)
            return
        states[c.key] = {"status": "failed", "attempts": total_attempts[c.key], "error": error}
        store.write_status(c.key, {**states[c.key], "traceback": tb, "host": host,
                                   "replicate": c.replicate, "seed": c.seed, "point": c.point})
        counts["failed"] += 1
        counts["left"] -= 1
        failures.append((c, error))
        bar.update(1, counts)

    interrupted = False
    try:
        store.write_index(spec, cells, states)
        while queue or suspects or inflight:
            if suspects:
                if not inflight:  # a suspect runs alone, so a death can be attributed
                    submit(suspects.popleft())
            else:
                while queue and len(inflight) < executor.capacity:
                    submit(queue.popleft())
            finished, _ = cf.wait(list(inflight), timeout=1.0,
                                  return_when=cf.FIRST_COMPLETED)
            broken = False
            for fut in finished:
                c = inflight.pop(fut)
                try:
                    outcome = fut.result()
                except executor.death_errors as exc:
                    alone = not inflight and not broken
                    if executor.deaths_attributed or alone:
                        charge(c, f"worker died while running the cell ({exc})", None,
                               True, True, "")
                    else:
                        suspects.append(c)
                    broken = broken or not executor.deaths_attributed
                    continue
                except cf.CancelledError:
                    queue.appendleft(c)
                    continue
                except Exception as exc:  # infrastructure error (e.g. pickling) for this cell
                    charge(c, f"{exc.__class__.__name__}: {exc}",
                           "".join(traceback.format_exception(exc)), True, False, "")
                    continue
                if outcome.error is not None:
                    charge(c, outcome.error, outcome.traceback, outcome.retryable, False,
                           outcome.host)
                    continue
                status = store.save_cell(c, outcome.output, total_attempts[c.key] + 1)
                total_attempts[c.key] += 1
                states[c.key] = {"status": status, "attempts": total_attempts[c.key]}
                counts[status] += 1
                counts["left"] -= 1
                bar.update(1, counts)
            if broken:
                # every other future of the broken pool fails too: rerun them as suspects
                for fut, c in list(inflight.items()):
                    suspects.append(c)
                    inflight.pop(fut)
                executor.reset()
            now = time.perf_counter()
            if now - last_index > INDEX_EVERY_S:
                store.write_index(spec, cells, states)
                last_index = now
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        bar.close()
        if owned_executor or interrupted:
            executor.close(cancel=interrupted)
        with contextlib.suppress(Exception):
            store.write_index(spec, cells, states)
    pending = sum(1 for s in states.values() if s["status"] == "pending")
    return SweepReport(
        out=store.root, total=len(cells), already=already, done=counts["done"],
        diverged=counts["diverged"], failed=counts["failed"], pending=pending,
        wall_time_s=time.perf_counter() - t_start, executor=exec_name, failures=failures,
    )


# ---------------------------------------------------------------------------------------------
# collect
# ---------------------------------------------------------------------------------------------


@dataclass
class CollectReport:
    path: Path
    format: str
    rows: int
    cells: int  # cells with results
    missing: int  # cells without results (pending or failed)
    failed: list = field(default_factory=list)  # (key, point, error)


def _have_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def _table_columns(store: SweepStore, doc: dict, final_only: bool):
    """Column name -> list of values, plus failures and counts."""
    from hdo_theory.process.results import Results

    axis_names = list(doc.get("axis_names", []))
    metrics_keep = doc["spec"].get("metrics")
    base_cols = ["cell", "replicate", "seed", *axis_names, "status", "replica", "diverged_at",
                 "t", "interactions", "parallel_time", "metric", "value", "wall_time_s", "host",
                 "version", "numpy_version", "numba_version", "python_version"]
    cols: dict[str, list] = {k: [] for k in base_cols}
    failed, n_cells, missing = [], 0, 0
    for entry in doc["cells"]:
        key = entry["key"]
        path = store.cell_path(key)
        if not path.exists():
            missing += 1
            st = store.read_status(key)
            if st is not None and st.get("status") == "failed":
                failed.append((key, entry["point"], st.get("error")))
            continue
        n_cells += 1
        res = Results.load(path)
        meta = res.info.get("sweep_cell", {})
        vers = meta.get("versions", {})
        names = [m for m in (metrics_keep or res.metrics)
                 if m in res.metrics and (metrics_keep or not np.all(np.isnan(res.metrics[m])))]
        sel = np.array([res.t.shape[0] - 1]) if final_only else np.arange(res.t.shape[0])
        inter = res.interactions
        ptime = res.parallel_time
        status = "diverged" if res.n_diverged > 0 else "done"
        for r in range(res.R):
            for m in names:
                vals = res.metrics[m][r]
                for j in sel:
                    cols["cell"].append(key)
                    cols["replicate"].append(entry["replicate"])
                    cols["seed"].append(entry["seed"])
                    for a in axis_names:
                        cols[a].append(entry["point"].get(a))
                    cols["status"].append(status)
                    cols["replica"].append(r)
                    cols["diverged_at"].append(int(res.diverged_at[r]))
                    cols["t"].append(int(res.t[j]))
                    cols["interactions"].append(int(inter[j]))
                    cols["parallel_time"].append(float(ptime[j]))
                    cols["metric"].append(m)
                    cols["value"].append(float(vals[j]))
                    cols["wall_time_s"].append(meta.get("wall_time_s"))
                    cols["host"].append(meta.get("host"))
                    cols["version"].append(vers.get("hdo_theory", res.version))
                    cols["numpy_version"].append(vers.get("numpy"))
                    cols["numba_version"].append(vers.get("numba"))
                    cols["python_version"].append(vers.get("python"))
    return cols, n_cells, missing, failed


def _write_csv(path: Path, cols: dict) -> None:
    import csv
    import io

    names = list(cols)
    n = len(cols[names[0]]) if names else 0
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(names)
    for i in range(n):
        w.writerow(["" if cols[k][i] is None else
                    (repr(cols[k][i]) if isinstance(cols[k][i], float) else cols[k][i])
                    for k in names])
    _atomic_write_text(path, buf.getvalue())


def _write_parquet(path: Path, cols: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    for k, v in cols.items():
        kinds = {type(x) for x in v if x is not None}
        if len(kinds) > 1 and not kinds <= {int, float}:
            v = [None if x is None else str(x) for x in v]  # mixed axis values, e.g. nu
        arrays[k] = pa.array(v)
    table = pa.table(arrays)
    with atomic_file(path, "wb") as fh:
        pq.write_table(table, fh)


def collect(out, fmt: str = "auto", final_only: bool = False, table=None) -> CollectReport:
    """Merge the finished cells of the sweep in ``out`` into one long-format table.

    One row per (cell, replica, record, metric) with the cell key, replicate, seed, every axis
    as a column, status, ``diverged_at``, step ``t``, interactions, parallel time, metric, value
    and the metadata (wall time, host, package / NumPy / Numba / Python versions).
    fmt: ``parquet`` (needs pyarrow: ``pip install 'hdo-theory[parquet]'``), ``csv`` (floats
    written by ``repr``, exact), or ``auto`` (Parquet when pyarrow is installed, else CSV).
    final_only: keep only the last record of every trajectory.
    table: output path (default ``out/sweep.parquet`` or ``out/sweep.csv``).
    """
    store = SweepStore(out)
    if not store.root.is_dir():
        raise HDOInputError(f"sweep folder {str(store.root)!r} does not exist")
    doc = store.read_spec()
    if doc is None:
        raise HDOInputError(f"{store.root} holds no sweep (no sweep.json)")
    if fmt not in ("auto", "parquet", "csv"):
        raise HDOInputError(f"format must be one of auto, parquet, csv; got {fmt!r}")
    if fmt == "auto":
        fmt = "parquet" if _have_pyarrow() else "csv"
    elif fmt == "parquet" and not _have_pyarrow():
        raise HDOInputError("format parquet needs pyarrow: pip install 'hdo-theory[parquet]' "
                            "(or use --format csv)")
    path = Path(table) if table else store.root / f"sweep.{fmt}"
    cols, n_cells, missing, failed = _table_columns(store, doc, final_only)
    path.parent.mkdir(parents=True, exist_ok=True)
    (_write_parquet if fmt == "parquet" else _write_csv)(path, cols)
    return CollectReport(path=path, format=fmt, rows=len(cols["cell"]), cells=n_cells,
                         missing=missing, failed=failed)


def read_table(path) -> dict[str, list]:
    """Read a table written by :func:`collect` back into columns (CSV values stay strings,
    except that empty fields become ``None``); for tests and quick looks without pandas."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pydict()
    import csv

    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    names = rows[0]
    return {k: [(r[i] if r[i] != "" else None) for r in rows[1:]] for i, k in enumerate(names)}


def warm_up() -> None:
    """Load the compiled process kernels (Numba cache) once: run in the forkserver so that
    every worker forked from it starts warm. Never raises (it must not kill the server)."""
    try:
        import argparse

        from hdo_theory.commands.run import build, resolve_options
        from hdo_theory.process import simulate

        values = resolve_options(argparse.Namespace(d=2, n=2, T=2, replicas=1))
        obj, cfg = build(values)
        simulate(obj, cfg, replicas=1, seed=0, threads=1)
    except Exception:  # noqa: BLE001 - a cold worker is only slower
        pass
