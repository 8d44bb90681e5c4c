"""The subcommands of ``hdo-theory`` (one module each) and what they share.

Every subcommand takes ``--progress/--no-progress`` (:func:`add_progress`): given, it forces
the progress bars on or off; not given, they are shown only when stderr is a terminal
(:func:`progress_wanted`), so a log file or a pipe never fills with bar redraws.
"""

from __future__ import annotations

import argparse
import sys

PROGRESS_HELP = ("progress bars on stderr (default: shown when stderr is a terminal, "
                 "hidden when it is a file or a pipe)")


def add_progress(p, dest: str = "progress") -> None:
    """``--progress/--no-progress`` (``None`` when neither is given)."""
    p.add_argument("--progress", dest=dest, action=argparse.BooleanOptionalAction,
                   default=None, help=PROGRESS_HELP)


def progress_wanted(value: bool | None, stream=None) -> bool:
    """``value`` when given, else whether ``stream`` (default: stderr) is a terminal."""
    if value is not None:
        return bool(value)
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


PLUGIN_HELP = ("a plugin: a *.py file or an importable module whose import registers "
               "estimators, objectives or claims (repeatable; loaded before the options are "
               "read, so their names are valid choices; see docs/extending.md; default: none)")


def add_plugin(p) -> None:
    """``--plugin FILE|MODULE`` (repeatable). The CLI has loaded the values already (a
    pre-parse in :func:`hdo_theory.cli.main`); the option is here for ``--help`` and so that
    a command can record the plugins it ran with (``args.plugin``)."""
    p.add_argument("--plugin", action="append", default=[], metavar="FILE|MODULE",
                   help=PLUGIN_HELP)


def plugin_list(args) -> list[str]:
    """The resolved ``--plugin`` values of ``args`` (absolute file paths or module names)."""
    from hdo_theory.plugins import load_plugins, resolve_spec

    specs = list(getattr(args, "plugin", None) or [])
    load_plugins(specs)  # already loaded by the CLI: harmless; needed when run() is called alone
    return [resolve_spec(s) for s in specs]
