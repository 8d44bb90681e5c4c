"""Run claims in worker processes (``verify --jobs``).

Every claim seeds its streams from the run's master seed and its own keys
(:meth:`~.claims.Context.seed_for`), never from what ran before it, so a claim's records do not
depend on which process runs it or in which order: ``--jobs 2`` and ``--jobs 1`` give the same
records bit for bit (``tests/test_verify_parallel.py`` checks it). The records are handed back
pickled (exact floats) and merged in the claim order.

Claims that reuse each other's cached runs (``ctx.cache``: the Lemma 2/3/11/16/17 simulations,
the exact Lemma 2/3/11 expectations) are sent to one worker together (:data:`SHARED_CACHE`),
in their order, so nothing is computed twice. The grouping only saves time; a claim run in
another worker recomputes the same deterministic result.

The workers are started with ``spawn`` (no fork of a process holding Numba or BLAS threads)
and inherit the thread settings of the parent. Neither is lowered per worker: the exact
engine's matrix products (:mod:`hdo_theory.exact`) change in the last bit with the number of
BLAS threads (measured with one BLAS thread per worker: claim1.exact, claim3.exact and
theorem1.convex.exact differed from ``--jobs 1``), and ``--jobs`` must not change any record;
Numba replica threads change no result but one thread per worker was no faster (a busy
machine gives CPU by thread, and the last claim running would use one core only).

Workers ignore SIGINT: Ctrl-C reaches the parent, which stops the workers at once (the claims
they were running are lost, the finished ones are kept). Only built-in claims go to workers (a
plugin's or a script's claim is registered in the parent only); they run in the parent after
the workers' claims. With fewer than two groups for the workers everything runs in the parent.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import time

__all__ = ["SHARED_CACHE", "WorkerPool", "available_cores", "claim_groups",
           "run_claims_parallel"]

#: claims that read each other's ``ctx.cache`` entries: each set runs in one worker, in order
SHARED_CACHE = (
    frozenset({"lemma2", "lemma3", "lemma16", "lemma11", "lemma17"}),  # process: _run_sim
    frozenset({"lemma2.exact", "lemma3.exact", "lemma11.exact"}),  # exact: _lemma_run
)

_POLL_S = 0.1  # how often the parent looks at its workers while waiting (Ctrl-C latency)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _ignore_sigint():
    """Ignore SIGINT; returns the previous handler (None: not the main thread, left alone)."""
    try:
        return signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:
        return None


def claim_groups(ids) -> list[list[str]]:
    """``ids`` cut into the groups sent to workers, in the claim order: the claims of one
    :data:`SHARED_CACHE` set form one group (at the place of its first claim), every other
    claim is a group of its own."""
    groups: list[list[str]] = []
    where: dict[frozenset, list[str]] = {}
    for cid in ids:
        shared = next((s for s in SHARED_CACHE if cid in s), None)
        if shared is None:
            groups.append([cid])
        elif shared in where:
            where[shared].append(cid)
        else:
            where[shared] = [cid]
            groups.append(where[shared])
    return groups


def _worker(scale: str, seed: int, tasks, results, wid: int, budget=None,
            time_limit=None) -> None:
    """Worker loop: run each group of claims handed out, report every claim as it finishes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    from hdo_theory.verification.claims import REGISTRY, Context
    from hdo_theory.verification.runner import run_claim

    ctx = Context(scale=scale, seed=seed, budget=budget, time_limit=time_limit,
                  log=lambda msg: results.put(("log", wid, None, str(msg))))
    while True:
        group = tasks.get()
        if group is None:
            return
        for cid in group:
            results.put(("start", wid, cid, None))
            if cid not in REGISTRY:  # registered in the parent only
                results.put(("done", wid, cid, pickle.dumps(
                    ([], 0.0, f"WorkerError: claim {cid!r} is not registered in a worker",
                     {"claim": cid, "type": "WorkerError", "config": None, "family": "builtin",
                      "message": f"claim {cid!r} is not registered in a worker"}, {}, []))))
                continue
            run = run_claim(REGISTRY[cid], ctx)
            payload = (run.records, run.seconds, run.error, run.error_info, run.figures,
                       run.findings)
            try:
                blob = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # the claim's result cannot cross processes
                err = f"{type(exc).__name__}: {exc}"
                blob = pickle.dumps(([], run.seconds, err,
                                     {"claim": cid, "type": type(exc).__name__,
                                      "message": f"result not transferable: {exc}",
                                      "config": None, "family": "builtin"}, {}, []))
            results.put(("done", wid, cid, blob))


