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
