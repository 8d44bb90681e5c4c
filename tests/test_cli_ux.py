"""The command line's first contact: progress bars, --json, defaults in --help, completion."""

import argparse
import io
import json
import sys

import numpy as np
import pytest

from hdo_theory.cli import build_parser, main
from hdo_theory.commands import progress_wanted
from hdo_theory.process.results import Results

BASE = ["run", "--d", "3", "--n", "4", "--T", "200", "--replicas", "2"]


def _subparsers():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, sub.choices


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_forced_or_follows_the_terminal():
    assert progress_wanted(True, io.StringIO()) is True
    assert progress_wanted(False, _Tty()) is False
    assert progress_wanted(None, _Tty()) is True
    assert progress_wanted(None, io.StringIO()) is False  # a file or a pipe: no bar


def test_every_command_takes_progress_and_no_progress():
    _, cmds = _subparsers()
    for name, p in cmds.items():
        flags = {s for a in p._actions for s in a.option_strings}
        assert {"--progress", "--no-progress"} <= flags, name
        pos = ["collect", "x"] if name == "sweep" else []
        assert p.parse_args(pos + ["--no-progress"]).progress is False, name
        assert p.parse_args(pos + ["--progress"]).progress is True, name
        assert p.parse_args(pos).progress is None, name  # neither: follow the terminal


def test_every_help_shows_the_defaults():
    parser, cmds = _subparsers()
    for name, p in cmds.items():
        text = p.format_help()
        assert "--progress, --no-progress" in text, name
        for a in p._actions:
            if not a.option_strings or a.nargs == 0 or a.help == argparse.SUPPRESS:
                continue  # switches say what they switch from; positionals are required
            helptext = p._get_formatter()._expand_help(a) if a.help else ""
            assert "default" in helptext.lower(), f"{name} {a.option_strings[0]}: {helptext}"
        assert "(default: None)" not in text, name
    assert "register-python-argcomplete hdo-theory" in parser.format_help()


def test_run_json_prints_the_summary(tmp_path, capsys):
    out = tmp_path / "r.npz"
    assert main(BASE + ["--no-progress", "--json", "--out", str(out)]) == 0
    cap = capsys.readouterr()
    s = json.loads(cap.out)  # stdout is one JSON object, nothing else
    res = Results.load(out)
    assert s["R"] == 2 and s["T"] == 200 and s["out"] == str(out)
    assert s["final_gap"] == pytest.approx(float(res.mean("gap")[-1]), rel=1e-15)
    assert s["recorded"] == list(res.names) and s["step_unit"] == "interactions"
    assert "results written to" in cap.err


def test_simulate_progress_bar_counts_steps(capsys):
    from hdo_theory.commands.run import build, resolve_options
    from hdo_theory.process import simulate

    obj, cfg = build(resolve_options(argparse.Namespace(d=3, n=4, T=200, model="matching")))
    quiet = simulate(obj, cfg, replicas=3, seed=1, progress=False)
    loud = simulate(obj, cfg, replicas=3, seed=1, progress=True)
    err = capsys.readouterr().err
    assert "/600" in err and "rounds" in err and "chunk" not in err  # 3 replicas x 200 rounds
    for k in quiet.recorded:  # the bar changes nothing
        assert np.array_equal(quiet[k], loud[k], equal_nan=True)


def test_run_shows_no_bar_when_stderr_is_not_a_terminal(tmp_path, capsys):
    assert main(BASE + ["--out", str(tmp_path / "a.npz")]) == 0
    assert "interaction" not in capsys.readouterr().err
    assert main(BASE + ["--progress", "--out", str(tmp_path / "b.npz")]) == 0
    assert "/400" in capsys.readouterr().err  # forced on: 2 replicas x 200 interactions


def test_run_flags_come_from_the_schema_with_on_and_off():
    from hdo_theory.runs.options import all_options

    _, cmds = _subparsers()
    p = cmds["run"]
    flags = {s for a in p._actions for s in a.option_strings}
    for k in all_options():
        flag = "--T" if k == "T" else "--" + k.replace("_", "-")
        assert flag in flags, k
    assert {"--lemma2", "--no-lemma2", "--node-losses", "--keep-state"} <= flags
    assert p.parse_args(["--no-lemma2"]).lemma2 is False
    assert p.parse_args(["--node-losses"]).no_node_losses is False
    assert p.parse_args(["--no-node-losses"]).no_node_losses is True


def test_cli_works_without_argcomplete(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "argcomplete", None)  # import fails
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and "hdo-theory" in capsys.readouterr().out


def test_summary_table_of_a_loaded_file_says_not_recorded(tmp_path, capsys):
    from hdo_theory.commands.run import summary_table

    out = tmp_path / "r.npz"
    assert main(BASE + ["--no-progress", "--no-node-losses", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    res = Results.load(out)
    assert "loss_spread" not in res and "mg" not in res
    text = summary_table(res)
    line = next(ln for ln in text.splitlines() if ln.startswith("final loss spread"))
    assert "(not recorded)" in line and line in printed
