"""Sweeps: grid, seeds, identity, bad input, retries, SIGKILL resume, Dask = local pool, collect.

Every equality here is exact (bit for bit): a cell is a pure function of its options and seed,
so no tolerance is involved. Cells are tiny (d=3, n=4, T=50) unless a test needs them slower.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hdo_theory import cli
from hdo_theory.errors import HDOInputError
from hdo_theory.process.results import Results
from hdo_theory.runs.sweep import (
    InlineExecutor,
    LocalPoolExecutor,
    SweepStore,
    cell_seed,
    collect,
    config_hash,
    load_spec,
    plan,
    read_table,
    run_cell,
    run_sweep,
)

REPO = Path(__file__).resolve().parents[1]

BASE = """\
[base]
objective = "least-squares"
d = 3
n = 4
T = {T}
"""


def write_spec(tmp_path, text: str, name: str = "sweep.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def small_spec(tmp_path, lrs=(0.01, 0.02), rvs=(1, 4), seeds=2, seed=7, T=50, extra="",
               name="sweep.toml"):
    text = (
        f"[sweep]\nseed = {seed}\nseeds = {seeds}\n{extra}\n" + BASE.format(T=T)
        + f"\n[axes]\nzo_lr = {list(lrs)}\n[axes.zo]\nrv = {list(rvs)}\n"
    )
    return load_spec(write_spec(tmp_path, text, name))


def same_trajectories(a: Results, b: Results) -> bool:
    """Bit-for-bit equality of everything a cell computes (metadata such as wall time and host
    legitimately differs)."""
    return (
        np.array_equal(a.t, b.t)
        and np.array_equal(a.diverged_at, b.diverged_at)
        and a.recorded == b.recorded  # a saved file holds the recorded metrics only
        and all(
            a.metrics[k].tobytes() == b.metrics[k].tobytes() for k in a.recorded
        )
        and a.config == b.config
        and a.seed == b.seed
    )


def load_cells(out) -> dict[str, Results]:
    return {p.stem: Results.load(p) for p in sorted((Path(out) / "cells").glob("*.npz"))}


# ---------------------------------------------------------------------------------------------
# grid, hashes, seeds
# ---------------------------------------------------------------------------------------------


def test_grid_is_the_product_of_axes_times_replicates(tmp_path):
    spec = small_spec(tmp_path, lrs=(0.01, 0.02, 0.05), rvs=(1, 4), seeds=3)
    cells = plan(spec)
    assert len(cells) == 3 * 2 * 3 == spec.n_cells
    assert len({c.key for c in cells}) == len(cells)
    assert len({c.seed for c in cells}) == len(cells)
    assert {(c.point["zo_lr"], c.point["zo_rv"], c.replicate) for c in cells} == {
        (lr, rv, k) for lr in (0.01, 0.02, 0.05) for rv in (1, 4) for k in range(3)
    }
    # every cell's options are the run command's options for that point
    for c in cells:
        assert c.values["zo_lr"] == c.point["zo_lr"] and c.values["zo_rv"] == c.point["zo_rv"]
        assert c.values["d"] == 3 and c.values["n0"] + c.values["n1"] == 4
        assert "seed" not in c.values and "out" not in c.values


def test_seeds_depend_on_configuration_not_grid_position(tmp_path):
    a = plan(small_spec(tmp_path, lrs=(0.01, 0.02), rvs=(1,), seeds=2, name="a.toml"))
    # an added axis value, reordered values, an extra replicate: old cells keep key and seed
    b = plan(small_spec(tmp_path, lrs=(0.05, 0.02, 0.01), rvs=(1,), seeds=3, name="b.toml"))
    kb = {c.key: c for c in b}
    for c in a:
        assert c.key in kb and kb[c.key].seed == c.seed
    # the seed is a function of (base seed, configuration hash, replicate) only
    for c in b:
        assert c.seed == cell_seed(7, config_hash(c.values), c.replicate)
    # another base seed changes every seed
    c_other = plan(small_spec(tmp_path, lrs=(0.01, 0.02), rvs=(1,), seeds=2, seed=8,
                              name="c.toml"))
    assert not {c.seed for c in a} & {c.seed for c in c_other}


def test_adding_an_axis_value_leaves_existing_cells_bit_identical(tmp_path):
    sa = small_spec(tmp_path, lrs=(0.01, 0.02), rvs=(1,), seeds=2, name="a.toml")
    sb = small_spec(tmp_path, lrs=(0.01, 0.03, 0.02), rvs=(1,), seeds=2, name="b.toml")
    ra = run_sweep(sa, tmp_path / "A", InlineExecutor())
    rb = run_sweep(sb, tmp_path / "B", InlineExecutor())
    assert ra.ok and rb.ok and (ra.done, rb.done) == (4, 6)
    ca, cb = load_cells(tmp_path / "A"), load_cells(tmp_path / "B")
    assert set(ca) < set(cb)
    for k in ca:
        assert same_trajectories(ca[k], cb[k])
    # the replicates are genuinely different runs (different seeds, different trajectories)
    assert len({v.metrics["gap"].tobytes() for v in cb.values()}) == len(cb)


def test_a_cell_equals_hdo_theory_run_with_its_options_and_seed(tmp_path):
    """Two routes to one number: the sweep cell, and `hdo-theory run`'s own option resolution
    plus `simulate` with the cell's seed."""
    from hdo_theory.commands.run import build, resolve_options
    from hdo_theory.process import simulate

    # two cells with one objective: a worker builds the objective (and its constants) once
    # and reuses it; that must not change a bit
    spec = small_spec(tmp_path, lrs=(0.02, 0.03), rvs=(4,), seeds=1)
    cells = plan(spec)
    run_sweep(spec, tmp_path / "S", InlineExecutor())
    for cell in cells:
        got = Results.load(tmp_path / "S" / "cells" / f"{cell.key}.npz")
        values = resolve_options(argparse.Namespace(
            objective="least-squares", d=3, n=4, T=50, zo_lr=cell.point["zo_lr"], zo_rv=4,
            replicas=1))
        obj, cfg = build(values)  # a fresh objective
        want = simulate(obj, cfg, replicas=1, seed=cell.seed)
        assert same_trajectories(got, want)
        meta = got.info["sweep_cell"]
        assert meta["seed"] == cell.seed and meta["options"] == cell.values
        assert {"hdo_theory", "numpy", "numba", "python"} <= set(meta["versions"])


