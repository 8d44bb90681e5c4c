"""Ctrl-C: ``run``, ``verify`` and ``sweep`` stop promptly with exit code 130, keep what they
finished and leave no temporary or truncated file; ``simulate`` raises KeyboardInterrupt
promptly from the API.

The requirement is 1 s from SIGINT to exit after compilation (issue 14; measured precisely by
``benchmarks/bench_interrupt.py``). The tests allow :data:`LATENCY_BOUND_S` = 5 s: the process
must also tear down (Numba/LLVM and thread pools at exit, ~0.3 s quiet) and CI runs the suite on
2 loaded cores, where a process can wait seconds for a core; a run that ignored Ctrl-C until
its replica finished would take minutes here (T = 10^8), so the bound still separates
"stops" from "does not stop" by two orders of magnitude.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hdo_theory.objectives import make_objective
from hdo_theory.process import ProcessConfig, simulate

REPO = Path(__file__).resolve().parents[1]
LATENCY_BOUND_S = 5.0  # see the module docstring: 1 s required, slack for exit and a loaded CI
READY_TIMEOUT_S = 300.0  # first compilation on a cold cache and a loaded machine

# a run far too long to finish during the test (minutes to hours), with recording on
BIG_RUN = ["run", "--objective", "least-squares", "--d", "20", "--n", "8", "--T", "100000000",
           "--record-points", "50", "--progress"]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _launch(argv, tmp_path: Path):
    log = open(tmp_path / "stderr.txt", "w+b")  # noqa: SIM115 - closed by _interrupt
    proc = subprocess.Popen([sys.executable, "-m", "hdo_theory.cli", *argv], cwd=tmp_path,
                            stdout=log, stderr=subprocess.STDOUT, env=_env())
    return proc, log


def _wait_for(proc, cond, what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode} before {what}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"not {what} within {READY_TIMEOUT_S} s")
        time.sleep(0.1)


def _interrupt(proc, log) -> tuple[int, float, str]:
    """SIGINT to ``proc`` only (not its group); its exit code, the seconds it took, its output."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        rc = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("did not stop within 120 s of SIGINT") from None
    latency = time.monotonic() - t0
    log.seek(0)
    text = log.read().decode(errors="replace")
    log.close()
    return rc, latency, text


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


_COUNT = re.compile(r"\|\s*([0-9.]+)([kMG]?)/")


def _bar_moved(log) -> bool:
    """The progress bar counted a step: the first kernel call returned (compiled)."""
    log.seek(0)
    counts = _COUNT.findall(log.read().decode(errors="replace"))
    return any(float(v) > 0 for v, _ in counts)


def test_run_interrupted_exits_130_without_output(tmp_path):
    out = tmp_path / "res.npz"
    proc, log = _launch([*BIG_RUN, "--replicas", "2", "--threads", "2", "--out", str(out)],
                        tmp_path)
    _wait_for(proc, lambda: _bar_moved(log), "compiled (progress bar moving)")
    time.sleep(1.0)  # into the run proper: kernel calls are now ~0.1 s long
    rc, latency, text = _interrupt(proc, log)
    assert rc == 130, text
    assert latency < LATENCY_BOUND_S, f"{latency:.2f} s from SIGINT to exit"
    assert "interrupted" in text and "Traceback" not in text, text
    assert not out.exists() and not _leftovers(tmp_path)


def test_simulate_raises_keyboard_interrupt_promptly():
    obj = make_objective("least-squares", d=20, n0=4, n1=4, seed=0)
    simulate(obj, ProcessConfig(T=10))  # compiled (or loaded from the cache) before timing
    cfg = ProcessConfig(T=100_000_000, record_points=50)
    sent = []
    timer = threading.Timer(1.0, lambda: (sent.append(time.monotonic()),
                                          os.kill(os.getpid(), signal.SIGINT)))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        simulate(obj, cfg, replicas=1, threads=1)
    latency = time.monotonic() - sent[0]
    timer.join()
    assert latency < LATENCY_BOUND_S, f"{latency:.2f} s from SIGINT to KeyboardInterrupt"


def _descendants(pid: int) -> set[int]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    out, todo = set(), [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in out:
                out.add(k)
                todo.append(k)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sweep_local_pool_interrupted_keeps_finished_cells(tmp_path):
    spec = tmp_path / "sweep.toml"
    spec.write_text('[sweep]\nseed = 3\nseeds = 2\n[base]\nobjective = "least-squares"\n'
                    'd = 20\nn = 8\nrecord_points = 50\n[axes]\nT = [50, 100000000]\n')
    out = tmp_path / "out"
    proc, log = _launch(["sweep", str(spec), "--out", str(out), "--workers", "2"], tmp_path)
    cells = lambda: sorted(out.rglob("*.npz")) if out.exists() else []
    # both workers have run a small cell (compiled) and now run the two long ones
    _wait_for(proc, lambda: len(cells()) >= 2, "two cells finished")
    time.sleep(1.5)
    workers = _descendants(proc.pid)
    finished = cells()
    rc, latency, text = _interrupt(proc, log)  # the driver alone: it must stop its workers
    assert rc == 130, text
    assert latency < LATENCY_BOUND_S, f"{latency:.2f} s from SIGINT to exit"
    assert cells() == finished and len(finished) == 2
    assert not _leftovers(tmp_path)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in workers), "sweep workers outlived the driver"


def test_verify_interrupted_keeps_finished_claims_and_resumes(tmp_path):
    out = tmp_path / "report"
    argv = ["verify", "--quick", "--claims", "lemma5", "lemma13", "--out", str(out)]
    proc, log = _launch(argv, tmp_path)
    _wait_for(proc, lambda: (out / "claims" / "lemma5.json").exists(), "lemma5 finished")
    time.sleep(2.0)  # inside lemma13 (10-30 s on 2 busy cores)
    rc, latency, text = _interrupt(proc, log)
    assert rc == 130, text
    assert latency < LATENCY_BOUND_S, f"{latency:.2f} s from SIGINT to exit"
    assert not _leftovers(tmp_path)
    summary = json.loads((out / "interrupted.json").read_text())
    assert summary["interrupted"] is True and summary["finished"] == ["lemma5"]
    assert summary["interrupted_claim"] == "lemma13" and summary["not_run"] == []
    assert not (out / "claims" / "lemma13.json").exists()
    # --resume reuses the finished claim; a run that completes drops the interrupted summary
    done = subprocess.run([sys.executable, "-m", "hdo_theory.cli", "verify", "--quick",
                           "--claims", "lemma5", "--resume", "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, env=_env(), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "lemma5: resumed" in done.stdout
    assert not (out / "interrupted.json").exists()
