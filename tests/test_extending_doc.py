"""docs/extending.md holds the three tutorials, and each tutorial's code is an examples/ script
verbatim, at most 30 lines of user code (module docstring, blank lines and comments aside)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "extending.md"
MAX_USER_LINES = 30
TUTORIALS = ("property-test your own estimator", "verify your own lemma", "bring your own data")


def _included() -> dict[str, str]:
    """``examples/x.py`` -> the code block that follows its ``<!-- example: ... -->`` marker."""
    text = DOC.read_text()
    found = re.findall(r"<!-- example: (examples/[\w.]+) -->\n```python\n(.*?)```", text, re.S)
    return dict(found)


def user_lines(src: str) -> int:
    """Lines of user code: not the module docstring, not blank, not a comment."""
    body = ast.parse(src).body
    skip = set()
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        skip = set(range(body[0].lineno, body[0].end_lineno + 1))
    return sum(1 for i, line in enumerate(src.splitlines(), 1)
               if i not in skip and line.strip() and not line.strip().startswith("#"))


def test_the_three_tutorials_are_there():
    heads = [h.lower() for h in re.findall(r"^## Tutorial \d: (.*)$", DOC.read_text(), re.M)]
    assert heads == list(TUTORIALS)


def test_the_lemma_and_data_tutorials_include_their_examples():
    assert {"examples/my_lemma.py", "examples/own_data.py"} <= set(_included())


@pytest.mark.parametrize("path,code", sorted(_included().items()))
def test_tutorial_code_is_the_example_verbatim_and_short(path, code):
    assert code == (ROOT / path).read_text(), f"docs/extending.md's copy of {path} is stale"
    assert user_lines(code) <= MAX_USER_LINES, f"{path}: {user_lines(code)} lines of user code"


def test_the_property_testing_tutorial_has_its_example():
    # the testing tutorial's code lives in examples/test_my_estimator.py (run by pytest in
    # tests/test_examples.py); when docs/extending.md includes it, the test above checks it
    text = DOC.read_text()
    section = text.split("## Tutorial 1:")[1].split("## Tutorial 2:")[0]
    assert "examples/test_my_estimator.py" in section