# ---------------------------------------------------------------------------------------------
# bad input: key and line named, exit 2, nothing started
# ---------------------------------------------------------------------------------------------

BAD = [
    # (text, the line that must be named (1-based, by marker), words the message must hold)
    ('[base]\nd = 3\nzo_lrr = 0.1  # <-\n', ["unknown option 'zo_lrr'", "did you mean 'zo_lr'"]),
    ('[base]\nd = "three"  # <-\n', ["d must be an integer", "'three'"]),
    ('[base]\nd = 3\n[axes]\nT = [40]\nzo_lr = []  # <-\n', ["axis 'zo_lr' is empty"]),
    ('[axes]\nn0 = [1, 2]\n[axes.zo]\nrv = [1, "x"]  # <-\n', ["zo_rv must be an integer"]),
    ('[axes]\nd = 3  # <-\n', ["axis must be a list"]),
    ('[sweep]\nseeds = 2\nbasee = 1  # <-\n', ["unknown key 'basee'"]),
    ('[sweep]\nseeds = 0  # <-\n', ["seeds must be an integer in [1, 1000000]"]),
    ('[sweep]\nmetrics = ["gap", "gamm"]  # <-\n', ["'gamm' is not a metric"]),
    ('[base]\nseed = 3  # <-\n', ["'seed' cannot be set in a sweep", "[sweep] seed"]),
    ('[base.zoo]  # <-\nlr = 0.1\n', ["unknown table [base.zoo]", "did you mean 'zo'"]),
    ('[base]\nzo_lr = 0.1\n[axes.zo]\nlr = [0.1, 0.2]  # <-\n', ["both in [base] and in [axes]"]),
    ('[axes]\nzo_lr = [0.1, 0.1]  # <-\n', ["repeats the value"]),
]


