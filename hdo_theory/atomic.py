"""Atomic file writes: nothing a user ran is lost to an interrupted save.

Every file hdo-theory writes (results, sweep cells and tables, reports, figure data) goes
through :func:`atomic_file`: the content is written to a temporary file in the same folder,
optionally fsynced, then renamed over the target with :func:`os.replace`. A reader (or a
resumed sweep) sees the old file or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_file(path, mode: str = "w", *, durable: bool = True):
    """Open a temporary file next to ``path`` for writing; on success rename it over ``path``.

    ``mode`` is ``"w"`` (text, UTF-8) or ``"wb"``. ``durable`` fsyncs before the rename, so the
    file also survives a power loss, not only a killed process. On any exception the temporary
    file is removed and ``path`` is left as it was.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as fh:
            yield fh
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text_atomic(path, text: str, *, durable: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path, "w", durable=durable) as fh:
        fh.write(text)
    return Path(path)
