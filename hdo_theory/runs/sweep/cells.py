"""Cells: identity (:func:`config_hash`, :func:`cell_seed`, :func:`cell_key`), planning
(:func:`plan`) and running one cell in a worker (:func:`run_cell`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import platform
import socket
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hdo_theory import __version__
from hdo_theory.errors import HDOInputError, check_int
from hdo_theory.runs.options import build, resolve, simulate_kwargs
from hdo_theory.runs.sweep.spec import RUN_ONLY, SweepSpec, _check_finite
from hdo_theory.serialize import content_hash

_DATA_OPTIONS = ("data", "data_kind", "data_features", "data_targets")


#: Options added after the hashes were pinned, with their defaults (record_sample: issue 14).
_LATER_DEFAULTS = {"record_sample": "auto"}


def config_hash(values: dict) -> str:
    """SHA-256 (hex) of the canonical JSON of a cell's resolved run options (run-only removed).

    Without ``data`` the data options (which then do nothing) are left out, and so is an option
    of :data:`_LATER_DEFAULTS` at its default, so the hashes of every sweep made before they
    existed are unchanged; with ``data`` the file's SHA-256 is
    hashed too (a changed file is another configuration)."""
    clean = {k: v for k, v in values.items() if k not in RUN_ONLY}
    # options added later are hashed only when set away from their default, so the hashes
    # (cell seeds, keys) of every sweep made before they existed stay the same
    for k, default in _LATER_DEFAULTS.items():
        if clean.get(k, default) == default:
            clean.pop(k, None)
    if clean.get("data") is None:
        for k in _DATA_OPTIONS:
            clean.pop(k, None)
    else:
        try:
            clean["data_file_sha256"] = hashlib.sha256(Path(clean["data"]).read_bytes()).hexdigest()
        except OSError as exc:
            raise HDOInputError(f"data file {clean['data']!r} cannot be read: "
                                f"{exc.strerror or exc}") from None
    for k, v in clean.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise HDOInputError(f"{k} must be a finite number, got {v}")
    return content_hash(clean)


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
    given = {"replicas": 1}  # a sweep cell is one seed; replicas within it only if asked
    given.update(spec.base)
    given.update(point)
    values = resolve(given)
    return {k: v for k, v in values.items() if k not in RUN_ONLY}


def plan(spec: SweepSpec, validate: bool = True) -> list[Cell]:
    """Expand the grid into cells (axes in file order, then replicates).

    validate: build every configuration's objective and ``ProcessConfig`` now, so that a bad
    value stops the sweep before any cell runs (the message names the configuration).
    """
    _check_finite(spec.base, spec.axes, spec.source)
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
    plugins: tuple = ()  # plugins the worker loads before running (hdo_theory.plugins)


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
    from hdo_theory.process import simulate

    t0 = time.perf_counter()
    if task.plugins:  # a fresh worker (local pool or Dask) has not imported them yet
        from hdo_theory.plugins import load_plugins

        load_plugins(task.plugins)
    obj, cfg = build(task.values)
    obj = _shared_objective(obj)
    res = simulate(obj, cfg, **simulate_kwargs(task.values, seed=task.seed,
                                                threads=task.threads, progress=False))
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

