"""Plugins and the public claim interface, in the library: loading (idempotent, one-line errors,
undone on failure, entry points), the record helpers (an interval rebuilt at its own level is the
one given), and the runner's treatment of plugin claims (families, error records)."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest

from hdo_theory import plugins
from hdo_theory.errors import HDOInputError
from hdo_theory.verification import REGISTRY, Claim, Estimate, Record, claim, register
from hdo_theory.verification.claims import Context, estimate_from_interval, estimate_from_stats
from hdo_theory.verification.runner import decide_families, run_claim, run_verification


@pytest.fixture(autouse=True)
def clean_tables():
    """Every test starts and ends with the built-in tables only."""
    from hdo_theory.estimators import ESTIMATORS
    from hdo_theory.objectives import OBJECTIVES

    before = {id(t): set(t) for t in (REGISTRY, ESTIMATORS, OBJECTIVES)}
    loaded = dict(plugins._LOADED)
    yield
    for t in (REGISTRY, ESTIMATORS, OBJECTIVES):
        for k in [k for k in t if k not in before[id(t)]]:
            del t[k]
    plugins._LOADED.clear()
    plugins._LOADED.update(loaded)


def _write(path, body: str):
    path.write_text(textwrap.dedent(body))
    return path


GOOD = """
    from hdo_theory.verification import Record, claim

    @claim("mine.exact", reference="My Lemma 2", bound="1")
    def mine(ctx):
        return [Record.from_interval("x", 0.5, (0.4, 0.6), bound=1.0, bound_label="1")]
