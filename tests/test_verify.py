"""`hdo-theory verify`: the reduced quick run, report structure and finiteness, --strict,
bad input. Verdicts are not fixed here (only their structure)."""

import json
import math

import pytest

from hdo_theory import cli
from hdo_theory.verification import stats as S
from hdo_theory.verification.claims import REGISTRY, Claim, Record
from hdo_theory.verification.runner import resolve_ids


def _finite_tree(o):
    if isinstance(o, float):
        return math.isfinite(o)
    if isinstance(o, dict):
        return all(_finite_tree(v) for v in o.values())
    if isinstance(o, list):
        return all(_finite_tree(v) for v in o)
    return True


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep")
    ids = ["exact.pairwise", "lemma1.4", "lemma5", "lemma13", "lemma14"]
    rc = cli.main(["verify", "--quick", "--claims", *ids, "--seed", "2", "--out", str(out)])
    return rc, out, ids


def test_quick_run_completes_and_writes_three_reports(quick_report):
    rc, out, ids = quick_report
    assert rc == 0
    data = json.loads((out / "report.json").read_text())
    assert data["correction"] == "holm" and data["seed"] == 2
    # a prefix selects a claim and its exact twin (lemma14 -> lemma14, lemma14.exact)
    assert [c["id"] for c in data["claims"]] == resolve_ids(ids)
    # exact records (method "exact") are decided on their value: not counted in m
    m = sum(1 for c in data["claims"] for r in c["records"]
            if not r["outside"] and r["method"] != "exact")
    fam = data["families"]["builtin"]
    assert fam["m"] == m and fam["procedure"] == "holm"
    # Holm: intervals shown at 1 - 2 a*, a* at least Bonferroni's alpha / (2m)
    assert data["per_record_alpha"] == pytest.approx(2 * fam["holm_level"])
    assert fam["holm_level"] >= data["alpha"] / (2 * m)
    for c in data["claims"]:
        assert c["error"] is None and c["records"]
        for r in c["records"]:
            assert r["verdict"] in S.VERDICTS and r["reason"]
            assert r["empirical"] is not None and r["bound"] is not None
            if r["method"] == "exact":  # no sampling error: no interval
                assert r["ci"] is None and r["verdict"] in ("holds", "violated",
                                                            "outside assumptions")
                continue
            assert r["ci"][0] is not None and r["ci"][1] is not None
            assert r["ci"][0] <= r["empirical"] <= r["ci"][1]
            assert r["config"] and "seed" in r
    md = (out / "report.md").read_text()
    for section in ("## Claims", "## Findings", "## All records", "Bonferroni"):
        assert section in md
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 2


def test_json_output_is_strict_and_matches_file(quick_report, tmp_path, capsys):
    rc = cli.main(["verify", "--claims", "exact.matching", "--json", "--out", str(tmp_path)])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert printed["claims"][0]["records"] == on_disk["claims"][0]["records"]
    assert _finite_tree(on_disk)


@pytest.fixture
def wrong_claim():
    def run(ctx):
        return [Record("test.wrong", "test", "x", S.Estimate(1.0, 0.01, 99, 100), 0.5, "half")]

    REGISTRY["test.wrong"] = Claim("test.wrong", "test", "x", "none", {"quick": "", "full": ""},
                                   "0.5", run)
    yield "test.wrong"
    del REGISTRY["test.wrong"]


def test_strict_exit_code_only_when_violated(wrong_claim, tmp_path):
    assert cli.main(["verify", "--claims", wrong_claim, "--out", str(tmp_path)]) == 0
    assert cli.main(["verify", "--claims", wrong_claim, "--strict", "--out", str(tmp_path)]) == 1


@pytest.mark.parametrize("argv, word", [
    (["verify", "--claims", "lemma99"], "lemma99"),
    (["verify", "--seed", "-1"], "seed"),
    (["verify", "--out", "/proc/no/such/dir"], "--out"),
])
def test_bad_input_one_line_exit_2(argv, word, capsys, tmp_path):
    if "--out" not in argv:
        argv = argv + ["--out", str(tmp_path)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and word in err


def test_output_path_that_is_a_file_is_rejected(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert cli.main(["verify", "--claims", "exact.pairwise", "--out", str(f)]) == 2
    assert "--out" in capsys.readouterr().err
