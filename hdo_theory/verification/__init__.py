"""Verification: the bounds as printed, statistics, the claims, the runner and the report.

The public claim interface (docs/extending.md, "verify your own lemma"), imported lazily so
that ``hdo_theory.verification.bounds`` stays light:

* :class:`Claim`, :class:`Record`, :class:`Planned`, :class:`Context`, :func:`register`,
  :func:`claim` (decorator), :data:`REGISTRY` (from :mod:`.claims.registry`);
* :class:`Estimate` (from :mod:`.stats`), :func:`estimate_from_interval`,
  :func:`estimate_from_stats`;
* :func:`run_verification` (from :mod:`.runner`).
"""

from __future__ import annotations

import importlib

_LAZY = {
    "Claim": "hdo_theory.verification.claims",
    "Record": "hdo_theory.verification.claims",
    "Planned": "hdo_theory.verification.claims",
    "Context": "hdo_theory.verification.claims",
    "REGISTRY": "hdo_theory.verification.claims",
    "register": "hdo_theory.verification.claims",
    "claim": "hdo_theory.verification.claims",
    "estimate_from_interval": "hdo_theory.verification.claims",
    "estimate_from_stats": "hdo_theory.verification.claims",
    "Estimate": "hdo_theory.verification.stats",
    "run_verification": "hdo_theory.verification.runner",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
