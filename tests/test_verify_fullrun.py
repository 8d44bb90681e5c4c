"""`verify --full` completes and loses nothing: every claim's grid passes the configuration
checks (nothing simulated), a claim that raises is an error record (report written, exit 3),
finished claims are saved as they complete and ``--resume`` reuses them bit-identically."""

import json
import time

import pytest

from hdo_theory import cli
from hdo_theory.estimators import EstimatorSpec
from hdo_theory.process import PopulationConfig, ProcessConfig, check_config
from hdo_theory.verification import runner
from hdo_theory.verification.claims import REGISTRY, Claim, Context
from hdo_theory.verification.claims import _common as C


def test_every_builtin_claim_declares_its_configurations():
    assert [cid for cid, c in REGISTRY.items() if c.configs is None] == []


@pytest.mark.parametrize("scale", ["quick", "full"])
def test_every_claims_grid_passes_the_configuration_checks(scale):
    """The whole grid of every claim at this scale, checked as simulate would, nothing run
    (a change that breaks `verify --full` fails here, in seconds)."""
    t0 = time.perf_counter()
    checked = runner.check_claims(scale=scale)
    assert set(checked) == set(REGISTRY)
    assert sum(checked.values()) >= len(REGISTRY)
    assert time.perf_counter() - t0 < 120  # about 12 s for full on a loaded 2-core machine


def test_claim4_full_data_set_holds_the_batch_in_every_shard():
    ctx = Context(scale="full")
    plans = REGISTRY["claim4"].configs(ctx)
    assert {(p.objective_kwargs["n0"], p.objective_kwargs["n1"]) for p in plans} == {
        (256, 24), (0, 24), (256, 0)}
    for p in plans:
        obj = C.objective(ctx, p.objective, **p.objective_kwargs)
        assert min(obj.shard_size(i) for i in range(obj.n)) >= p.config.zo.estimator.batch == 2
    assert "4608 samples" in REGISTRY["claim4"].grid["full"]


def _batch2_cfg():
    return ProcessConfig(T=5, zo=PopulationConfig(EstimatorSpec("zo-forward", batch=2), lr=0.01))


def test_check_config_raises_what_simulate_raises():
    from hdo_theory.errors import HDOInputError
    from hdo_theory.objectives import make_objective
    from hdo_theory.process import simulate

    obj = make_objective("logistic", d=10, n0=256, n1=24, n_samples=480)
    cfg = _batch2_cfg()
    with pytest.raises(HDOInputError) as a:
        check_config(obj, cfg)
    with pytest.raises(HDOInputError) as b:
        simulate(obj, cfg)
    assert str(a.value) == str(b.value) and "smallest ZO shard size 1" in str(a.value)


@pytest.fixture
def cheap_claims():
    """Two cheap claims; ``boom`` makes the second raise ``boom['exc']`` when set."""
    boom = {"exc": None}
    inner = REGISTRY["exact.pairwise"]

    def second(ctx):
        if boom["exc"] is not None:
            C.objective(ctx, "quadratic", d=3, n0=2, n1=2)  # the configuration becomes known
            raise boom["exc"]
        return REGISTRY["exact.matching"].run(ctx)

    REGISTRY["test.second"] = Claim("test.second", "test", "x", "none",
                                    {"quick": "", "full": ""}, "-", second,
                                    configs=lambda ctx: [])
    yield ["exact.pairwise", "test.second"], boom, inner
    del REGISTRY["test.second"]


def _strip_timing(d):
    if isinstance(d, dict):
        return {k: _strip_timing(v) for k, v in d.items() if k not in ("seconds", "resumed")}
    if isinstance(d, list):
        return [_strip_timing(v) for v in d]
    return d


def test_a_raising_claim_is_an_error_record_and_exit_3(cheap_claims, tmp_path):
    ids, boom, _ = cheap_claims
    boom["exc"] = ValueError("kaputt")
    rc = cli.main(["verify", "--claims", *ids, "--out", str(tmp_path)])
    assert rc == 3
    data = json.loads((tmp_path / "report.json").read_text())
    ok, bad = data["claims"]
    assert ok["error"] is None and ok["records"]
    assert bad["verdict"] == "error" and bad["records"] == []
    err = bad["error_record"]
    assert err["claim"] == "test.second" and err["type"] == "ValueError"
    assert err["message"] == "kaputt" and err["config"]["objective"] == "quadratic"
    assert data["errors"] == [err]
    for name in ("report.md", "report.html"):
        text = (tmp_path / name).read_text()
        assert "ERROR test.second: ValueError: kaputt" in text


def test_a_failing_configuration_check_is_an_error_record(cheap_claims, tmp_path, monkeypatch):
    ids, boom, _ = cheap_claims
    # ZO batch 2 on 1-sample shards (the old claim 4 full grid)
    bad = C.planned("logistic", dict(d=10, n0=256, n1=24, n_samples=480), _batch2_cfg())
    ran = []
    monkeypatch.setitem(REGISTRY, "test.second",
                        Claim(**{**REGISTRY["test.second"].__dict__,
                                 "configs": lambda ctx: [bad],
                                 "run": lambda ctx: ran.append(1) or []}))
    assert cli.main(["verify", "--claims", *ids, "--out", str(tmp_path)]) == 3
    data = json.loads((tmp_path / "report.json").read_text())
    err = data["claims"][1]["error_record"]
    assert ran == [] and "smallest ZO shard size 1" in err["message"]
    assert err["stage"] == "configuration check" and err["config"]["n0"] == 256
    assert data["claims"][0]["records"]


def test_resume_after_an_interrupt_is_bit_identical(cheap_claims, tmp_path):
    ids, boom, _ = cheap_claims
    ref, part = tmp_path / "ref", tmp_path / "part"
    assert cli.main(["verify", "--claims", *ids, "--seed", "3", "--out", str(ref)]) == 0
    boom["exc"] = KeyboardInterrupt()
    assert cli.main(["verify", "--claims", *ids, "--seed", "3", "--out", str(part)]) == 130
    assert (part / "claims" / "exact.pairwise.json").exists()
    assert not (part / "claims" / "test.second.json").exists()
    assert not (part / "report.json").exists()
    boom["exc"] = None
    saved = (part / "claims" / "exact.pairwise.json").read_text()
    assert cli.main(["verify", "--claims", *ids, "--seed", "3", "--out", str(part),
                     "--resume"]) == 0
    assert (part / "claims" / "exact.pairwise.json").read_text() == saved  # reused, not rerun
    a = json.loads((ref / "report.json").read_text())
    b = json.loads((part / "report.json").read_text())
    assert [c["resumed"] for c in b["claims"]] == [True, False]
    assert _strip_timing(a) == _strip_timing(b)
    md_a = (ref / "report.md").read_text().splitlines()
    md_b = (part / "report.md").read_text().splitlines()
    assert len(md_a) == len(md_b)


def test_resume_ignores_a_run_with_another_seed(cheap_claims, tmp_path):
    ids, _, _ = cheap_claims
    assert cli.main(["verify", "--claims", ids[0], "--seed", "1", "--out", str(tmp_path)]) == 0
    assert cli.main(["verify", "--claims", ids[0], "--seed", "2", "--out", str(tmp_path),
                     "--resume"]) == 0
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["seed"] == 2 and data["claims"][0]["resumed"] is False
