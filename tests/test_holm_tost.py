"""Holm's step-down procedure, TOST equivalence and the 4-way decision of :mod:`..stats`.

Two routes to every decision must agree: the p-values (inverses of ``Estimate.interval``) run
through Holm, and the interval rule of ``decide`` at Holm's level ``a*``. Error rates are
checked by simulation with a binomial test whose false-failure probability is ``FAIL_P``.
"""

import math

import numpy as np
import pytest

from hdo_theory.verification import stats as S

FAIL_P = 1e-3  # each binomial check fails with probability < FAIL_P when the code is right

METHODS = [S.Estimate(1.3, 0.2, 12, 13, "mean"), S.Estimate(1.3, 0.2, math.inf, 13, "mean"),
           S.Estimate(-0.7, 0.05, math.inf, 40, "slope"),
           S.Estimate(-0.7, 0.05, 34.7, 64, "slope"),  # t on Satterthwaite dof
           S.Estimate(0.9, 0.1, math.inf, 50, "norm"),
           S.Estimate(1.3, 0.2, 12, 13, "mean", spend=0.25),
           # Hall's skewness correction, both signs, with optional stopping too
           S.Estimate(1.3, 0.2, 1999, 2000, "mean", skew=0.13),
           S.Estimate(1.3, 0.2, 12, 13, "mean", spend=0.25, skew=-0.4)]


@pytest.mark.parametrize("est", METHODS,
                         ids=lambda e: f"{e.method}-{e.dof}-{e.spend}-{e.skew}")
@pytest.mark.parametrize("a", [0.2, 0.025, 1e-4])
def test_p_values_invert_the_interval(est, a):
    # p_above(est, lo) = a at the lower limit of the 1 - 2a interval, p_below(est, hi) = a
    lo, hi = est.interval(2 * a)
    if est.method == "norm" and lo == 0.0:
        pytest.skip("clipped at 0")
    assert S.p_above(est, lo) == pytest.approx(a, rel=1e-9)
    assert S.p_below(est, hi) == pytest.approx(a, rel=1e-9)
    # and the decision agrees on both sides of the limits
    eps = 1e-9 * max(1.0, abs(lo))
    assert S.p_above(est, lo - eps) < a < S.p_above(est, lo + eps)


def test_exact_and_zero_se_p_values_are_0_or_1():
    e = S.exact(2.0)
    assert S.p_above(e, 1.0) == 0.0 and S.p_below(e, 1.0) == 1.0
    assert S.p_above(e, 2.0) == 1.0 and S.p_below(e, 2.0) == 1.0  # a tie satisfies both
    z = S.Estimate(2.0, 0.0, 10, 11)
    assert S.p_above(z, 1.0) == 0.0 and S.p_below(z, 3.0) == 0.0
    assert S.p_above(S.Estimate(math.nan, 1.0), 0.0) == 1.0


def _holm_literal(p, alpha, M):
    """The step-down written out: walk the sorted p-values, stop at the first failure."""
    p = list(p)
    N = len(p)
    rej = [False] * N
    for j, i in enumerate(sorted(range(N), key=lambda i: (p[i], i))):
        if p[i] > alpha / min(N - j, M):
            break
        rej[i] = True
    return rej


def test_holm_matches_the_literal_step_down_and_one_level():
    rng = np.random.default_rng(0)
    for trial in range(400):
        N = int(rng.integers(1, 30))
        p = rng.uniform(0, 1, N) ** rng.uniform(1, 8)  # many small ones
        M = None if trial % 2 else int(rng.integers(1, N + 1))
        rej, a = S.holm(p, 0.05, M)
        assert rej == _holm_literal(p, 0.05, M or N)
        # one level separates rejected from kept, and it is never below Bonferroni's
        assert all((pi <= a) == r for pi, r in zip(p, rej, strict=True))
        assert a >= 0.05 / (M or N) - 1e-15


def test_holm_is_never_less_powerful_than_bonferroni():
    rng = np.random.default_rng(1)
    for _ in range(200):
        p = rng.uniform(0, 0.02, 12)
        rej, _ = S.holm(p, 0.05)
        assert all(r for pi, r in zip(p, rej, strict=True) if pi <= 0.05 / 12)


