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

Modules: :mod:`.spec` (the TOML file), :mod:`.cells` (identity, seeds, planning, one cell),
:mod:`.executors`, :mod:`.store` (the output folder), :mod:`.driver` (:func:`run_sweep`),
:mod:`.collect`. Every name is importable from this package. The options of ``[base]`` and
``[axes]`` are those of ``hdo-theory run``, defined once in :mod:`hdo_theory.runs.options`.

Identity and seeds (decided):

* ``config_hash`` = :func:`hdo_theory.serialize.content_hash` (SHA-256 of the canonical JSON:
  sorted keys, exact float ``repr``) of *all*
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
  ``pending`` with the attempts so far. A cell whose ``.npz`` exists and can be read is
  finished whatever its status file says (the ``.npz`` is written first); an empty or
  truncated one is run again (and left out by ``collect``, which lists it);
* ``index.json``: a snapshot of every cell's status, rewritten atomically every few seconds and
  at the end; it is derived from the two folders above and rebuilt from them on every start;
* ``sweep.lock``: host, pid and start time of the sweep running in the folder
  (:class:`~.store.SweepLock`); a second sweep is refused while it is held and not stale.

Determinism: a cell is ``simulate(build(options), seed=cell.seed)``, a pure function of its
options and seed, so its trajectories are bit-identical whichever executor, worker, order or
interruption; only the metadata (host, wall time) differs.
"""

from __future__ import annotations

from hdo_theory.runs.sweep.cells import (  # noqa: F401
    _OBJECTIVES,
    _OBJECTIVES_KEEP,
    _OBJECTIVES_LOCK,
    Cell,
    CellOutput,
    CellTask,
    _execute,
    _Outcome,
    _resolve_values,
    _shared_objective,
    cell_key,
    cell_seed,
    config_hash,
    plan,
    run_cell,
    versions,
)
from hdo_theory.runs.sweep.collect import (  # noqa: F401 - the function replaces the module attribute
    CollectReport,
    _have_pyarrow,
    _table_columns,
    _write_csv,
    _write_parquet,
    collect,
    read_table,
)
from hdo_theory.runs.sweep.driver import INDEX_EVERY_S, SweepReport, _Bar, run_sweep  # noqa: F401
from hdo_theory.runs.sweep.executors import (  # noqa: F401
    CellExecutor,
    DaskExecutor,
    InlineExecutor,
    LocalPoolExecutor,
    _mp_context,
    _parent_watchdog,
    _probe_tcp,
    _worker_init,
    default_workers,
    make_executor,
    warm_up,
)
from hdo_theory.runs.sweep.spec import (  # noqa: F401 - private names kept importable
    _ASSIGN_RE,
    _HEADER_RE,
    _KEY_PART,
    _OPTION_TABLES_PLAIN,
    _OPTION_TABLES_PREFIXED,
    _SWEEP_KEYS,
    MAX_CELLS,
    RUN_ONLY,
    SweepSpec,
    _coerce_option,
    _convert_axis,
    _convert_base,
    _flatten_options,
    _Locator,
    _parse_sweep_table,
    _run_options,
    _split_dotted,
    _strict_int,
    _suggest,
    _where,
    load_spec,
    parse_spec,
)
from hdo_theory.runs.sweep.store import (  # noqa: F401
    FINAL,
    SPEC_FORMAT,
    STATUS_FORMAT,
    SweepStore,
    _atomic_write_text,
    _now,
)
from hdo_theory.serialize import canonical_json  # noqa: F401 - one canonical JSON

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
