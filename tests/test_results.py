"""Results: exact save/load round trip, atomic writes, long format, fitted rates."""

import os

import numpy as np
import pytest

from hdo_theory.errors import HDOInputError
from hdo_theory.process.results import Results, fit_loglog_slope


def _results(R=3, n_rec=5):
    rng = np.random.default_rng(0)
    t = np.array([0, 1, 10, 100, 1000][:n_rec], dtype=np.int64)
    gap = rng.random((R, n_rec))
    gap[1, 3:] = np.nan  # replica 1 diverged at step 57
    return Results(
        t=t,
        metrics={
            "gap": gap,
            "gamma": rng.random((R, n_rec)) * 1e-300,
            "mg": np.full((R, n_rec), np.nan),
        },
        diverged_at=np.array([-1, 57, -1], dtype=np.int64),
        config={"model": "pairwise", "T": 1000, "x0": [0.1, 1 / 3], "zo": {"lr": 0.1 + 0.2}},
        seed=12,
        version="0.1.0",
        constants={"L": 2.5, "ell": None, "x_star": [1e-17, -3.0], "f_star": float("nan")},
        objective_meta={"name": "quadratic", "d": 2, "x_ref": np.array([1.0, 2.0])},
        info={"n": 4, "interactions_per_step": 2, "inf": float("inf")},
        state={"X": rng.standard_normal((R, 4, 2))},
    )


def _same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, float) and np.isnan(a):
        return isinstance(b, float) and np.isnan(b)
    return a == b and type(a) is type(b)


def test_round_trip_is_exact(tmp_path):
    r = _results()
    p = r.save(tmp_path / "run.npz")
    q = Results.load(p)
    assert q.t.tobytes() == r.t.tobytes() and q.diverged_at.tobytes() == r.diverged_at.tobytes()
    for k in r.metrics:  # bit-exact, NaN included
        assert q[k].tobytes() == r[k].tobytes()
    assert q.state["X"].tobytes() == r.state["X"].tobytes()
    for attr in ("config", "seed", "version", "constants", "objective_meta", "info"):
        assert _same(getattr(r, attr), getattr(q, attr)), attr


def test_atomic_save_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    old = _results()
    old.save(path)
    before = path.read_bytes()

    def boom(fh, **arrays):
        fh.write(b"partial garbage")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(KeyboardInterrupt):
        _results(R=3).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.npz"]  # no temporary left behind


def test_load_rejects_missing_or_foreign_files(tmp_path):
    with pytest.raises(HDOInputError, match="does not exist"):
        Results.load(tmp_path / "nope.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(HDOInputError, match="cannot read"):
        Results.load(tmp_path / "other.npz")
    with pytest.raises(HDOInputError, match="npz"):
        _results().save(tmp_path / "run.parquet")


def test_long_format():
    r = _results()
    long = r.to_long()
    # the all-NaN metric (not recorded) is left out
    assert set(long["metric"]) == {"gap", "gamma"}
    assert all(len(v) == 2 * r.R * r.t.size for v in long.values())
    sel = (long["metric"] == "gap") & (long["replica"] == 2) & (long["t"] == 100)
    assert long["value"][sel].tolist() == [r["gap"][2, 3]]


def test_derived_axes_and_summary():
    r = _results()
    assert r.interactions.tolist() == [0, 2, 20, 200, 2000]
    assert np.allclose(r.parallel_time, r.interactions / 4)
    assert r.n_diverged == 1
    # the replica mean ignores the diverged replica's NaN records
    assert r.mean("gap")[4] == pytest.approx(np.mean(r["gap"][[0, 2], 4]))


def test_loglog_slope_recovers_a_power_law():
    t = np.array([10, 20, 50, 100, 1000])
    assert fit_loglog_slope(t, 3.0 * t**-1.5) == pytest.approx(-1.5, abs=1e-12)
    assert np.isnan(fit_loglog_slope([0, 10], [1.0, 2.0]))


# -- damaged and foreign files: one HDOInputError naming the file and what is wrong ----------


def _load_error(path) -> str:
    with pytest.raises(HDOInputError) as info:
        Results.load(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


def test_load_reports_an_empty_file(tmp_path):
    p = tmp_path / "empty.npz"
    p.write_bytes(b"")
    assert "empty" in _load_error(p)


def test_load_reports_a_truncated_file(tmp_path):
    good = _results().save(tmp_path / "run.npz").read_bytes()
    for cut in (3, 40, len(good) // 3, len(good) // 2, len(good) - 30, len(good) - 1):
        p = tmp_path / f"cut{cut}.npz"
        p.write_bytes(good[:cut])
        msg = _load_error(p)
        assert "cannot read it" in msg, msg


def test_load_reports_a_byte_flipped_file(tmp_path):
    good = _results().save(tmp_path / "run.npz").read_bytes()
    # a flip in a compressed member fails its CRC or decompression
    mid = bytearray(good)
    mid[len(good) // 2] ^= 0xFF
    (tmp_path / "mid.npz").write_bytes(bytes(mid))
    assert "damaged" in _load_error(tmp_path / "mid.npz")
    # any flipped byte: either a clean load (a timestamp, say) or one HDOInputError
    p = tmp_path / "flip.npz"
    detected = 0
    for i in range(0, len(good), 5):
        b = bytearray(good)
        b[i] ^= 0x5A
        p.write_bytes(bytes(b))
        try:
            Results.load(p)
        except HDOInputError as exc:
            assert "\n" not in str(exc) and str(p) in str(exc)
            detected += 1
    assert detected > len(good) // 10


def test_load_reports_a_foreign_npz(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    assert "no meta_json" in _load_error(tmp_path / "other.npz")
    np.savez(tmp_path / "json.npz", meta_json=np.array('{"format": "something-else/2"}'))
    assert "not an hdo-theory results file" in _load_error(tmp_path / "json.npz")
    np.savez(tmp_path / "list.npz", meta_json=np.array("[1, 2]"))  # AttributeError before
    assert "not an hdo-theory results file" in _load_error(tmp_path / "list.npz")
    np.save(tmp_path / "array.npy", np.zeros(3))
    assert "not a .npz archive" in _load_error(tmp_path / "array.npy")


def test_load_reports_a_text_file(tmp_path):
    p = tmp_path / "notes.npz"
    p.write_text("gap = 0.1\n")
    assert "not a .npz archive" in _load_error(p)
    assert "not a regular file" in _load_error(tmp_path)


def test_summary_says_how_many_replicas_each_statistic_covers():
    r = _results()  # replica 1 diverged at step 57 (NaN from record 3 on)
    s = r.summary()
    assert s["final_gap_replicas"] == 2 and s["rate_replicas"] == 2
    assert s["diverged"] == 1 and s["diverged_at"] == [57]
    # the rate is fitted to the mean of one fixed set: the replicas that never diverged
    sel = r.t >= 100
    want = fit_loglog_slope(r.t[sel], r["gap"][[0, 2]][:, sel].mean(axis=0))
    assert r.rate("gap") == want
    r.diverged_at[:] = [3, 57, 9]
    assert np.isnan(r.rate("gap")) and r.summary()["rate_replicas"] == 0
    assert r.summary()["diverged_at"] == [3, 9, 57]