def _random_items(rng, k):
    items = []
    for _ in range(k):
        rel = rng.choice(["le", "ge", "eq"])
        est = S.Estimate(float(rng.normal(0, 1)), float(rng.uniform(0.05, 0.5)),
                         float(rng.choice([5, 30, math.inf])), 10,
                         str(rng.choice(["mean", "slope"])))
        margin = float(rng.uniform(0.1, 1.5)) if rel != "eq" and rng.uniform() < 0.6 else None
        outside = ["eta too large"] if rng.uniform() < 0.1 else []
        items.append((est, 0.0, str(rel), outside, margin))
    return items


def test_interval_decisions_reproduce_holm_rejections():
    # route 1: Holm over all nulls; route 2: decide() on the 1 - 2a* interval of each record
    rng = np.random.default_rng(2)
    for _ in range(150):
        items = _random_items(rng, int(rng.integers(1, 12)))
        fam = S.decide_family(items, 0.05)
        flat = [p for pv in fam.pvalues for p in pv.values()]
        rej, a = S.holm(flat, 0.05, fam.max_true)
        assert a == fam.level and sum(rej) == fam.rejected
        k = 0
        for (est, _b, rel, out, margin), pv, d in zip(items, fam.pvalues, fam.decisions,
                                                      strict=True):
            got = dict(zip(pv, rej[k:k + len(pv)], strict=True))
            k += len(pv)
            if out:
                assert d.verdict == "outside assumptions" and not pv
                continue
            if got.get("holds"):
                want = "holds"
            elif got.get("violated") or got.get("violated above") or got.get("violated below"):
                want = "violated"
            elif got.get("equivalent"):
                want = "equivalent"
            else:
                want = "holds" if rel == "eq" else "inconclusive"
            assert d.verdict == want, (est, rel, margin, pv, a)
            assert d.level == pytest.approx(1 - 2 * fam.level)


def test_precedence_holds_violated_equivalent_inconclusive():
    e = S.Estimate(-0.05, 0.01, math.inf, 100)  # 95% CI about [-0.07, -0.03]
    assert S.decide(e, 0.0, 0.05, "le", margin=0.5).verdict == "holds"  # inside the margin too
    assert S.decide(e, 0.0, 0.05, "ge", margin=0.5).verdict == "violated"
    tie = S.Estimate(0.001, 0.01, math.inf, 100)
    d = S.decide(tie, 0.0, 0.05, "le", margin=0.1)
    assert d.verdict == "equivalent" and "equivalence margin" in d.reason
    assert S.decide(tie, 0.0, 0.05, "le").verdict == "inconclusive"  # no margin, no verdict
    wide = S.decide(tie, 0.0, 0.05, "le", margin=0.01)
    assert wide.verdict == "inconclusive" and "beyond the equivalence margin" in wide.reason
    assert S.decide(S.exact(0.0), 0.0, 0.05, "le", margin=0.1).verdict == "holds"


def test_tost_p_is_the_larger_one_sided_p():
    e = S.Estimate(0.02, 0.05, 20, 21)
    lo_p, hi_p = S.p_above(e, -0.1), S.p_below(e, 0.1)
    assert S.tost_p(e, 0.0, 0.1) == max(lo_p, hi_p)
    assert S.record_pvalues(e, 0.0, "le", 0.1)["equivalent"] == max(lo_p, hi_p)


def test_family_wise_error_at_the_boundary():
    # m records exactly at their bound (theta = b, both nulls true: the least favourable case),
    # independent t estimates; any false holds or violated counts. Rate <= alpha (Holm).
    alpha, runs, m, n = 0.1, 600, 6, 15
    rng = np.random.default_rng(3)
    bad = 0
    for _ in range(runs):
        items = [(S.mean_estimate(rng.normal(1.0, 2.0, n)), 1.0, "le", [], 0.3)
                 for _ in range(m)]
        fam = S.decide_family(items, alpha)
        bad += any(d.verdict in ("holds", "violated") for d in fam.decisions)
    assert S.binomial_upper_tail(bad, runs, alpha) > FAIL_P