@pytest.mark.parametrize("text,words", BAD)
def test_bad_spec_names_key_and_line(tmp_path, capsys, text, words):
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s.endswith("# <-"))
    p = write_spec(tmp_path, text)
    with pytest.raises(HDOInputError) as exc:
        load_spec(p)
    msg = str(exc.value)
    assert f"line {line}:" in msg, msg
    for w in words:
        assert w in msg, msg
    assert "\n" not in msg
    # the CLI turns it into one line on stderr and exit status 2, before creating anything
    out = tmp_path / "out"
    assert cli.main(["sweep", str(p), "--out", str(out), "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hdo-theory sweep: error:") and f"line {line}" in err
    assert not out.exists()


def test_config_error_is_found_before_any_cell_starts(tmp_path, capsys):
    # the second value is invalid only once combined with the base (warmup <= T, a check in
    # the process config); the first would have been fine: no cell may run at all
    p = write_spec(tmp_path, "[sweep]\nseeds = 2\n" + BASE.format(T=50)
                   + "[axes]\nwarmup = [10, 100]\n")
    with pytest.raises(HDOInputError,
                       match=r"configuration warmup=100: warmup must be an integer in \[0, 50\]"):
        plan(load_spec(p))
    out = tmp_path / "out"
    assert cli.main(["sweep", str(p), "--out", str(out), "--workers", "0"]) == 2
    assert "warmup=100" in capsys.readouterr().err
    assert not out.exists()
    # a value out of its range on its own (lr >= 0) is reported when the file is read, with
    # its line, by the option schema shared with `run` (before the redesign: at plan time)
    p1 = write_spec(tmp_path, "[sweep]\nseeds = 2\n" + BASE.format(T=50)
                    + "[axes]\nzo_lr = [0.01, -0.5]\n", "a.toml")
    with pytest.raises(HDOInputError, match=r"a.toml, line 9: \[axes\] zo_lr: zo_lr must be >= 0"):
        load_spec(p1)
    assert cli.main(["sweep", str(p1), "--out", str(out), "--workers", "0"]) == 2
    assert "zo_lr must be >= 0, got -0.5" in capsys.readouterr().err
    assert not out.exists()
    p2 = write_spec(tmp_path, '[base]\nd = 3\nn = 4\nT = 50\n[axes]\nobjective = '
                    '["least-squares", "breast-cancer"]\n', "b.toml")
    with pytest.raises(HDOInputError, match="objective='breast-cancer': d is fixed to 31"):
        plan(load_spec(p2))
    p3 = write_spec(tmp_path, '[base]\nd = 3\nn = 4\nT = 50\n[axes]\nobjective = '
                    '["least-squares", "logistik"]\n', "c.toml")
    with pytest.raises(HDOInputError, match=r"c.toml, line 6: \[axes\] objective: objective "
                                            r"must be one of .*; got 'logistik' \(did you mean "
                                            r"'logistic'\?\)"):
        load_spec(p3)


def test_unreachable_scheduler_fails_fast(tmp_path, capsys):
    pytest.importorskip("distributed")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = small_spec(tmp_path, lrs=(0.01,), rvs=(1,), seeds=1)
    code = cli.main(["sweep", spec.source, "--out", str(tmp_path / "o"), "--scheduler",
                     f"tcp://127.0.0.1:{port}", "--scheduler-timeout", "30",
                     "--no-progress"])
    err = capsys.readouterr().err
    # the TCP probe's message (refused at once), not the Dask client's (after the timeout)
    assert code == 2, err
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}: " in err, err
    assert "is `dask scheduler` running there and the port open?" in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


