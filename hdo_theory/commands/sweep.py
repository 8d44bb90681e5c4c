"""``hdo-theory sweep``: run a grid of configurations times seeds, resumably; collect the cells.

Two forms share one parser (the first positional is either ``collect`` or a TOML file)::

    hdo-theory sweep CONFIG.toml [--out DIR] [--workers N] [--scheduler ADDRESS] [--resume]
                                 [--force] [--retries K] [--[no-]progress]
    hdo-theory sweep collect DIR [--format auto|parquet|csv] [--final] [--table FILE]

Exit status: 0 when every cell finished (done or diverged), 1 when some cell failed after its
retries (the sweep still ran every other cell; re-run to retry them), 2 for bad input
(:class:`~hdo_theory.errors.HDOInputError`), 130 when interrupted (re-run to resume).
The file format, folder layout and guarantees are in ``docs/sweeps.md`` and
:mod:`hdo_theory.runs.sweep`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hdo_theory.commands import add_plugin, add_progress, plugin_list, progress_wanted
from hdo_theory.errors import HDOInputError, check_float, check_int

NAME = "sweep"
HELP = "run a grid of configurations x seeds on a local pool or a Dask cluster; collect results"

USAGE = (
    "hdo-theory sweep CONFIG.toml [--out DIR] [--workers N] [--scheduler ADDRESS] [--resume] "
    "[--force] [--retries K] [--[no-]progress]\n"
    "       hdo-theory sweep collect DIR [--format {auto,parquet,csv}] [--final] "
    "[--table FILE]"
)

_RUN_ONLY_FLAGS = ("out", "workers", "scheduler", "shared_fs", "resume", "force", "retries",
                   "progress")
_COLLECT_ONLY_FLAGS = ("format", "final", "table")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.usage = USAGE
    p.add_argument("target", metavar="CONFIG.toml|collect",
                   help="a sweep file to run, or the word 'collect'")
    p.add_argument("dir", nargs="?", metavar="DIR", help="with collect: the sweep folder")
    g = p.add_argument_group("running a sweep")
    g.add_argument("--out", metavar="DIR", default=None,
                   help="output folder (default: [sweep] out, else CONFIG-sweep next to the file)")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local worker processes (default: the CPUs available; 0 = run in this "
                        "process)")
    g.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run on a Dask cluster, e.g. tcp://host:8786 (needs hdo-theory[dask]; "
                        "default: none, the local pool)")
    g.add_argument("--scheduler-timeout", type=float, default=10.0, metavar="S",
                   help="seconds to wait for the scheduler (default 10)")
    g.add_argument("--shared-fs", action="store_const", const=True, default=None,
                   help="with --scheduler: the Dask workers see DIR at the same path, so they "
                        "write the cell files themselves (default: results travel to this "
                        "process, which writes them)")
    g.add_argument("--resume", action="store_const", const=True, default=None,
                   help="DIR must already hold this sweep; finish its pending and failed cells")
    g.add_argument("--force", action="store_const", const=True, default=None,
                   help="take over an output folder that holds a different sweep or other "
                        "files (cells shared with this sweep are reused)")
    g.add_argument("--retries", type=int, default=None, metavar="K",
                   help="extra attempts per failing cell (default: [sweep] retries, else 2)")
    add_plugin(g)
    add_progress(g)
    c = p.add_argument_group("collect")
    c.add_argument("--format", choices=("auto", "parquet", "csv"), default=None,
                   help="table format (default auto: Parquet when pyarrow is installed, else CSV)")
    c.add_argument("--final", action="store_const", const=True, default=None,
                   help="keep only the last record of every trajectory")
    c.add_argument("--table", metavar="FILE", default=None,
                   help="output file (default DIR/sweep.parquet or DIR/sweep.csv)")


def _reject(args, names, mode: str) -> None:
    for n in names:
        if getattr(args, n, None) is not None:
            flag = "--" + n.replace("_", "-")
            raise HDOInputError(f"{flag} does not apply to {mode}")


def _run_collect(args) -> int:
    from hdo_theory.runs.sweep import collect

    _reject(args, _RUN_ONLY_FLAGS, "'sweep collect'")
    if not args.dir:
        raise HDOInputError("sweep collect needs the sweep folder: hdo-theory sweep collect DIR")
    rep = collect(args.dir, fmt=args.format or "auto", final_only=bool(args.final),
                  table=args.table)
    print(f"collected {rep.cells} cells, {rep.rows} rows -> {rep.path} ({rep.format})")
    if rep.format == "csv" and args.format is None:
        print("(CSV because pyarrow is not installed; pip install 'hdo-theory[parquet]' for "
              "Parquet)")
    if rep.bad:
        print(f"{len(rep.bad)} cell files are unreadable (empty or truncated) and were left "
              f"out; re-running the sweep redoes them:")
        for key, path, why in rep.bad[:10]:
            print(f"  bad {key}: {why if str(path) in why else f'{path}: {why}'}")
        if len(rep.bad) > 10:
            print(f"  ... and {len(rep.bad) - 10} more")
    if rep.missing:
        print(f"{rep.missing} cells have no results yet ({len(rep.failed)} failed, "
              f"{len(rep.bad)} unreadable); re-run the sweep to finish them")
        for key, point, err in rep.failed[:10]:
            pts = ", ".join(f"{k}={v}" for k, v in point.items())
            print(f"  failed {key} [{pts}]: {err}")
    return 0


def _run_sweep(args) -> int:
    from hdo_theory.atomic import check_writable_folder
    from hdo_theory.runs.sweep import load_spec, make_executor, plan, run_sweep

    _reject(args, _COLLECT_ONLY_FLAGS, "running a sweep")
    if args.dir is not None:
        raise HDOInputError(f"unexpected argument {args.dir!r} (only 'collect' takes DIR)")
    if args.scheduler and args.workers is not None:
        raise HDOInputError("give either --workers (local pool) or --scheduler (Dask), not both")
    if args.shared_fs and not args.scheduler:
        raise HDOInputError("--shared-fs applies to --scheduler (local workers always write)")
    if args.workers is not None:
        check_int("workers", args.workers, 0, 4096)
    if args.retries is not None:
        check_int("retries", args.retries, 0, 100)
    check_float("scheduler-timeout", args.scheduler_timeout, 0.0, lo_open=True)
    cfg = Path(args.target)
    cli_plugins = plugin_list(args)
    _load_stored_plugins(Path(args.out) if args.out else cfg.parent / f"{cfg.stem}-sweep")
    spec = load_spec(cfg)
    extra = tuple(p for p in cli_plugins if p not in spec.plugins)
    if extra:  # the workers load the command line's plugins too (and sweep.json lists them)
        from dataclasses import replace

        spec = replace(spec, plugins=spec.plugins + extra)
    if args.out:
        out = Path(args.out)
    elif spec.out:
        out = cfg.parent / spec.out
    else:
        out = cfg.parent / f"{cfg.stem}-sweep"
    _load_stored_plugins(out)
    # fail before any work if the folder cannot be written (nothing is created here)
    check_writable_folder(out, create=False, what="out")
    cells = plan(spec)  # every configuration is built here: config errors stop us now
    executor = make_executor(args.workers, args.scheduler, args.scheduler_timeout,
                             shared_fs=bool(args.shared_fs))
    with executor:
        rep = run_sweep(
            spec, out, executor, cells=cells, force=bool(args.force), resume=bool(args.resume),
            progress=progress_wanted(args.progress), retries=args.retries, log=print,
        )
    print(f"{rep.total} cells: {rep.done} done, {rep.diverged} diverged, {rep.failed} failed, "
          f"{rep.pending} pending ({rep.total - rep.already} run now in "
          f"{rep.wall_time_s:.1f} s on {rep.executor})")
    for cell, err in rep.failures[:10]:
        print(f"  failed {cell.key} [{cell.describe()}]: {err}")
    if len(rep.failures) > 10:
        print(f"  ... and {len(rep.failures) - 10} more (see {out}/index.json)")
    print(f"results in {out}; table: hdo-theory sweep collect {out}")
    return 0 if rep.ok else 1


def _load_stored_plugins(out: Path) -> None:
    """A sweep folder's ``sweep.json`` lists the plugins it ran with: load them too, so a
    resume (or a re-run) sees the same estimators, objectives and claims."""
    import json

    from hdo_theory.plugins import load_plugins

    try:
        stored = json.loads((out / "sweep.json").read_text())["spec"].get("plugins") or []
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return
    load_plugins([p for p in stored if isinstance(p, str)])


def run(args) -> int:
    if args.target == "collect":
        return _run_collect(args)
    return _run_sweep(args)