def test_holm_decides_what_bonferroni_leaves_inconclusive():
    # one strong effect frees level for a moderate one: Holm rejects both, Bonferroni one
    strong = S.Estimate(10.0, 1.0, math.inf, 100)
    z = float(S._st.norm.isf(0.05 / 3))  # p = alpha/3 one-sided: between alpha/4 and alpha/3
    moderate = S.Estimate(z, 1.0, math.inf, 100)
    fam = S.decide_family([(strong, 0.0, "le", [], None), (moderate, 0.0, "le", [], None)], 0.05)
    assert [d.verdict for d in fam.decisions] == ["violated", "violated"]
    bonf = S.decide(moderate, 0.0, 2 * fam.bonferroni_level, "le")
    assert bonf.verdict == "inconclusive"


def test_optional_stopping_keeps_the_guarantee():
    # A claim exactly true at the boundary (E X = b, X normal), tested at every planned look
    # and stopped as soon as it is decided either way: the spending weights keep the rate of a
    # false verdict <= alpha. The same loop without spending (spend 1 at every look) exceeds
    # it: the test can tell the two apart.
    alpha, runs, first, budget = 0.1, 500, 8, 256
    rng = np.random.default_rng(4)
    looks = S.look_schedule(first, budget)
    bad = naive_bad = 0
    for _ in range(runs):
        x = rng.normal(0.0, 1.0, budget)
        est_at = lambda n, x=x: S.mean_estimate(x[:n])  # noqa: E731 (prefix: replica order)

        def decided(e):
            return S.decide(e, 0.0, alpha, "le").verdict in ("holds", "violated")

        run = S.run_sequential(est_at, decided, first, budget)
        bad += decided(run.estimate)
        naive_bad += any(decided(est_at(n)) for n in looks)
    assert S.binomial_upper_tail(bad, runs, alpha) > FAIL_P
    assert naive_bad / runs > 2 * alpha  # ~0.25-0.3 for 6 looks


def test_sequential_run_is_a_pure_function_of_the_budget():
    x = np.random.default_rng(5).normal(0.3, 1.0, 200)
    calls = []

    def est_at(n):
        calls.append(n)
        return S.mean_estimate(x[:n])

    def decided(e):
        return S.decide(e, 0.0, 0.05, "le").verdict != "inconclusive"

    a = S.run_sequential(est_at, decided, 10, 200)
    b = S.run_sequential(lambda n: S.mean_estimate(x[:n]), decided, 10, 200)
    assert a == b and a.stopped_by in ("decided", "budget") and calls[0] == 10
    assert a.estimate.spend == pytest.approx(S.spending_weights(a.looks)[a.looks_taken - 1])
    t = iter([0.0, 0.0, 100.0, 200.0, 300.0, 400.0])
    c = S.run_sequential(lambda n: S.mean_estimate(x[:n]), lambda e: False, 10, 200,
                         time_limit=50.0, clock=lambda: next(t))
    assert c.stopped_by == "time limit" and c.looks_taken == 2
    assert S.look_schedule(8, 100) == [8, 16, 32, 64, 100]
    assert sum(S.spending_weights([8, 16, 32])) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# Margins in claim definitions, the runner's families, the report's words
# ---------------------------------------------------------------------------------------------


def _claim(**kw):
    from hdo_theory.verification.claims.registry import Claim

    return Claim("mine.cmp", "My comparison", "a - b", "-", {}, "<= 0", lambda ctx: [], **kw)


@pytest.mark.parametrize("kw,match", [
    (dict(margin=1.5, margin_reason="r"), r"margin must be a number in \(0, 1\)"),
    (dict(margin=0.0, margin_reason="r"), r"margin must be a number in \(0, 1\)"),
    (dict(margin=-0.1, margin_reason="r"), r"margin must be a number in \(0, 1\)"),
    (dict(margin="0.1", margin_reason="r"), r"margin must be a number in \(0, 1\)"),
    (dict(margin=0.1), "margin needs margin_reason"),
    (dict(equivalence=True), "an equivalence verdict needs margin"),
])
def test_bad_margins_are_one_line_errors_naming_the_claim(kw, match):
    from hdo_theory.errors import HDOInputError

    with pytest.raises(HDOInputError, match=match) as e:
        _claim(**kw)
    assert "\n" not in str(e.value) and "mine.cmp" in str(e.value)


