# PYTHON_ARGCOMPLETE_OK
"""The ``hdo-theory`` command line.

Each subcommand lives in its own module under :mod:`hdo_theory.commands` and exposes
``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``. Bad input raised as
:class:`~hdo_theory.errors.HDOInputError` becomes one line on stderr and exit status 2; the CLI
never prints a traceback for it. So do operating-system errors (:class:`OSError`: a file that
cannot be read or written, a full disk) and :class:`MemoryError` (a request too big for the
machine): they are the environment's fault, not a bug, and a traceback would only hide the cause.

Every ``--help`` shows the defaults (:class:`HelpFormatter`). Shell completion comes from
argcomplete when it is installed (``pip install 'hdo-theory[completion]'``), enabled with
``eval "$(register-python-argcomplete hdo-theory)"`` (bash or zsh); without argcomplete the
command works the same, with no completion.

Plugins (:mod:`hdo_theory.plugins`) are loaded before the parser is built, so that the
choices and ``--help`` of ``--estimator`` / ``--objective`` include their names: first the
installed packages' entry points (unless ``HDO_THEORY_NO_ENTRY_POINTS=1``), then every
``--plugin FILE|MODULE`` of the command line in order (a pre-parse of ``argv``), for the
commands of :data:`PLUGIN_COMMANDS`. A plugin that fails is one line, exit status 2, before
any work.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from hdo_theory import __version__
from hdo_theory.errors import HDOInputError

# Order = order in --help. A module that fails to import is an error naming it.
COMMAND_MODULES = (
    "verify",
    "estimator_stats",
    "run",
    "exact",
    "figures",
    "sweep",
)


#: the commands taking --plugin (and loading the installed packages' entry points)
PLUGIN_COMMANDS = ("verify", "run", "sweep", "estimator-stats")


def plugin_specs(argv: list[str]) -> tuple[str | None, list[str]]:
    """Pre-parse: ``(command, [--plugin values in order])`` of ``argv`` (without the program
    name); options after ``--`` are not looked at."""
    command, specs = None, []
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            break
        if command is None and not tok.startswith("-"):
            command = tok
        elif tok == "--plugin" and i + 1 < len(argv):
            specs.append(argv[i + 1])
            i += 1
        elif tok.startswith("--plugin="):
            specs.append(tok.split("=", 1)[1])
        i += 1
    return command, specs


def load_command_plugins(argv: list[str]) -> list[str]:
    """Load the entry points and the ``--plugin`` values of ``argv`` (see the module docstring);
    returns the ``--plugin`` specs. Raises HDOInputError naming the plugin."""
    from hdo_theory import plugins

    command, specs = plugin_specs(argv)
    if command not in PLUGIN_COMMANDS:
        return []
    if not plugins.entry_points_disabled():
        plugins.load_entry_points()
    plugins.load_plugins(specs)
    return specs


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: X)`` to an option's help unless the help already states its default
    or there is none to state (``None``: the option is resolved later, and its help says how;
    a switch, whose help says what it switches from)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (default is None or default is argparse.SUPPRESS or "default" in text.lower()
                or action.nargs == 0 or not action.option_strings):
            return text
        return text + " (default: %(default)s)"


class _TopHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The top-level help: its epilog's command line is printed as written, never wrapped."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like HDOInputError
        self.exit(2, f"hdo-theory: error: {message}\n")


def _import_command(modname: str):
    name = f"hdo_theory.commands.{modname}"
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise ImportError(f"command module {name} failed to import: "
                          f"{type(exc).__name__}: {exc}", name=name) from exc


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hdo-theory",
        description="Check the theory of hybrid (FO + ZO) decentralized optimization.",
        epilog='shell completion (needs argcomplete: pip install "hdo-theory[completion]"):\n'
               '  eval "$(register-python-argcomplete hdo-theory)"',
        formatter_class=_TopHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hdo-theory {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for modname in COMMAND_MODULES:
        mod = _import_command(modname)
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP,
                           formatter_class=HelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _complete(parser) -> None:
    """Shell completion through argcomplete, when it is installed (it does nothing unless the
    shell asked for completions; see the module docstring)."""
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        load_command_plugins(argv)
    except HDOInputError as exc:
        command = plugin_specs(argv)[0]
        print(f"hdo-theory {command}: error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser()
    _complete(parser)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except HDOInputError as exc:
        print(f"hdo-theory {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f": {exc.filename!s}" if getattr(exc, "filename", None) else ""
        reason = exc.strerror or str(exc) or type(exc).__name__
        print(f"hdo-theory {args.command}: error: {reason}{where}", file=sys.stderr)
        return 2
    except MemoryError as exc:
        detail = f" ({exc})" if str(exc) else ""
        print(f"hdo-theory {args.command}: error: out of memory{detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hdo-theory {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
