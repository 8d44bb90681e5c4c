"""Version 0.1 import paths keep working: the same module objects, with a DeprecationWarning."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import pytest

from hdo_theory import _compat

# (old path, a name a 0.1 user imported from it)
OLD_IMPORTS = [
    ("hdo_theory.results", "Results"),
    ("hdo_theory.process", "simulate"),
    ("hdo_theory.process_kernels", "run_chunk"),
    ("hdo_theory.estimator_stats", "estimator_stats"),
    ("hdo_theory.estimators", "EstimatorSpec"),
    ("hdo_theory.estimators", "estimate"),
    ("hdo_theory.objectives", "make_objective"),
    ("hdo_theory.objective_kernels", "batch_loss"),
    ("hdo_theory.constants", "compute_constants"),
    ("hdo_theory.closed_forms", "exact_moments"),
    ("hdo_theory.random_kernels", "kernel_generator"),
    ("hdo_theory.topology", "make_edges"),
    ("hdo_theory.schedules", "schedule_factor"),
    ("hdo_theory.bounds", "BoundParams"),
    ("hdo_theory.stats", "loglog_slope"),
    ("hdo_theory.verify", "run_verification"),
    ("hdo_theory.report", "write_report"),
    ("hdo_theory.claims", "REGISTRY"),
    ("hdo_theory.claims.registry", "Claim"),
    ("hdo_theory.sweep", "run_sweep"),
]


@pytest.mark.parametrize("old, name", OLD_IMPORTS)
def test_old_path_is_the_new_module(old, name):
    new = _compat.new_name(old)
    if new is None:  # unchanged path (a stage package that kept its 0.1 name)
        mod = importlib.import_module(old)
        assert hasattr(mod, name)
        return
    new_mod = importlib.import_module(new)
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=rf"{old} moved to {new}"):
        old_mod = importlib.import_module(old)
    assert old_mod is new_mod
    assert getattr(old_mod, name) is getattr(new_mod, name)


def test_every_moved_path_imports():
    for old, new in _compat.MOVED.items():
        sys.modules.pop(old, None)
        with pytest.warns(DeprecationWarning):
            assert importlib.import_module(old) is importlib.import_module(new)


def test_from_import_in_a_fresh_interpreter_warns_at_the_user_line():
    """``from hdo_theory.results import Results`` in user code: the warning names the user's
    file and line (not importlib internals), and no built-in module triggers a warning."""
    code = textwrap.dedent(
        """
        import warnings
        warnings.simplefilter("error", DeprecationWarning)
        import hdo_theory.cli, hdo_theory.process, hdo_theory.verification.runner  # no warning
        import hdo_theory.runs.sweep, hdo_theory.figures, hdo_theory.verification.report
        warnings.simplefilter("always", DeprecationWarning)
        with warnings.catch_warnings(record=True) as w:
            from hdo_theory.results import Results
        from hdo_theory.process.results import Results as New
        assert Results is New
        assert len(w) == 1 and w[0].filename == "<user>", [(x.filename, str(x.message)) for x in w]
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", f"exec(compile({code!r}, '<user>', 'exec'))"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_unknown_submodule_of_an_old_package_is_still_an_import_error():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        importlib.import_module("hdo_theory.claims")  # the old parent itself warns, once
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module("hdo_theory.claims.no_such_module")
    # no warning about a module that does not exist: the plain error, nothing else
    assert not [w for w in caught if issubclass(w.category, DeprecationWarning)]