"""


def test_a_plugin_file_registers_its_claims_in_its_own_family_once(tmp_path):
    f = _write(tmp_path / "my_claims.py", GOOD)
    m1 = plugins.load_plugin(str(f))
    assert REGISTRY["mine.exact"].family == "my_claims"
    assert REGISTRY["lemma5"].family == "builtin"
    m2 = plugins.load_plugin(f)  # the same file again: the same module, nothing re-registered
    assert m1 is m2
    assert plugins.loaded_plugins()[-1] == str(f.resolve())
    run = run_claim(REGISTRY["mine.exact"], Context())
    assert run.error is None
    (r,) = run.records
    assert (r.claim, r.reference, r.family) == ("mine.exact", "My Lemma 2", "my_claims")


def test_a_plugin_module_by_name(tmp_path, monkeypatch):
    _write(tmp_path / "my_pkg_claims.py", GOOD)
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.load_plugin("my_pkg_claims")
    assert REGISTRY["mine.exact"].family == "my_pkg_claims"


@pytest.mark.parametrize("body,message", [
    ("x = 1\ny = 1 / 0\n", "does not import: ZeroDivisionError: division by zero (line 2)"),
    ("def f(:\n", "does not import: SyntaxError: "),
    ("import no_such_module_xyz\n",
     "does not import: ModuleNotFoundError: No module named 'no_such_module_xyz' (line 1)"),
    (GOOD + """
    @claim("lemma5", reference="x", bound="1")
    def clash(ctx):
        return []
    """, "claim id 'lemma5' clashes with a built-in claim; choose another id"),
])
def test_a_bad_plugin_is_one_line_naming_it_and_leaves_nothing_behind(tmp_path, body, message):
    f = _write(tmp_path / "bad.py", body)
    before = set(REGISTRY)
    with pytest.raises(HDOInputError) as e:
        plugins.load_plugin(str(f))
    text = str(e.value)
    assert text.startswith(f"plugin {f}") and message in text and "\n" not in text, text
    assert set(REGISTRY) == before  # "mine.exact", registered before the clash, was undone
    assert REGISTRY["lemma5"].family == "builtin"


def test_missing_file_and_module():
    with pytest.raises(HDOInputError, match=r"plugin nowhere/x\.py .*: file does not exist"):
        plugins.load_plugin("nowhere/x.py")
    with pytest.raises(HDOInputError, match=r"plugin no_such_plugin_xyz: no module named"):
        plugins.load_plugin("no_such_plugin_xyz")
    with pytest.raises(HDOInputError, match="plugin must be a file path"):
        plugins.load_plugin("  ")


def test_entry_points_load_in_group_order(tmp_path, monkeypatch):
    _write(tmp_path / "ep_claims.py", GOOD)
    monkeypatch.syspath_prepend(str(tmp_path))

    class EP:
        name, value, module = "mine", "ep_claims", "ep_claims"

        def load(self):
            import importlib

            return importlib.import_module("ep_claims")

    seen = []
    monkeypatch.setattr(plugins, "_entry_points",
                        lambda g: (seen.append(g), [EP()] if g == "hdo_theory.claims" else [])[1])
    assert plugins.load_entry_points() == ["hdo_theory.claims:mine"]
    assert seen == list(plugins.ENTRY_POINT_GROUPS)
    assert REGISTRY["mine.exact"].family == "mine"
    assert plugins.load_entry_points() == []  # idempotent
    monkeypatch.setenv(plugins.NO_ENTRY_POINTS_ENV, "1")
    assert plugins.entry_points_disabled()


def test_interval_helpers_rebuild_the_given_interval():
    e = estimate_from_interval(2.0, (1.5, 2.5), level=0.9, n=40)
    lo, hi = e.interval(0.1)
    assert math.isclose(lo, 1.5, rel_tol=1e-12) and math.isclose(hi, 2.5, rel_tol=1e-12)
    assert estimate_from_interval(3.0, (3.0, 3.0)).method == "exact"
    from hdo_theory.estimators import EstimatorSpec
    from hdo_theory.estimators.monte_carlo import estimator_stats
    from hdo_theory.objectives import make_objective

    obj = make_objective("quadratic", d=3)
    res = estimator_stats(obj, 0, obj.random_point(0), EstimatorSpec("zo-forward", 1, 0.1), 2000, 0)
    alpha = 1 - res["config"]["level"]
    for entry in ("second_moment", "centered_moment"):  # CLT entries: their own interval back
        lo, hi = estimate_from_stats(res, entry).interval(alpha)
        np.testing.assert_allclose([lo, hi], res[entry]["ci"], rtol=1e-9, atol=1e-12)
    # a norm (confidence ball): the verification spends alpha/2 per side, radius factor
    # 1 + sqrt(2 ln(2/alpha)) instead of estimator_stats' 1 + sqrt(2 ln(1/alpha)): wider
    est = estimate_from_stats(res, "bias")
    lo, hi = est.interval(alpha)
    assert est.method == "norm" and lo <= res["bias"]["ci"][0] and hi > res["bias"]["ci"][1]
    assert math.isclose(hi - est.value, (1 + math.sqrt(2 * math.log(2 / alpha))) * est.se)
    rec = Record.from_stats(res, "second_moment", 10.0, "b")
    assert rec.config["estimator"] == "zo-forward" and rec.seed == 0
    with pytest.raises(HDOInputError, match="entry 'nope' has no estimate"):
        estimate_from_stats(res, "nope")


def _plugin_claim(cid, run):
    return register(Claim(cid, "My Lemma", "m", "-", {"quick": "", "full": ""}, "b", run,
                          family="mine"))


@pytest.mark.parametrize("records,message", [
    ([Record(quantity="q", estimate=Estimate(math.nan, 0.1, math.inf, 10), bound=1.0)],
     "record 'q': empirical value is nan"),
    ([Record(quantity="q", estimate=Estimate(0.5, math.nan, math.inf, 10), bound=1.0)],
     "record 'q': no interval (standard error nan)"),
    ([Record(quantity="q", estimate=None, bound=1.0)], "has no estimate"),
    ([Record(quantity="q", estimate=Estimate(0.5, 0.1), bound=math.nan)], "bound is NaN"),
    ([0.5], "must return a list of Record, got a list holding float"),
    (None, "must return a list of Record, got NoneType"),
])
def test_undecidable_plugin_records_become_an_error_record(records, message):
    c = _plugin_claim("mine.bad", lambda ctx: records)
    run = run_claim(c, Context())
    assert run.records == [] and message in run.error, run.error
    assert run.error_info["claim"] == "mine.bad" and run.error_info["family"] == "mine"


def test_families_are_corrected_apart_and_builtin_verdicts_do_not_move():
    def recs(fam, k):
        return [Record(quantity=f"{fam}{i}", estimate=Estimate(1.0, 0.4, math.inf, 100),
                       bound=1.9, family=fam) for i in range(k)]

    alone = recs("builtin", 3)
    fams = decide_families(alone, 0.05)
    # Holm over 2 nulls per record; none rejected (every interval contains the bound):
    # a* = alpha / (2m), the Bonferroni level, intervals at 1 - 2 a*
    assert {f: v[:2] for f, v in fams.items()} == {"builtin": (3, 0.05 / 3)}
    verdicts = [r.decision.verdict for r in alone]
    mixed = recs("builtin", 3) + recs("mine", 40)
    fams = decide_families(mixed, 0.05)
    assert {f: v[:2] for f, v in fams.items()} == {"builtin": (3, 0.05 / 3),
                                                   "mine": (40, 0.05 / 40)}
    assert [r.decision.verdict for r in mixed[:3]] == verdicts
    assert all(r.decision.level == 1 - 0.05 / 40 for r in mixed[3:])


def test_a_raising_plugin_claim_does_not_hide_the_builtin_results(tmp_path):
    @claim("mine.raises", reference="My Lemma 3", bound="b")
    def raises(ctx):
        raise RuntimeError("my bug")

    assert REGISTRY["mine.raises"].family == "user"  # registered outside a plugin file
    res = run_verification(["exact.pairwise", "mine.raises"], log=lambda m: None)
    by_id = {run.claim.id: run for run in res.runs}
    assert by_id["mine.raises"].error == "RuntimeError: my bug"
    assert by_id["exact.pairwise"].error is None and by_id["exact.pairwise"].records
    assert {r.family for r in res.records} == {"builtin"}