def test_folder_with_a_different_sweep_is_refused_unless_force(tmp_path, capsys):
    sa = small_spec(tmp_path, lrs=(0.01, 0.02), rvs=(1,), seeds=1, name="a.toml")
    sb = small_spec(tmp_path, lrs=(0.02, 0.03), rvs=(1,), seeds=1, name="b.toml")
    out = tmp_path / "out"
    assert run_sweep(sa, out, InlineExecutor()).done == 2
    with pytest.raises(HDOInputError, match="holds a different sweep.*--force"):
        run_sweep(sb, out, InlineExecutor())
    assert cli.main(["sweep", sb.source, "--out", str(out), "--workers", "0",
                     "--no-progress"]) == 2
    assert "different sweep" in capsys.readouterr().err
    rep = run_sweep(sb, out, InlineExecutor(), force=True)
    assert (rep.already, rep.done) == (1, 2)  # the shared cell (zo_lr=0.02) was reused
    # a non-empty folder that holds no sweep, and --resume of nothing
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(HDOInputError, match="holds no sweep"):
        run_sweep(sa, other, InlineExecutor())
    with pytest.raises(HDOInputError, match="--resume"):
        run_sweep(sa, tmp_path / "empty", InlineExecutor(), resume=True)
    assert not (tmp_path / "empty").exists() or not any((tmp_path / "empty").iterdir())


def test_rerun_skips_finished_cells_and_trusts_cell_files(tmp_path):
    spec = small_spec(tmp_path, lrs=(0.01, 0.02), rvs=(1, 4), seeds=1)
    out = tmp_path / "out"
    assert run_sweep(spec, out, InlineExecutor()).done == 4
    before = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.npz")}
    store = SweepStore(out)
    keys = sorted(before)
    # a kill between writing a cell file and its status file: the cell file is the proof
    (out / "status" / keys[0].replace(".npz", ".json")).unlink()
    # a lost cell file: the cell is pending again, whatever its status file says
    (out / "cells" / keys[1]).unlink()
    rep = run_sweep(spec, out, InlineExecutor(), resume=True)
    assert (rep.already, rep.done, rep.total - rep.already) == (3, 4, 1)
    after = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.npz")}
    assert {k for k in before if before[k] != after.get(k)} == {keys[1]}
    st = store.read_status(keys[0].replace(".npz", ""))
    assert st["status"] == "done" and "recovered" in st


# ---------------------------------------------------------------------------------------------
# retries, failures, dead workers (local pool)
# ---------------------------------------------------------------------------------------------

FAULTS = {0.011: "raise-once", 0.012: "raise-always", 0.013: "die-once", 0.014: "die-always"}


def faulty_cell(marker_dir: str, task):
    """A cell function with injected faults, chosen by the cell's zo_lr (runs in workers)."""
    fault = FAULTS.get(task.values["zo_lr"])
    marker = Path(marker_dir) / f"{task.key}.seen"
    first = not marker.exists()
    marker.touch()
    if fault == "raise-always" or (fault == "raise-once" and first):
        raise RuntimeError(f"injected fault in {task.key}")
    if fault == "die-always" or (fault == "die-once" and first):
        os._exit(7)  # the worker process dies without a word
    return run_cell(task)


def test_local_pool_retries_then_records_failures_and_goes_on(tmp_path):
    """Raising cells and dying workers on one pool. The two kinds are in separate sweeps: a dead
    worker breaks the whole pool and kills the cells running beside it, which would make the
    attempt counts of the raising cells depend on timing."""
    markers = tmp_path / "markers"
    markers.mkdir()
    fn = functools.partial(faulty_cell, str(markers))
    s_raise = small_spec(tmp_path, lrs=(0.01, 0.011, 0.012, 0.02), rvs=(1,), seeds=1,
                         extra="retries = 1", name="raise.toml")
    s_die = small_spec(tmp_path, lrs=(0.01, 0.013, 0.014, 0.02), rvs=(1,), seeds=1,
                       extra="retries = 1", name="die.toml")
    with LocalPoolExecutor(2) as ex:
        r_raise = run_sweep(s_raise, tmp_path / "raise", ex, cell_fn=fn)
        r_die = run_sweep(s_die, tmp_path / "die", ex, cell_fn=fn)
    assert (r_raise.done, r_raise.failed, r_raise.pending) == (3, 1, 0)
    assert (r_die.done, r_die.failed, r_die.pending) == (3, 1, 0)

    def statuses(spec, out):
        store = SweepStore(out)
        return {c.point["zo_lr"]: store.read_status(c.key) for c in plan(spec)}

    st = statuses(s_raise, tmp_path / "raise")
    assert st[0.011]["status"] == "done" and st[0.011]["attempts"] == 2
    assert st[0.012]["status"] == "failed" and st[0.012]["attempts"] == 2  # 1 + retries
    assert "RuntimeError: injected fault" in st[0.012]["error"]
    assert "Traceback" in st[0.012]["traceback"] and "faulty_cell" in st[0.012]["traceback"]
    st = statuses(s_die, tmp_path / "die")
    assert st[0.013]["status"] == "done"
    # a death is charged only to a cell that ran alone, so the culprit is certain
    assert st[0.014]["status"] == "failed" and st[0.014]["attempts"] == 2
    assert "worker died" in st[0.014]["error"]
    index = json.loads((tmp_path / "die" / "index.json").read_text())
    assert index["counts"] == {"done": 3, "failed": 1}

    # the cells that finished are exactly the clean run's cells
    for spec, name, bad in ((s_raise, "raise", 0.012), (s_die, "die", 0.014)):
        ref = tmp_path / f"ref-{name}"
        run_sweep(spec, ref, InlineExecutor())
        got, want = load_cells(tmp_path / name), load_cells(ref)
        assert set(got) == {c.key for c in plan(spec) if c.point["zo_lr"] != bad}
        for k in got:
            assert same_trajectories(got[k], want[k])
        # re-running retries only the failed cell (fresh budget; this time without faults)
        rep = run_sweep(spec, tmp_path / name, InlineExecutor())
        assert (rep.already, rep.done, rep.failed) == (3, 4, 0)
        got = load_cells(tmp_path / name)
        assert set(got) == set(want) and all(same_trajectories(got[k], want[k]) for k in want)


