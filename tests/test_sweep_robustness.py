"""Sweeps against bad surroundings: listeners that are not Dask schedulers, corrupt files in
the output folder, non-finite axis values, two sweeps on one folder, temporary files left by a
SIGKILL, an empty sweep file. Each bad input is one line (API: HDOInputError; CLI: exit 2),
never a traceback or a hang.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hdo_theory import atomic, cli
from hdo_theory.atomic import STALE_TMP_S, clean_stale_tmp, write_text_atomic
from hdo_theory.errors import HDOInputError
from hdo_theory.process.results import Results
from hdo_theory.runs.sweep import (
    InlineExecutor,
    SweepSpec,
    collect,
    load_spec,
    plan,
    read_table,
    run_sweep,
)
from hdo_theory.runs.sweep.store import LOCK_NAME, LOCK_STALE_S, SweepLock

SPEC = """\
[sweep]
seed = 5
seeds = 2
[base]
objective = "least-squares"
d = 3
n = 4
T = 50
[axes]
zo_lr = [0.01, 0.02]
"""


def spec_file(tmp_path, text: str = SPEC, name: str = "s.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("hdo-theory sweep: error:"), err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err, err
    return err


# ---------------------------------------------------------------------------------------------
# 1. a listener that is not a Dask scheduler
# ---------------------------------------------------------------------------------------------


class _Listener:
    """A TCP server on 127.0.0.1 that accepts and then says nothing, or writes garbage."""

    def __init__(self, reply: bytes | None):
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(c)
            if self.reply is not None:
                try:
                    c.sendall(self.reply)
                except OSError:
                    pass

    def close(self):
        self.stop.set()
        self.thread.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.mark.parametrize("reply,words", [
    (None, "sent no Dask handshake within 3 s"),
    (b"HTTP/1.1 400 Bad Request\r\n\r\n" + b"\xff" * 4096, "not a Dask handshake"),
    (b"\x10\x00\x00\x00\x00\x00\x00\x00abc", "did not arrive in full within 3 s"),
], ids=["silent", "garbage", "short-frame"])
def test_listener_that_is_not_a_dask_scheduler_fails_within_the_timeout(tmp_path, capsys,
                                                                         reply, words):
    pytest.importorskip("distributed")
    p = spec_file(tmp_path)
    srv = _Listener(reply)
    try:
        t0 = time.monotonic()
        code = cli.main(["sweep", str(p), "--out", str(tmp_path / "o"), "--scheduler",
                         f"tcp://127.0.0.1:{srv.port}", "--scheduler-timeout", "3",
                         "--no-progress"])
        elapsed = time.monotonic() - t0
    finally:
        srv.close()
    err = one_line_error(capsys)
    assert code == 2, err
    assert f"tcp://127.0.0.1:{srv.port} is not a Dask scheduler" in err, err
    assert words in err, err
    assert elapsed < 3 + 10, elapsed  # the timeout, plus the CLI's imports on a loaded machine
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------------------
# 2. corrupt files in the output folder
# ---------------------------------------------------------------------------------------------


def _finished_sweep(tmp_path) -> tuple[Path, Path, list[Path]]:
    p = spec_file(tmp_path)
    out = tmp_path / "out"
    assert run_sweep(load_spec(p), out, InlineExecutor()).done == 4
    return p, out, sorted((out / "cells").glob("*.npz"))


def test_collect_skips_and_lists_unreadable_cell_files(tmp_path, capsys):
    p, out, files = _finished_sweep(tmp_path)
    data = files[0].read_bytes()
    files[0].write_bytes(data[: len(data) // 2])  # truncated: BadZipFile
    files[1].write_bytes(b"")  # empty: EOFError in np.load
    rep = collect(out, fmt="csv")
    assert rep.cells == 2 and rep.missing == 2
    assert sorted(k for k, _, _ in rep.bad) == sorted(f.stem for f in files[:2])
    for _, path, why in rep.bad:
        assert str(path) in why or why  # the file is named (in the CLI line below)
    assert set(read_table(rep.path)["cell"]) == {f.stem for f in files[2:]}
    assert cli.main(["sweep", "collect", str(out), "--format", "csv"]) == 0
    outp = capsys.readouterr()
    assert "Traceback" not in outp.err
    for f in files[:2]:
        assert f"bad {f.stem}:" in outp.out and str(f) in outp.out, outp.out
    assert "2 cell files are unreadable" in outp.out


def test_resumed_sweep_reruns_unreadable_cell_files_bit_identically(tmp_path, capsys):
    p, out, files = _finished_sweep(tmp_path)
    before = {f.stem: Results.load(f) for f in files}
    data = files[0].read_bytes()
    files[0].write_bytes(data[:100])
    files[1].write_bytes(b"")
    # the status files still say "done": the cell files are checked anyway
    assert json.loads((out / "status" / f"{files[0].stem}.json").read_text())["status"] == "done"
    code = cli.main(["sweep", str(p), "--out", str(out), "--workers", "0", "--resume",
                     "--no-progress"])
    o = capsys.readouterr()
    assert code == 0, o.err
    assert "Traceback" not in o.err
    assert "2 cell files are unreadable (empty or truncated) and run again" in o.out, o.out
    assert "4 cells: 4 done" in o.out and "(2 run now" in o.out, o.out
    for f in files:
        after = Results.load(f)
        for k in before[f.stem].metrics:
            assert after.metrics[k].tobytes() == before[f.stem].metrics[k].tobytes()
        assert np.array_equal(after.t, before[f.stem].t)
    assert collect(out, fmt="csv").bad == []


BAD_SPEC_JSON = [
    ("", "unreadable sweep file"),
    ('{"format": "hdo-theory-sweep/1", "fing', "unreadable sweep file"),
    ("[1, 2]", "not an hdo-theory sweep"),
    ("drop:spec", "key 'spec' is missing"),
    ("drop:cells", "key 'cells' is missing"),
    ("set:spec=[]", "'spec' must be an object"),
    ("set:cells={}", "'cells' must be a list"),
    ("set:cells=[\"abc\"]", "cells[0] must be an object"),
    ("set:cells=[{\"key\": 3}]", "cells[0].key must be a string"),
    ("set:axis_names=\"zo_lr\"", "'axis_names' must be a list"),
]


@pytest.mark.parametrize("edit,words", BAD_SPEC_JSON)
def test_corrupt_sweep_json_is_one_line_naming_the_file(tmp_path, capsys, edit, words):
    p, out, _ = _finished_sweep(tmp_path)
    sj = out / "sweep.json"
    doc = json.loads(sj.read_text())
    if edit.startswith("drop:"):
        del doc[edit[5:]]
        sj.write_text(json.dumps(doc))
    elif edit.startswith("set:"):
        k, v = edit[4:].split("=", 1)
        doc[k] = json.loads(v)
        sj.write_text(json.dumps(doc))
    else:
        sj.write_text(edit)
    with pytest.raises(HDOInputError) as exc:
        collect(out, fmt="csv")
    msg = str(exc.value)
    assert msg.startswith(f"{sj}: ") and words in msg and "\n" not in msg, msg
    assert cli.main(["sweep", "collect", str(out), "--format", "csv"]) == 2
    assert words in one_line_error(capsys)
    # running the sweep again: one line too, pointing at --force
    args = ["sweep", str(p), "--out", str(out), "--workers", "0", "--no-progress"]
    assert cli.main(args) == 2
    err = one_line_error(capsys)
    assert str(sj) in err and words in err and "--force" in err, err
    assert not (out / LOCK_NAME).exists()
    # --force takes the folder over; the intact cell files are reused
    assert cli.main([*args, "--force"]) == 0
    assert "4 cells: 4 done" in capsys.readouterr().out
    assert collect(out, fmt="csv").cells == 4


def test_unreadable_status_file_does_not_break_a_resume(tmp_path):
    p, out, files = _finished_sweep(tmp_path)
    (out / "status" / f"{files[0].stem}.json").write_text("[]")
    (out / "status" / f"{files[1].stem}.json").write_text("")
    rep = run_sweep(load_spec(p), out, InlineExecutor(), resume=True)
    assert rep.done == 4 and rep.already == 4


# ---------------------------------------------------------------------------------------------
# 3. inf / nan as an axis value
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("axis,line_no", [("zo_lr = [0.1, inf]", 6), ("zo_lr = [nan, 0.1]", 6),
                                          ("zo_nu = [0.1, -inf]", 6),
                                          ("divergence_threshold = [inf]", 6)])
def test_nonfinite_axis_value_names_key_and_line(tmp_path, capsys, axis, line_no):
    p = spec_file(tmp_path, "[base]\nd = 3\nn = 4\nT = 50\n[axes]\n" + axis + "\n")
    key = axis.split()[0]
    with pytest.raises(HDOInputError) as exc:
        load_spec(p)
    msg = str(exc.value)
    assert f"line {line_no}: [axes] {key}:" in msg and "finite" in msg, msg
    assert cli.main(["sweep", str(p), "--out", str(tmp_path / "o"), "--workers", "0"]) == 2
    assert f"line {line_no}" in one_line_error(capsys)
    assert not (tmp_path / "o").exists()


def test_nonfinite_values_in_a_spec_built_in_python_are_refused_by_name():
    for spec, words in [
        (SweepSpec(base={"d": 3, "T": 50}, axes={"zo_lr": (0.1, math.inf)}),
         "[axes] zo_lr: axis values must be finite numbers, got inf"),
        (SweepSpec(base={"d": 3, "T": 50, "zo_lr": math.nan}, axes={}),
         "[base] zo_lr: zo_lr must be a finite number, got nan"),
    ]:
        with pytest.raises(HDOInputError) as exc:
            plan(spec, validate=False)
        assert words in str(exc.value)
        with pytest.raises(HDOInputError, match="finite"):
            spec.fingerprint()


# ---------------------------------------------------------------------------------------------
# 4. two sweeps on one folder
# ---------------------------------------------------------------------------------------------


def _write_lock(out: Path, pid: int, host: str | None = None, age_s: float = 0.0) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    lock = out / LOCK_NAME
    lock.write_text(json.dumps({"format": "hdo-theory-sweep-lock/1",
                                "host": host or socket.gethostname(), "pid": pid,
                                "started_at": "2026-01-02T03:04:05+0000",
                                "token": "someone-else"}))
    if age_s:
        t = time.time() - age_s
        os.utime(lock, (t, t))
    return lock


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: the pid is free
    return proc.pid


def test_a_live_lock_refuses_a_second_sweep_naming_the_holder(tmp_path, capsys):
    p = spec_file(tmp_path)
    out = tmp_path / "out"
    for host, pid in [(None, os.getpid()), ("other-host.example", _dead_pid())]:
        lock = _write_lock(out, pid, host)
        held = lock.read_text()
        with pytest.raises(HDOInputError) as exc:
            run_sweep(load_spec(p), out, InlineExecutor())
        msg = str(exc.value)
        for w in (str(lock), f"host {host or socket.gethostname()}", f"pid {pid}",
                  "started 2026-01-02T03:04:05+0000"):
            assert w in msg, msg
        assert "\n" not in msg
        assert cli.main(["sweep", str(p), "--out", str(out), "--workers", "0",
                         "--no-progress"]) == 2
        assert f"pid {pid}" in one_line_error(capsys)
        assert lock.read_text() == held  # not broken, not removed
        assert not (out / "cells").exists() and not (out / "sweep.json").exists()


HOLDER = """
import sys, time
from hdo_theory.runs.sweep.store import SweepLock
SweepLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_a_lock_held_by_another_process_until_it_is_killed(tmp_path):
    import signal

    p = spec_file(tmp_path)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(HDOInputError, match=f"pid {proc.pid}, started "):
            run_sweep(load_spec(p), out, InlineExecutor())
        os.kill(proc.pid, signal.SIGKILL)  # the holder dies without releasing its lock
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (out / LOCK_NAME).exists()
    assert run_sweep(load_spec(p), out, InlineExecutor()).done == 4
    assert not (out / LOCK_NAME).exists()


