"""Import paths of version 0.1, kept working as deprecated aliases of the stage folders.

Version 0.1 had one flat module per concern (``hdo_theory.results``, ``hdo_theory.bounds``,
...). They now live in stage folders (see ``docs/architecture.md``). Importing an old path still
works and returns *the same module object* as the new path (so ``isinstance`` checks, registries
and monkeypatching behave identically), with a :class:`DeprecationWarning` naming the new path.
Submodules of an old package path (``hdo_theory.claims.registry``) are aliased too.

Old paths that are also new paths (``hdo_theory.process``, ``hdo_theory.objectives``,
``hdo_theory.estimators``, ``hdo_theory.figures``) need no alias: the stage package exports the
same names.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings

#: old import path -> new import path (a prefix: submodules follow)
MOVED: dict[str, str] = {
    "hdo_theory.random_kernels": "hdo_theory.rng",
    "hdo_theory.objective_kernels": "hdo_theory.objectives.kernels",
    "hdo_theory.constants": "hdo_theory.objectives.constants",
    "hdo_theory.closed_forms": "hdo_theory.estimators.closed_forms",
    "hdo_theory.estimator_stats": "hdo_theory.estimators.monte_carlo",
    "hdo_theory.process_kernels": "hdo_theory.process.kernels",
    "hdo_theory.topology": "hdo_theory.process.topology",
    "hdo_theory.schedules": "hdo_theory.process.schedules",
    "hdo_theory.results": "hdo_theory.process.results",
    "hdo_theory.bounds": "hdo_theory.verification.bounds",
    "hdo_theory.stats": "hdo_theory.verification.stats",
    "hdo_theory.claims": "hdo_theory.verification.claims",
    "hdo_theory.verify": "hdo_theory.verification.runner",
    "hdo_theory.report": "hdo_theory.verification.report",
    "hdo_theory.sweep": "hdo_theory.runs.sweep",
}


def new_name(old: str) -> str | None:
    """The new import path of ``old`` (or of a submodule of an old package), else None."""
    for prefix, target in MOVED.items():
        if old == prefix or old.startswith(prefix + "."):
            return target + old[len(prefix):]
    return None


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return None  # a throwaway module; exec_module swaps in the real one

    def exec_module(self, module):
        name = module.__name__
        warnings.warn(
            f"{name} moved to {self.target} (stage-folder layout); import the new path",
            DeprecationWarning,
            stacklevel=2,
        )
        # the import system re-reads sys.modules after exec_module: the import returns the
        # real module, never a copy (one registry, one class identity)
        sys.modules[name] = importlib.import_module(self.target)


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        new = new_name(fullname)
        if new is None or importlib.util.find_spec(new) is None:
            return None  # not an old path, or no such module: the usual ModuleNotFoundError
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new))


def install() -> None:
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
