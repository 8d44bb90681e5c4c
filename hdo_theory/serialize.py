"""JSON for every file and report the package writes: one sanitiser, one canonical form, one hash.

* :func:`jsonable` turns a tree of dicts, lists, NumPy scalars and arrays into plain JSON types.
  Its two switches are the only ways the package's outputs differ:

  - ``nonfinite="null"`` (default; strict JSON: reports, ``--json`` output) writes NaN and
    +-inf as ``null``; ``nonfinite="keep"`` keeps them as floats (files read back by this
    package with ``allow_nan=True``, where NaN means "not recorded");
  - ``arrays="list"`` (default) writes arrays as nested lists, ``"tagged"`` as
    ``{"__ndarray__": ..., "dtype": ..., "shape": ...}`` so :func:`from_jsonable` restores
    them exactly (results metadata), ``"drop"`` leaves them out (summaries of objectives whose
    metadata holds data arrays).

  Anything else that is not JSON (a path, an enum) is written as its ``repr``.

  Users: ``report.json`` and ``verify --json``, ``estimator-stats --json``, figure summaries
  (defaults: strict JSON); results metadata (``"keep"``, ``"tagged"``); figure-store tables
  (``"keep"``); ``objective_meta`` of ``estimator_stats`` (``"keep"``, ``"drop"``).
* :func:`canonical_json`: sorted keys, no spaces, floats by ``repr`` (exact), NaN refused;
  the identity of sweep cells and figure runs.
* :func:`content_hash`: hex digest of the canonical JSON.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np

__all__ = ["jsonable", "from_jsonable", "canonical_json", "content_hash"]


def jsonable(obj, *, nonfinite: str = "null", arrays: str = "list"):
    """A copy of ``obj`` made of JSON types only (see the module docstring for the switches)."""
    if nonfinite not in ("null", "keep"):
        raise ValueError(f"nonfinite must be 'null' or 'keep', got {nonfinite!r}")
    if arrays not in ("list", "tagged", "drop"):
        raise ValueError(f"arrays must be 'list', 'tagged' or 'drop', got {arrays!r}")
    return _jsonable(obj, nonfinite == "null", arrays)


def _jsonable(o, null_nonfinite: bool, arrays: str):
    if isinstance(o, dict):
        return {
            str(k): _jsonable(v, null_nonfinite, arrays)
            for k, v in o.items()
            if not (arrays == "drop" and isinstance(v, np.ndarray))
        }
    if isinstance(o, (list, tuple)):
        return [_jsonable(v, null_nonfinite, arrays) for v in o]
    if isinstance(o, np.ndarray):
        if arrays == "tagged":
            return {"__ndarray__": o.tolist(), "dtype": str(o.dtype), "shape": list(o.shape)}
        return _jsonable(o.tolist(), null_nonfinite, arrays)
    if isinstance(o, (bool, np.bool_)):
        return bool(o)
    if isinstance(o, (int, np.integer)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        v = float(o)
        return None if (null_nonfinite and not math.isfinite(v)) else v
    if o is None or isinstance(o, str):
        return o
    return repr(o)


def from_jsonable(obj):
    """Inverse of ``jsonable(..., arrays="tagged")``: tagged arrays become arrays again."""
    if isinstance(obj, dict):
        if "__ndarray__" in obj and "dtype" in obj:
            return np.array(obj["__ndarray__"], dtype=obj["dtype"]).reshape(obj["shape"])
        return {k: from_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_jsonable(v) for v in obj]
    return obj


def canonical_json(obj, default=None) -> str:
    """Sorted keys, no spaces, floats by ``repr`` (exact); NaN/inf are refused (ValueError).

    ``default`` is :func:`json.dumps`'s hook for other objects (None: they raise TypeError).
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False, default=default)


def content_hash(obj, length: int = 64, algorithm: str = "sha256", default=None) -> str:
    """The first ``length`` hex digits of the digest of :func:`canonical_json` of ``obj``.

    ``algorithm="sha1"`` with ``default=repr`` is kept only for the figure store, whose file
    tags predate this module (another digest would orphan every stored figure run).
    """
    digest = hashlib.new(algorithm, canonical_json(obj, default=default).encode())
    return digest.hexdigest()[:length]