def test_a_lock_held_in_this_process_refuses_a_second_one(tmp_path):
    out = tmp_path / "out"
    first = SweepLock(out).acquire()
    try:
        with pytest.raises(HDOInputError, match=f"pid {os.getpid()}"):
            SweepLock(out).acquire()
    finally:
        first.release()
    assert not (out / LOCK_NAME).exists()
    SweepLock(out).acquire().release()


def test_stale_locks_are_taken_over(tmp_path, capsys):
    p = spec_file(tmp_path)
    out = tmp_path / "out"
    # a dead pid on this host; then a live pid (ours) whose lock was not refreshed for longer
    # than the limit (a hung holder, or a reused pid); then an unreadable lock file
    (out / LOCK_NAME).parent.mkdir(parents=True)
    (out / LOCK_NAME).write_text("")  # a fresh unreadable lock: maybe being written, refused
    with pytest.raises(HDOInputError, match="being written"):
        run_sweep(load_spec(p), out, InlineExecutor())
    for make in (lambda: _write_lock(out, _dead_pid()),
                 lambda: _write_lock(out, os.getpid(), "other-host.example",
                                     age_s=LOCK_STALE_S + 60),
                 lambda: ((out / LOCK_NAME).write_text(""),  # stale after LOCK_TORN_S
                          _age(out / LOCK_NAME, 60))):
        make()
        code = cli.main(["sweep", str(p), "--out", str(out), "--workers", "0",
                         "--no-progress"])
        o = capsys.readouterr()
        assert code == 0, o.err
        assert "took over a stale lock" in o.out, o.out
        assert not (out / LOCK_NAME).exists()  # released at the end
    assert sorted(x.name for x in out.iterdir() if x.name.startswith(".")) == []


