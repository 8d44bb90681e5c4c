"""The Python API refuses bad input with one HDOInputError naming the parameter (no
AttributeError / TypeError from deep inside, no silently ignored keyword or coerced flag)."""

from __future__ import annotations

import pytest

from hdo_theory.cli import main
from hdo_theory.errors import HDOInputError, check_bool
from hdo_theory.estimators import EstimatorSpec
from hdo_theory.objectives import MAX_N_SAMPLES, make_objective
from hdo_theory.process import PopulationConfig, ProcessConfig, simulate
from hdo_theory.runs import options


def _one_line(exc_info, *words):
    msg = str(exc_info.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg
    return msg


# -- make_objective ----------------------------------------------------------------------------


def test_make_objective_refuses_an_unknown_keyword_with_a_suggestion():
    with pytest.raises(HDOInputError) as e:
        make_objective("least-squares", d=3, nosie=5.0)
    _one_line(e, "'nosie'", "did you mean 'noise'?")
    with pytest.raises(HDOInputError) as e:  # an extra of another kind is refused too
        make_objective("least-squares", d=3, groups=2)
    _one_line(e, "'groups'", "least-squares")
    with pytest.raises(HDOInputError) as e:
        make_objective("quadratic", d=3, grups=2)
    _one_line(e, "did you mean 'groups'?")


def test_make_objective_keeps_the_kind_specific_extras():
    assert make_objective("quadratic", d=3, n0=2, n1=2, groups=2).d == 3
    assert make_objective("cosine-wells", d=2, n0=2, n1=2, alpha=2.0, beta=1.0).d == 2


def test_huge_populations_name_n0_not_n_samples(capsys):
    with pytest.raises(HDOInputError) as e:
        make_objective("least-squares", d=2, n0=10**12, n1=4)
    _one_line(e, "n0 must be", f"[0, {MAX_N_SAMPLES}]")
    assert "n_samples" not in str(e.value)
    assert options.MAX_N_SAMPLES == MAX_N_SAMPLES
    for argv, name in ((["--n0", "1000000000000"], "n0"), (["--n1", "1000000000000"], "n1"),
                       (["--n", "1000000000000"], "n")):
        assert main(["run", *argv, "--T", "5", "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"hdo-theory run: error: {name} must be"), err
        assert "n_samples" not in err


@pytest.mark.parametrize("argv,name", [
    (["--data-seed", "-1"], "data_seed"),
    (["--zo-lr", "-1"], "zo_lr"), (["--fo-lr", "-1"], "fo_lr"),
    (["--zo-rv", "0"], "zo_rv"), (["--fo-batch", "0"], "fo_batch"),
    (["--zo-nu", "0"], "zo_nu"), (["--zo-momentum", "1"], "zo_momentum"),
    (["--zo-batch", "100000"], "zo_batch"),
    (["--zo-nu", "theorem", "--zo-lr", "0"], "zo_nu"),
])
def test_cli_messages_name_the_option_given(capsys, tmp_path, argv, name):
    assert main(["run", "--d", "2", "--n", "4", "--T", "5", "--no-progress", "--out",
                 str(tmp_path / "r.npz"), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"hdo-theory run: error: {name}"), err


# -- ProcessConfig and simulate ------------------------------------------------------------


@pytest.mark.parametrize("field", ["record_lemma2", "record_nodes", "record_y"])
@pytest.mark.parametrize("value", ["no", 0, 1, "False"])
def test_process_flags_must_be_real_bools(field, value):
    with pytest.raises(HDOInputError) as e:
        ProcessConfig(**{field: value})
    _one_line(e, field, "True or False")


def test_record_nodes_none_is_named():
    with pytest.raises(HDOInputError) as e:
        ProcessConfig(record_nodes=None)
    _one_line(e, "record_nodes")
    assert ProcessConfig(record_y=None).record_y is None
    assert check_bool("x", True) is True


def test_integral_float_T_is_accepted_as_an_int_other_floats_refused():
    cfg = ProcessConfig(T=10.0, warmup=2.0, record=5.0)
    assert (cfg.T, cfg.warmup, cfg.record) == (10, 2, 5)
    assert all(type(v) is int for v in (cfg.T, cfg.warmup, cfg.record))
    assert cfg == ProcessConfig(T=10, warmup=2, record=5)
    for bad in (10.5, "10", True):
        with pytest.raises(HDOInputError) as e:
            ProcessConfig(T=bad)
        _one_line(e, "T must be an integer")


def test_float_T_runs_with_a_progress_bar():
    obj = make_objective("least-squares", d=2, n0=2, n1=2)
    cfg = ProcessConfig(T=10.0, record=5, record_nodes=False)
    res = simulate(obj, cfg, progress=True)
    assert res.t.tolist() == [0, 5, 10]


@pytest.mark.parametrize("objective,words", [
    (None, ["objective must be an Objective", "NoneType"]),
    ("least-squares", ["objective must be an Objective", "make_objective('least-squares')"]),
])
def test_simulate_names_a_wrong_objective(objective, words):
    with pytest.raises(HDOInputError) as e:
        simulate(objective, ProcessConfig(T=5))
    _one_line(e, *words)


def test_simulate_names_a_wrong_config_and_flags():
    obj = make_objective("least-squares", d=2, n0=2, n1=2)
    with pytest.raises(HDOInputError) as e:
        simulate(obj, {"T": 5})
    _one_line(e, "config must be a ProcessConfig", "dict")
    with pytest.raises(HDOInputError) as e:
        simulate(obj, ProcessConfig(T=5), progress="no")
    _one_line(e, "progress")
    with pytest.raises(HDOInputError) as e:
        ProcessConfig(zo=EstimatorSpec("zo-forward"))
    _one_line(e, "zo must be a PopulationConfig", "EstimatorSpec")
    assert isinstance(ProcessConfig().zo, PopulationConfig)
