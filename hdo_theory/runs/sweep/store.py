"""The output folder of a sweep: per-cell atomic files, status files, the index
(layout in :mod:`hdo_theory.runs.sweep`).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
import zipfile
from pathlib import Path

import numpy as np

from hdo_theory.atomic import write_text_atomic
from hdo_theory.errors import HDOInputError
from hdo_theory.runs.sweep.cells import Cell, CellOutput, versions
from hdo_theory.runs.sweep.spec import SweepSpec

SPEC_FORMAT = "hdo-theory-sweep/1"
LOCK_NAME = "sweep.lock"
_OWN_FILES = (LOCK_NAME,)  # may be in a folder that holds no sweep yet (taken before open)
STATUS_FORMAT = "hdo-theory-sweep-status/1"
FINAL = ("done", "diverged")  # statuses that a re-run skips



def _atomic_write_text(path: Path, text: str, durable: bool = True) -> None:
    """Write to a temporary file in the same folder, then rename over ``path``: a reader (or a
    resumed sweep) sees the old file or the new one, never a torn one. ``durable`` also fsyncs
    before the rename (survives power loss, not only a killed process); status files skip it
    because a lost status file is rebuilt from the cell file, or the cell is simply re-run."""
    write_text_atomic(path, text, durable=durable)


# the keys of sweep.json that the package reads, with their types
_SPEC_KEYS = {"fingerprint": str, "name": str, "spec": dict, "axis_names": list,
              "n_cells": int, "cells": list}
_CELL_KEYS = {"key": str, "replicate": int, "seed": int, "point": dict}
CELL_ERRORS = (HDOInputError, OSError, EOFError, KeyError, ValueError, TypeError,
               zipfile.BadZipFile)  # what reading a corrupt .npz raises (np.load, Results.load)


def _type_name(t) -> str:
    return {str: "a string", dict: "an object", list: "a list", int: "an integer"}[t]


def _spec_problem(doc) -> str | None:
    """What is wrong with a parsed ``sweep.json``, or ``None``."""
    if not isinstance(doc, dict):
        return f"not an hdo-theory sweep (a JSON {type(doc).__name__}, not an object)"
    if doc.get("format") != SPEC_FORMAT:
        return f"not an hdo-theory sweep (format {doc.get('format')!r}, expected {SPEC_FORMAT!r})"
    for k, t in _SPEC_KEYS.items():
        if k not in doc:
            return f"corrupt sweep file: key {k!r} is missing"
        if not isinstance(doc[k], t) or isinstance(doc[k], bool):
            return (f"corrupt sweep file: {k!r} must be {_type_name(t)}, got "
                    f"{type(doc[k]).__name__}")
    metrics = doc["spec"].get("metrics")
    if metrics is not None and not (isinstance(metrics, list)
                                    and all(isinstance(m, str) for m in metrics)):
        return "corrupt sweep file: 'spec.metrics' must be null or a list of names"
    if not all(isinstance(a, str) for a in doc["axis_names"]):
        return "corrupt sweep file: 'axis_names' must be a list of strings"
    for i, c in enumerate(doc["cells"]):
        if not isinstance(c, dict):
            return f"corrupt sweep file: cells[{i}] must be an object, got {type(c).__name__}"
        for k, t in _CELL_KEYS.items():
            if k not in c:
                return f"corrupt sweep file: cells[{i}] has no key {k!r}"
            if not isinstance(c[k], t) or isinstance(c[k], bool):
                return (f"corrupt sweep file: cells[{i}].{k} must be {_type_name(t)}, got "
                        f"{type(c[k]).__name__}")
    return None


def cell_file_diverged(path: Path) -> bool:
    """Whether the cell file at ``path`` holds a diverged replica; raises one of
    :data:`CELL_ERRORS` if it is empty, truncated or not a cell file. Cheap: reads the zip
    directory and the small ``diverged_at`` array (checked against its CRC)."""
    with np.load(path, allow_pickle=False) as z:
        return bool(np.any(np.asarray(z["diverged_at"]) >= 0))


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
        """The folder's ``sweep.json`` (``None`` if there is none), checked: a file that is
        not JSON, has missing keys or values of the wrong type is one ``HDOInputError`` that
        names the file and the key."""
        if not self.spec_path.exists():
            return None
        try:
            doc = json.loads(self.spec_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise HDOInputError(
                f"{self.spec_path}: unreadable sweep file (not JSON: empty or truncated?)"
            ) from None
        bad = _spec_problem(doc)
        if bad is not None:
            raise HDOInputError(f"{self.spec_path}: {bad}")
        return doc

    def open(self, spec: SweepSpec, cells: list[Cell], *, force: bool = False,
             resume: bool = False) -> str:
        """Claim the folder for ``spec``; returns ``"new"``, ``"same"`` or ``"taken over"``.

        Refuses a folder holding a different sweep, or other files, unless ``force``; with
        ``resume`` the folder must already hold this sweep.
        """
        try:
            old = self.read_spec() if self.root.exists() else None
        except HDOInputError as exc:
            if not force or resume:
                raise HDOInputError(
                    f"{exc}; pass --force to take the folder over (cells files whose keys "
                    f"this sweep shares are reused)"
                ) from None
            old = {"name": None, "fingerprint": None, "n_cells": None}  # taken over below
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
        elif self.root.exists() and any(p.name not in _OWN_FILES for p in self.root.iterdir()):
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
            doc = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # cannot happen with atomic writes; treat as unknown
        return doc if isinstance(doc, dict) and isinstance(doc.get("status"), str) else None

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
                path = self.cell_path(c.key)
                try:
                    diverged = cell_file_diverged(path)
                except CELL_ERRORS as exc:
                    # empty or truncated (a copy cut short, a full disk, a file system that
                    # lost it): not a result; the cell runs again and the file is replaced
                    why = f"corrupt cell file {path} ({exc.__class__.__name__}); re-run"
                    out[c.key] = {"status": "pending", "attempts": (st or {}).get("attempts", 0),
                                  "error": why, "corrupt": str(path)}
                    self.write_status(c.key, out[c.key])
                    continue
                if st is None or st.get("status") not in FINAL:
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
# The lock: one sweep at a time per output folder
# ---------------------------------------------------------------------------------------------

LOCK_STALE_S = 600.0  # a lock not refreshed for this long is stale (its holder hung or died)
LOCK_TORN_S = 10.0  # an unreadable lock file older than this is stale (see _create_exclusive)
LOCK_REFRESH_S = 30.0  # the holder touches the lock this often (a thread, so a long cell in
# the driver process does not stop it)


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, dead but not yet reaped, is not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except (OverflowError, ValueError):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: trust kill(0)
    return state not in ("Z", "X")


class SweepLock:
    """``out/sweep.lock``: taken by :func:`run_sweep` before it touches the folder, so a second
    sweep on the same ``--out`` is refused (one line naming the holder's host, pid and start
    time) instead of running every cell again beside the first.

    The file is created complete and atomically (written to a temporary file, then
    ``os.link``-ed to the lock name, which fails if it exists). It is **stale**, and taken
    over, when its holder's pid is dead and the holder ran on this host, or when it has not
    been refreshed for :data:`LOCK_STALE_S` seconds (the holder touches it every
    :data:`LOCK_REFRESH_S` s from a thread; the age covers a holder on another host, whose pid
    means nothing here, and a pid that was reused). An unreadable lock file is stale once it is
    :data:`LOCK_TORN_S` s old (ours are complete when they appear, except on a file system
    without hard links). Released (removed) on return, only if it still holds this holder's
    token. Two sweeps breaking the same stale lock at the same instant: the lock is moved
    aside by ``rename`` (atomic), and a fresh lock moved by mistake is put back.
    """

    def __init__(self, root, stale_s: float = LOCK_STALE_S, refresh_s: float = LOCK_REFRESH_S):
        self.root = Path(root)
        self.path = self.root / LOCK_NAME
        self.stale_s = float(stale_s)
        self.refresh_s = float(refresh_s)
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.broke: dict | None = None  # the stale lock this one replaced, if any

    def _read(self, path: Path | None = None) -> dict | None:
        try:
            doc = json.loads((path or self.path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    def stale_reason(self, info: dict | None, mtime: float) -> str | None:
        """Why a lock with content ``info`` and modification time ``mtime`` is stale, or None."""
        age = time.time() - mtime
        if info is None:
            return f"unreadable lock file, {age:.0f} s old" if age > LOCK_TORN_S else None
        if age > self.stale_s:
            return f"not refreshed for {age:.0f} s (limit {self.stale_s:g} s)"
        pid = info.get("pid")
        if info.get("host") == socket.gethostname() and isinstance(pid, int) \
                and not isinstance(pid, bool) and not _pid_alive(pid):
            return f"its process {pid} on this host is gone"
        return None

    def acquire(self) -> SweepLock:
        doc = {"format": "hdo-theory-sweep-lock/1", "host": socket.gethostname(),
               "pid": os.getpid(), "started_at": _now(), "started_unix": time.time(),
               "token": self.token}
        tmp = self.root / f".{LOCK_NAME}.{self.token[:8]}.tmp"  # atomic.TMP_PATTERN
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            write_text_atomic(tmp, json.dumps(doc), durable=True)
        except OSError as exc:
            raise HDOInputError(
                f"out: cannot write to folder {str(self.root)!r} ({exc.strerror or exc})"
            ) from None
        try:
            for _ in range(10):
                try:
                    os.link(tmp, self.path)
                    break
                except FileExistsError:
                    pass
                except OSError as exc:  # a file system without hard links: exclusive create
                    if not self._create_exclusive(doc, exc):
                        continue
                    break
                try:
                    mtime = self.path.stat().st_mtime
                except FileNotFoundError:
                    continue  # released meanwhile: try again
                info = self._read()
                why = self.stale_reason(info, mtime)
                if why is None and info is None:
                    raise HDOInputError(
                        f"{self.path}: the folder is in use by another sweep (its lock file "
                        f"is being written); try again in a few seconds"
                    )
                if why is None:
                    raise HDOInputError(
                        f"{self.path}: the folder is in use by another sweep (host "
                        f"{info.get('host')}, pid {info.get('pid')}, started "
                        f"{info.get('started_at')}); wait for it to finish, or remove the "
                        f"lock file if that process is gone (it is taken over by itself "
                        f"after {self.stale_s:g} s without a refresh)"
                    )
                self._break(info, why)
            else:
                raise HDOInputError(f"{self.path}: could not take the lock (contended)")
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._thread = threading.Thread(target=self._refresh, daemon=True,
                                        name="hdo-sweep-lock")
        self._thread.start()
        return self

    def _create_exclusive(self, doc: dict, link_error: OSError) -> bool:
        """Fallback for file systems without ``link`` (some FUSE / SMB mounts): ``O_EXCL``
        create, then write: a reader may see it empty for a moment, which is why an unreadable
        lock is stale only once it is :data:`LOCK_TORN_S` seconds old)."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        except OSError:
            raise HDOInputError(
                f"out: cannot create the lock file {self.path} ({link_error.strerror})"
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(doc))
        return True

    def _break(self, info: dict | None, why: str) -> None:
        """Move the stale lock aside; if what was moved is not the lock judged stale (another
        sweep broke it and took a fresh one in between), put that one back."""
        aside = self.root / f".{LOCK_NAME}.stale.{self.token[:8]}.tmp"  # atomic.TMP_PATTERN
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        moved = self._read(aside)
        if info is not None and (moved or {}).get("token") != info.get("token"):
            with contextlib.suppress(OSError):
                os.link(aside, self.path)  # a fresh lock: give it back
        else:
            self.broke = {**(info or {}), "why": why}
        with contextlib.suppress(OSError):
            aside.unlink()

    def _refresh(self) -> None:
        while not self._stop.wait(self.refresh_s):
            with contextlib.suppress(OSError):
                if (self._read() or {}).get("token") == self.token:
                    os.utime(self.path)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if (self._read() or {}).get("token") == self.token:
            with contextlib.suppress(OSError):
                self.path.unlink()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
