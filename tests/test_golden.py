"""Golden hashes: the refactors of the package change where code lives, never a computed bit.

The cases (``tests/golden/cases.py``) cover pairwise, matching (even and odd n) and graph
gossip, every estimator, heavy-ball and EMA momentum, warm-up, local steps, both theorem
schedules, per-node starts, Lemma 2 recording and ``estimator_stats`` for every estimator on a
quadratic and a logistic objective. On the machine the golden file was made on (same CPU
model, OpenBLAS kernel family and LLVM target CPU), every hash must match exactly; elsewhere
every value must agree within the derived rounding budget
(:func:`golden.cases.rounding_budget`), and a divergence step must match exactly.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from golden import cases


@pytest.fixture(scope="module")
def golden():
    meta = json.loads(cases.GOLDEN_JSON.read_text())
    with np.load(cases.GOLDEN_NPZ) as z:
        arrays = {k: z[k] for k in z.files}
    return meta, arrays


@pytest.fixture(scope="module")
def fresh():
    return cases.run_all_isolated()


def test_golden_cases_match(golden, fresh):
    meta, ref_arrays = golden
    hashes, arrays = fresh
    assert set(hashes) == set(meta["hashes"]), "the golden case list changed"
    here = cases.machine_identity()
    golden_machine = {k: meta.get(k) for k in here}
    if here == golden_machine:
        bad = [k for k in hashes if hashes[k] != meta["hashes"][k]]
        where = [
            f"{key} (max |diff| {np.nanmax(np.abs(arrays[key] - ref)):.3g})"
            for key, ref in ref_arrays.items()
            if key.split("/")[0] in bad and ref.dtype.kind == "f"
            and not np.array_equal(arrays[key], ref, equal_nan=True)
        ]
        assert not bad, f"bit-for-bit differences on the golden machine ({here}): {where}"
        return
    # another CPU: values within the rounding budget, divergence steps exact
    budget = cases.rounding_budget(*cases.largest_case())
    for key, ref in ref_arrays.items():
        new = arrays[key]
        if key.endswith("/keys") or key.endswith("/diverged_at"):
            assert np.array_equal(new, ref), key
            continue
        scale = np.nanmax(np.abs(ref)) if np.any(np.isfinite(ref)) else 1.0
        np.testing.assert_allclose(new, ref, rtol=budget, atol=budget * scale, equal_nan=True,
                                   err_msg=key)


def test_golden_file_records_its_cpu(golden):
    meta, _ = golden
    assert meta["cpu"] and meta["blas_core"] and meta["llvm_cpu"]
    assert meta["numba"] and meta["numpy"]