def test_plugin_decorator_claim_without_margin_asking_for_equivalence_is_an_error():
    from hdo_theory.errors import HDOInputError
    from hdo_theory.verification.claims.registry import REGISTRY, claim

    with pytest.raises(HDOInputError, match="needs margin"):
        @claim("mine.eq", reference="My Lemma", bound="0", equivalence=True)
        def run(ctx):  # pragma: no cover (never registered)
            return []
    assert "mine.eq" not in REGISTRY


def test_runner_gives_equivalent_with_the_claims_margin_and_says_so():
    from hdo_theory.verification.claims.registry import Record
    from hdo_theory.verification.runner import decide_families

    c = _claim(margin=0.1, margin_reason="10% of the reference")
    tie = Record("mine.cmp", "r", "a - b", S.Estimate(0.001, 0.002, 60, 62), 0.0, "0",
                 equivalence_scale=0.5, family="mine")
    apart = Record("mine.cmp", "r", "a - b", S.Estimate(0.2, 0.01, 60, 62), 0.0, "0",
                   equivalence_scale=0.5, family="mine")
    other = Record("builtin.x", "r", "x", S.Estimate(0.001, 0.002, 60, 62), 0.0, "0")
    fams = decide_families([tie, apart, other], 0.05, claims={"mine.cmp": c})
    assert tie.decision.verdict == "equivalent" and apart.decision.verdict == "violated"
    assert other.decision.verdict == "inconclusive" and other.equivalence is None  # no margin
    d = tie.as_dict()
    assert d["equivalence"] == {"margin": 0.1, "scale": 0.5, "absolute": pytest.approx(0.05),
                                "reason": "10% of the reference"}
    assert set(d["p_values"]) == {"violated", "holds", "equivalent"}
    summ = fams["mine"][2]
    assert summ["procedure"] == "holm" and summ["m"] == 2 and summ["hypotheses"] == 6
    assert summ["holm_level"] >= summ["bonferroni_level"]


def test_report_names_the_procedure_and_the_families():
    from hdo_theory.verification.claims.registry import Record
    from hdo_theory.verification.report import correction_text, to_json
    from hdo_theory.verification.runner import ClaimRun, VerifyResult, decide_families

    c = _claim(margin=0.1, margin_reason="10% of the reference")
    recs = [Record("mine.cmp", "r", "a - b", S.Estimate(0.001, 0.002, 60, 62), 0.0, "0",
                   equivalence_scale=0.5, family="mine")]
    fams = decide_families(recs, 0.05, claims={"mine.cmp": c})
    res = VerifyResult("quick", 0, 0.05, fams["mine"][1], [ClaimRun(c, recs, 0.0)], {}, [],
                       0.0, fams)
    text = correction_text(res)
    assert "Holm's step-down procedure" in text and "mine: m = 1" in text
    data = to_json(res)
    assert data["correction"] == "holm" and data["families"]["mine"]["procedure"] == "holm"
    assert data["counts"]["equivalent"] == 1
    assert data["claims"][0]["margin"] == 0.1


def test_md_and_html_name_each_claims_family_and_the_replicas_a_budgeted_record_used():
    from hdo_theory.verification.claims.registry import Record
    from hdo_theory.verification.report import html_doc, markdown
    from hdo_theory.verification.runner import ClaimRun, VerifyResult, decide_families

    mine = _claim(margin=0.1, margin_reason="10% of the reference", family="mine")
    built = _claim(margin=0.1, margin_reason="r")
    seq = S.SequentialRun(S.Estimate(0.3, 0.01, 60, 62, spend=0.6), 64, [16, 32, 64], 3,
                          "budget").as_dict()
    r_mine = Record("mine.cmp", "r", "a - b", S.Estimate(0.001, 0.002, 60, 62), 0.0, "0",
                    equivalence_scale=0.5, family="mine")
    r_built = Record("builtin.cmp", "r", "gap", S.Estimate(0.3, 0.01, 60, 62, spend=0.6), 0.0,
                     "0", equivalence_scale=0.5, extra={"sequential": seq})
    fams = decide_families([r_mine, r_built], 0.05, claims={"mine.cmp": mine})
    res = VerifyResult("quick", 0, 0.05, fams["builtin"][1],
                       [ClaimRun(mine, [r_mine], 0.0), ClaimRun(built, [r_built], 0.0)], {}, [],
                       0.0, fams)
    md = markdown(res)
    assert "Family: mine (Holm's step-down procedure over the records of plugin mine alone)" in md
    assert "Family: builtin (Holm's step-down procedure over the records of the built-in" in md
    assert "Replicas (--budget; doubling looks, linear alpha spending" in md
    assert "gap: 64 replicas (look 3 of 3, budget)" in md
    page = html_doc(res, md, [])
    assert "Family: mine (Holm&#39;s step-down" in page or "Family: mine (Holm's step-down" in page
    assert "gap: 64 replicas (look 3 of 3, budget)" in page and "family mine;" in page


