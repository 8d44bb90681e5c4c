"""Input validation with one-line messages naming the parameter and its allowed range.

Every public function validates through these helpers, and the CLI turns
:class:`HDOInputError` into a single line on stderr and exit status 2 (no traceback).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


class HDOInputError(ValueError):
    """A parameter outside its allowed range. The message is one line and names it."""


def check_int(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``value`` as int, or raise naming ``name`` and the allowed range ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise HDOInputError(f"{name} must be an integer{range_text(lo, hi)}, got {value!r}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise HDOInputError(f"{name} must be an integer{range_text(lo, hi)}, got {value}")
    return value


def check_bool(name: str, value, *, allow_none: bool = False):
    """Return ``value`` if it is a real bool (``numpy.bool_`` too), else raise naming ``name``.

    Strings (``"no"``), numbers and ``None`` are refused: ``bool("no")`` is ``True``, so a
    silent conversion would turn an option on that the caller meant to turn off. With
    ``allow_none`` the value ``None`` (meaning "the default") passes.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    extra = " (or None)" if allow_none else ""
    raise HDOInputError(f"{name} must be True or False{extra}, got {value!r}")


def check_float(
    name: str,
    value,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Return ``value`` as a finite float in the given range, or raise naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise HDOInputError(f"{name} must be a finite number, got {value!r}") from None
    desc = _frange(lo, hi, lo_open, hi_open)
    if not math.isfinite(v):
        raise HDOInputError(f"{name} must be a finite number{desc}, got {v}")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise HDOInputError(f"{name} must be{desc}, got {v:g}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise HDOInputError(f"{name} must be{desc}, got {v:g}")
    return v


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise listing them."""
    choices = list(choices)
    if value not in choices:
        raise HDOInputError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def check_point(name: str, x, d: int) -> np.ndarray:
    """Return ``x`` as a contiguous float64 vector of length ``d`` with no NaN or inf."""
    try:
        arr = np.ascontiguousarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise HDOInputError(f"{name} must be a vector of {d} finite numbers") from None
    if arr.ndim != 1 or arr.shape[0] != d:
        raise HDOInputError(f"{name} must be a vector of length d={d}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise HDOInputError(f"{name} must be finite (no NaN or inf)")
    return arr


def range_text(lo, hi) -> str:
    """`` in [lo, hi]``, `` >= lo``, `` <= hi`` or ``""``: the range part of a message."""
    if lo is not None and hi is not None:
        return f" in [{lo}, {hi}]"
    if lo is not None:
        return f" >= {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


def _frange(lo, hi, lo_open, hi_open) -> str:
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {hi:g}")
    return (" " + " and ".join(parts)) if parts else ""
