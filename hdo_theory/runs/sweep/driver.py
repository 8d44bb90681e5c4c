"""The driver: :func:`run_sweep` runs (or resumes) the unfinished cells of a sweep through an
executor and records them in the output folder.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hdo_theory.errors import check_int
from hdo_theory.runs.sweep.cells import Cell, CellTask, _execute, plan, run_cell
from hdo_theory.runs.sweep.executors import CellExecutor, make_executor
from hdo_theory.runs.sweep.spec import SweepSpec
from hdo_theory.runs.sweep.store import FINAL, SweepLock, SweepStore

INDEX_EVERY_S = 5.0



@dataclass
class SweepReport:
    out: Path
    total: int
    already: int  # finished before this invocation
    done: int  # done (all, including earlier ones)
    diverged: int
    failed: int
    pending: int
    wall_time_s: float
    executor: str
    failures: list = field(default_factory=list)  # (cell, error)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.pending == 0


class _Bar:
    """tqdm over cells with done / failed / left in the postfix (tqdm provides the ETA)."""

    def __init__(self, total: int, initial: int, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc="cells", unit="cell",
                            dynamic_ncols=True, smoothing=0.1)

    def update(self, n: int, counts: dict):
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix(done=counts["done"], diverged=counts["diverged"],
                                 failed=counts["failed"], left=counts["left"], refresh=False)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def run_sweep(
    spec: SweepSpec,
    out,
    executor: CellExecutor | None = None,
    *,
    cells: list[Cell] | None = None,
    force: bool = False,
    resume: bool = False,
    progress: bool = False,
    cell_fn: Callable = run_cell,
    retries: int | None = None,
    log: Callable[[str], None] | None = None,
) -> SweepReport:
    """Run every cell of ``spec`` that is not finished in ``out``; return the tally.

    executor: where cells run (default: a :class:`LocalPoolExecutor` sized to the machine);
        it is closed on return. cells: the plan (default :func:`plan` of ``spec``).
    cell_fn: ``CellTask -> CellOutput`` (default :func:`run_cell`; must be picklable by
        reference for process executors).
    retries: override ``spec.retries``. A cell that raises, or whose worker dies, gets at most
        ``retries`` further attempts in this invocation, then is recorded ``failed`` with its
        traceback; ``HDOInputError`` is deterministic and is not retried. Re-running the sweep
        gives failed cells a new budget; done and diverged cells are never re-run.
    """
    t_start = time.perf_counter()
    log = log or (lambda s: None)
    retries = spec.retries if retries is None else check_int("retries", retries, 0, 100)
    cells = plan(spec) if cells is None else cells
    store = SweepStore(out)
    owned_executor = executor is None
    created = not store.root.exists()
    lock = SweepLock(store.root).acquire()  # a second sweep on this folder stops here
    try:
        how = store.open(spec, cells, force=force, resume=resume)
        states = store.scan(cells)
    except BaseException:
        lock.release()
        if created:
            with contextlib.suppress(OSError):
                store.root.rmdir()  # only if empty: we made it just for the lock
        raise
    try:
        return _run(spec, store, executor, cells, states, how, lock, owned_executor,
                    progress, cell_fn, retries, log, t_start)
    finally:
        lock.release()


def _run(spec, store, executor, cells, states, how, lock, owned_executor, progress, cell_fn,
         retries, log, t_start) -> SweepReport:
    already = sum(1 for c in cells if states[c.key]["status"] in FINAL)
    todo = [c for c in cells if states[c.key]["status"] not in FINAL]
    counts = {
        "done": sum(1 for s in states.values() if s["status"] == "done"),
        "diverged": sum(1 for s in states.values() if s["status"] == "diverged"),
        "failed": 0,
        "left": len(todo),
    }
    failures: list = []
    if executor is None:
        executor = make_executor()
    exec_name = getattr(executor, "name_full", executor.name)
    log(f"sweep {spec.name!r}: {len(cells)} cells, {already} already finished "
        f"({'folder ' + how}), {len(todo)} to run on {exec_name if todo else 'nothing'}")
    if lock.broke is not None:
        b = lock.broke
        log(f"took over a stale lock of host {b.get('host')}, pid {b.get('pid')}, started "
            f"{b.get('started_at')} ({b['why']})")
    corrupt = [states[c.key]["corrupt"] for c in todo if "corrupt" in states[c.key]]
    if corrupt:
        log(f"{len(corrupt)} cell files are unreadable (empty or truncated) and run again: "
            f"{', '.join(corrupt[:3])}{' ...' if len(corrupt) > 3 else ''}")
    for c in todo:  # failed cells get a fresh budget; clear their final status
        if states[c.key]["status"] == "failed":
            states[c.key] = {"status": "pending", "attempts": states[c.key].get("attempts", 0)}
    attempts = {c.key: 0 for c in todo}
    total_attempts = {c.key: int(states[c.key].get("attempts", 0)) for c in todo}
    queue = deque(todo)
    suspects: deque[Cell] = deque()  # cells in flight when a local worker died
    inflight: dict[cf.Future, Cell] = {}
    bar = _Bar(len(cells), already, progress)
    last_index = 0.0

    def submit(c: Cell):
        save = str(store.cell_path(c.key)) if executor.shared_filesystem else None
        task = CellTask(c.key, c.seed, c.values, spec.threads, save,
                        tuple(getattr(spec, "plugins", ())))
        inflight[executor.submit(_execute, cell_fn, task)] = c

    def charge(c: Cell, error: str, tb: str | None, retryable: bool, death: bool, host: str):
        attempts[c.key] += 1
        total_attempts[c.key] += 1
        if retryable and attempts[c.key] <= retries:
            states[c.key] = {"status": "pending", "attempts": total_attempts[c.key],
                             "error": error}
            store.write_status(c.key, {**states[c.key], "traceback": tb, "host": host,
                                       "replicate": c.replicate, "point": c.point})
            (suspects if death and not executor.deaths_attributed else queue).append(c)
            return
        states[c.key] = {"status": "failed", "attempts": total_attempts[c.key], "error": error}
        store.write_status(c.key, {**states[c.key], "traceback": tb, "host": host,
                                   "replicate": c.replicate, "seed": c.seed, "point": c.point})
        counts["failed"] += 1
        counts["left"] -= 1
        failures.append((c, error))
        bar.update(1, counts)

    interrupted = False
    try:
        store.write_index(spec, cells, states)
        while queue or suspects or inflight:
            if suspects:
                if not inflight:  # a suspect runs alone, so a death can be attributed
                    submit(suspects.popleft())
            else:
                while queue and len(inflight) < executor.capacity:
                    submit(queue.popleft())
            finished, _ = cf.wait(list(inflight), timeout=1.0,
                                  return_when=cf.FIRST_COMPLETED)
            broken = False
            for fut in finished:
                c = inflight.pop(fut)
                try:
                    outcome = fut.result()
                except executor.death_errors as exc:
                    alone = not inflight and not broken
                    if executor.deaths_attributed or alone:
                        charge(c, f"worker died while running the cell ({exc})", None,
                               True, True, "")
                    else:
                        suspects.append(c)
                    broken = broken or not executor.deaths_attributed
                    continue
                except cf.CancelledError:
                    queue.appendleft(c)
                    continue
                except Exception as exc:  # infrastructure error (e.g. pickling) for this cell
                    charge(c, f"{exc.__class__.__name__}: {exc}",
                           "".join(traceback.format_exception(exc)), True, False, "")
                    continue
                if outcome.error is not None:
                    charge(c, outcome.error, outcome.traceback, outcome.retryable, False,
                           outcome.host)
                    continue
                status = store.save_cell(c, outcome.output, total_attempts[c.key] + 1)
                total_attempts[c.key] += 1
                states[c.key] = {"status": status, "attempts": total_attempts[c.key]}
                counts[status] += 1
                counts["left"] -= 1
                bar.update(1, counts)
            if broken:
                # every other future of the broken pool fails too: rerun them as suspects
                for fut, c in list(inflight.items()):
                    suspects.append(c)
                    inflight.pop(fut)
                executor.reset()
            now = time.perf_counter()
            if now - last_index > INDEX_EVERY_S:
                store.write_index(spec, cells, states)
                last_index = now
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        bar.close()
        if owned_executor or interrupted:
            executor.close(cancel=interrupted)
        with contextlib.suppress(Exception):
            store.write_index(spec, cells, states)
    pending = sum(1 for s in states.values() if s["status"] == "pending")
    return SweepReport(
        out=store.root, total=len(cells), already=already, done=counts["done"],
        diverged=counts["diverged"], failed=counts["failed"], pending=pending,
        wall_time_s=time.perf_counter() - t_start, executor=exec_name, failures=failures,
    )