def test_diverged_cells_are_kept_recorded_and_not_rerun(tmp_path):
    spec = load_spec(write_spec(tmp_path, "[sweep]\nseeds = 1\n" + BASE.format(T=50)
                                + "divergence_threshold = 100.0\n"
                                + "[axes]\nzo_lr = [0.01, 1000.0]\n"
                                + "[axes.fo]\nlr = [0.01, 1000.0]\n"))
    out = tmp_path / "o"
    rep = run_sweep(spec, out, InlineExecutor())
    assert (rep.done, rep.diverged, rep.failed) == (1, 3, 0) and rep.ok
    cells = load_cells(out)
    div = {k for k, r in cells.items() if r.n_diverged}
    assert len(cells) == 4 and len(div) == 3
    store = SweepStore(out)
    assert {k for k in cells if store.read_status(k)["status"] == "diverged"} == div
    rep2 = run_sweep(spec, out, InlineExecutor())
    assert (rep2.already, rep2.diverged) == (4, 3)
    table = read_table(collect(out, fmt="csv").path)
    assert {c for c, st in zip(table["cell"], table["status"], strict=True)
            if st == "diverged"} == div


def test_input_errors_inside_a_cell_are_not_retried(tmp_path):
    # batch larger than a shard is only found by simulate: deterministic, so no retry
    spec = load_spec(write_spec(tmp_path, "[sweep]\nretries = 3\n" + BASE.format(T=50)
                                + "[axes.fo]\nbatch = [1, 1000]\n"))
    rep = run_sweep(spec, tmp_path / "o", InlineExecutor())
    assert (rep.done, rep.failed) == (1, 1)
    (cell, err), = rep.failures
    assert "batch must be <=" in err and cell.point == {"fo_batch": 1000}
    assert SweepStore(tmp_path / "o").read_status(cell.key)["attempts"] == 1


# ---------------------------------------------------------------------------------------------
# SIGKILL in the middle, then resume: bit-identical to an uninterrupted run
# ---------------------------------------------------------------------------------------------


