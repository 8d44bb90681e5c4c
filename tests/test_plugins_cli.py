"""The issue's "done when": a user in a folder outside the repository registers a claim (and an
estimator) from their own file and runs ``hdo-theory verify --plugin ...`` and
``estimator-stats --plugin ... --estimator my-est`` (subprocesses, as a user would); bad plugins
are one line and exit status 2 before any work, bad plugin claims are error records (exit 3)
and never hide the built-in claims' results."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hdo_theory import plugins
from hdo_theory.cli import main

ROOT = Path(__file__).resolve().parent.parent

MY_CLAIMS = '''
import numpy as np

from hdo_theory.verification import Record, claim


def my_bound(d):
    """My Lemma 7: E||u||^2 = d for u ~ N(0, I_d) (an exact identity, relation "eq")."""
    return float(d)


@claim("my.lemma", reference="My Lemma 7", bound="d")
def my_lemma(ctx):
    """E||u||^2 of standard Gaussian directions, by Monte Carlo"""
    u = ctx.rng("my.lemma").standard_normal((20_000, 5))
    sq = (u**2).sum(axis=1)
    half = 1.96 * sq.std(ddof=1) / np.sqrt(sq.size)  # the 95% CLT interval
    ci = (sq.mean() - half, sq.mean() + half)
    return [Record.from_interval("E||u||^2", sq.mean(), ci, my_bound(5), "d", relation="eq",
                                 n=sq.size, config={"d": 5})]
'''

BAD_CLAIMS = '''
import math
from hdo_theory.verification import Record, claim


@claim("my.nan", reference="My Lemma 8", bound="1")
def gives_nan(ctx):
    return [Record.from_interval("q", math.nan, (0.0, 1.0), 1.0, "1")]


@claim("my.raises", reference="My Lemma 9", bound="1")
def raises(ctx):
    raise ValueError("my claim has a bug")
'''

MY_EST = '''
import numba

from hdo_theory.estimators import batch_loss, register_estimator, standard_normals
from hdo_theory.verification import Record, claim


@numba.njit(cache=True)
def my_forward(obj, batch, x, rng, nu, rv, out, U, xtmp):
    """The forward difference (Definition 2), written as a plugin."""
    d = x.shape[0]
    u = U[0]
    out[:] = 0.0
    f0 = batch_loss(obj, batch, x)
    for _ in range(rv):
        standard_normals(rng, u)
        for k in range(d):
            xtmp[k] = x[k] + nu * u[k]
        coef = (batch_loss(obj, batch, xtmp) - f0) / (nu * rv)
        for k in range(d):
            out[k] += coef * u[k]
    return rv + 1


register_estimator("my-est", my_forward, zero_order=True, mean="grad f_nu")


@claim("my.est-bias", reference="My Lemma 10", bound="nu L sqrt(d)")
def my_est_bias(ctx):
    from hdo_theory.estimators import EstimatorSpec
    from hdo_theory.estimators.monte_carlo import estimator_stats
    from hdo_theory.objectives import make_objective

    obj = make_objective("logistic", d=4)
    res = estimator_stats(obj, 0, obj.random_point(0), EstimatorSpec("my-est", 1, 0.1), 4000,
                          ctx.seed_for("my.est-bias"))
    return [Record.from_stats(res, "bias", 0.1 * obj.constants.L * 2.0, "nu L sqrt(d)")]
'''


def _kernel_route() -> bool:
    """Whether ``register_estimator(name, kernel, ...)`` exists (the estimator-plugin route)."""
    from hdo_theory.estimators import register_estimator

    return "kernel" in inspect.signature(register_estimator).parameters


needs_kernel_route = pytest.mark.skipif(not _kernel_route(),
                                        reason="needs register_estimator kernel route")


def _cli(tmp_path, *argv, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(ROOT), HDO_THEORY_NO_ENTRY_POINTS="1")
    return subprocess.run([sys.executable, "-m", "hdo_theory.cli", *argv], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def user_dir(tmp_path):
    """A user's folder outside the repository holding their own plugin files."""
    assert ROOT not in tmp_path.parents
    (tmp_path / "my_claims.py").write_text(MY_CLAIMS)
    (tmp_path / "bad_claims.py").write_text(BAD_CLAIMS)
    (tmp_path / "my_est.py").write_text(MY_EST)
    return tmp_path


