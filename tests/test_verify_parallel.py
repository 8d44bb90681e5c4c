"""``verify --jobs``: claims run in worker processes give the same records, bit for bit, as
one process (every claim seeds from the master seed and its own keys, never from the order);
records come back in the claim order; a claim registered in the parent only (a script's or a
plugin's) runs in the parent; Ctrl-C of a parallel verify keeps the finished claims."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hdo_theory import cli
from hdo_theory.serialize import jsonable
from hdo_theory.verification import stats as S
from hdo_theory.verification.claims import REGISTRY, Claim, Record
from hdo_theory.verification.parallel import SHARED_CACHE, claim_groups
from hdo_theory.verification.runner import _rec_to_dict, resolve_ids, run_verification

REPO = Path(__file__).resolve().parents[1]
#: cheap claims of two modules (about 1 s in all once compiled)
SUBSET = ["lemma5", "exact.pairwise", "exact.matching"]


def _records_text(res) -> list[str]:
    # repr-exact JSON of every field of every record: equal text means bit-identical floats
    return [json.dumps(jsonable(_rec_to_dict(r), nonfinite="keep"), sort_keys=True)
            for r in res.records]


def test_jobs_2_gives_the_records_of_jobs_1_in_claim_order(tmp_path):
    one = run_verification(SUBSET, seed=3, log=lambda m: None, out_dir=tmp_path / "a", jobs=1)
    two = run_verification(SUBSET, seed=3, log=lambda m: None, out_dir=tmp_path / "b", jobs=2)
    assert [run.claim.id for run in two.runs] == resolve_ids(SUBSET)
    assert not two.errors
    assert _records_text(one) == _records_text(two)
    assert [r.decision for r in one.records] == [r.decision for r in two.records]
    for cid in SUBSET:  # the saved claim files hold the same records too
        a, b = (json.loads((tmp_path / d / "claims" / f"{cid}.json").read_text())["records"]
                for d in ("a", "b"))
        assert a == b or json.dumps(a) == json.dumps(b)


def test_claims_sharing_cached_runs_go_to_one_worker_in_order():
    ids = ["lemma5", "lemma3", "lemma2.exact", "lemma2", "lemma11.exact", "lemma10"]
    groups = claim_groups(ids)
    assert groups == [["lemma5"], ["lemma3", "lemma2"], ["lemma2.exact", "lemma11.exact"],
                      ["lemma10"]]
    assert sorted(c for g in claim_groups(list(REGISTRY)) for c in g) == sorted(REGISTRY)
    assert all(s <= set(REGISTRY) for s in SHARED_CACHE)  # no stale ID in the table


@pytest.fixture
def parent_only_claim():
    def run(ctx):
        return [Record("", "", "a parent-only quantity", S.exact(1.0), 2.0, "two", "le", {},
                       ctx.seed_for("parent-only"))]
    REGISTRY["test.parent_only"] = Claim("test.parent_only", "test", "x", "none",
                                         {"quick": "", "full": ""}, "2", run)
    yield "test.parent_only"
    del REGISTRY["test.parent_only"]


def test_a_claim_registered_in_the_parent_runs_there(parent_only_claim, tmp_path):
    ids = ["lemma5", parent_only_claim, "exact.pairwise"]
    res = run_verification(ids, seed=1, log=lambda m: None, out_dir=tmp_path, jobs=2)
    assert [run.claim.id for run in res.runs] == ids and not res.errors
    assert res.runs[1].records[0].decision.verdict == "holds"


def test_bad_jobs_is_one_line_exit_2(tmp_path, capsys):
    assert cli.main(["verify", "--claims", "lemma5", "--jobs", "0", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--jobs" in err


def test_interrupted_parallel_verify_keeps_finished_claims(tmp_path):
    out = tmp_path / "report"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    log = open(tmp_path / "log.txt", "w+b")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "hdo_theory.cli", "verify", "--quick",
                             "--jobs", "2", "--claims", "lemma5", "exact.pairwise", "lemma13",
                             "--out", str(out)], cwd=tmp_path, stdout=log,
                            stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 300
    done = lambda: all((out / "claims" / f"{c}.json").exists()  # noqa: E731
                       for c in ("lemma5", "exact.pairwise"))
    while not done():
        assert proc.poll() is None, "exited before the cheap claims finished"
        assert time.monotonic() < deadline, "cheap claims not finished within 300 s"
        time.sleep(0.1)
    time.sleep(1.0)  # lemma13 (10-30 s on 2 busy cores) is still running in a worker
    proc.send_signal(signal.SIGINT)
    rc = proc.wait(timeout=120)
    log.seek(0)
    text = log.read().decode(errors="replace")
    log.close()
    assert rc == 130, text
    summary = json.loads((out / "interrupted.json").read_text())
    assert sorted(summary["finished"]) == ["exact.pairwise", "lemma5"], summary
    assert summary["interrupted_claim"] == "lemma13" and summary["not_run"] == []
    assert not (out / "claims" / "lemma13.json").exists()
    assert "Traceback" not in text, text
