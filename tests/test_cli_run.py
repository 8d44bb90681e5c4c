"""``hdo-theory run``: options, TOML config, summary table, results file, bad input."""

import subprocess
import sys

import numpy as np
import pytest

from hdo_theory.cli import main
from hdo_theory.commands import run as run_cmd
from hdo_theory.process import simulate
from hdo_theory.process.results import Results

BASE = ["run", "--d", "3", "--n", "4", "--T", "200", "--replicas", "2", "--no-progress"]


def test_run_writes_results_and_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "r.npz"
    rc = main(BASE + ["--lemma2", "--record", "20", "--zo-rv", "2", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    for line in ("final f(mu_T) - f*", "last decade", "consensus Gamma_T", "diverged replicas"):
        assert line in text
    res = Results.load(out)
    assert res.R == 2 and res.t[-1] == 200 and res.t[1] == 20
    assert res.config["zo"]["estimator"]["rv"] == 2
    assert np.all(np.isfinite(res["mg"]))


def test_cli_equals_the_api(tmp_path):
    """Metamorphic: the file the CLI writes holds exactly what simulate() returns (its recorded
    metrics: the ones it did not record, all NaN, are not saved)."""
    args = BASE + ["--model", "matching", "--seed", "4", "--out", str(tmp_path / "c.npz")]
    assert main(args) == 0
    from hdo_theory.cli import build_parser

    values = run_cmd.resolve_options(build_parser().parse_args(args))
    obj, cfg = run_cmd.build(values)
    api = simulate(obj, cfg, replicas=2, seed=4)
    cli = Results.load(tmp_path / "c.npz")
    assert cli.names == api.recorded and len(api.recorded) < len(api.metrics)
    for k in api.recorded:
        assert api[k].tobytes() == cli[k].tobytes()


def test_toml_config_with_tables_and_command_line_override(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        'T = 150\nmodel = "graph"\n[objective]\nobjective = "logistic"\nd = 3\nn0 = 2\nn1 = 3\n'
        '[process]\ntopology = "ring"\nrecord = "log"\nrecord_points = 10\n'
        '[zo]\nestimator = "zo-central"\nlr = 0.02\nnu = "theorem"\n'
        "[fo]\nbatch = 2\n[run]\nreplicas = 3\nno_progress = true\n"
        f'out = "{tmp_path / "t.npz"}"\n'
    )
    assert main(["run", "--config", str(cfg), "--T", "120"]) == 0
    res = Results.load(tmp_path / "t.npz")
    c = res.config
    assert res.t[-1] == 120 and res.R == 3  # the command line wins over the file
    assert c["model"] == "graph" and c["topology"] == "ring"
    assert c["zo"]["estimator"]["kind"] == "zo-central" and c["zo"]["estimator"]["nu"] == "theorem"
    assert res.info["nu_zo"] == pytest.approx(0.02 / np.sqrt(3))
    assert c["fo"]["estimator"]["batch"] == 2 and res.objective_meta["name"] == "logistic"
    assert res.info["n"] == 5 and res.info["spectral_gap"] == pytest.approx(
        (2 - 2 * np.cos(2 * np.pi / 5)) / 10
    )


@pytest.mark.parametrize(
    "extra, word",
    [
        (["--model", "gossip"], "model"),
        (["--n", "6", "--n0", "2", "--n1", "3"], "n0 + n1"),
        (["--n", "1"], "n must"),
        (["--zo-lr", "-1"], "lr"),
        (["--T", "0"], "T must"),
        (["--record", "sometimes"], "record"),
        (["--zo-nu", "wide"], "nu"),
        (["--zo-estimator", "magic"], "estimator"),
        (["--fo-batch", "100000"], "fo_batch"),
        (
            ["--model", "graph", "--topology", "erdos-renyi", "--p", "0.01", "--n", "20"],
            "disconnected",
        ),
        (["--objective", "cosine-wells", "--schedule", "theorem-convex"], "ell"),
        (["--schedule", "linear"], "schedule"),
        (["--out", "r.csv"], "out"),
    ],
)
def test_bad_input_is_one_line_naming_the_parameter(extra, word, capsys, tmp_path):
    args = BASE + ["--out", str(tmp_path / "x.npz")] + extra
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and word in err and "Traceback" not in err


@pytest.mark.parametrize(
    "toml, word",
    [
        ("bogus = 1\n", "bogus"),
        ("T = 'many'\n", "T must be an integer"),
        ("[weird]\nx = 1\n", "weird"),
        ("T = \n", "config file"),
    ],
)
def test_bad_toml(tmp_path, capsys, toml, word):
    f = tmp_path / "c.toml"
    f.write_text(toml)
    assert main(["run", "--config", str(f), "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and word in err


def test_real_entry_point_exits_2_without_traceback(tmp_path):
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "hdo_theory.cli",
            "run",
            "--model",
            "nope",
            "--out",
            str(tmp_path / "x.npz"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert "model" in p.stderr


def test_summary_with_diverged_replicas_says_what_each_statistic_covers(tmp_path, capsys):
    """A learning rate of 1.3 on this problem diverges 7 of 8 replicas (at known steps)."""
    out = tmp_path / "div.npz"
    argv = ["run", "--objective", "least-squares", "--d", "3", "--n0", "2", "--n1", "2",
            "--zo-lr", "1.3", "--fo-lr", "1.3", "--T", "400", "--replicas", "8", "--seed", "1",
            "--divergence-threshold", "1e6", "--no-node-losses", "--no-progress",
            "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    res = Results.load(out)
    steps = sorted(int(s) for s in res.diverged_at if s >= 0)
    k = res.R - len(steps)
    assert 0 < len(steps) < res.R  # some, not all, diverged
    lines = {ln.split("  ")[0]: ln for ln in text.splitlines()}
    gap = next(ln for ln in text.splitlines() if ln.startswith("final f(mu_T) - f*"))
    assert f"(mean, {k} of {res.R} replicas)" in gap
    rate = next(ln for ln in text.splitlines() if ln.startswith("rate of the gap"))
    assert f"{k} of {res.R} never-diverged replicas" in rate
    div = next(ln for ln in text.splitlines() if ln.startswith("diverged replicas"))
    assert div.endswith(f"{len(steps)} of {res.R}, at interactions "
                        + ", ".join(map(str, steps)))
    assert "(not recorded)" in lines["final loss spread across nodes"]
    assert res.summary()["diverged_at"] == steps