def _children(pid: int) -> set[int]:
    """All descendants of ``pid`` (from /proc)."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
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


def run_sweep_command(argv: list[str]) -> int:
    """`hdo-theory sweep ARGV` without building the parsers of every other command (whose
    imports take seconds); same module, same code path."""
    from hdo_theory.commands import sweep as command

    p = argparse.ArgumentParser()
    command.add_arguments(p)
    return command.run(p.parse_args(argv))


DRIVER = """
import argparse, sys
from hdo_theory.commands import sweep
p = argparse.ArgumentParser()
sweep.add_arguments(p)
sys.exit(sweep.run(p.parse_args(sys.argv[1:])))
"""


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_sigkill_mid_sweep_then_resume_is_bit_identical(tmp_path, capsys):
    spec_path = write_spec(tmp_path, "[sweep]\nseed = 3\nseeds = 4\n" + BASE.format(T=5000)
                           + "[axes]\nzo_lr = [0.01, 0.02, 0.03]\n[axes.zo]\nrv = [1, 2]\n")
    total = 24
    out = tmp_path / "killed"
    args = [str(spec_path), "--out", str(out), "--workers", "1", "--no-progress"]
    # the sweep command itself, without `hdo-theory`'s import of every other command (seconds)
    cmd = [sys.executable, "-c", DRIVER, *args]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 300
        n = 0
        while time.monotonic() < deadline and proc.poll() is None:
            n = len(list((out / "cells").glob("*.npz"))) if (out / "cells").exists() else 0
            workers |= _children(proc.pid)
            if n >= 3:
                break
            time.sleep(0.01)
        assert proc.poll() is None, proc.stderr.read().decode()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    at_kill = len(list((out / "cells").glob("*.npz")))
    assert 3 <= at_kill < total  # killed in the middle
    # the pool's processes notice that the driver is gone and exit by themselves
    t0 = time.monotonic()
    while any(_alive(p) for p in workers) and time.monotonic() - t0 < 20:
        time.sleep(0.1)
    left = [p for p in workers if _alive(p)]
    for p in left:  # never leave our own processes behind, even when the test fails
        os.kill(p, signal.SIGKILL)
    assert not left, "orphaned worker processes survived the driver"
    # resume to the end: the same command, in this process
    assert run_sweep_command([*args, "--resume"]) == 0
    assert f"{total} cells: {total} done" in capsys.readouterr().out
    # an uninterrupted run of the same sweep, here in this process
    ref = tmp_path / "ref"
    run_sweep(load_spec(spec_path), ref, InlineExecutor())
    got, want = load_cells(out), load_cells(ref)
    assert set(got) == set(want) and len(got) == total
    for k in want:
        assert same_trajectories(got[k], want[k]), k


# ---------------------------------------------------------------------------------------------
# Dask
# ---------------------------------------------------------------------------------------------


def test_dask_local_cluster_equals_local_pool_cell_for_cell(tmp_path):
    distributed = pytest.importorskip("distributed")
    from hdo_theory.runs.sweep import DaskExecutor

    spec = small_spec(tmp_path, lrs=(0.01, 0.02), rvs=(1, 4), seeds=2)
    with LocalPoolExecutor(2) as ex:
        rp = run_sweep(spec, tmp_path / "pool", ex)
    # threads in this process: starts in about a second; the cells still travel through the
    # scheduler and the executor interface exactly as on a remote cluster
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with DaskExecutor(cluster.scheduler_address, timeout=30) as ex:
            assert ex.workers == 2 and not ex.shared_filesystem
            rd = run_sweep(spec, tmp_path / "dask", ex)  # results travel to the driver
        with DaskExecutor(cluster.scheduler_address, timeout=30, shared_filesystem=True) as ex:
            rf = run_sweep(spec, tmp_path / "dask-fs", ex)  # workers write the cell files
    assert rp.ok and rd.ok and rf.ok and rp.done == rd.done == rf.done == 8
    a = load_cells(tmp_path / "pool")
    assert len(a) == 8
    for other in ("dask", "dask-fs"):
        b = load_cells(tmp_path / other)
        assert set(a) == set(b)
        for k in a:
            assert same_trajectories(a[k], b[k])


# ---------------------------------------------------------------------------------------------
# collect
# ---------------------------------------------------------------------------------------------


def _check_table(cols: dict, cells_dir: Path, metrics, final_only: bool, as_text: bool):
    conv = (lambda v: float(v)) if as_text else (lambda v: v)
    res = {p.stem: Results.load(p) for p in cells_dir.glob("*.npz")}
    n_rec = next(iter(res.values())).t.shape[0]
    per = 1 if final_only else n_rec
    assert len(cols["cell"]) == len(res) * 1 * len(metrics) * per
    assert set(cols["metric"]) == set(metrics)
    for i in range(len(cols["cell"])):
        r = res[cols["cell"][i]]
        t = int(cols["t"][i])
        j = int(np.searchsorted(r.t, t))
        want = r.metrics[cols["metric"][i]][int(cols["replica"][i]), j]
        got = conv(cols["value"][i])
        assert (math.isnan(want) and math.isnan(got)) or got == want  # exact round trip
        assert float(cols["zo_lr"][i]) == r.info["sweep_cell"]["options"]["zo_lr"]
        assert int(cols["seed"][i]) == r.seed
        if final_only:
            assert j == r.t.shape[0] - 1


def test_collect_long_table_csv_and_parquet(tmp_path, capsys):
    spec = small_spec(tmp_path, lrs=(0.01, 0.02), rvs=(1, 4), seeds=2,
                      extra='metrics = ["gap", "gamma"]')
    out = tmp_path / "out"
    run_sweep(spec, out, InlineExecutor())
    assert cli.main(["sweep", "collect", str(out), "--format", "csv"]) == 0
    assert "collected 8 cells" in capsys.readouterr().out
    cols = read_table(out / "sweep.csv")
    for name in ("cell", "replicate", "seed", "zo_lr", "zo_rv", "status", "replica", "t",
                 "interactions", "parallel_time", "metric", "value", "wall_time_s", "host",
                 "version", "numpy_version", "numba_version", "python_version"):
        assert name in cols, name
    _check_table(cols, out / "cells", ["gap", "gamma"], False, True)
    rep = collect(out, fmt="csv", final_only=True, table=tmp_path / "final.csv")
    assert rep.rows == 8 * 2 and rep.cells == 8 and rep.missing == 0
    _check_table(read_table(tmp_path / "final.csv"), out / "cells", ["gap", "gamma"], True,
                 True)
    # flags of the other form are refused
    assert cli.main(["sweep", "collect", str(out), "--workers", "2"]) == 2
    assert cli.main(["sweep", "collect"]) == 2
    pytest.importorskip("pyarrow")
    rep = collect(out, fmt="parquet")
    assert rep.path.suffix == ".parquet"
    _check_table(read_table(rep.path), out / "cells", ["gap", "gamma"], False, False)


def test_hashes_and_seeds_are_pinned():
    """config_hash, cell_seed, cell_key, the spec fingerprint and a plan's keys and seeds,
    pinned to the values of the code before the sweep was split into modules (any change
    would orphan every stored cell)."""
    import tomllib

    from hdo_theory.runs.sweep import cell_key, parse_spec

    d = {"objective": "least-squares", "d": 3, "zo_lr": 0.1, "zo_nu": "theorem", "record": "log",
         "lemma2": False, "ell": None, "condition": 1e-300, "seed": 5, "out": "x.npz",
         "threads": 2, "no_progress": True}
    h = config_hash(d)
    assert h == "1f65b37376b15ea8b239248456c32bfd52b588a3879c1ff7608e51e5764f3629"
    assert cell_seed(7, h, 3) == 7047912448264815593
    assert cell_key(h, 7047912448264815593) == "77144afd1cc0b008ee5ceb63"
    text = BASE.format(T=50) + "[axes]\nzo_lr = [0.01, 0.02]\n[sweep]\nseed = 7\nseeds = 2\n"
    spec = parse_spec(tomllib.loads(text), text, "s.toml")
    assert spec.fingerprint() == "951b2da835d78f80"
    got = [(c.config_hash, c.seed, c.key) for c in plan(spec, validate=False)]
    h1 = "4faceba64d6ff9863e7c195d42a6e3f003df9f7387562aa8d5c1336d594bedac"
    h2 = "dbbf3cdd9e4252c52b7121537f183bce365183cf214c937b7645e8af82ae9fe8"
    assert got == [
        (h1, 3955616247514606780, "674f44202740fc79d2f73efe"),
        (h1, 6481803753315009833, "e2d3146508e770c6515805e2"),
        (h2, 6645735471015033935, "1c0aff5e057579b135d3c6f7"),
        (h2, 839828478900916457, "80b9ea5fd5815a8b5230c023"),
    ]
