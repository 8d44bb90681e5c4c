"""Results: exact save/load round trip, atomic writes, long format, fitted rates."""

import json
import os
from pathlib import Path

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
    assert r.recorded == ("gap", "gamma") and q.names == ("gap", "gamma")
    for k in r.recorded:  # bit-exact, NaN included
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
    assert long["step"] is long["t"]
    sel = (long["metric"] == "gamma") & (long["replica"] == 1)
    assert long["step"][sel].tolist() == r.t.tolist()
    assert long["interactions"][sel].tolist() == [0, 2, 20, 200, 2000]
    assert long["parallel_time"][sel].tolist() == [0.0, 0.5, 5.0, 50.0, 500.0]
    one = r.to_long("mg")  # named: kept, all NaN
    assert set(one["metric"]) == {"mg"} and np.all(np.isnan(one["value"]))


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


# -- metrics that were not recorded; the 0.1 format; pandas and xarray ----------------------

DATA = Path(__file__).parent / "data"


def test_unrecorded_metrics_are_not_saved(tmp_path):
    p = _results().save(tmp_path / "run.npz")
    with np.load(p) as z:
        assert "metric__mg" not in z.files and "metric__gap" in z.files
    q = Results.load(p)
    assert "mg" not in q and q.recorded == ("gap", "gamma")
    with pytest.raises(HDOInputError) as info:
        q["mg"]
    msg = str(info.value)
    assert "\n" not in msg and "'mg'" in msg and "not recorded" in msg
    assert "recorded: gap, gamma" in msg


def test_a_file_written_by_version_0_1_still_loads():
    """tests/data/results-v0.1.npz was written by the 0.1 writer (hdo_theory/results.py at
    commit 61805dd): every metric stored, the four the run did not record as all-NaN."""
    res = Results.load(DATA / "results-v0.1.npz")
    with np.load(DATA / "results-v0.1.npz") as z:
        assert "metric__mg" in z.files and np.all(np.isnan(z["metric__mg"]))
    assert res.version == "0.1.0" and res.R == 2 and res.t.tolist() == [0, 10, 20, 30, 40]
    assert res.config["model"] == "pairwise" and res.config["T"] == 40 and res.seed == 3
    assert res.state["X"].shape == (2, 4, 3)
    absent = {"mg", "lemma2_cond", "heldout_loss", "heldout_acc"}
    assert not absent & set(res.names) and {"gap", "gamma", "dist_sq"} <= set(res.names)
    assert np.all(np.isfinite(res["gap"]))
    assert res.summary()["final_gap"] == pytest.approx(0.19845340597799332, rel=1e-12)
    with pytest.raises(HDOInputError, match="'mg' was not recorded"):
        res["mg"]


def test_to_pandas_is_the_long_table():
    pd = pytest.importorskip("pandas")
    r = _results()
    df = r.to_pandas()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["replica", "step", "interactions", "parallel_time", "metric",
                                "value"]
    assert len(df) == 2 * r.R * r.t.size and set(df["metric"]) == {"gap", "gamma"}
    row = df[(df.metric == "gap") & (df.replica == 2) & (df.step == 100)]
    assert row["value"].tolist() == [r["gap"][2, 3]] and row["interactions"].tolist() == [200]
    assert row["parallel_time"].tolist() == [50.0]


def test_to_xarray_is_a_dataset_of_the_recorded_metrics():
    xr = pytest.importorskip("xarray")
    r = _results()
    ds = r.to_xarray()
    assert isinstance(ds, xr.Dataset)
    assert set(ds.data_vars) == {"gap", "gamma"}
    assert ds["gap"].dims == ("replica", "step")
    assert ds["gap"].values.tobytes() == r["gap"].tobytes()
    assert ds["step"].values.tolist() == r.t.tolist() == ds["t"].values.tolist()
    assert ds["interactions"].values.tolist() == [0, 2, 20, 200, 2000]
    assert np.allclose(ds["parallel_time"].values, r.parallel_time)
    assert ds["diverged_at"].values.tolist() == [-1, 57, -1]
    assert ds.attrs["seed"] == 12 and ds.attrs["version"] == "0.1.0"
    assert json.loads(ds.attrs["config"])["zo"] == {"lr": 0.1 + 0.2}
    assert json.loads(ds.attrs["constants"])["L"] == 2.5
    assert all(isinstance(v, (str, int)) for v in ds.attrs.values())  # netCDF-safe
    assert float(ds["gap"].sel(step=100, replica=2)) == r["gap"][2, 3]


def test_exports_name_the_extra_when_a_package_is_missing(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_export(name, *args, **kwargs):
        if name.split(".")[0] in ("pandas", "xarray"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_export)
    import importlib

    monkeypatch.setattr(importlib, "import_module", lambda name, *a: no_export(name))
    for method, pkg in (("to_pandas", "pandas"), ("to_xarray", "xarray")):
        with pytest.raises(HDOInputError) as info:
            getattr(_results(), method)()
        msg = str(info.value)
        assert "\n" not in msg and pkg in msg and "hdo-theory[export]" in msg
