"""Plugins: the user's own estimators, objectives and claims, loaded from a file or a module.

A plugin is a Python file (``my_claims.py``) or an importable module (``my_pkg.claims``) whose
import registers things in the package's tables: :func:`hdo_theory.verification.register`
(claims), :func:`hdo_theory.estimators.register_estimator`,
:func:`hdo_theory.objectives.register_objective`. :func:`load_plugin` imports it once
(loading the same file or module again returns the module already loaded: harmless), and
turns every failure into one :class:`~hdo_theory.errors.HDOInputError` line naming the plugin:
a file that does not exist, an exception while importing (its one-line summary and the line
of the plugin file where it was raised), a name that clashes with a built-in or with another
plugin. A plugin that fails leaves no half of its registrations behind.

Installed packages declare plugins as entry points in the groups :data:`ENTRY_POINT_GROUPS`
(``hdo_theory.estimators``, ``hdo_theory.objectives``, ``hdo_theory.claims``); each entry
point names a module (or an object in it) whose import registers. :func:`load_entry_points`
loads them. Loading order in the ``hdo-theory`` command (before its parser is built, so
``--estimator`` / ``--objective`` choices and ``--help`` include plugin names):

1. the entry points, group by group in the order of :data:`ENTRY_POINT_GROUPS`, entry points
   sorted by name within a group; skipped when the environment variable
   ``HDO_THEORY_NO_ENTRY_POINTS`` is set to anything but ``""`` or ``"0"``;
2. every ``--plugin FILE|MODULE`` in command-line order;
3. ``hdo-theory sweep``: the ``plugins = [...]`` of the sweep file (paths relative to the
   file), then again in every sweep worker before it runs a cell.

The library itself (``import hdo_theory``) loads nothing: a script calls :func:`load_plugin`.

Claims registered while a plugin loads belong to the plugin's *family* (its name:
:func:`plugin_name`), and the verification runner applies its multiple-testing correction per
family; built-in claims are the family ``"builtin"``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType

from hdo_theory.errors import HDOInputError

__all__ = [
    "ENTRY_POINT_GROUPS",
    "NO_ENTRY_POINTS_ENV",
    "current_plugin",
    "load_entry_points",
    "load_plugin",
    "load_plugins",
    "loaded_plugins",
    "plugin_name",
]

#: entry-point groups, in loading order (estimators and objectives before the claims using them)
ENTRY_POINT_GROUPS = ("hdo_theory.estimators", "hdo_theory.objectives", "hdo_theory.claims")
#: set (to anything but "" or "0") to skip the installed packages' entry points in the CLI
NO_ENTRY_POINTS_ENV = "HDO_THEORY_NO_ENTRY_POINTS"

#: resolved spec (absolute file path or module name) -> loaded module
_LOADED: dict[str, ModuleType] = {}
#: the plugin being imported (its name), or None: claims registered meanwhile get its family
_CURRENT: list[str] = []


def current_plugin() -> str | None:
    """The name of the plugin being loaded right now, or None."""
    return _CURRENT[-1] if _CURRENT else None


def loaded_plugins() -> list[str]:
    """Every plugin loaded in this process (resolved specs), in loading order."""
    return list(_LOADED)


def _is_file_spec(spec: str) -> bool:
    return spec.endswith(".py") or os.sep in spec or "/" in spec


def resolve_spec(spec, base: str | os.PathLike | None = None) -> str:
    """The canonical form of ``spec``: an absolute path for a file (relative to ``base``, by
    default the working folder), the module name otherwise."""
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise HDOInputError(f"plugin must be a file path (*.py) or a module name, got {spec!r}")
    spec = spec.strip()
    if _is_file_spec(spec):
        p = Path(spec).expanduser()
        if not p.is_absolute() and base is not None:
            p = Path(base) / p
        return str(p.resolve())
    return spec


def plugin_name(spec: str) -> str:
    """A plugin's short name (its family): the file's stem or the module name."""
    return Path(spec).stem if _is_file_spec(spec) else spec


_TABLES = (("hdo_theory.estimators", "ESTIMATORS"), ("hdo_theory.objectives", "OBJECTIVES"),
           ("hdo_theory.verification.claims", "REGISTRY"))


def _snapshot() -> dict:
    """The names in every table a plugin can add to (to undo a half-finished plugin); a table
    whose module is not imported yet is not imported here (the claims cost seconds), and is
    recorded as absent."""
    out = {}
    for mod, attr in _TABLES:
        m = sys.modules.get(mod)
        table = getattr(m, attr, None) if m is not None else None
        out[(mod, attr)] = None if table is None else set(table)
    return out


def _undo(snap: dict) -> None:
    for (mod, attr), before in snap.items():
        m = sys.modules.get(mod)
        table = getattr(m, attr, None) if m is not None else None
        if table is None:
            continue
        if before is None:  # the plugin imported the table's module: only built-ins were there
            builtin = getattr(m, "_BUILTIN", None)
            added = [k for k, row in table.items()
                     if (k not in builtin if builtin is not None
                         else getattr(row, "family", "builtin") != "builtin")]
        else:
            added = [k for k in table if k not in before]
        for k in added:
            del table[k]


def _where(exc: BaseException, path: str | None) -> str:
    """``" (line N)"``: the deepest line of the plugin file in the exception's traceback (a
    module plugin: the deepest line outside the import machinery)."""
    if isinstance(exc, SyntaxError) and exc.lineno and (path is None or exc.filename == path):
        return f" (line {exc.lineno})"
    line = None
    for fs in traceback.extract_tb(exc.__traceback__):
        if path is not None:
            if os.path.abspath(fs.filename) == path:
                line = fs.lineno
        elif not fs.filename.startswith("<frozen") and "hdo_theory" not in fs.filename:
            line = f"{fs.lineno} of {fs.filename}"
    return f" (line {line})" if line else ""


def _summary(exc: BaseException) -> str:
    msg = str(exc.msg if isinstance(exc, SyntaxError) and exc.msg else exc).strip()
    msg = msg.splitlines()[0] if msg else ""
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def load_plugin(spec, base=None) -> ModuleType:
    """Import plugin ``spec`` (a ``*.py`` file, relative to ``base`` or the working folder, or
    an importable module name) so that its registrations run; returns its module.

    Idempotent: a spec already loaded returns the same module without importing again. Any
    failure is one :class:`HDOInputError` line naming the plugin, and the tables are left as
    they were before the plugin started loading.
    """
    key = resolve_spec(spec, base)
    if key in _LOADED:
        return _LOADED[key]
    name = plugin_name(key)
    is_file = _is_file_spec(key)
    label = f"plugin {spec!s}" if str(spec) == key or not is_file else f"plugin {spec!s} ({key})"
    if is_file and not Path(key).is_file():
        raise HDOInputError(f"{label}: file does not exist (give a *.py file or a module name)")
    snap = _snapshot()
    _CURRENT.append(name)
    try:
        if is_file:
            # a stable module name per file: the same file is one module, two files never clash
            modname = f"hdo_theory_plugin_{name}_{hashlib.sha1(key.encode()).hexdigest()[:8]}"
            module_spec = importlib.util.spec_from_file_location(modname, key)
            if module_spec is None or module_spec.loader is None:
                raise HDOInputError(f"{label}: not an importable Python file")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[modname] = module  # dataclasses, pickling and Numba caching need it
            try:
                module_spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(modname, None)
                raise
        else:
            try:
                module = importlib.import_module(key)
            except ModuleNotFoundError as exc:
                if exc.name and key.startswith(exc.name):
                    raise HDOInputError(f"{label}: no module named {exc.name!r} (give a *.py "
                                        "file or an importable module name)") from None
                raise
    except HDOInputError as exc:
        _undo(snap)
        msg = str(exc)
        raise HDOInputError(msg if msg.startswith(label) else
                            f"{label}: {msg}{_where(exc, key if is_file else None)}") from None
    except (KeyboardInterrupt, SystemExit):
        _undo(snap)
        raise
    except BaseException as exc:
        _undo(snap)
        raise HDOInputError(f"{label} does not import: {_summary(exc)}"
                            f"{_where(exc, key if is_file else None)}") from None
    finally:
        _CURRENT.pop()
    _LOADED[key] = module
    return module


def load_plugins(specs, base=None) -> list[ModuleType]:
    """:func:`load_plugin` for every spec, in order."""
    return [load_plugin(s, base) for s in (specs or ())]


def _entry_points(group: str):
    from importlib.metadata import entry_points

    return sorted(entry_points(group=group), key=lambda ep: ep.name)


def entry_points_disabled() -> bool:
    return os.environ.get(NO_ENTRY_POINTS_ENV, "") not in ("", "0")


def load_entry_points(groups=ENTRY_POINT_GROUPS) -> list[str]:
    """Load the installed packages' plugins (entry points of ``groups``, in that order; by name
    within a group); returns the entry points loaded (``group:name``). Each failure is one
    HDOInputError line naming the entry point and the object it names."""
    done = []
    for group in groups:
        for ep in _entry_points(group):
            key = f"entry-point {group}:{ep.name}"
            if key in _LOADED:
                continue
            snap = _snapshot()
            _CURRENT.append(ep.name)
            try:
                obj = ep.load()
                if callable(obj) and not isinstance(obj, (type, ModuleType)):
                    obj()  # an entry point may name a function that registers
            except HDOInputError as exc:
                _undo(snap)
                raise HDOInputError(f"plugin {key} ({ep.value}): {exc}") from None
            except Exception as exc:
                _undo(snap)
                raise HDOInputError(f"plugin {key} ({ep.value}) does not load: {_summary(exc)}; "
                                    f"set {NO_ENTRY_POINTS_ENV}=1 to skip installed plugins"
                                    ) from None
            finally:
                _CURRENT.pop()
            _LOADED[key] = sys.modules.get(ep.module, None) or ModuleType(ep.module)
            done.append(f"{group}:{ep.name}")
    return done
