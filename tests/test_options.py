"""The one option schema (hdo_theory.runs.options): run --config errors like sweep's, the
same text for the same bad key, and no module outside the CLI imports hdo_theory.commands."""

import ast
from pathlib import Path

import pytest

from hdo_theory import cli
from hdo_theory.errors import HDOInputError
from hdo_theory.runs import options
from hdo_theory.runs.sweep import load_spec

PKG = Path(options.__file__).resolve().parents[1]


def _run_config_error(tmp_path, capsys, text: str) -> str:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(HDOInputError) as exc:
        options.load_toml(f)
    assert cli.main(["run", "--config", str(f), "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert str(exc.value) in err
    return str(exc.value)


def test_unknown_key_in_run_config_has_line_and_suggestion(tmp_path, capsys):
    msg = _run_config_error(tmp_path, capsys, "d = 3\n\nzo_lrr = 0.1\n")
    assert msg == (f"config file {tmp_path / 'c.toml'}, line 3: zo_lrr: unknown option "
                   "'zo_lrr' (did you mean 'zo_lr'?)")
    msg = _run_config_error(tmp_path, capsys, "[zo]\nestimator = 'zo-central'\nlrr = 0.1\n")
    assert "line 3: [zo] lrr: unknown option 'zo_lrr' (did you mean 'zo_lr'?)" in msg
    msg = _run_config_error(tmp_path, capsys, "T = 10\n[proces]\nmodel = 'graph'\n")
    assert "line 2: unknown table [proces]" in msg and "did you mean 'process'" in msg


@pytest.mark.parametrize("text, line, words", [
    ("d = 3\nT = -5\n", 2, "T: T must be an integer in [1, 1000000000000000], got -5"),
    ("[zo]\nmomentum = 1.5\n", 2, "[zo] momentum: zo_momentum must be >= 0 and < 1, got 1.5"),
    ("[objective]\nd = 3\nheterogeneity = 2.0\n", 3, "heterogeneity must be >= 0 and <= 1, got 2"),
    ("[run]\nreplicas = 0\n", 2, "replicas must be an integer in [1, 10000000], got 0"),
    ("model = 'pairwse'\n", 1, "model must be one of pairwise, matching, graph; got "
                               "'pairwse' (did you mean 'pairwise'?)"),
    ("[fo]\nnu = -1.0\n", 2, "[fo] nu: fo_nu must be > 0, got -1"),
])
def test_out_of_range_value_in_run_config_has_line(tmp_path, capsys, text, line, words):
    msg = _run_config_error(tmp_path, capsys, text)
    assert f"c.toml, line {line}: " in msg and words in msg, msg


def test_the_same_bad_key_gives_the_same_text_in_sweep_and_run_config(tmp_path, capsys):
    cases = [("zo_lrr = 0.1", "unknown option 'zo_lrr' (did you mean 'zo_lr'?)"),
             ("T = 0", "T must be an integer in [1, 1000000000000000], got 0"),
             ("zo_momentum = 1.0", "zo_momentum must be >= 0 and < 1, got 1"),
             ("d = 'three'", "d must be an integer in [1, 100000], got 'three'")]
    for line, tail in cases:
        run_msg = _run_config_error(tmp_path, capsys, f"n = 4\n{line}\n")
        s = tmp_path / "s.toml"
        s.write_text(f"[sweep]\nseeds = 1\n[base]\n{line}\n")
        with pytest.raises(HDOInputError) as exc:
            load_spec(s)
        key = line.split(" =")[0]
        assert run_msg == f"config file {tmp_path / 'c.toml'}, line 2: {key}: {tail}"
        assert str(exc.value) == f"{s}, line 4: [base] {key}: {tail}"
        # the command line reports the same check without a location
        if not tail.startswith("unknown"):
            with pytest.raises(HDOInputError, match=tail.replace("[", r"\[").replace(
                    "(", r"\(").replace(")", r"\)")):
                options.resolve({key: eval(line.split("= ")[1])})


def test_command_line_values_are_checked_by_the_schema(capsys):
    assert cli.main(["run", "--zo-momentum", "1.5", "--no-progress", "--T", "5"]) == 2
    assert "zo_momentum must be >= 0 and < 1, got 1.5" in capsys.readouterr().err


def test_duplicate_option_in_run_config(tmp_path, capsys):
    msg = _run_config_error(tmp_path, capsys, "T = 10\n[process]\nT = 20\n")
    assert "line 3: [process] T: option 'T' is given twice" in msg


def test_schema_matches_the_stage_modules():
    from hdo_theory import limits
    from hdo_theory.objectives import MAX_N_SAMPLES
    from hdo_theory.process import MAX_T

    assert options.MAX_T is limits.MAX_T and MAX_T is limits.MAX_T
    assert options.MAX_N_SAMPLES is limits.MAX_N_SAMPLES and MAX_N_SAMPLES is limits.MAX_N_SAMPLES
    # every upper limit the schema reports is the one the stage checks: one value past it fails
    # in the schema and in the API alike
    import pytest as _pytest

    from hdo_theory.errors import HDOInputError
    from hdo_theory.estimators import EstimatorSpec
    from hdo_theory.objectives import make_objective
    from hdo_theory.process import ProcessConfig

    api = {
        "d": lambda v: make_objective("quadratic", d=v),
        "zo_rv": lambda v: EstimatorSpec("zo-forward", rv=v),
        "record_points": lambda v: ProcessConfig(record_points=v),
        "T": lambda v: ProcessConfig(T=v),
    }
    for name, build_one in api.items():
        hi = options.all_options()[name].hi
        with _pytest.raises(HDOInputError):
            options.all_options()[name].check(name, hi + 1)
        with _pytest.raises(HDOInputError):
            build_one(hi + 1)
    opts = options.all_options()
    assert set(opts) >= {"zo_lr", "fo_lr", "T", "replicas", "objective"}
    for name, o in opts.items():  # every default passes its own check
        assert o.check(name, o.default) == o.default


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(
                node.func, "id", None)) == "import_module" and node.args and isinstance(
                node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            names.add(node.args[0].value)
    return names


def test_only_the_cli_imports_hdo_theory_commands():
    offenders = []
    checked = 0
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        if rel.parts[0] == "commands" or rel == Path("cli.py"):
            continue
        checked += 1
        bad = sorted(n for n in _imports(path)
                     if n == "hdo_theory.commands" or n.startswith("hdo_theory.commands."))
        if bad:
            offenders.append(f"{rel}: {', '.join(bad)}")
    assert checked > 20
    assert not offenders, offenders
