"""One-line errors (exit status 2, no traceback) for environment and size problems in the CLI.

An output folder that cannot be written must be reported *before* any simulation runs; OS
errors and MemoryError anywhere in a command become one line; sizes (T, records) and a ``d``
that a real data set fixes are refused naming the parameter.
"""

from __future__ import annotations

import errno
import json

import pytest

from hdo_theory.cli import main
from hdo_theory.commands import run as run_cmd
from hdo_theory.errors import HDOInputError
from hdo_theory.objectives import REAL_DATA_SHAPES, make_objective
from hdo_theory.process import MAX_RECORDS, MAX_T, _check_n_records, record_steps

RUN = ["run", "--d", "3", "--n", "4", "--T", "50", "--replicas", "1", "--no-progress"]
SWEEP = '[base]\nobjective = "least-squares"\nd = 3\nn = 4\nT = 50\n[axes]\nzo_lr = [0.01]\n'


def _one_line_error(capsys, argv, command: str) -> str:
    assert main(argv) == 2
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1, cap.err
    assert lines[0].startswith(f"hdo-theory {command}: error: "), cap.err
    assert "Traceback" not in cap.err
    return cap.out + lines[0]


@pytest.fixture
def blocked(tmp_path):
    """A path under a regular file: no folder can ever be made there (also when root)."""
    f = tmp_path / "a-file"
    f.write_text("not a folder")
    return f / "sub"


def test_run_refuses_an_unwritable_out_before_simulating(capsys, blocked):
    text = _one_line_error(capsys, RUN + ["--out", str(blocked / "r.npz")], "run")
    assert "out: cannot write to folder" in text
    assert "replicas=" not in text  # the banner printed just before simulating never came


