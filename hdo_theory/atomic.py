"""Atomic file writes: nothing a user ran is lost to an interrupted save.

Every file hdo-theory writes (results, sweep cells and tables, reports, figure data) goes
through :func:`atomic_file`: the content is written to a temporary file in the same folder,
optionally fsynced, then renamed over the target with :func:`os.replace`. A reader (or a
resumed sweep) sees the old file or the new one, never a torn one. A temporary file left by a
killed writer is removed by a later write into the same folder once it is 10 minutes old
(:func:`clean_stale_tmp`). The file gets the usual
permissions of a new file (``0o666`` minus the umask), not ``mkstemp``'s private ``0o600``.

:func:`check_writable_folder` lets a command fail *before* a long computation when its output
folder cannot be written.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
import time
from pathlib import Path

from hdo_theory.errors import HDOInputError


def _new_file_mode() -> int:
    """``0o666`` minus the process umask: the mode ``open(path, "w")`` would create."""
    mask = os.umask(0)  # reading the umask needs setting it; restore at once
    os.umask(mask)
    return 0o666 & ~mask


# The temporary files of atomic_file: ".<target name>.<8 characters of mkstemp>.tmp" (mkstemp's
# random names use [a-z0-9_]). A process killed between mkstemp and the rename (SIGKILL, power
# loss) leaves one behind; nothing else would ever remove it.
TMP_PATTERN = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
STALE_TMP_S = 600.0  # a temporary file untouched this long is garbage (see clean_stale_tmp)
CLEAN_EVERY_S = 60.0  # scan a folder at most this often per process
_cleaned: dict[str, float] = {}  # folder -> when this process last scanned it
_cleaned_lock = threading.Lock()


def clean_stale_tmp(folder, max_age_s: float = STALE_TMP_S) -> list[Path]:
    """Remove the temporary files that :func:`atomic_file` left in ``folder`` when its writer
    was killed; return what was removed.

    Only names of our pattern (:data:`TMP_PATTERN`), only regular files, and only those whose
    modification time is older than ``max_age_s`` (default 10 minutes). Age, not the writer's
    pid: the name holds no pid, and the writer may be another host on a shared file system
    (Dask workers writing cell files), where a pid means nothing; a live writer keeps its
    file's mtime fresh with every write, and a save takes far less than 10 minutes. Errors
    (a file removed meanwhile, no permission) are ignored: cleaning is best effort.
    """
    removed: list[Path] = []
    cutoff = time.time() - max_age_s
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        if not TMP_PATTERN.match(e.name):
            continue
        try:
            st = e.stat(follow_symlinks=False)
            if not e.is_file(follow_symlinks=False) or st.st_mtime >= cutoff:
                continue
            os.unlink(e.path)
            removed.append(Path(e.path))
        except OSError:
            continue
    return removed


def _clean_now(folder: Path) -> None:
    """:func:`clean_stale_tmp` on ``folder``, at most once per :data:`CLEAN_EVERY_S` per
    process (a cells folder may hold many files, and every cell write lands there)."""
    key = os.path.abspath(folder)
    now = time.monotonic()
    with _cleaned_lock:
        last = _cleaned.get(key)
        if last is not None and now - last < CLEAN_EVERY_S:
            return
        _cleaned[key] = now
    clean_stale_tmp(folder)


@contextlib.contextmanager
def atomic_file(path, mode: str = "w", *, durable: bool = True):
    """Open a temporary file next to ``path`` for writing; on success rename it over ``path``.

    Missing parent folders of ``path`` are created (as ``mkdir -p`` would).

    ``mode`` is ``"w"`` (text, UTF-8) or ``"wb"``. ``durable`` fsyncs before the rename, so the
    file also survives a power loss, not only a killed process. On any exception the temporary
    file is removed and ``path`` is left as it was.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)  # every writer creates missing folders
    _clean_now(path.parent)  # the leftovers of a writer that was killed here earlier
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as fh:
            os.fchmod(fh.fileno(), _new_file_mode())  # mkstemp makes 0o600; os.replace keeps it
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


def check_writable_folder(folder, *, create: bool = True, what: str = "out") -> Path:
    """Make sure files can be written into ``folder``; raise :class:`HDOInputError` if not.

    With ``create`` the folder (and its parents) is created; without it nothing is created and
    the nearest existing ancestor is probed instead (the folder would be made there later).
    The probe is a tiny temporary file, removed at once. ``what`` names the option in messages.
    """
    folder = Path(folder)
    try:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
            probe_dir = folder
        else:
            probe_dir = folder
            while not probe_dir.exists() and probe_dir != probe_dir.parent:
                probe_dir = probe_dir.parent
            if not probe_dir.is_dir():
                raise NotADirectoryError(f"{str(probe_dir)!r} is not a folder")
        fd, tmp = tempfile.mkstemp(prefix=".hdo-write-probe.", dir=probe_dir)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise HDOInputError(f"{what}: cannot write to folder {str(folder)!r} ({reason})") from None
    return folder
