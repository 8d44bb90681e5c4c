"""``from_arrays``: the user's own arrays give the same objective, with the same exact constants,
as the built-in kinds built from the same data and split (two routes to one objective), and
every bad array or partition is one line naming it. ``run --data`` reads ``.npz`` and ``.csv``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hdo_theory.errors import HDOInputError
from hdo_theory.objectives import from_arrays, load_data_file, make_objective


def _equal(va, vb, key):
    if isinstance(va, dict):
        assert va.keys() == vb.keys(), key
        for k in va:
            _equal(va[k], vb[k], f"{key}.{k}")
    elif isinstance(va, (list, tuple)) and va and not isinstance(va[0], (int, float)):
        assert len(va) == len(vb), key
        for i, (a, b) in enumerate(zip(va, vb, strict=True)):
            _equal(a, b, f"{key}[{i}]")
    elif va is None or isinstance(va, (str, bool)):
        assert va == vb, key
    else:  # bit for bit: the same computation on the same data
        np.testing.assert_array_equal(np.asarray(va, float), np.asarray(vb, float), err_msg=key)


def _same_constants(a, b):
    _equal(dataclasses.asdict(a.constants), dataclasses.asdict(b.constants), "constants")


@pytest.mark.parametrize("name,kind,labels", [("least-squares", "least-squares", None),
                                              ("logistic", "logistic", "01"),
                                              ("digits", "softmax", None)])
def test_same_objective_and_constants_as_the_builtin_kind(name, kind, labels):
    kw = {} if name == "digits" else {"d": 4, "n_samples": 48}
    ref = make_objective(name, n0=3, n1=3, **kw)
    A, y = ref.data[2], ref.data[3]
    if labels == "01":  # the stated rule: 0 -> -1, 1 -> +1
        y = (y > 0).astype(int)
    part = [ref.shard(i) for i in range(ref.n)]
    mine = from_arrays(kind, A, y, 3, 3, partition=part, lam=ref.meta["lam"])
    assert mine.d == ref.d and mine.n_samples == ref.n_samples
    np.testing.assert_array_equal(mine.weights, ref.weights)
    x = ref.random_point(3)
    assert mine.value(x) == ref.value(x)
    np.testing.assert_array_equal(mine.node_grad(1, x), ref.node_grad(1, x))
    _same_constants(mine, ref)


def test_default_split_is_equal_shards_and_heterogeneity_sorts_by_target():
    rng = np.random.default_rng(0)
    A, y = rng.standard_normal((60, 3)), rng.standard_normal(60)
    obj = from_arrays("least-squares", A, y, 4, 2)
    assert [obj.shard_size(i) for i in range(6)] == [15] * 4 + [30] * 2
    for lo, hi in ((0, 4), (4, 6)):  # each population covers every sample once
        idx = np.sort(np.concatenate([obj.shard(i) for i in range(lo, hi)]))
        np.testing.assert_array_equal(idx, np.arange(60))
    skew = from_arrays("least-squares", A, y, 4, 2, heterogeneity=1.0)
    means = [y[skew.shard(i)].mean() for i in range(4)]
    assert means == sorted(means)  # h = 1: contiguous blocks of the sorted targets
    again = from_arrays("least-squares", A, y, 4, 2)  # deterministic in the seed
    assert again.meta == obj.meta
    np.testing.assert_array_equal(again.shard_idx, obj.shard_idx)


BAD = [
    (dict(features=np.ones(5)), "features must have shape (N, p)"),
    (dict(targets=np.ones((6, 1))), "targets must have shape (N,)"),
    (dict(targets=np.ones(5)), "targets must have one entry per row of features (6)"),
    (dict(features=np.where(np.eye(6, 2) > 0, np.nan, 1.0)),
     "features must be finite; entry (0, 0)"),
    (dict(targets=np.r_[np.inf, np.ones(5)]), "targets must be finite; entry 0"),
    (dict(kind="logistic", targets=np.arange(6.0)), "labels in {-1, +1}"),
    (dict(kind="softmax", targets=np.r_[0.5, np.ones(5)]), "class labels 0, 1, ..., K-1"),
    (dict(kind="ridge"), "kind must be one of least-squares, logistic, softmax"),
    (dict(n0=7), "n0"),
    (dict(partition=[[0, 1, 2], [3, 4, 5]]), "partition must hold n0 + n1 = 4"),
    (dict(partition=[[0, 1, 2], [2, 3, 4, 5], [0, 1, 2], [3, 4, 5]]),
     "the ZO shards overlap (sample 2"),
    (dict(partition=[[0, 1, 2], [3, 4, 5], [0, 1], [3, 4, 5]]),
     "the FO shards do not cover sample 2"),
    (dict(partition=[[0, 1, 2], [3, 4, 9], [0, 1, 2], [3, 4, 5]]), "partition[1] holds index 9"),
    (dict(partition=[[0, 1, 2], [], [0, 1, 2], [3, 4, 5]]), "partition[1] must be a non-empty"),
]


@pytest.mark.parametrize("change,message", BAD)
def test_bad_arrays_and_partitions_are_one_line_naming_them(change, message):
    kw = dict(kind="least-squares", features=np.arange(12.0).reshape(6, 2), targets=np.ones(6),
              n0=2, n1=2)
    kw.update(change)
    with pytest.raises(HDOInputError) as e:
        from_arrays(**kw)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_data_files(tmp_path):
    A = np.arange(12.0).reshape(4, 3)
    y = np.array([1.0, -1.0, 1.0, 1.0])
    np.savez(tmp_path / "d.npz", X=A, y=y, other=y)
    got = load_data_file(tmp_path / "d.npz")
    np.testing.assert_array_equal(got[0], A)
    np.testing.assert_array_equal(got[1], y)
    np.testing.assert_array_equal(load_data_file(tmp_path / "d.npz", targets="other")[1], y)
    (tmp_path / "d.csv").write_text("a,b,c,label\n" + "\n".join(
        ",".join(map(str, [*A[i], y[i]])) for i in range(4)))
    f, t = load_data_file(tmp_path / "d.csv")
    np.testing.assert_array_equal(f, A)
    np.testing.assert_array_equal(t, y)
    f, t = load_data_file(tmp_path / "d.csv", features="c,a", targets="b")
    np.testing.assert_array_equal(f, A[:, [2, 0]])
    np.testing.assert_array_equal(t, A[:, 1])
    for args, msg in (((tmp_path / "x.npz",), "does not exist"),
                      ((tmp_path / "d.txt",), "must be a .npz or .csv"),
                      ((tmp_path / "d.npz", "Z"), "no array named 'Z' (features); its arrays: X"),
                      ((tmp_path / "d.csv", None, "zz"), "no column 'zz'; its columns: a, b")):
        with pytest.raises(HDOInputError) as e:
            load_data_file(*args)
        assert msg in str(e.value)


def test_cli_run_with_data(tmp_path, capsys):
    from hdo_theory.cli import main

    rng = np.random.default_rng(1)
    A = rng.standard_normal((40, 3))
    np.savez(tmp_path / "mine.npz", features=A, targets=A @ [1.0, 2.0, 3.0])
    out = tmp_path / "r.npz"
    argv = ["run", "--data", str(tmp_path / "mine.npz"), "--n", "4", "--T", "30",
            "--replicas", "1", "--no-progress", "--out", str(out)]
    assert main(argv + ["--json"]) == 0
    assert "least-squares on mine.npz (d=3" in capsys.readouterr().err
    assert out.is_file()
    assert main(argv + ["--d", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("hdo-theory run: error: d is fixed to 3 by the data file "
                   f"{str(tmp_path / 'mine.npz')!r}; omit d (got d=5)")
    assert main(argv[:1] + ["--data-targets", "y", "--T", "30"]) == 2
    assert "data_targets needs data" in capsys.readouterr().err