def test_lock_is_released_when_the_sweep_is_refused(tmp_path):
    p = spec_file(tmp_path)
    with pytest.raises(HDOInputError, match="--resume"):
        run_sweep(load_spec(p), tmp_path / "new", InlineExecutor(), resume=True)
    assert not (tmp_path / "new").exists()  # made for the lock only, removed again
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    with pytest.raises(HDOInputError, match="not empty"):
        run_sweep(load_spec(p), tmp_path / "full", InlineExecutor())
    assert sorted(x.name for x in (tmp_path / "full").iterdir()) == ["x.txt"]


def test_lock_is_refreshed_while_held(tmp_path):
    lock = SweepLock(tmp_path, refresh_s=0.05).acquire()
    try:
        old = time.time() - 1000
        os.utime(lock.path, (old, old))
        deadline = time.monotonic() + 10
        while lock.path.stat().st_mtime < old + 500 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lock.path.stat().st_mtime > old + 500
    finally:
        lock.release()


# ---------------------------------------------------------------------------------------------
# 6. temporary files left by a SIGKILL during a save
# ---------------------------------------------------------------------------------------------


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_stale_temporaries_of_our_pattern_are_removed_on_the_next_write(tmp_path):
    old = tmp_path / ".a.npz.k3x_9zq1.tmp"  # what atomic_file leaves when killed
    fresh = tmp_path / ".b.npz.abcd1234.tmp"  # a save that may be in progress
    others = [tmp_path / n for n in (".notes.tmp", "c.npz.abcd1234.tmp", ".d.npz.ABCD1234.tmp",
                                     ".e.npz.abcd123.tmp", "keep.txt")]
    for f in (old, fresh, *others):
        f.write_bytes(b"")
    for f in (old, *others):
        _age(f, STALE_TMP_S + 60)
    write_text_atomic(tmp_path / "x.txt", "x")
    names = sorted(x.name for x in tmp_path.iterdir())
    assert old.name not in names
    assert names == sorted([fresh.name, *(f.name for f in others), "x.txt"])
    # explicitly, with a smaller age limit: the fresh one goes too, the others never
    _age(fresh, 10)
    assert clean_stale_tmp(tmp_path, max_age_s=5) == [fresh]
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted(
        [*(f.name for f in others), "x.txt"])


