"""Executors: one concurrent.futures-style interface for the loop in
:func:`~hdo_theory.runs.sweep.run_sweep` (in this process, a local pool, a Dask cluster).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import signal
import socket
import struct
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from urllib.parse import urlparse

from hdo_theory.errors import HDOInputError, check_int


class CellExecutor:
    """What :func:`run_sweep` needs from an executor.

    ``submit(fn, *args)`` returns a :class:`concurrent.futures.Future`; ``capacity`` is how many
    cells to keep in flight; ``death_errors`` are the exceptions a future raises when its worker
    died; ``deaths_attributed`` says whether such an error names the culprit (Dask: yes, it
    already retried the task on other workers; a local pool: no, a dead worker breaks every
    future in the pool, so ``run_sweep`` re-runs the suspects one at a time);
    ``shared_filesystem`` says whether workers see the output folder (then they write the cell
    files themselves, in parallel; otherwise results travel back and the driver writes them);
    ``reset()`` replaces a broken pool; ``close()`` releases everything.
    """

    name = "executor"
    capacity = 1
    workers = 1
    shared_filesystem = False  # True: workers write the cell files themselves
    death_errors: tuple[type[BaseException], ...] = ()
    deaths_attributed = True

    def submit(self, fn, *args) -> cf.Future:  # pragma: no cover - interface
        raise NotImplementedError

    def reset(self) -> None:
        pass

    def close(self, cancel: bool = False) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close(cancel=exc[0] is not None)


class InlineExecutor(CellExecutor):
    """Runs each cell in the calling process at submission (``--workers 0``; debugging, tests)."""

    name = "inline"
    shared_filesystem = True

    def submit(self, fn, *args) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            fut.set_exception(exc)
        return fut


def _parent_watchdog(driver_pid: int, parent_pid: int) -> None:
    """Exit this worker when the driver dies (a SIGKILLed driver cannot stop its pool)."""
    while True:
        time.sleep(1.0)
        gone = os.getppid() != parent_pid
        if not gone:
            try:
                os.kill(driver_pid, 0)
            except ProcessLookupError:
                gone = True
            except PermissionError:
                pass
        if gone:
            os._exit(3)


_IN_CELL = threading.Event()  # set in a pool worker while it runs a cell


def _worker_sigint(signum, frame) -> None:
    """SIGINT in a pool worker: stop the running cell (its simulate returns within a step and
    its atomic writes remove their temporary files); an idle worker ignores it, the pool's
    shutdown ends it (a KeyboardInterrupt in the pool's own loop would only print a
    traceback)."""
    if _IN_CELL.is_set():
        _IN_CELL.clear()  # once: a second SIGINT must not land in the cell's clean-up
        raise KeyboardInterrupt


def _worker_init(driver_pid: int) -> None:
    threading.Thread(
        target=_parent_watchdog, args=(driver_pid, os.getppid()), daemon=True,
        name="hdo-sweep-watchdog",
    ).start()
    signal.signal(signal.SIGINT, _worker_sigint)


def _in_cell(fn, *args):
    """Run ``fn(*args)`` in a pool worker with Ctrl-C armed (see :func:`_worker_sigint`)."""
    _IN_CELL.set()
    try:
        return fn(*args)
    finally:
        _IN_CELL.clear()


def _mp_context():
    """forkserver (workers fork from a clean server that has imported this module; no Numba
    state or threads of the driver leak into them), or spawn where forkserver is missing."""
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["hdo_theory.runs.sweep", "hdo_theory.runs.sweep._warmup"])
        return ctx
    return multiprocessing.get_context("spawn")


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class LocalPoolExecutor(CellExecutor):
    """A :class:`concurrent.futures.ProcessPoolExecutor` of ``workers`` processes."""

    name = "local pool"
    shared_filesystem = True
    death_errors = (BrokenProcessPool,)
    deaths_attributed = False

    def __init__(self, workers: int | None = None):
        self.workers = check_int("workers", default_workers() if workers is None else workers,
                                 1, 4096)
        self.capacity = 2 * self.workers
        self._pool = self._new()

    def _new(self):
        return cf.ProcessPoolExecutor(
            max_workers=self.workers, mp_context=_mp_context(), initializer=_worker_init,
            initargs=(os.getpid(),),
        )

    def submit(self, fn, *args) -> cf.Future:
        return self._pool.submit(_in_cell, fn, *args)

    def reset(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = self._new()

    def close(self, cancel: bool = False) -> None:
        if cancel:  # interrupted: stop the running cells now instead of waiting for them
            # (Ctrl-C at a terminal reaches the workers too; a SIGINT sent to the driver alone
            # does not, so pass it on; a worker that is idle ignores it)
            for pid in list(getattr(self._pool, "_processes", None) or ()):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGINT)
        self._pool.shutdown(wait=True, cancel_futures=cancel)

    @property
    def name_full(self) -> str:
        return f"local pool of {self.workers} worker{'s' if self.workers != 1 else ''}"


HANDSHAKE_MAX_BYTES = 1 << 20  # a Dask handshake is ~100 bytes; more is not a scheduler


def _recv_exactly(sock: socket.socket, n: int, deadline: float) -> bytes | None:
    """``n`` bytes from ``sock`` before ``deadline`` (monotonic), or ``None`` if it closed or
    the time ran out."""
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            chunk = sock.recv(min(n - len(buf), 65536))
        except TimeoutError:
            return None
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _probe_tcp(address: str, timeout: float) -> None:
    """Fail with one clear line, within ``timeout`` seconds, unless a Dask scheduler answers at
    a tcp:// address.

    Nothing listening: fails at once. Something listening: a Dask server writes its handshake
    as soon as it accepts a connection (``distributed.comm.core.Comm.on_connection``: write,
    then read), framed by an 8-byte native ``Q`` length (``distributed.comm.tcp``). A listener
    that says nothing within the timeout, closes, or sends a frame that cannot be a handshake
    (HTTP, random bytes: a length over 1 MiB) is refused here, before ``distributed.Client``,
    which would wait forever on a silent listener and try to allocate whatever length the
    garbage claims.
    """
    url = urlparse(address if "://" in address else f"tcp://{address}")
    if url.scheme != "tcp":
        return
    try:
        port = url.port
    except ValueError:
        port = None
    if not url.hostname or port is None:
        raise HDOInputError(
            f"scheduler must look like tcp://HOST:PORT, got {address!r}"
        )
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((url.hostname, port), timeout=min(timeout, 5.0))
    except OSError as exc:
        raise HDOInputError(
            f"cannot reach the Dask scheduler at {address}: {exc.strerror or exc} "
            f"(is `dask scheduler` running there and the port open?)"
        ) from None
    not_dask = (f"scheduler: {address} is not a Dask scheduler: something listens there but "
                f"{{}} (check the address and port; --scheduler-timeout {timeout:g} s)")
    try:
        head = _recv_exactly(sock, 8, deadline)
        if head is None:
            raise HDOInputError(not_dask.format(
                f"it sent no Dask handshake within {timeout:g} s"))
        (length,) = struct.unpack("Q", head)
        if not 8 <= length <= HANDSHAKE_MAX_BYTES:
            raise HDOInputError(not_dask.format(
                f"its first bytes are not a Dask handshake ({head!r})"))
        if _recv_exactly(sock, length, deadline) is None:
            raise HDOInputError(not_dask.format(
                f"its handshake did not arrive in full within {timeout:g} s"))
    except OSError as exc:
        raise HDOInputError(not_dask.format(
            f"the connection failed ({exc.strerror or exc})")) from None
    finally:
        with contextlib.suppress(OSError):
            sock.close()


def _connect_client(distributed, address: str, timeout: float):
    """``distributed.Client`` bounded in time: it runs in a daemon thread, and if it has not
    returned ``timeout + 5`` s later (a Dask server that is not a scheduler, a scheduler that
    stops answering mid-handshake) we give up with one line instead of waiting forever."""
    box: dict = {}

    def connect():
        try:
            box["client"] = distributed.Client(address, timeout=timeout, set_as_default=False)
        except BaseException as exc:  # noqa: BLE001 - reported below as one line
            box["error"] = exc

    t = threading.Thread(target=connect, daemon=True, name="hdo-dask-connect")
    t.start()
    t.join(timeout + 5.0)
    if t.is_alive():
        raise HDOInputError(
            f"scheduler: no Dask scheduler answered at {address} within {timeout:g} s "
            f"(--scheduler-timeout)"
        )
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, KeyboardInterrupt):
            raise exc
        msg = " ".join(str(exc).split()) or exc.__class__.__name__
        raise HDOInputError(f"cannot reach the Dask scheduler at {address}: {msg}")
    return box["client"]


class DaskExecutor(CellExecutor):
    """Cells on a ``dask.distributed`` cluster through ``Client.get_executor(pure=False)``
    (a :class:`concurrent.futures.Executor`). Needs the ``dask`` extra.

    shared_filesystem: the workers see the output folder at the same path (one machine, or a
    network file system): they write the cell files, and only metadata travels back. Default
    ``False``: results travel to the driver, which writes them (works on any cluster).
    """

    name = "dask"
    deaths_attributed = True

    def __init__(self, address: str, timeout: float = 10.0, shared_filesystem: bool = False):
        try:
            import distributed
        except ImportError:
            raise HDOInputError(
                "--scheduler needs Dask's distributed package: pip install 'hdo-theory[dask]'"
            ) from None
        timeout = float(timeout)
        _probe_tcp(address, timeout)
        self.client = _connect_client(distributed, address, timeout)
        self.address = address
        self.shared_filesystem = bool(shared_filesystem)
        self.death_errors = (distributed.KilledWorker,)
        self._ex = self.client.get_executor(pure=False)
        self._checked = 0.0
        self._workers = 1
        _ = self.workers

    @property
    def workers(self) -> int:
        """Worker threads of the cluster (asked again every few seconds: workers may join)."""
        now = time.monotonic()
        if now - self._checked > 5.0:
            with contextlib.suppress(Exception):
                self._workers = max(1, sum(self.client.nthreads().values()))
            self._checked = now
        return self._workers

    @property
    def capacity(self) -> int:
        # deeper than the local pool's 2x: each task's round trip through the scheduler is
        # milliseconds, which a deeper queue hides for short cells
        return 4 * self.workers

    def submit(self, fn, *args) -> cf.Future:
        return self._ex.submit(fn, *args)

    def close(self, cancel: bool = False) -> None:
        with contextlib.suppress(Exception):
            self._ex.shutdown(wait=not cancel)
        with contextlib.suppress(Exception):
            self.client.close()

    @property
    def name_full(self) -> str:
        return f"Dask cluster at {self.address} ({self.workers} worker threads)"


def make_executor(workers: int | None = None, scheduler: str | None = None,
                  scheduler_timeout: float = 10.0, shared_fs: bool = False) -> CellExecutor:
    """``scheduler`` -> :class:`DaskExecutor`; ``workers == 0`` -> :class:`InlineExecutor`;
    else a :class:`LocalPoolExecutor` (default size: the CPUs this process may use)."""
    if scheduler:
        return DaskExecutor(scheduler, scheduler_timeout, shared_filesystem=shared_fs)
    if workers == 0:
        return InlineExecutor()
    return LocalPoolExecutor(workers)



def warm_up() -> None:
    """Load the compiled process kernels (Numba cache) once: run in the forkserver so that
    every worker forked from it starts warm. Never raises (it must not kill the server)."""
    try:
        from hdo_theory.process import simulate
        from hdo_theory.runs.options import build, resolve

        values = resolve({"d": 2, "n": 2, "T": 2, "replicas": 1})
        obj, cfg = build(values)
        simulate(obj, cfg, replicas=1, seed=0, threads=1)
    except Exception:  # noqa: BLE001 - a cold worker is only slower
        pass
