"""``hdo-theory estimator-stats``: the acceptance run, JSON / table output, reproducibility,
and one-line errors (exit status 2, no traceback) for bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from hdo_theory.cli import main

ACCEPT = ["estimator-stats", "--objective", "quadratic", "--estimator", "zo-forward",
          "--d", "50", "--nu", "0.1", "--draws", "200000", "--json"]


def _run_json(capsys, argv):
    assert main(argv) == 0
    out = capsys.readouterr().out
    return json.loads(out, parse_constant=_reject)  # strict JSON: no NaN / Infinity


def _reject(name):
    raise AssertionError(f"non-standard JSON constant {name}")


def test_acceptance_second_moment_exact_in_ci_and_under_lemma5(capsys):
    # The default 95% CLT interval covers the exact value with probability 0.95 for a random
    # seed; with the fixed seed 0 this is a deterministic regression check of the whole chain
    # (kernel, minibatch sampling, unconditional closed form, Lemma 5 bound, CLI defaults).
    r = _run_json(capsys, ACCEPT)
    c = r["config"]
    assert (c["n0"], c["n1"], c["batch"], c["node"], c["shard_size"]) == (4, 4, 1, 0, 50)
    e = r["second_moment"]
    assert e["ci"][0] <= e["exact"] <= e["ci"][1]
    assert e["bound_name"].startswith("Lemma 5 (6)")
    assert e["ci"][1] < e["bound"]
    assert e["ratio_ci"][1] < 1.0
    assert r["point"]["s_sq"] > 0  # the exact value includes the minibatch noise
    assert r["config"]["draws"] == 200_000 and r["config"]["seed"] == 0


def test_json_is_reproducible_from_the_seeds(capsys):
    argv = ["estimator-stats", "--objective", "logistic", "--estimator", "zo-sphere", "--d",
            "4", "--nu", "0.2", "--rv", "2", "--batch", "3", "--draws", "2000", "--seed", "7",
            "--point-seed", "3", "--ref-draws", "500", "--json"]
    a = _run_json(capsys, argv)
    b = _run_json(capsys, argv)
    a.pop("elapsed_seconds")
    b.pop("elapsed_seconds")
    assert a == b
    assert a["config"]["point_seed"] == 3
    assert a["bias_vs_target"]["target_source"].startswith("monte carlo")
    assert a["second_moment"]["exact"] is None  # no closed form for the sphere on logistic


def test_table_output(capsys):
    assert main(["estimator-stats", "--objective", "cosine-wells", "--estimator", "coord-fd",
                 "--d", "3", "--nu", "0.01", "--draws", "200"]) == 0
    out = capsys.readouterr().out
    for label in ("E||G||^2", "E||G - grad f^i||^2", "95% CI", "bound", "central differences"):
        assert label in out
    assert not out.lstrip().startswith("{")


def test_nu_theorem_uses_eta(capsys):
    r = _run_json(capsys, ["estimator-stats", "--d", "4", "--nu", "theorem", "--eta", "0.2",
                           "--draws", "100", "--json"])
    assert r["config"]["nu"] == pytest.approx(0.2 / math.sqrt(4))


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--d", "0"], "d must be"),
        (["--nu", "0"], "nu must be"),
        (["--nu", "-1"], "nu must be"),
        (["--nu", "nan"], "nu must be"),
        (["--nu", "inf"], "nu must be"),
        (["--rv", "0"], "rv must be"),
        (["--batch", "17"], "batch"),
        (["--objective", "nope"], "objective must be one of"),
        (["--estimator", "nope"], "estimator must be one of"),
        (["--node", "8"], "node must be"),
        (["--node", "-1"], "node must be"),
        (["--draws", "5"], "draws must be"),
        (["--n0", "1", "--n1", "0"], "n0 + n1"),
        (["--nu", "theorem"], "eta"),
        (["--level", "1.5"], "level must be"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, extra, needle):
    assert main(["estimator-stats", "--d", "4", "--draws", "100", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and needle in err and "Traceback" not in err


def test_bad_input_in_a_real_process_has_no_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "hdo_theory.cli", "estimator-stats", "--d", "0"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stdout == ""