@pytest.mark.parametrize("source,match", [
    ('@claim("mine.eq", reference="My Lemma", bound="0", equivalence=True)\n'
     "def run(ctx):\n    return []\n", "an equivalence verdict needs margin"),
    ('@claim("mine.wide", reference="My Lemma", bound="0", margin=1.5, margin_reason="r")\n'
     "def run(ctx):\n    return []\n", r"margin must be a number in \(0, 1\)"),
])
def test_a_plugin_file_with_a_bad_margin_is_a_one_line_cli_error(source, match, tmp_path,
                                                                  capsys):
    import re

    from hdo_theory.cli import main
    from hdo_theory.verification.claims.registry import REGISTRY

    f = tmp_path / "myplugin.py"
    f.write_text("from hdo_theory.verification.claims.registry import claim\n" + source)
    rc = main(["verify", "--plugin", str(f), "--claims", "mine", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and re.search(match, err), err
    assert "claim 'mine." in err and "Traceback" not in err
    assert not any(k.startswith("mine.") for k in REGISTRY)


# ---------------------------------------------------------------------------------------------
# Precision-driven replicas: --budget, --time-limit
# ---------------------------------------------------------------------------------------------


def _measure_factory(mean, calls):
    draws = np.random.default_rng(21).normal(mean, 1.0, 10_000)  # replica r is draws[r]

    def measure(R):
        calls.append(R)
        return S.mean_estimate(draws[:R]), {"R": R}
    return measure


def test_replicas_until_decided_without_budget_is_the_fixed_grid():
    from hdo_theory.verification.claims import _common as C
    from hdo_theory.verification.claims.registry import Context

    calls = []
    est, payload, seq = C.replicas_until_decided(Context(), "none", 16,
                                                 _measure_factory(0.3, calls), 0.0)
    assert calls == [16] and seq is None and est.spend == 1.0 and payload == {"R": 16}


def test_replicas_until_decided_stops_when_decided_and_is_bit_identical():
    from hdo_theory.verification.claims import _common as C
    from hdo_theory.verification.claims.registry import Context

    ctx = Context(budget=4096)
    calls = []
    est, payload, seq = C.replicas_until_decided(ctx, "none", 16, _measure_factory(0.3, calls),
                                                 0.0)
    assert seq["stopped_by"] == "decided" and calls == seq["looks"][:seq["looks_taken"]]
    assert calls[0] == 16 and payload == {"R": seq["replicas"]} and seq["replicas"] < 4096
    assert est.spend == pytest.approx(S.spending_weights(seq["looks"])[seq["looks_taken"] - 1])
    again = C.replicas_until_decided(ctx, "none", 16, _measure_factory(0.3, []), 0.0)
    assert again[0] == est and again[2] == seq
    # the planned looks: the grid count doubled, the budget last
    _, _, flat = C.replicas_until_decided(Context(budget=64), "none", 16,
                                          _measure_factory(0.0, []), 5.0, scale=None)
    assert flat["looks"] == [16, 32, 64]


def test_a_time_limited_record_says_so_and_the_budget_is_part_of_the_claim_file(tmp_path):
    from hdo_theory.verification.claims.registry import Record
    from hdo_theory.verification.runner import (
        ClaimRun,
        decide_families,
        load_claim_run,
        save_claim_run,
    )

    seq = {"replicas": 32, "looks": [16, 32, 64], "looks_taken": 2, "stopped_by": "time limit",
           "spend": 0.2}
    r = Record("x", "r", "q", S.Estimate(0.1, 1.0, 31, 32, "mean", 0.2), 0.0, "0",
               extra={"sequential": seq})
    decide_families([r], 0.05)
    assert "stopped by the time limit after 32 replicas" in r.decision.reason
    assert r.as_dict()["replicas_used"] == seq
    c = _claim()
    save_claim_run(tmp_path, ClaimRun(c, [r], 1.0), "quick", 0, budget=64)
    back = load_claim_run(tmp_path, c, "quick", 0, budget=64)
    assert back is not None and back.records[0].estimate == r.estimate  # spend kept
    assert load_claim_run(tmp_path, c, "quick", 0) is None  # another budget: run again
    assert load_claim_run(tmp_path, c, "quick", 0, budget=128) is None


def test_a_claim_file_keeps_the_skewness_of_a_mean_and_its_decision(tmp_path):
    # resume must reproduce Hall's interval: the claim file carries Estimate.skew (with or
    # without a look's spend), and a record without skew is written as before
    from hdo_theory.verification.claims.registry import Record
    from hdo_theory.verification.runner import (
        ClaimRun,
        _rec_to_dict,
        decide_families,
        load_claim_run,
        save_claim_run,
    )

    x = np.random.default_rng(8).exponential(1.0, 300)
    recs = [Record("x", "r", "q", S.mean_estimate(x), 1.0, "1", relation="eq"),
            Record("x", "r", "q", S.Estimate(**{**S.mean_estimate(x).as_dict(), "spend": 0.5}),
                   1.0, "1"),
            Record("x", "r", "q", S.Estimate(0.1, 1.0, 31, 32), 0.0, "0")]
    assert recs[0].estimate.skew > 0 and len(_rec_to_dict(recs[2])["estimate"]) == 5
    c = _claim()
    save_claim_run(tmp_path, ClaimRun(c, recs, 1.0), "quick", 0)
    back = load_claim_run(tmp_path, c, "quick", 0).records
    assert [b.estimate for b in back] == [r.estimate for r in recs]
    decide_families(recs, 0.05)
    decide_families(back, 0.05)
    assert [b.decision for b in back] == [r.decision for r in recs]


@pytest.mark.parametrize("args,msg", [(["--budget", "0"], "--budget must be an integer"),
                                      (["--budget", "-2"], "--budget must be an integer"),
                                      (["--budget", "lots"], "--budget must be an integer"),
                                      (["--time-limit", "0"], "--time-limit must be > 0")])
def test_bad_budget_and_time_limit_are_one_line_cli_errors(args, msg, tmp_path, capsys):
    from hdo_theory.cli import main

    rc = main(["verify", "--claims", "claim2", "--out", str(tmp_path), *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and msg in err and len(err.splitlines()) == 1


def test_bad_budget_from_the_api_is_a_one_line_error():
    from hdo_theory.errors import HDOInputError
    from hdo_theory.verification.runner import run_verification

    with pytest.raises(HDOInputError, match="--budget must be an integer"):
        run_verification(["claim2"], budget=0, log=lambda m: None)


def test_an_inconclusive_record_says_how_many_more_replicas_would_decide_it():
    from scipy.stats import norm

    from hdo_theory.verification.claims.registry import Record
    from hdo_theory.verification.runner import decide_families

    c = _claim(margin=0.1, margin_reason="r")
    r = Record("mine.cmp", "r", "a - b", S.Estimate(0.01, 0.05, math.inf, 20), 0.0, "0",
               equivalence_scale=1.0)
    fams = decide_families([r], 0.05, claims={"mine.cmp": c})
    a = fams["builtin"][2]["holm_level"]
    factor = ((norm.isf(a) + norm.isf(0.01)) * 0.05 / 0.1) ** 2
    assert r.decision.verdict == "inconclusive"
    assert f"about {factor:.3g}x the replicas" in r.decision.reason
    assert "at the equivalence margin" in r.decision.reason


def test_a_plugin_record_without_a_scale_for_its_margin_is_an_error_record():
    from hdo_theory.verification.claims.registry import Claim, Context, Record
    from hdo_theory.verification.runner import run_claim

    c = Claim("mine.noscale", "My comparison", "a - b", "-", {}, "<= 0",
              lambda ctx: [Record(quantity="a - b", estimate=S.Estimate(0.0, 0.1, 20, 21),
                                  bound=0.0, bound_label="0")],
              margin=0.1, margin_reason="r", family="mine")
    run = run_claim(c, Context())
    assert run.records == [] and "no scale for it" in run.error and "\n" not in run.error
