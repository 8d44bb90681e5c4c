"""The estimator and objective tables: run-time registration, clashes, built-in consistency,
and everything derived from them (names, CLI help, figure panels, the README block)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

import hdo_theory.estimators as E
import hdo_theory.objectives as O
from hdo_theory import doc_tables
from hdo_theory.errors import HDOInputError
from hdo_theory.estimators import kernels as EK
from hdo_theory.objectives import constants as C
from hdo_theory.objectives import kernels as OK

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture
def toy_estimator():
    info = E.EstimatorInfo("toy-forward", 10_001, True, "grad f_nu", E.GAUSSIAN_SMOOTHING_BIAS,
                           True, None, "a toy row (never reaches the kernel)")
    E.register_estimator(info)
    yield info
    E.unregister_estimator(info.name)


@pytest.fixture
def toy_objective():
    base = O.OBJECTIVES["least-squares"]
    info = O.ObjectiveInfo("toy-least-squares", base.generator, base.kind, True, base.constants,
                           lam=0.25, noise=0.1, description="a toy row")
    O.register_objective(info)
    yield info
    O.unregister_objective(info.name)


# -- estimators ---------------------------------------------------------------------------------


def test_registered_estimator_appears_in_every_derived_name_list(toy_estimator):
    from hdo_theory.figures.specs import bias_kinds, moment_kinds

    assert E.estimator_names()[-1] == "toy-forward"
    assert E.ESTIMATOR_NAMES[-1] == "toy-forward"  # module attribute derived on access
    assert "toy-forward" in E.ZO_ESTIMATORS and "toy-forward" in E.zo_estimator_names()
    assert E.ESTIMATOR_CODES["toy-forward"] == E.estimator_codes()["toy-forward"] == 10_001
    assert "toy-forward" in E.estimators_where(lemma5=True)
    assert "toy-forward" in bias_kinds() and "toy-forward" in moment_kinds()
    spec = E.EstimatorSpec("toy-forward")
    assert spec.is_zo and spec.code == 10_001 and spec.info is toy_estimator
    assert "`toy-forward`" in doc_tables.markdown()
    from hdo_theory.commands import estimator_stats as cmd

    p = argparse.ArgumentParser()
    cmd.add_arguments(p)
    assert "toy-forward" in p.format_help()


def test_unregistered_estimator_is_gone_again(toy_estimator):
    E.unregister_estimator("toy-forward")
    assert "toy-forward" not in E.estimator_names()
    with pytest.raises(HDOInputError, match="toy-forward"):
        E.EstimatorSpec("toy-forward")
    E.register_estimator(toy_estimator)  # for the fixture's teardown


def test_estimator_name_clash_raises_naming_it():
    row = E.ESTIMATORS["zo-forward"]
    with pytest.raises(HDOInputError, match="'zo-forward' is already registered"):
        E.register_estimator(row)
    with pytest.raises(HDOInputError, match="'toy'.*kernel code 1.*'zo-forward'"):
        E.register_estimator(E.EstimatorInfo("toy", row.code, True, "unknown", None, False,
                                             None, "clashing code"))
    assert "toy" not in E.ESTIMATORS
    with pytest.raises(HDOInputError, match="built in"):
        E.unregister_estimator("fo")


def test_estimator_row_checks_its_mean():
    with pytest.raises(HDOInputError, match="mean"):
        E.EstimatorInfo("toy", 99, True, "grad g", None, False, None, "bad mean")


def test_builtin_estimator_rows_are_consistent():
    rows = E.ESTIMATORS
    # EST_PLUGIN_BASE is where plugin codes start, not a branch of its own
    kernel_codes = {v for k, v in vars(EK).items()
                    if k.startswith("EST_") and k != "EST_PLUGIN_BASE"}
    assert {r.code for r in rows.values()} == kernel_codes  # one row per kernel branch
    assert [n for n, r in rows.items() if not r.zero_order] == ["fo"]
    for name, r in rows.items():
        assert r.name == name and r.description
        assert r.mean in E.MEANS
        assert r.unbiased == (r.mean == "grad f"), name  # exact mean iff the 0 bias bound
        if r.bias_bound is E.GAUSSIAN_SMOOTHING_BIAS:
            assert r.mean == "grad f_nu", name
        if r.bias_bound is E.BALL_SMOOTHING_BIAS:
            assert r.mean == "grad f_ball", name
        if r.lemma5:  # Lemma 5 is stated for Gaussian directions averaged over rv
            assert r.zero_order and r.random_directions, name
        assert r.moments is not None, name  # every built-in has closed forms (quadratic)
    assert E.ZO_ESTIMATORS == tuple(n for n in rows if n != "fo")


def test_closed_forms_dispatch_through_the_row(toy_estimator):
    from hdo_theory.estimators.closed_forms import exact_moments

    obj = O.make_objective("quadratic", d=3, n0=2, n1=2, seed=0)
    assert exact_moments(obj, 0, np.zeros(3), "toy-forward", 1, 0.1, 1) is None  # moments None
    with pytest.raises(HDOInputError, match="estimator"):
        exact_moments(obj, 0, np.zeros(3), "no-such-estimator", 1, 0.1, 1)


# -- objectives ---------------------------------------------------------------------------------


def test_registered_objective_appears_and_is_made(toy_objective):
    assert O.objective_names()[-1] == "toy-least-squares"
    assert O.OBJECTIVE_NAMES[-1] == "toy-least-squares"
    assert "toy-least-squares" in O.objectives_where(convex=True, real_data=False)
    assert "toy-least-squares" not in O.REAL_DATA_SHAPES
    obj = O.make_objective("toy-least-squares", d=3, n0=2, n1=2, seed=1)
    assert obj.convex and obj.meta["lam"] == 0.25 and obj.meta["noise"] == 0.1
    assert obj.kind == OK.KIND_LEAST_SQUARES
    assert O.constants_function(obj) is C._least_squares
    assert np.isfinite(obj.constants.L)
    assert "`toy-least-squares`" in doc_tables.markdown()


def test_objective_name_clash_raises_naming_it():
    with pytest.raises(HDOInputError, match="'quadratic' is already registered"):
        O.register_objective(O.OBJECTIVES["quadratic"])
    with pytest.raises(HDOInputError, match="built in"):
        O.unregister_objective("quadratic")
    with pytest.raises(HDOInputError, match="shape"):
        O.ObjectiveInfo("toy", O.OBJECTIVES["quadratic"].generator, OK.KIND_QUADRATIC, True,
                        None, real_data=True)


def test_builtin_objective_rows_are_consistent():
    # KIND_USER serves every registered user kind (register_objective_kind), no built-in row
    kernel_kinds = {v for k, v in vars(OK).items() if k.startswith("KIND_") and k != "KIND_USER"}
    for name, r in O.OBJECTIVES.items():
        assert r.name == name and r.description and callable(r.generator)
        assert r.kind in kernel_kinds, name
        assert r.constants is not None and r.lam >= 0 and r.noise >= 0, name
        assert r.real_data == (r.shape is not None), name
    assert {r.kind for r in O.OBJECTIVES.values()} == kernel_kinds  # every kernel kind used
    assert O.REAL_DATA_SHAPES == {n: r.shape for n, r in O.OBJECTIVES.items() if r.real_data}
    assert O.OBJECTIVE_NAMES == tuple(O.OBJECTIVES)


@pytest.mark.parametrize("name", O.objectives_where(real_data=False))
def test_convexity_and_kind_of_made_objectives_match_their_rows(name):
    obj = O.make_objective(name, d=3, n0=2, n1=2, seed=0)
    assert obj.convex == O.OBJECTIVES[name].convex and obj.kind == O.OBJECTIVES[name].kind


def test_readme_tables_are_generated_from_the_registries():
    text = README.read_text()
    assert doc_tables.render(text) == text, "run: python -m hdo_theory.doc_tables"
