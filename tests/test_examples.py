"""Every script in examples/ runs, as a user would run it.

Scripts are run with ``python`` and must exit 0; pytest files (``examples/test_*.py``) are run
with pytest. Each in its own process (its own imports and registrations), from a scratch
folder, with the repository on PYTHONPATH; the Numba cache of the package is shared with the
test run (the environment, NUMBA_CACHE_DIR included, is inherited).

The 60 s per example on 2 cores is a speed target, so it lives in a benchmark
(benchmarks/bench_examples.py times each script from an empty and from a warm cache), not
here: under ``pytest -n 2`` an example shares the cores with the rest of the suite and a
first run compiles its kernels, so a wall-clock limit here would measure the machine's load.
``HANG_GUARD_S`` only turns a hang into a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
HANG_GUARD_S = 900


def test_there_are_examples():
    names = {p.name for p in EXAMPLES}
    assert {"my_lemma.py", "own_data.py"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), HDO_THEORY_NO_ENTRY_POINTS="1",
               MPLBACKEND="Agg")
    if path.name.startswith("test_"):
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)]
    else:
        cmd = [sys.executable, str(path)]
    try:
        p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=HANG_GUARD_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"examples/{path.name} hung: no exit after {HANG_GUARD_S} s")
    tail = f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    assert p.returncode == 0, f"examples/{path.name} failed:\n{tail}"
    assert "Traceback" not in p.stderr
