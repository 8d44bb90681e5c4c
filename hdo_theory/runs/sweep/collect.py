"""collect: merge the finished cells of a sweep into one long-format table (Parquet or CSV).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hdo_theory.atomic import atomic_file
from hdo_theory.errors import HDOInputError
from hdo_theory.runs.sweep.store import CELL_ERRORS, SweepStore, _atomic_write_text


@dataclass
class CollectReport:
    path: Path
    format: str
    rows: int
    cells: int  # cells with results
    missing: int  # cells without results (pending or failed)
    failed: list = field(default_factory=list)  # (key, point, error)
    bad: list = field(default_factory=list)  # (key, path, reason): unreadable cell files,
    # left out of the table (counted in ``missing``); re-running the sweep redoes them


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
    failed, bad, n_cells, missing = [], [], 0, 0
    for entry in doc["cells"]:
        key = entry["key"]
        path = store.cell_path(key)
        if not path.exists():
            missing += 1
            st = store.read_status(key)
            if st is not None and st.get("status") == "failed":
                failed.append((key, entry["point"], st.get("error")))
            continue
        try:
            res = Results.load(path)
            meta = res.info.get("sweep_cell", {})
            vers = meta.get("versions", {})
            names = [m for m in (metrics_keep or res.metrics)
                     if m in res.metrics
                     and (metrics_keep or not np.all(np.isnan(res.metrics[m])))]
            sel = np.array([res.t.shape[0] - 1]) if final_only else np.arange(res.t.shape[0])
            inter = res.interactions
            ptime = res.parallel_time
            status = "diverged" if res.n_diverged > 0 else "done"
        except CELL_ERRORS + (AttributeError, IndexError) as exc:
            # an empty or truncated .npz (BadZipFile, EOFError, ...): skip it and say so
            missing += 1
            reason = " ".join(str(exc).split()) or exc.__class__.__name__
            if str(path) not in reason:
                reason = f"{exc.__class__.__name__}: {reason}"
            bad.append((key, path, reason))
            continue
        n_cells += 1
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
    return cols, n_cells, missing, failed, bad


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
    if store.root.exists() and not store.root.is_dir():
        raise HDOInputError(f"sweep folder {str(store.root)!r} is a file, not a folder: give "
                            "the --out folder of the sweep")
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
    cols, n_cells, missing, failed, bad = _table_columns(store, doc, final_only)
    path.parent.mkdir(parents=True, exist_ok=True)
    (_write_parquet if fmt == "parquet" else _write_csv)(path, cols)
    return CollectReport(path=path, format=fmt, rows=len(cols["cell"]), cells=n_cells,
                         missing=missing, failed=failed, bad=bad)


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

