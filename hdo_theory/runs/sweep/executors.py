"""Executors: one concurrent.futures-style interface for the loop in
:func:`~hdo_theory.runs.sweep.run_sweep` (in this process, a local pool, a Dask cluster).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import socket
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


def _worker_init(driver_pid: int) -> None:
    threading.Thread(
        target=_parent_watchdog, args=(driver_pid, os.getppid()), daemon=True,
        name="hdo-sweep-watchdog",
    ).start()


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
        return self._pool.submit(fn, *args)

    def reset(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = self._new()

    def close(self, cancel: bool = False) -> None:
        self._pool.shutdown(wait=True, cancel_futures=cancel)

    @property
    def name_full(self) -> str:
        return f"local pool of {self.workers} worker{'s' if self.workers != 1 else ''}"


def _probe_tcp(address: str, timeout: float) -> None:
    """Fail at once with a clear message when nothing listens at a tcp:// address."""
    url = urlparse(address if "://" in address else f"tcp://{address}")
    if url.scheme != "tcp":
        return
    if not url.hostname or url.port is None:
        raise HDOInputError(
            f"scheduler must look like tcp://HOST:PORT, got {address!r}"
        )
    try:
        with socket.create_connection((url.hostname, url.port), timeout=min(timeout, 5.0)):
            pass
    except OSError as exc:
        raise HDOInputError(
            f"cannot reach the Dask scheduler at {address}: {exc.strerror or exc} "
            f"(is `dask scheduler` running there and the port open?)"
        ) from None


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
        try:
            self.client = distributed.Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise HDOInputError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
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