def test_a_resumed_sweep_removes_stale_temporaries_from_its_cells_folder(tmp_path,
                                                                         monkeypatch):
    p, out, files = _finished_sweep(tmp_path)
    # a resumed sweep is a new process, which has not scanned the folder yet (a process scans
    # each folder at most once a minute)
    monkeypatch.setattr(atomic, "_cleaned", {})
    left = out / "cells" / f".{files[0].name}.zz1x2y3w.tmp"
    left.write_bytes(b"")
    _age(left, STALE_TMP_S + 60)
    files[0].unlink()  # the cell whose save was killed
    rep = run_sweep(load_spec(p), out, InlineExecutor())
    assert rep.done == 4 and rep.already == 3
    assert not left.exists()
    assert sorted(x.name for x in (out / "cells").iterdir()) == sorted(f.name for f in files)


# ---------------------------------------------------------------------------------------------
# 10. an empty sweep file
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "[sweep]\nseeds = 3\n",
                                  "[base]\n[axes]\n"])
def test_a_sweep_file_that_sets_no_option_is_refused(tmp_path, capsys, text):
    p = spec_file(tmp_path, text)
    with pytest.raises(HDOInputError) as exc:
        load_spec(p)
    msg = str(exc.value)
    assert msg.startswith(f"{p}: the sweep file ") and "[base] and [axes] are both empty" in msg
    assert "\n" not in msg
    out = tmp_path / "o"
    assert cli.main(["sweep", str(p), "--out", str(out), "--workers", "0"]) == 2
    assert "are both empty" in one_line_error(capsys)
    assert not out.exists()


def test_collect_names_a_file_given_as_the_folder(tmp_path, capsys):
    """`sweep collect <a file>` says the path is a file, not that the folder does not exist."""
    from hdo_theory.cli import main

    f = tmp_path / "sweep.csv"
    f.write_text("not a folder\n")
    assert main(["sweep", "collect", str(f)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file, not a folder" in err[0] and "does not exist" not in err[0]
    assert main(["sweep", "collect", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
