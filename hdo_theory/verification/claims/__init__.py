"""Claim registry: one entry per claim of the paper (see :mod:`.registry`).

Importing this package registers every claim module; a module that fails to import is an
error naming it (never skipped: a verification run silently missing claims would look
complete).
"""

from __future__ import annotations

import importlib

from hdo_theory.verification.claims.registry import (
    REGISTRY,
    Claim,
    Context,
    Planned,
    Record,
    claim,
    estimate_from_interval,
    estimate_from_stats,
    register,
)

_MODULES = (
    "estimator_claims",
    "contraction_claims",
    "process_claims",
    "theorem_claims",
    "experiment_claims",
    "exact_claims",
)


def _import_claim_modules(modules=_MODULES) -> None:
    for m in modules:
        name = f"{__name__}.{m}"
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise ImportError(f"claim module {name} failed to import: "
                              f"{type(exc).__name__}: {exc}", name=name) from exc


_import_claim_modules()

__all__ = ["REGISTRY", "Claim", "Context", "Planned", "Record", "claim",
           "estimate_from_interval", "estimate_from_stats", "register"]
