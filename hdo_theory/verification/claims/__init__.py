"""Claim registry: one entry per claim of the paper (see :mod:`.registry`).

Importing this package registers every claim module; a module whose dependencies are not
installed yet (another part of the toolkit) is skipped and listed in :data:`UNAVAILABLE`.
"""

from __future__ import annotations

import importlib

from hdo_theory.verification.claims.registry import REGISTRY, Claim, Context, Record, register

_MODULES = (
    "estimator_claims",
    "contraction_claims",
    "process_claims",
    "theorem_claims",
    "experiment_claims",
)

UNAVAILABLE: dict[str, str] = {}

for _m in _MODULES:
    try:
        importlib.import_module(f"hdo_theory.verification.claims.{_m}")
    except ModuleNotFoundError as _exc:  # another helper's module has not landed yet
        UNAVAILABLE[_m] = str(_exc)

__all__ = ["REGISTRY", "Claim", "Context", "Record", "register", "UNAVAILABLE"]
