"""The output folder of a sweep: per-cell atomic files, status files, the index
(layout in :mod:`hdo_theory.runs.sweep`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from hdo_theory.atomic import write_text_atomic
from hdo_theory.errors import HDOInputError
from hdo_theory.runs.sweep.cells import Cell, CellOutput, versions
from hdo_theory.runs.sweep.spec import SweepSpec

SPEC_FORMAT = "hdo-theory-sweep/1"
STATUS_FORMAT = "hdo-theory-sweep-status/1"
FINAL = ("done", "diverged")  # statuses that a re-run skips



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