def test_run_creates_the_out_folder_and_leaves_no_probe(tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "r.npz"
    assert main(RUN + ["--out", str(out)]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in out.parent.iterdir()) == ["r.npz"]


def test_figures_and_sweep_refuse_an_unwritable_out_before_any_work(tmp_path, capsys, blocked):
    text = _one_line_error(capsys, ["figures", "--only", "gamma", "--quick", "--out",
                                    str(blocked / "fig")], "figures")
    assert "out: cannot write to folder" in text
    spec = tmp_path / "s.toml"
    spec.write_text(SWEEP)
    text = _one_line_error(capsys, ["sweep", str(spec), "--out", str(blocked / "sw"),
                                    "--workers", "0", "--no-progress"], "sweep")
    assert "out: cannot write to folder" in text and "cells" not in text


def test_a_folder_given_as_a_file_says_so(tmp_path, capsys):
    text = _one_line_error(capsys, ["run", "--config", str(tmp_path)], "run")
    assert "config file" in text and "is not a file" in text  # same wording as sweep (read_toml)
    text = _one_line_error(capsys, ["sweep", str(tmp_path)], "sweep")
    assert "is not a file" in text and "does not exist" not in text
    text = _one_line_error(capsys, ["sweep", str(tmp_path / "missing.toml")], "sweep")
    assert "does not exist" in text


@pytest.mark.parametrize("exc, expected", [
    (OSError(errno.ENOSPC, "No space left on device", "/some/where.npz"),
     "error: No space left on device: /some/where.npz"),
    (PermissionError(errno.EACCES, "Permission denied"), "error: Permission denied"),
    (MemoryError("Unable to allocate 64. PiB"), "error: out of memory (Unable to allocate"),
    (MemoryError(), "error: out of memory"),
])
def test_os_and_memory_errors_become_one_line(monkeypatch, capsys, exc, expected):
    def boom(args):
        raise exc

    monkeypatch.setattr(run_cmd, "run", boom)  # build_parser() looks the command up per call
    assert expected in _one_line_error(capsys, ["run"], "run")


def test_huge_T_or_too_many_records_are_refused_naming_them(capsys, tmp_path):
    out = ["--out", str(tmp_path / "r.npz")]
    text = _one_line_error(capsys, RUN + ["--T", str(2**62), "--record", "1"] + out, "run")
    assert "T must be" in text and str(MAX_T) in text
    T = 10**9
    text = _one_line_error(capsys, RUN + ["--T", str(T), "--record", "1"] + out, "run")
    assert f"record=1 with T={T}" in text and str(MAX_RECORDS) in text
    assert not (tmp_path / "r.npz").exists()
    # the limit is exactly T // record + 2 <= MAX_RECORDS, and the suggested record meets it
    k = -(-T // (MAX_RECORDS - 2))
    assert T // k + 2 <= MAX_RECORDS < T // (k - 1) + 2
    assert f"use record >= {k}" in text
    with pytest.raises(HDOInputError, match="record=1"):
        record_steps(MAX_RECORDS - 1, 1)
    _check_n_records(MAX_RECORDS - 2, 1)  # the largest allowed T at record 1 (no 80 MB array)
    assert len(record_steps(MAX_T, "log", 50)) <= 50


@pytest.mark.parametrize("name", sorted(REAL_DATA_SHAPES))
def test_d_of_a_real_data_set_cannot_be_overridden(name):
    fixed = REAL_DATA_SHAPES[name][0]
    with pytest.raises(HDOInputError, match=rf"d is fixed to {fixed} by the {name} data set; "
                                            "omit --d"):
        make_objective(name, d=5, n0=2, n1=2)


def test_d_given_or_omitted(capsys):
    # omitted: the data set's d; given equal to it: the same objective; synthetic default 10
    a = make_objective("breast-cancer", n0=2, n1=2)
    b = make_objective("breast-cancer", d=REAL_DATA_SHAPES["breast-cancer"][0], n0=2, n1=2)
    assert a.d == b.d == REAL_DATA_SHAPES["breast-cancer"][0]
    x = a.random_point(3)
    assert a.value(x) == b.value(x) and a.n_samples == b.n_samples
    assert make_objective("least-squares", n0=2, n1=2).d == 10
    from hdo_theory.cli import build_parser

    for objective, d in (("breast-cancer", 31), ("least-squares", 10)):
        values = run_cmd.resolve_options(build_parser().parse_args(
            ["run", "--objective", objective]))
        assert values["d"] == d
        assert run_cmd.build(values)[0].d == d
    for cmd in (["run", "--objective", "breast-cancer", "--d", "5", "--no-progress"],
                ["estimator-stats", "--objective", "breast-cancer", "--d", "5"]):
        text = _one_line_error(capsys, cmd, cmd[0])
        assert "d is fixed to 31 by the breast-cancer data set; omit --d" in text


def test_estimator_stats_on_an_fo_node_states_its_population(capsys):
    argv = ["estimator-stats", "--objective", "quadratic", "--d", "3", "--n0", "0", "--n1", "2",
            "--draws", "16", "--ref-draws", "16", "--no-progress"]
    assert main(argv + ["--json"]) == 0
    c = json.loads(capsys.readouterr().out)["config"]
    assert (c["n0"], c["node"], c["node_is_zo"]) == (0, 0, False)
    assert main(argv) == 0
    assert "node 0 (FO," in capsys.readouterr().out


def test_a_command_module_that_fails_to_import_is_an_error_naming_it(monkeypatch):
    import sys

    from hdo_theory import cli

    name = "hdo_theory.commands.broken"
    monkeypatch.setitem(sys.modules, name, None)  # importing it raises ImportError
    monkeypatch.setattr(cli, "COMMAND_MODULES", cli.COMMAND_MODULES + ("broken",))
    with pytest.raises(ImportError, match=f"command module {name} failed to import") as exc:
        cli.build_parser()
    assert exc.value.name == name
    # a command module missing altogether is an error too (no longer skipped)
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("verify", "no_such_command"))
    with pytest.raises(ImportError, match="hdo_theory.commands.no_such_command failed"):
        cli.build_parser()


def test_run_refuses_an_out_that_is_a_folder_before_simulating(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "taken.npz"
    folder.mkdir()

    def no_simulation(*a, **k):  # the check must come first
        raise AssertionError("simulated before checking --out")

    monkeypatch.setattr("hdo_theory.process.simulate", no_simulation)
    text = _one_line_error(capsys, RUN + ["--out", str(folder)], "run")
    assert "out must be a .npz file path" in text and "folder" in text
    assert str(folder) in text and ".tmp" not in text
    assert "replicas=" not in text


def test_every_writer_creates_missing_parent_folders(tmp_path):
    from hdo_theory.atomic import atomic_file, write_text_atomic
    from hdo_theory.verification import report

    p = write_text_atomic(tmp_path / "a" / "b" / "x.txt", "hi")
    assert p.read_text() == "hi"
    with atomic_file(tmp_path / "c" / "d" / "y.bin", "wb") as fh:
        fh.write(b"1")
    assert (tmp_path / "c" / "d" / "y.bin").read_bytes() == b"1"

    from hdo_theory.verification.runner import VerifyResult

    empty = VerifyResult("quick", 0, 0.05, 0.05, [], {}, [], 0.0)
    paths = report.write_report(empty, tmp_path / "new" / "deeper")  # FileNotFoundError before
    assert all(p.is_file() for p in paths.values())
    blocked = tmp_path / "file"
    blocked.write_text("x")
    with pytest.raises(HDOInputError, match="out_dir: cannot write to folder"):
        report.write_report(empty, blocked / "sub")