class WorkerPool:
    """``jobs`` spawned worker processes fed groups of claim IDs; :meth:`events` yields
    ``(kind, worker, claim id, data)`` as they report (``"start"``, ``"done"`` with the
    pickled result, ``"log"``, ``"died"`` with the exit code)."""

    def __init__(self, jobs: int, scale: str, seed: int, groups, budget=None,
                 time_limit=None):
        import multiprocessing as mp

        mp_ctx = mp.get_context("spawn")
        self.tasks, self.results = mp_ctx.Queue(), mp_ctx.Queue()
        for g in groups:
            self.tasks.put(list(g))
        for _ in range(jobs):
            self.tasks.put(None)
        self.running: dict[int, str | None] = {}
        self.remaining = sum(len(g) for g in groups)
        # an ignored SIGINT stays ignored in the child from its first instruction: a Ctrl-C
        # to the terminal's process group while a worker imports prints no traceback
        old_int = _ignore_sigint()
        try:
            self.procs = [mp_ctx.Process(target=_worker, args=(scale, seed, self.tasks,
                                                                self.results, w, budget,
                                                                time_limit), daemon=True)
                          for w in range(jobs)]
            for p in self.procs:
                p.start()
        finally:
            if old_int is not None:
                signal.signal(signal.SIGINT, old_int)
        self.running = {w: None for w in range(jobs)}

    def events(self):
        while self.remaining > 0:
            try:
                kind, wid, cid, data = self.results.get(timeout=_POLL_S)
            except queue.Empty:
                for w, p in enumerate(self.procs):
                    if not p.is_alive() and self.running.get(w) is not None:
                        cid, self.running[w] = self.running[w], None
                        self.remaining -= 1
                        yield "died", w, cid, p.exitcode
                if all(not p.is_alive() for p in self.procs) and self.results.empty():
                    time.sleep(_POLL_S)  # the last messages may still be in the pipe
                    if self.results.empty():
                        return
                continue
            if kind == "start":
                self.running[wid] = cid
            elif kind == "done":
                self.running[wid] = None
                self.remaining -= 1
            yield kind, wid, cid, data

    def in_progress(self) -> list[str]:
        return [c for c in self.running.values() if c is not None]

    def close(self, kill: bool = False) -> None:
        for p in self.procs:
            if kill and p.is_alive():
                p.terminate()
        for p in self.procs:
            p.join(timeout=1.0 if kill else 10.0)
            if p.is_alive():
                p.kill()
                p.join(timeout=1.0)
        for q in (self.tasks, self.results):
            q.cancel_join_thread()
            q.close()


def run_claims_parallel(runs, current, ids, ctx, failed, scale, seed, log, out_dir, resume,
                        bar, jobs: int) -> None:
    """The parallel form of :func:`.runner._run_claims_into`: resumed claims and those whose
    configuration check failed are settled in the parent, built-in claims run in ``jobs``
    workers, any other claim in the parent afterwards. Each claim is saved and logged as it
    finishes; ``runs`` ends in the claim order. ``current[0]`` names the claims running
    (comma-separated) for the interruption summary."""
    from hdo_theory.verification.claims import REGISTRY
    from hdo_theory.verification.runner import (
        ClaimRun,
        load_claim_run,
        run_claim,
        save_claim_run,
    )

    position = {cid: k for k, cid in enumerate(ids, 1)}
    total = len(ids)

    def finish(run):
        runs.append(run)
        if out_dir is not None:
            save_claim_run(out_dir, run, scale, seed, ctx.budget)
        log(f"      {run.claim.id}: {len(run.records)} records in {run.seconds:.1f} s"
            + (f"  ERROR {run.error}" if run.error else ""))
        if bar is not None:
            bar.update(1)

    to_pool, in_parent = [], []
    for cid in ids:
        claim = REGISTRY[cid]
        old = (load_claim_run(out_dir, claim, scale, seed, ctx.budget)
               if (resume and out_dir) else None)
        if old is not None:
            log(f"[{position[cid]}/{total}] {cid}: resumed ({len(old.records)} records)")
            runs.append(old)
            if bar is not None:
                bar.update(1)
        elif cid in failed:
            info = failed[cid]
            log(f"[{position[cid]}/{total}] {cid} ({claim.reference}) ...")
            finish(ClaimRun(claim, [], 0.0, f"{info['type']}: {info['message']}", info))
        elif _builtin(claim):
            to_pool.append(cid)
        else:
            in_parent.append(cid)
    groups = claim_groups(to_pool)
    if len(groups) < 2:  # nothing to run side by side: no worker start-up to pay
        in_parent = sorted(to_pool + in_parent, key=position.get)
        to_pool, groups = [], []
    if to_pool:
        pool = WorkerPool(min(jobs, len(groups)), scale, seed, groups, ctx.budget,
                          ctx.time_limit)
        ok = False
        try:
            for kind, _wid, cid, data in pool.events():
                if kind == "log":
                    log(data)
                    continue
                if kind == "start":
                    log(f"[{position[cid]}/{total}] {cid} ({REGISTRY[cid].reference}) ...")
                elif kind == "done":
                    recs, secs, err, info, figs, finds = pickle.loads(data)
                    finish(ClaimRun(REGISTRY[cid], recs, secs, err, info, figs, finds))
                elif kind == "died":
                    finish(_lost(REGISTRY[cid], f"worker process died (exit code {data})"))
                running = pool.in_progress()
                current[0] = ", ".join(running) if running else None
            ok = True
        finally:
            pool.close(kill=not ok)
        done = {run.claim.id for run in runs}
        for cid in to_pool:  # every worker gone before reaching these
            if cid not in done:
                finish(_lost(REGISTRY[cid], "no worker process left to run it"))
    for cid in in_parent:
        current[0] = cid
        log(f"[{position[cid]}/{total}] {cid} ({REGISTRY[cid].reference}) ...")
        finish(run_claim(REGISTRY[cid], ctx))
    current[0] = None
    runs.sort(key=lambda run: position[run.claim.id])


def _builtin(claim) -> bool:
    """A claim of the package's own modules: registered in a spawned worker as well (the rule
    of :func:`.claims.register` for the ``"builtin"`` family)."""
    module = getattr(claim.run, "__module__", "") or ""
    return (getattr(claim, "family", None) or "builtin") == "builtin" \
        and module.startswith("hdo_theory.")


def _lost(claim, message: str):
    from hdo_theory.verification.runner import ClaimRun

    info = {"claim": claim.id, "type": "WorkerError", "message": message, "config": None,
            "family": getattr(claim, "family", None) or "builtin"}
    return ClaimRun(claim, [], 0.0, f"WorkerError: {message}", info)