def test_verify_runs_a_users_claim_next_to_the_builtin_ones(user_dir):
    p = _cli(user_dir, "verify", "--plugin", "my_claims.py", "--plugin", "bad_claims.py",
             "--only", "my.lemma", "exact.pairwise", "my.nan", "my.raises", "--out", "rep",
             "--json", "--no-progress")
    assert p.returncode == 3, p.stderr  # claims raised errors: the project's status for that
    assert "2 claim(s) raised an error: my.nan, my.raises" in p.stderr
    report = json.loads(p.stdout)
    claims = {c["id"]: c for c in report["claims"]}
    mine = claims["my.lemma"]
    assert mine["family"] == "my_claims" and mine["verdict"] == "holds"
    (rec,) = mine["records"]
    assert rec["family"] == "my_claims" and rec["relation"] == "eq" and rec["bound"] == 5.0
    assert rec["level"] == 1 - 0.05 / 1  # its own family: one decided record
    builtin = claims["exact.pairwise"]
    assert builtin["family"] == "builtin" and builtin["error"] is None
    assert builtin["records"] and all(r["verdict"] == "holds" for r in builtin["records"])
    assert all(r["level"] == 1 - 0.05 / len(builtin["records"]) for r in builtin["records"])
    assert report["families"]["builtin"]["m"] == len(builtin["records"])
    assert "my_claims: m = 1" in report["correction_text"]
    errors = {e["claim"]: e for e in report["errors"]}
    assert "empirical value is nan" in errors["my.nan"]["message"]
    assert errors["my.raises"]["message"] == "my claim has a bug"
    assert errors["my.raises"]["family"] == "bad_claims"
    for name in ("report.md", "report.html", "report.json"):
        assert (user_dir / "rep" / name).is_file()  # written whatever the plugins did


@pytest.fixture
def clean_tables():
    from hdo_theory.estimators import ESTIMATORS
    from hdo_theory.objectives import OBJECTIVES
    from hdo_theory.verification import REGISTRY

    before = {id(t): set(t) for t in (REGISTRY, ESTIMATORS, OBJECTIVES)}
    loaded = dict(plugins._LOADED)
    yield
    for t in (REGISTRY, ESTIMATORS, OBJECTIVES):
        for k in [k for k in t if k not in before[id(t)]]:
            del t[k]
    plugins._LOADED.clear()
    plugins._LOADED.update(loaded)


