"""The one JSON sanitiser: the NaN rules and array formats every output relies on."""

import json
import math

import numpy as np
import pytest

from hdo_theory.serialize import canonical_json, content_hash, from_jsonable, jsonable


def test_nonfinite_rules():
    tree = {"a": math.nan, "b": np.float64("inf"), "c": np.float32("nan"),
            "d": np.array([1.0, np.nan]), "e": (np.int64(2), np.bool_(True))}
    assert jsonable(tree) == {"a": None, "b": None, "c": None, "d": [1.0, None], "e": [2, True]}
    kept = jsonable(tree, nonfinite="keep")
    assert math.isnan(kept["a"]) and kept["b"] == math.inf and math.isnan(kept["d"][1])
    json.dumps(jsonable(tree), allow_nan=False)  # strict JSON


def test_tagged_arrays_round_trip_and_read_the_format_written_before():
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    back = from_jsonable(json.loads(json.dumps(jsonable({"x": [a]}, arrays="tagged"))))
    assert back["x"][0].dtype == np.int32 and np.array_equal(back["x"][0], a)
    # the tagged form results files have always held
    old = '{"w": {"__ndarray__": [[1.5, NaN]], "dtype": "float64", "shape": [1, 2]}}'
    w = from_jsonable(json.loads(old))["w"]
    assert w.shape == (1, 2) and w[0, 0] == 1.5 and np.isnan(w[0, 1])


def test_drop_arrays_and_repr_fallback():
    assert jsonable({"a": np.zeros(2), "b": np.int8(3), "p": object}, arrays="drop") == {
        "b": 3, "p": repr(object)}


def test_canonical_json_and_hash():
    assert canonical_json({"b": 1, "a": [0.1, None]}) == '{"a":[0.1,null],"b":1}'
    with pytest.raises(ValueError):
        canonical_json({"a": math.nan})
    assert len(content_hash({"a": 1})) == 64
    assert content_hash({"a": 1}, length=16, algorithm="sha1") == \
        __import__("hashlib").sha1(b'{"a":1}').hexdigest()[:16]
