"""docs/api.md lists the public API truthfully: every listed name imports from its module, and
every name in a module's ``__all__`` is listed."""

from __future__ import annotations

import importlib
import re
import warnings
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def _sections() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = None
    for line in DOC.read_text().splitlines():
        m = re.match(r"^## `([\w.]+)`$", line)
        if m:
            current = m.group(1)
            out[current] = []
        elif current and line.strip():
            out[current] += re.findall(r"`(\w+)`", line)
    return out


SECTIONS = _sections()


@pytest.mark.parametrize("module", sorted(SECTIONS))
def test_listed_names_import(module):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # public paths never warn
        mod = importlib.import_module(module)
    missing = [n for n in SECTIONS[module] if not hasattr(mod, n)]
    assert not missing, f"docs/api.md lists names {module} does not have: {missing}"
    unlisted = [n for n in getattr(mod, "__all__", ()) if n not in SECTIONS[module]]
    assert not unlisted, f"{module}.__all__ names missing from docs/api.md: {unlisted}"