@pytest.mark.parametrize("command", ["verify", "estimator-stats", "run", "sweep"])
@pytest.mark.parametrize("body,message", [
    (None, "file does not exist"),
    ("import math\nmath.sqrt(-1)\n", "does not import: ValueError: math domain error (line 2)"),
    ("from hdo_theory.verification import claim\n\n@claim('lemma5', reference='r', bound='b')\n"
     "def mine(ctx):\n    return []\n", "claim id 'lemma5' clashes with a built-in claim"),
])
def test_a_bad_plugin_is_one_line_and_status_2_before_any_work(tmp_path, capsys, monkeypatch,
                                                                clean_tables, command, body,
                                                                message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HDO_THEORY_NO_ENTRY_POINTS", "1")
    if body is not None:
        (tmp_path / "p.py").write_text(textwrap.dedent(body))
    args = {"sweep": ["s.toml"], "run": ["--T", "10"]}.get(command, [])
    assert main([command, "--plugin", "p.py", *args, "--out", str(tmp_path / "o")]) == 2
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in cap.err, cap.err
    assert lines[0].startswith(f"hdo-theory {command}: error: plugin p.py") and message in lines[0]
    assert not (tmp_path / "o").exists()  # nothing ran


def test_plugin_claims_are_listed_and_selected(tmp_path, capsys, monkeypatch, clean_tables):
    monkeypatch.setenv("HDO_THEORY_NO_ENTRY_POINTS", "1")
    (tmp_path / "my_claims.py").write_text(MY_CLAIMS)
    assert main(["verify", "--plugin", str(tmp_path / "my_claims.py"), "--list"]) == 0
    out = capsys.readouterr().out
    assert "my.lemma" in out and "[plugin my_claims]" in out and "lemma5" in out
    assert main(["verify", "--plugin", str(tmp_path / "my_claims.py"), "--only", "my.lemmax"]) == 2
    assert "unknown claim ID 'my.lemmax'" in capsys.readouterr().err


def test_help_lists_a_plugins_names(tmp_path, capsys, clean_tables):
    """The parser is built after the plugins load: --help shows their names as choices."""
    (tmp_path / "my_obj.py").write_text(
        "from dataclasses import replace\n"
        "from hdo_theory.objectives import objective_info, register_objective\n"
        "register_objective(replace(objective_info('least-squares'), name='my-ls'))\n")
    for command in ("estimator-stats",):
        with pytest.raises(SystemExit):
            main([command, "--plugin", str(tmp_path / "my_obj.py"), "--help"])
        assert "my-ls" in capsys.readouterr().out


@needs_kernel_route
def test_a_users_estimator_through_estimator_stats_and_verify(user_dir):
    p = _cli(user_dir, "estimator-stats", "--plugin", "my_est.py", "--estimator", "my-est",
             "--objective", "quadratic", "--d", "4", "--draws", "4000", "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["config"]["estimator"] == "my-est"
    assert res["config"]["plugins"] == [str((user_dir / "my_est.py").resolve())]
    # on a quadratic grad f_nu = grad f: the exact bias is 0 and must be inside the ball
    assert res["bias"]["ci"][0] == 0.0
    v = _cli(user_dir, "verify", "--plugin", "my_est.py", "--only", "my.est-bias", "--out", "r2",
             "--json", "--no-progress")
    assert v.returncode == 0, v.stderr
    (c,) = json.loads(v.stdout)["claims"]
    assert c["family"] == "my_est" and c["verdict"] == "holds"


MY_OBJ = """
from dataclasses import replace
from hdo_theory.objectives import objective_info, register_objective
register_objective(replace(objective_info("least-squares"), name="my-ls"))
"""


def test_a_sweep_names_its_plugins_and_its_workers_load_them(tmp_path, capsys, monkeypatch,
                                                              clean_tables):
    """``plugins = [...]`` relative to the sweep file; the local pool's workers start from a
    clean forkserver, so a cell on the plugin objective runs only if the worker loaded it; the
    list is stored in sweep.json and a resume finds the same."""
    import numpy as np

    monkeypatch.setenv("HDO_THEORY_NO_ENTRY_POINTS", "1")
    sub = tmp_path / "study"
    sub.mkdir()
    (sub / "my_obj.py").write_text(MY_OBJ)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((16, 2))
    np.savez(sub / "mine.npz", X=A, y=A @ [1.0, -1.0])
    (sub / "s.toml").write_text('plugins = ["my_obj.py"]\n[base]\nd = 3\nn = 4\nT = 20\n'
                                '[axes]\nobjective = ["my-ls", "least-squares"]\n')
    monkeypatch.chdir(tmp_path)  # not the sweep file's folder: paths are relative to the file
    assert main(["sweep", "study/s.toml", "--workers", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 cells: 2 done" in out, out
    meta = json.loads((sub / "s-sweep" / "sweep.json").read_text())
    assert meta["spec"]["plugins"] == [str((sub / "my_obj.py").resolve())]
    assert main(["sweep", "study/s.toml", "--resume", "--workers", "0", "--no-progress"]) == 0
    assert "2 already finished" in capsys.readouterr().out
    # a run config file's data path is relative to it too
    (sub / "r.toml").write_text('data = "mine.npz"\nT = 20\nn = 4\n')
    assert main(["run", "--config", "study/r.toml", "--out", "r.npz", "--no-progress"]) == 0
    assert "least-squares on mine.npz (d=2" in capsys.readouterr().out
